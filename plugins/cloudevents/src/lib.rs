//! # cloudevents: deliver Hookline events as CloudEvents 1.0
//!
//! Turns each event into a [CloudEvents 1.0] event in structured content mode: one JSON
//! object sent with `Content-Type: application/cloudevents+json; charset=UTF-8`.
//!
//! | CloudEvents attribute | value |
//! | --- | --- |
//! | `specversion` | `"1.0"` |
//! | `id` | the event id (`evt_…`), stable across retries, so receivers can de-duplicate |
//! | `source` | config `source`, default `"hookline"` |
//! | `type` | the event type, e.g. `task.completed`, after config `type_prefix` if set |
//! | `time` | the event timestamp (RFC 3339, UTC) |
//! | `subject` | `<resource type>/<resource id>`, e.g. `task/t1`; left out without a resource id |
//! | `datacontenttype` | `"application/json"`; left out with `data` when the event has none |
//! | `data` | the event data, embedded verbatim |
//!
//! Configuration (`plugin_config`), every key optional:
//!
//! ```toml
//! [[webhooks]]
//! id = "events-bus"
//! url = "https://bus.example.com/ingest"
//! events = ["*"]
//! plugin = "plugins/cloudevents.wasm"
//! plugin_config = { source = "https://hookline.example.com", type_prefix = "com.example" }
//! ```
//!
//! - `source` (string, default `"hookline"`): the CloudEvents `source`, a URI reference
//!   naming this producer. It must not be empty.
//! - `type_prefix` (string, default none): prepended to the event type, joined with a `.`
//!   unless it already ends with one: `com.example` gives `com.example.task.completed`.
//!
//! The body for a `task.completed` event:
//!
//! ```json
//! {"specversion":"1.0","id":"evt_1","source":"hookline","type":"task.completed",
//!  "time":"2024-01-02T03:04:05.5Z","subject":"task/t1","datacontenttype":"application/json",
//!  "data":{"session_id":"s1","status":"completed"}}
//! ```
//!
//! [CloudEvents 1.0]: https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/spec.md

use hookline_guest::serde::{Deserialize, Serialize};
use hookline_guest::{Event, Outcome, Plugin, Request, Webhook};

/// The content type of a structured-mode CloudEvent in JSON, as the HTTP binding writes it.
pub const CONTENT_TYPE: &str = "application/cloudevents+json; charset=UTF-8";

/// The `source` used when the configuration names none.
pub const DEFAULT_SOURCE: &str = "hookline";

/// The plugin's configuration.
#[derive(Debug, Deserialize)]
#[serde(crate = "hookline_guest::serde", default, deny_unknown_fields)]
pub struct Config {
    /// The CloudEvents `source`.
    pub source: String,
    /// Prepended to the event type.
    pub type_prefix: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            source: DEFAULT_SOURCE.to_owned(),
            type_prefix: None,
        }
    }
}

/// The CloudEvents plugin.
#[derive(Debug)]
pub struct CloudEvents;

/// Reads and checks the configuration.
///
/// # Errors
/// A message naming the bad key.
pub fn read_config(config: &str) -> Result<Config, String> {
    let cfg: Config = hookline_guest::config(config).map_err(|e| e.to_string())?;
    if cfg.source.is_empty() {
        return Err("plugin_config: `source` must not be empty".to_owned());
    }
    Ok(cfg)
}

impl Plugin for CloudEvents {
    fn check_config(config: &str) -> Result<(), String> {
        read_config(config).map(drop)
    }

    fn transform(event: Event, _webhook: Webhook, config: &str) -> Outcome {
        let cfg = match read_config(config) {
            Ok(cfg) => cfg,
            Err(e) => return Outcome::fail(e),
        };
        match to_cloudevent(&event, &cfg) {
            Ok(body) => Outcome::send(Request::new(body).content_type(CONTENT_TYPE)),
            Err(e) => Outcome::fail(format_args!("cannot encode the CloudEvent: {e}")),
        }
    }
}

hookline_guest::export_plugin!(CloudEvents);

/// The CloudEvent's attributes, in the order they are written; `data` follows them.
#[derive(Serialize)]
#[serde(crate = "hookline_guest::serde")]
struct Attributes<'a> {
    specversion: &'static str,
    id: &'a str,
    source: &'a str,
    #[serde(rename = "type")]
    r#type: &'a str,
    time: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    subject: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    datacontenttype: Option<&'static str>,
}

/// The CloudEvent for `event` as compact JSON, `data` copied verbatim (never re-encoded).
///
/// # Errors
/// Only if `serde_json` fails to write string attributes to memory, which it does not.
pub fn to_cloudevent(
    event: &Event,
    cfg: &Config,
) -> Result<Vec<u8>, hookline_guest::serde_json::Error> {
    let r#type = match cfg.type_prefix.as_deref() {
        None | Some("") => event.event_type.clone(),
        Some(prefix) if prefix.ends_with('.') => format!("{prefix}{}", event.event_type),
        Some(prefix) => format!("{prefix}.{}", event.event_type),
    };
    let subject = (!event.resource.id.is_empty()).then(|| {
        if event.resource.r#type.is_empty() {
            event.resource.id.clone()
        } else {
            format!("{}/{}", event.resource.r#type, event.resource.id)
        }
    });
    let has_data = !event.data_is_null();
    let attributes = Attributes {
        specversion: "1.0",
        id: &event.id,
        source: &cfg.source,
        r#type: &r#type,
        time: &event.timestamp,
        subject,
        datacontenttype: has_data.then_some("application/json"),
    };
    let data = event.data_json();
    let mut out = Vec::with_capacity(256 + data.len());
    hookline_guest::serde_json::to_writer(&mut out, &attributes)?;
    if has_data {
        // Replace the closing `}` with the data member.
        out.pop();
        out.extend_from_slice(b",\"data\":");
        out.extend_from_slice(data.trim().as_bytes());
        out.push(b'}');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hookline_guest::Resource;
    use hookline_guest::serde_json::{Value, json};

    fn event() -> Event {
        Event::new("evt_1", "task.completed", "2024-01-02T03:04:05.5Z")
            .with_resource(Resource::new("t1", "task").with_label("team", "core"))
            .with_data_json(r#"{"session_id":"s1","status":"completed","n":1.50}"#)
    }

    fn run(event: Event, config: &str) -> Outcome {
        CloudEvents::transform(event, Webhook::new("w", "https://example.com/hook"), config)
    }

    #[test]
    fn default_config_gives_a_structured_cloudevent() {
        let out = run(event(), "{}");
        let req = out.request().expect("a request");
        assert_eq!(req.content_type.as_deref(), Some(CONTENT_TYPE));
        assert_eq!(
            req.body_text().unwrap(),
            r#"{"specversion":"1.0","id":"evt_1","source":"hookline","type":"task.completed","time":"2024-01-02T03:04:05.5Z","subject":"task/t1","datacontenttype":"application/json","data":{"session_id":"s1","status":"completed","n":1.50}}"#
        );
        assert!(req.headers.is_empty());
        assert_eq!(req.url, None);
    }

    #[test]
    fn source_and_type_prefix_come_from_the_config() {
        for (prefix, want) in [
            ("com.example", "com.example.task.completed"),
            ("com.example.", "com.example.task.completed"),
            ("", "task.completed"),
        ] {
            let config = json!({"source": "https://hookline.example.com", "type_prefix": prefix});
            let out = run(event(), &config.to_string());
            let body: Value = out.request().unwrap().body_json().unwrap();
            assert_eq!(body["type"], want);
            assert_eq!(body["source"], "https://hookline.example.com");
        }
    }

    #[test]
    fn events_without_data_or_resource_id_leave_those_attributes_out() {
        let e = Event::new("evt_2", "runner.connected", "2024-01-02T03:04:05Z");
        let out = run(e, "{}");
        assert_eq!(
            out.request().unwrap().body_text().unwrap(),
            r#"{"specversion":"1.0","id":"evt_2","source":"hookline","type":"runner.connected","time":"2024-01-02T03:04:05Z"}"#
        );
        let e = Event::new("evt_3", "x.y", "2024-01-02T03:04:05Z")
            .with_resource(Resource::new("r1", ""))
            .with_data_json("[1, 2]");
        let body: Value = run(e, "{}").request().unwrap().body_json().unwrap();
        assert_eq!(body["subject"], "r1");
        assert_eq!(body["data"], json!([1, 2]));
    }

    #[test]
    fn bad_configs_fail_the_delivery_with_the_reason() {
        assert_eq!(
            run(event(), r#"{"source": ""}"#).fail_message(),
            Some("plugin_config: `source` must not be empty")
        );
        let out = run(event(), r#"{"sourc": "x"}"#);
        assert!(
            out.fail_message()
                .unwrap()
                .starts_with("plugin_config: unknown field `sourc`"),
            "{out:?}"
        );
    }

    #[test]
    fn output_is_valid_json_for_tricky_strings() {
        let e = Event::new("evt_\"4", "task.created", "2024-01-02T03:04:05Z")
            .with_resource(Resource::new("a/b\n", "task"))
            .with_data_json(r#"{"prompt":"say \"hi\"\n"}"#);
        let body: Value = run(e, r#"{"source":"urn:a\"b"}"#)
            .request()
            .unwrap()
            .body_json()
            .unwrap();
        assert_eq!(body["id"], "evt_\"4");
        assert_eq!(body["subject"], "task/a/b\n");
        assert_eq!(body["source"], "urn:a\"b");
        assert_eq!(body["data"]["prompt"], "say \"hi\"\n");
    }
}
