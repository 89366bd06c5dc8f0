//! API errors: one JSON shape, `{"error": {"code", "message", "field"?}}`, and the status
//! each code implies.

use axum::http::header::WWW_AUTHENTICATE;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use hookline_engine::EngineError;

use crate::{ErrorBody, ErrorDetail};

/// `Retry-After` of a 503 `overloaded`, seconds: the writer drains its queue in about that.
const OVERLOADED_RETRY_AFTER: u32 = 1;

/// An error answer on its way out.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    field: Option<String>,
    /// Seconds a client should wait before trying again (`Retry-After`), for 503
    /// `overloaded`.
    retry_after: Option<u32>,
    /// For a 403 `insufficient_scope`: the scope the route needs (`WWW-Authenticate`).
    scope_needed: Option<hookline_engine::TokenScope>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
            retry_after: None,
            scope_needed: None,
        }
    }

    /// 503 `overloaded` with `Retry-After`: nothing was done, try again shortly.
    pub(crate) fn overloaded(message: impl Into<String>) -> Self {
        let mut err = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", message);
        err.retry_after = Some(OVERLOADED_RETRY_AFTER);
        err
    }

    pub(crate) fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub(crate) fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// 400 `invalid_input` about `field`.
    pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_input", message).with_field(field)
    }

    pub(crate) fn malformed_json(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "malformed_json", message)
    }

    pub(crate) fn unsupported_media_type(message: impl Into<String>) -> Self {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            message,
        )
    }

    pub(crate) fn payload_too_large(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message)
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub(crate) fn method_not_allowed(message: impl Into<String>) -> Self {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            message,
        )
    }

    pub(crate) fn unauthorized(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// 403 `insufficient_scope`: the token is valid but its scope does not cover the route.
    pub(crate) fn insufficient_scope(
        needed: hookline_engine::TokenScope,
        message: impl Into<String>,
    ) -> Self {
        let mut err = ApiError::new(StatusCode::FORBIDDEN, "insufficient_scope", message);
        err.scope_needed = Some(needed);
        err
    }

    pub(crate) fn internal(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", message)
    }

    /// For the single-event route: the engine names fields of its batch (`events[0].type`),
    /// the client sent one event (`type`).
    pub(crate) fn single_event(mut self) -> Self {
        if let Some(field) = self.field.take() {
            self.field = match field.strip_prefix("events[0]") {
                Some("") => None,
                Some(rest) => Some(rest.trim_start_matches('.').to_owned()),
                None => Some(field),
            };
        }
        self
    }

    #[cfg(test)]
    pub(crate) fn status(&self) -> StatusCode {
        self.status
    }

    #[cfg(test)]
    pub(crate) fn field(&self) -> Option<&str> {
        self.field.as_deref()
    }

    #[cfg(test)]
    pub(crate) fn code(&self) -> &'static str {
        self.code
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        let status = match &e {
            EngineError::Invalid { .. } | EngineError::SsrfBlocked { .. } => {
                StatusCode::BAD_REQUEST
            }
            EngineError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            EngineError::NotFound { .. } => StatusCode::NOT_FOUND,
            EngineError::Conflict { .. }
            | EngineError::InvalidState(_)
            | EngineError::EditConflict { .. } => StatusCode::CONFLICT,
            EngineError::ShuttingDown | EngineError::Overloaded(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            EngineError::StoreFull(_) => StatusCode::INSUFFICIENT_STORAGE,
            EngineError::VersionMismatch { .. } => StatusCode::PRECONDITION_FAILED,
            EngineError::Store(_) | EngineError::Secret(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        // The field travels on its own; the message is the rest (no "field: " prefix).
        let message = match &e {
            EngineError::Invalid { message, .. } | EngineError::SsrfBlocked { message, .. } => {
                message.clone()
            }
            EngineError::PayloadTooLarge { size, max, .. } => {
                format!("payload is {size} bytes, over the {max} byte limit")
            }
            EngineError::VersionMismatch {
                id,
                expected,
                actual,
            } => format!(
                "webhook `{id}` is at version {actual} (ETag \"{actual}\"), not the expected \
                 version {expected} (If-Match \"{expected}\"): it changed since it was read; \
                 read it again and retry"
            ),
            other => other.to_string(),
        };
        if status.is_server_error() && status != StatusCode::SERVICE_UNAVAILABLE {
            tracing::error!(code = e.code(), error = %e, "API request failed");
        }
        ApiError {
            status,
            code: e.code(),
            retry_after: matches!(e, EngineError::Overloaded(_)).then_some(OVERLOADED_RETRY_AFTER),
            message,
            field: e.field().map(str::to_owned),
            scope_needed: None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let unauthorized = self.status == StatusCode::UNAUTHORIZED;
        let scope_needed = self.scope_needed;
        let retry_after = self.retry_after;
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message,
                field: self.field,
            },
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        if unauthorized {
            response
                .headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if let Some(needed) = scope_needed
            && let Ok(value) = HeaderValue::from_str(&format!(
                "Bearer error=\"insufficient_scope\", scope=\"{needed}\""
            ))
        {
            // RFC 6750 §3.1.
            response.headers_mut().insert(WWW_AUTHENTICATE, value);
        }
        if self.status == StatusCode::PAYLOAD_TOO_LARGE {
            // The body may be left unread; hyper then closes the connection. Say so, or a
            // pooling client reuses it and its next request fails.
            response.headers_mut().insert(
                axum::http::header::CONNECTION,
                HeaderValue::from_static("close"),
            );
        }
        response
    }
}

/// The error for a JSON body serde refused: `malformed_json` for syntax (serde's message has
/// the line and column), `invalid_input` naming the field for a well-formed body of the wrong
/// shape (unknown field, wrong type, missing field). The field is the path
/// `serde_path_to_error` tracked while deserialising (`events[1].tyep`).
/// `path` is `None` for an error outside the value (trailing characters).
pub(crate) fn json_error(
    e: &serde_json::Error,
    path: Option<&serde_path_to_error::Path>,
) -> ApiError {
    use serde_json::error::Category;
    let mut path = path.map(field_path).unwrap_or_default();
    match e.classify() {
        Category::Syntax | Category::Eof | Category::Io => ApiError::malformed_json(e.to_string()),
        Category::Data => {
            // serde reports a missing field on the object that lacks it: name the field itself.
            let msg = e.to_string();
            if let Some(name) = msg
                .strip_prefix("missing field `")
                .and_then(|rest| rest.split_once('`'))
                .map(|(name, _)| name)
            {
                push_key(&mut path, name);
            }
            let err = ApiError::new(StatusCode::BAD_REQUEST, "invalid_input", msg);
            match path.is_empty() {
                true => err,
                false => err.with_field(path),
            }
        }
    }
}

/// `events[3].resource.id`; empty for the whole body. (`Path`'s own `Display` writes `.` for
/// the root and `?` for a segment it could not name; neither is a field.)
fn field_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => {
                out.push('[');
                out.push_str(&index.to_string());
                out.push(']');
            }
            Segment::Map { key } | Segment::Enum { variant: key } => push_key(&mut out, key),
            Segment::Unknown => {}
        }
    }
    out
}

fn push_key(path: &mut String, key: &str) {
    if !path.is_empty() {
        path.push('.');
    }
    path.push_str(key);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saturated_store_is_503_overloaded_with_retry_after() {
        let busy = hookline_store::StoreError::Busy {
            queued: 100_001,
            limit: 100_000,
        };
        let err = ApiError::from(EngineError::from(busy));
        assert_eq!(err.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(err.code(), "overloaded");
        let response = err.into_response();
        assert_eq!(response.headers()[axum::http::header::RETRY_AFTER], "1");
        // Shutting down is a 503 too, but says nothing about when to come back.
        let response = ApiError::from(EngineError::ShuttingDown).into_response();
        assert!(
            response
                .headers()
                .get(axum::http::header::RETRY_AFTER)
                .is_none()
        );
    }
}
