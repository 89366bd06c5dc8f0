//! Request ids: every answer carries `x-request-id`, the client's own (when it sent a usable
//! one) or a new `req_…` id, and everything logged while the request is served is inside a
//! `request` span carrying that id, its method and path. A client quoting the id lets an
//! operator find its request in the daemon's log.

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument as _;

/// The header, in both directions.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest client id kept; a longer (or empty, or non-printable) one is replaced.
const MAX_CLIENT_ID: usize = 128;

/// The id of a request: the client's `x-request-id` when it is 1 to 128 visible ASCII
/// characters, else a new time-ordered `req_…`.
fn request_id(req: &Request) -> HeaderValue {
    let client = req
        .headers()
        .get(&REQUEST_ID)
        .filter(|v| {
            let bytes = v.as_bytes();
            !bytes.is_empty()
                && bytes.len() <= MAX_CLIENT_ID
                && bytes.iter().all(|b| b.is_ascii_graphic())
        })
        .cloned();
    client.unwrap_or_else(|| {
        // An id is `req_` and base-32 characters: always a valid header value.
        HeaderValue::from_str(&hookline_core::ids::new_id("req"))
            .unwrap_or_else(|_| HeaderValue::from_static("req_unknown"))
    })
}

/// Middleware: gives the request its id and span, and the answer its header.
pub(crate) async fn with_request_id(req: Request, next: Next) -> Response {
    let id = request_id(&req);
    let span = tracing::info_span!(
        "request",
        id = %String::from_utf8_lossy(id.as_bytes()),
        method = %req.method(),
        path = %req.uri().path(),
    );
    let mut response = next.run(req).instrument(span).await;
    response.headers_mut().insert(REQUEST_ID, id);
    response
}
