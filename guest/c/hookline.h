/* Hookline plugin SDK for C: helpers over the bindings `wit-bindgen c` generates for the
 * `hookline:plugin/plugin` world (../wit/plugin.wit). Header-only; include it after the
 * generated `plugin.h`. Build with build.sh (README.md walks through it).
 *
 * A plugin defines
 *   void exports_plugin_transform(plugin_event_t *, plugin_webhook_t *, plugin_string_t *config,
 *                                 plugin_outcome_t *ret);
 *   bool exports_plugin_check_config(plugin_string_t *config, plugin_string_t *err);
 * and fills `ret` with hl_send / hl_skip / hl_fail. Every call runs in a fresh instance that
 * is dropped afterwards, so a plugin need not free what it allocates. */
#ifndef HOOKLINE_H
#define HOOKLINE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin.h"

/* A growable byte buffer. */
typedef struct {
  char *ptr;
  size_t len, cap;
} hl_buf;

static inline void hl_reserve(hl_buf *b, size_t more) {
  if (b->len + more <= b->cap) return;
  size_t cap = b->cap ? b->cap * 2 : 256;
  while (cap < b->len + more) cap *= 2;
  b->ptr = realloc(b->ptr, cap);
  if (!b->ptr) abort(); /* over the memory cap: the host reports it */
  b->cap = cap;
}
static inline void hl_put(hl_buf *b, const char *s, size_t n) {
  hl_reserve(b, n);
  memcpy(b->ptr + b->len, s, n);
  b->len += n;
}
static inline void hl_puts(hl_buf *b, const char *s) { hl_put(b, s, strlen(s)); }
static inline void hl_putc(hl_buf *b, char c) { hl_put(b, &c, 1); }

/* `s` (n bytes of UTF-8) as a JSON string, quotes included, escaped as serde_json does. */
static inline void hl_json_string(hl_buf *b, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  hl_putc(b, '"');
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    switch (c) {
      case '"': hl_puts(b, "\\\""); break;
      case '\\': hl_puts(b, "\\\\"); break;
      case '\n': hl_puts(b, "\\n"); break;
      case '\r': hl_puts(b, "\\r"); break;
      case '\t': hl_puts(b, "\\t"); break;
      case '\b': hl_puts(b, "\\b"); break;
      case '\f': hl_puts(b, "\\f"); break;
      default:
        if (c < 0x20) {
          char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
          hl_put(b, u, 6);
        } else {
          hl_putc(b, (char)c);
        }
    }
  }
  hl_putc(b, '"');
}

static inline void hl_pairs(hl_buf *b, const char *name, plugin_list_tuple2_string_string_t *l) {
  if (!l->len) return;
  hl_puts(b, ",\"");
  hl_puts(b, name);
  hl_puts(b, "\":{");
  for (size_t i = 0; i < l->len; i++) {
    if (i) hl_putc(b, ',');
    hl_json_string(b, (const char *)l->ptr[i].f0.ptr, l->ptr[i].f0.len);
    hl_putc(b, ':');
    hl_json_string(b, (const char *)l->ptr[i].f1.ptr, l->ptr[i].f1.len);
  }
  hl_putc(b, '}');
}

/* Appends the body the host sends without a plugin: {"event","timestamp","resource","data"},
 * the resource's empty maps left out, `data` embedded verbatim (byte for byte the host's). */
static inline void hl_default_body(hl_buf *b, const plugin_event_t *e) {
  hl_puts(b, "{\"event\":");
  hl_json_string(b, (const char *)e->type.ptr, e->type.len);
  hl_puts(b, ",\"timestamp\":");
  hl_json_string(b, (const char *)e->timestamp.ptr, e->timestamp.len);
  hl_puts(b, ",\"resource\":{\"id\":");
  hl_json_string(b, (const char *)e->resource.id.ptr, e->resource.id.len);
  hl_puts(b, ",\"type\":");
  hl_json_string(b, (const char *)e->resource.type.ptr, e->resource.type.len);
  hl_pairs(b, "labels", (plugin_list_tuple2_string_string_t *)&e->resource.labels);
  hl_pairs(b, "annotations", (plugin_list_tuple2_string_string_t *)&e->resource.annotations);
  hl_puts(b, "},\"data\":");
  hl_put(b, (const char *)e->data.ptr, e->data.len);
  hl_putc(b, '}');
}

/* A component-model string copied from `n` bytes. */
static inline plugin_string_t hl_string(const char *s, size_t n) {
  plugin_string_t out;
  plugin_string_dup_n(&out, s, n);
  return out;
}

/* printf into a new component-model string. */
static inline plugin_string_t hl_format(const char *fmt, ...) {
  va_list ap, again;
  va_start(ap, fmt);
  va_copy(again, ap);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  char *text = malloc((size_t)n + 1);
  if (!text) abort();
  vsnprintf(text, (size_t)n + 1, fmt, again);
  va_end(again);
  plugin_string_t out = {(uint8_t *)text, (size_t)n};
  return out;
}

/* Send `body` (taken over); `content_type` may be NULL (application/json). */
static inline void hl_send(plugin_outcome_t *ret, hl_buf body, const char *content_type) {
  memset(ret, 0, sizeof *ret);
  ret->tag = HOOKLINE_PLUGIN_TYPES_OUTCOME_SEND;
  ret->val.send.body.ptr = (uint8_t *)body.ptr;
  ret->val.send.body.len = body.len;
  if (content_type) {
    ret->val.send.content_type.is_some = true;
    ret->val.send.content_type.val = hl_string(content_type, strlen(content_type));
  }
}

/* Do not deliver; `reason` is recorded. */
static inline void hl_skip(plugin_outcome_t *ret, plugin_string_t reason) {
  memset(ret, 0, sizeof *ret);
  ret->tag = HOOKLINE_PLUGIN_TYPES_OUTCOME_SKIP;
  ret->val.skip = reason;
}

/* Fail the delivery with `message`. */
static inline void hl_fail(plugin_outcome_t *ret, plugin_string_t message) {
  memset(ret, 0, sizeof *ret);
  ret->tag = HOOKLINE_PLUGIN_TYPES_OUTCOME_FAIL;
  ret->val.fail = message;
}

/* Writes a line to the host's log. */
static inline void hl_log(plugin_level_t level, const char *message) {
  plugin_string_t m;
  plugin_string_set(&m, message);
  plugin_log(level, &m);
}

#endif
