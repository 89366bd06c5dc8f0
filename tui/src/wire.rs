//! What the console reads from the daemon's API, as its own tolerant serde structs.
//!
//! These mirror the daemon's wire types (`hookline_host::api`, `hookline_host::engine::types`,
//! `hookline_host::model`) but are deliberately not shared with them: depending on
//! `hookline-host` would pull the whole engine (SQLite, the plugin runtime) into the console's
//! build. Every struct takes `#[serde(default)]` and ignores unknown fields, and names the
//! daemon may add later (a new delivery status, a new error kind) read as text or as
//! [`Status::Unknown`], so a newer daemon never breaks an older console.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer};

/// Milliseconds since the Unix epoch, UTC (the daemon's `Millis`).
pub type Millis = i64;

/// A delivery's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Status {
    /// Waiting for its first attempt or its next retry.
    Pending,
    /// An attempt is being made.
    InFlight,
    /// The receiver answered 2xx.
    Delivered,
    /// A permanent failure.
    Failed,
    /// Every attempt was used up.
    Exhausted,
    /// Given up without a verdict (webhook deleted or disabled).
    Canceled,
    /// The webhook's plugin declined the event.
    Skipped,
    /// A status this console does not know (a newer daemon).
    #[default]
    Unknown,
}

impl Status {
    /// Every known status, in lifecycle order.
    pub const ALL: [Status; 7] = [
        Status::Pending,
        Status::InFlight,
        Status::Delivered,
        Status::Failed,
        Status::Exhausted,
        Status::Canceled,
        Status::Skipped,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::InFlight => "in_flight",
            Status::Delivered => "delivered",
            Status::Failed => "failed",
            Status::Exhausted => "exhausted",
            Status::Canceled => "canceled",
            Status::Skipped => "skipped",
            Status::Unknown => "unknown",
        }
    }

    /// Parses a wire name; anything else is [`Status::Unknown`].
    pub fn parse(name: &str) -> Status {
        Status::ALL
            .into_iter()
            .find(|s| s.as_str() == name)
            .unwrap_or(Status::Unknown)
    }

    /// Whether an operator may retry a delivery in this status (as the daemon decides it).
    pub fn is_retryable_by_operator(self) -> bool {
        matches!(self, Status::Failed | Status::Exhausted | Status::Canceled)
    }

    /// Pending or in flight: the delivery is not finished.
    pub fn is_open(self) -> bool {
        matches!(self, Status::Pending | Status::InFlight)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Status {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = <Cow<'de, str>>::deserialize(d)?;
        Ok(Status::parse(&name))
    }
}

/// `/v1/stats`: stored counts, live figures, webhook states.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Stats {
    /// Server time the figures were taken at.
    pub now: Millis,
    /// Counts from the store.
    pub store: StoreStats,
    /// Figures of the daemon process since it started.
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

/// Stored counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct StoreStats {
    /// Events stored.
    pub events: u64,
    /// Deliveries by status name.
    pub deliveries: BTreeMap<String, u64>,
    /// Pending deliveries waiting for a retry.
    pub retry_waiting: u64,
    /// Creation time of the oldest pending delivery.
    pub oldest_pending_at: Option<Millis>,
}

/// Live figures of the daemon process.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
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

/// A webhook as the API shows it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Webhook {
    /// Id.
    pub id: String,
    /// Destination URL.
    pub url: String,
    /// Subscription patterns.
    pub events: Vec<String>,
    /// Signature scheme.
    pub scheme: String,
    /// Identifies the current secret (never the secret).
    pub secret_prefix: String,
    /// Timeout of one request, seconds.
    pub timeout_seconds: u64,
    /// Attempts in all.
    pub max_attempts: u32,
    /// Explicit retry schedule, seconds.
    pub retry_schedule_seconds: Option<Vec<u64>>,
    /// Requests per second at most.
    pub rate_limit_per_second: Option<u32>,
    /// Requests in flight at most.
    pub max_concurrency: u32,
    /// WebAssembly plugin path.
    pub plugin: Option<String>,
    /// Free-form description.
    pub description: String,
    /// `active`, `paused` or `disabled`.
    pub state: String,
    /// Why it is disabled.
    pub disabled_reason: Option<String>,
    /// When it was disabled.
    pub disabled_at: Option<Millis>,
    /// Live health.
    pub health: Health,
}

/// A webhook's live health (since the daemon started).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Health {
    /// Circuit breaker: `closed`, `open` or `half_open`.
    pub breaker: String,
    /// Consecutive failed attempts.
    pub consecutive_failures: u32,
    /// Failing continuously since, if failing.
    pub failing_since: Option<Millis>,
    /// Requests in flight now.
    pub in_flight: u32,
    /// Attempts that succeeded.
    pub succeeded: u64,
    /// Attempts that failed.
    pub failed: u64,
    /// Attempt latency p50, ms.
    pub latency_p50_ms: Option<u64>,
    /// Attempt latency p99, ms.
    pub latency_p99_ms: Option<u64>,
    /// 401 or 403 answers in a row.
    pub consecutive_auth_failures: u32,
}

/// `GET /v1/webhooks`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct WebhookList {
    /// Every webhook.
    pub items: Vec<Webhook>,
}

/// A delivery as listed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct DeliverySummary {
    /// Delivery id.
    pub id: String,
    /// Event id.
    pub event_id: String,
    /// Event type.
    pub event_type: String,
    /// Webhook id.
    pub webhook_id: String,
    /// Current status.
    pub status: Status,
    /// Attempts made.
    pub attempts: u32,
    /// Last HTTP status.
    pub last_status_code: Option<u16>,
    /// Last error kind.
    pub last_error_kind: Option<String>,
    /// Last error message.
    pub last_error: Option<String>,
    /// Next attempt (pending only).
    pub next_attempt_at: Option<Millis>,
    /// Creation time.
    pub created_at: Millis,
    /// Last change.
    pub updated_at: Millis,
}

/// A page of a list.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Cursor of the next page; `None` at the end.
    pub next_cursor: Option<String>,
}

impl<T> Default for Page<T> {
    fn default() -> Self {
        Page {
            items: Vec::new(),
            next_cursor: None,
        }
    }
}

/// One attempt of a delivery.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Attempt {
    /// 1-based number.
    pub attempt: u32,
    /// Start time.
    pub started_at: Millis,
    /// Duration.
    pub duration_ms: u64,
    /// Destination (credentials redacted by the daemon).
    pub url: String,
    /// HTTP status, if any.
    pub status_code: Option<u16>,
    /// Error kind, if any.
    pub error_kind: Option<String>,
    /// Error message, if any.
    pub error_message: Option<String>,
    /// Request headers as sent, secrets redacted by the daemon.
    pub request_headers: Vec<(String, String)>,
    /// The body sent, when a plugin transformed it.
    pub request_body: Option<String>,
    /// First bytes of the response.
    pub response_excerpt: Option<String>,
}

/// `GET /v1/deliveries/{id}`: a delivery with its payload and attempts.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct DeliveryDetail {
    /// The summary fields.
    #[serde(flatten)]
    pub summary: DeliverySummary,
    /// The event's JSON body as stored (before any transform).
    pub payload: serde_json::Value,
    /// Attempts, oldest first.
    pub attempts_detail: Vec<Attempt>,
}

/// A `delivery` stream event: one status change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
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
    pub status: Status,
    /// Attempts made.
    pub attempts: u32,
    /// Attempt budget.
    pub max_attempts: u32,
    /// HTTP status of the last attempt.
    pub status_code: Option<u16>,
    /// Error kind of the last attempt.
    pub error_kind: Option<String>,
    /// Error message of the last attempt.
    pub error: Option<String>,
    /// Latency of the last attempt.
    pub latency_ms: Option<u64>,
    /// Next attempt, when pending.
    pub next_attempt_at: Option<Millis>,
    /// When the change happened (server time).
    pub at: Millis,
}

/// A `webhook` stream event.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct WebhookChange {
    /// Webhook id.
    pub id: String,
    /// New state, or `deleted`.
    pub state: String,
    /// Why, when disabled.
    pub reason: Option<String>,
}

/// The `snapshot` stream event.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Snapshot {
    /// Current figures.
    pub stats: Stats,
    /// Every webhook.
    pub webhooks: Vec<Webhook>,
    /// The most recent deliveries, newest first.
    pub deliveries: Vec<DeliverySummary>,
}

/// The body of every API error answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// One API error.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct ErrorDetail {
    /// Stable code.
    pub code: String,
    /// Message for people.
    pub message: String,
    /// The input it is about.
    pub field: Option<String>,
}

/// One parsed event of `/v1/stream`.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    /// Everything a fresh console needs (also after the console fell behind).
    Snapshot(Box<Snapshot>),
    /// A delivery changed status.
    Delivery(DeliveryChange),
    /// A webhook changed state.
    Webhook(WebhookChange),
    /// Figures, every second.
    Stats(Box<Stats>),
}

impl StreamEvent {
    /// Decodes one server-sent event. `Ok(None)` for event names this console does not know;
    /// `Err` for a known event whose data does not parse.
    pub fn decode(name: &str, data: &str) -> Result<Option<StreamEvent>, serde_json::Error> {
        Ok(Some(match name {
            "snapshot" => StreamEvent::Snapshot(Box::new(serde_json::from_str(data)?)),
            "delivery" => StreamEvent::Delivery(serde_json::from_str(data)?),
            "webhook" => StreamEvent::Webhook(serde_json::from_str(data)?),
            "stats" => StreamEvent::Stats(Box::new(serde_json::from_str(data)?)),
            _ => return Ok(None),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_and_names_are_tolerated() {
        let change = r#"{"kind":"delivery","id":"dlv_1","event_id":"evt_1","event_type":"task.created",
            "webhook_id":"billing","status":"teleported","attempts":1,"max_attempts":3,
            "status_code":503,"error_kind":"quantum_noise","error":"boom","latency_ms":12,
            "next_attempt_at":null,"at":1000,"brand_new_field":[1,2,3]}"#;
        let Some(StreamEvent::Delivery(d)) = StreamEvent::decode("delivery", change).unwrap()
        else {
            panic!("not a delivery event");
        };
        assert_eq!(d.status, Status::Unknown);
        assert_eq!(d.error_kind.as_deref(), Some("quantum_noise"));
        assert_eq!(d.status_code, Some(503));
        assert_eq!(d.at, 1000);
    }

    #[test]
    fn missing_fields_take_defaults() {
        let Some(StreamEvent::Stats(stats)) = StreamEvent::decode("stats", "{}").unwrap() else {
            panic!("not stats");
        };
        assert_eq!(*stats, Stats::default());
        assert_eq!(StreamEvent::decode("future_event", "{}").unwrap(), None);
        assert!(StreamEvent::decode("delivery", "not json").is_err());
    }

    #[test]
    fn a_detail_flattens_its_summary() {
        let detail: DeliveryDetail = serde_json::from_str(
            r#"{"id":"dlv_1","status":"failed","attempts":1,"payload":{"a":1},
                "attempts_detail":[{"attempt":1,"status_code":400,
                "request_headers":[["X-Webhook-ID","dlv_1"]],"request_body":null}]}"#,
        )
        .unwrap();
        assert_eq!(detail.summary.id, "dlv_1");
        assert_eq!(detail.summary.status, Status::Failed);
        assert_eq!(detail.attempts_detail[0].request_headers.len(), 1);
        assert_eq!(detail.payload["a"], 1);
    }
}
