/* redact, in C: the Rust example's behaviour (../../redact/src/lib.rs) on the C SDK
 * (guest/c/hookline.h). Sends the usual body with configured fields removed or masked.
 *
 *   plugin_config = { remove = ["data.prompt"], mask = ["resource.labels.email"], mask_with = "***" }
 *
 * - `remove` (list of paths): members taken out of the body;
 * - `mask` (list of paths): values replaced by `mask_with` (whatever their type);
 * - `mask_with` (string, default "***").
 * Paths are rooted at the body (`event`, `timestamp`, `resource`, `data`): `data.prompt`,
 * `data.items.*.token` (`*`: every member or element), `data.items.0` or `data.items[0]`,
 * `resource.labels["app.kubernetes.io/owner"]`. A path reaching nothing is ignored; removal
 * happens before masking. Everything else keeps its order and its exact bytes (numbers and
 * escapes are copied, never re-encoded); without paths the body is the host's default body.
 *
 * A fresh instance runs every call and is dropped afterwards: nothing here is freed. */
#include "hookline.h"

/* ---- A small JSON tree: scalars keep their source bytes ---------------------------- */

enum kind { J_SCALAR, J_ARRAY, J_OBJECT };

typedef struct jv jv;
struct jv {
  enum kind kind;
  const char *raw; /* J_SCALAR: its text */
  size_t raw_len;
  size_t n;        /* members or elements */
  char **keys;     /* J_OBJECT: decoded keys */
  size_t *key_lens;
  const char **raw_keys; /* J_OBJECT: keys as written (quotes included) */
  size_t *raw_key_lens;
  jv **items;
  bool *gone;      /* removed */
};

typedef struct {
  const char *s;
  size_t len, at;
  const char *error;
} parser;

static void ws(parser *p) {
  while (p->at < p->len && strchr(" \t\r\n", p->s[p->at])) p->at++;
}

static jv *value(parser *p, int depth);

/* A string at p->at: its raw span and decoded text (\uXXXX decoded to UTF-8). */
static bool string(parser *p, const char **raw, size_t *raw_len, char **text, size_t *text_len) {
  size_t start = p->at++;
  hl_buf out = {0};
  while (p->at < p->len && p->s[p->at] != '"') {
    char c = p->s[p->at++];
    if (c != '\\') { hl_putc(&out, c); continue; }
    if (p->at >= p->len) break;
    char e = p->s[p->at++];
    switch (e) {
      case 'n': hl_putc(&out, '\n'); break;
      case 't': hl_putc(&out, '\t'); break;
      case 'r': hl_putc(&out, '\r'); break;
      case 'b': hl_putc(&out, '\b'); break;
      case 'f': hl_putc(&out, '\f'); break;
      case 'u': {
        if (p->at + 4 > p->len) { p->error = "bad \\u escape"; return false; }
        unsigned cp = (unsigned)strtoul((char[]){p->s[p->at], p->s[p->at + 1], p->s[p->at + 2], p->s[p->at + 3], 0}, NULL, 16);
        p->at += 4;
        if (cp < 0x80) hl_putc(&out, (char)cp);
        else if (cp < 0x800) { hl_putc(&out, (char)(0xc0 | (cp >> 6))); hl_putc(&out, (char)(0x80 | (cp & 63))); }
        else { hl_putc(&out, (char)(0xe0 | (cp >> 12))); hl_putc(&out, (char)(0x80 | ((cp >> 6) & 63))); hl_putc(&out, (char)(0x80 | (cp & 63))); }
        break;
      }
      default: hl_putc(&out, e);
    }
  }
  if (p->at >= p->len) { p->error = "unterminated string"; return false; }
  p->at++;
  *raw = p->s + start;
  *raw_len = p->at - start;
  if (text) { *text = out.ptr ? out.ptr : ""; *text_len = out.len; }
  return true;
}

static void push(jv *v, jv *item) {
  v->items = realloc(v->items, (v->n + 1) * sizeof *v->items);
  v->gone = realloc(v->gone, (v->n + 1) * sizeof *v->gone);
  if (!v->items || !v->gone) abort();
  v->items[v->n] = item;
  v->gone[v->n] = false;
  v->n++;
}

static jv *value(parser *p, int depth) {
  ws(p);
  if (p->at >= p->len) { p->error = "unexpected end"; return NULL; }
  if (depth > 128) { p->error = "nested too deeply"; return NULL; }
  jv *v = calloc(1, sizeof *v);
  if (!v) abort();
  char c = p->s[p->at];
  if (c == '{' || c == '[') {
    v->kind = c == '{' ? J_OBJECT : J_ARRAY;
    char close = c == '{' ? '}' : ']';
    p->at++;
    ws(p);
    if (p->at < p->len && p->s[p->at] == close) { p->at++; return v; }
    for (;;) {
      ws(p);
      if (v->kind == J_OBJECT) {
        if (p->at >= p->len || p->s[p->at] != '"') { p->error = "expected a key"; return NULL; }
        const char *raw; size_t raw_len; char *key; size_t key_len;
        if (!string(p, &raw, &raw_len, &key, &key_len)) return NULL;
        ws(p);
        if (p->at >= p->len || p->s[p->at] != ':') { p->error = "expected `:`"; return NULL; }
        p->at++;
        size_t i = v->n;
        v->keys = realloc(v->keys, (i + 1) * sizeof *v->keys);
        v->key_lens = realloc(v->key_lens, (i + 1) * sizeof *v->key_lens);
        v->raw_keys = realloc(v->raw_keys, (i + 1) * sizeof *v->raw_keys);
        v->raw_key_lens = realloc(v->raw_key_lens, (i + 1) * sizeof *v->raw_key_lens);
        if (!v->keys || !v->key_lens || !v->raw_keys || !v->raw_key_lens) abort();
        v->keys[i] = key; v->key_lens[i] = key_len;
        v->raw_keys[i] = raw; v->raw_key_lens[i] = raw_len;
      }
      jv *item = value(p, depth + 1);
      if (!item) return NULL;
      push(v, item);
      ws(p);
      if (p->at < p->len && p->s[p->at] == ',') { p->at++; continue; }
      if (p->at < p->len && p->s[p->at] == close) { p->at++; return v; }
      p->error = "expected `,` or a closing bracket";
      return NULL;
    }
  }
  v->kind = J_SCALAR;
  size_t start = p->at;
  if (c == '"') {
    const char *raw; size_t raw_len;
    if (!string(p, &raw, &raw_len, NULL, NULL)) return NULL;
  } else {
    while (p->at < p->len && !strchr(",]} \t\r\n", p->s[p->at])) p->at++;
    if (p->at == start) { p->error = "expected a value"; return NULL; }
  }
  v->raw = p->s + start;
  v->raw_len = p->at - start;
  return v;
}

static jv *parse(const char *s, size_t len, const char **error) {
  parser p = {s, len, 0, NULL};
  jv *v = value(&p, 0);
  if (v) { ws(&p); if (p.at != len) { p.error = "trailing characters"; v = NULL; } }
  if (!v) *error = p.error;
  return v;
}

static void write_json(hl_buf *b, const jv *v) {
  if (v->kind == J_SCALAR) { hl_put(b, v->raw, v->raw_len); return; }
  hl_putc(b, v->kind == J_OBJECT ? '{' : '[');
  bool first = true;
  for (size_t i = 0; i < v->n; i++) {
    if (v->gone[i]) continue;
    if (!first) hl_putc(b, ',');
    first = false;
    if (v->kind == J_OBJECT) { hl_put(b, v->raw_keys[i], v->raw_key_lens[i]); hl_putc(b, ':'); }
    write_json(b, v->items[i]);
  }
  hl_putc(b, v->kind == J_OBJECT ? '}' : ']');
}

static const jv *member(const jv *v, const char *key) {
  if (v->kind != J_OBJECT) return NULL;
  for (size_t i = 0; i < v->n; i++)
    if (v->key_lens[i] == strlen(key) && !memcmp(v->keys[i], key, v->key_lens[i])) return v->items[i];
  return NULL;
}

/* The decoded text of a string scalar. */
static bool text_of(const jv *v, char **text, size_t *len) {
  if (v->kind != J_SCALAR || v->raw[0] != '"') return false;
  parser p = {v->raw, v->raw_len, 0, NULL};
  const char *raw; size_t raw_len;
  return string(&p, &raw, &raw_len, text, len);
}

/* ---- Paths ---------------------------------------------------------------------------- */

typedef struct {
  bool any;
  long index; /* -1: not an index */
  char *key;  /* NULL: an index only ([N]) */
  size_t key_len;
} segment;

typedef struct {
  segment *seg;
  size_t n;
} path;

static char *path_error(const char *p, size_t n, const char *why, long at) {
  plugin_string_t s = at < 0 ? hl_format("path `%.*s`: %s", (int)n, p, why)
                             : hl_format("path `%.*s`: %s at byte %ld", (int)n, p, why, at);
  return (char *)s.ptr;
}

static bool digits(const char *s, size_t n) {
  if (!n) return false;
  for (size_t i = 0; i < n; i++) if (s[i] < '0' || s[i] > '9') return false;
  return true;
}

static char *parse_path(const char *s, size_t n, path *out) {
  out->seg = NULL;
  out->n = 0;
  size_t i = 0;
  while (i < n) {
    segment seg = {false, -1, NULL, 0};
    if (s[i] == '[') {
      const char *end = memchr(s + i, ']', n - i);
      if (!end) return path_error(s, n, "unclosed `[`", (long)i);
      const char *in = s + i + 1;
      size_t in_len = (size_t)(end - in);
      if (digits(in, in_len)) seg.index = strtol(in, NULL, 10);
      else if (in_len >= 2 && in[0] == '"' && in[in_len - 1] == '"') { seg.key = (char *)in + 1; seg.key_len = in_len - 2; }
      else return path_error(s, n, "`[...]` holds an index or a quoted key", (long)i);
      i = (size_t)(end - s) + 1;
    } else {
      size_t start = i;
      while (i < n && s[i] != '.' && s[i] != '[') i++;
      if (i == start) return path_error(s, n, "empty segment after the `.`", (long)start - 1);
      seg.key = (char *)s + start;
      seg.key_len = i - start;
      if (seg.key_len == 1 && s[start] == '*') { seg.any = true; seg.key = NULL; }
      else if (digits(seg.key, seg.key_len)) seg.index = strtol(seg.key, NULL, 10);
    }
    out->seg = realloc(out->seg, (out->n + 1) * sizeof *out->seg);
    if (!out->seg) abort();
    out->seg[out->n++] = seg;
    if (i < n && s[i] == '.') {
      i++;
      if (i >= n || s[i] == '.') return path_error(s, n, "empty segment after the `.`", (long)i - 1);
    } else if (i < n && s[i] != '[') {
      return path_error(s, n, "expected `.` or `[`", (long)i);
    }
  }
  if (!out->n) return path_error(s, n, "is empty", -1);
  static const char *roots[] = {"event", "timestamp", "resource", "data"};
  segment *first = &out->seg[0];
  for (int r = 0; r < 4; r++)
    if (first->key && first->key_len == strlen(roots[r]) && !memcmp(first->key, roots[r], first->key_len)) return NULL;
  return path_error(s, n, "must start with `event`, `timestamp`, `resource` or `data` (paths are rooted at the body)", -1);
}

static bool matches(const segment *seg, const jv *parent, size_t i) {
  if (seg->any) return true;
  if (parent->kind == J_ARRAY) return seg->index >= 0 && (size_t)seg->index == i;
  return seg->key && parent->key_lens[i] == seg->key_len && !memcmp(parent->keys[i], seg->key, seg->key_len);
}

/* Removes (mask == NULL) or masks what `p` reaches from `v`, starting at segment `at`. */
static void apply(jv *v, const path *p, size_t at, jv *mask) {
  if (v->kind == J_SCALAR) return;
  size_t index = 0; /* position among the elements still there, for array indexes */
  for (size_t i = 0; i < v->n; i++) {
    if (v->gone[i]) continue;
    bool hit = matches(&p->seg[at], v, v->kind == J_ARRAY ? index : i);
    index++;
    if (!hit) continue;
    if (at + 1 < p->n) apply(v->items[i], p, at + 1, mask);
    else if (mask) v->items[i] = mask;
    else v->gone[i] = true;
  }
}

/* ---- Configuration ------------------------------------------------------------------ */

typedef struct {
  path *remove, *mask;
  size_t n_remove, n_mask;
  hl_buf mask_with; /* as JSON */
} rules;

static char *read_paths(const jv *list, const char *key, path **out, size_t *n) {
  *out = NULL;
  *n = 0;
  if (!list) return NULL;
  if (list->kind != J_ARRAY) return (char *)hl_format("plugin_config: `%s`: must be a list of paths", key).ptr;
  *out = calloc(list->n ? list->n : 1, sizeof **out);
  for (size_t i = 0; i < list->n; i++) {
    char *text; size_t len;
    if (!text_of(list->items[i], &text, &len))
      return (char *)hl_format("plugin_config: %s[%zu]: must be a string", key, i).ptr;
    char *why = parse_path(text, len, &(*out)[i]);
    if (why) return (char *)hl_format("plugin_config: %s[%zu]: %s", key, i, why).ptr;
  }
  *n = list->n;
  return NULL;
}

/* Reads and checks the configuration; an error names the bad key or path. */
static char *read_rules(const char *config, size_t len, rules *r) {
  const char *error = NULL;
  jv *cfg = parse(config, len, &error);
  if (!cfg) return (char *)hl_format("plugin_config: not JSON: %s", error).ptr;
  if (cfg->kind != J_OBJECT) return "plugin_config: must be an object";
  for (size_t i = 0; i < cfg->n; i++) {
    const char *k = cfg->keys[i];
    size_t kl = cfg->key_lens[i];
    bool known = (kl == 6 && !memcmp(k, "remove", 6)) || (kl == 4 && !memcmp(k, "mask", 4)) ||
                 (kl == 9 && !memcmp(k, "mask_with", 9));
    if (!known)
      return (char *)hl_format("plugin_config: unknown field `%.*s`, expected one of `remove`, `mask`, `mask_with`", (int)kl, k).ptr;
  }
  char *why = read_paths(member(cfg, "remove"), "remove", &r->remove, &r->n_remove);
  if (!why) why = read_paths(member(cfg, "mask"), "mask", &r->mask, &r->n_mask);
  if (why) return why;
  memset(&r->mask_with, 0, sizeof r->mask_with);
  const jv *with = member(cfg, "mask_with");
  if (with) {
    char *text; size_t tl;
    if (!text_of(with, &text, &tl)) return "plugin_config: `mask_with`: must be a string";
    hl_json_string(&r->mask_with, text, tl);
  } else {
    hl_puts(&r->mask_with, "\"***\"");
  }
  return NULL;
}

/* ---- The exports ---------------------------------------------------------------------- */

bool exports_plugin_check_config(plugin_string_t *config, plugin_string_t *err) {
  rules r;
  char *why = read_rules((const char *)config->ptr, config->len, &r);
  if (!why) return true;
  *err = hl_string(why, strlen(why));
  return false;
}

void exports_plugin_transform(plugin_event_t *event, plugin_webhook_t *webhook,
                              plugin_string_t *config, plugin_outcome_t *ret) {
  (void)webhook;
  rules r;
  char *why = read_rules((const char *)config->ptr, config->len, &r);
  if (why) { hl_fail(ret, hl_string(why, strlen(why))); return; }
  hl_buf body = {0};
  hl_default_body(&body, event);
  if (!r.n_remove && !r.n_mask) { hl_send(ret, body, NULL); return; }
  const char *error = NULL;
  jv *tree = parse(body.ptr, body.len, &error);
  if (!tree) {
    hl_fail(ret, hl_format("event `%.*s`: data: %s", (int)event->type.len, event->type.ptr, error));
    return;
  }
  jv mask = {J_SCALAR, r.mask_with.ptr, r.mask_with.len, 0, NULL, NULL, NULL, NULL, NULL, NULL};
  for (size_t i = 0; i < r.n_remove; i++) apply(tree, &r.remove[i], 0, NULL);
  for (size_t i = 0; i < r.n_mask; i++) apply(tree, &r.mask[i], 0, &mask);
  hl_buf out = {0};
  write_json(&out, tree);
  hl_send(ret, out, NULL);
}
