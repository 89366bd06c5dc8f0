//! The engine's one clock: every time the engine reads comes from here.
//!
//! Two readings, for two jobs:
//! - [`Clock::now_ms`], wall time in Unix milliseconds: what is persisted and shown (due
//!   times, attempt times, lease ends, a breaker's `open_until` that held deliveries are
//!   written back with) and what signatures carry.
//! - [`Clock::now`], a monotonic [`Instant`] (Tokio's): in-memory state that must not jump
//!   when the system clock is set (the rate limiter's next free slot, request deadlines).
//!
//! [`Clock::system`] reads the system clock; [`Clock::tokio`] derives wall time from Tokio's
//! clock, so under `tokio::time::pause` the whole engine (due times, breaker, rate limiter,
//! claim loop sleeps) moves only when a test advances time: tests never sleep for real.
//!
//! `clippy.toml` bans `Instant::now`, `SystemTime::now` and `Utc::now` in this crate
//! outside this module.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};
use hookline_core::model::Millis;
use tokio::time::Instant;

/// Where the engine's time comes from. Cheap to clone (shared).
#[derive(Clone)]
pub struct Clock(Arc<Source>);

enum Source {
    /// The system's clock (wall) and Tokio's (monotonic).
    System,
    /// Wall time = `wall_origin` plus the Tokio time elapsed since `origin`.
    Tokio {
        wall_origin: Millis,
        origin: Instant,
    },
}

impl Clock {
    /// The system clock: what the daemon uses.
    pub fn system() -> Clock {
        Clock(Arc::new(Source::System))
    }

    /// A clock that starts at `wall_origin` (Unix milliseconds) and advances with Tokio's
    /// clock: under `tokio::time::pause` it moves only by `tokio::time::advance` (or by the
    /// runtime auto-advancing to the next timer when every task is idle). For tests.
    pub fn tokio(wall_origin: Millis) -> Clock {
        Clock(Arc::new(Source::Tokio {
            wall_origin,
            origin: Instant::now(),
        }))
    }

    /// Wall time.
    pub fn system_time(&self) -> SystemTime {
        match &*self.0 {
            #[allow(clippy::disallowed_methods)] // The one place the system's wall clock is read.
            Source::System => SystemTime::now(),
            Source::Tokio {
                wall_origin,
                origin,
            } => {
                let origin_ms = u64::try_from(*wall_origin).unwrap_or(0);
                UNIX_EPOCH + Duration::from_millis(origin_ms) + origin.elapsed()
            }
        }
    }

    /// Wall time, Unix milliseconds (UTC).
    pub fn now_ms(&self) -> Millis {
        self.system_time()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as Millis)
    }

    /// Wall time as a UTC date, at full precision (event timestamps).
    pub fn now_utc(&self) -> DateTime<Utc> {
        DateTime::<Utc>::from(self.system_time())
    }

    /// Monotonic time (Tokio's, so `tokio::time::pause` governs it).
    pub fn now(&self) -> Instant {
        Instant::now()
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::system()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &*self.0 {
            Source::System => f.write_str("Clock::system"),
            Source::Tokio { wall_origin, .. } => write!(f, "Clock::tokio({wall_origin})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_tokio_clock_moves_only_with_tokio_time() {
        let clock = Clock::tokio(1_700_000_000_000);
        let (wall, mono) = (clock.now_ms(), clock.now());
        assert_eq!(wall, 1_700_000_000_000);
        tokio::time::advance(Duration::from_secs(90)).await;
        assert_eq!(clock.now_ms(), wall + 90_000);
        assert_eq!(clock.now() - mono, Duration::from_secs(90));
        assert_eq!(
            clock.system_time(),
            UNIX_EPOCH + Duration::from_millis(1_700_000_090_000)
        );
    }

    #[test]
    fn the_system_clock_reads_the_wall_time() {
        let ms = Clock::system().now_ms();
        // After 2023-11-14 and before 2100: a wall time, not an uptime.
        assert!((1_700_000_000_000..4_102_444_800_000).contains(&ms), "{ms}");
    }
}
