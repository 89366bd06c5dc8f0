// redact, in JavaScript: the Rust example's behaviour (../../redact/src/lib.rs) on the
// JavaScript SDK (guest/js). Sends the usual body with configured fields removed or masked.
//
//   plugin_config = { remove = ["data.prompt"], mask = ["resource.labels.email"], mask_with = "***" }
//
// - `remove` (list of paths): members taken out of the body;
// - `mask` (list of paths): values replaced by `mask_with` (whatever their type);
// - `mask_with` (string, default "***").
// Paths are rooted at the body (`event`, `timestamp`, `resource`, `data`): `data.prompt`,
// `data.items.*.token` (`*`: every member or element), `data.items.0` or `data.items[0]`,
// `resource.labels["app.kubernetes.io/owner"]`. A path reaching nothing is ignored; removal
// happens before masking. Without paths the body is the host's default body, byte for byte;
// with paths it is parsed and written again (key order kept; numbers as JavaScript writes them).
import { defaultBody, defaultBodyText, fail, readConfig, send } from '../../../guest/js/hookline.js';

const ROOTS = ['event', 'timestamp', 'resource', 'data'];

/** `data.items[0]["a.b"].*` → [{key:"data"}, {key:"items"}, {index:0}, {key:"a.b"}, {any:true}] */
export function parsePath(path) {
  const segments = [];
  let i = 0;
  const bad = (why) => { throw 'path `' + path + '`: ' + why; };
  while (i < path.length) {
    if (path[i] === '[') {
      const end = path.indexOf(']', i);
      if (end < 0) bad('unclosed `[` at byte ' + i);
      const inner = path.slice(i + 1, end);
      if (/^[0-9]+$/.test(inner)) segments.push({ index: Number(inner) });
      else if (inner.length >= 2 && inner[0] === '"' && inner[inner.length - 1] === '"') {
        segments.push({ key: JSON.parse(inner) });
      } else bad('`[...]` holds an index or a quoted key, at byte ' + i);
      i = end + 1;
      if (i < path.length && path[i] !== '.' && path[i] !== '[') bad('expected `.` or `[` at byte ' + i);
      if (path[i] === '.') {
        i++;
        if (i >= path.length || path[i] === '.') bad('empty segment after the `.` at byte ' + (i - 1));
      }
      continue;
    }
    let end = i;
    while (end < path.length && path[end] !== '.' && path[end] !== '[') end++;
    const word = path.slice(i, end);
    if (!word) bad('empty segment after the `.` at byte ' + (i - 1));
    if (word === '*') segments.push({ any: true });
    else if (/^[0-9]+$/.test(word)) segments.push({ index: Number(word), key: word });
    else segments.push({ key: word });
    i = end;
    if (path[i] === '.') {
      i++;
      if (i >= path.length || path[i] === '.') bad('empty segment after the `.` at byte ' + (i - 1));
    }
  }
  if (!segments.length) bad('is empty');
  if (segments[0].key === undefined || !ROOTS.includes(segments[0].key)) {
    bad('must start with `event`, `timestamp`, `resource` or `data` (paths are rooted at the body)');
  }
  return segments;
}

/** Reads and checks the configuration; throws a message naming the bad key or path. */
export function rules(config) {
  const cfg = readConfig(config, ['remove', 'mask', 'mask_with']);
  const paths = (key) => {
    const list = cfg[key] ?? [];
    if (!Array.isArray(list)) throw 'plugin_config: `' + key + '`: must be a list of paths';
    return list.map((p, i) => {
      if (typeof p !== 'string') throw 'plugin_config: ' + key + '[' + i + ']: must be a string';
      try {
        return parsePath(p);
      } catch (e) {
        throw 'plugin_config: ' + key + '[' + i + ']: ' + e;
      }
    });
  };
  const maskWith = cfg.mask_with ?? '***';
  if (typeof maskWith !== 'string') throw 'plugin_config: `mask_with`: must be a string';
  return { remove: paths('remove'), mask: paths('mask'), maskWith };
}

function apply(value, segments, edit) {
  if (value === null || typeof value !== 'object' || !segments.length) return;
  const [head, ...rest] = segments;
  const here = (k) => (rest.length ? apply(value[k], rest, edit) : edit(value, k));
  if (Array.isArray(value)) {
    const at = head.any ? [...value.keys()].reverse() : head.index !== undefined && head.index < value.length ? [head.index] : [];
    for (const i of at) here(i);
  } else {
    const key = head.any ? null : head.key;
    const at = head.any ? Object.keys(value) : key !== undefined && Object.hasOwn(value, key) ? [key] : [];
    for (const k of at) here(k);
  }
}

const remove = (parent, k) => (Array.isArray(parent) ? parent.splice(k, 1) : delete parent[k]);

export function checkConfig(config) {
  rules(config);
}

export function transform(event, webhook, config) {
  let r;
  try {
    r = rules(config);
  } catch (e) {
    return fail(e);
  }
  if (!r.remove.length && !r.mask.length) return send(defaultBodyText(event));
  let body;
  try {
    body = defaultBody(event);
  } catch (e) {
    return fail('event `' + event.type + '`: data: ' + e.message);
  }
  const root = { body };
  for (const path of r.remove) apply(root, [{ key: 'body' }, ...path], remove);
  for (const path of r.mask) apply(root, [{ key: 'body' }, ...path], (p, k) => { p[k] = r.maskWith; });
  return send(JSON.stringify(root.body));
}
