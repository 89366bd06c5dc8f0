//! The admin HTTP API (axum): ingest, webhooks, deliveries, stats, the console's event
//! stream, Prometheus metrics and health probes.
//!
//! [`router`] builds the whole API over a running [`Engine`]; the daemon serves it with
//! `axum::serve`. Every route but `/healthz` and `/v1/openapi.json` needs
//! `Authorization: Bearer <token>`
//! ([`ApiAuth`]).
//!
//! Errors are always JSON, `{"error": {"code", "message", "field"?}}` ([`ErrorBody`]), with
//! the status the code implies: the engine's errors ([`hookline_engine::EngineError::code`]),
//! and the API's own (`unauthorized`, `malformed_json`, `unsupported_media_type`,
//! `payload_too_large`, `not_found`, `method_not_allowed`). Request bodies are read by the
//! API's own extractor, never axum's, so no plain-text rejection ever reaches a client.
//!
//! The wire types re-exported here ([`EventAccepted`], [`BatchAccepted`], [`WebhookList`],
//! [`StreamSnapshot`], …) are what the CLI and the console exchange with the daemon; they are
//! declared once, in `hookline-contract`.
//!
//! | Route | |
//! |---|---|
//! | `POST /v1/events` | one [`EventInput`] → 202 [`EventAccepted`] once durable |
//! | `POST /v1/events/batch` | [`EventBatch`] (at most [`ApiLimits::max_batch`]) → 202 [`BatchAccepted`] (all or nothing) |
//! | `GET, POST /v1/webhooks` | [`WebhookList`]; [`WebhookSpec`] → 201 [`WebhookWithSecret`] |
//! | `GET, PATCH, DELETE /v1/webhooks/{id}` | [`WebhookView`]; [`WebhookPatch`]; 204 |
//! | `POST /v1/webhooks/{id}/rotate-secret` | optional [`RotateSecretRequest`] → [`WebhookWithSecret`] |
//! | `POST /v1/webhooks/{id}/pause`, `/resume` | [`WebhookView`] |
//! | `GET /v1/deliveries` | filters as query parameters → [`Page`] of [`DeliverySummary`] |
//! | `GET /v1/deliveries/{id}` | [`DeliveryDetail`](hookline_core::model::DeliveryDetail) |
//! | `POST /v1/deliveries/{id}/retry`, `/replay` | 200 / 201 [`DeliverySummary`] |
//! | `GET /v1/stats` | [`Stats`] |
//! | `GET /v1/stream` | server-sent events: `snapshot`, `delivery`, `webhook`, `stats` |
//! | `GET /metrics` | Prometheus text |
//! | `GET /healthz`, `/readyz` | liveness (no token), readiness |
//! | `GET /v1/openapi.json` | this API's OpenAPI 3.1 document ([`ApiDoc`], no token) |
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
//! use hookline_api::{ApiAuth, ApiLimits, router};
//! use hookline_engine::Engine;
//!
//! async fn serve(engine: Engine, token: &str) -> std::io::Result<()> {
//!     let app = router(engine, ApiAuth::new(token), ApiLimits::default());
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
mod openapi;
mod stream;
mod webhooks;

#[cfg(test)]
mod tests;

use axum::Router;
use axum::http::header::CONTENT_TYPE;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, extract::State};
use hookline_engine::{Engine, Stats};

pub use auth::ApiAuth;
/// The API's own wire types, declared in `hookline-contract` (shared with the console).
pub use hookline_contract::api::{
    BatchAccepted, ErrorBody, ErrorDetail, EventAccepted, EventBatch, HealthStatus,
};
pub use hookline_contract::stream::StreamSnapshot;
pub use hookline_contract::webhook::{RotateSecretRequest, WebhookList};
pub use openapi::{ApiDoc, openapi_json};

use error::ApiError;

/// Limits on requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiLimits {
    /// Largest request body accepted, bytes (larger: 413 `payload_too_large`).
    pub max_request_bytes: usize,
    /// Most events in one `POST /v1/events/batch`.
    pub max_batch: usize,
}

impl Default for ApiLimits {
    fn default() -> Self {
        ApiLimits {
            // The engine's default payload limit (10 MiB) plus room for the envelope.
            max_request_bytes: 11 << 20,
            max_batch: 1000,
        }
    }
}

/// What every handler gets.
#[derive(Debug, Clone)]
struct ApiState {
    engine: Engine,
    limits: ApiLimits,
}

/// The admin API over `engine`. Every route but `/healthz` and `/v1/openapi.json` checks `auth`.
pub fn router(engine: Engine, auth: ApiAuth, limits: ApiLimits) -> Router {
    let state = ApiState { engine, limits };
    let protected = Router::new()
        .route("/v1/events", post(events::ingest_one))
        .route("/v1/events/batch", post(events::ingest_batch))
        .route("/v1/webhooks", get(webhooks::list).post(webhooks::create))
        .route(
            "/v1/webhooks/{id}",
            get(webhooks::show)
                .patch(webhooks::update)
                .delete(webhooks::delete),
        )
        .route(
            "/v1/webhooks/{id}/rotate-secret",
            post(webhooks::rotate_secret),
        )
        .route("/v1/webhooks/{id}/pause", post(webhooks::pause))
        .route("/v1/webhooks/{id}/resume", post(webhooks::resume))
        .route("/v1/deliveries", get(deliveries::list))
        .route("/v1/deliveries/{id}", get(deliveries::show))
        .route("/v1/deliveries/{id}/retry", post(deliveries::retry))
        .route("/v1/deliveries/{id}/replay", post(deliveries::replay))
        .route("/v1/stats", get(stats))
        .route("/v1/stream", get(stream::stream))
        .route("/metrics", get(metrics))
        .route("/readyz", get(readyz))
        .route_layer(middleware::from_fn_with_state(auth, auth::require_bearer));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/v1/openapi.json", get(openapi::serve))
        .merge(protected)
        .fallback(not_found)
        // After every route: it replaces the default 405 of the routes present.
        .method_not_allowed_fallback(method_not_allowed)
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
