//! The engine's records: webhooks, events, deliveries and attempts, as the store keeps them.
//! What the API shows of them ([`DeliverySummary`], [`DeliveryDetail`], [`DeliveryStatus`],
//! [`ErrorKind`], …) is declared in `hookline-contract` and re-exported here.
//!
//! Times are Unix milliseconds (`i64`) in UTC. Ids are [`crate::ids`] strings: a short
//! prefix and a time-ordered suffix, so ordering by id is ordering by creation.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::signing::Scheme;

pub use hookline_contract::api::StoreStats;
/// The view types and names the API shows, declared in `hookline-contract` (shared with the
/// console) and re-exported here.
pub use hookline_contract::delivery::{
    AttemptView, DeliveryDetail, DeliveryStatus, DeliverySummary, ErrorKind, Millis, Page,
    UnknownStatus,
};
pub use hookline_contract::webhook::{WebhookSource, WebhookStateName};

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
        self.wire_name().as_str()
    }

    /// The state's name as the API shows it.
    pub fn wire_name(&self) -> WebhookStateName {
        match self {
            WebhookState::Active => WebhookStateName::Active,
            WebhookState::Paused => WebhookStateName::Paused,
            WebhookState::Disabled { .. } => WebhookStateName::Disabled,
        }
    }
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
    /// Bumped by every change, 1 at creation: the compare-and-set token of admin edits (the
    /// API's `ETag`). The store sets it; a record passed to a write carries the version read.
    pub version: u64,
}

/// One delivery to create with an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelivery {
    /// Its id (`dlv_…`): the `X-Webhook-ID` / `webhook-id` receivers see on every attempt.
    pub id: String,
    /// The webhook it goes to.
    pub webhook_id: String,
    /// Created leased to the event's [`NewEvent::lease`] owner (when it has one), to be
    /// delivered from that process's memory; `false`: left for a claimer.
    pub leased: bool,
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
    /// When set, the deliveries marked [`NewDelivery::leased`] are created already leased to
    /// this owner until this time, so the accepting process can deliver them straight from
    /// memory while no other claimer takes them; after a crash the lease ends and they are
    /// claimed again.
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
