//! The benchmark's loopback receiver: counts deliveries per event, measures latency from the
//! send time embedded in each event, and can fail a share of requests.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering::Relaxed};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Latency histogram resolution: 100 µs buckets up to 60 s.
const BUCKET_US: u64 = 100;
const BUCKETS: usize = 600_000;

/// What the receiver saw.
#[derive(Debug)]
pub(crate) struct Ledger {
    /// Deliveries seen per event sequence number (several per event in fan-out).
    pub(crate) seen: Vec<AtomicU16>,
    /// Requests answered 2xx.
    pub(crate) ok: AtomicU64,
    /// Requests answered 503 on purpose.
    pub(crate) failed: AtomicU64,
    /// Requests whose body had no sequence number.
    pub(crate) unknown: AtomicU64,
    /// Event-to-delivery latency histogram (100 µs buckets).
    latency: Vec<AtomicU64>,
    /// Unix µs of the latest 2xx.
    pub(crate) last_ok_us: AtomicU64,
    /// Fail this share (0..=1000 per mille) of requests with 503.
    pub(crate) fail_per_mille: AtomicU64,
    /// Count and time requests (the baseline's requests are only counted).
    pub(crate) measure: AtomicBool,
}

impl Ledger {
    pub(crate) fn new(events: usize) -> Ledger {
        Ledger {
            seen: (0..events).map(|_| AtomicU16::new(0)).collect(),
            ok: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            unknown: AtomicU64::new(0),
            latency: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            last_ok_us: AtomicU64::new(0),
            fail_per_mille: AtomicU64::new(0),
            measure: AtomicBool::new(true),
        }
    }

    /// Clears the latency histogram (between phases).
    pub(crate) fn reset_latency(&self) {
        for b in &self.latency {
            b.store(0, Relaxed);
        }
    }

    /// The latency (ms) under which `q` of deliveries fell.
    pub(crate) fn latency_quantile_ms(&self, q: f64) -> Option<f64> {
        let total: u64 = self.latency.iter().map(|b| b.load(Relaxed)).sum();
        if total == 0 {
            return None;
        }
        let rank = ((total as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, b) in self.latency.iter().enumerate() {
            seen += b.load(Relaxed);
            if seen >= rank {
                return Some(((i as u64 + 1) * BUCKET_US) as f64 / 1000.0);
            }
        }
        None
    }

    /// Events seen at least `times` times, and deliveries beyond that (duplicates).
    pub(crate) fn coverage(&self, times: u16) -> (usize, u64) {
        let mut complete = 0;
        let mut extra = 0u64;
        for s in &self.seen {
            let n = s.load(Relaxed);
            if n >= times {
                complete += 1;
                extra += u64::from(n - times);
            }
        }
        (complete, extra)
    }
}

pub(crate) fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// Finds `"key":<digits>` in a JSON body without parsing it.
fn number_after(body: &[u8], key: &[u8]) -> Option<u64> {
    let at = body.windows(key.len()).position(|w| w == key)? + key.len();
    let digits = body[at..].iter().take_while(|b| b.is_ascii_digit());
    let mut n: u64 = 0;
    let mut any = false;
    for d in digits {
        n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
        any = true;
    }
    any.then_some(n)
}

async fn receive(State(ledger): State<Arc<Ledger>>, body: Bytes) -> StatusCode {
    if !ledger.measure.load(Relaxed) {
        return StatusCode::OK;
    }
    let per_mille = ledger.fail_per_mille.load(Relaxed);
    if per_mille > 0 && rand::random_range(0..1000) < per_mille {
        ledger.failed.fetch_add(1, Relaxed);
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    let now = now_us();
    match (
        number_after(&body, b"\"seq\":"),
        number_after(&body, b"\"sent_us\":"),
    ) {
        (Some(seq), Some(sent)) => {
            if let Some(slot) = ledger.seen.get(seq as usize) {
                slot.fetch_add(1, Relaxed);
            }
            let bucket = (now.saturating_sub(sent) / BUCKET_US) as usize;
            ledger.latency[bucket.min(BUCKETS - 1)].fetch_add(1, Relaxed);
        }
        _ => {
            ledger.unknown.fetch_add(1, Relaxed);
        }
    }
    ledger.ok.fetch_add(1, Relaxed);
    ledger.last_ok_us.store(now, Relaxed);
    StatusCode::OK
}

/// Never answers: the request hangs until the client gives up (or the receiver stops).
async fn hang() -> StatusCode {
    std::future::pending::<()>().await;
    StatusCode::OK
}

/// Starts the receiver on a loopback port in this process.
pub(crate) async fn start(
    ledger: Arc<Ledger>,
    stop: CancellationToken,
) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = Router::new()
        .route("/hook", post(receive))
        // The isolation scenario's neighbours: one never answers, one answers at once
        // without being counted.
        .route("/hang", post(hang))
        .route("/slow", post(|| async { StatusCode::OK }))
        .with_state(ledger);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await;
    });
    Ok(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_found_without_parsing() {
        let body = br#"{"event":"bench.x","data":{"seq":42,"sent_us":1700000000123456,"pad":"x"}}"#;
        assert_eq!(number_after(body, b"\"seq\":"), Some(42));
        assert_eq!(
            number_after(body, b"\"sent_us\":"),
            Some(1_700_000_000_123_456)
        );
        assert_eq!(number_after(body, b"\"nope\":"), None);
    }

    #[test]
    fn quantiles_and_coverage() {
        let l = Ledger::new(3);
        l.latency[10].fetch_add(99, Relaxed);
        l.latency[200].fetch_add(1, Relaxed);
        assert_eq!(l.latency_quantile_ms(0.5), Some(1.1));
        assert_eq!(l.latency_quantile_ms(1.0), Some(20.1));
        l.seen[0].store(2, Relaxed);
        l.seen[1].store(1, Relaxed);
        assert_eq!(l.coverage(1), (2, 1));
    }
}
