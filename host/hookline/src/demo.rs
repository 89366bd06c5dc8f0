//! `hookline demo`: a self-contained tour. A complete daemon ([`Daemon::start`]) on the
//! embedded defaults plus a few demo settings, a loopback receiver that fails a share of
//! requests, a handful of webhooks that show retries, failures, a disabled endpoint and (when
//! it is built) a plugin, and a stream of synthetic platform events, all in one process.
//!
//! [`Demo::start`] starts everything; [`Demo::banner`] says how to attach the console;
//! [`Demo::stop`] stops it cleanly. The receiver's behaviour, per request:
//!
//! | path | answers |
//! |---|---|
//! | `/billing`, `/audit`, `/security`, `/redacted` | 2% hang past the timeout, 20% `503`, 5% `400`, else `200` after 2–40 ms |
//! | `/gone` | `410 Gone`: the engine disables the webhook at once |
//! | `/down` | always `500`: the breaker opens, retries run out, the webhook is auto-disabled |

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use rand::Rng;
use serde::Serialize;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, ConfigError, process_env};
use crate::daemon::{Daemon, DaemonError, TokenSource};
use hookline_core::event::{
    PermissionEventData, RESOURCE_PERMISSION_REQUEST, RESOURCE_RUNNER, RESOURCE_SESSION,
    RESOURCE_TASK, ResourceInfo, RunnerEventData, SessionEventData, TaskEventData,
};
use hookline_engine::{Engine, EngineError, EventInput};

/// The demo's data directory, apart from `serve`'s `hookline-data/`.
pub const DEMO_DATA_DIR: &str = "hookline-demo-data";
/// Request timeout of the demo's webhooks, seconds; hanging requests outlast it.
pub const DEMO_TIMEOUT_SECONDS: u64 = 5;
/// Continuous failure that disables a webhook in the demo, seconds.
pub const DEMO_AUTO_DISABLE_SECONDS: u64 = 90;
/// Share of requests that hang, answer 503, answer 400 (per mille).
const HANG_PER_MILLE: u32 = 20;
const UNAVAILABLE_PER_MILLE: u32 = 200;
const BAD_REQUEST_PER_MILLE: u32 = 50;
/// Prompts of the synthetic `task.created` events.
const PROMPTS: [&str; 3] = [
    "Fix the flaky invoice test",
    "Refactor the billing module to use the new tax API",
    "Write release notes for 2.4",
];
/// Events are emitted in batches this often.
const EMIT_EVERY: Duration = Duration::from_millis(100);

/// How to run the demo.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoOptions {
    /// Synthetic events per second.
    pub rate: f64,
    /// The daemon's API address.
    pub listen: SocketAddr,
    /// Data directory (store and API token).
    pub data_dir: PathBuf,
    /// The redact plugin; `None` looks for the built example (see [`find_redact_plugin`]).
    pub plugin: Option<PathBuf>,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            rate: 20.0,
            listen: SocketAddr::from(([127, 0, 0, 1], 8420)),
            data_dir: PathBuf::from(DEMO_DATA_DIR),
            plugin: None,
        }
    }
}

/// Why the demo could not start.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The receiver could not listen.
    #[error("demo receiver: {0}")]
    Receiver(std::io::Error),
    /// The demo's configuration was refused (e.g. by a `HOOKLINE_` override).
    #[error("demo configuration: {0}")]
    Config(#[from] ConfigError),
    /// The daemon did not start.
    #[error(transparent)]
    Daemon(#[from] DaemonError),
    /// A rate that is not a positive number.
    #[error("--rate must be a positive number of events per second, not {0}")]
    Rate(f64),
}

pub use crate::example_plugins::{PluginStatus, find_redact_plugin};

/// What the receiver answered, by kind.
#[derive(Debug, Default)]
pub struct ReceiverCounts {
    /// `200`.
    pub ok: AtomicU64,
    /// `503`.
    pub unavailable: AtomicU64,
    /// `400`.
    pub bad_request: AtomicU64,
    /// Never answered.
    pub hung: AtomicU64,
    /// `410`.
    pub gone: AtomicU64,
    /// `500`.
    pub down: AtomicU64,
}

/// A running demo.
#[derive(Debug)]
pub struct Demo {
    daemon: Daemon,
    receiver_addr: SocketAddr,
    receiver: JoinHandle<()>,
    generator: JoinHandle<()>,
    stop: CancellationToken,
    plugin: PluginStatus,
    counts: Arc<ReceiverCounts>,
    emitted: Arc<AtomicU64>,
    rate: f64,
    data_dir: PathBuf,
}

impl Demo {
    /// Starts the receiver, the daemon (with the demo's webhooks) and the event generator.
    pub async fn start(opts: DemoOptions) -> Result<Demo, DemoError> {
        if !(opts.rate.is_finite() && opts.rate > 0.0) {
            return Err(DemoError::Rate(opts.rate));
        }
        let counts = Arc::new(ReceiverCounts::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(DemoError::Receiver)?;
        let receiver_addr = listener.local_addr().map_err(DemoError::Receiver)?;
        let app = Router::new().fallback(receive).with_state(counts.clone());
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        let receiver = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move { stopped.cancelled().await })
                .await;
        });

        let plugin = match &opts.plugin {
            Some(p) => PluginStatus::Found(std::path::absolute(p).unwrap_or_else(|_| p.clone())),
            None => find_redact_plugin(),
        };
        let text = config_text(&opts, receiver_addr, &plugin);
        let config =
            Config::from_toml_str(&text, "hookline demo (built-in settings)", process_env()?)?;
        let daemon = match Daemon::start(config).await {
            Ok(d) => d,
            Err(e) => {
                stop.cancel();
                return Err(e.into());
            }
        };
        let emitted = Arc::new(AtomicU64::new(0));
        let generator = tokio::spawn(generate(
            daemon.engine().clone(),
            opts.rate,
            stop.clone(),
            emitted.clone(),
        ));
        Ok(Demo {
            daemon,
            receiver_addr,
            receiver,
            generator,
            stop,
            plugin,
            counts,
            emitted,
            rate: opts.rate,
            data_dir: opts.data_dir,
        })
    }

    /// The daemon's API address.
    pub fn api_addr(&self) -> SocketAddr {
        self.daemon.local_addr()
    }

    /// The receiver's address.
    pub fn receiver_addr(&self) -> SocketAddr {
        self.receiver_addr
    }

    /// Whether the plugin webhook runs.
    pub fn plugin(&self) -> &PluginStatus {
        &self.plugin
    }

    /// Events emitted so far.
    pub fn emitted(&self) -> u64 {
        self.emitted.load(Relaxed)
    }

    /// What the receiver answered so far.
    pub fn counts(&self) -> &ReceiverCounts {
        &self.counts
    }

    /// What is running and how to attach the console.
    pub fn banner(&self) -> String {
        let api = format!("http://{}", self.api_addr());
        let mut out = String::new();
        let _ = writeln!(
            out,
            "hookline demo: daemon on {api} (data in {}/), receiver on http://{}",
            self.data_dir.display(),
            self.receiver_addr
        );
        let _ = writeln!(
            out,
            "  receiver: {}% hang past the {DEMO_TIMEOUT_SECONDS} s timeout, {}% answer 503, {}% answer 400; retries after 2, 5, 10 s",
            f64::from(HANG_PER_MILLE) / 10.0,
            f64::from(UNAVAILABLE_PER_MILLE) / 10.0,
            f64::from(BAD_REQUEST_PER_MILLE) / 10.0
        );
        let _ = writeln!(out, "  webhooks:");
        let _ = writeln!(out, "    billing     task.*        flaky receiver");
        let _ = writeln!(out, "    audit       *             flaky receiver");
        let _ = writeln!(
            out,
            "    security    permission.*  flaky receiver, Standard Webhooks signatures"
        );
        let _ = writeln!(
            out,
            "    legacy-crm  session.*     answers 410 Gone: disabled at its first delivery"
        );
        let _ = writeln!(
            out,
            "    partner     runner.*      always 500: breaker opens, retries run out, auto-disabled after {DEMO_AUTO_DISABLE_SECONDS} s"
        );
        match &self.plugin {
            PluginStatus::Found(p) => {
                let _ = writeln!(
                    out,
                    "    redacted    permission.*  through the redact plugin ({})",
                    p.display()
                );
            }
            PluginStatus::Missing(paths) => {
                let looked: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
                let _ = writeln!(
                    out,
                    "  (no `redacted` plugin webhook: redact.wasm not found in {}.\n   Build it with `rustup target add wasm32-wasip2 && cargo build --release --target wasm32-wasip2 --manifest-path plugins/Cargo.toml`, or pass --plugin FILE.wasm)",
                    looked.join(", ")
                );
            }
        }
        let _ = writeln!(
            out,
            "  events: {} per second of session.created, task.*, runner.assigned, permission.requested",
            self.rate
        );
        let token = match self.daemon.token_source() {
            TokenSource::File(p) | TokenSource::Generated(p) => {
                format!(" --token-file {}", p.display())
            }
            // The console reads HOOKLINE_API_TOKEN itself.
            TokenSource::Env => String::new(),
            TokenSource::Config => " --token-file FILE (the configured token)".to_owned(),
        };
        let _ = writeln!(out, "\nAttach the console in another terminal:");
        let _ = writeln!(out, "  hookline-console --daemon {api}{token}");
        let _ = writeln!(out, "\nCtrl-C stops the demo.");
        out
    }

    /// One line of progress: events emitted and what the receiver answered.
    pub fn progress(&self) -> String {
        let c = &self.counts;
        format!(
            "hookline demo: {} events emitted; receiver answered {} ok, {} 503, {} 400, {} 410, {} 500, {} left hanging",
            self.emitted(),
            c.ok.load(Relaxed),
            c.unavailable.load(Relaxed),
            c.bad_request.load(Relaxed),
            c.gone.load(Relaxed),
            c.down.load(Relaxed),
            c.hung.load(Relaxed)
        )
    }

    /// Stops the generator, the daemon (deliveries in flight get `grace`) and the receiver.
    pub async fn stop(self, grace: Duration) {
        self.stop.cancel();
        let _ = self.generator.await;
        self.daemon.shutdown(grace).await;
        self.receiver.abort();
        let _ = self.receiver.await;
    }
}

/// The demo's configuration, as TOML over the embedded defaults (so it is validated the same
/// way a user's file is).
fn config_text(opts: &DemoOptions, receiver: SocketAddr, plugin: &PluginStatus) -> String {
    let url = |path: &str| toml_string(&format!("http://{receiver}{path}"));
    let mut text = format!(
        r#"[server]
listen = {listen}
data_dir = {data_dir}

[store]
synchronous = "normal"

[security]
allowed_networks = ["127.0.0.0/8", "::1/128"]

[delivery]
workers = 64
timeout_seconds = {DEMO_TIMEOUT_SECONDS}
max_attempts = 4
retry_schedule_seconds = [2, 5, 10]
breaker_failure_threshold = 10
breaker_cooldown_seconds = 15
auto_disable_after_seconds = {DEMO_AUTO_DISABLE_SECONDS}
retention_hours = 24

[[webhooks]]
id = "billing"
url = {billing}
events = ["task.*"]
description = "Invoices: every task event"

[[webhooks]]
id = "audit"
url = {audit}
events = ["*"]
description = "Audit log: everything"

[[webhooks]]
id = "security"
url = {security}
events = ["permission.*"]
scheme = "standard"
description = "Security team: permission requests"

[[webhooks]]
id = "legacy-crm"
url = {gone}
events = ["session.*"]
description = "A retired endpoint that answers 410 Gone"

[[webhooks]]
id = "partner"
url = {down}
events = ["runner.*"]
description = "A partner whose endpoint is down (always 500)"
"#,
        listen = toml_string(&opts.listen.to_string()),
        data_dir = toml_string(&opts.data_dir.display().to_string()),
        billing = url("/billing"),
        audit = url("/audit"),
        security = url("/security"),
        gone = url("/gone"),
        down = url("/down"),
    );
    if let PluginStatus::Found(path) = plugin {
        let _ = write!(
            text,
            r#"
[[webhooks]]
id = "redacted"
url = {url}
events = ["permission.*"]
plugin = {plugin}
plugin_config = {{ remove = ["data.response_reason"], mask = ["data.session_id", "data.task_id"] }}
description = "Permission requests with session and task ids masked by the redact plugin"
"#,
            url = url("/redacted"),
            plugin = toml_string(&path.display().to_string()),
        );
    }
    text
}

/// A TOML basic string (JSON's escaping is valid TOML for these values).
fn toml_string(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

/// The receiver: one handler for every path (see the module docs).
async fn receive(State(counts): State<Arc<ReceiverCounts>>, uri: Uri) -> (StatusCode, String) {
    match uri.path() {
        "/gone" => {
            counts.gone.fetch_add(1, Relaxed);
            return (
                StatusCode::GONE,
                r#"{"error":"this endpoint was retired"}"#.into(),
            );
        }
        "/down" => {
            counts.down.fetch_add(1, Relaxed);
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                r#"{"error":"database connection pool exhausted"}"#.into(),
            );
        }
        _ => {}
    }
    let (roll, delay_ms) = {
        let mut rng = rand::rng();
        (rng.random_range(0..1000u32), rng.random_range(2..=40u64))
    };
    if roll < HANG_PER_MILLE {
        counts.hung.fetch_add(1, Relaxed);
        // Longer than any timeout: the engine gives up first.
        tokio::time::sleep(Duration::from_secs(3600)).await;
        return (StatusCode::OK, String::new());
    }
    tokio::time::sleep(Duration::from_millis(delay_ms)).await;
    let roll = roll - HANG_PER_MILLE;
    if roll < UNAVAILABLE_PER_MILLE {
        counts.unavailable.fetch_add(1, Relaxed);
        (
            StatusCode::SERVICE_UNAVAILABLE,
            r#"{"error":"overloaded, try again later"}"#.into(),
        )
    } else if roll < UNAVAILABLE_PER_MILLE + BAD_REQUEST_PER_MILLE {
        counts.bad_request.fetch_add(1, Relaxed);
        (
            StatusCode::BAD_REQUEST,
            r#"{"error":"unexpected payload shape"}"#.into(),
        )
    } else {
        counts.ok.fetch_add(1, Relaxed);
        (StatusCode::OK, r#"{"received":true}"#.into())
    }
}

/// Emits `rate` events per second in batches until `stop`.
async fn generate(engine: Engine, rate: f64, stop: CancellationToken, emitted: Arc<AtomicU64>) {
    let mut tick = tokio::time::interval(EMIT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let per_tick = rate * EMIT_EVERY.as_secs_f64();
    let mut owed = 0.0;
    let mut seq: u64 = 0;
    let mut reported = false;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        owed += per_tick;
        let n = owed.floor() as u64;
        owed -= n as f64;
        if n == 0 {
            continue;
        }
        let batch: Vec<EventInput> = (0..n)
            .filter_map(|_| {
                seq += 1;
                synthetic_event(seq)
            })
            .collect();
        let count = batch.len() as u64;
        match engine.ingest(batch).await {
            Ok(_) => {
                emitted.fetch_add(count, Relaxed);
            }
            Err(EngineError::ShuttingDown) => return,
            Err(e) => {
                if !reported {
                    reported = true;
                    eprintln!("hookline demo: emitting events failed: {e} (will keep trying)");
                }
            }
        }
    }
}

/// The `seq`-th synthetic platform event.
pub fn synthetic_event(seq: u64) -> Option<EventInput> {
    let mut rng = rand::rng();
    let session = format!("sess-{}", seq / 20);
    let task = format!("task-{}", seq / 4);
    let runner = format!("runner-{}", rng.random_range(1..=8));
    let roll = rng.random_range(0..100u32);
    let (event_type, resource, data) = match roll {
        0..10 => (
            "session.created",
            ResourceInfo::new(session.clone(), RESOURCE_SESSION),
            raw(&SessionEventData {
                workspace_id: "ws-demo".into(),
                agent: (*pick(&mut rng, &["claude", "codex", "aider"])).to_owned(),
                status: "running".into(),
                runner_id: Some(runner.clone()),
                lifecycle_mode: "ephemeral".into(),
            }),
        ),
        10..30 => (
            "task.created",
            ResourceInfo::new(task.clone(), RESOURCE_TASK),
            raw(&TaskEventData::new(session.clone(), "queued")
                .with_prompt(pick::<&str>(&mut rng, &PROMPTS))),
        ),
        30..50 => (
            "task.started",
            ResourceInfo::new(task.clone(), RESOURCE_TASK),
            raw(&TaskEventData::new(session.clone(), "running")),
        ),
        50..70 => {
            let mut d = TaskEventData::new(session.clone(), "completed");
            d.duration_seconds = Some(rng.random_range(5..900));
            d.exit_code = Some(0);
            d.tokens_input = Some(rng.random_range(1_000..50_000));
            d.tokens_output = Some(rng.random_range(100..8_000));
            (
                "task.completed",
                ResourceInfo::new(task.clone(), RESOURCE_TASK),
                raw(&d),
            )
        }
        70..75 => {
            let mut d = TaskEventData::new(session.clone(), "failed");
            d.duration_seconds = Some(rng.random_range(5..300));
            d.exit_code = Some(1);
            d.error = Some("tests failed: 3 of 112".into());
            (
                "task.failed",
                ResourceInfo::new(task.clone(), RESOURCE_TASK),
                raw(&d),
            )
        }
        75..85 => (
            "runner.assigned",
            ResourceInfo::new(runner.clone(), RESOURCE_RUNNER),
            raw(&RunnerEventData {
                name: runner.clone(),
                status: "busy".into(),
                pool_name: Some("default".into()),
                session_id: Some(session.clone()),
                provider: Some("local".into()),
                sandbox_mode: "container".into(),
            }),
        ),
        _ => {
            let risk = pick(&mut rng, &["low", "low", "medium", "high", "critical"]);
            let (tool, action) = *pick(
                &mut rng,
                &[
                    ("bash", "rm -rf build/"),
                    ("http", "POST https://api.example.com/deploy"),
                    ("fs.write", "write /etc/hosts"),
                    ("git", "push --force origin main"),
                ],
            );
            (
                "permission.requested",
                ResourceInfo::new(format!("perm-{seq}"), RESOURCE_PERMISSION_REQUEST),
                raw(&PermissionEventData {
                    session_id: session.clone(),
                    task_id: task.clone(),
                    tool: tool.into(),
                    action: action.into(),
                    risk_level: (*risk).into(),
                    status: "pending".into(),
                    responded_by: None,
                    response_reason: None,
                }),
            )
        }
    };
    Some(EventInput {
        event_type: event_type.to_owned(),
        id: None,
        resource,
        data: Some(data?),
    })
}

fn pick<'a, T>(rng: &mut impl Rng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

fn raw<T: Serialize>(value: &T) -> Option<Box<serde_json::value::RawValue>> {
    serde_json::value::to_raw_value(value).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_config_is_valid_with_and_without_the_plugin() {
        let addr: SocketAddr = "127.0.0.1:9999".parse().unwrap();
        for plugin in [
            PluginStatus::Missing(vec![]),
            PluginStatus::Found(PathBuf::from("/opt/plugins/redact.wasm")),
        ] {
            let text = config_text(&DemoOptions::default(), addr, &plugin);
            let config = Config::from_toml_str(&text, "demo", Vec::new())
                .unwrap_or_else(|e| panic!("{e}\n{text}"));
            let ids: Vec<&str> = config.webhooks.iter().map(|w| w.id.as_str()).collect();
            let expected: &[&str] = match plugin {
                PluginStatus::Found(_) => &[
                    "billing",
                    "audit",
                    "security",
                    "legacy-crm",
                    "partner",
                    "redacted",
                ],
                PluginStatus::Missing(_) => {
                    &["billing", "audit", "security", "legacy-crm", "partner"]
                }
            };
            assert_eq!(ids, expected);
            assert_eq!(config.server.data_dir, PathBuf::from(DEMO_DATA_DIR));
            assert_eq!(config.delivery.retry_schedule_seconds, Some(vec![2, 5, 10]));
            assert!(!config.security.allowed_networks.is_empty());
        }
    }

    #[test]
    fn synthetic_events_are_valid_ingest_inputs() {
        for seq in 0..500 {
            let e = synthetic_event(seq).expect("an event");
            hookline_core::event::validate_event_type(&e.event_type).unwrap();
            let data: serde_json::Value =
                serde_json::from_str(e.data.as_ref().expect("data").get()).unwrap();
            assert!(data.is_object(), "{}: {data}", e.event_type);
        }
    }

    #[test]
    fn a_rate_must_be_positive() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let err = rt
            .block_on(Demo::start(DemoOptions {
                rate: 0.0,
                ..DemoOptions::default()
            }))
            .unwrap_err();
        assert!(matches!(err, DemoError::Rate(_)), "{err}");
    }
}
