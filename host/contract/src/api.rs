//! The rest of the API's bodies: ingest ([`EventInput`], [`EventBatch`] in;
//! [`EventAccepted`], [`BatchAccepted`] out), figures ([`Stats`]), health probes and errors
//! ([`ErrorBody`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::delivery::{DeliveryStatus, ErrorKind, Millis};
use crate::event::ResourceInfo;

/// One event to ingest: `{"type", "id"?, "resource", "data"?}`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[cfg_attr(
    feature = "openapi",
    schema(example = json!({
        "type": "task.completed",
        "resource": {"id": "task_1", "type": "task"},
        "data": {"session_id": "s1", "status": "completed"}
    }))
)]
pub struct EventInput {
    /// Event type, e.g. `task.completed`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// Idempotency key: the same id again returns the first result and creates nothing.
    #[serde(default)]
    pub id: Option<String>,
    /// The resource that triggered the event.
    pub resource: ResourceInfo,
    /// Event data, any JSON; embedded in the payload without re-encoding.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub data: Option<Box<RawValue>>,
}

/// The result of ingesting one event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IngestResult {
    /// The event's id (the first event's, for a repeated idempotency key).
    pub event_id: String,
    /// Deliveries created (one per matching webhook).
    pub deliveries: u32,
    /// True when the idempotency key was seen before and nothing was created.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub duplicate: bool,
}

/// `POST /v1/events` answer: the event's id and how many deliveries it created. A repeated
/// idempotency key answers the first event's result, with `Idempotent-Replayed: true`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EventAccepted {
    /// The event's id.
    pub event_id: String,
    /// Deliveries created (one per matching webhook).
    pub deliveries: u32,
}

/// `POST /v1/events/batch` body.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EventBatch {
    /// The events, 1 to the daemon's batch limit (1000 by default).
    pub events: Vec<EventInput>,
}

/// `POST /v1/events/batch` answer: one result per event, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BatchAccepted {
    /// Results; `duplicate: true` marks a repeated idempotency key.
    pub results: Vec<IngestResult>,
}

/// `GET /healthz` and `GET /readyz` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HealthStatus {
    /// `ok` or `ready`.
    pub status: String,
}

/// The body of every error answer: `{"error": {"code", "message", "field"?}}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// One error: a stable code, a message for people, and the input it is about.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct ErrorDetail {
    /// Stable, machine-readable code (`invalid_input`, `not_found`, `unauthorized`, …).
    pub code: String,
    /// What was wrong, in words.
    pub message: String,
    /// The input the error is about (`events[3].type`, `url`, the query parameter), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// Counts by status, for `/v1/stats` and the console.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct StoreStats {
    /// Events stored.
    pub events: u64,
    /// Deliveries by status name.
    pub deliveries: BTreeMap<String, u64>,
    /// Pending deliveries whose next attempt is in the future (waiting for a retry).
    pub retry_waiting: u64,
    /// Creation time of the oldest pending delivery.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>))]
    pub oldest_pending_at: Option<Millis>,
}

/// Live figures of the daemon process (since it started).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct LiveStats {
    /// Seconds since the engine started.
    pub uptime_seconds: u64,
    /// Events accepted.
    pub events_accepted: u64,
    /// Deliveries created.
    pub deliveries_created: u64,
    /// Attempts made.
    pub attempts: u64,
    /// Deliveries delivered.
    pub delivered: u64,
    /// Deliveries failed permanently.
    pub failed: u64,
    /// Deliveries exhausted.
    pub exhausted: u64,
    /// Retries scheduled.
    pub retries_scheduled: u64,
    /// Requests in flight now.
    pub in_flight: u64,
    /// Deliveries in memory now.
    pub in_memory: u64,
    /// Attempt latency p50, ms.
    pub attempt_p50_ms: Option<u64>,
    /// Attempt latency p99, ms.
    pub attempt_p99_ms: Option<u64>,
    /// Accepted-to-delivered latency p50, ms.
    pub end_to_end_p50_ms: Option<u64>,
    /// Accepted-to-delivered latency p99, ms.
    pub end_to_end_p99_ms: Option<u64>,
}

/// `/v1/stats`: stored counts, live figures and webhook states.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct Stats {
    /// Server time (Unix ms) the figures were taken at.
    #[cfg_attr(feature = "openapi", schema(value_type = i64))]
    pub now: Millis,
    /// Counts from the store.
    pub store: StoreStats,
    /// Live figures of this process.
    pub live: LiveStats,
    /// Webhooks by state name.
    pub webhooks: BTreeMap<String, u64>,
    /// Per plugin file: calls, outcomes, time and fuel, since the process started (empty
    /// when no plugin was called, or the engine runs without a plugin runtime).
    pub plugins: Vec<PluginFigures>,
}

/// What the calls of one plugin file (all its versions) came to since the process started.
/// Times are of fresh-instance calls, instantiation included; quantiles are bucket bounds
/// (within 19 % above the true value).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct PluginFigures {
    /// The plugin file, as webhooks name it (`builtin:…` for a built-in plugin).
    pub plugin: String,
    /// SHA-256 of the version in use, hex (`None` while none could be loaded).
    pub sha256: Option<String>,
    /// Calls made (those that could not run because the plugin did not load included).
    pub calls: u64,
    /// Calls that returned a request to send.
    pub sent: u64,
    /// Calls that skipped the event.
    pub skipped: u64,
    /// Calls that failed, by kind.
    pub errors: PluginErrorCounts,
    /// Mean call time, µs.
    pub call_mean_us: Option<u64>,
    /// Median call time, µs.
    pub call_p50_us: Option<u64>,
    /// 99th percentile call time, µs.
    pub call_p99_us: Option<u64>,
    /// Mean instantiation time (part of the call time), µs.
    pub instantiate_mean_us: Option<u64>,
    /// 99th percentile instantiation time, µs.
    pub instantiate_p99_us: Option<u64>,
    /// Fuel used by every call, in all.
    pub fuel_used: u64,
    /// Mean fuel per call that ran.
    pub fuel_mean: Option<u64>,
    /// Time spent in calls, µs.
    pub busy_us: u64,
    /// The most linear memory one call's instance had (every memory in all), bytes.
    pub memory_max_bytes: u64,
}

impl PluginFigures {
    /// Every failed call.
    pub fn error_total(&self) -> u64 {
        let e = &self.errors;
        e.trap + e.fuel + e.deadline + e.memory + e.output + e.load
    }
}

/// A plugin's failed calls by kind (the `plugin_*` error kinds).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct PluginErrorCounts {
    /// Trapped (`plugin_trap`).
    pub trap: u64,
    /// Out of fuel (`plugin_fuel`).
    pub fuel: u64,
    /// Past the deadline (`plugin_deadline`).
    pub deadline: u64,
    /// Over the memory cap (`plugin_memory`).
    pub memory: u64,
    /// Unusable output, or failed on purpose (`plugin_output`).
    pub output: u64,
    /// Could not run: the plugin did not load (`plugin_load`).
    pub load: u64,
}

impl PluginErrorCounts {
    /// The count of error kind `kind` (`plugin_trap`, …); 0 for another kind.
    pub fn of(&self, kind: &str) -> u64 {
        match kind {
            "plugin_trap" => self.trap,
            "plugin_fuel" => self.fuel,
            "plugin_deadline" => self.deadline,
            "plugin_memory" => self.memory,
            "plugin_output" => self.output,
            "plugin_load" => self.load,
            _ => 0,
        }
    }
}

impl Stats {
    /// Stored deliveries in status `name`.
    pub fn stored(&self, name: &str) -> u64 {
        self.store.deliveries.get(name).copied().unwrap_or(0)
    }
}

/// The final result of one delivery, for embedders' callbacks (`Engine::dispatch`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeliveryResult {
    /// Delivery id.
    pub delivery_id: String,
    /// Event id.
    pub event_id: String,
    /// Webhook id.
    pub webhook_id: String,
    /// Terminal status (or `pending` when a retry is scheduled).
    pub status: DeliveryStatus,
    /// Attempts made.
    pub attempts: u32,
    /// HTTP status of the last attempt.
    pub status_code: Option<u16>,
    /// Error kind, if it failed.
    pub error_kind: Option<ErrorKind>,
    /// Error message, if it failed.
    pub error: Option<String>,
    /// Duration of the last attempt.
    pub latency_ms: u64,
}
