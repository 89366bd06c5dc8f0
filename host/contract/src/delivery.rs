//! Deliveries as the API shows them: [`DeliveryStatus`], [`ErrorKind`], the listed
//! [`DeliverySummary`], the [`DeliveryDetail`] with its [`AttemptView`]s, and [`Page`].
//!
//! Times are Unix milliseconds ([`Millis`]) in UTC.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch, UTC.
pub type Millis = i64;

/// Where a delivery stands.
///
/// [`DeliveryStatus::Unknown`] is what a reader makes of a status added by a newer daemon;
/// the daemon itself never writes it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
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
    /// A status this build does not know (read from a newer daemon).
    #[default]
    #[serde(other)]
    Unknown,
}

impl DeliveryStatus {
    /// Every known status, in lifecycle order ([`DeliveryStatus::Unknown`] is not one).
    pub const ALL: [DeliveryStatus; 7] = [
        DeliveryStatus::Pending,
        DeliveryStatus::InFlight,
        DeliveryStatus::Delivered,
        DeliveryStatus::Failed,
        DeliveryStatus::Exhausted,
        DeliveryStatus::Canceled,
        DeliveryStatus::Skipped,
    ];

    /// The wire and storage name (`unknown` for [`DeliveryStatus::Unknown`]).
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::InFlight => "in_flight",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::Exhausted => "exhausted",
            DeliveryStatus::Canceled => "canceled",
            DeliveryStatus::Skipped => "skipped",
            DeliveryStatus::Unknown => "unknown",
        }
    }

    /// Reads a wire name the way deserialisation does: anything unknown is
    /// [`DeliveryStatus::Unknown`]. Use [`str::parse`] to refuse unknown names instead.
    pub fn from_name(name: &str) -> DeliveryStatus {
        name.parse().unwrap_or(DeliveryStatus::Unknown)
    }

    /// A terminal status never changes again unless an operator retries the delivery.
    pub fn is_terminal(self) -> bool {
        !matches!(self, DeliveryStatus::Pending | DeliveryStatus::InFlight)
    }

    /// Pending or in flight: the delivery is not finished.
    pub fn is_open(self) -> bool {
        !self.is_terminal()
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownStatus(pub String);

impl fmt::Display for UnknownStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown delivery status `{}` (expected one of pending, in_flight, delivered, failed, exhausted, canceled, skipped)",
            self.0
        )
    }
}

impl std::error::Error for UnknownStatus {}

impl FromStr for DeliveryStatus {
    type Err = UnknownStatus;
    /// Only the known names: `unknown` is refused too.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DeliveryStatus::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| UnknownStatus(s.to_owned()))
    }
}

/// Why an attempt failed, as a stable machine-readable kind.
///
/// [`ErrorKind::Unknown`] is what a reader makes of a kind added by a newer daemon; the
/// daemon itself never writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
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
    /// A kind this build does not know (read from a newer daemon).
    #[serde(other)]
    Unknown,
}

impl ErrorKind {
    /// Every known kind ([`ErrorKind::Unknown`] is not one).
    pub const ALL: [ErrorKind; 16] = [
        ErrorKind::HttpStatus,
        ErrorKind::Timeout,
        ErrorKind::Connect,
        ErrorKind::Transport,
        ErrorKind::Redirect,
        ErrorKind::SsrfBlocked,
        ErrorKind::InvalidUrl,
        ErrorKind::PayloadTooLarge,
        ErrorKind::Secret,
        ErrorKind::PluginTrap,
        ErrorKind::PluginFuel,
        ErrorKind::PluginDeadline,
        ErrorKind::PluginMemory,
        ErrorKind::PluginOutput,
        ErrorKind::PluginLoad,
        ErrorKind::CircuitOpen,
    ];

    /// The wire and storage name (`unknown` for [`ErrorKind::Unknown`]).
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
            ErrorKind::Unknown => "unknown",
        }
    }

    /// Parses a stored name; unknown names (from a newer version) are `None`.
    pub fn parse(s: &str) -> Option<ErrorKind> {
        ErrorKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Reads a wire name the way deserialisation does: anything unknown is
    /// [`ErrorKind::Unknown`].
    pub fn from_name(name: &str) -> ErrorKind {
        ErrorKind::parse(name).unwrap_or(ErrorKind::Unknown)
    }

    /// One of the `plugin_*` kinds: the webhook's plugin, not its receiver, failed.
    pub fn is_plugin(self) -> bool {
        matches!(
            self,
            ErrorKind::PluginTrap
                | ErrorKind::PluginFuel
                | ErrorKind::PluginDeadline
                | ErrorKind::PluginMemory
                | ErrorKind::PluginOutput
                | ErrorKind::PluginLoad
        )
    }
}

impl From<&str> for ErrorKind {
    /// As [`ErrorKind::from_name`].
    fn from(name: &str) -> Self {
        ErrorKind::from_name(name)
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A delivery as listed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>))]
    pub next_attempt_at: Option<Millis>,
    /// Creation time.
    #[cfg_attr(feature = "openapi", schema(value_type = i64))]
    pub created_at: Millis,
    /// Last change.
    #[cfg_attr(feature = "openapi", schema(value_type = i64))]
    pub updated_at: Millis,
}

/// One attempt as shown by the API.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct AttemptView {
    /// 1-based attempt number.
    pub attempt: u32,
    /// Start time.
    #[cfg_attr(feature = "openapi", schema(value_type = i64))]
    pub started_at: Millis,
    /// Duration.
    pub duration_ms: u64,
    /// Destination (credentials redacted).
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

/// `GET /v1/deliveries/{id}`: a delivery with its event payload and every attempt.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct DeliveryDetail {
    /// The summary fields.
    #[serde(flatten)]
    pub summary: DeliverySummary,
    /// The event's JSON body, as stored (before any transform).
    pub payload: serde_json::Value,
    /// Attempts, oldest first.
    pub attempts_detail: Vec<AttemptView>,
}

/// A page of results and the cursor for the next one (`None` at the end).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Page<T> {
    /// The items.
    #[serde(default)]
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page.
    #[serde(default)]
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
