//! The headless daemon (`hookline serve`): config → store → engine → API, and signals.
//!
//! [`Daemon::start`] is also what `hookline demo`, `hookline bench` and embedders use to run
//! a complete daemon inside their own process.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::{API_TOKEN_ENV, Config, ConfigError, StoreKind, Synchronous, process_env};
use hookline_api::{ApiAuth, ApiLimits, router};
use hookline_core::secret::Sealer;
use hookline_engine::http::{HttpSender, SenderConfig};
use hookline_engine::ssrf::NetworkPolicy;
use hookline_engine::{Engine, EngineConfig, EngineError, WebhookSpec};
use hookline_plugin::{
    ConfigCheckError, ConfigUser, PluginError, PluginLimits, PluginRuntime, PluginRuntimeConfig,
};
use hookline_store::sqlite::{self, SqliteOptions, SqliteStore};
use hookline_store::{Store, StoreError};

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The store could not be opened.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The engine refused to start (e.g. a webhook in the config file is invalid).
    #[error("{0}")]
    Engine(#[from] EngineError),
    /// The HTTP client could not be built.
    #[error("http client: {0}")]
    Sender(String),
    /// The WebAssembly plugin runtime could not start.
    #[error("{0}")]
    Plugins(String),
    /// The API address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The API token could not be read or written.
    #[error("api token file {path}: {source}")]
    Token {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Something the daemon cannot do.
    #[error("{0}")]
    Unsupported(String),
}

/// Where the API token came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// `[server] token` in the config.
    Config,
    /// The `HOOKLINE_API_TOKEN` environment variable.
    Env,
    /// Read from the data dir's token file.
    File(PathBuf),
    /// Generated on this start into the data dir's token file.
    Generated(PathBuf),
}

/// A running daemon.
#[derive(Debug)]
pub struct Daemon {
    engine: Engine,
    addr: SocketAddr,
    token: String,
    token_source: TokenSource,
    stop: CancellationToken,
    server: JoinHandle<std::io::Result<()>>,
}

impl Daemon {
    /// Opens the store, starts the engine, applies the config's webhooks and serves the API.
    pub async fn start(config: Config) -> Result<Daemon, DaemonError> {
        let env = process_env()?;
        let (token, token_source) = resolve_token(&config, &env)?;
        let key = config.security.load_encryption_key(env)?;
        let sealer = match key {
            Some(key) => Sealer::from_bytes(&key),
            None => Sealer::insecure_plaintext(),
        };

        let store: Arc<dyn Store> = match config.store.kind {
            StoreKind::Sqlite => Arc::new(SqliteStore::open(
                &config.store.path,
                SqliteOptions {
                    synchronous: match config.store.synchronous {
                        Synchronous::Full => sqlite::Synchronous::Full,
                        Synchronous::Normal => sqlite::Synchronous::Normal,
                    },
                    ..SqliteOptions::default()
                },
            )?),
            StoreKind::Postgres => {
                return Err(DaemonError::Unsupported(
                    "store.kind = \"postgres\" is not available in this build yet; use \"sqlite\""
                        .into(),
                ));
            }
        };

        let d = &config.delivery;
        let sender = HttpSender::new(
            SenderConfig {
                user_agent: d.user_agent.clone(),
                max_payload_bytes: d.max_payload_bytes as usize,
                ..SenderConfig::default()
            },
            NetworkPolicy::new(config.security.allowed_networks.clone()),
        )
        .map_err(|e| DaemonError::Sender(e.to_string()))?;
        let p = &config.plugins;
        let plugins = PluginRuntime::new(PluginRuntimeConfig {
            limits: PluginLimits {
                fuel: p.fuel,
                deadline: p.timeout(),
                memory_bytes: p.memory_bytes(),
            },
            max_memory_bytes: p.memory_bytes(),
            // Plugins run inside a worker slot: never more calls than workers.
            max_concurrent_calls: d.workers,
            max_body_bytes: d.max_payload_bytes as usize,
            cache_dir: Some(p.cache_dir.clone()),
            ..PluginRuntimeConfig::default()
        })
        .map_err(|e| DaemonError::Plugins(e.to_string()))?;
        let plugins = Arc::new(plugins);
        // Before the engine starts: a refused configuration never reaches a delivery.
        check_plugin_configs(&plugins, &config.webhooks).await?;
        let engine_cfg = EngineConfig {
            workers: d.workers as usize,
            queue_capacity: d.queue_capacity as usize,
            lease: d.lease(),
            timeout: d.timeout(),
            retry: d.retry_policy(),
            max_concurrency_per_webhook: d.max_concurrency_per_webhook,
            breaker_threshold: d.breaker_failure_threshold,
            breaker_cooldown: d.breaker_cooldown(),
            auto_disable_after: d.auto_disable_after(),
            rotation_grace: d.rotation_grace(),
            max_payload_bytes: d.max_payload_bytes as usize,
            retention: d.retention(),
            exclusive_store: true,
            plugins: Some(plugins),
            ..EngineConfig::default()
        };
        let engine = Engine::start(store, sender, sealer, engine_cfg).await?;
        let generated = engine
            .apply_config_webhooks(config.webhooks.iter().map(spec_of).collect())
            .await?;
        for (id, _) in &generated {
            tracing::info!(
                webhook = %id,
                "generated a signing secret for a config webhook; read it with `hookline webhooks rotate-secret` or set `secret` in the config"
            );
        }

        let listener = TcpListener::bind(config.server.listen)
            .await
            .map_err(|source| DaemonError::Listen {
                addr: config.server.listen,
                source,
            })?;
        let addr = listener
            .local_addr()
            .map_err(|source| DaemonError::Listen {
                addr: config.server.listen,
                source,
            })?;
        let app = router(
            engine.clone(),
            ApiAuth::new(&token),
            ApiLimits {
                max_request_bytes: config.server.max_request_bytes as usize,
                ..ApiLimits::default()
            },
        );
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move { stopped.cancelled().await })
                .await
        });
        Ok(Daemon {
            engine,
            addr,
            token,
            token_source,
            stop,
            server,
        })
    }

    /// The API's address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The engine, for embedders.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The admin API token.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Where the token came from.
    pub fn token_source(&self) -> &TokenSource {
        &self.token_source
    }

    /// Graceful stop: refuse new events, let deliveries in flight finish within `grace`
    /// (the rest stay queued in the store), stop serving.
    pub async fn shutdown(self, grace: Duration) {
        self.engine.shutdown(grace).await;
        self.stop.cancel();
        match tokio::time::timeout(Duration::from_secs(5), self.server).await {
            Ok(Ok(Err(e))) => tracing::warn!(error = %e, "API server ended with an error"),
            Ok(_) => {}
            Err(_) => tracing::warn!("API server did not stop within 5 s"),
        }
    }
}

/// Runs the daemon until SIGTERM or SIGINT, then shuts down gracefully.
pub async fn serve(config: Config) -> Result<(), DaemonError> {
    let grace = config.delivery.timeout() + Duration::from_secs(5);
    let daemon = Daemon::start(config).await?;
    match daemon.token_source() {
        TokenSource::Generated(path) => {
            println!("hookline: generated an API token into {}", path.display())
        }
        TokenSource::File(path) => println!("hookline: API token in {}", path.display()),
        TokenSource::Env => println!("hookline: API token from {API_TOKEN_ENV}"),
        TokenSource::Config => println!("hookline: API token from the config file"),
    }
    println!("hookline: listening on http://{}", daemon.local_addr());
    tracing::info!(addr = %daemon.local_addr(), "hookline is serving");
    wait_for_signal().await;
    tracing::info!("stopping: finishing deliveries in flight");
    daemon.shutdown(grace).await;
    tracing::info!("stopped");
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Asks each declared webhook's plugin whether it accepts its `plugin_config` (the plugin's
/// optional `check-config`); a refusal is a configuration error naming the key and where it
/// was written. A plugin that does not load yet is logged, not refused (its deliveries fail
/// with `plugin_load` until the file is there).
async fn check_plugin_configs(
    plugins: &Arc<PluginRuntime>,
    webhooks: &[crate::config::WebhookConfig],
) -> Result<(), DaemonError> {
    let mut errors = Vec::new();
    for (i, w) in webhooks.iter().enumerate() {
        let Some(path) = &w.plugin else { continue };
        let key = format!("webhooks[{i}].plugin_config");
        let origin = match &w.plugin_config_origin {
            Some(at) => format!("`{key}` ({at})"),
            None => format!("`{key}`"),
        };
        let user = ConfigUser {
            webhook_id: w.id.clone(),
            origin,
        };
        let config = w.plugin_config.clone().unwrap_or_else(|| "{}".into());
        let runtime = Arc::clone(plugins);
        let file = PathBuf::from(path.display().to_string());
        let checked =
            tokio::task::spawn_blocking(move || runtime.check_config_for(&file, user, &config))
                .await
                .map_err(|e| DaemonError::Plugins(format!("checking plugin configs: {e}")))?;
        match checked {
            Ok(()) => {}
            Err(ConfigCheckError::Plugin(error @ PluginError::Load { .. })) => tracing::warn!(
                webhook = %w.id,
                %error,
                "the webhook's plugin_config could not be checked: its plugin does not load"
            ),
            Err(e) => errors.push(ConfigError::Invalid {
                origin: w.plugin_config_origin.clone(),
                key,
                message: match e {
                    ConfigCheckError::Refused(message) => {
                        format!("plugin `{}` refused it: {message}", path.display())
                    }
                    ConfigCheckError::Plugin(error) => {
                        format!(
                            "plugin `{}` failed while checking it: {error}",
                            path.display()
                        )
                    }
                },
            }),
        }
    }
    match errors.len() {
        0 => Ok(()),
        1 => Err(DaemonError::Config(errors.remove(0))),
        _ => Err(DaemonError::Config(ConfigError::Multiple(errors))),
    }
}

fn spec_of(w: &crate::config::WebhookConfig) -> WebhookSpec {
    WebhookSpec {
        id: Some(w.id.clone()),
        url: w.url.clone(),
        events: w.events.iter().map(|p| p.as_str().to_owned()).collect(),
        scheme: Some(w.scheme),
        secret: w.secret.as_ref().map(|s| s.expose().clone()),
        headers: w.headers.clone(),
        timeout_seconds: w.timeout_seconds,
        max_attempts: w.max_attempts,
        retry_schedule_seconds: w.retry_schedule_seconds.clone(),
        rate_limit_per_second: w.rate_limit_per_second,
        max_concurrency: w.max_concurrency,
        plugin: w.plugin.as_ref().map(|p| p.display().to_string()),
        plugin_config: w
            .plugin_config
            .as_deref()
            .and_then(|c| serde_json::from_str(c).ok()),
        description: (!w.description.is_empty()).then(|| w.description.clone()),
        enabled: Some(w.enabled),
    }
}

/// The API token: the config's, else `HOOKLINE_API_TOKEN`, else the data dir's token file
/// (generated with mode 0600 on first start).
fn resolve_token(
    config: &Config,
    env: &[(String, String)],
) -> Result<(String, TokenSource), DaemonError> {
    if let Some(token) = &config.server.token {
        let from_env = env
            .iter()
            .any(|(k, v)| k == API_TOKEN_ENV && v == token.expose());
        let source = if from_env {
            TokenSource::Env
        } else {
            TokenSource::Config
        };
        return Ok((token.expose().clone(), source));
    }
    let path = config.server.token_file();
    let fail = |source| DaemonError::Token {
        path: path.clone(),
        source,
    };
    match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => {
            return Ok((text.trim().to_owned(), TokenSource::File(path)));
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(fail(e)),
    }
    let token = generate_token();
    write_private(&path, &token).map_err(fail)?;
    Ok((token, TokenSource::Generated(path)))
}

/// A new API token: `hl_` and 64 hex characters (256 random bits).
pub fn generate_token() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("hl_{}", hex::encode(bytes))
}

/// Writes `text` to `path` readable by the owner only (0600), creating parent dirs.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}
