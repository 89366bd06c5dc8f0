//! The engine's input and output types: what the API, the CLI and embedders exchange with it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use hookline_core::event::ResourceInfo;
use hookline_core::model::{DeliveryStatus, ErrorKind, Millis, WebhookSource};
use hookline_core::signing::Scheme;

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

/// A webhook to create (API body, config `[[webhooks]]`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSpec {
    /// Id; generated (`wh_…`) when absent.
    #[serde(default)]
    pub id: Option<String>,
    /// Destination URL (http or https).
    pub url: String,
    /// Subscription patterns.
    pub events: Vec<String>,
    /// Signature scheme (default `marionette`).
    #[serde(default)]
    pub scheme: Option<Scheme>,
    /// Signing secret; generated when absent.
    #[serde(default)]
    pub secret: Option<String>,
    /// Extra request headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Request timeout, seconds.
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
    /// Attempts in all.
    #[serde(default)]
    pub max_attempts: Option<u32>,
    /// Explicit retry schedule, seconds.
    #[serde(default)]
    pub retry_schedule_seconds: Option<Vec<u64>>,
    /// Requests per second at most.
    #[serde(default)]
    pub rate_limit_per_second: Option<u32>,
    /// Concurrent requests at most.
    #[serde(default)]
    pub max_concurrency: Option<u32>,
    /// WebAssembly plugin path.
    #[serde(default)]
    pub plugin: Option<String>,
    /// Plugin config (any JSON).
    #[serde(default)]
    pub plugin_config: Option<serde_json::Value>,
    /// Free-form description.
    #[serde(default)]
    pub description: Option<String>,
    /// False creates it disabled.
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// A partial update of a webhook: absent fields keep their value.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookPatch {
    /// New URL.
    #[serde(default)]
    pub url: Option<String>,
    /// New patterns.
    #[serde(default)]
    pub events: Option<Vec<String>>,
    /// New headers (replaces all).
    #[serde(default)]
    pub headers: Option<BTreeMap<String, String>>,
    /// New timeout.
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
    /// New attempt budget.
    #[serde(default)]
    pub max_attempts: Option<u32>,
    /// New schedule.
    #[serde(default)]
    pub retry_schedule_seconds: Option<Vec<u64>>,
    /// New rate limit.
    #[serde(default)]
    pub rate_limit_per_second: Option<u32>,
    /// New concurrency limit.
    #[serde(default)]
    pub max_concurrency: Option<u32>,
    /// New plugin path.
    #[serde(default)]
    pub plugin: Option<String>,
    /// New plugin config.
    #[serde(default)]
    pub plugin_config: Option<serde_json::Value>,
    /// New description.
    #[serde(default)]
    pub description: Option<String>,
    /// `true` enables (re-activates a disabled webhook), `false` disables.
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// Circuit breaker state of a webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    /// Requests flow.
    Closed,
    /// Requests are held back until the cool-down ends.
    Open,
    /// One probe request is allowed through.
    HalfOpen,
}

/// Live health of a webhook (in memory, since this process started).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookHealth {
    /// Circuit breaker.
    pub breaker: BreakerState,
    /// Consecutive failed attempts.
    pub consecutive_failures: u32,
    /// Failing continuously since (Unix ms), if failing.
    pub failing_since: Option<Millis>,
    /// Requests in flight now.
    pub in_flight: u32,
    /// Attempts that succeeded.
    pub succeeded: u64,
    /// Attempts that failed.
    pub failed: u64,
    /// Attempt latency p50 (ms) over recent attempts.
    pub latency_p50_ms: Option<u64>,
    /// Attempt latency p99 (ms) over recent attempts.
    pub latency_p99_ms: Option<u64>,
    /// Attempts answered 401 or 403 in a row.
    pub consecutive_auth_failures: u32,
}

/// A webhook as the API shows it (never its secret, only the prefix).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookView {
    /// Id.
    pub id: String,
    /// Destination URL.
    pub url: String,
    /// Subscription patterns.
    pub events: Vec<String>,
    /// Signature scheme.
    pub scheme: Scheme,
    /// Identifies the current secret.
    pub secret_prefix: String,
    /// Whether an old secret still signs (rotation grace window) and until when.
    pub previous_secret_expires_at: Option<Millis>,
    /// Extra request headers.
    pub headers: BTreeMap<String, String>,
    /// Effective timeout, seconds.
    pub timeout_seconds: u64,
    /// Effective attempt budget.
    pub max_attempts: u32,
    /// Explicit schedule, if any.
    pub retry_schedule_seconds: Option<Vec<u64>>,
    /// Rate limit, if any.
    pub rate_limit_per_second: Option<u32>,
    /// Concurrency limit.
    pub max_concurrency: u32,
    /// Plugin path, if any.
    pub plugin: Option<String>,
    /// Plugin config, if any.
    pub plugin_config: Option<serde_json::Value>,
    /// Description.
    pub description: String,
    /// `active`, `paused` or `disabled`.
    pub state: String,
    /// Why it is disabled.
    pub disabled_reason: Option<String>,
    /// When it was disabled.
    pub disabled_at: Option<Millis>,
    /// Config file or API.
    pub source: WebhookSource,
    /// Creation time.
    pub created_at: Millis,
    /// Last change.
    pub updated_at: Millis,
    /// Live health.
    pub health: WebhookHealth,
}

/// A created webhook or a rotated secret: the only time the secret is shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookWithSecret {
    /// The webhook.
    pub webhook: WebhookView,
    /// The signing secret (for `standard-ed25519`, the private key; see `public_key`).
    pub secret: String,
    /// The public key receivers verify with, for ed25519 secrets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
}

/// A change the engine announces (the `/v1/stream` feed and embedders' subscriptions).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EngineEvent {
    /// A delivery changed status.
    Delivery(DeliveryChange),
    /// A webhook was created, changed, paused, resumed, disabled or deleted.
    Webhook {
        /// Its id.
        id: String,
        /// New state name, or `deleted`.
        state: String,
        /// Reason, when disabled.
        reason: Option<String>,
    },
}

/// One delivery status change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryChange {
    /// Delivery id.
    pub id: String,
    /// Event id.
    pub event_id: String,
    /// Event type.
    pub event_type: String,
    /// Webhook id.
    pub webhook_id: String,
    /// New status.
    pub status: DeliveryStatus,
    /// Attempts made.
    pub attempts: u32,
    /// Attempt budget.
    pub max_attempts: u32,
    /// HTTP status of the last attempt.
    pub status_code: Option<u16>,
    /// Error kind of the last attempt.
    pub error_kind: Option<ErrorKind>,
    /// Error message of the last attempt.
    pub error: Option<String>,
    /// Last attempt's latency.
    pub latency_ms: Option<u64>,
    /// Next attempt, when pending.
    pub next_attempt_at: Option<Millis>,
    /// When the change happened.
    pub at: Millis,
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

/// Live figures of this process (since it started).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
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
pub struct Stats {
    /// Server time (Unix ms) the figures were taken at.
    pub now: Millis,
    /// Counts from the store.
    pub store: hookline_core::model::StoreStats,
    /// Live figures of this process.
    pub live: LiveStats,
    /// Webhooks by state name.
    pub webhooks: BTreeMap<String, u64>,
}
