//! The task that keeps the console attached to `/v1/stream`: connects, parses the events off
//! the connection (on this task, not the UI's), sends them to the app in batches (a few
//! dozen a second under load), and reconnects with backoff when the daemon goes away or
//! restarts. It reports the connection's state as it changes.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::api::{Api, ApiError, error_chain};
use crate::app::{ConnState, Msg};
use crate::sse::SseParser;
use hookline_contract::StreamEvent;
use hookline_contract::endpoint::TOKEN_HINT;

/// First wait before reconnecting; doubled after each failure up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// Longest wait between attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// The daemon sends `stats` every second: this long without a byte means a dead connection.
const SILENCE: Duration = Duration::from_secs(30);
/// Events are handed over at least this often while they arrive…
const FLUSH_EVERY: Duration = Duration::from_millis(20);
/// …or as soon as this many are waiting.
const FLUSH_AT: usize = 2048;

/// Runs until the app stops listening (the receiver of `tx` is dropped).
pub async fn run(api: Api, tx: mpsc::Sender<Msg>) {
    let mut backoff = FIRST_BACKOFF;
    loop {
        if tx
            .send(Msg::Connection(ConnState::Connecting))
            .await
            .is_err()
        {
            return;
        }
        let state = match api.open_stream().await {
            Err(ApiError::Unauthorized(m)) => {
                backoff = MAX_BACKOFF;
                ConnState::Unauthorized(format!("{m}; {TOKEN_HINT}"))
            }
            Err(e) => {
                backoff = (backoff * 2).min(MAX_BACKOFF);
                ConnState::Unreachable(e.to_string())
            }
            Ok(resp) => {
                if tx.send(Msg::Connection(ConnState::Live)).await.is_err() {
                    return;
                }
                backoff = FIRST_BACKOFF;
                match read(resp, &tx).await {
                    Some(reason) => ConnState::Unreachable(reason),
                    None => return,
                }
            }
        };
        if tx.send(Msg::Connection(state)).await.is_err() {
            return;
        }
        tokio::time::sleep(backoff).await;
    }
}

/// Reads the stream until it ends; returns why, or `None` when the app is gone.
///
/// Events are handed to the app in batches: at most every [`FLUSH_EVERY`] (or at
/// [`FLUSH_AT`] events), so a busy daemon's thousands of small network reads become a few
/// dozen messages a second.
async fn read(mut resp: reqwest::Response, tx: &mpsc::Sender<Msg>) -> Option<String> {
    let mut parser = SseParser::new();
    let mut raw = Vec::new();
    let mut events = Vec::new();
    let mut reported_bad_event = false;
    let mut last_data = Instant::now();
    let mut last_flush = Instant::now();
    loop {
        let wait = if events.is_empty() {
            SILENCE.saturating_sub(last_data.elapsed())
        } else {
            FLUSH_EVERY.saturating_sub(last_flush.elapsed())
        };
        // `chunk` is cancel-safe: a read cut short by the timer loses nothing.
        match tokio::time::timeout(wait, resp.chunk()).await {
            Err(_) => {
                if events.is_empty() && last_data.elapsed() >= SILENCE {
                    return Some(format!("no data for {} s", SILENCE.as_secs()));
                }
            }
            Ok(Err(e)) => return Some(format!("stream broke: {}", error_chain(&e.without_url()))),
            Ok(Ok(None)) => return Some("the daemon closed the stream".to_owned()),
            Ok(Ok(Some(chunk))) => {
                last_data = Instant::now();
                parser.feed(&chunk, &mut raw);
                for e in raw.drain(..) {
                    match StreamEvent::decode(&e.event, &e.data) {
                        Ok(Some(event)) => events.push(event),
                        Ok(None) => {}
                        Err(err) => {
                            if !reported_bad_event {
                                reported_bad_event = true;
                                let note =
                                    format!("a `{}` stream event did not parse: {err}", e.event);
                                if tx.send(Msg::Notice(note)).await.is_err() {
                                    return None;
                                }
                            }
                        }
                    }
                }
            }
        }
        let due = last_flush.elapsed() >= FLUSH_EVERY || events.len() >= FLUSH_AT;
        if due {
            if !events.is_empty()
                && tx
                    .send(Msg::Stream(std::mem::take(&mut events)))
                    .await
                    .is_err()
            {
                return None;
            }
            last_flush = Instant::now();
        }
    }
}
