//! `GET /v1/stream`: the console's feed, as server-sent events.
//!
//! Events, each `event: <name>` + one `data:` line of JSON:
//! - `snapshot` ([`StreamSnapshot`]) first, and again whenever this subscriber fell behind
//!   the engine's change feed (it then missed changes; the snapshot replaces them);
//! - `delivery` and `webhook`: one per [`EngineEvent`](hookline_engine::EngineEvent), its JSON;
//! - `stats` ([`Stats`](hookline_engine::Stats)) every second;
//! - a `: keep-alive` comment after 15 s without anything else.
//!
//! The stream ends when the client goes away or the engine shuts down.
//!
//! The subscription is taken before the snapshot is read, so no change falls between them
//! (a change may show in both, which is harmless: changes carry the new state).

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use bytes::{BufMut, Bytes, BytesMut};
use hyper::body::Frame;
use serde::Serialize;
use tokio::sync::{broadcast, mpsc};
use tokio::time::{Instant, MissedTickBehavior, interval_at};

use super::ApiState;
use super::error::ApiError;
use hookline_contract::stream::{SNAPSHOT, STATS, StreamSnapshot};
use hookline_core::model::DeliveryFilter;
use hookline_engine::{Engine, EngineError, EngineEvent};

/// Deliveries in a snapshot (the most recent).
const SNAPSHOT_DELIVERIES: u32 = 200;
const STATS_EVERY: Duration = Duration::from_secs(1);
const KEEP_ALIVE_EVERY: Duration = Duration::from_secs(15);
/// Changes waiting to be coalesced into one write are flushed at this size.
const COALESCE_BYTES: usize = 64 * 1024;
/// Writes buffered between the feed task and the connection.
const BUFFERED_WRITES: usize = 16;

#[utoipa::path(
    get, operation_id = "streamEvents", path = "/v1/stream", tag = "observability",
    summary = "Follow the engine live",
    description = "Server-sent events: first a `snapshot` (stats and every webhook), then `delivery` and `webhook` changes as they happen and `stats` every second; comments keep the connection alive. The console reads this.",
    responses((status = 200, description = "An event stream that stays open.", content_type = "text/event-stream", body = String)),
)]
pub(crate) async fn stream(State(st): State<ApiState>) -> Result<Response, ApiError> {
    // Subscribe first: a change made while the snapshot is read is in the feed.
    let changes = st.engine.subscribe();
    let first = snapshot_event(&st.engine).await?;
    let (tx, rx) = mpsc::channel(BUFFERED_WRITES);
    tokio::spawn(feed(st.engine, changes, tx, first));
    let mut response = Body::new(SseBody { rx }).into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // Reverse proxies (nginx) must not buffer the feed.
    headers.insert(
        HeaderName::from_static("x-accel-buffering"),
        HeaderValue::from_static("no"),
    );
    Ok(response)
}

async fn snapshot(engine: &Engine) -> Result<StreamSnapshot, EngineError> {
    let stats = engine.stats().await?;
    let webhooks = engine.list_webhooks();
    let deliveries = engine
        .list_deliveries(DeliveryFilter {
            limit: Some(SNAPSHOT_DELIVERIES),
            ..DeliveryFilter::default()
        })
        .await?
        .items;
    Ok(StreamSnapshot {
        stats,
        webhooks,
        deliveries,
    })
}

async fn snapshot_event(engine: &Engine) -> Result<Bytes, EngineError> {
    let mut buf = BytesMut::new();
    push_event(&mut buf, SNAPSHOT, &snapshot(engine).await?);
    Ok(buf.freeze())
}

/// Appends one SSE event. serde_json's compact output has no newline, so `data:` is one line.
fn push_event<T: Serialize>(buf: &mut BytesMut, name: &str, value: &T) {
    buf.put_slice(b"event: ");
    buf.put_slice(name.as_bytes());
    buf.put_slice(b"\ndata: ");
    let mut writer = buf.writer();
    if let Err(e) = serde_json::to_writer(&mut writer, value) {
        // Our own types always serialise; keep the stream well-formed regardless.
        tracing::error!(error = %e, event = name, "could not encode a stream event");
        writer.get_mut().put_slice(b"null");
    }
    let buf = writer.into_inner();
    buf.put_slice(b"\n\n");
}

fn push_change(buf: &mut BytesMut, change: &EngineEvent) {
    push_event(buf, change.stream_name(), change);
}

/// Writes the feed into `tx` until the client leaves or the engine stops.
async fn feed(
    engine: Engine,
    mut changes: broadcast::Receiver<EngineEvent>,
    tx: mpsc::Sender<Bytes>,
    first: Bytes,
) {
    if tx.send(first).await.is_err() {
        return;
    }
    let mut stats_tick = interval_at(Instant::now() + STATS_EVERY, STATS_EVERY);
    stats_tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut keep_alive = interval_at(Instant::now() + KEEP_ALIVE_EVERY, KEEP_ALIVE_EVERY);
    keep_alive.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        let chunk = tokio::select! {
            _ = tx.closed() => return,
            received = changes.recv() => match received {
                Ok(change) => {
                    let mut buf = BytesMut::new();
                    push_change(&mut buf, &change);
                    // Coalesce what else is already waiting into the same write.
                    while buf.len() < COALESCE_BYTES {
                        match changes.try_recv() {
                            Ok(change) => push_change(&mut buf, &change),
                            Err(_) => break,
                        }
                    }
                    buf.freeze()
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::debug!(missed, "a stream subscriber fell behind; sending a fresh snapshot");
                    // Start over from now: the snapshot stands for everything missed.
                    changes = changes.resubscribe();
                    match snapshot_event(&engine).await {
                        Ok(bytes) => bytes,
                        Err(e) => {
                            tracing::warn!(error = %e, "could not build a stream snapshot; ending the stream");
                            return;
                        }
                    }
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = stats_tick.tick() => {
                if !engine.is_accepting() {
                    return;
                }
                match engine.stats().await {
                    Ok(stats) => {
                        let mut buf = BytesMut::new();
                        push_event(&mut buf, STATS, &stats);
                        buf.freeze()
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "could not read stats for the stream");
                        continue;
                    }
                }
            }
            _ = keep_alive.tick() => Bytes::from_static(b": keep-alive\n\n"),
        };
        if tx.send(chunk).await.is_err() {
            return;
        }
        keep_alive.reset();
    }
}

/// The response body: whatever the feed task writes, until it ends.
#[derive(Debug)]
struct SseBody {
    rx: mpsc::Receiver<Bytes>,
}

impl hyper::body::Body for SseBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.get_mut()
            .rx
            .poll_recv(cx)
            .map(|chunk| chunk.map(|bytes| Ok(Frame::data(bytes))))
    }
}
