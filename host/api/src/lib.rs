//! The admin HTTP API (axum): ingest, webhooks, deliveries, stats, the console's event
//! stream, Prometheus metrics and health probes.
//!
//! [`router`] builds the whole API over a running [`Engine`]; the daemon serves it with
//! `axum::serve`. Every route but `/healthz`, `/readyz` and `/v1/openapi.json` needs
//! `Authorization: Bearer <token>`, a token whose scope covers the route (the scope column below): `ingest` the
//! event routes, `read` every `GET` but the tokens, `admin` everything. No or an unknown
//! token: 401 `unauthorized`; a token of another scope: 403 `insufficient_scope`, naming the
//! scope needed and the scope held.
//!
//! Errors are always JSON, `{"error": {"code", "message", "field"?}}` ([`ErrorBody`]), with
//! the status the code implies: the engine's errors ([`hookline_engine::EngineError::code`]),
//! and the API's own (`unauthorized`, `malformed_json`, `unsupported_media_type`,
//! `payload_too_large`, `not_found`, `method_not_allowed`, `insufficient_scope`). A saturated
//! store writer answers `503 overloaded` with `Retry-After` (nothing was stored). Request bodies are read by the
//! API's own extractor, never axum's, so no plain-text rejection ever reaches a client.
//!
//! The wire types re-exported here ([`EventAccepted`], [`BatchAccepted`], [`WebhookList`],
//! [`StreamSnapshot`], …) are what the CLI and the console exchange with the daemon; they are
//! declared once, in `hookline-contract`.
//!
//! | Route | Scope | |
//! |---|---|---|
//! | `POST /v1/events` | ingest | one [`EventInput`] → 202 [`EventAccepted`] once durable |
//! | `POST /v1/events/batch` | ingest | [`EventBatch`] (at most [`ApiLimits::max_batch`]) → 202 [`BatchAccepted`] (all or nothing) |
//! | `GET /v1/webhooks`, `POST` | read, admin | [`WebhookList`]; [`WebhookSpec`] → 201 [`WebhookWithSecret`] |
//! | `GET /v1/webhooks/{id}`, `PATCH`, `DELETE` | read, admin | [`WebhookView`]; [`WebhookPatch`]; 204 |
//! | `POST /v1/webhooks/{id}/rotate-secret` | admin | optional [`RotateSecretRequest`] → [`WebhookWithSecret`] |
//! | `POST /v1/webhooks/{id}/pause`, `/resume` | admin | [`WebhookView`] |
//! | `GET /v1/deliveries` | read | filters as query parameters → [`Page`] of [`DeliverySummary`] |
//! | `GET /v1/deliveries/{id}` | read | [`DeliveryDetail`](hookline_core::model::DeliveryDetail) |
//! | `POST /v1/deliveries/{id}/retry`, `/replay` | admin | 200 / 201 [`DeliverySummary`] |
//! | `GET /v1/stats` | read | [`Stats`] |
//! | `GET /v1/stream` | read | server-sent events: `snapshot`, `delivery`, `webhook`, `stats` |
//! | `GET /metrics` | read | Prometheus text |
//! | `GET /v1/tokens`, `POST` | admin | [`TokenList`](hookline_engine::TokenList); [`CreateToken`](hookline_engine::CreateToken) → 201 [`CreatedToken`](hookline_engine::CreatedToken) (the secret, shown once) |
//! | `DELETE /v1/tokens/{id}` | admin | 200 [`TokenView`](hookline_engine::TokenView); 409 `invalid_state` for the last admin token |
//! | `GET /v1/whoami` | any | [`WhoAmI`](hookline_engine::WhoAmI): the token's id, name and scope |
//! | `GET /healthz`, `/readyz` | none | liveness, readiness |
//! | `GET /v1/openapi.json` | none | this API's OpenAPI 3.1 document ([`ApiDoc`]) |
//!
//! Every answer carries `x-request-id`: the client's own (1 to 128 visible ASCII
//! characters) or a new `req_…` id; what the daemon logs while serving the request is in a
//! `request` span with that id.
//!
//! Webhook changes are compare-and-set. Every webhook has a `version` (1 at creation, one
//! more with each change), shown in its JSON and as a strong `ETag` (`"7"`) on every answer
//! that carries one webhook: `GET`, create, `PATCH`, rotate-secret, pause and resume.
//! `PATCH`, `DELETE`, rotate-secret, pause and resume honour `If-Match: "7"`: the change
//! applies only if the webhook is still at version 7, else `412 precondition_failed` (the
//! message names the current version) and nothing changes. `If-Match: *` or no header: the
//! change applies to whatever is current (re-read and retried if another daemon sharing the
//! store changed the webhook meanwhile; `409 edit_conflict` if it kept losing). A weak or
//! malformed tag, or a list of tags, is a `400 invalid_input` naming `If-Match`. A change of
//! a webhook that does not exist, or was deleted meanwhile, is a 404: nothing re-creates a
//! deleted webhook. A change that changes nothing (resuming an active webhook) keeps the
//! version.
//!
//! Serving it over a running engine (the daemon does this, with its token from a file):
//!
//! ```no_run
//! use hookline_api::{ApiLimits, router};
//! use hookline_engine::Engine;
//!
//! async fn serve(engine: Engine, token: &str) -> std::io::Result<()> {
//!     engine
//!         .install_bootstrap_token(token, "operator")
//!         .await
//!         .map_err(std::io::Error::other)?;
//!     let app = router(engine, ApiLimits::default());
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:8420").await?;
//!     axum::serve(listener, app).await
//! }
//! ```
//!
//! [`EventInput`]: hookline_engine::EventInput
//! [`WebhookSpec`]: hookline_engine::WebhookSpec
//! [`WebhookPatch`]: hookline_engine::WebhookPatch
//! [`WebhookView`]: hookline_engine::WebhookView
//! [`WebhookWithSecret`]: hookline_engine::WebhookWithSecret
//! [`DeliverySummary`]: hookline_core::model::DeliverySummary
//! [`Page`]: hookline_core::model::Page
//! [`Stats`]: hookline_engine::Stats

mod auth;
mod deliveries;
mod error;
mod events;
mod extract;
mod limits;
mod openapi;
mod request_id;
mod stream;
mod tokens;
mod webhooks;

#[cfg(test)]
mod tests;

use std::time::Duration;

use axum::Router;
use axum::handler::Handler;
use axum::http::header::CONTENT_TYPE;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, on};
use axum::{Extension, Json, extract::State};
use hookline_engine::{Engine, Stats, TokenScope};

/// The API's own wire types, declared in `hookline-contract` (shared with the console).
pub use hookline_contract::api::{
    BatchAccepted, ErrorBody, ErrorDetail, EventAccepted, EventBatch, HealthStatus,
};
pub use hookline_contract::stream::StreamSnapshot;
pub use hookline_contract::webhook::{RotateSecretRequest, WebhookList};
pub use openapi::{ApiDoc, openapi_json};
pub use request_id::REQUEST_ID;

use auth::{Access, Gate};
use error::ApiError;

/// Limits on requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiLimits {
    /// Largest body of the event routes, bytes (larger: 413 `payload_too_large`).
    pub max_request_bytes: usize,
    /// Largest body of every other route (webhooks, tokens, deliveries), bytes.
    pub max_admin_request_bytes: usize,
    /// Most events in one `POST /v1/events/batch`.
    pub max_batch: usize,
    /// Longest a request may take before it is answered 503 `timeout` (the event stream
    /// and the probes excepted).
    pub request_timeout: Duration,
    /// Requests served at once; more are answered 503 `overloaded` at once (the event
    /// stream and the probes are not counted).
    pub max_concurrent_requests: usize,
}

impl Default for ApiLimits {
    fn default() -> Self {
        ApiLimits {
            // The engine's default payload limit (10 MiB) plus room for the envelope.
            max_request_bytes: 11 << 20,
            max_admin_request_bytes: 1 << 20,
            max_batch: 1000,
            request_timeout: Duration::from_secs(30),
            max_concurrent_requests: 512,
        }
    }
}

/// What every handler gets.
#[derive(Debug, Clone)]
struct ApiState {
    engine: Engine,
    limits: ApiLimits,
}

/// A route's method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verb {
    Get,
    Post,
    Patch,
    Delete,
}

impl Verb {
    fn filter(self) -> MethodFilter {
        match self {
            Verb::Get => MethodFilter::GET,
            Verb::Post => MethodFilter::POST,
            Verb::Patch => MethodFilter::PATCH,
            Verb::Delete => MethodFilter::DELETE,
        }
    }

    /// Its name in an OpenAPI document's path item.
    fn openapi_name(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::Post => "post",
            Verb::Patch => "patch",
            Verb::Delete => "delete",
        }
    }

    #[cfg(test)]
    fn method(self) -> axum::http::Method {
        use axum::http::Method;
        match self {
            Verb::Get => Method::GET,
            Verb::Post => Method::POST,
            Verb::Patch => Method::PATCH,
            Verb::Delete => Method::DELETE,
        }
    }
}

/// One row of the route table: a method and path, what it needs, and its handler.
struct Route {
    /// The handler carries the method itself; the OpenAPI document and the scope matrix
    /// test read it here.
    verb: Verb,
    path: &'static str,
    access: Access,
    handler: MethodRouter<ApiState>,
}

impl Route {
    /// `POST /v1/webhooks`.
    fn name(&self) -> String {
        format!("{} {}", self.verb.openapi_name().to_uppercase(), self.path)
    }
}

fn route<H, T>(verb: Verb, path: &'static str, access: Access, handler: H) -> Route
where
    H: Handler<T, ApiState>,
    T: 'static,
{
    Route {
        verb,
        path,
        access,
        handler: on(verb.filter(), handler),
    }
}

/// Every route and the access it needs, in one table: a route exists only as a row here,
/// so none can be added without saying who may use it. `read` is every `GET` but the
/// tokens; `ingest` the two event routes; `admin` every change and the tokens.
fn routes() -> Vec<Route> {
    use Access::{AnyToken, Public, Scope};
    use TokenScope::{Admin, Ingest, Read};
    use Verb::{Delete, Get, Patch, Post};
    vec![
        route(Post, "/v1/events", Scope(Ingest), events::ingest_one),
        route(
            Post,
            "/v1/events/batch",
            Scope(Ingest),
            events::ingest_batch,
        ),
        route(Get, "/v1/webhooks", Scope(Read), webhooks::list),
        route(Post, "/v1/webhooks", Scope(Admin), webhooks::create),
        route(Get, "/v1/webhooks/{id}", Scope(Read), webhooks::show),
        route(Patch, "/v1/webhooks/{id}", Scope(Admin), webhooks::update),
        route(Delete, "/v1/webhooks/{id}", Scope(Admin), webhooks::delete),
        route(
            Post,
            "/v1/webhooks/{id}/rotate-secret",
            Scope(Admin),
            webhooks::rotate_secret,
        ),
        route(
            Post,
            "/v1/webhooks/{id}/pause",
            Scope(Admin),
            webhooks::pause,
        ),
        route(
            Post,
            "/v1/webhooks/{id}/resume",
            Scope(Admin),
            webhooks::resume,
        ),
        route(Get, "/v1/deliveries", Scope(Read), deliveries::list),
        route(Get, "/v1/deliveries/{id}", Scope(Read), deliveries::show),
        route(
            Post,
            "/v1/deliveries/{id}/retry",
            Scope(Admin),
            deliveries::retry,
        ),
        route(
            Post,
            "/v1/deliveries/{id}/replay",
            Scope(Admin),
            deliveries::replay,
        ),
        route(Get, "/v1/stats", Scope(Read), stats),
        route(Get, "/v1/stream", Scope(Read), stream::stream),
        route(Get, "/metrics", Scope(Read), metrics),
        route(Get, "/v1/tokens", Scope(Admin), tokens::list),
        route(Post, "/v1/tokens", Scope(Admin), tokens::create),
        route(Delete, "/v1/tokens/{id}", Scope(Admin), tokens::revoke),
        route(Get, "/v1/whoami", AnyToken, tokens::whoami),
        route(Get, "/healthz", Public, healthz),
        route(Get, "/readyz", Public, readyz),
        route(Get, "/v1/openapi.json", Public, openapi::serve),
    ]
}

/// The admin API over `engine`, authenticating requests against the engine's API tokens
/// ([`Engine::authenticate`]; install the daemon's own with
/// [`Engine::install_bootstrap_token`]). Each route checks the scope the route table gives it.
pub fn router(engine: Engine, limits: ApiLimits) -> Router {
    let mut app = Router::new();
    let guard = limits::Guard::new(&limits);
    for row in routes() {
        let gate = Gate {
            engine: engine.clone(),
            access: row.access,
        };
        // The event routes take events; every other body is an admin request.
        let events = row.access == Access::Scope(TokenScope::Ingest);
        let body = limits::BodyLimit::of(&limits, events, row.name().into());
        let mut handler = row
            .handler
            .route_layer(middleware::from_fn_with_state(gate, auth::gate));
        // Probes answer however loaded the daemon is; the stream is meant to stay open.
        if row.access != Access::Public && row.path != "/v1/stream" {
            handler =
                handler.route_layer(middleware::from_fn_with_state(guard.clone(), limits::guard));
        }
        app = app.route(row.path, handler.route_layer(Extension(body)));
    }
    let state = ApiState { engine, limits };
    app.fallback(not_found)
        // After every route: it replaces the default 405 of the routes present.
        .method_not_allowed_fallback(method_not_allowed)
        // Outermost: every answer, the fallbacks' and the gate's included, carries the id.
        .layer(middleware::from_fn(request_id::with_request_id))
        .with_state(state)
}

#[utoipa::path(
    get, operation_id = "getStats", path = "/v1/stats", tag = "observability",
    summary = "Engine and store figures",
    description = "Counts by status from the store, live figures from the engine (in flight, queued, rates, latency) and each plugin's figures.",
    responses((status = 200, description = "The figures.", body = Stats)),
)]
async fn stats(State(st): State<ApiState>) -> Result<Json<Stats>, ApiError> {
    Ok(Json(st.engine.stats().await?))
}

#[utoipa::path(
    get, operation_id = "getMetrics", path = "/metrics", tag = "observability",
    summary = "Prometheus metrics",
    description = "The same figures as `/v1/stats`, as `hookline_*` metrics in Prometheus' text format.",
    responses((status = 200, description = "Prometheus text exposition format 0.0.4.", content_type = "text/plain; version=0.0.4; charset=utf-8", body = String)),
)]
async fn metrics(State(st): State<ApiState>) -> Result<Response, ApiError> {
    let text = st.engine.prometheus().await?;
    Ok((
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        text,
    )
        .into_response())
}

#[utoipa::path(
    get, operation_id = "healthz", path = "/healthz", tag = "health",
    summary = "Liveness",
    description = "Answers while the process serves HTTP; needs no token.",
    security(()),
    responses((status = 200, description = "`{\"status\": \"ok\"}`.", body = HealthStatus)),
)]
async fn healthz() -> Json<HealthStatus> {
    Json(HealthStatus {
        status: "ok".to_owned(),
    })
}

#[utoipa::path(
    get, operation_id = "readyz", path = "/readyz", tag = "health",
    summary = "Readiness",
    description = "Ready when the engine accepts events and its store answers.",
    responses(
        (status = 200, description = "`{\"status\": \"ready\"}`.", body = HealthStatus),
        (status = 503, description = "Shutting down, or the store does not answer.", body = ErrorBody),
    ),
)]
async fn readyz(State(st): State<ApiState>) -> Result<Json<HealthStatus>, ApiError> {
    if !st.engine.is_accepting() {
        return Err(ApiError::from(hookline_engine::EngineError::ShuttingDown));
    }
    match st.engine.stats().await {
        Ok(_) => Ok(Json(HealthStatus {
            status: "ready".to_owned(),
        })),
        // Not ready, whatever the cause: a probe only looks at the status.
        Err(e) => Err(ApiError::from(e).with_status(axum::http::StatusCode::SERVICE_UNAVAILABLE)),
    }
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(format!("no route for `{}`", uri.path()))
}

async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::method_not_allowed(format!(
        "method {method} is not allowed on `{}`",
        uri.path()
    ))
}
