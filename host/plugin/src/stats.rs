//! Per-plugin call counters, for `/v1/stats`, `/metrics` and the console's plugins view:
//! outcomes by kind, call and instantiation time (log-scale histograms, lock-free) and fuel.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use hookline_core::transform::{PluginErrorCounts, PluginFigures};

use super::{PluginError, TransformOutput};

/// The figures of one plugin: [`PluginFigures`] (the API's type).
pub type PluginStats = PluginFigures;

/// Bounded buckets of [`MicrosHistogram`] (one more, unbounded, follows): 1 to 8 µs one
/// per microsecond, then four per power of two up to 2^26 µs (about 67 s: past any
/// deadline), so a quantile read from a bucket bound is at most 25 % above the true value.
const BOUNDED: usize = 8 + 4 * (26 - 3);
const BUCKETS: usize = BOUNDED + 1;

/// Upper bounds (µs) of the bounded buckets, increasing.
static BOUNDS: [u64; BOUNDED] = bounds();

const fn bounds() -> [u64; BOUNDED] {
    let mut out = [0u64; BOUNDED];
    let mut i = 0;
    while i < BOUNDED {
        out[i] = if i < 8 {
            i as u64 + 1
        } else {
            let j = i - 8;
            let power = 1u64 << (3 + j / 4);
            power + (power / 4) * (j as u64 % 4 + 1)
        };
        i += 1;
    }
    out
}

fn bucket_bound(i: usize) -> u64 {
    BOUNDS[i]
}

/// The bucket of an observation of `us` microseconds: the first whose bound is at least
/// `us`, or the unbounded last.
fn bucket_of(us: u64) -> usize {
    BOUNDS.partition_point(|&b| b < us)
}

/// A histogram of durations in microseconds: fixed log-scale buckets of atomics, so
/// recording is three relaxed increments and no lock.
#[derive(Debug)]
pub(super) struct MicrosHistogram {
    buckets: [AtomicU64; BUCKETS],
    sum: AtomicU64,
    count: AtomicU64,
}

impl Default for MicrosHistogram {
    fn default() -> Self {
        MicrosHistogram {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            sum: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }
}

impl MicrosHistogram {
    pub(super) fn observe(&self, took: Duration) {
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.buckets[bucket_of(us)].fetch_add(1, Relaxed);
        self.sum.fetch_add(us, Relaxed);
        self.count.fetch_add(1, Relaxed);
    }

    fn mean(&self) -> Option<u64> {
        let n = self.count.load(Relaxed);
        (n > 0).then(|| self.sum.load(Relaxed) / n)
    }

    /// The bound of the bucket holding the `q` (0..=1) quantile; for the last, unbounded
    /// bucket twice the bound below it.
    fn quantile(&self, q: f64) -> Option<u64> {
        let counts: Vec<u64> = self.buckets.iter().map(|b| b.load(Relaxed)).collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return None;
        }
        let rank = ((total as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, c) in counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(if i < BUCKETS - 1 {
                    bucket_bound(i)
                } else {
                    bucket_bound(BUCKETS - 2) * 2
                });
            }
        }
        None
    }
}

/// The live counters behind [`PluginFigures`].
#[derive(Debug, Default)]
pub(super) struct CallCounters {
    calls: AtomicU64,
    sent: AtomicU64,
    skipped: AtomicU64,
    traps: AtomicU64,
    out_of_fuel: AtomicU64,
    missed_deadline: AtomicU64,
    over_memory: AtomicU64,
    bad_output: AtomicU64,
    load_failures: AtomicU64,
    busy_micros: AtomicU64,
    fuel_used: AtomicU64,
    memory_max: AtomicU64,
    call_time: MicrosHistogram,
    instantiate_time: MicrosHistogram,
}

/// What one call that ran cost, beside its result.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct CallCost {
    /// The whole call, instantiation included.
    pub took: Duration,
    /// Instantiating the component (`None` when it failed before instantiation ended).
    pub instantiated: Option<Duration>,
    /// Fuel consumed.
    pub fuel: u64,
    /// Linear memory of the instance at the end of the call, every memory in all.
    pub memory_bytes: u64,
}

impl CallCounters {
    pub(super) fn record(&self, result: &Result<TransformOutput, PluginError>, cost: CallCost) {
        self.calls.fetch_add(1, Relaxed);
        self.busy_micros.fetch_add(
            u64::try_from(cost.took.as_micros()).unwrap_or(u64::MAX),
            Relaxed,
        );
        self.fuel_used.fetch_add(cost.fuel, Relaxed);
        self.memory_max.fetch_max(cost.memory_bytes, Relaxed);
        self.call_time.observe(cost.took);
        if let Some(instantiated) = cost.instantiated {
            self.instantiate_time.observe(instantiated);
        }
        let counter = match result {
            Ok(TransformOutput::Send { .. }) => &self.sent,
            Ok(TransformOutput::Skip { .. }) => &self.skipped,
            Err(PluginError::Trap { .. }) => &self.traps,
            Err(PluginError::Fuel { .. }) => &self.out_of_fuel,
            Err(PluginError::Deadline { .. }) => &self.missed_deadline,
            Err(PluginError::Memory { .. }) => &self.over_memory,
            Err(PluginError::Output { .. }) => &self.bad_output,
            Err(PluginError::Load { .. }) => &self.load_failures,
        };
        counter.fetch_add(1, Relaxed);
    }

    pub(super) fn load_failed(&self) {
        self.calls.fetch_add(1, Relaxed);
        self.load_failures.fetch_add(1, Relaxed);
    }

    pub(super) fn snapshot(&self, plugin: String, sha256: Option<String>) -> PluginFigures {
        let ran = self.call_time.count.load(Relaxed);
        let fuel_used = self.fuel_used.load(Relaxed);
        PluginFigures {
            plugin,
            sha256,
            calls: self.calls.load(Relaxed),
            sent: self.sent.load(Relaxed),
            skipped: self.skipped.load(Relaxed),
            errors: PluginErrorCounts {
                trap: self.traps.load(Relaxed),
                fuel: self.out_of_fuel.load(Relaxed),
                deadline: self.missed_deadline.load(Relaxed),
                memory: self.over_memory.load(Relaxed),
                output: self.bad_output.load(Relaxed),
                load: self.load_failures.load(Relaxed),
            },
            call_mean_us: self.call_time.mean(),
            call_p50_us: self.call_time.quantile(0.5),
            call_p99_us: self.call_time.quantile(0.99),
            instantiate_mean_us: self.instantiate_time.mean(),
            instantiate_p99_us: self.instantiate_time.quantile(0.99),
            fuel_used,
            fuel_mean: (ran > 0).then(|| fuel_used / ran),
            busy_us: self.busy_micros.load(Relaxed),
            memory_max_bytes: self.memory_max.load(Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_result_lands_in_one_counter() {
        let c = CallCounters::default();
        let skip = TransformOutput::Skip {
            reason: "no".into(),
            fuel_used: 1,
            duration: Duration::ZERO,
        };
        let cost = |us, fuel| CallCost {
            took: Duration::from_micros(us),
            instantiated: Some(Duration::from_micros(us / 2)),
            fuel,
            memory_bytes: fuel * 64,
        };
        c.record(&Ok(skip), cost(30, 1_000));
        c.record(&Err(PluginError::Fuel { budget: 1 }), cost(70, 3_000));
        c.load_failed();
        let s = c.snapshot("p.wasm".into(), None);
        assert_eq!(
            (s.calls, s.skipped, s.errors.fuel, s.errors.load, s.busy_us),
            (3, 1, 1, 1, 100)
        );
        assert_eq!(s.error_total(), 2);
        assert_eq!((s.fuel_used, s.fuel_mean), (4_000, Some(2_000)));
        assert_eq!(s.memory_max_bytes, 3_000 * 64);
        assert_eq!(
            (s.call_mean_us, s.instantiate_mean_us),
            (Some(50), Some(25))
        );
        // Quantiles are bucket bounds at or above the value, within 25 %.
        let p99 = s.call_p99_us.unwrap();
        assert!((70..=88).contains(&p99), "{p99}");
        let p50 = s.call_p50_us.unwrap();
        assert!((30..=38).contains(&p50), "{p50}");
    }

    #[test]
    fn buckets_cover_every_duration_in_order() {
        let mut last = 0;
        for i in 0..BUCKETS - 1 {
            let b = bucket_bound(i);
            assert!(b > last, "bucket {i}: {b} after {last}");
            last = b;
        }
        for us in [
            0,
            1,
            2,
            3,
            5,
            7,
            8,
            9,
            100,
            1_000,
            12_345,
            999_999,
            u64::MAX,
        ] {
            let i = bucket_of(us);
            assert!(i < BUCKETS);
            if i < BUCKETS - 1 {
                assert!(bucket_bound(i) >= us, "{us} in bucket {i}");
                let bound = bucket_bound(i) as f64;
                assert!(
                    bound <= (us.max(1) as f64) * 1.25 + 1.0,
                    "{us}: bound {bound}"
                );
            }
            if i > 0 && i < BUCKETS - 1 {
                assert!(bucket_bound(i - 1) < us, "{us} belongs below bucket {i}");
            }
        }
    }
}
