//! Webhooks as the API takes and shows them: [`WebhookSpec`] and [`WebhookPatch`] in,
//! [`WebhookView`] (with its [`WebhookHealth`]), [`WebhookWithSecret`] and [`WebhookList`]
//! out, and the names of their states.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::delivery::Millis;
use crate::scheme::{Scheme, SchemeName};

/// A webhook's state as the API names it: [`WebhookView::state`].
///
/// The daemon's record keeps the state with its details (why and when it was disabled); this
/// is only the name. [`WebhookStateName::Unknown`] is what a reader makes of a state added
/// by a newer daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum WebhookStateName {
    /// Deliveries flow.
    Active,
    /// An operator paused it: deliveries wait.
    Paused,
    /// Disabled; pending deliveries were canceled.
    Disabled,
    /// A state this build does not know.
    #[default]
    #[serde(other)]
    Unknown,
}

impl WebhookStateName {
    /// The wire name (`unknown` for [`WebhookStateName::Unknown`]).
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookStateName::Active => "active",
            WebhookStateName::Paused => "paused",
            WebhookStateName::Disabled => "disabled",
            WebhookStateName::Unknown => "unknown",
        }
    }

    /// Reads a wire name the way deserialisation does: anything unknown (`deleted`
    /// included) is [`WebhookStateName::Unknown`].
    pub fn from_name(name: &str) -> WebhookStateName {
        match name {
            "active" => WebhookStateName::Active,
            "paused" => WebhookStateName::Paused,
            "disabled" => WebhookStateName::Disabled,
            _ => WebhookStateName::Unknown,
        }
    }
}

impl From<&str> for WebhookStateName {
    /// As [`WebhookStateName::from_name`].
    fn from(name: &str) -> Self {
        WebhookStateName::from_name(name)
    }
}

impl PartialEq<&str> for WebhookStateName {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Display for WebhookStateName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a webhook was declared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum WebhookSource {
    /// Created through the API or CLI.
    #[default]
    Api,
    /// Declared in the config file's `[[webhooks]]`; re-applied at every start.
    Config,
}

/// A webhook to create (API body, config `[[webhooks]]`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[cfg_attr(
    feature = "openapi",
    schema(example = json!({"id": "billing", "url": "https://example.com/hook", "events": ["task.*"]}))
)]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    /// New rate limit, requests per second (1 to 1,000,000); `0` removes the limit.
    #[serde(default)]
    pub rate_limit_per_second: Option<u32>,
    /// New concurrency limit (1 to 4096); `0` returns to the engine-wide default.
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

/// `POST /v1/webhooks/{id}/rotate-secret` body (optional: without it a secret is generated).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RotateSecretRequest {
    /// The new secret, checked against the webhook's scheme.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// Circuit breaker state of a webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum BreakerState {
    /// Requests flow.
    #[default]
    Closed,
    /// Requests are held back until the cool-down ends.
    Open,
    /// One probe request is allowed through.
    HalfOpen,
    /// A state this build does not know (read from a newer daemon).
    #[serde(other)]
    Unknown,
}

impl BreakerState {
    /// The wire name (`unknown` for [`BreakerState::Unknown`]).
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
            BreakerState::Unknown => "unknown",
        }
    }

    /// Reads a wire name the way deserialisation does: anything unknown is
    /// [`BreakerState::Unknown`].
    pub fn from_name(name: &str) -> BreakerState {
        match name {
            "closed" => BreakerState::Closed,
            "open" => BreakerState::Open,
            "half_open" => BreakerState::HalfOpen,
            _ => BreakerState::Unknown,
        }
    }
}

impl From<&str> for BreakerState {
    /// As [`BreakerState::from_name`].
    fn from(name: &str) -> Self {
        BreakerState::from_name(name)
    }
}

impl fmt::Display for BreakerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Live health of a webhook (in memory, since the daemon started).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct WebhookHealth {
    /// Circuit breaker.
    pub breaker: BreakerState,
    /// Consecutive failed attempts.
    pub consecutive_failures: u32,
    /// Failing continuously since (Unix ms), if failing.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>))]
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
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct WebhookView {
    /// Id.
    pub id: String,
    /// Destination URL.
    pub url: String,
    /// Subscription patterns.
    pub events: Vec<String>,
    /// Signature scheme.
    pub scheme: SchemeName,
    /// Identifies the current secret.
    pub secret_prefix: String,
    /// Whether an old secret still signs (rotation grace window) and until when.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>))]
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
    pub state: WebhookStateName,
    /// Why it is disabled.
    pub disabled_reason: Option<String>,
    /// When it was disabled.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>))]
    pub disabled_at: Option<Millis>,
    /// Config file or API.
    pub source: WebhookSource,
    /// Creation time.
    #[cfg_attr(feature = "openapi", schema(value_type = i64))]
    pub created_at: Millis,
    /// Last change.
    #[cfg_attr(feature = "openapi", schema(value_type = i64))]
    pub updated_at: Millis,
    /// Live health.
    pub health: WebhookHealth,
    /// Bumped by every change (1 at creation); the API's `ETag` and what `If-Match` names.
    /// 0 from a daemon that predates versions.
    pub version: u64,
}

/// A created webhook or a rotated secret: the only time the secret is shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookWithSecret {
    /// The webhook.
    pub webhook: WebhookView,
    /// The signing secret (for `standard-ed25519`, the private key; see `public_key`).
    pub secret: String,
    /// The public key receivers verify with, for ed25519 secrets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
}

/// `GET /v1/webhooks` answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct WebhookList {
    /// Every webhook, by id.
    pub items: Vec<WebhookView>,
}
