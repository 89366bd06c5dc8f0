// cloudevents, in JavaScript: the Rust example's behaviour (../../cloudevents/src/lib.rs)
// on the JavaScript SDK (guest/js). Each event as a CloudEvents 1.0 structured-mode JSON
// event, `Content-Type: application/cloudevents+json; charset=UTF-8`.
//
//   plugin_config = { source = "https://hookline.example.com", type_prefix = "com.example" }
//
// - `source` (string, default "hookline", not empty): the CloudEvents `source`;
// - `type_prefix` (string, default none): prepended to the event type, joined with a `.`
//   unless it already ends with one.
// `id` is the event id, `time` its timestamp, `subject` `<resource type>/<resource id>`
// (left out without a resource id), `data` the event data embedded verbatim.
import { fail, readConfig, send } from '../../../guest/js/hookline.js';

export const CONTENT_TYPE = 'application/cloudevents+json; charset=UTF-8';

function readCloudConfig(config) {
  const cfg = readConfig(config, ['source', 'type_prefix']);
  const source = cfg.source ?? 'hookline';
  if (typeof source !== 'string') throw 'plugin_config: `source`: must be a string';
  if (!source) throw 'plugin_config: `source` must not be empty';
  const prefix = cfg.type_prefix ?? null;
  if (prefix !== null && typeof prefix !== 'string') throw 'plugin_config: `type_prefix`: must be a string';
  return { source, prefix };
}

export function checkConfig(config) {
  readCloudConfig(config);
}

export function transform(event, webhook, config) {
  let cfg;
  try {
    cfg = readCloudConfig(config);
  } catch (e) {
    return fail(e);
  }
  let type = event.type;
  if (cfg.prefix) type = cfg.prefix.endsWith('.') ? cfg.prefix + type : cfg.prefix + '.' + type;
  const attributes = { specversion: '1.0', id: event.id, source: cfg.source, type, time: event.timestamp };
  const r = event.resource;
  if (r.id) attributes.subject = r.type ? r.type + '/' + r.id : r.id;
  const data = event.data.trim();
  const hasData = data !== 'null';
  if (hasData) attributes.datacontenttype = 'application/json';
  let text = JSON.stringify(attributes);
  if (hasData) text = text.slice(0, -1) + ',"data":' + data + '}';
  return send(text, { contentType: CONTENT_TYPE });
}
