//! Bearer-token authentication and scope checks.
//!
//! Every route declares what it needs in the route table (`lib.rs`): no token (`/healthz`,
//! `/readyz`), any valid token (`/v1/whoami`), or a scope. A route is added only through that
//! table, with its [`Access`], so none can forget its scope. Each route's handler is wrapped
//! in [`gate`]: no or an unknown token → 401 `unauthorized`; a token whose scope does not
//! cover the route → 403 `insufficient_scope`, naming the scope needed and the scope held.
//!
//! Tokens are found by the SHA-256 digest of the presented secret
//! ([`Engine::authenticate`]), compared in constant time; the secret itself is never kept or
//! logged.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hookline_core::token::prefix_scope;
use hookline_engine::{Engine, TokenScope, WhoAmI};

use super::error::ApiError;

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Nothing: an orchestrator's probe.
    Public,
    /// Any valid token, whatever its scope.
    AnyToken,
    /// A token whose scope allows this one ([`TokenScope::allows`]).
    Scope(TokenScope),
}

/// One route's check: the engine holding the tokens, and what the route needs.
#[derive(Debug, Clone)]
pub(crate) struct Gate {
    pub(crate) engine: Engine,
    pub(crate) access: Access,
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

/// Whether a token holding `held` may use a route needing `access` (a valid token is
/// assumed; `Public` needs none).
pub(crate) fn permits(access: Access, held: TokenScope) -> bool {
    match access {
        Access::Public | Access::AnyToken => true,
        Access::Scope(needed) => held.allows(needed),
    }
}

/// Middleware: lets a request through only with a token that covers the route. The token
/// ([`WhoAmI`]) travels on in the request's extensions.
pub(crate) async fn gate(State(gate): State<Gate>, mut req: Request, next: Next) -> Response {
    if gate.access == Access::Public {
        return next.run(req).await;
    }
    let Some(secret) = bearer(req.headers()) else {
        return ApiError::unauthorized("missing bearer token").into_response();
    };
    let who = match gate.engine.authenticate(secret).await {
        Ok(Some(who)) => who,
        Ok(None) => {
            tracing::debug!(
                path = %req.uri().path(),
                looks_like = prefix_scope(secret).map(TokenScope::as_str),
                "refused an API request with an invalid token"
            );
            return ApiError::unauthorized("invalid token").into_response();
        }
        Err(e) => return ApiError::from(e).into_response(),
    };
    if !permits(gate.access, who.scope) {
        let needed = match gate.access {
            Access::Scope(needed) => needed,
            Access::Public | Access::AnyToken => TokenScope::Admin,
        };
        tracing::debug!(token = %who.id, path = %req.uri().path(), "refused a token without the scope");
        return ApiError::insufficient_scope(
            needed,
            format!(
                "`{} {}` needs a token with the `{needed}` scope{}; this token (`{}`) has the \
                 `{}` scope",
                req.method(),
                req.uri().path(),
                match needed {
                    TokenScope::Admin => "",
                    _ => " (or `admin`)",
                },
                who.id,
                who.scope
            ),
        )
        .into_response();
    }
    req.extensions_mut().insert::<Arc<WhoAmI>>(who);
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn access_follows_the_scope_order() {
        use TokenScope::*;
        assert!(permits(Access::AnyToken, Ingest));
        assert!(permits(Access::Scope(Read), Admin));
        assert!(!permits(Access::Scope(Ingest), Read));
        assert!(!permits(Access::Scope(Read), Ingest));
        assert!(!permits(Access::Scope(Admin), Read));
        assert!(!permits(Access::Scope(Read), Unknown));
    }
}
