//! Plugins built into the host, named `builtin:NAME` where a webhook names a plugin file.
//!
//! - `builtin:javascript` ([`JAVASCRIPT`]): a webhook's inline JavaScript transform. The
//!   component (QuickJS and a few hundred lines of Rust, `builtin/javascript/`) is built by
//!   `build.rs` and embedded here; the script is the webhook's `plugin_config.script`.
//!
//! A built-in plugin is loaded like a file (compiled once, kept in the memory and disk caches
//! by its SHA-256, counted in the stats under its name) but never reloaded: its bytes are
//! part of the binary.

use std::path::Path;

/// The prefix of a built-in plugin's name.
pub const PREFIX: &str = "builtin:";

/// The inline JavaScript plugin's name.
pub const JAVASCRIPT: &str = "builtin:javascript";

/// The names of the built-in plugins.
pub const NAMES: [&str; 1] = [JAVASCRIPT];

static JAVASCRIPT_WASM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/javascript.wasm"));

/// The component of the built-in plugin named `path`, if it names one.
pub(crate) fn component(path: &Path) -> Option<&'static [u8]> {
    (path.as_os_str() == JAVASCRIPT).then_some(JAVASCRIPT_WASM)
}

/// Whether `plugin` (as a webhook names it) claims to be a built-in plugin: `builtin:…`.
pub fn is_builtin_name(plugin: &str) -> bool {
    plugin.starts_with(PREFIX)
}

/// Why `plugin` is not a built-in plugin's name although it starts with `builtin:`, if so.
pub fn unknown_builtin(plugin: &str) -> Option<String> {
    (is_builtin_name(plugin) && !NAMES.contains(&plugin)).then(|| {
        format!(
            "`{plugin}` is not a built-in plugin (built-in: {})",
            NAMES.join(", ")
        )
    })
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;
    use std::time::Duration;

    use serde_json::{Value, json};

    use super::*;
    use crate::{
        ConfigCheckError, LoadedPlugin, PluginError, PluginLimits, PluginRuntime,
        PluginRuntimeConfig, TransformInput, TransformOutput,
    };

    const PAYLOAD: &str = r#"{"event":"task.completed","timestamp":"2024-05-06T07:08:09.123Z","resource":{"id":"task_42","type":"task"},"data":{"id":"d1","session_id":"s1","prompt":"secret","status":"completed"}}"#;

    fn runtime() -> &'static (PluginRuntime, std::sync::Arc<LoadedPlugin>) {
        static RUNTIME: OnceLock<(PluginRuntime, std::sync::Arc<LoadedPlugin>)> = OnceLock::new();
        RUNTIME.get_or_init(|| {
            let runtime = PluginRuntime::new(PluginRuntimeConfig::default()).expect("runtime");
            let plugin = runtime.load(Path::new(JAVASCRIPT)).expect("builtin loads");
            (runtime, plugin)
        })
    }

    fn config(script: &str) -> String {
        json!({ "script": script }).to_string()
    }

    fn check(script: &str) -> Result<(), ConfigCheckError> {
        let (runtime, plugin) = runtime();
        runtime.check_config(plugin, &config(script))
    }

    fn transform_with(script: &str, limits: PluginLimits) -> Result<TransformOutput, PluginError> {
        let (runtime, plugin) = runtime();
        let input = TransformInput::from_payload(
            "evt_01",
            PAYLOAD.as_bytes(),
            "hook",
            "https://receiver.example.com/hook",
            &config(script),
        )
        .expect("input");
        runtime.transform(plugin, input, &limits)
    }

    fn transform(script: &str) -> Result<TransformOutput, PluginError> {
        transform_with(script, PluginLimits::default())
    }

    fn sent_json(out: Result<TransformOutput, PluginError>) -> Value {
        match out {
            Ok(TransformOutput::Send { body, .. }) => {
                serde_json::from_slice(&body).expect("the body is JSON")
            }
            other => panic!("expected a body, got {other:?}"),
        }
    }

    fn refused(result: Result<(), ConfigCheckError>) -> String {
        match result {
            Err(ConfigCheckError::Refused(message)) => message,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    fn failed(out: Result<TransformOutput, PluginError>) -> String {
        match out {
            Err(PluginError::Output { message }) => message,
            other => panic!("expected a failure, got {other:?}"),
        }
    }

    #[test]
    fn names_are_recognised() {
        assert!(component(Path::new(JAVASCRIPT)).is_some());
        assert!(component(Path::new("javascript")).is_none());
        assert_eq!(unknown_builtin(JAVASCRIPT), None);
        assert_eq!(unknown_builtin("plugins/redact.wasm"), None);
        let why = unknown_builtin("builtin:python").unwrap();
        assert!(why.contains("builtin:javascript"), "{why}");
        let (runtime, _) = runtime();
        let err = runtime.load(Path::new("builtin:jS")).unwrap_err();
        assert!(err.to_string().contains("not a built-in plugin"), "{err}");
    }

    #[test]
    fn the_script_reshapes_the_body() {
        let body = sent_json(transform(
            "export default (event, webhook) => ({ ...event, data: { id: event.data.id }, \
             hook: webhook.id, url: webhook.url, eventId: event.id })",
        ));
        assert_eq!(
            body,
            json!({
                "event": "task.completed",
                "timestamp": "2024-05-06T07:08:09.123Z",
                "resource": {"id": "task_42", "type": "task"},
                "data": {"id": "d1"},
                "hook": "hook",
                "url": "https://receiver.example.com/hook",
                "eventId": "evt_01",
            })
        );
        // The event object is the default body exactly: `id` is not enumerable.
        match transform("export default (event) => event").unwrap() {
            TransformOutput::Send { body, .. } => assert_eq!(&body[..], PAYLOAD.as_bytes()),
            other => panic!("{other:?}"),
        }
        // Arrays, strings and async functions.
        assert_eq!(
            sent_json(transform("export default () => [1, 2]")),
            json!([1, 2])
        );
        assert_eq!(
            sent_json(transform("export default () => 'hi'")),
            json!("hi")
        );
        assert_eq!(
            sent_json(transform(
                "export default async (e) => { await null; return { s: e.data.status }; }"
            )),
            json!({"s": "completed"})
        );
    }

    #[test]
    fn a_request_sets_headers_content_type_and_url() {
        let out = transform(
            "export default (e) => hookline.request({ body: 'text=' + e.data.status, \
             contentType: 'application/x-www-form-urlencoded', headers: { 'X-Team': 'core' }, \
             url: 'https://other.example.com/x' })",
        )
        .unwrap();
        match out {
            TransformOutput::Send {
                body,
                content_type,
                headers,
                url,
                ..
            } => {
                assert_eq!(&body[..], b"text=completed");
                assert_eq!(
                    content_type.as_deref(),
                    Some("application/x-www-form-urlencoded")
                );
                assert_eq!(headers, vec![("X-Team".to_owned(), "core".to_owned())]);
                assert_eq!(url.as_deref(), Some("https://other.example.com/x"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn null_undefined_and_skip_skip_the_delivery() {
        for (script, reason) in [
            ("export default () => null", "the script returned null"),
            ("export default () => {}", "the script returned undefined"),
            (
                "export default (e) => hookline.skip(`not for ${e.event}`)",
                "not for task.completed",
            ),
        ] {
            match transform(script).unwrap() {
                TransformOutput::Skip { reason: got, .. } => assert_eq!(got, reason, "{script}"),
                other => panic!("{script}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_throw_fails_the_delivery_naming_the_line() {
        let message = failed(transform(
            "export default (event) => {\n  const x = 1;\n  throw new Error(`no ${event.event}`);\n}",
        ));
        assert_eq!(
            message,
            "plugin failed: plugin_config.script: script line 3, column 13: Error: no task.completed"
        );
        let message = failed(transform(
            "export default (event) => event.data.missing.field",
        ));
        assert!(
            message.contains("plugin_config.script: script line 1,"),
            "{message}"
        );
        assert!(message.contains("TypeError"), "{message}");
        let message = failed(transform("export default () => { throw 'plain'; }"));
        assert!(message.contains("the script threw \"plain\""), "{message}");
        let message = failed(transform(
            "export default async () => { await new Promise(() => {}); }",
        ));
        assert!(message.contains("never settles"), "{message}");
        let message = failed(transform("export default () => () => 1"));
        assert!(message.contains("no JSON form"), "{message}");
    }

    #[test]
    fn check_config_refuses_bad_scripts_with_line_and_column() {
        check("export default (event) => event").expect("a good script passes");
        let message = refused(check("export default (event) => {\n  return event +;\n}"));
        assert!(
            message.starts_with("plugin_config.script: script line 2, column "),
            "{message}"
        );
        assert!(message.contains("SyntaxError"), "{message}");
        let message = refused(check("export const x = 1;"));
        assert!(message.contains("no default export"), "{message}");
        let message = refused(check("export default 42;"));
        assert!(message.contains("is a number, not a function"), "{message}");
        let message = refused(check(
            "throw new RangeError('at load');\nexport default () => 1",
        ));
        assert!(message.contains("script line 1"), "{message}");
        assert!(message.contains("RangeError: at load"), "{message}");
        let (runtime, plugin) = runtime();
        let message = refused(runtime.check_config(plugin, r#"{"script_file":"a.js"}"#));
        assert!(message.contains("through the API"), "{message}");
        let message = refused(runtime.check_config(plugin, "{}"));
        assert!(
            message.contains("plugin_config.script is missing"),
            "{message}"
        );
    }

    #[test]
    fn an_endless_loop_is_stopped_and_the_next_call_works() {
        let out = transform("export default () => { for (;;) {} }");
        assert!(matches!(out, Err(PluginError::Fuel { .. })), "{out:?}");
        // With fuel to spare, the deadline stops it.
        let out = transform_with(
            "export default () => { for (;;) {} }",
            PluginLimits {
                fuel: u64::MAX / 2,
                deadline: Duration::from_millis(50),
                ..PluginLimits::default()
            },
        );
        assert!(matches!(out, Err(PluginError::Deadline { .. })), "{out:?}");
        assert_eq!(sent_json(transform("export default () => 1")), json!(1));
    }

    #[test]
    fn memory_is_capped() {
        let out = transform("export default () => new ArrayBuffer(128 << 20).byteLength");
        assert!(
            matches!(
                out,
                Err(PluginError::Memory { .. } | PluginError::Output { .. })
            ),
            "{out:?}"
        );
    }
}
