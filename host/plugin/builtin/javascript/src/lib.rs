//! `builtin:javascript`: a webhook's inline JavaScript transform, run by QuickJS inside a
//! WebAssembly component of the `hookline:plugin/plugin` world.
//!
//! The webhook's `plugin_config` carries the script:
//!
//! ```toml
//! plugin = "builtin:javascript"
//! plugin_config = { script = "export default (event, webhook) => ({ ...event, data: { id: event.data.id } })" }
//! ```
//!
//! The script is an ES module whose default export is a function `(event, webhook)`:
//! - `event` is the body Hookline would send without a plugin (`event`, `timestamp`,
//!   `resource`, `data`), parsed; its id is `event.id`, which is not enumerable, so
//!   `{ ...event }` and `JSON.stringify(event)` give the default body exactly;
//! - `webhook` is `{ id, url }`.
//!
//! What it returns decides the delivery: `null` or `undefined` skips it; `hookline.skip(reason)`
//! skips it with a reason; `hookline.request({ body, contentType, headers, url })` sends that
//! (a string body as is, anything else as JSON); any other value is sent as its JSON. A
//! promise (an `async` function) is awaited. A thrown error fails the delivery with its
//! message and the script's line.
//!
//! `check-config` compiles the script and runs its top level: a syntax error, a missing
//! default export or one that is not a function refuses the configuration before any
//! delivery, naming the line and column. Every call is a fresh instance (the host's rule),
//! so the script is compiled once per call; the host's fuel, memory cap and deadline bound
//! it, an endless loop included.

use hookline_guest::serde_json;
use hookline_guest::{Event, Outcome, Plugin, Request, Webhook};
use rquickjs::{
    CatchResultExt, CaughtError, Context, Ctx, Function, Module, Object, Runtime, Value,
};

/// The module name the script is compiled under; error positions are read after it.
const SCRIPT_NAME: &str = "script.js";

/// Defines the `hookline` global and returns the function that turns what the script
/// returned into a plain record the Rust side reads (`kind` = `send` or `skip`).
const PRELUDE: &str = r#"(() => {
  const tag = Symbol("hookline");
  globalThis.hookline = Object.freeze({
    skip(reason) {
      return { [tag]: "skip", reason: reason === undefined ? "" : String(reason) };
    },
    request(request) {
      if (request === null || typeof request !== "object") {
        throw new TypeError("hookline.request takes an object: { body, contentType, headers, url }");
      }
      return { [tag]: "request", request };
    },
  });
  const json = (value, what) => {
    const text = JSON.stringify(value);
    if (text === undefined) {
      throw new TypeError(`${what} is a ${typeof value}, which has no JSON form`);
    }
    return text;
  };
  return (value) => {
    if (value === null || value === undefined) {
      return { kind: "skip", reason: `the script returned ${value}` };
    }
    if (typeof value === "object" && value[tag] === "skip") {
      return { kind: "skip", reason: value.reason };
    }
    if (typeof value === "object" && value[tag] === "request") {
      const r = value.request;
      const body = typeof r.body === "string" ? r.body : json(r.body, "the request's body");
      const headers = [];
      if (r.headers !== undefined && r.headers !== null) {
        if (typeof r.headers !== "object") {
          throw new TypeError("the request's headers must be an object of names to values");
        }
        for (const [name, v] of Object.entries(r.headers)) headers.push([name, String(v)]);
      }
      const text = (v, what) => {
        if (v === undefined || v === null) return undefined;
        if (typeof v !== "string") throw new TypeError(`the request's ${what} must be a string`);
        return v;
      };
      return {
        kind: "send",
        body,
        contentType: text(r.contentType, "contentType"),
        headers,
        url: text(r.url, "url"),
      };
    }
    return { kind: "send", body: json(value, "the returned value"), headers: [] };
  };
})()"#;

struct Javascript;

impl Plugin for Javascript {
    fn transform(event: Event, webhook: Webhook, config: &str) -> Outcome {
        let script = match script_of(config) {
            Ok(script) => script,
            Err(e) => return Outcome::fail(e),
        };
        match run(&script.source, &event, &webhook) {
            Ok(outcome) => outcome,
            Err(e) => Outcome::fail(format!("{}: {e}", script.label)),
        }
    }

    fn check_config(config: &str) -> Result<(), String> {
        let script = script_of(config)?;
        with_script(&script.source, |_, _, _| Ok(())).map_err(|e| format!("{}: {e}", script.label))
    }
}

hookline_guest::export_plugin!(Javascript);

/// A webhook's script: its source and how messages name it.
#[derive(Debug, PartialEq, Eq)]
struct Script {
    source: String,
    /// `plugin_config.script`, or ``plugin_config.script_file `transforms/slim.js` `` for a
    /// script the daemon read from a file (it passes the file's name as `script_name`).
    label: String,
}

/// The script from the webhook's `plugin_config` (`{"script": "…", "script_name"?: "…"}`).
fn script_of(config: &str) -> Result<Script, String> {
    let value: serde_json::Value =
        serde_json::from_str(config).map_err(|e| format!("plugin_config is not JSON: {e}"))?;
    let serde_json::Value::Object(map) = value else {
        return Err("plugin_config must be an object: { script = \"export default …\" }".into());
    };
    if let Some(key) = map
        .keys()
        .find(|k| !matches!(k.as_str(), "script" | "script_name"))
    {
        if key == "script_file" {
            return Err(
                "plugin_config.script_file is read by the daemon from the config \
                        file's folder at start; through the API, send the script itself as \
                        `script`"
                    .into(),
            );
        }
        return Err(format!(
            "plugin_config: unknown key `{key}` (expected `script`)"
        ));
    }
    let label = match map.get("script_name") {
        None => "plugin_config.script".to_owned(),
        Some(serde_json::Value::String(name)) => format!("plugin_config.script_file `{name}`"),
        Some(other) => {
            return Err(format!(
                "plugin_config.script_name must be a string, not {}",
                kind_of(other)
            ));
        }
    };
    let source = match map.get("script") {
        Some(serde_json::Value::String(s)) if !s.trim().is_empty() => s.clone(),
        Some(serde_json::Value::String(_)) => return Err(format!("{label} is empty")),
        Some(other) => {
            return Err(format!(
                "plugin_config.script must be a string (the module's source), not {}",
                kind_of(other)
            ));
        }
        None => {
            return Err(
                "plugin_config.script is missing: give the module's source, e.g. \
                        `export default (event, webhook) => event`"
                    .into(),
            );
        }
    };
    Ok(Script { source, label })
}

fn kind_of(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Compiles and evaluates the script as a module, then hands `f` its default export (checked
/// to be a function) and the prelude's result normaliser.
fn with_script<T>(
    script: &str,
    f: impl for<'js> FnOnce(&Ctx<'js>, Function<'js>, Function<'js>) -> Result<T, String>,
) -> Result<T, String> {
    let runtime = Runtime::new().map_err(|e| format!("cannot start QuickJS: {e}"))?;
    let context = Context::full(&runtime).map_err(|e| format!("cannot start QuickJS: {e}"))?;
    context.with(|ctx| {
        let normalise: Function = ctx
            .eval(PRELUDE)
            .catch(&ctx)
            .map_err(|e| format!("the built-in prelude failed: {}", describe(&e)))?;
        let module = Module::declare(ctx.clone(), SCRIPT_NAME, script)
            .catch(&ctx)
            .map_err(|e| describe(&e))?;
        let (module, evaluated) = module.eval().catch(&ctx).map_err(|e| describe(&e))?;
        evaluated
            .finish::<Value>()
            .catch(&ctx)
            .map_err(|e| describe(&e))?;
        let default: Value = module
            .get("default")
            .catch(&ctx)
            .map_err(|e| describe(&e))?;
        if default.is_undefined() {
            return Err("the script has no default export: write \
                        `export default (event, webhook) => …`"
                .into());
        }
        let Some(function) = default.as_function().cloned() else {
            return Err(format!(
                "the script's default export is {}, not a function: write \
                 `export default (event, webhook) => …`",
                js_kind(&default)
            ));
        };
        f(&ctx, function, normalise)
    })
}

/// Runs the script's default export on one event.
fn run(script: &str, event: &Event, webhook: &Webhook) -> Result<Outcome, String> {
    let body = event.default_body();
    with_script(script, |ctx, function, normalise| {
        let event_value = ctx
            .json_parse(body)
            .catch(ctx)
            .map_err(|e| format!("the event's body is not JSON: {}", describe(&e)))?;
        if let Some(object) = event_value.as_object() {
            define_hidden(ctx, object, "id", &event.id)?;
        }
        let webhook_value = Object::new(ctx.clone()).map_err(|e| e.to_string())?;
        webhook_value
            .set("id", webhook.id.as_str())
            .and_then(|()| webhook_value.set("url", webhook.url.as_str()))
            .map_err(|e| e.to_string())?;

        let mut returned: Value = function
            .call((event_value, webhook_value))
            .catch(ctx)
            .map_err(|e| describe(&e))?;
        if let Some(promise) = returned.as_promise().cloned() {
            returned = promise
                .finish::<Value>()
                .catch(ctx)
                .map_err(|e| describe(&e))?;
        }
        let record: Object = normalise
            .call((returned,))
            .catch(ctx)
            .map_err(|e| describe(&e))?;
        read_outcome(&record).map_err(|e| format!("reading the script's result: {e}"))
    })
}

/// Sets `object[name] = value` as a read-only property that spreading and `JSON.stringify`
/// leave out.
fn define_hidden<'js>(
    ctx: &Ctx<'js>,
    object: &Object<'js>,
    name: &str,
    value: &str,
) -> Result<(), String> {
    let define: Function = ctx
        .globals()
        .get::<_, Object>("Object")
        .and_then(|o| o.get("defineProperty"))
        .map_err(|e| e.to_string())?;
    let descriptor = Object::new(ctx.clone()).map_err(|e| e.to_string())?;
    descriptor.set("value", value).map_err(|e| e.to_string())?;
    define
        .call::<_, Value>((object.clone(), name, descriptor))
        .catch(ctx)
        .map_err(|e| describe(&e))?;
    Ok(())
}

fn read_outcome(record: &Object<'_>) -> rquickjs::Result<Outcome> {
    let kind: String = record.get("kind")?;
    if kind == "skip" {
        return Ok(Outcome::skip(record.get::<_, String>("reason")?));
    }
    let mut request = Request::new(record.get::<_, String>("body")?);
    request.content_type = record.get("contentType")?;
    request.url = record.get("url")?;
    let headers: Vec<Vec<String>> = record.get("headers")?;
    request.headers = headers
        .into_iter()
        .filter_map(|pair| match <[String; 2]>::try_from(pair) {
            Ok([name, value]) => Some((name, value)),
            Err(_) => None,
        })
        .collect();
    Ok(Outcome::send(request))
}

/// What a JavaScript value is, for messages.
fn js_kind(value: &Value<'_>) -> &'static str {
    if value.is_null() {
        "null"
    } else if value.is_array() {
        "an array"
    } else if value.is_object() {
        "an object"
    } else if value.is_string() {
        "a string"
    } else if value.is_number() {
        "a number"
    } else if value.is_bool() {
        "a boolean"
    } else {
        value.type_name()
    }
}

/// An exception as `script line L, column C: Name: message`, the position taken from its
/// stack (the first frame in the script).
fn describe(error: &CaughtError<'_>) -> String {
    match error {
        CaughtError::Exception(e) => {
            let name: Option<String> = e.get("name").ok().flatten();
            let message = e.message().unwrap_or_default();
            let text = match name {
                Some(name) if !name.is_empty() => format!("{name}: {message}"),
                _ => message,
            };
            match e.stack().as_deref().and_then(script_position) {
                Some((line, column)) => format!("script line {line}, column {column}: {text}"),
                None => text,
            }
        }
        CaughtError::Value(value) => {
            let shown = value
                .ctx()
                .json_stringify(value.clone())
                .ok()
                .flatten()
                .and_then(|s| s.to_string().ok())
                .unwrap_or_else(|| js_kind(value).to_owned());
            format!("the script threw {shown}")
        }
        CaughtError::Error(rquickjs::Error::WouldBlock) => {
            "the script's promise never settles: nothing is left to run (there are no timers \
             or I/O in the sandbox)"
                .to_owned()
        }
        CaughtError::Error(e) => e.to_string(),
    }
}

/// The first `script.js:L:C` (or `script.js:L`) in a QuickJS stack.
fn script_position(stack: &str) -> Option<(u32, u32)> {
    let mut rest = stack;
    while let Some(at) = rest.find(SCRIPT_NAME) {
        rest = &rest[at + SCRIPT_NAME.len()..];
        let Some(numbers) = rest.strip_prefix(':') else {
            continue;
        };
        let mut parts = numbers.split(|c: char| !c.is_ascii_digit());
        let line = parts.next().and_then(|l| l.parse().ok());
        let column = parts.next().and_then(|c| c.parse().ok()).unwrap_or(0);
        if let Some(line) = line {
            return Some((line, column));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_read_from_the_stack() {
        assert_eq!(
            script_position("    at boom (script.js:3:11)\n    at <anonymous>"),
            Some((3, 11))
        );
        assert_eq!(script_position("    at script.js:7\n"), Some((7, 0)));
        assert_eq!(script_position("    at <eval> (other.js:1:2)"), None);
    }

    #[test]
    fn config_errors_name_the_key() {
        assert!(
            script_of("{}")
                .unwrap_err()
                .contains("plugin_config.script is missing")
        );
        assert!(
            script_of(r#"{"script_file":"a.js"}"#)
                .unwrap_err()
                .contains("script_file")
        );
        assert!(
            script_of(r#"{"script":1}"#)
                .unwrap_err()
                .contains("must be a string")
        );
        assert!(
            script_of(r#"{"scrip":"x"}"#)
                .unwrap_err()
                .contains("`scrip`")
        );
        let inline = script_of(r#"{"script":"x"}"#).unwrap();
        assert_eq!(
            (inline.source.as_str(), inline.label.as_str()),
            ("x", "plugin_config.script")
        );
        let file = script_of(r#"{"script":"x","script_name":"t/slim.js"}"#).unwrap();
        assert_eq!(file.label, "plugin_config.script_file `t/slim.js`");
    }
}
