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
#[serde(deny_unknown_fields)]
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
    pub data: Option<Box<RawValue>>,
}

/// The result of ingesting one event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
pub struct EventAccepted {
    /// The event's id.
    pub event_id: String,
    /// Deliveries created (one per matching webhook).
    pub deliveries: u32,
}

/// `POST /v1/events/batch` body.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventBatch {
    /// The events, 1 to the daemon's batch limit (1000 by default).
    pub events: Vec<EventInput>,
}

/// `POST /v1/events/batch` answer: one result per event, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchAccepted {
    /// Results; `duplicate: true` marks a repeated idempotency key.
    pub results: Vec<IngestResult>,
}

/// `GET /healthz` and `GET /readyz` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthStatus {
    /// `ok` or `ready`.
    pub status: String,
}

/// The body of every error answer: `{"error": {"code", "message", "field"?}}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// One error: a stable code, a message for people, and the input it is about.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
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
#[serde(default)]
pub struct StoreStats {
    /// Events stored.
    pub events: u64,
    /// Deliveries by status name.
    pub deliveries: BTreeMap<String, u64>,
    /// Pending deliveries whose next attempt is in the future (waiting for a retry).
    pub retry_waiting: u64,
    /// Creation time of the oldest pending delivery.
    pub oldest_pending_at: Option<Millis>,
}

/// Live figures of the daemon process (since it started).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
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
#[serde(default)]
pub struct Stats {
    /// Server time (Unix ms) the figures were taken at.
    pub now: Millis,
    /// Counts from the store.
    pub store: StoreStats,
    /// Live figures of this process.
    pub live: LiveStats,
    /// Webhooks by state name.
    pub webhooks: BTreeMap<String, u64>,
}

impl Stats {
    /// Stored deliveries in status `name`.
    pub fn stored(&self, name: &str) -> u64 {
        self.store.deliveries.get(name).copied().unwrap_or(0)
    }
}

/// The final result of one delivery, for embedders' callbacks (`Engine::dispatch`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
