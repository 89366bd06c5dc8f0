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
use super::{ApiState, ErrorBody, RotateSecretRequest, WebhookList};
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

#[utoipa::path(
    get, operation_id = "listWebhooks", path = "/v1/webhooks", tag = "webhooks",
    summary = "List webhooks",
    description = "Every webhook, from the config file and the API, by id; secrets are never shown.",
    responses((status = 200, description = "The webhooks.", body = WebhookList)),
)]
pub(crate) async fn list(State(st): State<ApiState>) -> Json<WebhookList> {
    Json(WebhookList {
        items: st.engine.list_webhooks(),
    })
}

#[utoipa::path(
    post, operation_id = "createWebhook", path = "/v1/webhooks", tag = "webhooks",
    summary = "Create a webhook",
    description = "The answer is the only place its signing secret is shown (generated when the request has none).",
    request_body = WebhookSpec,
    responses(
        (status = 201, description = "Created, with its secret.", body = WebhookWithSecret, headers(("ETag" = String, description = "The webhook's version as a strong tag, `\"7\"`."))),
        (status = 400, description = "Malformed JSON, an unknown field, an invalid field (`field` names it: URL, pattern, header, secret, plugin or its config), or a URL the network policy refuses (`ssrf_blocked`).", body = ErrorBody),
        (status = 409, description = "A webhook with this id exists.", body = ErrorBody),
        (status = 415, description = "The body is not `application/json`.", body = ErrorBody),
    ),
)]
pub(crate) async fn create(
    State(st): State<ApiState>,
    ApiJson(spec): ApiJson<WebhookSpec>,
) -> Result<Response, ApiError> {
    let created = st.engine.create_webhook(spec).await?;
    Ok(with_secret(StatusCode::CREATED, created))
}

#[utoipa::path(
    get, operation_id = "getWebhook", path = "/v1/webhooks/{id}", tag = "webhooks",
    summary = "Show a webhook",
    params(("id" = String, Path, description = "The webhook's id.")),
    responses(
        (status = 200, description = "The webhook.", body = WebhookView, headers(("ETag" = String, description = "The webhook's version as a strong tag, `\"7\"`."))),
        (status = 404, description = "No webhook has this id.", body = ErrorBody),
    ),
)]
pub(crate) async fn show(State(st): State<ApiState>, Id(id): Id) -> Result<Response, ApiError> {
    Ok(view(st.engine.get_webhook(&id).await?))
}

#[utoipa::path(
    patch, operation_id = "updateWebhook", path = "/v1/webhooks/{id}", tag = "webhooks",
    summary = "Change a webhook",
    description = "Only the fields present change; `0` clears `rate_limit_per_second` and `max_concurrency`. A compare-and-set: with `If-Match`, only that version is changed.",
    params(("id" = String, Path, description = "The webhook's id."), ("If-Match" = Option<String>, Header, description = "Apply only to this version: a strong tag such as `\"7\"`, or `*`.")),
    request_body = WebhookPatch,
    responses(
        (status = 200, description = "Changed.", body = WebhookView, headers(("ETag" = String, description = "The webhook's version as a strong tag, `\"7\"`."))),
        (status = 400, description = "Malformed JSON, an unknown field, an invalid field, or a malformed `If-Match`.", body = ErrorBody),
        (status = 404, description = "No webhook has this id.", body = ErrorBody),
        (status = 409, description = "Another change kept winning the race (`edit_conflict`).", body = ErrorBody),
        (status = 412, description = "`If-Match` names another version than the current one.", body = ErrorBody),
        (status = 415, description = "The body is not `application/json`.", body = ErrorBody),
    ),
)]
pub(crate) async fn update(
    State(st): State<ApiState>,
    Id(id): Id,
    IfMatch(if_match): IfMatch,
    ApiJson(patch): ApiJson<WebhookPatch>,
) -> Result<Response, ApiError> {
    Ok(view(st.engine.update_webhook(&id, patch, if_match).await?))
}

#[utoipa::path(
    delete, operation_id = "deleteWebhook", path = "/v1/webhooks/{id}", tag = "webhooks",
    summary = "Delete a webhook",
    description = "Its pending deliveries are canceled.",
    params(("id" = String, Path, description = "The webhook's id."), ("If-Match" = Option<String>, Header, description = "Apply only to this version: a strong tag such as `\"7\"`, or `*`.")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 400, description = "A malformed `If-Match`.", body = ErrorBody),
        (status = 404, description = "No webhook has this id.", body = ErrorBody),
        (status = 409, description = "Another change kept winning the race (`edit_conflict`).", body = ErrorBody),
        (status = 412, description = "`If-Match` names another version than the current one.", body = ErrorBody),
    ),
)]
pub(crate) async fn delete(
    State(st): State<ApiState>,
    Id(id): Id,
    IfMatch(if_match): IfMatch,
) -> Result<StatusCode, ApiError> {
    st.engine.delete_webhook(&id, if_match).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    post, operation_id = "rotateWebhookSecret", path = "/v1/webhooks/{id}/rotate-secret", tag = "webhooks",
    summary = "Rotate a webhook's secret",
    description = "The new secret signs from now on; the previous one keeps signing beside it for the rotation's grace period. The body is optional: without one a secret is generated.",
    params(("id" = String, Path, description = "The webhook's id."), ("If-Match" = Option<String>, Header, description = "Apply only to this version: a strong tag such as `\"7\"`, or `*`.")),
    request_body(content = Option<RotateSecretRequest>, description = "The new secret, or nothing to generate one."),
    responses(
        (status = 200, description = "Rotated, with the new secret.", body = WebhookWithSecret, headers(("ETag" = String, description = "The webhook's version as a strong tag, `\"7\"`."))),
        (status = 400, description = "Malformed JSON, a secret the webhook's scheme refuses, or a malformed `If-Match`.", body = ErrorBody),
        (status = 404, description = "No webhook has this id.", body = ErrorBody),
        (status = 409, description = "Another change kept winning the race.", body = ErrorBody),
        (status = 412, description = "`If-Match` names another version than the current one.", body = ErrorBody),
        (status = 415, description = "A body that is not `application/json`.", body = ErrorBody),
    ),
)]
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

#[utoipa::path(
    post, operation_id = "pauseWebhook", path = "/v1/webhooks/{id}/pause", tag = "webhooks",
    summary = "Pause a webhook",
    description = "Its deliveries wait in the store until it is resumed; new events still match it.",
    params(("id" = String, Path, description = "The webhook's id."), ("If-Match" = Option<String>, Header, description = "Apply only to this version: a strong tag such as `\"7\"`, or `*`.")),
    responses(
        (status = 200, description = "Paused.", body = WebhookView, headers(("ETag" = String, description = "The webhook's version as a strong tag, `\"7\"`."))),
        (status = 400, description = "A malformed `If-Match`.", body = ErrorBody),
        (status = 404, description = "No webhook has this id.", body = ErrorBody),
        (status = 409, description = "The webhook is disabled (`invalid_state`: enable it instead), or another change kept winning the race (`edit_conflict`).", body = ErrorBody),
        (status = 412, description = "`If-Match` names another version than the current one.", body = ErrorBody),
    ),
)]
pub(crate) async fn pause(
    State(st): State<ApiState>,
    Id(id): Id,
    IfMatch(if_match): IfMatch,
) -> Result<Response, ApiError> {
    Ok(view(st.engine.pause_webhook(&id, if_match).await?))
}

#[utoipa::path(
    post, operation_id = "resumeWebhook", path = "/v1/webhooks/{id}/resume", tag = "webhooks",
    summary = "Resume a webhook",
    description = "Paused or disabled: it is active again and its waiting deliveries go out.",
    params(("id" = String, Path, description = "The webhook's id."), ("If-Match" = Option<String>, Header, description = "Apply only to this version: a strong tag such as `\"7\"`, or `*`.")),
    responses(
        (status = 200, description = "Active.", body = WebhookView, headers(("ETag" = String, description = "The webhook's version as a strong tag, `\"7\"`."))),
        (status = 400, description = "A malformed `If-Match`.", body = ErrorBody),
        (status = 404, description = "No webhook has this id.", body = ErrorBody),
        (status = 409, description = "Another change kept winning the race.", body = ErrorBody),
        (status = 412, description = "`If-Match` names another version than the current one.", body = ErrorBody),
    ),
)]
pub(crate) async fn resume(
    State(st): State<ApiState>,
    Id(id): Id,
    IfMatch(if_match): IfMatch,
) -> Result<Response, ApiError> {
    Ok(view(st.engine.resume_webhook(&id, if_match).await?))
}
