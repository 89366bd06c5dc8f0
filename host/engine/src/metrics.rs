//! Live counters and latency histograms, lock-free on the hot path.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Upper bounds (ms) of the latency histogram buckets; the last bucket is unbounded.
pub const LATENCY_BUCKETS_MS: [u64; 16] = [
    1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 30_000, 60_000, 120_000,
];

/// A latency histogram with fixed buckets.
#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [AtomicU64; LATENCY_BUCKETS_MS.len() + 1],
    sum_ms: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&self, ms: u64) {
        let i = LATENCY_BUCKETS_MS.partition_point(|&b| b < ms);
        self.buckets[i].fetch_add(1, Relaxed);
        self.sum_ms.fetch_add(ms, Relaxed);
        self.count.fetch_add(1, Relaxed);
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.count.load(Relaxed)
    }

    /// The bucket bound under which `q` (0..=1) of observations fall, if any.
    pub fn quantile(&self, q: f64) -> Option<u64> {
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
                return Some(
                    LATENCY_BUCKETS_MS
                        .get(i)
                        .copied()
                        .unwrap_or(LATENCY_BUCKETS_MS[LATENCY_BUCKETS_MS.len() - 1] * 2),
                );
            }
        }
        None
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        for (i, bound) in LATENCY_BUCKETS_MS.iter().enumerate() {
            cumulative += self.buckets[i].load(Relaxed);
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}le=\"{}\"}} {cumulative}",
                *bound as f64 / 1000.0
            );
        }
        cumulative += self.buckets[LATENCY_BUCKETS_MS.len()].load(Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels}le=\"+Inf\"}} {cumulative}");
        let tail = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{}}}", labels.trim_end_matches(','))
        };
        let _ = writeln!(
            out,
            "{name}_sum{tail} {}",
            self.sum_ms.load(Relaxed) as f64 / 1000.0
        );
        let _ = writeln!(out, "{name}_count{tail} {cumulative}");
    }
}

/// Engine-wide counters.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Events accepted (durably stored).
    pub events_accepted: AtomicU64,
    /// Events refused as duplicates (idempotency key seen).
    pub events_duplicate: AtomicU64,
    /// Deliveries created.
    pub deliveries_created: AtomicU64,
    /// Attempts made.
    pub attempts: AtomicU64,
    /// Deliveries that reached `delivered`.
    pub delivered: AtomicU64,
    /// Deliveries that reached `failed`.
    pub failed: AtomicU64,
    /// Deliveries that reached `exhausted`.
    pub exhausted: AtomicU64,
    /// Deliveries that reached `skipped`.
    pub skipped: AtomicU64,
    /// Retries scheduled.
    pub retries_scheduled: AtomicU64,
    /// Requests in flight now.
    pub in_flight: AtomicU64,
    /// Deliveries held in memory now (queued or in flight).
    pub in_memory: AtomicU64,
    /// Attempt latency (request start to response read).
    pub attempt_latency: Histogram,
    /// Event accepted to delivered.
    pub end_to_end_latency: Histogram,
}

impl Metrics {
    /// Prometheus text exposition of the counters.
    pub fn render_prometheus(&self, gauges: &[(&str, &str, u64)]) -> String {
        let mut out = String::with_capacity(4096);
        let counters: [(&str, &str, &AtomicU64); 9] = [
            (
                "hookline_events_accepted_total",
                "Events durably accepted.",
                &self.events_accepted,
            ),
            (
                "hookline_events_duplicate_total",
                "Events whose idempotency key was seen before.",
                &self.events_duplicate,
            ),
            (
                "hookline_deliveries_created_total",
                "Deliveries created.",
                &self.deliveries_created,
            ),
            (
                "hookline_attempts_total",
                "Delivery attempts made.",
                &self.attempts,
            ),
            (
                "hookline_deliveries_delivered_total",
                "Deliveries delivered.",
                &self.delivered,
            ),
            (
                "hookline_deliveries_failed_total",
                "Deliveries failed permanently.",
                &self.failed,
            ),
            (
                "hookline_deliveries_exhausted_total",
                "Deliveries that used up their attempts.",
                &self.exhausted,
            ),
            (
                "hookline_deliveries_skipped_total",
                "Deliveries skipped by a plugin.",
                &self.skipped,
            ),
            (
                "hookline_retries_scheduled_total",
                "Retries scheduled.",
                &self.retries_scheduled,
            ),
        ];
        for (name, help, value) in counters {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            let _ = writeln!(out, "{name} {}", value.load(Relaxed));
        }
        let live: [(&str, &str, u64); 2] = [
            (
                "hookline_requests_in_flight",
                "Requests in flight.",
                self.in_flight.load(Relaxed),
            ),
            (
                "hookline_deliveries_in_memory",
                "Deliveries held in memory (queued or in flight).",
                self.in_memory.load(Relaxed),
            ),
        ];
        for (name, help, value) in live.iter().chain(gauges.iter()) {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
            let _ = writeln!(out, "{name} {value}");
        }
        for (name, help, h) in [
            (
                "hookline_attempt_duration_seconds",
                "Attempt duration.",
                &self.attempt_latency,
            ),
            (
                "hookline_event_to_delivery_seconds",
                "Time from acceptance to successful delivery.",
                &self.end_to_end_latency,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
            h.render(&mut out, name, "");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_come_from_buckets() {
        let h = Histogram::default();
        assert_eq!(h.quantile(0.5), None);
        for ms in [1, 3, 3, 4, 40, 40, 40, 40, 40, 900] {
            h.observe(ms);
        }
        assert_eq!(h.quantile(0.1), Some(1));
        assert_eq!(h.quantile(0.5), Some(50));
        assert_eq!(h.quantile(0.99), Some(1000));
        assert_eq!(h.count(), 10);
    }

    #[test]
    fn prometheus_text_has_types_and_values() {
        let m = Metrics::default();
        m.delivered.fetch_add(3, Relaxed);
        m.attempt_latency.observe(7);
        let text = m.render_prometheus(&[("hookline_queue_pending", "Pending.", 5)]);
        assert!(text.contains("# TYPE hookline_deliveries_delivered_total counter"));
        assert!(text.contains("hookline_deliveries_delivered_total 3"));
        assert!(text.contains("hookline_queue_pending 5"));
        assert!(text.contains("hookline_attempt_duration_seconds_bucket{le=\"0.01\"} 1"));
        assert!(text.contains("hookline_attempt_duration_seconds_count 1"));
    }
}
