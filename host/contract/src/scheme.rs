//! Signature schemes by name: [`Scheme`], the header names each one sets, and
//! [`SchemeName`], the tolerant form a reader of the API uses.
//!
//! Signing and verification live in the host (`hookline_core::signing`); what is here is the
//! part both sides of the API agree on.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Marionette: the delivery id, the same on every retry.
pub const MARIONETTE_ID_HEADER: &str = "X-Webhook-ID";
/// Marionette: Unix seconds at send time.
pub const MARIONETTE_TIMESTAMP_HEADER: &str = "X-Webhook-Timestamp";
/// Marionette: `sha256=<hex>` under the current secret.
pub const MARIONETTE_SIGNATURE_HEADER: &str = "X-Webhook-Signature";
/// Marionette, during a rotation grace window only: the signatures under the previous
/// secrets, space-separated, each in the `sha256=<hex>` form. Hookline's addition; the
/// origin's receivers ignore it.
pub const MARIONETTE_PREVIOUS_SIGNATURE_HEADER: &str = "X-Webhook-Signature-Previous";
/// Standard Webhooks: the message id.
pub const STANDARD_ID_HEADER: &str = "webhook-id";
/// Standard Webhooks: Unix seconds at send time.
pub const STANDARD_TIMESTAMP_HEADER: &str = "webhook-timestamp";
/// Standard Webhooks: space-separated `v1,…`/`v1a,…` signatures.
pub const STANDARD_SIGNATURE_HEADER: &str = "webhook-signature";

/// A webhook's signature scheme. Serialized as `marionette` / `standard`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    /// The origin's scheme, compatible with its receivers (the default).
    #[default]
    Marionette,
    /// The Standard Webhooks specification (`v1` HMAC and `v1a` ed25519).
    Standard,
}

impl Scheme {
    /// The scheme's name, as written in configuration and on the command line.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Marionette => "marionette",
            Self::Standard => "standard",
        }
    }

    /// Name of the header carrying the delivery id.
    pub const fn id_header(self) -> &'static str {
        match self {
            Self::Marionette => MARIONETTE_ID_HEADER,
            Self::Standard => STANDARD_ID_HEADER,
        }
    }

    /// Name of the header carrying the Unix timestamp.
    pub const fn timestamp_header(self) -> &'static str {
        match self {
            Self::Marionette => MARIONETTE_TIMESTAMP_HEADER,
            Self::Standard => STANDARD_TIMESTAMP_HEADER,
        }
    }

    /// Name of the header carrying the signature(s).
    pub const fn signature_header(self) -> &'static str {
        match self {
            Self::Marionette => MARIONETTE_SIGNATURE_HEADER,
            Self::Standard => STANDARD_SIGNATURE_HEADER,
        }
    }

    /// Every header the host's signer may set under this scheme: custom per-webhook
    /// headers must not override these.
    pub const fn reserved_headers(self) -> &'static [&'static str] {
        match self {
            Self::Marionette => &[
                MARIONETTE_ID_HEADER,
                MARIONETTE_TIMESTAMP_HEADER,
                MARIONETTE_SIGNATURE_HEADER,
                MARIONETTE_PREVIOUS_SIGNATURE_HEADER,
            ],
            Self::Standard => &[
                STANDARD_ID_HEADER,
                STANDARD_TIMESTAMP_HEADER,
                STANDARD_SIGNATURE_HEADER,
            ],
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A scheme name that is neither `marionette` nor `standard`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseSchemeError(pub String);

impl fmt::Display for ParseSchemeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown signature scheme `{}`: expected `marionette` or `standard`",
            self.0
        )
    }
}

impl std::error::Error for ParseSchemeError {}

impl FromStr for Scheme {
    type Err = ParseSchemeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "marionette" => Ok(Self::Marionette),
            "standard" => Ok(Self::Standard),
            other => Err(ParseSchemeError(other.to_owned())),
        }
    }
}

/// A webhook's signature scheme as the API shows it ([`WebhookView`](crate::WebhookView)):
/// [`Scheme`]'s names, plus [`SchemeName::Unknown`] for a scheme added by a newer daemon.
///
/// Requests name a [`Scheme`], which is strict (an unknown name is refused); readers get a
/// `SchemeName`, so a console older than its daemon still reads every webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum SchemeName {
    /// [`Scheme::Marionette`].
    Marionette,
    /// [`Scheme::Standard`].
    Standard,
    /// A scheme this build does not know.
    #[default]
    #[serde(other)]
    Unknown,
}

impl SchemeName {
    /// The wire name; `unknown` for [`SchemeName::Unknown`].
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Marionette => "marionette",
            Self::Standard => "standard",
            Self::Unknown => "unknown",
        }
    }

    /// The scheme, when this build knows it.
    pub const fn scheme(self) -> Option<Scheme> {
        match self {
            Self::Marionette => Some(Scheme::Marionette),
            Self::Standard => Some(Scheme::Standard),
            Self::Unknown => None,
        }
    }
}

impl SchemeName {
    /// Reads a wire name the way deserialisation does: anything unknown is
    /// [`SchemeName::Unknown`].
    pub fn from_name(name: &str) -> SchemeName {
        name.parse::<Scheme>()
            .map_or(SchemeName::Unknown, SchemeName::from)
    }
}

impl From<&str> for SchemeName {
    /// As [`SchemeName::from_name`].
    fn from(name: &str) -> Self {
        SchemeName::from_name(name)
    }
}

impl From<Scheme> for SchemeName {
    fn from(s: Scheme) -> Self {
        match s {
            Scheme::Marionette => Self::Marionette,
            Scheme::Standard => Self::Standard,
        }
    }
}

impl PartialEq<Scheme> for SchemeName {
    fn eq(&self, other: &Scheme) -> bool {
        *self == SchemeName::from(*other)
    }
}

impl fmt::Display for SchemeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
