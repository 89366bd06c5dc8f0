//! `/v1/webhooks`: create, list, show, update, delete, rotate the secret, pause, resume.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::error::ApiError;
use super::extract::{ApiJson, Id, OptionalJson};
use super::{ApiState, RotateSecretRequest, WebhookList};
use hookline_engine::{WebhookPatch, WebhookSpec, WebhookView, WebhookWithSecret};

pub(crate) async fn list(State(st): State<ApiState>) -> Json<WebhookList> {
    Json(WebhookList {
        items: st.engine.list_webhooks(),
    })
}

pub(crate) async fn create(
    State(st): State<ApiState>,
    ApiJson(spec): ApiJson<WebhookSpec>,
) -> Result<(StatusCode, Json<WebhookWithSecret>), ApiError> {
    let created = st.engine.create_webhook(spec).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

pub(crate) async fn show(
    State(st): State<ApiState>,
    Id(id): Id,
) -> Result<Json<WebhookView>, ApiError> {
    Ok(Json(st.engine.get_webhook(&id).await?))
}

pub(crate) async fn update(
    State(st): State<ApiState>,
    Id(id): Id,
    ApiJson(patch): ApiJson<WebhookPatch>,
) -> Result<Json<WebhookView>, ApiError> {
    Ok(Json(st.engine.update_webhook(&id, patch).await?))
}

pub(crate) async fn delete(State(st): State<ApiState>, Id(id): Id) -> Result<StatusCode, ApiError> {
    st.engine.delete_webhook(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn rotate_secret(
    State(st): State<ApiState>,
    Id(id): Id,
    OptionalJson(body): OptionalJson<RotateSecretRequest>,
) -> Result<Json<WebhookWithSecret>, ApiError> {
    let secret = body.and_then(|b| b.secret);
    Ok(Json(st.engine.rotate_secret(&id, secret).await?))
}

pub(crate) async fn pause(
    State(st): State<ApiState>,
    Id(id): Id,
) -> Result<Json<WebhookView>, ApiError> {
    Ok(Json(st.engine.pause_webhook(&id).await?))
}

pub(crate) async fn resume(
    State(st): State<ApiState>,
    Id(id): Id,
) -> Result<Json<WebhookView>, ApiError> {
    Ok(Json(st.engine.resume_webhook(&id).await?))
}
