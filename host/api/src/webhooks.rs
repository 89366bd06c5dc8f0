//! `/v1/webhooks`: create, list, show, update, delete, rotate the secret, pause, resume.
//!
//! Every answer carrying one webhook sets `ETag: "<version>"`; PATCH, DELETE, rotate-secret,
//! pause and resume honour `If-Match` ([`IfMatch`]): the change applies only to that version,
//! else 412 `precondition_failed` and nothing changes.

use axum::Json;
use axum::extract::State;
use axum::http::header::ETAG;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::extract::{ApiJson, Id, IfMatch, OptionalJson};
use super::{ApiState, RotateSecretRequest, WebhookList};
use hookline_engine::{WebhookPatch, WebhookSpec, WebhookView, WebhookWithSecret};

/// `body` with the `ETag` of the webhook it shows.
fn tagged(status: StatusCode, version: u64, body: impl IntoResponse) -> Response {
    let mut response = (status, body).into_response();
    if let Ok(tag) = HeaderValue::from_str(&format!("\"{version}\"")) {
        response.headers_mut().insert(ETAG, tag);
    }
    response
}

fn view(webhook: WebhookView) -> Response {
    tagged(StatusCode::OK, webhook.version, Json(webhook))
}

fn with_secret(status: StatusCode, webhook: WebhookWithSecret) -> Response {
    tagged(status, webhook.webhook.version, Json(webhook))
}

pub(crate) async fn list(State(st): State<ApiState>) -> Json<WebhookList> {
    Json(WebhookList {
        items: st.engine.list_webhooks(),
    })
}

pub(crate) async fn create(
    State(st): State<ApiState>,
    ApiJson(spec): ApiJson<WebhookSpec>,
) -> Result<Response, ApiError> {
    let created = st.engine.create_webhook(spec).await?;
    Ok(with_secret(StatusCode::CREATED, created))
}

pub(crate) async fn show(State(st): State<ApiState>, Id(id): Id) -> Result<Response, ApiError> {
    Ok(view(st.engine.get_webhook(&id).await?))
}

pub(crate) async fn update(
    State(st): State<ApiState>,
    Id(id): Id,
    IfMatch(if_match): IfMatch,
    ApiJson(patch): ApiJson<WebhookPatch>,
) -> Result<Response, ApiError> {
    Ok(view(st.engine.update_webhook(&id, patch, if_match).await?))
}

pub(crate) async fn delete(
    State(st): State<ApiState>,
    Id(id): Id,
    IfMatch(if_match): IfMatch,
) -> Result<StatusCode, ApiError> {
    st.engine.delete_webhook(&id, if_match).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn rotate_secret(
    State(st): State<ApiState>,
    Id(id): Id,
    IfMatch(if_match): IfMatch,
    OptionalJson(body): OptionalJson<RotateSecretRequest>,
) -> Result<Response, ApiError> {
    let secret = body.and_then(|b| b.secret);
    let rotated = st.engine.rotate_secret(&id, secret, if_match).await?;
    Ok(with_secret(StatusCode::OK, rotated))
}

pub(crate) async fn pause(
    State(st): State<ApiState>,
    Id(id): Id,
    IfMatch(if_match): IfMatch,
) -> Result<Response, ApiError> {
    Ok(view(st.engine.pause_webhook(&id, if_match).await?))
}

pub(crate) async fn resume(
    State(st): State<ApiState>,
    Id(id): Id,
    IfMatch(if_match): IfMatch,
) -> Result<Response, ApiError> {
    Ok(view(st.engine.resume_webhook(&id, if_match).await?))
}
