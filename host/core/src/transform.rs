//! The transform seam between the engine and a plugin runtime: what a transform receives
//! ([`TransformInput`]), what it decides ([`TransformOutput`]), how it fails ([`PluginError`],
//! one [`ErrorKind`] per variant), and the [`Transformer`] trait the engine calls.
//!
//! The WebAssembly runtime (`hookline-plugin`) implements [`Transformer`]; the engine sees
//! only the trait, so an embedder that needs no plugins links no wasmtime.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::model::ErrorKind;
pub use hookline_contract::api::{PluginErrorCounts, PluginFigures};

/// What [`Transformer::transform`] returns: boxed, because a plugin call's state is large and
/// every delivery task would otherwise reserve room for it, plugin or not.
pub type TransformFuture =
    Pin<Box<dyn Future<Output = Result<TransformOutput, PluginError>> + Send>>;

/// What [`Transformer::check_config`] returns.
pub type ConfigCheckFuture = Pin<Box<dyn Future<Output = Result<(), ConfigCheckError>> + Send>>;

/// Who uses a `plugin_config`: the webhook, and where its configuration was written, for the
/// error of a later check (when the plugin file is replaced by a version that refuses it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigUser {
    /// The webhook's id.
    pub webhook_id: String,
    /// Where the configuration was written, e.g.
    /// ``webhooks[0].plugin_config (hookline.toml:12:17)`` or ``webhook `billing` (API)``.
    pub origin: String,
}

/// Why a `plugin_config` was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigCheckError {
    /// The plugin's `check-config` refused it, with this message.
    #[error("{0}")]
    Refused(String),
    /// The check could not run: the plugin does not load, or trapped, ran out of fuel, …
    #[error(transparent)]
    Plugin(PluginError),
}

/// Runs the transform a webhook names (`plugin = "…"`) on one delivery.
///
/// Implemented by `hookline_plugin::PluginRuntime` (WebAssembly components under fuel, memory
/// and deadline limits). The engine calls it before signing, on every attempt; the signature
/// covers what it returns.
pub trait Transformer: Send + Sync + std::fmt::Debug + 'static {
    /// Runs the transform at `path` on `input` (loading it first if needed).
    fn transform(self: Arc<Self>, path: &Path, input: TransformInput) -> TransformFuture;

    /// Asks the plugin at `path` whether it accepts `config` (a webhook's `plugin_config`,
    /// JSON text), before any delivery uses it, and remembers `user` so that a new version of
    /// the file is checked against it too. A plugin without a check (world 0.1.0) accepts
    /// everything; so does this default.
    fn check_config(
        self: Arc<Self>,
        path: &Path,
        user: ConfigUser,
        config: String,
    ) -> ConfigCheckFuture {
        let _ = (path, user, config);
        Box::pin(async { Ok(()) })
    }

    /// Calls, outcomes, time and fuel of every plugin called so far, by plugin (for
    /// `/v1/stats`, `/metrics` and the console). A runtime that keeps none returns nothing.
    fn stats(&self) -> Vec<PluginFigures> {
        Vec::new()
    }
}

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
    /// The delivery the call is for (`dlv_…`), empty for a test run: with the event and
    /// webhook ids it seeds what the plugin's `wasi:random` returns (deterministic, not
    /// secret).
    pub delivery_id: String,
    /// When this attempt started, Unix milliseconds: what the plugin's clocks read, frozen
    /// for the call. `None` (a test run) reads the host's clock once when the call starts.
    pub attempted_at_ms: Option<i64>,
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
            delivery_id: String::new(),
            attempted_at_ms: None,
        })
    }

    /// The same input, for one attempt of delivery `delivery_id` started at
    /// `attempted_at_ms` (Unix milliseconds; the attempt's timestamp header): the plugin's
    /// clocks read that time and its random bytes derive from the delivery.
    #[must_use]
    pub fn for_attempt(mut self, delivery_id: &str, attempted_at_ms: i64) -> TransformInput {
        self.delivery_id = delivery_id.to_owned();
        self.attempted_at_ms = Some(attempted_at_ms);
        self
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
            delivery_id: String::new(),
            attempted_at_ms: None,
        })
    }
}

/// What a plugin decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransformOutput {
    /// Send this request instead of the default one; the host signs `body` as is.
    Send {
        /// The body to send (and sign).
        body: Bytes,
        /// Its content type; `None` means `application/json`.
        content_type: Option<String>,
        /// Extra headers, already checked (never a signature, content-type or transport
        /// header).
        headers: Vec<(String, String)>,
        /// Another destination, already checked to be an http(s) URL (the sender's SSRF
        /// guard still vets it).
        url: Option<String>,
        /// Fuel the call burned.
        fuel_used: u64,
        /// How long the call took, instantiation included.
        duration: Duration,
    },
    /// Do not deliver this event to this webhook.
    Skip {
        /// The plugin's reason (at most [`MAX_REASON_BYTES`]).
        reason: String,
        /// Fuel the call burned.
        fuel_used: u64,
        /// How long the call took.
        duration: Duration,
    },
}

impl TransformOutput {
    /// Fuel the call burned.
    pub fn fuel_used(&self) -> u64 {
        match self {
            TransformOutput::Send { fuel_used, .. } | TransformOutput::Skip { fuel_used, .. } => {
                *fuel_used
            }
        }
    }

    /// How long the call took.
    pub fn duration(&self) -> Duration {
        match self {
            TransformOutput::Send { duration, .. } | TransformOutput::Skip { duration, .. } => {
                *duration
            }
        }
    }
}

/// A skip reason or failure message is cut to this many bytes.
pub const MAX_REASON_BYTES: usize = 1024;

/// Why a plugin call produced nothing to send. Each variant is one [`ErrorKind`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PluginError {
    /// The plugin file could not be read, compiled or linked (`plugin_load`).
    #[error("plugin {path}: {message}")]
    Load {
        /// The plugin file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The plugin trapped: a panic, `unreachable`, a bad memory access, or a call to a WASI
    /// function the sandbox does not grant (`plugin_trap`).
    #[error("plugin trapped: {message}")]
    Trap {
        /// The trap, and what the plugin wrote to stderr before it (a panic message).
        message: String,
    },
    /// The plugin used up its fuel (`plugin_fuel`).
    #[error(
        "plugin ran out of fuel after {budget} units (an endless loop, or a limit too low for this payload)"
    )]
    Fuel {
        /// The budget it had.
        budget: u64,
    },
    /// The plugin missed its wall-clock deadline (`plugin_deadline`).
    #[error("plugin missed its {} ms deadline", .limit.as_millis())]
    Deadline {
        /// The deadline it had.
        limit: Duration,
    },
    /// The plugin tried to grow its memory past the cap (`plugin_memory`).
    #[error("plugin exceeded its memory cap of {} (it asked for {})", human_bytes(*.limit_bytes), human_bytes(*.requested_bytes))]
    Memory {
        /// The cap.
        limit_bytes: usize,
        /// The size it tried to grow to.
        requested_bytes: usize,
    },
    /// The plugin returned something the host cannot send, or failed on purpose with
    /// `fail(message)` (`plugin_output`).
    #[error("{message}")]
    Output {
        /// What was wrong (or the plugin's own failure message).
        message: String,
    },
}

impl PluginError {
    /// The stable error kind stored with the attempt.
    pub fn kind(&self) -> ErrorKind {
        match self {
            PluginError::Load { .. } => ErrorKind::PluginLoad,
            PluginError::Trap { .. } => ErrorKind::PluginTrap,
            PluginError::Fuel { .. } => ErrorKind::PluginFuel,
            PluginError::Deadline { .. } => ErrorKind::PluginDeadline,
            PluginError::Memory { .. } => ErrorKind::PluginMemory,
            PluginError::Output { .. } => ErrorKind::PluginOutput,
        }
    }

    /// Whether trying again later may succeed without anyone changing anything. Only a missed
    /// deadline: it depends on how busy the machine was. Every other error is a property of
    /// the plugin and its input (fuel is counted in instructions, not time), so the delivery
    /// fails and an operator retries it after fixing the plugin.
    pub fn is_transient(&self) -> bool {
        matches!(self, PluginError::Deadline { .. })
    }

    /// A [`PluginError::Output`] with this message.
    pub fn output(message: impl Into<String>) -> PluginError {
        PluginError::Output {
            message: message.into(),
        }
    }
}

/// `1.5 MiB`, `64 MiB`, `512 B`.
fn human_bytes(n: usize) -> String {
    const MIB: usize = 1 << 20;
    const KIB: usize = 1 << 10;
    if n >= MIB && n.is_multiple_of(MIB) {
        format!("{} MiB", n / MIB)
    } else if n >= MIB {
        format!("{:.1} MiB", n as f64 / MIB as f64)
    } else if n >= KIB {
        format!("{:.1} KiB", n as f64 / KIB as f64)
    } else {
        format!("{n} B")
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
        assert_eq!(err.kind(), ErrorKind::PluginOutput);
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

    #[test]
    fn errors_map_to_their_kinds() {
        let cases = [
            (
                PluginError::Load {
                    path: "x.wasm".into(),
                    message: "gone".into(),
                },
                ErrorKind::PluginLoad,
            ),
            (
                PluginError::Trap {
                    message: "boom".into(),
                },
                ErrorKind::PluginTrap,
            ),
            (PluginError::Fuel { budget: 1 }, ErrorKind::PluginFuel),
            (
                PluginError::Deadline {
                    limit: Duration::from_millis(5),
                },
                ErrorKind::PluginDeadline,
            ),
            (
                PluginError::Memory {
                    limit_bytes: 1,
                    requested_bytes: 2,
                },
                ErrorKind::PluginMemory,
            ),
            (PluginError::output("bad"), ErrorKind::PluginOutput),
        ];
        for (error, kind) in cases {
            assert_eq!(error.kind(), kind, "{error}");
            assert_eq!(error.is_transient(), kind == ErrorKind::PluginDeadline);
        }
    }

    #[test]
    fn messages_name_the_limit() {
        let e = PluginError::Memory {
            limit_bytes: 64 << 20,
            requested_bytes: (1 << 30) + (64 << 10),
        };
        assert_eq!(
            e.to_string(),
            "plugin exceeded its memory cap of 64 MiB (it asked for 1024.1 MiB)"
        );
        let e = PluginError::Deadline {
            limit: Duration::from_millis(100),
        };
        assert_eq!(e.to_string(), "plugin missed its 100 ms deadline");
    }
}
