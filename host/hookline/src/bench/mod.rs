//! `hookline bench`: a reproducible load benchmark of the real engine.
//!
//! Each scenario starts a fresh daemon as a **child process** (`hookline serve` with a
//! generated config and its own SQLite file), so its CPU time and peak memory are read from
//! `/proc` apart from the load generator's. The loopback receiver and the load generator run
//! **in this process**. Events are published through the public ingest path,
//! `POST /v1/events/batch`; a separate phase measures single-event `POST /v1/events`.
//!
//! In the same run, a **baseline** is measured: the same receiver hit by a bare reqwest
//! client with the same concurrency and body size, one round before the first scenario and
//! one after each, so every scenario is compared with the rounds on either side of it rather
//! than with a machine state minutes earlier. Engine figures are reported as ratios to it,
//! because absolute numbers on shared machines mean little. Two ratios: **wall-clock**
//! (deliveries per second against requests per second) and **CPU-normalised** (deliveries
//! per CPU-second of every process in the run, the daemon and this one, against requests per
//! CPU-second of the bare client and receiver). A busy machine slows the baseline more than
//! the daemon, so it inflates the wall-clock ratio; the CPU ratio does not move with load.
//! The CPU other processes used meanwhile is read from `/proc/stat` and a measurement where
//! it passes [`NOISY_SHARE`] of the machine is flagged as noisy.
//!
//! Every scenario checks a ledger: `published = delivered + failed + skipped + pending` (from
//! the daemon's `/v1/stats`), and every published event must have reached the receiver as
//! often as it has webhooks (except in `flaky`, where exhausted ones are counted as failed).

mod cpu;
mod receiver;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio_util::sync::CancellationToken;

pub use cpu::NOISY_SHARE;
use cpu::{Snapshot, Span};
use receiver::{Ledger, now_us};

/// A benchmark scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scenario {
    /// One webhook, ~1 KB events, durable SQLite.
    Plain,
    /// The same through a WebAssembly plugin (`--plugin`, the `redact` example by default).
    Plugin,
    /// Each event to many webhooks (`--webhooks`, default 1000).
    Fanout,
    /// The receiver fails 30 % of requests with 503, so deliveries are retried.
    Flaky,
    /// Events queued while the webhook is paused (receiver "down"), then drained.
    Backlog,
    /// A healthy webhook's latency beside a hanging one and a rate-limited backlog, on the
    /// default `[delivery]` settings (see [`ISOLATION`]).
    Isolation,
}

/// The `isolation` scenario's neighbours: `hang` never answers (timeout 10 s), `slow` is
/// limited to 5 requests a second with a large backlog; the healthy webhook gets
/// `--events` events (default 200) at 20 a second, and its latency is the figure.
pub const ISOLATION: Isolation = Isolation {
    hang_events: 40,
    hang_timeout_seconds: 10,
    slow_events: 20_000,
    slow_rate_per_second: 5,
    ok_rate_per_second: 20,
};

/// See [`ISOLATION`].
#[derive(Debug, Clone, Copy)]
pub struct Isolation {
    /// Events for the hanging webhook.
    pub hang_events: usize,
    /// Its request timeout.
    pub hang_timeout_seconds: u64,
    /// Events queued for the rate-limited webhook.
    pub slow_events: usize,
    /// Its rate limit.
    pub slow_rate_per_second: u32,
    /// The healthy webhook's publishing rate.
    pub ok_rate_per_second: u32,
}

impl Scenario {
    /// Every scenario, in reporting order.
    pub const ALL: [Scenario; 6] = [
        Scenario::Plain,
        Scenario::Plugin,
        Scenario::Fanout,
        Scenario::Flaky,
        Scenario::Backlog,
        Scenario::Isolation,
    ];

    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Plain => "plain",
            Scenario::Plugin => "plugin",
            Scenario::Fanout => "fanout",
            Scenario::Flaky => "flaky",
            Scenario::Backlog => "backlog",
            Scenario::Isolation => "isolation",
        }
    }

    /// Parses a name.
    pub fn parse(s: &str) -> Option<Scenario> {
        Scenario::ALL.into_iter().find(|x| x.name() == s)
    }
}

/// Where the benchmark daemon keeps its store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StoreChoice {
    /// SQLite on disk, `synchronous = FULL` (every commit flushed): the product's default.
    Sqlite,
    /// SQLite on a RAM-backed tmpfs (`/dev/shm`): isolates the disk's flush cost.
    Memory,
}

/// Benchmark settings.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Scenarios to run.
    pub scenarios: Vec<Scenario>,
    /// Events per scenario (`None`: each scenario's default).
    pub events: Option<usize>,
    /// Concurrent publishers, and the daemon's worker count.
    pub concurrency: usize,
    /// Webhooks in `fanout`.
    pub webhooks: usize,
    /// Events per batch request.
    pub batch: usize,
    /// Approximate event body size, bytes.
    pub body_bytes: usize,
    /// Plugin for the `plugin` scenario.
    pub plugin: Option<PathBuf>,
    /// Its `plugin_config` (JSON; `None`: the `redact` example's, [`REDACT_BENCH_CONFIG`]).
    pub plugin_config: Option<serde_json::Value>,
    /// Store placement.
    pub store: StoreChoice,
    /// The `hookline` binary to run as the daemon.
    pub hookline: PathBuf,
}

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The daemon could not be started or talked to.
    #[error("daemon: {0}")]
    Daemon(String),
    /// The receiver or the client failed.
    #[error("io: {0}")]
    Io(String),
    /// Deliveries did not arrive in time.
    #[error("scenario {scenario}: {message}")]
    Stalled {
        /// The scenario.
        scenario: &'static str,
        /// What is missing.
        message: String,
    },
}

/// The ledger of one scenario.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerReport {
    /// Deliveries published (events × webhooks).
    pub published: u64,
    /// Delivered (store).
    pub delivered: u64,
    /// Failed or exhausted (store).
    pub failed: u64,
    /// Skipped by a plugin (store).
    pub skipped: u64,
    /// Still pending (store).
    pub pending: u64,
    /// Events the receiver saw as often as expected.
    pub received_complete: u64,
    /// Deliveries the receiver saw more than once (at-least-once duplicates).
    pub duplicates: u64,
    /// `published == delivered + failed + skipped + pending`.
    pub balanced: bool,
}

/// Figures of one scenario.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScenarioReport {
    /// Scenario name.
    pub scenario: String,
    /// Events published.
    pub events: u64,
    /// Webhooks per event.
    pub webhooks: u64,
    /// Events accepted per second through `/v1/events/batch`.
    pub accepted_per_sec: f64,
    /// Events accepted per second through single `/v1/events` (plain only).
    pub single_ingest_per_sec: Option<f64>,
    /// Deliveries per second, first publish to last delivery (drain phase for backlog).
    pub deliveries_per_sec: f64,
    /// Ratio of `deliveries_per_sec` to the baseline (the mean of the rounds before and
    /// after this scenario).
    pub ratio_to_baseline: f64,
    /// The baseline this scenario is compared with: the mean of the rounds before and after
    /// it, requests per second.
    #[serde(default)]
    pub baseline_per_sec: f64,
    /// CPU-normalised ratio: deliveries per CPU-second of the daemon and the benchmark
    /// process together, against the bare client's and receiver's requests per CPU-second
    /// in the neighbouring rounds. Moves with what the daemon costs, not with machine load.
    #[serde(default)]
    pub cpu_ratio_to_baseline: f64,
    /// CPU of every process taking part (daemon, publisher, receiver) per delivery, µs.
    #[serde(default)]
    pub run_cpu_us_per_delivery: f64,
    /// Share of the machine's CPU that other processes used while this scenario was
    /// measured, 0 to 1.
    #[serde(default)]
    pub other_cpu_share: f64,
    /// `other_cpu_share` passed [`NOISY_SHARE`]: the wall-clock figures are unreliable.
    #[serde(default)]
    pub noisy: bool,
    /// Event-to-delivery latency percentiles, ms.
    pub latency_p50_ms: Option<f64>,
    /// p99.
    pub latency_p99_ms: Option<f64>,
    /// p99.9.
    pub latency_p999_ms: Option<f64>,
    /// p99 at half the maximum rate (plain only), ms.
    pub half_rate_p99_ms: Option<f64>,
    /// p50 at half the maximum rate (plain only), ms.
    pub half_rate_p50_ms: Option<f64>,
    /// At half the maximum rate, how long the publisher waited for its `202` (the event
    /// durably committed): p50 and p99, ms. The part of the event-to-delivery latency that
    /// is the commit.
    pub half_rate_ingest_p50_ms: Option<f64>,
    /// p99 of the same.
    pub half_rate_ingest_p99_ms: Option<f64>,
    /// The daemon's peak resident memory, MB.
    pub peak_rss_mb: f64,
    /// The daemon's CPU seconds per 1,000 deliveries.
    pub cpu_seconds_per_1000: f64,
    /// The ledger.
    pub ledger: LedgerReport,
    /// The plugin's figures from the daemon's `/v1/stats` at the end (plugin scenario).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin: Option<hookline_contract::PluginFigures>,
}

/// The `plugin_config` the plugin scenario gives the `redact` example: remove the padding,
/// mask the resource id.
pub const REDACT_BENCH_CONFIG: &str = r#"{"remove": ["data.pad"], "mask": ["resource.id"]}"#;

/// One round of the bare-client baseline.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct BaselineRound {
    /// Requests per second.
    pub requests_per_sec: f64,
    /// CPU of the client and the receiver per request, µs.
    pub cpu_us_per_request: f64,
    /// Share of the machine's CPU other processes used during the round, 0 to 1.
    pub other_cpu_share: f64,
    /// `other_cpu_share` passed [`NOISY_SHARE`].
    pub noisy: bool,
}

/// A whole run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    /// Bare-client requests per second against the same receiver: the median of the rounds.
    pub baseline_per_sec: f64,
    /// Every baseline round in order: one before the first scenario, one after each.
    #[serde(default)]
    pub baseline_rounds: Vec<BaselineRound>,
    /// The share of the machine other processes may use before a measurement is flagged
    /// as noisy ([`NOISY_SHARE`]).
    #[serde(default)]
    pub noise_threshold: f64,
    /// Concurrency used.
    pub concurrency: usize,
    /// Body size, bytes.
    pub body_bytes: usize,
    /// Store placement.
    pub store: Option<StoreChoice>,
    /// The scenarios.
    pub scenarios: Vec<ScenarioReport>,
}

impl BenchReport {
    /// True when every scenario's ledger balanced.
    pub fn balanced(&self) -> bool {
        self.scenarios.iter().all(|s| s.ledger.balanced)
    }

    /// True when any scenario or baseline round was measured on a busy machine.
    pub fn noisy(&self) -> bool {
        self.scenarios.iter().any(|s| s.noisy) || self.baseline_rounds.iter().any(|r| r.noisy)
    }

    /// A text table.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let rounds: Vec<String> = self
            .baseline_rounds
            .iter()
            .map(|r| format!("{:.0}", r.requests_per_sec))
            .collect();
        let cpu_per_request = mean(self.baseline_rounds.iter().map(|r| r.cpu_us_per_request));
        let _ = writeln!(
            out,
            "baseline (bare reqwest client, concurrency {}, {} B bodies): {:.0} req/s median of \
             {} rounds ({}), {:.1} µs CPU per request",
            self.concurrency,
            self.body_bytes,
            self.baseline_per_sec,
            rounds.len(),
            rounds.join(", "),
            cpu_per_request
        );
        let _ = writeln!(
            out,
            "{:<8} {:>8} {:>10} {:>10} {:>7} {:>7} {:>8} {:>8} {:>8} {:>8} {:>9} {:>8} {:>9} {:>6} \
             ledger",
            "scenario",
            "events",
            "accept/s",
            "deliver/s",
            "ratio",
            "cpu rat",
            "µs/deliv",
            "p50 ms",
            "p99 ms",
            "p999 ms",
            "½rate p99",
            "RSS MB",
            "cpu/1k s",
            "other"
        );
        let ms = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.1}"));
        for s in &self.scenarios {
            let _ = writeln!(
                out,
                "{:<8} {:>8} {:>10.0} {:>10.0} {:>7.3} {:>7.3} {:>8.1} {:>8} {:>8} {:>8} {:>9} {:>8.1} \
                 {:>9.3} {:>5.0}% {}",
                s.scenario,
                s.events,
                s.accepted_per_sec,
                s.deliveries_per_sec,
                s.ratio_to_baseline,
                s.cpu_ratio_to_baseline,
                s.run_cpu_us_per_delivery,
                ms(s.latency_p50_ms),
                ms(s.latency_p99_ms),
                ms(s.latency_p999_ms),
                ms(s.half_rate_p99_ms),
                s.peak_rss_mb,
                s.cpu_seconds_per_1000,
                s.other_cpu_share * 100.0,
                if s.ledger.balanced {
                    format!(
                        "ok ({} delivered, {} failed, {} skipped, {} pending, {} dup)",
                        s.ledger.delivered,
                        s.ledger.failed,
                        s.ledger.skipped,
                        s.ledger.pending,
                        s.ledger.duplicates
                    )
                } else {
                    format!("UNBALANCED {:?}", s.ledger)
                }
            );
            if let Some(f) = &s.plugin {
                let us = |v: Option<u64>| v.map_or("-".to_owned(), |v| v.to_string());
                let _ = writeln!(
                    out,
                    "         plugin {}: {} calls, call mean {} µs p99 {} µs, instantiate mean {} µs \
                     p99 {} µs, fuel {} per call, memory up to {:.1} MiB, {} errors",
                    f.plugin,
                    f.calls,
                    us(f.call_mean_us),
                    us(f.call_p99_us),
                    us(f.instantiate_mean_us),
                    us(f.instantiate_p99_us),
                    us(f.fuel_mean),
                    f.memory_max_bytes as f64 / (1024.0 * 1024.0),
                    f.error_total()
                );
            }
            if let Some(single) = s.single_ingest_per_sec {
                let _ = writeln!(out, "         single-event ingest: {single:.0} events/s");
            }
            if s.half_rate_p99_ms.is_some() {
                let _ = writeln!(
                    out,
                    "         at half rate: event to delivery p50 {} ms, p99 {} ms; \
                     ingest until 202 (durable) p50 {} ms, p99 {} ms",
                    ms(s.half_rate_p50_ms),
                    ms(s.half_rate_p99_ms),
                    ms(s.half_rate_ingest_p50_ms),
                    ms(s.half_rate_ingest_p99_ms),
                );
            }
        }
        if self.noisy() {
            let mut busy: Vec<String> = self
                .baseline_rounds
                .iter()
                .enumerate()
                .filter(|(_, r)| r.noisy)
                .map(|(i, r)| {
                    format!(
                        "baseline round {} ({:.0}%)",
                        i + 1,
                        r.other_cpu_share * 100.0
                    )
                })
                .collect();
            busy.extend(
                self.scenarios
                    .iter()
                    .filter(|s| s.noisy)
                    .map(|s| format!("{} ({:.0}%)", s.scenario, s.other_cpu_share * 100.0)),
            );
            let _ = writeln!(
                out,
                "NOISY: other processes used more than {:.0}% of the machine's CPU during {}; \
                 the wall-clock ratios are unreliable, compare the cpu ratios",
                self.noise_threshold * 100.0,
                busy.join(", ")
            );
        }
        out
    }
}

/// The mean of `values` (0 when there are none).
fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = values.fold((0.0, 0usize), |(sum, n), v| (sum + v, n + 1));
    if n == 0 { 0.0 } else { sum / n as f64 }
}

fn default_events(s: Scenario) -> usize {
    match s {
        Scenario::Plain | Scenario::Plugin => 50_000,
        Scenario::Fanout => 100,
        Scenario::Flaky => 10_000,
        Scenario::Backlog => 1_000_000,
        Scenario::Isolation => 200,
    }
}

/// Runs the benchmark.
pub async fn run(opts: &BenchOptions) -> Result<BenchReport, BenchError> {
    let concurrency = opts.concurrency.max(1);
    let mut report = BenchReport {
        baseline_per_sec: 0.0,
        baseline_rounds: vec![baseline_round(opts).await?],
        noise_threshold: NOISY_SHARE,
        concurrency,
        body_bytes: opts.body_bytes,
        store: Some(opts.store),
        scenarios: Vec::new(),
    };
    for &scenario in &opts.scenarios {
        let events = match (scenario, opts.events) {
            // Published at a fixed rate: at most 1,000 (50 s), whatever the others get.
            (Scenario::Isolation, Some(n)) => n.min(1_000),
            (_, Some(n)) => n,
            (_, None) => default_events(scenario),
        };
        let mut s = run_scenario(opts, scenario, events).await?;
        let before = *report
            .baseline_rounds
            .last()
            .unwrap_or(&BaselineRound::default());
        let after = baseline_round(opts).await?;
        report.baseline_rounds.push(after);
        // The healthy webhook's rate is the publisher's: no ratio to a baseline.
        if scenario != Scenario::Isolation {
            compare_with_baseline(&mut s, &before, &after);
        }
        report.scenarios.push(s);
    }
    let mut rounds: Vec<f64> = report
        .baseline_rounds
        .iter()
        .map(|r| r.requests_per_sec)
        .collect();
    rounds.sort_by(f64::total_cmp);
    report.baseline_per_sec = rounds.get(rounds.len() / 2).copied().unwrap_or(0.0);
    Ok(report)
}

/// Sets a scenario's ratios against the baseline rounds measured just before and after it.
fn compare_with_baseline(s: &mut ScenarioReport, before: &BaselineRound, after: &BaselineRound) {
    let rounds = [before, after];
    let per_sec = mean(rounds.iter().map(|r| r.requests_per_sec));
    let cpu_per_request = mean(rounds.iter().map(|r| r.cpu_us_per_request));
    s.baseline_per_sec = per_sec;
    s.ratio_to_baseline = if per_sec > 0.0 {
        s.deliveries_per_sec / per_sec
    } else {
        0.0
    };
    s.cpu_ratio_to_baseline = if s.run_cpu_us_per_delivery > 0.0 {
        cpu_per_request / s.run_cpu_us_per_delivery
    } else {
        0.0
    };
}

fn client(concurrency: usize) -> Result<reqwest::Client, BenchError> {
    reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency * 2)
        .tcp_nodelay(true)
        .http1_only()
        .no_proxy()
        .build()
        .map_err(|e| BenchError::Io(e.to_string()))
}

fn event_json(out: &mut String, seq: usize, pad: &str) {
    typed_event_json(out, "bench.event", seq, pad);
}

fn typed_event_json(out: &mut String, event_type: &str, seq: usize, pad: &str) {
    let _ = write!(
        out,
        r#"{{"type":"{event_type}","resource":{{"id":"r{seq}","type":"bench"}},"data":{{"seq":{seq},"sent_us":{},"pad":"{pad}"}}}}"#,
        now_us()
    );
}

/// Requests in a baseline round at the least.
const BASELINE_MIN_REQUESTS: usize = 5_000;

/// One round of the baseline: the same receiver hit by a bare reqwest client.
async fn baseline_round(opts: &BenchOptions) -> Result<BaselineRound, BenchError> {
    // At least a few thousand requests whatever `--events` says (fanout takes few events):
    // `/proc` counts CPU in 10 ms ticks, so a shorter round has no CPU figure to speak of.
    let n = opts
        .events
        .unwrap_or(50_000)
        .clamp(BASELINE_MIN_REQUESTS, 50_000);
    let ledger = Arc::new(Ledger::new(n));
    let stop = CancellationToken::new();
    let addr = receiver::start(ledger.clone(), stop.clone())
        .await
        .map_err(|e| BenchError::Io(e.to_string()))?;
    let url = format!("http://{addr}/hook");
    let client = client(opts.concurrency)?;
    let pad = "x".repeat(opts.body_bytes.saturating_sub(200));
    let next = Arc::new(AtomicUsize::new(0));
    let started = Snapshot::take(None);
    let mut tasks = Vec::new();
    for _ in 0..opts.concurrency.max(1) {
        let (client, url, next, pad) = (client.clone(), url.clone(), next.clone(), pad.clone());
        tasks.push(tokio::spawn(async move {
            let mut body = String::with_capacity(pad.len() + 256);
            loop {
                let seq = next.fetch_add(1, Relaxed);
                if seq >= n {
                    return Ok::<(), reqwest::Error>(());
                }
                body.clear();
                // The same body shape the engine delivers (the origin's envelope).
                let _ = write!(
                    body,
                    r#"{{"event":"bench.event","timestamp":"2026-01-01T00:00:00.000000001Z","resource":{{"id":"r{seq}","type":"bench"}},"data":{{"seq":{seq},"sent_us":{},"pad":"{pad}"}}}}"#,
                    now_us()
                );
                client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await?
                    .bytes()
                    .await?;
            }
        }));
    }
    for t in tasks {
        t.await
            .map_err(|e| BenchError::Io(e.to_string()))?
            .map_err(|e| BenchError::Io(e.to_string()))?;
    }
    let span = Snapshot::take(None).since(&started);
    stop.cancel();
    Ok(BaselineRound {
        requests_per_sec: n as f64 / span.elapsed,
        cpu_us_per_request: span.ours() / n as f64 * 1e6,
        other_cpu_share: span.other_share(),
        noisy: span.noisy(),
    })
}

/// A benchmark daemon: a child `hookline serve`.
struct Child {
    child: tokio::process::Child,
    pid: u32,
    url: String,
    token: String,
    http: reqwest::Client,
    dir: PathBuf,
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Child {
    async fn start(opts: &BenchOptions, scenario: Scenario) -> Result<Child, BenchError> {
        let base = match opts.store {
            StoreChoice::Memory => PathBuf::from("/dev/shm"),
            StoreChoice::Sqlite => std::env::temp_dir(),
        };
        let dir = base.join(format!(
            "hookline-bench-{}-{}",
            std::process::id(),
            scenario.name()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| BenchError::Io(e.to_string()))?;
        let token = crate::daemon::generate_token();
        let workers = opts.concurrency.max(1);
        let (attempts, schedule) = match scenario {
            Scenario::Flaky => (10, "[1]"),
            _ => (3, "[1, 2]"),
        };
        // The isolation scenario runs on the defaults a new user gets.
        let delivery = match scenario {
            Scenario::Isolation => String::new(),
            _ => format!(
                "workers = {workers}\n\
                 max_concurrency_per_webhook = {workers}\n\
                 max_attempts = {attempts}\n\
                 retry_schedule_seconds = {schedule}\n\
                 retry_jitter = 0.0\n\
                 queue_capacity = 20000\n\
                 breaker_failure_threshold = 1000000\n"
            ),
        };
        let config = format!(
            r#"
[server]
listen = "127.0.0.1:0"
token = "{token}"
data_dir = "{dir}"
[store]
path = "{dir}/hookline.db"
[security]
allowed_networks = ["127.0.0.0/8"]
[delivery]
{delivery}
[log]
level = "warn"
"#,
            dir = dir.display()
        );
        let config_path = dir.join("bench.toml");
        std::fs::write(&config_path, config).map_err(|e| BenchError::Io(e.to_string()))?;
        let mut child = tokio::process::Command::new(&opts.hookline)
            .arg("serve")
            .arg("--config")
            .arg(&config_path)
            .env_remove("HOOKLINE_API_TOKEN")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| BenchError::Daemon(format!("{}: {e}", opts.hookline.display())))?;
        let pid = child.id().unwrap_or(0);
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| BenchError::Daemon("no stdout".into()))?;
        let mut lines = BufReader::new(stdout).lines();
        let url = tokio::time::timeout(Duration::from_secs(30), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(url) = line.strip_prefix("hookline: listening on ") {
                    return Some(url.trim().to_owned());
                }
            }
            None
        })
        .await
        .ok()
        .flatten()
        .ok_or_else(|| BenchError::Daemon("the daemon did not start listening".into()))?;
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Child {
            child,
            pid,
            url,
            token,
            http: client(opts.concurrency)?,
            dir,
        })
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<serde_json::Value, BenchError> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| BenchError::Daemon(e.to_string()))?;
        let status = resp.status();
        let text = resp
            .text()
            .await
            .map_err(|e| BenchError::Daemon(e.to_string()))?;
        if !status.is_success() {
            return Err(BenchError::Daemon(format!("{path}: {status}: {text}")));
        }
        if text.is_empty() {
            return Ok(serde_json::Value::Null);
        }
        serde_json::from_str(&text).map_err(|e| BenchError::Daemon(format!("{path}: {e}")))
    }

    /// The counters now, the daemon's included.
    fn snapshot(&self) -> Snapshot {
        Snapshot::take(Some(self.pid))
    }

    /// The daemon's peak resident memory, MB, from `/proc` (0 elsewhere).
    fn peak_rss_mb(&self) -> f64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.pid))
            .ok()
            .and_then(|s| {
                let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
                let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
                Some(kb / 1024.0)
            })
            .unwrap_or(0.0)
    }
}

/// Writes a batch body `{"events":[…]}` for `seqs` into `body`.
fn batch_json(body: &mut String, seqs: std::ops::Range<usize>, pad: &str) {
    body.push_str(r#"{"events":["#);
    let first = seqs.start;
    for seq in seqs {
        if seq > first {
            body.push(',');
        }
        event_json(body, seq, pad);
    }
    body.push_str("]}");
}

/// Publishes `range` as fast as `concurrency` publishers can: `Some(n)` posts `n` events a
/// request to `POST /v1/events/batch`, `None` one event a request to `POST /v1/events`.
/// Returns events/s.
async fn publish(
    child: &Arc<Child>,
    range: std::ops::Range<usize>,
    concurrency: usize,
    batch: Option<usize>,
    pad: &Arc<String>,
) -> Result<f64, BenchError> {
    let single = batch.is_none();
    let per_request = batch.unwrap_or(1).max(1);
    let next = Arc::new(AtomicUsize::new(range.start));
    let end = range.end;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (child, next, pad) = (child.clone(), next.clone(), pad.clone());
        tasks.push(tokio::spawn(async move {
            let url = match single {
                true => format!("{}/v1/events", child.url),
                false => format!("{}/v1/events/batch", child.url),
            };
            let mut body = String::with_capacity(per_request * (pad.len() + 160) + 16);
            loop {
                let first = next.fetch_add(per_request, Relaxed);
                if first >= end {
                    return Ok::<(), BenchError>(());
                }
                let last = (first + per_request).min(end);
                body.clear();
                match single {
                    true => event_json(&mut body, first, &pad),
                    false => batch_json(&mut body, first..last, &pad),
                }
                let resp = child
                    .http
                    .post(&url)
                    .bearer_auth(&child.token)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await
                    .map_err(|e| BenchError::Daemon(e.to_string()))?;
                let status = resp.status();
                let text = resp.text().await.unwrap_or_default();
                if status.as_u16() != 202 {
                    return Err(BenchError::Daemon(format!(
                        "ingest answered {status}: {text}"
                    )));
                }
            }
        }));
    }
    for t in tasks {
        t.await.map_err(|e| BenchError::Io(e.to_string()))??;
    }
    Ok((end - range.start) as f64 / started.elapsed().as_secs_f64())
}

/// Publishes `range` at `rate` events/s in small batches (latency at a sustainable rate).
/// Returns how long each request waited for its answer, ms, sorted.
async fn publish_paced(
    child: &Arc<Child>,
    range: std::ops::Range<usize>,
    rate: f64,
    pad: &Arc<String>,
) -> Result<Vec<f64>, BenchError> {
    let batch = 10usize;
    let interval = Duration::from_secs_f64(batch as f64 / rate.max(1.0));
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut inflight = tokio::task::JoinSet::new();
    let mut seq = range.start;
    while seq < range.end {
        tick.tick().await;
        let last = (seq + batch).min(range.end);
        let (child, pad) = (child.clone(), pad.clone());
        let first = seq;
        inflight.spawn(async move {
            let mut body = String::new();
            batch_json(&mut body, first..last, &pad);
            let sent = Instant::now();
            let resp = child
                .http
                .post(format!("{}/v1/events/batch", child.url))
                .bearer_auth(&child.token)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await?;
            let status = resp.status();
            let text = resp.text().await?;
            Ok::<_, reqwest::Error>((sent.elapsed().as_secs_f64() * 1000.0, status, text))
        });
        seq = last;
    }
    let mut waited = Vec::new();
    while let Some(r) = inflight.join_next().await {
        let (ms, status, text) = r
            .map_err(|e| BenchError::Io(e.to_string()))?
            .map_err(|e| BenchError::Daemon(e.to_string()))?;
        if status.as_u16() != 202 {
            return Err(BenchError::Daemon(format!(
                "ingest answered {status}: {text}"
            )));
        }
        waited.push(ms);
    }
    waited.sort_by(f64::total_cmp);
    Ok(waited)
}

/// The value under which `q` of the sorted `values` fall.
fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    Some(sorted[((last as f64) * q).round() as usize])
}

async fn wait_delivered(
    ledger: &Ledger,
    scenario: Scenario,
    events: usize,
    times: u16,
    allow_failed: bool,
    child: &Child,
) -> Result<(), BenchError> {
    let mut last_progress = (0usize, Instant::now());
    loop {
        let (complete, _) = ledger.coverage(times);
        if complete >= events {
            return Ok(());
        }
        if allow_failed {
            let stats = child.call(reqwest::Method::GET, "/v1/stats", None).await?;
            let pending = stats["store"]["deliveries"]["pending"]
                .as_u64()
                .unwrap_or(0)
                + stats["store"]["deliveries"]["in_flight"]
                    .as_u64()
                    .unwrap_or(0);
            if pending == 0 && stats["store"]["events"].as_u64().unwrap_or(0) >= events as u64 {
                return Ok(());
            }
        }
        if complete > last_progress.0 {
            last_progress = (complete, Instant::now());
        } else if last_progress.1.elapsed() > Duration::from_secs(60) {
            return Err(BenchError::Stalled {
                scenario: scenario.name(),
                message: format!("{complete} of {events} events delivered; no progress for 60 s"),
            });
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// How long the ledger waits for deliveries the receiver has seen to be recorded as such.
const SETTLE_TIME: Duration = Duration::from_secs(10);

async fn ledger_report(
    child: &Child,
    ledger: &Ledger,
    published: u64,
    times: u16,
) -> Result<LedgerReport, BenchError> {
    // The receiver can see a delivery a moment before the daemon has committed its result:
    // give the last results time to land, so the ledger reads the settled state.
    let unsettled = |stats: &serde_json::Value| {
        let d = &stats["store"]["deliveries"];
        d["pending"].as_u64().unwrap_or(0) + d["in_flight"].as_u64().unwrap_or(0)
    };
    let settle = Instant::now();
    let stats = loop {
        let stats = child.call(reqwest::Method::GET, "/v1/stats", None).await?;
        if unsettled(&stats) == 0 || settle.elapsed() > SETTLE_TIME {
            break stats;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let d = &stats["store"]["deliveries"];
    let get = |k: &str| d[k].as_u64().unwrap_or(0);
    let delivered = get("delivered");
    let failed = get("failed") + get("exhausted") + get("canceled");
    let skipped = get("skipped");
    let pending = unsettled(&stats);
    let (complete, duplicates) = ledger.coverage(times);
    Ok(LedgerReport {
        published,
        delivered,
        failed,
        skipped,
        pending,
        received_complete: complete as u64,
        duplicates,
        balanced: published == delivered + failed + skipped + pending,
    })
}

async fn run_scenario(
    opts: &BenchOptions,
    scenario: Scenario,
    events: usize,
) -> Result<ScenarioReport, BenchError> {
    if scenario == Scenario::Isolation {
        return run_isolation(opts, events).await;
    }
    let webhooks = match scenario {
        Scenario::Fanout => opts.webhooks.max(1),
        _ => 1,
    };
    let plugin = match scenario {
        Scenario::Plugin => Some(opts.plugin.clone().ok_or_else(|| {
            BenchError::Daemon(
                "the plugin scenario needs --plugin FILE.wasm (build plugins/redact first)".into(),
            )
        })?),
        _ => None,
    };
    let single_events = if scenario == Scenario::Plain {
        (events / 10).clamp(100, 5_000)
    } else {
        0
    };
    let half_events = if scenario == Scenario::Plain {
        (events / 5).max(100)
    } else {
        0
    };
    let total = events + single_events + half_events;
    let ledger = Arc::new(Ledger::new(total));
    let stop = CancellationToken::new();
    let addr = receiver::start(ledger.clone(), stop.clone())
        .await
        .map_err(|e| BenchError::Io(e.to_string()))?;
    let child = Arc::new(Child::start(opts, scenario).await?);
    let hook_url = format!("http://{addr}/hook");
    for i in 0..webhooks {
        let mut spec = serde_json::json!({
            "id": format!("bench-{i}"),
            "url": hook_url,
            "events": ["bench.*"],
            "scheme": "standard",
        });
        if let Some(path) = &plugin {
            spec["plugin"] = serde_json::json!(absolute(path).display().to_string());
            spec["plugin_config"] = match &opts.plugin_config {
                Some(config) => config.clone(),
                None => serde_json::from_str(REDACT_BENCH_CONFIG)
                    .map_err(|e| BenchError::Daemon(format!("the redact bench config: {e}")))?,
            };
        }
        child
            .call(reqwest::Method::POST, "/v1/webhooks", Some(spec))
            .await?;
    }
    if scenario == Scenario::Flaky {
        ledger.fail_per_mille.store(300, Relaxed);
    }
    if scenario == Scenario::Backlog {
        child
            .call(reqwest::Method::POST, "/v1/webhooks/bench-0/pause", None)
            .await?;
    }
    let pad = Arc::new("x".repeat(opts.body_bytes.saturating_sub(200)));
    let batch = match scenario {
        Scenario::Fanout => 1,
        _ => opts.batch.max(1),
    };
    let cpu0 = child.snapshot();
    let accepted_per_sec = publish(&child, 0..events, opts.concurrency, Some(batch), &pad).await?;
    let cpu_drain0 = child.snapshot();
    if scenario == Scenario::Backlog {
        child
            .call(reqwest::Method::POST, "/v1/webhooks/bench-0/resume", None)
            .await?;
    }
    let times = webhooks as u16;
    wait_delivered(
        &ledger,
        scenario,
        events,
        times,
        scenario == Scenario::Flaky,
        &child,
    )
    .await?;
    let cpu1 = child.snapshot();
    let deliveries = (events * webhooks) as f64;
    // The backlog's figures are its drain's: the events were published while it was paused.
    let span: Span = match scenario {
        Scenario::Backlog => cpu1.since(&cpu_drain0),
        _ => cpu1.since(&cpu0),
    };
    let deliveries_per_sec = deliveries / span.elapsed;
    let p50 = ledger.latency_quantile_ms(0.5);
    let p99 = ledger.latency_quantile_ms(0.99);
    let p999 = ledger.latency_quantile_ms(0.999);

    let mut single_ingest_per_sec = None;
    let mut half_rate_p99_ms = None;
    let mut half_rate_p50_ms = None;
    let mut half_rate_ingest_p50_ms = None;
    let mut half_rate_ingest_p99_ms = None;
    if scenario == Scenario::Plain {
        let range = events..events + single_events;
        single_ingest_per_sec =
            Some(publish(&child, range.clone(), opts.concurrency, None, &pad).await?);
        wait_delivered(&ledger, scenario, events + single_events, 1, false, &child).await?;
        ledger.reset_latency();
        let range = events + single_events..total;
        let waited = publish_paced(&child, range, deliveries_per_sec / 2.0, &pad).await?;
        wait_delivered(&ledger, scenario, total, 1, false, &child).await?;
        half_rate_p99_ms = ledger.latency_quantile_ms(0.99);
        half_rate_p50_ms = ledger.latency_quantile_ms(0.5);
        half_rate_ingest_p50_ms = quantile(&waited, 0.5);
        half_rate_ingest_p99_ms = quantile(&waited, 0.99);
    }
    let published = (total * webhooks) as u64;
    let ledger_report = ledger_report(&child, &ledger, published, times).await?;
    let plugin_figures = match &plugin {
        Some(path) => {
            let stats = child.call(reqwest::Method::GET, "/v1/stats", None).await?;
            let stats: hookline_contract::Stats = serde_json::from_value(stats)
                .map_err(|e| BenchError::Daemon(format!("/v1/stats: {e}")))?;
            let name = absolute(path).display().to_string();
            stats.plugins.into_iter().find(|f| f.plugin == name)
        }
        None => None,
    };
    let peak_rss_mb = child.peak_rss_mb();
    stop.cancel();
    Ok(ScenarioReport {
        scenario: scenario.name().to_owned(),
        events: total as u64,
        webhooks: webhooks as u64,
        accepted_per_sec,
        single_ingest_per_sec,
        deliveries_per_sec,
        run_cpu_us_per_delivery: span.ours() / deliveries * 1e6,
        other_cpu_share: span.other_share(),
        noisy: span.noisy(),
        latency_p50_ms: p50,
        latency_p99_ms: p99,
        latency_p999_ms: p999,
        half_rate_p99_ms,
        half_rate_p50_ms,
        half_rate_ingest_p50_ms,
        half_rate_ingest_p99_ms,
        peak_rss_mb,
        cpu_seconds_per_1000: span.daemon / deliveries * 1000.0,
        ledger: ledger_report,
        plugin: plugin_figures,
        ..ScenarioReport::default()
    })
}

/// `path` made absolute (the child daemon runs elsewhere); a built-in plugin's name
/// (`builtin:javascript`) as is.
fn absolute(path: &Path) -> PathBuf {
    if path
        .to_str()
        .is_some_and(hookline_plugin::builtin::is_builtin_name)
    {
        return path.to_owned();
    }
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}

/// Posts `{"events":[…]}` of `event_type` events numbered `seqs`.
async fn post_typed(
    child: &Child,
    event_type: &str,
    seqs: std::ops::Range<usize>,
    pad: &str,
) -> Result<(), BenchError> {
    let mut body = String::from(r#"{"events":["#);
    let first = seqs.start;
    for seq in seqs {
        if seq > first {
            body.push(',');
        }
        typed_event_json(&mut body, event_type, seq, pad);
    }
    body.push_str("]}");
    let resp = child
        .http
        .post(format!("{}/v1/events/batch", child.url))
        .bearer_auth(&child.token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .map_err(|e| BenchError::Daemon(e.to_string()))?;
    let status = resp.status();
    if status.as_u16() != 202 {
        let text = resp.text().await.unwrap_or_default();
        return Err(BenchError::Daemon(format!(
            "ingest answered {status}: {text}"
        )));
    }
    Ok(())
}

/// The `isolation` scenario ([`ISOLATION`]): the healthy webhook's event-to-delivery
/// latency while its neighbours hang and drain a backlog. `deliveries_per_sec` is the
/// healthy webhook's (its publishing rate when nothing holds it back).
async fn run_isolation(opts: &BenchOptions, events: usize) -> Result<ScenarioReport, BenchError> {
    let iso = ISOLATION;
    let ledger = Arc::new(Ledger::new(events));
    let stop = CancellationToken::new();
    let addr = receiver::start(ledger.clone(), stop.clone())
        .await
        .map_err(|e| BenchError::Io(e.to_string()))?;
    let child = Arc::new(Child::start(opts, Scenario::Isolation).await?);
    for spec in [
        serde_json::json!({
            "id": "hang", "url": format!("http://{addr}/hang"), "events": ["hang.*"],
            "timeout_seconds": iso.hang_timeout_seconds,
        }),
        serde_json::json!({
            "id": "slow", "url": format!("http://{addr}/slow"), "events": ["slow.*"],
            "rate_limit_per_second": iso.slow_rate_per_second,
        }),
        serde_json::json!({
            "id": "ok", "url": format!("http://{addr}/hook"), "events": ["bench.*"],
            "scheme": "standard",
        }),
    ] {
        child
            .call(reqwest::Method::POST, "/v1/webhooks", Some(spec))
            .await?;
    }
    let pad = "x".repeat(opts.body_bytes.saturating_sub(200));
    post_typed(&child, "hang.event", 0..iso.hang_events, &pad).await?;
    let batch = opts.batch.max(1);
    for first in (0..iso.slow_events).step_by(batch) {
        let last = (first + batch).min(iso.slow_events);
        post_typed(&child, "slow.event", first..last, &pad).await?;
    }

    let cpu0 = child.snapshot();
    let started = Instant::now();
    let interval = Duration::from_secs_f64(1.0 / f64::from(iso.ok_rate_per_second.max(1)));
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    for seq in 0..events {
        tick.tick().await;
        post_typed(&child, "bench.event", seq..seq + 1, &pad).await?;
    }
    let accepted_per_sec = events as f64 / started.elapsed().as_secs_f64();
    wait_delivered(&ledger, Scenario::Isolation, events, 1, false, &child).await?;
    let span = child.snapshot().since(&cpu0);
    let published = (events + iso.hang_events + iso.slow_events) as u64;
    let ledger_report = ledger_report(&child, &ledger, published, 1).await?;
    let peak_rss_mb = child.peak_rss_mb();
    stop.cancel();
    Ok(ScenarioReport {
        scenario: Scenario::Isolation.name().to_owned(),
        events: events as u64,
        webhooks: 3,
        accepted_per_sec,
        deliveries_per_sec: events as f64 / span.elapsed,
        latency_p50_ms: ledger.latency_quantile_ms(0.5),
        latency_p99_ms: ledger.latency_quantile_ms(0.99),
        latency_p999_ms: ledger.latency_quantile_ms(0.999),
        peak_rss_mb,
        cpu_seconds_per_1000: span.daemon / events as f64 * 1000.0,
        run_cpu_us_per_delivery: span.ours() / events as f64 * 1e6,
        other_cpu_share: span.other_share(),
        noisy: span.noisy(),
        ledger: ledger_report,
        ..ScenarioReport::default()
    })
}
