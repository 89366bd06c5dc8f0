//! API tokens, the pure parts: generating a secret, the digest it is stored and looked up
//! by, and what its prefix says.
//!
//! A secret is `hl_<scope>_` followed by 64 hex characters (256 bits from the operating
//! system's generator), e.g. `hl_read_9f…`: recognisable in a log or a secret scanner, and
//! naming what it may do. The prefix is only a hint for people: the scope a token holds is
//! the one stored with its digest. Any other string (the first-start `hl_<hex>` token of
//! older versions, a configured token) is a valid secret too.
//!
//! Only the SHA-256 digest of a secret is stored ([`TokenDigest`]); a request's token is
//! looked up by its digest, and the digests compared in constant time.

use std::fmt;

use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub use hookline_contract::token::{TokenScope, TokenView, UnknownScope};

use crate::model::Millis;

/// The id of the token the daemon installs from its configuration or its first-start token
/// file: always `admin`.
pub const BOOTSTRAP_TOKEN_ID: &str = "tok_bootstrap";

/// Random bytes in a generated secret.
pub const SECRET_RANDOM_BYTES: usize = 32;

/// Longest token name, in characters.
pub const MAX_NAME_CHARS: usize = 100;

/// The SHA-256 digest of a token's secret: what the store keeps. `Debug` shows a short
/// fingerprint only.
#[derive(Clone, Copy, Eq)]
pub struct TokenDigest(pub [u8; 32]);

impl TokenDigest {
    /// The digest of `secret`.
    pub fn of(secret: &str) -> TokenDigest {
        let mut out = [0u8; 32];
        out.copy_from_slice(&Sha256::digest(secret.as_bytes()));
        TokenDigest(out)
    }

    /// The digest as stored (32 bytes).
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// A stored digest; `None` unless it is 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<TokenDigest> {
        <[u8; 32]>::try_from(bytes).ok().map(TokenDigest)
    }
}

impl PartialEq for TokenDigest {
    /// Constant time in the contents.
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl std::hash::Hash for TokenDigest {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl fmt::Debug for TokenDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenDigest({}…)", hex::encode(&self.0[..4]))
    }
}

/// A token's secret. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenSecret(String);

impl TokenSecret {
    /// A new secret for a token of `scope`: `hl_<scope>_` and 64 hex characters.
    pub fn generate(scope: TokenScope) -> TokenSecret {
        let mut bytes = [0u8; SECRET_RANDOM_BYTES];
        rand::rng().fill_bytes(&mut bytes);
        TokenSecret(format!("hl_{}_{}", scope.as_str(), hex::encode(bytes)))
    }

    /// The secret, to show its owner once.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Its digest.
    pub fn digest(&self) -> TokenDigest {
        TokenDigest::of(&self.0)
    }
}

impl fmt::Debug for TokenSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenSecret(<redacted>)")
    }
}

/// The scope a secret's prefix names (`hl_read_…` → `read`), if it has the generated shape:
/// a hint for messages, never what grants access.
pub fn prefix_scope(secret: &str) -> Option<TokenScope> {
    let rest = secret.strip_prefix("hl_")?;
    let (scope, random) = rest.split_once('_')?;
    let well_formed =
        random.len() == 2 * SECRET_RANDOM_BYTES && random.bytes().all(|b| b.is_ascii_hexdigit());
    well_formed.then(|| scope.parse().ok()).flatten()
}

/// Checks a token's name: 1 to [`MAX_NAME_CHARS`] characters, not only spaces, no control
/// characters. Returns the reason only.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.trim().is_empty() {
        return Err("a token needs a name saying what it is for (e.g. \"ci-ingest\")".into());
    }
    let chars = name.chars().count();
    if chars > MAX_NAME_CHARS {
        return Err(format!(
            "is {chars} characters long, over the {MAX_NAME_CHARS} character limit"
        ));
    }
    if name.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(())
}

/// Checks the scope a token is created with: `Unknown` is refused.
pub fn check_scope(scope: TokenScope) -> Result<(), String> {
    match scope {
        TokenScope::Unknown => Err("expected `ingest`, `read` or `admin`".into()),
        _ => Ok(()),
    }
}

/// A token as the store keeps it: no secret, its digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// `tok_…` (time-ordered), or [`BOOTSTRAP_TOKEN_ID`].
    pub id: String,
    /// What it is for.
    pub name: String,
    /// What it may do.
    pub scope: TokenScope,
    /// The digest of its secret (unique among tokens).
    pub digest: TokenDigest,
    /// When it was created.
    pub created_at: Millis,
    /// When it was last presented, as last written (at most about a minute behind).
    pub last_used_at: Option<Millis>,
}

impl TokenRecord {
    /// How the API shows it.
    pub fn view(&self) -> TokenView {
        TokenView {
            id: self.id.clone(),
            name: self.name.clone(),
            scope: self.scope,
            created_at: self.created_at,
            last_used_at: self.last_used_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_secret_names_its_scope_and_carries_256_random_bits() {
        for scope in TokenScope::ALL {
            let secret = TokenSecret::generate(scope);
            let shown = secret.expose();
            let prefix = format!("hl_{scope}_");
            assert!(shown.starts_with(&prefix), "{shown}");
            assert_eq!(shown.len(), prefix.len() + 64);
            assert_eq!(prefix_scope(shown), Some(scope));
            assert_ne!(TokenSecret::generate(scope), secret);
        }
    }

    #[test]
    fn prefix_scope_needs_the_generated_shape() {
        let random = "ab".repeat(32);
        assert_eq!(prefix_scope(&format!("hl_{random}")), None);
        assert_eq!(prefix_scope(&format!("hl_root_{random}")), None);
        assert_eq!(prefix_scope("hl_read_short"), None);
        assert_eq!(prefix_scope(&format!("xx_read_{random}")), None);
        assert_eq!(prefix_scope(&format!("hl_read_{}", "zz".repeat(32))), None);
    }

    #[test]
    fn digests_are_sha256_and_compare_by_content() {
        let d = TokenDigest::of("abc");
        assert_eq!(
            hex::encode(d.as_bytes()),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(d, TokenDigest::of("abc"));
        assert_ne!(d, TokenDigest::of("abd"));
        assert_eq!(TokenDigest::from_slice(d.as_bytes()), Some(d));
        assert_eq!(TokenDigest::from_slice(&[1, 2]), None);
    }

    #[test]
    fn debug_never_shows_a_secret() {
        let secret = TokenSecret::generate(TokenScope::Admin);
        let shown = format!("{secret:?} {:?}", secret.digest());
        assert!(!shown.contains(&secret.expose()[9..]), "{shown}");
        assert!(shown.contains("redacted"));
    }

    #[test]
    fn names_are_checked() {
        assert!(check_name("ci ingest").is_ok());
        assert!(check_name("  ").unwrap_err().contains("name"));
        assert!(check_name(&"x".repeat(101)).unwrap_err().contains("101"));
        assert!(check_name("a\nb").unwrap_err().contains("control"));
        assert!(check_scope(TokenScope::Unknown).is_err());
    }
}
