//! Bearer-token authentication of the admin API.

use std::fmt;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::ApiError;

/// The admin API's bearer token. Only its SHA-256 digest is kept; comparisons run over
/// digests in constant time, so neither the token's bytes nor its length leak through
/// timing. `Debug` never shows it.
///
/// An empty token matches nothing (every request is refused).
#[derive(Clone)]
pub struct ApiAuth {
    digest: Arc<[u8; 32]>,
    empty: bool,
}

impl ApiAuth {
    /// Accepts requests presenting `token`.
    pub fn new(token: &str) -> ApiAuth {
        ApiAuth {
            digest: Arc::new(digest(token)),
            empty: token.is_empty(),
        }
    }

    /// Whether `presented` is the token (constant time in both inputs' contents and lengths).
    pub fn verify(&self, presented: &str) -> bool {
        let matches: bool = digest(presented).ct_eq(&*self.digest).into();
        matches && !self.empty
    }
}

impl fmt::Debug for ApiAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiAuth")
            .field("token", &"<redacted>")
            .finish()
    }
}

fn digest(token: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(&Sha256::digest(token.as_bytes()));
    out
}

/// The token of an `Authorization: Bearer <token>` header, if there is one.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Middleware: lets a request through only with the right bearer token.
pub(crate) async fn require_bearer(
    State(auth): State<ApiAuth>,
    req: Request,
    next: Next,
) -> Response {
    match bearer(req.headers()) {
        None => ApiError::unauthorized("missing bearer token").into_response(),
        Some(token) if auth.verify(token) => next.run(req).await,
        Some(_) => {
            tracing::debug!(path = %req.uri().path(), "refused an API request with an invalid token");
            ApiError::unauthorized("invalid token").into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_accepts_only_the_token() {
        let auth = ApiAuth::new("s3cret-token");
        assert!(auth.verify("s3cret-token"));
        assert!(!auth.verify("s3cret-toke"));
        assert!(!auth.verify("s3cret-token2"));
        assert!(!auth.verify(""));
        assert!(!auth.verify("S3CRET-TOKEN"));
    }

    #[test]
    fn an_empty_token_matches_nothing() {
        let auth = ApiAuth::new("");
        assert!(!auth.verify(""));
        assert!(!auth.verify("x"));
    }

    #[test]
    fn debug_redacts_the_token() {
        let shown = format!("{:?}", ApiAuth::new("s3cret-token"));
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("redacted"));
    }

    #[test]
    fn bearer_header_parsing() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer(&h), None);
        h.insert(AUTHORIZATION, "Bearer abc".parse().unwrap());
        assert_eq!(bearer(&h), Some("abc"));
        h.insert(AUTHORIZATION, "bearer   abc  ".parse().unwrap());
        assert_eq!(bearer(&h), Some("abc"));
        h.insert(AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(bearer(&h), None);
        h.insert(AUTHORIZATION, "Bearer ".parse().unwrap());
        assert_eq!(bearer(&h), None);
    }
}
