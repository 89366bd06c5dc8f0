//! Frame timings, written on exit to the file named by `HOOKLINE_CONSOLE_STATS` (JSON), to
//! measure the console under load.
//!
//! ```json
//! {"duration_s": 20.0, "frames": 200, "fps": 10.0,
//!  "frame_ms": {"mean": 0.8, "p50": 0.7, "p90": 1.1, "p99": 2.3, "max": 4.0},
//!  "updates": 12000, "update_ms_total": 310.0, "stream_batches": 11800, "stream_events": 98000,
//!  "cpu_s": 1.9, "cpu_percent": 9.5}
//! ```
//!
//! `frame_ms` is the time of one `Terminal::draw` (building the widgets, diffing, writing to
//! the terminal); `update_ms_total` the time spent applying messages; `cpu_s` the process's
//! user + system time from `/proc/self/stat` (Linux, assuming 100 ticks per second), absent
//! elsewhere.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;

/// Frame durations kept at most (about 9 hours at 30 fps).
const MAX_SAMPLES: usize = 1_000_000;

/// What the runtime measures.
#[derive(Debug)]
pub struct PerfStats {
    started: Instant,
    cpu_at_start: Option<f64>,
    frames_us: Vec<u32>,
    frames: u64,
    updates: u64,
    update_time: Duration,
    batches: u64,
    events: u64,
}

impl Default for PerfStats {
    fn default() -> Self {
        PerfStats::new()
    }
}

impl PerfStats {
    /// Starts measuring now.
    pub fn new() -> PerfStats {
        PerfStats {
            started: Instant::now(),
            cpu_at_start: process_cpu_seconds(),
            frames_us: Vec::new(),
            frames: 0,
            updates: 0,
            update_time: Duration::ZERO,
            batches: 0,
            events: 0,
        }
    }

    /// One frame took `d`.
    pub fn frame(&mut self, d: Duration) {
        self.frames += 1;
        if self.frames_us.len() < MAX_SAMPLES {
            self.frames_us
                .push(d.as_micros().min(u32::MAX as u128) as u32);
        }
    }

    /// One message was applied in `d`; `events` stream events came with it.
    pub fn update(&mut self, d: Duration, events: usize) {
        self.updates += 1;
        self.update_time += d;
        if events > 0 {
            self.batches += 1;
            self.events += events as u64;
        }
    }

    /// The report.
    pub fn report(&self) -> serde_json::Value {
        let duration = self.started.elapsed().as_secs_f64();
        let mut sorted = self.frames_us.clone();
        sorted.sort_unstable();
        let q = |p: f64| -> f64 {
            if sorted.is_empty() {
                return 0.0;
            }
            let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
            f64::from(sorted[i]) / 1000.0
        };
        let mean = if sorted.is_empty() {
            0.0
        } else {
            sorted.iter().map(|&v| f64::from(v)).sum::<f64>() / sorted.len() as f64 / 1000.0
        };
        let mut report = json!({
            "duration_s": round3(duration),
            "frames": self.frames,
            "fps": round3(self.frames as f64 / duration.max(1e-9)),
            "frame_ms": {
                "mean": round3(mean), "p50": q(0.5), "p90": q(0.9), "p99": q(0.99),
                "max": q(1.0),
            },
            "updates": self.updates,
            "update_ms_total": round3(self.update_time.as_secs_f64() * 1000.0),
            "stream_batches": self.batches,
            "stream_events": self.events,
        });
        if let (Some(start), Some(end)) = (self.cpu_at_start, process_cpu_seconds()) {
            let cpu = end - start;
            report["cpu_s"] = json!(round3(cpu));
            report["cpu_percent"] = json!(round3(cpu * 100.0 / duration.max(1e-9)));
        }
        report
    }

    /// Writes the report to `path`.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let text = serde_json::to_string_pretty(&self.report()).map_err(std::io::Error::other)?;
        std::fs::write(path, text + "\n")
    }
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// User + system CPU seconds of this process (all threads), from `/proc/self/stat`.
fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) may hold spaces: count fields after its closing `)`.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after `)`.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_has_quantiles() {
        let mut p = PerfStats::new();
        for ms in 1..=100 {
            p.frame(Duration::from_millis(ms));
        }
        p.update(Duration::from_millis(2), 10);
        p.update(Duration::from_millis(1), 0);
        let r = p.report();
        assert_eq!(r["frames"], 100);
        assert_eq!(r["frame_ms"]["max"], 100.0);
        assert_eq!(r["frame_ms"]["p50"], 51.0);
        assert_eq!(r["stream_events"], 10);
        assert_eq!(r["stream_batches"], 1);
        assert_eq!(r["updates"], 2);
        if cfg!(target_os = "linux") {
            assert!(r["cpu_s"].as_f64().is_some(), "{r}");
        }
    }
}
