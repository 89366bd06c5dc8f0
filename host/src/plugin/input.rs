//! What a plugin receives: the event, the webhook and its config.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::PluginError;
use super::bindings::hookline::plugin::types as wit;

/// The resource that triggered the event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PluginResource {
    /// Its id.
    pub id: String,
    /// Its type (`task`, `session`, …).
    pub resource_type: String,
    /// Labels, in key order.
    pub labels: Vec<(String, String)>,
    /// Annotations, in key order.
    pub annotations: Vec<(String, String)>,
}

/// The event being delivered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PluginEvent {
    /// Event id (`evt_…`).
    pub id: String,
    /// Event type, e.g. `task.completed`.
    pub event_type: String,
    /// When it happened, RFC 3339 UTC, exactly as in the payload.
    pub timestamp: String,
    /// The resource.
    pub resource: PluginResource,
    /// The event's data as JSON text (`null` when it has none).
    pub data: String,
}

/// Everything one call gets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransformInput {
    /// The event.
    pub event: PluginEvent,
    /// The webhook's id.
    pub webhook_id: String,
    /// The webhook's URL.
    pub webhook_url: String,
    /// The webhook's `plugin_config`, JSON text (`{}` when none).
    pub config: String,
}

/// The stored payload (`event::Payload`'s JSON), read without re-encoding `data` or
/// re-formatting the timestamp.
#[derive(Deserialize)]
struct StoredPayload<'a> {
    event: String,
    timestamp: String,
    resource: StoredResource,
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
}

/// An ingest body (`{"type", "id"?, "resource", "data"}`), for `hookline plugin run`.
#[derive(Deserialize)]
struct IngestBody<'a> {
    #[serde(rename = "type")]
    event_type: String,
    #[serde(default)]
    id: Option<String>,
    resource: StoredResource,
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
    #[serde(default)]
    timestamp: Option<String>,
}

#[derive(Deserialize)]
struct StoredResource {
    id: String,
    #[serde(rename = "type")]
    resource_type: String,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    annotations: Option<BTreeMap<String, String>>,
}

impl From<StoredResource> for PluginResource {
    fn from(r: StoredResource) -> Self {
        PluginResource {
            id: r.id,
            resource_type: r.resource_type,
            labels: r.labels.unwrap_or_default().into_iter().collect(),
            annotations: r.annotations.unwrap_or_default().into_iter().collect(),
        }
    }
}

fn data_text(data: Option<&RawValue>) -> String {
    data.map_or_else(|| "null".to_owned(), |raw| raw.get().to_owned())
}

impl TransformInput {
    /// The input for one delivery: the event id, the stored payload (the origin's
    /// `{"event","timestamp","resource","data"}` JSON), the webhook and its config (`None`
    /// becomes `{}`).
    ///
    /// Fails with [`PluginError::Output`] when the payload is not that JSON: the delivery
    /// cannot be transformed, and nothing was sent.
    pub fn from_payload(
        event_id: &str,
        payload: &[u8],
        webhook_id: &str,
        webhook_url: &str,
        config: &str,
    ) -> Result<TransformInput, PluginError> {
        let stored: StoredPayload<'_> = serde_json::from_slice(payload).map_err(|e| {
            PluginError::output(format!(
                "the stored payload is not the event JSON a plugin expects: {e}"
            ))
        })?;
        Ok(TransformInput {
            event: PluginEvent {
                id: event_id.to_owned(),
                event_type: stored.event,
                timestamp: stored.timestamp,
                resource: stored.resource.into(),
                data: data_text(stored.data),
            },
            webhook_id: webhook_id.to_owned(),
            webhook_url: webhook_url.to_owned(),
            config: config.to_owned(),
        })
    }

    /// The input for a test run (`hookline plugin run --event FILE`): `json` is either an
    /// ingest body `{"type", "id"?, "resource", "data"}` (the event id is then `id`, or
    /// `default_id`; the timestamp `now`) or a stored payload
    /// `{"event", "timestamp", "resource", "data"}`.
    pub fn from_event_json(
        json: &[u8],
        default_id: &str,
        now: &str,
        webhook_id: &str,
        webhook_url: &str,
        config: &str,
    ) -> Result<TransformInput, String> {
        let value: serde_json::Value =
            serde_json::from_slice(json).map_err(|e| format!("not JSON: {e}"))?;
        let is_stored = value.get("event").is_some() && value.get("type").is_none();
        let event = if is_stored {
            let stored: StoredPayload<'_> = serde_json::from_slice(json).map_err(|e| {
                format!("not a stored payload {{event, timestamp, resource, data}}: {e}")
            })?;
            PluginEvent {
                id: default_id.to_owned(),
                event_type: stored.event,
                timestamp: stored.timestamp,
                resource: stored.resource.into(),
                data: data_text(stored.data),
            }
        } else {
            let body: IngestBody<'_> = serde_json::from_slice(json)
                .map_err(|e| format!("not an event {{type, id?, resource, data}}: {e}"))?;
            PluginEvent {
                id: body.id.unwrap_or_else(|| default_id.to_owned()),
                event_type: body.event_type,
                timestamp: body.timestamp.unwrap_or_else(|| now.to_owned()),
                resource: body.resource.into(),
                data: data_text(body.data),
            }
        };
        Ok(TransformInput {
            event,
            webhook_id: webhook_id.to_owned(),
            webhook_url: webhook_url.to_owned(),
            config: config.to_owned(),
        })
    }

    /// The WIT records, by move.
    pub(super) fn into_wit(self) -> (wit::Event, wit::Webhook, String) {
        let r = self.event.resource;
        let event = wit::Event {
            id: self.event.id,
            type_: self.event.event_type,
            timestamp: self.event.timestamp,
            resource: wit::Resource {
                id: r.id,
                type_: r.resource_type,
                labels: r.labels,
                annotations: r.annotations,
            },
            data: self.event.data,
        };
        let webhook = wit::Webhook {
            id: self.webhook_id,
            url: self.webhook_url,
        };
        (event, webhook, self.config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAYLOAD: &str = r#"{"event":"task.completed","timestamp":"2024-01-02T03:04:05.5Z","resource":{"id":"t1","type":"task","labels":{"b":"2","a":"1"}},"data":{"z":1,"a":[true]}}"#;

    #[test]
    fn reads_a_stored_payload_verbatim() {
        let input =
            TransformInput::from_payload("evt_1", PAYLOAD.as_bytes(), "hook", "http://x/", "{}")
                .unwrap();
        assert_eq!(input.event.id, "evt_1");
        assert_eq!(input.event.event_type, "task.completed");
        assert_eq!(input.event.timestamp, "2024-01-02T03:04:05.5Z");
        assert_eq!(input.event.data, r#"{"z":1,"a":[true]}"#);
        assert_eq!(
            input.event.resource.labels,
            vec![("a".into(), "1".into()), ("b".into(), "2".into())]
        );
        assert_eq!(input.config, "{}");
    }

    #[test]
    fn missing_data_is_null() {
        let p = r#"{"event":"task.created","timestamp":"2024-01-02T03:04:05Z","resource":{"id":"t1","type":"task","annotations":null},"data":null}"#;
        let input = TransformInput::from_payload("e", p.as_bytes(), "h", "u", "{}").unwrap();
        assert_eq!(input.event.data, "null");
        assert!(input.event.resource.annotations.is_empty());
    }

    #[test]
    fn a_payload_that_is_not_an_event_is_an_output_error() {
        let err = TransformInput::from_payload("e", b"[1]", "h", "u", "{}").unwrap_err();
        assert_eq!(err.kind(), crate::model::ErrorKind::PluginOutput);
    }

    #[test]
    fn event_files_may_be_ingest_bodies_or_payloads() {
        let ingest =
            r#"{"type":"task.failed","resource":{"id":"t9","type":"task"},"data":{"error":"x"}}"#;
        let a = TransformInput::from_event_json(
            ingest.as_bytes(),
            "evt_test",
            "2025-01-01T00:00:00Z",
            "h",
            "u",
            "{}",
        )
        .unwrap();
        assert_eq!(a.event.id, "evt_test");
        assert_eq!(a.event.event_type, "task.failed");
        assert_eq!(a.event.timestamp, "2025-01-01T00:00:00Z");
        assert_eq!(a.event.data, r#"{"error":"x"}"#);

        let with_id = r#"{"type":"task.failed","id":"key-1","resource":{"id":"t9","type":"task"}}"#;
        let b = TransformInput::from_event_json(with_id.as_bytes(), "e", "now", "h", "u", "{}")
            .unwrap();
        assert_eq!(b.event.id, "key-1");
        assert_eq!(b.event.data, "null");

        let c = TransformInput::from_event_json(PAYLOAD.as_bytes(), "e", "now", "h", "u", "{}")
            .unwrap();
        assert_eq!(c.event.timestamp, "2024-01-02T03:04:05.5Z");

        let err = TransformInput::from_event_json(b"{\"resource\":1}", "e", "n", "h", "u", "{}")
            .unwrap_err();
        assert!(err.contains("not an event"), "{err}");
    }
}
