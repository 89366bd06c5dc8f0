//! `/v1/tokens` (admin): create, list, revoke API tokens; `/v1/whoami` (any token).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};

use super::ApiState;
use super::error::ApiError;
use super::extract::{ApiJson, Id};
use hookline_engine::{CreateToken, CreatedToken, TokenList, TokenView, WhoAmI};

pub(crate) async fn list(State(st): State<ApiState>) -> Result<Json<TokenList>, ApiError> {
    Ok(Json(TokenList {
        items: st.engine.list_tokens().await?,
    }))
}

pub(crate) async fn create(
    State(st): State<ApiState>,
    ApiJson(body): ApiJson<CreateToken>,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    let created = st.engine.create_token(&body.name, body.scope).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

pub(crate) async fn revoke(
    State(st): State<ApiState>,
    Id(id): Id,
) -> Result<Json<TokenView>, ApiError> {
    Ok(Json(st.engine.revoke_token(&id).await?))
}

pub(crate) async fn whoami(Extension(who): Extension<Arc<WhoAmI>>) -> Json<WhoAmI> {
    Json(WhoAmI::clone(&who))
}
