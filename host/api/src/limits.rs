//! What keeps one client from taking the daemon down: a body limit per route, a deadline per
//! request, and a cap on requests served at once that sheds the rest at the door.
//!
//! Every route but the probes and the event stream passes [`guard`]: past
//! [`ApiLimits::max_concurrent_requests`] in flight a request is answered at once with 503
//! `overloaded` and `Retry-After` (never queued: a queue in front of a saturated daemon only
//! grows), and one that takes longer than [`ApiLimits::request_timeout`] is answered 503
//! `timeout`. The probes stay outside so an orchestrator sees a loaded daemon as alive; the
//! stream stays outside because it is meant to stay open.
//!
//! The body limit travels with the route ([`BodyLimit`], from the route table): the event
//! routes take [`ApiLimits::max_request_bytes`], every other route the smaller
//! [`ApiLimits::max_admin_request_bytes`], and a 413 names the route and the setting.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use super::ApiLimits;
use super::error::ApiError;

/// The body limit of one route, put in its requests' extensions.
#[derive(Debug, Clone)]
pub(crate) struct BodyLimit {
    /// Bytes at most.
    pub(crate) bytes: usize,
    /// The config key that sets it.
    pub(crate) setting: &'static str,
    /// `POST /v1/webhooks`.
    pub(crate) route: Arc<str>,
}

impl BodyLimit {
    /// The limit of `route`: the event routes (`events`) take events, every other body is
    /// an admin request.
    pub(crate) fn of(limits: &ApiLimits, events: bool, route: Arc<str>) -> BodyLimit {
        let (bytes, setting) = match events {
            true => (limits.max_request_bytes, "server.max_request_bytes"),
            false => (
                limits.max_admin_request_bytes,
                "server.max_admin_request_bytes",
            ),
        };
        BodyLimit {
            bytes,
            setting,
            route,
        }
    }

    /// The 413 of a body over this limit.
    pub(crate) fn exceeded(&self) -> ApiError {
        ApiError::payload_too_large(format!(
            "request body is over the {} byte limit of {} ({})",
            self.bytes, self.route, self.setting
        ))
    }
}

/// The shared state of [`guard`]: the permits of requests in flight and the deadline.
#[derive(Debug, Clone)]
pub(crate) struct Guard {
    permits: Arc<Semaphore>,
    max: usize,
    timeout: Duration,
}

impl Guard {
    pub(crate) fn new(limits: &ApiLimits) -> Guard {
        let max = limits.max_concurrent_requests.max(1);
        Guard {
            permits: Arc::new(Semaphore::new(max)),
            max,
            timeout: limits.request_timeout,
        }
    }
}

/// Middleware: sheds a request past the concurrency cap, answers 503 `timeout` past the
/// deadline (dropping the handler's future: a write already handed to the store still
/// completes there, so a client retries with its idempotency key).
pub(crate) async fn guard(State(guard): State<Guard>, req: Request, next: Next) -> Response {
    let Ok(_permit) = guard.permits.clone().try_acquire_owned() else {
        tracing::debug!(path = %req.uri().path(), "shed a request: too many in flight");
        return ApiError::overloaded(format!(
            "the daemon is serving its limit of {} requests at once \
             (server.max_concurrent_requests); nothing was done, try again shortly",
            guard.max
        ))
        .into_response();
    };
    match tokio::time::timeout(guard.timeout, next.run(req)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            format!(
                "the request took longer than {} s (server.request_timeout_seconds); a write \
                 may still have taken effect: send it again with the same idempotency key",
                guard.timeout.as_secs_f64()
            ),
        )
        .into_response(),
    }
}
