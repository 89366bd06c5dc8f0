// Types of the `hookline:plugin/plugin` world (../wit/plugin.wit, version 0.2.0) as
// componentize-qjs maps it to JavaScript, and of the helpers in hookline.js. For editors
// and `tsc --checkJs`; the build does not need them.

/** The resource that triggered the event. */
export interface Resource {
  id: string;
  type: string;
  /** In key order. */
  labels: [string, string][];
  /** In key order. */
  annotations: [string, string][];
}

/** The event being delivered. */
export interface Event {
  /** Event id (`evt_…`). */
  id: string;
  /** Event type, e.g. `task.completed`. */
  type: string;
  /** When it happened, RFC 3339 UTC (the origin's format). */
  timestamp: string;
  resource: Resource;
  /** The event's data as JSON text (`null` when it has none). */
  data: string;
}

/** The webhook the delivery goes to. */
export interface Webhook {
  id: string;
  url: string;
}

/** What to send instead of the default body. */
export interface Request {
  /** The body, sent as is and signed by the host. */
  body: Uint8Array;
  /** `application/json` when null. */
  contentType: string | null;
  /** Extra headers; never the id, timestamp, signature or content-type headers. */
  headers: [string, string][];
  /** Another destination (it must pass the host's SSRF policy). */
  url: string | null;
}

/** The plugin's decision. */
export type Outcome =
  | { tag: 'send'; val: Request }
  | { tag: 'skip'; val: string }
  | { tag: 'fail'; val: string };

export type Level = 'debug' | 'info' | 'warn' | 'error';

/** What a plugin module exports. */
export interface Plugin {
  /** Transforms one event for one webhook; `config` is its `plugin_config` as JSON text. */
  transform(event: Event, webhook: Webhook, config: string): Outcome;
  /** Optional: throws a message (naming the key) to refuse a `plugin_config`. */
  checkConfig?(config: string): void;
}

export function utf8(text: string): Uint8Array;
/** The resource as the host writes it: `{id, type, labels?, annotations?}`. */
export function resourceObject(resource: Resource): {
  id: string;
  type: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
};
/** The host's default body as text, byte for byte. */
export function defaultBodyText(event: Event): string;
/** The default body as an object, to edit and `JSON.stringify`. */
export function defaultBody(event: Event): {
  event: string;
  timestamp: string;
  resource: ReturnType<typeof resourceObject>;
  data: unknown;
};
export interface SendOptions {
  contentType?: string;
  headers?: Record<string, string> | [string, string][];
  url?: string;
}
/** A string or bytes as is; any other value as JSON. */
export function send(body: string | Uint8Array | unknown, options?: SendOptions): Outcome;
export function skip(reason: string): Outcome;
export function fail(message: string): Outcome;
/** `config` parsed, refusing keys not in `allowed` (throws a message naming the key). */
export function readConfig(config: string, allowed: string[]): Record<string, unknown>;
export function hostLog(level: Level, message: string): void;

declare global {
  /** The world's `log` import, as componentize-qjs exposes it. */
  function log(level: Level, message: string): void;
}
