//! API tokens as the API takes and shows them: [`TokenScope`], [`TokenView`] and
//! [`TokenList`] out, [`CreateToken`] in, [`CreatedToken`] (the only answer carrying the
//! secret) and [`WhoAmI`].
//!
//! Scopes are ordered: `admin` allows everything, `read` every `GET` (webhooks, deliveries,
//! stats, the stream, metrics), `ingest` only `POST /v1/events` and `/v1/events/batch`.
//! `read` and `ingest` are disjoint: a read token cannot ingest, an ingest token cannot look.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::delivery::Millis;

/// What a token may do. [`TokenScope::Unknown`] is what a reader makes of a scope added by a
/// newer daemon; the daemon never grants it anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TokenScope {
    /// `POST /v1/events` and `/v1/events/batch` only: what an emitting platform holds.
    Ingest,
    /// Every `GET`: webhooks, deliveries, stats, the stream, metrics (a read-only console).
    Read,
    /// Everything, tokens included.
    Admin,
    /// A scope this build does not know (read from a newer daemon).
    #[default]
    #[serde(other)]
    Unknown,
}

impl TokenScope {
    /// The scopes a token can be created with, weakest first.
    pub const ALL: [TokenScope; 3] = [TokenScope::Ingest, TokenScope::Read, TokenScope::Admin];

    /// The name on the wire and in token prefixes (`ingest`, `read`, `admin`).
    pub fn as_str(self) -> &'static str {
        match self {
            TokenScope::Ingest => "ingest",
            TokenScope::Read => "read",
            TokenScope::Admin => "admin",
            TokenScope::Unknown => "unknown",
        }
    }

    /// Whether a token holding `self` may use a route needing `needed`: admin ⊇ read,
    /// admin ⊇ ingest, read and ingest disjoint; `Unknown` allows nothing and is allowed
    /// by nothing.
    pub fn allows(self, needed: TokenScope) -> bool {
        match (self, needed) {
            (TokenScope::Unknown, _) | (_, TokenScope::Unknown) => false,
            (TokenScope::Admin, _) => true,
            (held, needed) => held == needed,
        }
    }
}

impl fmt::Display for TokenScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A scope name that is not `ingest`, `read` or `admin`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownScope(pub String);

impl fmt::Display for UnknownScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown token scope `{}`: expected `ingest`, `read` or `admin`",
            self.0
        )
    }
}

impl std::error::Error for UnknownScope {}

impl FromStr for TokenScope {
    type Err = UnknownScope;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TokenScope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == s)
            .ok_or_else(|| UnknownScope(s.to_owned()))
    }
}

/// One token as `GET /v1/tokens` shows it: never its secret.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct TokenView {
    /// `tok_…`; the first-start (or configured) token is `tok_bootstrap`.
    pub id: String,
    /// What it is for, as its creator named it.
    pub name: String,
    /// What it may do.
    pub scope: TokenScope,
    /// When it was created.
    #[cfg_attr(feature = "openapi", schema(value_type = i64))]
    pub created_at: Millis,
    /// When it was last presented (to within about a minute), if ever.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>))]
    pub last_used_at: Option<Millis>,
}

/// `GET /v1/tokens` answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct TokenList {
    /// Every live token, oldest first.
    pub items: Vec<TokenView>,
}

/// `POST /v1/tokens` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    /// What it is for (1 to 100 characters, no control characters).
    pub name: String,
    /// What it may do: `ingest`, `read` or `admin`.
    pub scope: TokenScope,
}

/// `POST /v1/tokens` answer (201): the token and its secret, shown this once only.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct CreatedToken {
    /// The token.
    #[serde(flatten)]
    pub token: TokenView,
    /// The bearer secret (`hl_<scope>_…`). Only its digest is stored: it cannot be shown
    /// again.
    pub secret: String,
}

/// `GET /v1/whoami` answer: the token the request presented.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct WhoAmI {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// What it may do.
    pub scope: TokenScope,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_ordered_admin_over_read_and_ingest_which_are_disjoint() {
        use TokenScope::*;
        assert!(Admin.allows(Admin) && Admin.allows(Read) && Admin.allows(Ingest));
        assert!(Read.allows(Read) && !Read.allows(Ingest) && !Read.allows(Admin));
        assert!(Ingest.allows(Ingest) && !Ingest.allows(Read) && !Ingest.allows(Admin));
        assert!(!Unknown.allows(Read) && !Admin.allows(Unknown));
    }

    #[test]
    fn an_unknown_scope_reads_as_unknown_but_a_request_naming_one_is_refused() {
        let view: TokenView =
            serde_json::from_str(r#"{"id":"tok_1","name":"n","scope":"superuser","new":1}"#)
                .unwrap();
        assert_eq!(view.scope, TokenScope::Unknown);
        let err = "superuser".parse::<TokenScope>().unwrap_err();
        assert!(err.to_string().contains("`superuser`"), "{err}");
        assert!(
            serde_json::from_str::<CreateToken>(r#"{"name":"n","scope":"read","x":1}"#).is_err()
        );
    }

    #[test]
    fn the_created_answer_is_the_view_and_the_secret() {
        let created = CreatedToken {
            token: TokenView {
                id: "tok_1".into(),
                name: "ci".into(),
                scope: TokenScope::Ingest,
                created_at: 5,
                last_used_at: None,
            },
            secret: "hl_ingest_x".into(),
        };
        let json = serde_json::to_value(&created).unwrap();
        assert_eq!(json["scope"], "ingest");
        assert_eq!(json["secret"], "hl_ingest_x");
        assert!(json.get("last_used_at").is_none());
        let back: CreatedToken = serde_json::from_value(json).unwrap();
        assert_eq!(back, created);
    }
}
