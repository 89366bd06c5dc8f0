//! Waiting for a condition with a deadline: poll, never sleep and hope.

use std::future::Future;
use std::time::{Duration, Instant};

/// How long a test waits for a condition by default.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(15);

/// How often a condition is checked.
pub const POLL_INTERVAL: Duration = Duration::from_millis(25);

/// Polls `check` every [`POLL_INTERVAL`] until it returns `Ok`, for at most `deadline`.
/// `Err` describes what was seen instead; on timeout the test fails with `what` and the last
/// description.
pub async fn wait_until<T, F, Fut>(what: &str, deadline: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let start = Instant::now();
    loop {
        let last = match check().await {
            Ok(value) => return value,
            Err(seen) => seen,
        };
        if start.elapsed() >= deadline {
            panic!("timed out after {deadline:?} waiting for {what}; last seen: {last}");
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}
