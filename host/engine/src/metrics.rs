//! Live counters and latency histograms, lock-free on the hot path.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use hookline_core::transform::PluginFigures;

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

/// Prometheus text of the per-plugin figures: calls by outcome, call and instantiation
/// time (summaries: p50/p99 and sum/count), fuel. Nothing when no plugin was called.
pub fn render_plugins(out: &mut String, plugins: &[PluginFigures]) {
    if plugins.is_empty() {
        return;
    }
    let label = |p: &PluginFigures| format!("plugin=\"{}\"", escape_label(&p.plugin));
    let _ = writeln!(
        out,
        "# HELP hookline_plugin_calls_total Plugin calls, by outcome.\n# TYPE hookline_plugin_calls_total counter"
    );
    for p in plugins {
        let e = &p.errors;
        let l = label(p);
        for (outcome, n) in [
            ("sent", p.sent),
            ("skipped", p.skipped),
            ("plugin_trap", e.trap),
            ("plugin_fuel", e.fuel),
            ("plugin_deadline", e.deadline),
            ("plugin_memory", e.memory),
            ("plugin_output", e.output),
            ("plugin_load", e.load),
        ] {
            let _ = writeln!(
                out,
                "hookline_plugin_calls_total{{{l},outcome=\"{outcome}\"}} {n}"
            );
        }
    }
    // Calls that ran (a call that could not load the plugin has no time).
    let ran = |p: &PluginFigures| p.calls - p.errors.load;
    write_summary(
        out,
        "hookline_plugin_call_seconds",
        "Plugin call time (fresh instance, instantiation included).",
        plugins,
        |p| MicrosSummary {
            p50: p.call_p50_us,
            p99: p.call_p99_us,
            sum_us: p.busy_us,
            count: ran(p),
        },
    );
    write_summary(
        out,
        "hookline_plugin_instantiate_seconds",
        "Plugin instantiation time.",
        plugins,
        |p| MicrosSummary {
            p50: None,
            p99: p.instantiate_p99_us,
            // The mean is rounded down to a microsecond: the sum is short by less than a
            // microsecond per call.
            sum_us: p.instantiate_mean_us.unwrap_or(0) * ran(p),
            count: ran(p),
        },
    );
    let _ = writeln!(
        out,
        "# HELP hookline_plugin_fuel_used_total Fuel used by plugin calls.\n# TYPE hookline_plugin_fuel_used_total counter"
    );
    for p in plugins {
        let _ = writeln!(
            out,
            "hookline_plugin_fuel_used_total{{{}}} {}",
            label(p),
            p.fuel_used
        );
    }
}

/// One plugin's figures for a Prometheus summary, in microseconds.
struct MicrosSummary {
    p50: Option<u64>,
    p99: Option<u64>,
    sum_us: u64,
    count: u64,
}

fn write_summary(
    out: &mut String,
    name: &str,
    help: &str,
    plugins: &[PluginFigures],
    of: impl Fn(&PluginFigures) -> MicrosSummary,
) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} summary");
    for p in plugins {
        let l = format!("plugin=\"{}\"", escape_label(&p.plugin));
        let s = of(p);
        for (q, v) in [("0.5", s.p50), ("0.99", s.p99)] {
            if let Some(us) = v {
                let _ = writeln!(out, "{name}{{{l},quantile=\"{q}\"}} {}", us as f64 / 1e6);
            }
        }
        let _ = writeln!(out, "{name}_sum{{{l}}} {}", s.sum_us as f64 / 1e6);
        let _ = writeln!(out, "{name}_count{{{l}}} {}", s.count);
    }
}

/// A Prometheus label value: backslash, double quote and newline escaped.
fn escape_label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
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

    #[test]
    fn plugin_figures_render_by_plugin_and_outcome() {
        let mut text = String::new();
        render_plugins(&mut text, &[]);
        assert!(text.is_empty(), "nothing without plugins");
        let p = PluginFigures {
            plugin: "plugins/re\"dact.wasm".into(),
            calls: 5,
            sent: 3,
            errors: hookline_core::transform::PluginErrorCounts {
                fuel: 1,
                load: 1,
                ..Default::default()
            },
            call_p50_us: Some(20),
            call_p99_us: Some(1_250),
            instantiate_mean_us: Some(8),
            instantiate_p99_us: Some(10),
            fuel_used: 9_000,
            busy_us: 2_000,
            ..Default::default()
        };
        render_plugins(&mut text, &[p]);
        let l = "plugin=\"plugins/re\\\"dact.wasm\"";
        for line in [
            "# TYPE hookline_plugin_calls_total counter".to_owned(),
            format!("hookline_plugin_calls_total{{{l},outcome=\"sent\"}} 3"),
            format!("hookline_plugin_calls_total{{{l},outcome=\"plugin_fuel\"}} 1"),
            format!("hookline_plugin_call_seconds{{{l},quantile=\"0.99\"}} 0.00125"),
            format!("hookline_plugin_call_seconds_sum{{{l}}} 0.002"),
            format!("hookline_plugin_call_seconds_count{{{l}}} 4"),
            format!("hookline_plugin_instantiate_seconds{{{l},quantile=\"0.99\"}} 0.00001"),
            format!("hookline_plugin_fuel_used_total{{{l}}} 9000"),
        ] {
            assert!(
                text.lines().any(|t| t == line),
                "no line {line:?} in\n{text}"
            );
        }
    }
}
