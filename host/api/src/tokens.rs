//! `/v1/tokens` (admin): create, list, revoke API tokens; `/v1/whoami` (any token).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};

use super::error::ApiError;
use super::extract::{ApiJson, Id};
use super::{ApiState, ErrorBody};
use hookline_engine::{CreateToken, CreatedToken, TokenList, TokenView, WhoAmI};

#[utoipa::path(
    get, operation_id = "listTokens", path = "/v1/tokens", tag = "tokens",
    summary = "List API tokens",
    description = "Every token with its name, scope, creation and last use; never a secret.",
    responses((status = 200, description = "The tokens.", body = TokenList)),
)]
pub(crate) async fn list(State(st): State<ApiState>) -> Result<Json<TokenList>, ApiError> {
    Ok(Json(TokenList {
        items: st.engine.list_tokens().await?,
    }))
}

#[utoipa::path(
    post, operation_id = "createToken", path = "/v1/tokens", tag = "tokens",
    summary = "Create an API token",
    description = "The answer is the only place its secret is shown; only its SHA-256 digest is stored.",
    request_body = CreateToken,
    responses(
        (status = 201, description = "Created, with its secret.", body = CreatedToken),
        (status = 400, description = "Malformed JSON, an unknown field, a bad name or an unknown scope.", body = ErrorBody),
        (status = 415, description = "The body is not `application/json`.", body = ErrorBody),
    ),
)]
pub(crate) async fn create(
    State(st): State<ApiState>,
    ApiJson(body): ApiJson<CreateToken>,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    let created = st.engine.create_token(&body.name, body.scope).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

#[utoipa::path(
    delete, operation_id = "revokeToken", path = "/v1/tokens/{id}", tag = "tokens",
    summary = "Revoke an API token",
    description = "Refused for the last admin token, so nobody is locked out.",
    params(("id" = String, Path, description = "The token's id (`tok_…`).")),
    responses(
        (status = 200, description = "Revoked.", body = TokenView),
        (status = 404, description = "No token has this id.", body = ErrorBody),
        (status = 409, description = "It is the last admin token (`invalid_state`).", body = ErrorBody),
    ),
)]
pub(crate) async fn revoke(
    State(st): State<ApiState>,
    Id(id): Id,
) -> Result<Json<TokenView>, ApiError> {
    Ok(Json(st.engine.revoke_token(&id).await?))
}

#[utoipa::path(
    get, operation_id = "whoami", path = "/v1/whoami", tag = "tokens",
    summary = "The token of this request",
    description = "Its id, name and scope: what the console asks at start.",
    responses((status = 200, description = "The token.", body = WhoAmI)),
)]
pub(crate) async fn whoami(Extension(who): Extension<Arc<WhoAmI>>) -> Json<WhoAmI> {
    Json(WhoAmI::clone(&who))
}
