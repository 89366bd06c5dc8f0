// Hookline plugin SDK for JavaScript: helpers over the `hookline:plugin/plugin` world
// (../wit/plugin.wit) as componentize-qjs maps it. Types: hookline.d.ts. Walkthrough:
// README.md. Import it with a relative path; build.sh exposes the repository to the build.
//
// The world's records arrive as plain objects with camelCase keys: `event.type`,
// `event.resource.labels` (a list of [key, value] pairs), `event.data` (JSON text). A plugin
// exports `transform(event, webhook, config)` returning `send(...)`, `skip(...)` or
// `fail(...)`, and optionally `checkConfig(config)`, which throws a message to refuse it.

/** UTF-8 bytes of a string (QuickJS has no TextEncoder). */
export function utf8(text) {
  const out = [];
  for (let i = 0; i < text.length; i++) {
    let c = text.charCodeAt(i);
    if (c >= 0xd800 && c < 0xdc00 && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d < 0xe000) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
      }
    }
    if (c < 0x80) out.push(c);
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
  }
  return Uint8Array.from(out);
}

function pairsToObject(pairs) {
  const out = {};
  for (const [k, v] of pairs) out[k] = v;
  return out;
}

/** The resource as the host writes it: `{id, type, labels?, annotations?}` (empty maps left out). */
export function resourceObject(resource) {
  const out = { id: resource.id, type: resource.type };
  if (resource.labels.length) out.labels = pairsToObject(resource.labels);
  if (resource.annotations.length) out.annotations = pairsToObject(resource.annotations);
  return out;
}

/**
 * The body the host sends without a plugin, as text: `{"event","timestamp","resource","data"}`,
 * `data` embedded verbatim (byte for byte the host's, for the same event).
 */
export function defaultBodyText(event) {
  return (
    '{"event":' + JSON.stringify(event.type) +
    ',"timestamp":' + JSON.stringify(event.timestamp) +
    ',"resource":' + JSON.stringify(resourceObject(event.resource)) +
    ',"data":' + event.data + '}'
  );
}

/** The default body as an object, to edit and serialise again with `JSON.stringify`. */
export function defaultBody(event) {
  return {
    event: event.type,
    timestamp: event.timestamp,
    resource: resourceObject(event.resource),
    data: JSON.parse(event.data),
  };
}

/**
 * Send `body` (a string, bytes, or any other value, sent as JSON). `options`: `contentType`,
 * `headers` (an object or [name, value] pairs), `url`.
 */
export function send(body, options = {}) {
  let bytes;
  if (typeof body === 'string') bytes = utf8(body);
  else if (body instanceof Uint8Array) bytes = body;
  else bytes = utf8(JSON.stringify(body));
  const headers = Array.isArray(options.headers)
    ? options.headers
    : Object.entries(options.headers || {});
  return {
    tag: 'send',
    val: { body: bytes, contentType: options.contentType ?? null, headers, url: options.url ?? null },
  };
}

/** Do not deliver this event to this webhook; `reason` is recorded. */
export function skip(reason) {
  return { tag: 'skip', val: String(reason) };
}

/** Fail this delivery with `message`. */
export function fail(message) {
  return { tag: 'fail', val: String(message) };
}

/**
 * The webhook's `plugin_config` as an object, with only the `allowed` keys (others are an
 * error naming the key, as the Rust SDK's `deny_unknown_fields`).
 */
export function readConfig(config, allowed) {
  let value;
  try {
    value = JSON.parse(config);
  } catch (e) {
    throw 'plugin_config: not JSON: ' + e.message;
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw 'plugin_config: must be an object';
  }
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) {
      throw 'plugin_config: unknown field `' + key + '`, ' + (allowed.length
        ? 'expected one of ' + allowed.map((k) => '`' + k + '`').join(', ')
        : 'this plugin takes no configuration');
    }
  }
  return value;
}

/** Writes a line to the host's log (`level`: debug, info, warn, error). */
export function hostLog(level, message) {
  globalThis.log(level, String(message));
}
