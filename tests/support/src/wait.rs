//! Waiting for a condition with a deadline: poll, never sleep and hope.

use std::time::{Duration, Instant};

/// How long a test waits for a condition by default.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(15);

/// How often a condition is checked.
pub const POLL_INTERVAL: Duration = Duration::from_millis(25);

/// What a condition checked by [`eventually`] may answer: done (with a value), or not yet
/// (with what was seen instead, for the timeout message).
pub trait Check {
    /// The value [`eventually`] returns once the condition holds.
    type Value;

    /// `Ok(value)` when the condition holds, else `Err(what was seen)`.
    fn check(self) -> Result<Self::Value, String>;
}

/// `true` when the condition holds.
impl Check for bool {
    type Value = ();

    fn check(self) -> Result<(), String> {
        match self {
            true => Ok(()),
            false => Err("false".to_owned()),
        }
    }
}

/// `Some(value)` when the condition holds.
impl<T> Check for Option<T> {
    type Value = T;

    fn check(self) -> Result<T, String> {
        self.ok_or_else(|| "nothing yet".to_owned())
    }
}

/// `Ok(value)` when the condition holds; `Err` describes what was seen instead.
impl<T> Check for Result<T, String> {
    type Value = T;

    fn check(self) -> Result<T, String> {
        self
    }
}

/// Polls `check` every [`POLL_INTERVAL`] until it holds, for at most `deadline`, and
/// returns its value. On timeout the test fails naming `what` and the last thing seen.
///
/// `check` answers a [`Check`]: a `bool`, an `Option<T>` or a `Result<T, String>`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use hookline_test_support::wait::{DEFAULT_DEADLINE, eventually};
/// let mut polls = 0;
/// let n = eventually("the third poll", DEFAULT_DEADLINE, async || {
///     polls += 1;
///     (polls >= 3).then_some(polls)
/// })
/// .await;
/// assert_eq!(n, 3);
/// # }
/// ```
pub async fn eventually<C: Check>(
    what: &str,
    deadline: Duration,
    mut check: impl AsyncFnMut() -> C,
) -> C::Value {
    let start = Instant::now();
    loop {
        let last = match check().await.check() {
            Ok(value) => return value,
            Err(seen) => seen,
        };
        if start.elapsed() >= deadline {
            panic!("timed out after {deadline:?} waiting for {what}; last seen: {last}");
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}
