//! Request extractors whose rejections are the API's JSON errors, never axum's plain text.

use std::pin::Pin;

use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::HeaderMap;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE, IF_MATCH};
use axum::http::request::Parts;
use bytes::{Bytes, BytesMut};
use hyper::body::Body as _;
use serde::de::DeserializeOwned;

use super::ApiState;
use super::error::{ApiError, json_error};
use super::limits::BodyLimit;

/// A JSON body: `Content-Type: application/json` (or `application/*+json`), at most
/// [`ApiLimits::max_request_bytes`](super::ApiLimits), parsed straight from the bytes.
#[derive(Debug)]
pub(crate) struct ApiJson<T>(pub(crate) T);

impl<T: DeserializeOwned> FromRequest<ApiState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &ApiState) -> Result<Self, ApiError> {
        require_json(req.headers())?;
        let limit = body_limit(&req, state);
        let body = read_body(req, &limit).await?;
        parse_json(&body).map(ApiJson)
    }
}

/// An optional JSON body: an empty body is `None`; anything else must be [`ApiJson`].
#[derive(Debug)]
pub(crate) struct OptionalJson<T>(pub(crate) Option<T>);

impl<T: DeserializeOwned> FromRequest<ApiState> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &ApiState) -> Result<Self, ApiError> {
        let has_type = req.headers().contains_key(CONTENT_TYPE);
        if has_type {
            require_json(req.headers())?;
        }
        let limit = body_limit(&req, state);
        let body = read_body(req, &limit).await?;
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(None));
        }
        if !has_type {
            require_json(&HeaderMap::new())?;
        }
        parse_json(&body).map(|v| OptionalJson(Some(v)))
    }
}

/// The `{id}` of a route.
#[derive(Debug)]
pub(crate) struct Id(pub(crate) String);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(id)) => Ok(Id(id)),
            Err(e) => Err(path_rejection(&e)),
        }
    }
}

fn path_rejection(e: &PathRejection) -> ApiError {
    ApiError::invalid("id", e.body_text())
}

/// Parses JSON, mapping serde's error to the API's (naming the field it is about).
pub(crate) fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de)
        .map_err(|e| json_error(e.inner(), Some(e.path())))?;
    // Trailing characters after the value: a syntax error, about no field.
    de.end().map_err(|e| json_error(&e, None))?;
    Ok(value)
}

fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(value) = headers.get(CONTENT_TYPE) else {
        return Err(ApiError::unsupported_media_type(
            "missing `Content-Type: application/json` header",
        ));
    };
    let mime = value
        .to_str()
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let json =
        mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"));
    if json {
        Ok(())
    } else {
        Err(ApiError::unsupported_media_type(format!(
            "`Content-Type: {mime}` is not supported: expected application/json"
        )))
    }
}

/// The body limit of the request's route (set by the route table), else the admin limit.
fn body_limit(req: &Request, state: &ApiState) -> BodyLimit {
    req.extensions()
        .get::<BodyLimit>()
        .cloned()
        .unwrap_or_else(|| {
            let route = format!("{} {}", req.method(), req.uri().path());
            BodyLimit::of(&state.limits, false, route.into())
        })
}

/// Reads the body, at most `limit` bytes. A body that arrives in one frame (the usual case)
/// is returned without a copy.
pub(crate) async fn read_body(req: Request, route: &BodyLimit) -> Result<Bytes, ApiError> {
    let limit = route.bytes;
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(route.exceeded());
    }
    let mut body = req.into_body();
    let mut first: Option<Bytes> = None;
    let mut joined: Option<BytesMut> = None;
    let mut total = 0usize;
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        let frame = frame.map_err(|e| {
            ApiError::invalid("body", format!("could not read the request body: {e}"))
        })?;
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        total = total.saturating_add(data.len());
        if total > limit {
            return Err(route.exceeded());
        }
        match (&mut first, &mut joined) {
            (None, None) => first = Some(data),
            (Some(_), None) => {
                let mut buf = BytesMut::with_capacity(
                    declared
                        .map_or(total * 2, |n| n as usize)
                        .min(limit)
                        .max(total),
                );
                if let Some(f) = first.take() {
                    buf.extend_from_slice(&f);
                }
                buf.extend_from_slice(&data);
                joined = Some(buf);
            }
            (_, Some(buf)) => buf.extend_from_slice(&data),
        }
    }
    Ok(match joined {
        Some(buf) => buf.freeze(),
        None => first.unwrap_or_default(),
    })
}

/// `If-Match`: the version a conditional change applies to. A webhook's `ETag` is its
/// version in quotes (`"3"`); `If-Match: "3"` is `Some(3)`, an absent header or `*` (any
/// current version) is `None`. Anything else (a weak tag, a list, a tag that is no version)
/// is a 400 naming the header: it could never match, and saying so beats a 412.
#[derive(Debug)]
pub(crate) struct IfMatch(pub(crate) Option<u64>);

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let Some(value) = parts.headers.get(IF_MATCH) else {
            return Ok(IfMatch(None));
        };
        let text = value.to_str().unwrap_or_default().trim();
        if text == "*" {
            return Ok(IfMatch(None));
        }
        text.strip_prefix('"')
            .and_then(|rest| rest.strip_suffix('"'))
            .and_then(|version| version.parse::<u64>().ok())
            .map(|version| IfMatch(Some(version)))
            .ok_or_else(|| {
                ApiError::invalid(
                    "If-Match",
                    format!(
                        "`{}` is not a webhook's ETag: send the ETag a GET returned, in \
                         quotes (e.g. \"3\"), or *",
                        String::from_utf8_lossy(value.as_bytes())
                    ),
                )
            })
    }
}
