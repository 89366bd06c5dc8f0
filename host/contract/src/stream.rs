//! `GET /v1/stream`, the console's feed: server-sent events named `snapshot`
//! ([`StreamSnapshot`]), `delivery` ([`DeliveryChange`]), `webhook` ([`WebhookChange`]) and
//! `stats` ([`Stats`]), each with one `data:` line of JSON. The daemon writes the changes
//! from its [`EngineEvent`]s; a reader decodes any event with [`StreamEvent::decode`].

use serde::{Deserialize, Serialize};

use crate::api::Stats;
use crate::delivery::{DeliveryStatus, DeliverySummary, ErrorKind, Millis};
use crate::webhook::WebhookView;

/// The `snapshot` event's name.
pub const SNAPSHOT: &str = "snapshot";
/// The `delivery` event's name.
pub const DELIVERY: &str = "delivery";
/// The `webhook` event's name.
pub const WEBHOOK: &str = "webhook";
/// The `stats` event's name.
pub const STATS: &str = "stats";

/// A change the engine announces (the `/v1/stream` feed and embedders' subscriptions).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EngineEvent {
    /// A delivery changed status.
    Delivery(DeliveryChange),
    /// A webhook was created, changed, paused, resumed, disabled or deleted. Readers get it
    /// as a [`WebhookChange`] (same fields).
    Webhook {
        /// Its id.
        id: String,
        /// New state name, or `deleted`.
        state: String,
        /// Reason, when disabled.
        reason: Option<String>,
    },
}

impl EngineEvent {
    /// The name of the stream event that carries it: [`DELIVERY`] or [`WEBHOOK`].
    pub fn stream_name(&self) -> &'static str {
        match self {
            EngineEvent::Delivery(_) => DELIVERY,
            EngineEvent::Webhook { .. } => WEBHOOK,
        }
    }
}

/// One delivery status change: the `delivery` event.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>))]
    pub next_attempt_at: Option<Millis>,
    /// When the change happened (server time).
    #[cfg_attr(feature = "openapi", schema(value_type = i64))]
    pub at: Millis,
}

/// The `webhook` event as a reader decodes it: the fields of [`EngineEvent::Webhook`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct WebhookChange {
    /// Webhook id.
    pub id: String,
    /// New state name (`active`, `paused`, `disabled`), or `deleted`.
    pub state: String,
    /// Why, when disabled.
    pub reason: Option<String>,
}

/// The `snapshot` event: everything a fresh console needs, sent first and again whenever the
/// subscriber fell behind.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct StreamSnapshot {
    /// Current figures.
    pub stats: Stats,
    /// Every webhook.
    pub webhooks: Vec<WebhookView>,
    /// The most recent deliveries (at most 200), newest first.
    pub deliveries: Vec<DeliverySummary>,
}

/// One decoded event of `/v1/stream`.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    /// Everything a fresh console needs (also after the console fell behind).
    Snapshot(Box<StreamSnapshot>),
    /// A delivery changed status.
    Delivery(DeliveryChange),
    /// A webhook changed state.
    Webhook(WebhookChange),
    /// Figures, every second.
    Stats(Box<Stats>),
}

impl StreamEvent {
    /// Decodes one server-sent event. `Ok(None)` for event names this build does not know;
    /// `Err` for a known event whose data does not parse.
    pub fn decode(name: &str, data: &str) -> Result<Option<StreamEvent>, serde_json::Error> {
        Ok(Some(match name {
            SNAPSHOT => StreamEvent::Snapshot(Box::new(serde_json::from_str(data)?)),
            DELIVERY => StreamEvent::Delivery(serde_json::from_str(data)?),
            WEBHOOK => StreamEvent::Webhook(serde_json::from_str(data)?),
            STATS => StreamEvent::Stats(Box::new(serde_json::from_str(data)?)),
            _ => return Ok(None),
        }))
    }
}
