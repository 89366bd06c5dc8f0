//! Retry policy: what an attempt's outcome means, and when the next attempt happens.
//!
//! Everything here is pure: callers pass durations, attempt counts and a uniform random
//! sample, never a clock or an RNG, so the policy is unit- and property-tested without
//! sleeping.
//!
//! - [`classify_status`] turns an HTTP status into a [`Verdict`] (the origin's rules: retry on
//!   `>= 500`, 408 and 429; 410 disables the webhook; other 4xx and 3xx are permanent).
//! - [`Schedule`] is the origin's exponential schedule (`base × 2^n`, capped at 24 h, never
//!   overflowing) or an explicit list of delays.
//! - [`RetryPolicy::decide`] combines a verdict, the attempts made, the schedule, jitter and
//!   `Retry-After` into a [`Decision`].

use std::time::{Duration, SystemTime};

/// The longest delay any schedule produces, and the cap on `Retry-After`.
pub const MAX_DELAY: Duration = Duration::from_secs(24 * 60 * 60);

/// What one attempt's outcome means for the delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// 2xx: delivered.
    Success,
    /// Worth trying again: `>= 500`, 408, 429 or a transport error (no response).
    Retryable,
    /// Trying again will not help: other 4xx, 3xx (redirects are not followed), 1xx.
    Permanent,
    /// 410 Gone: the receiver asks us to stop; the webhook is disabled.
    Gone,
}

/// Classifies an HTTP status code.
pub fn classify_status(status: u16) -> Verdict {
    match status {
        200..=299 => Verdict::Success,
        410 => Verdict::Gone,
        408 | 429 => Verdict::Retryable,
        500.. => Verdict::Retryable,
        _ => Verdict::Permanent,
    }
}

/// Whether the origin retries this status (`ShouldRetry`): `>= 500`, 408 and 429.
pub fn should_retry(status: u16) -> bool {
    classify_status(status) == Verdict::Retryable
}

/// When retries happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schedule {
    /// The origin's schedule: retry `n` (0-based) waits `base × 2^n`, capped at [`MAX_DELAY`].
    Exponential {
        /// The first retry's delay.
        base: Duration,
    },
    /// Retry `n` waits `delays[n]`; past the end of the list, the last delay repeats.
    /// An empty list means "retry at once".
    Explicit(Vec<Duration>),
}

impl Default for Schedule {
    /// The origin's default: exponential from 60 s.
    fn default() -> Self {
        Schedule::Exponential {
            base: Duration::from_secs(60),
        }
    }
}

impl Schedule {
    /// The delay before retry number `retry` (0 for the first retry), before jitter.
    ///
    /// Never overflows and never exceeds [`MAX_DELAY`], whatever `retry` is.
    pub fn delay(&self, retry: u32) -> Duration {
        match self {
            Schedule::Exponential { base } => exponential(*base, retry),
            Schedule::Explicit(delays) => delays
                .get(retry as usize)
                .or(delays.last())
                .copied()
                .unwrap_or(Duration::ZERO)
                .min(MAX_DELAY),
        }
    }
}

/// `base × 2^retry`, saturating, capped at [`MAX_DELAY`].
pub fn exponential(base: Duration, retry: u32) -> Duration {
    let factor = 1u32.checked_shl(retry).filter(|_| retry < 32);
    factor
        .and_then(|f| base.checked_mul(f))
        .unwrap_or(MAX_DELAY)
        .min(MAX_DELAY)
}

/// Spreads `delay` uniformly over `delay × [1 - fraction, 1 + fraction]`, capped at
/// [`MAX_DELAY`]. `sample` is uniform in `[0, 1)`; `fraction` is clamped to `[0, 1]`.
pub fn jitter(delay: Duration, fraction: f64, sample: f64) -> Duration {
    let fraction = if fraction.is_finite() {
        fraction.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let sample = if sample.is_finite() {
        sample.clamp(0.0, 1.0)
    } else {
        0.5
    };
    let scale = 1.0 - fraction + 2.0 * fraction * sample;
    Duration::try_from_secs_f64(delay.as_secs_f64() * scale)
        .unwrap_or(MAX_DELAY)
        .min(MAX_DELAY)
}

/// Parses a `Retry-After` header value: delay-seconds or an HTTP date (relative to `now`).
///
/// Returns `None` for anything unparseable. A date in the past means "now" (zero).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// What happens to a delivery after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The receiver accepted it.
    Delivered,
    /// Try again after this delay.
    RetryAfter(Duration),
    /// A permanent failure: no retry.
    Failed,
    /// Retryable, but the attempts are used up.
    Exhausted,
    /// 410 Gone: fail the delivery and disable the webhook.
    DisableWebhook,
}

/// How a webhook's failed deliveries are retried.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (the origin's default: 3). At least 1.
    pub max_attempts: u32,
    /// Delays between attempts.
    pub schedule: Schedule,
    /// Jitter fraction in `[0, 1]`: 0.2 spreads each delay over ±20 %.
    pub jitter: f64,
    /// `Retry-After` values are clamped to `[retry_after_min, retry_after_max]`.
    pub retry_after_min: Duration,
    /// See `retry_after_min`.
    pub retry_after_max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 3,
            schedule: Schedule::default(),
            jitter: 0.2,
            retry_after_min: Duration::from_secs(1),
            retry_after_max: Duration::from_secs(60 * 60),
        }
    }
}

impl RetryPolicy {
    /// Decides what follows attempt number `attempts_made` (1 for the first attempt).
    ///
    /// `retry_after` is the receiver's `Retry-After`, already parsed; when present on a
    /// retryable answer it replaces the schedule's delay (clamped, without jitter: the
    /// receiver asked for that moment). `sample` is uniform in `[0, 1)` for the jitter.
    pub fn decide(
        &self,
        verdict: Verdict,
        attempts_made: u32,
        retry_after: Option<Duration>,
        sample: f64,
    ) -> Decision {
        match verdict {
            Verdict::Success => Decision::Delivered,
            Verdict::Permanent => Decision::Failed,
            Verdict::Gone => Decision::DisableWebhook,
            Verdict::Retryable if attempts_made >= self.max_attempts.max(1) => Decision::Exhausted,
            Verdict::Retryable => {
                let delay = match retry_after {
                    Some(asked) => asked.clamp(
                        self.retry_after_min,
                        self.retry_after_max.max(self.retry_after_min),
                    ),
                    None => jitter(
                        self.schedule.delay(attempts_made.saturating_sub(1)),
                        self.jitter,
                        sample,
                    ),
                };
                Decision::RetryAfter(delay)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MIN: Duration = Duration::from_secs(60);

    #[test]
    fn classification_follows_the_origin() {
        for (status, verdict) in [
            (200, Verdict::Success),
            (204, Verdict::Success),
            (299, Verdict::Success),
            (100, Verdict::Permanent),
            (301, Verdict::Permanent),
            (302, Verdict::Permanent),
            (307, Verdict::Permanent),
            (400, Verdict::Permanent),
            (401, Verdict::Permanent),
            (403, Verdict::Permanent),
            (404, Verdict::Permanent),
            (408, Verdict::Retryable),
            (410, Verdict::Gone),
            (422, Verdict::Permanent),
            (429, Verdict::Retryable),
            (500, Verdict::Retryable),
            (502, Verdict::Retryable),
            (503, Verdict::Retryable),
            (599, Verdict::Retryable),
        ] {
            assert_eq!(classify_status(status), verdict, "status {status}");
        }
        assert!(should_retry(503));
        assert!(!should_retry(410));
    }

    #[test]
    fn exponential_schedule_doubles_and_caps() {
        let s = Schedule::Exponential { base: MIN };
        assert_eq!(s.delay(0), MIN);
        assert_eq!(s.delay(1), 2 * MIN);
        assert_eq!(s.delay(2), 4 * MIN);
        assert_eq!(s.delay(10), 1024 * MIN); // 17 h 4 min
        assert_eq!(s.delay(11), MAX_DELAY); // 60 s × 2048 > 24 h
        assert_eq!(s.delay(31), MAX_DELAY);
        assert_eq!(s.delay(32), MAX_DELAY);
        assert_eq!(s.delay(u32::MAX), MAX_DELAY);
        let huge = Schedule::Exponential {
            base: Duration::MAX,
        };
        assert_eq!(huge.delay(3), MAX_DELAY);
    }

    #[test]
    fn explicit_schedule_repeats_its_last_delay() {
        let s = Schedule::Explicit(vec![
            Duration::from_secs(5),
            Duration::from_secs(300),
            Duration::from_secs(1800),
        ]);
        assert_eq!(s.delay(0), Duration::from_secs(5));
        assert_eq!(s.delay(2), Duration::from_secs(1800));
        assert_eq!(s.delay(7), Duration::from_secs(1800));
        assert_eq!(Schedule::Explicit(vec![]).delay(3), Duration::ZERO);
        assert_eq!(
            Schedule::Explicit(vec![Duration::from_secs(100_000)]).delay(0),
            MAX_DELAY
        );
    }

    #[test]
    fn retry_after_parses_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        assert_eq!(
            parse_retry_after(" 120 ", now),
            Some(Duration::from_secs(120))
        );
        // Wed, 21 Oct 2015 07:28:00 GMT is 1445412480.
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:30:00 GMT", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
    }

    #[test]
    fn decisions() {
        let p = RetryPolicy {
            jitter: 0.0,
            ..RetryPolicy::default()
        };
        assert_eq!(
            p.decide(Verdict::Success, 1, None, 0.5),
            Decision::Delivered
        );
        assert_eq!(p.decide(Verdict::Permanent, 1, None, 0.5), Decision::Failed);
        assert_eq!(
            p.decide(Verdict::Gone, 1, None, 0.5),
            Decision::DisableWebhook
        );
        assert_eq!(
            p.decide(Verdict::Retryable, 1, None, 0.5),
            Decision::RetryAfter(MIN)
        );
        assert_eq!(
            p.decide(Verdict::Retryable, 2, None, 0.5),
            Decision::RetryAfter(2 * MIN)
        );
        assert_eq!(
            p.decide(Verdict::Retryable, 3, None, 0.5),
            Decision::Exhausted
        );
        // Retry-After replaces the schedule, within bounds.
        assert_eq!(
            p.decide(Verdict::Retryable, 1, Some(Duration::from_secs(7)), 0.5),
            Decision::RetryAfter(Duration::from_secs(7))
        );
        assert_eq!(
            p.decide(Verdict::Retryable, 1, Some(Duration::ZERO), 0.5),
            Decision::RetryAfter(Duration::from_secs(1))
        );
        assert_eq!(
            p.decide(
                Verdict::Retryable,
                1,
                Some(Duration::from_secs(999_999)),
                0.5
            ),
            Decision::RetryAfter(Duration::from_secs(3600))
        );
        // One attempt allowed: the first retryable failure exhausts it.
        let once = RetryPolicy {
            max_attempts: 1,
            ..p.clone()
        };
        assert_eq!(
            once.decide(Verdict::Retryable, 1, None, 0.5),
            Decision::Exhausted
        );
    }

    proptest! {
        #[test]
        fn exponential_is_monotonic_capped_and_never_panics(base_ms in 0u64..10_000_000, n in any::<u32>()) {
            let s = Schedule::Exponential { base: Duration::from_millis(base_ms) };
            let d = s.delay(n);
            prop_assert!(d <= MAX_DELAY);
            prop_assert!(s.delay(n.saturating_add(1)) >= d);
            if n < 20 && base_ms > 0 {
                let exact = Duration::from_millis(base_ms) * (1u32 << n);
                prop_assert_eq!(d, exact.min(MAX_DELAY));
            }
        }

        #[test]
        fn explicit_is_bounded(delays in proptest::collection::vec(0u64..200_000, 0..8), n in any::<u32>()) {
            let s = Schedule::Explicit(delays.iter().map(|&s| Duration::from_secs(s)).collect());
            prop_assert!(s.delay(n) <= MAX_DELAY);
        }

        #[test]
        fn jitter_stays_within_its_band(ms in 0u64..200_000_000, fraction in 0.0f64..=1.0, sample in 0.0f64..1.0) {
            let d = Duration::from_millis(ms);
            let j = jitter(d, fraction, sample);
            let lo = d.as_secs_f64() * (1.0 - fraction);
            let hi = (d.as_secs_f64() * (1.0 + fraction)).min(MAX_DELAY.as_secs_f64());
            prop_assert!(j.as_secs_f64() >= lo.min(hi) - 1e-6, "{j:?} < {lo}");
            prop_assert!(j.as_secs_f64() <= hi + 1e-6, "{j:?} > {hi}");
        }

        #[test]
        fn jitter_is_monotonic_in_the_sample(ms in 0u64..1_000_000, a in 0.0f64..1.0, b in 0.0f64..1.0) {
            let d = Duration::from_millis(ms);
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            prop_assert!(jitter(d, 0.3, lo) <= jitter(d, 0.3, hi));
        }

        #[test]
        fn retryable_decisions_end_in_exhaustion(max in 1u32..20, sample in 0.0f64..1.0) {
            let p = RetryPolicy { max_attempts: max, ..RetryPolicy::default() };
            for n in 1..max {
                let is_retry = matches!(p.decide(Verdict::Retryable, n, None, sample), Decision::RetryAfter(_));
                prop_assert!(is_retry);
            }
            prop_assert_eq!(p.decide(Verdict::Retryable, max, None, sample), Decision::Exhausted);
        }
    }
}
