//! API errors: one JSON shape, `{"error": {"code", "message", "field"?}}`, and the status
//! each code implies.

use axum::http::header::WWW_AUTHENTICATE;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use hookline_engine::EngineError;

use crate::{ErrorBody, ErrorDetail};

/// An error answer on its way out.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    field: Option<String>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
        }
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
            EngineError::Conflict { .. } | EngineError::InvalidState(_) => StatusCode::CONFLICT,
            EngineError::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
            EngineError::StoreFull(_) => StatusCode::INSUFFICIENT_STORAGE,
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
            other => other.to_string(),
        };
        if status.is_server_error() && status != StatusCode::SERVICE_UNAVAILABLE {
            tracing::error!(code = e.code(), error = %e, "API request failed");
        }
        ApiError {
            status,
            code: e.code(),
            message,
            field: e.field().map(str::to_owned),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let unauthorized = self.status == StatusCode::UNAUTHORIZED;
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
/// shape (unknown field, wrong type, missing field).
pub(crate) fn json_error(body: &[u8], e: &serde_json::Error) -> ApiError {
    use serde_json::error::Category;
    match e.classify() {
        Category::Syntax | Category::Eof | Category::Io => ApiError::malformed_json(e.to_string()),
        Category::Data => {
            let offset = byte_offset(body, e.line(), e.column());
            let mut path = path_at(body, offset);
            // serde reports a missing field where the object ends: name the field itself.
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

/// The byte offset of serde_json's 1-based line and 0-based byte column.
fn byte_offset(body: &[u8], line: usize, column: usize) -> usize {
    let mut start = 0;
    for _ in 1..line {
        match body[start..].iter().position(|&b| b == b'\n') {
            Some(nl) => start += nl + 1,
            None => return body.len(),
        }
    }
    (start + column).min(body.len())
}

fn push_key(path: &mut String, key: &str) {
    if !path.is_empty() {
        path.push('.');
    }
    path.push_str(key);
}

/// The JSON path (`events[3].resource.id`) of the value being read at byte `offset` of a
/// document whose prefix up to `offset` is well-formed JSON. Only runs on the error path.
pub(crate) fn path_at(json: &[u8], offset: usize) -> String {
    enum Frame {
        Object { key: Option<String>, want_key: bool },
        Array { index: usize },
    }
    let end = offset.min(json.len());
    let mut stack: Vec<Frame> = Vec::new();
    let mut i = 0;
    while i < end {
        match json[i] {
            b'{' => stack.push(Frame::Object {
                key: None,
                want_key: true,
            }),
            b'[' => stack.push(Frame::Array { index: 0 }),
            b'}' | b']' => {
                stack.pop();
            }
            b',' => match stack.last_mut() {
                Some(Frame::Object { key, want_key }) => {
                    *key = None;
                    *want_key = true;
                }
                Some(Frame::Array { index }) => *index += 1,
                None => {}
            },
            b':' => {
                if let Some(Frame::Object { want_key, .. }) = stack.last_mut() {
                    *want_key = false;
                }
            }
            b'"' => {
                let start = i;
                i += 1;
                while i < json.len() && json[i] != b'"' {
                    i += if json[i] == b'\\' { 2 } else { 1 };
                }
                let close = i.min(json.len());
                if let Some(Frame::Object {
                    key,
                    want_key: true,
                }) = stack.last_mut()
                {
                    let raw = &json[start..(close + 1).min(json.len())];
                    *key = Some(serde_json::from_slice::<String>(raw).unwrap_or_else(|_| {
                        String::from_utf8_lossy(&json[start + 1..close]).into_owned()
                    }));
                }
            }
            _ => {}
        }
        i += 1;
    }
    let mut path = String::new();
    for frame in &stack {
        match frame {
            Frame::Object { key: Some(k), .. } => push_key(&mut path, k),
            Frame::Object { key: None, .. } => {}
            Frame::Array { index } => {
                path.push('[');
                path.push_str(&index.to_string());
                path.push(']');
            }
        }
    }
    path
}
