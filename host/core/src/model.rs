//! The engine's records: webhooks, events, deliveries and attempts, as the store keeps them
//! and the API shows them.
//!
//! Times are Unix milliseconds (`i64`) in UTC. Ids are [`crate::ids`] strings: a short
//! prefix and a time-ordered suffix, so ordering by id is ordering by creation.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::signing::Scheme;

/// Milliseconds since the Unix epoch, UTC.
pub type Millis = i64;

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting for its first attempt or its next retry.
    Pending,
    /// An attempt is being made (a worker holds its lease).
    InFlight,
    /// The receiver answered 2xx.
    Delivered,
    /// A permanent failure (non-retryable answer, or a deterministic plugin error).
    Failed,
    /// Retryable failures used up every attempt.
    Exhausted,
    /// Given up without a verdict: the webhook was deleted or disabled.
    Canceled,
    /// The webhook's plugin declined the event.
    Skipped,
}

impl DeliveryStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [DeliveryStatus; 7] = [
        DeliveryStatus::Pending,
        DeliveryStatus::InFlight,
        DeliveryStatus::Delivered,
        DeliveryStatus::Failed,
        DeliveryStatus::Exhausted,
        DeliveryStatus::Canceled,
        DeliveryStatus::Skipped,
    ];

    /// The wire and storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::InFlight => "in_flight",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::Exhausted => "exhausted",
            DeliveryStatus::Canceled => "canceled",
            DeliveryStatus::Skipped => "skipped",
        }
    }

    /// A terminal status never changes again unless an operator retries the delivery.
    pub fn is_terminal(self) -> bool {
        !matches!(self, DeliveryStatus::Pending | DeliveryStatus::InFlight)
    }

    /// Statuses an operator may retry from.
    pub fn is_retryable_by_operator(self) -> bool {
        matches!(
            self,
            DeliveryStatus::Failed | DeliveryStatus::Exhausted | DeliveryStatus::Canceled
        )
    }
}

impl fmt::Display for DeliveryStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown delivery status name.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "unknown delivery status `{0}` (expected one of pending, in_flight, delivered, failed, exhausted, canceled, skipped)"
)]
pub struct UnknownStatus(pub String);

impl FromStr for DeliveryStatus {
    type Err = UnknownStatus;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DeliveryStatus::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| UnknownStatus(s.to_owned()))
    }
}

/// Why an attempt failed, as a stable machine-readable kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The receiver answered with a non-2xx status.
    HttpStatus,
    /// No answer within the webhook's timeout.
    Timeout,
    /// Could not connect (refused, reset, DNS failure, TLS failure).
    Connect,
    /// The connection broke while sending or reading.
    Transport,
    /// The receiver answered with a redirect, which is never followed.
    Redirect,
    /// The SSRF guard refused the destination.
    SsrfBlocked,
    /// The URL is not a valid http/https URL.
    InvalidUrl,
    /// The body exceeds the maximum payload size.
    PayloadTooLarge,
    /// The webhook's signing secret could not be opened.
    Secret,
    /// The plugin trapped.
    PluginTrap,
    /// The plugin ran out of fuel.
    PluginFuel,
    /// The plugin missed its wall-clock deadline.
    PluginDeadline,
    /// The plugin exceeded its memory cap.
    PluginMemory,
    /// The plugin returned malformed or oversized output, or an error.
    PluginOutput,
    /// The plugin could not be loaded.
    PluginLoad,
    /// The webhook's circuit breaker was open.
    CircuitOpen,
}

impl ErrorKind {
    /// The wire and storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::HttpStatus => "http_status",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Connect => "connect",
            ErrorKind::Transport => "transport",
            ErrorKind::Redirect => "redirect",
            ErrorKind::SsrfBlocked => "ssrf_blocked",
            ErrorKind::InvalidUrl => "invalid_url",
            ErrorKind::PayloadTooLarge => "payload_too_large",
            ErrorKind::Secret => "secret",
            ErrorKind::PluginTrap => "plugin_trap",
            ErrorKind::PluginFuel => "plugin_fuel",
            ErrorKind::PluginDeadline => "plugin_deadline",
            ErrorKind::PluginMemory => "plugin_memory",
            ErrorKind::PluginOutput => "plugin_output",
            ErrorKind::PluginLoad => "plugin_load",
            ErrorKind::CircuitOpen => "circuit_open",
        }
    }

    /// Parses a stored name; unknown names (from a newer version) are `None`.
    pub fn parse(s: &str) -> Option<ErrorKind> {
        use ErrorKind::*;
        [
            HttpStatus,
            Timeout,
            Connect,
            Transport,
            Redirect,
            SsrfBlocked,
            InvalidUrl,
            PayloadTooLarge,
            Secret,
            PluginTrap,
            PluginFuel,
            PluginDeadline,
            PluginMemory,
            PluginOutput,
            PluginLoad,
            CircuitOpen,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A webhook's operational state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum WebhookState {
    /// Deliveries flow.
    #[default]
    Active,
    /// An operator paused it: deliveries wait, nothing is sent, nothing is lost.
    Paused,
    /// Disabled (410 Gone, auto-disable, or an operator); pending deliveries were canceled.
    Disabled {
        /// Why, in words.
        reason: String,
        /// When.
        at: Millis,
    },
}

impl WebhookState {
    /// `active`, `paused` or `disabled`.
    pub fn name(&self) -> &'static str {
        match self {
            WebhookState::Active => "active",
            WebhookState::Paused => "paused",
            WebhookState::Disabled { .. } => "disabled",
        }
    }
}

/// Where a webhook was declared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum WebhookSource {
    /// Created through the API or CLI.
    #[default]
    Api,
    /// Declared in the config file's `[[webhooks]]`; re-applied at every start.
    Config,
}

/// A webhook as the store keeps it. Secrets are sealed (see [`crate::secret`]).
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookRecord {
    /// Unique id (`billing`, or a generated `wh_…`).
    pub id: String,
    /// Destination URL.
    pub url: String,
    /// Subscription patterns, as written (validated before storing).
    pub events: Vec<String>,
    /// Signature scheme.
    pub scheme: Scheme,
    /// The signing secret, sealed.
    pub secret_sealed: String,
    /// Shown to identify the secret (never the secret itself).
    pub secret_prefix: String,
    /// The previous secret during a rotation grace window, sealed, and when it expires.
    pub previous_secret: Option<(String, Millis)>,
    /// Extra request headers (cannot override the id, timestamp, signature or content type).
    pub headers: BTreeMap<String, String>,
    /// Per-webhook overrides; `None` means the `[delivery]` default.
    pub timeout_ms: Option<u64>,
    /// Attempts in all, first included.
    pub max_attempts: Option<u32>,
    /// Explicit retry schedule in seconds; `None` means the default schedule.
    pub retry_schedule_secs: Option<Vec<u64>>,
    /// Requests per second at most; `None` means unlimited.
    pub rate_limit_per_sec: Option<u32>,
    /// Concurrent requests at most; `None` means the default.
    pub max_concurrency: Option<u32>,
    /// Path of the WebAssembly plugin transforming the payload, if any.
    pub plugin: Option<String>,
    /// The plugin's config, JSON text.
    pub plugin_config: Option<String>,
    /// Free-form description.
    pub description: String,
    /// Operational state.
    pub state: WebhookState,
    /// Config file or API.
    pub source: WebhookSource,
    /// Creation time.
    pub created_at: Millis,
    /// Last change.
    pub updated_at: Millis,
}

/// One delivery to create with an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelivery {
    /// Its id (`dlv_…`): the `X-Webhook-ID` / `webhook-id` receivers see on every attempt.
    pub id: String,
    /// The webhook it goes to.
    pub webhook_id: String,
}

/// An accepted event to store, with one delivery per matching webhook.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// Its id (`evt_…`).
    pub id: String,
    /// The client's idempotency key (`id` in the ingest body), if given.
    pub idempotency_key: Option<String>,
    /// Event type.
    pub event_type: String,
    /// The resource's id and type (for filters and the console).
    pub resource_id: String,
    /// See `resource_id`.
    pub resource_type: String,
    /// The origin's JSON body, serialised once at ingest and sent as is (unless a plugin
    /// transforms it).
    pub payload: Bytes,
    /// When it was accepted.
    pub received_at: Millis,
    /// The deliveries to create.
    pub deliveries: Vec<NewDelivery>,
    /// When set, the deliveries are created already leased to this owner until this time, so
    /// the accepting process can deliver them straight from memory while no other claimer
    /// takes them; after a crash the lease ends and they are claimed again.
    pub lease: Option<Lease>,
}

/// A claim on deliveries: who holds them and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The claiming process (unique per process start).
    pub owner: String,
    /// Lease end, Unix ms.
    pub until: Millis,
}

/// What ingesting one event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IngestOutcome {
    /// Stored, with its deliveries.
    Created,
    /// Its idempotency key was seen before: nothing was created; the first result.
    Duplicate {
        /// The first event's id.
        event_id: String,
        /// How many deliveries the first one created.
        deliveries: u32,
    },
}

/// A delivery ready for an attempt: everything the dispatcher needs, without another read.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryJob {
    /// Delivery id (the receiver's idempotency key).
    pub id: String,
    /// The event it carries.
    pub event_id: String,
    /// Event type.
    pub event_type: String,
    /// The webhook it goes to.
    pub webhook_id: String,
    /// Attempts already made.
    pub attempts: u32,
    /// The event's JSON body.
    pub payload: Bytes,
    /// When the event was accepted (for latency figures).
    pub received_at: Millis,
}

/// The result of one attempt and the delivery's new state, written together.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptRecord {
    /// The delivery.
    pub delivery_id: String,
    /// The lease owner that made the attempt; the write is ignored when the lease was lost.
    pub owner: String,
    /// 1-based attempt number.
    pub attempt: u32,
    /// When the request started.
    pub started_at: Millis,
    /// How long it took.
    pub duration_ms: u64,
    /// The URL the request went to.
    pub url: String,
    /// HTTP status, when the receiver answered.
    pub status_code: Option<u16>,
    /// Why it failed, when it did.
    pub error_kind: Option<ErrorKind>,
    /// Human-readable error.
    pub error_message: Option<String>,
    /// Request headers sent, signature values redacted.
    pub request_headers: Vec<(String, String)>,
    /// The body actually sent, only when a plugin changed it (else the event's payload).
    pub request_body: Option<Bytes>,
    /// First bytes of the response body (at most 20 KB), lossily decoded.
    pub response_excerpt: Option<String>,
    /// The delivery's new status.
    pub new_status: DeliveryStatus,
    /// For `Pending`: when to try again.
    pub next_attempt_at: Option<Millis>,
    /// False for a non-attempt (e.g. the circuit breaker postponed it): no attempt row is
    /// written and the attempt count does not change.
    pub counts_as_attempt: bool,
}

/// A delivery as listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    pub status: DeliveryStatus,
    /// Attempts made.
    pub attempts: u32,
    /// Last HTTP status seen.
    pub last_status_code: Option<u16>,
    /// Last error kind.
    pub last_error_kind: Option<ErrorKind>,
    /// Last error message.
    pub last_error: Option<String>,
    /// Next attempt (pending only).
    pub next_attempt_at: Option<Millis>,
    /// Creation time.
    pub created_at: Millis,
    /// Last change.
    pub updated_at: Millis,
}

/// One attempt as shown by the API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptView {
    /// 1-based attempt number.
    pub attempt: u32,
    /// Start time.
    pub started_at: Millis,
    /// Duration.
    pub duration_ms: u64,
    /// Destination.
    pub url: String,
    /// HTTP status, if any.
    pub status_code: Option<u16>,
    /// Error kind, if any.
    pub error_kind: Option<ErrorKind>,
    /// Error message, if any.
    pub error_message: Option<String>,
    /// Request headers, secrets redacted.
    pub request_headers: Vec<(String, String)>,
    /// Body sent when a plugin transformed it (UTF-8, lossy).
    pub request_body: Option<String>,
    /// Response excerpt.
    pub response_excerpt: Option<String>,
}

/// A delivery with its event payload and every attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryDetail {
    /// The summary fields.
    #[serde(flatten)]
    pub summary: DeliverySummary,
    /// The event's JSON body, as stored.
    pub payload: serde_json::Value,
    /// Attempts, oldest first.
    pub attempts_detail: Vec<AttemptView>,
}

/// Filters and paging for listing deliveries, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct DeliveryFilter {
    /// Only this webhook.
    pub webhook: Option<String>,
    /// Only these statuses.
    #[serde(default)]
    pub status: Vec<DeliveryStatus>,
    /// Only this exact event type.
    pub event_type: Option<String>,
    /// Only this event.
    pub event_id: Option<String>,
    /// Created at or after (Unix ms).
    pub since: Option<Millis>,
    /// Created before (Unix ms).
    pub until: Option<Millis>,
    /// Resume after this cursor (the last id of the previous page).
    pub cursor: Option<String>,
    /// Page size (default 50, at most 1000).
    pub limit: Option<u32>,
}

/// A page of results and the cursor for the next one (`None` at the end).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page.
    pub next_cursor: Option<String>,
}

/// Counts by status, for `/v1/stats` and the console.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
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
