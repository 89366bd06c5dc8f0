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

use crate::config::{
    API_TOKEN_ENV, Config, ConfigError, ENCRYPTION_KEY_ENV, StoreKind, Synchronous, process_env,
};
use hookline_api::{ApiLimits, router};
use hookline_core::secret::{SEAL_KEY_LEN, SealKeyError, Sealer};
use hookline_engine::BootstrapToken;
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
    /// The generated encryption key file could not be read or written.
    #[error("encryption key file {path}: {source}")]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The generated encryption key file does not hold a key.
    #[error("encryption key file {path}: {source}")]
    KeyFileInvalid {
        /// The file.
        path: PathBuf,
        /// What is wrong with it (never the key).
        source: SealKeyError,
    },
    /// The encryption key cannot be rotated, or a rotation is unfinished.
    #[error("key rotation: {0}")]
    Rotate(String),
    /// Something the daemon cannot do.
    #[error("{0}")]
    Unsupported(String),
}

/// Where the key sealing webhook secrets at rest came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `security.encryption_key_file` or `HOOKLINE_ENCRYPTION_KEY`.
    Configured,
    /// Read from the data dir's key file.
    File(PathBuf),
    /// Generated on this start into the data dir's key file.
    Generated(PathBuf),
    /// No key: `security.store_secrets_unsealed = true`.
    Unsealed,
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
    key_source: KeySource,
    stop: CancellationToken,
    server: JoinHandle<std::io::Result<()>>,
    /// The SQLite store, closed last by [`Daemon::shutdown`] (its lock freed at once).
    store: Option<Arc<SqliteStore>>,
}

impl Daemon {
    /// Opens the store, starts the engine, applies the config's webhooks and serves the API.
    pub async fn start(config: Config) -> Result<Daemon, DaemonError> {
        let env = process_env()?;
        let (token, token_source) = resolve_token(&config, &env)?;
        let (sealer, key_source) = resolve_sealer(&config, env)?;

        let sqlite = open_store(&config)?;
        match Daemon::start_on(&config, sqlite.clone(), sealer, token, token_source).await {
            Ok(mut daemon) => {
                daemon.store = Some(sqlite);
                // The data dir's key rotates online: `hookline keys rotate` leaves the new
                // key in `encryption-key.next`, and this daemon re-seals everything under it.
                if let KeySource::File(path) | KeySource::Generated(path) = &key_source {
                    tokio::spawn(finish_rotations(
                        daemon.engine.clone(),
                        path.clone(),
                        daemon.stop.clone(),
                    ));
                }
                daemon.key_source = key_source;
                Ok(daemon)
            }
            Err(e) => {
                // What started on the store has stopped (`start_on`); end the store too: its
                // writer thread, and the lock another start (in this process or another)
                // needs. Other handles may outlive this call; the lock goes now regardless.
                sqlite.close().await;
                Err(e)
            }
        }
    }

    /// The rest of [`Daemon::start`] once the store is open: on failure, nothing it started
    /// is left running (the engine's tasks stopped, the listener closed).
    async fn start_on(
        config: &Config,
        store: Arc<dyn Store>,
        sealer: Sealer,
        token: String,
        token_source: TokenSource,
    ) -> Result<Daemon, DaemonError> {
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
            max_queued_per_webhook: d.max_queued_per_webhook as usize,
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
        match Daemon::serve_api(config, &engine, &token, &token_source).await {
            Ok((addr, stop, server)) => Ok(Daemon {
                engine,
                addr,
                token,
                token_source,
                key_source: KeySource::Configured,
                stop,
                server,
                store: None,
            }),
            Err(e) => {
                // Nothing was accepted yet: deliveries the claimer took go back at once.
                engine.shutdown(Duration::ZERO).await;
                Err(e)
            }
        }
    }

    /// Applies the config's webhooks and serves the API over a started engine.
    async fn serve_api(
        config: &Config,
        engine: &Engine,
        token: &str,
        token_source: &TokenSource,
    ) -> Result<
        (
            SocketAddr,
            CancellationToken,
            JoinHandle<std::io::Result<()>>,
        ),
        DaemonError,
    > {
        let generated = engine
            .apply_config_webhooks(config.webhooks.iter().map(spec_of).collect())
            .await?;
        for (id, _) in &generated {
            tracing::info!(
                webhook = %id,
                "generated a signing secret for a config webhook; read it with `hookline webhooks rotate-secret` or set `secret` in the config"
            );
        }

        install_bootstrap_token(engine, token, token_source).await?;

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
            ApiLimits {
                max_request_bytes: config.server.max_request_bytes as usize,
                max_admin_request_bytes: config.server.max_admin_request_bytes as usize,
                request_timeout: Duration::from_secs(config.server.request_timeout_seconds),
                max_concurrent_requests: config.server.max_concurrent_requests as usize,
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
        Ok((addr, stop, server))
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

    /// Where the key sealing secrets came from.
    pub fn key_source(&self) -> &KeySource {
        &self.key_source
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
        if let Some(store) = self.store {
            store.close().await;
        }
    }
}

/// Opens the configured store (the SQLite file, locked for this process).
fn open_store(config: &Config) -> Result<Arc<SqliteStore>, DaemonError> {
    Ok(match config.store.kind {
        StoreKind::Sqlite => Arc::new(SqliteStore::open(
            &config.store.path,
            SqliteOptions {
                synchronous: match config.store.synchronous {
                    Synchronous::Full => sqlite::Synchronous::Full,
                    Synchronous::Normal => sqlite::Synchronous::Normal,
                },
                max_queued_rows: usize::try_from(config.store.max_queued_rows)
                    .unwrap_or(usize::MAX),
                ..SqliteOptions::default()
            },
        )?),
        StoreKind::Postgres => {
            return Err(DaemonError::Unsupported(
                "store.kind = \"postgres\" is not available in this build yet; use \"sqlite\""
                    .into(),
            ));
        }
    })
}

/// What [`rotate_key`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRotation {
    /// The key file now holding the new key.
    pub key_file: PathBuf,
    /// Webhooks whose secrets were re-sealed by this process; `None` when the running
    /// daemon did it (online rotation).
    pub webhooks: Option<usize>,
}

/// `hookline keys rotate`: re-seals every stored secret (current and previous), URL
/// credential and sensitive header value under a new key, then makes it the data dir's key.
///
/// The new key is written first to `encryption-key.next`. With the daemon running (it
/// holds the store's lock), the daemon does the rest online, with no restart and no
/// downtime ([`finish_rotations`]), and this waits until it has. Without one, this
/// re-seals the store itself. Either way the key moves over `encryption-key` only once
/// every webhook is re-sealed, so it is crash-safe: a daemon started with `.next` present
/// opens values under either key and finishes the rotation, and running the command again
/// does too.
///
/// Only the generated key rotates: a configured key (`security.encryption_key_file`,
/// `HOOKLINE_ENCRYPTION_KEY`) is the operator's to replace.
pub async fn rotate_key(config: &Config) -> Result<KeyRotation, DaemonError> {
    let rotate = |m: String| DaemonError::Rotate(m);
    if config.security.store_secrets_unsealed {
        return Err(rotate(
            "security.store_secrets_unsealed = true: there is no key to rotate; remove the \
             opt-out (the next start seals the store under a generated key)"
                .into(),
        ));
    }
    if config
        .security
        .load_encryption_key(process_env()?)?
        .is_some()
    {
        return Err(rotate(format!(
            "the encryption key is configured (security.encryption_key_file or \
             {ENCRYPTION_KEY_ENV}); only the key the daemon generates in the data dir rotates"
        )));
    }
    let path = config.server.key_file();
    let next = next_key_file(&path);
    let read_key = |file: &Path| -> Result<Option<Sealer>, DaemonError> {
        match std::fs::read_to_string(file) {
            Ok(text) if !text.trim().is_empty() => {
                Sealer::from_hex(&text)
                    .map(Some)
                    .map_err(|source| DaemonError::KeyFileInvalid {
                        path: file.to_owned(),
                        source,
                    })
            }
            Ok(_) => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(DaemonError::KeyFile {
                path: file.to_owned(),
                source,
            }),
        }
    };
    let old = read_key(&path)?.ok_or_else(|| {
        rotate(format!(
            "no key in {}: start the daemon once to generate it",
            path.display()
        ))
    })?;
    let new = match read_key(&next)? {
        Some(sealer) => sealer,
        None => {
            let key = generate_key();
            write_private(&next, &key).map_err(|source| DaemonError::KeyFile {
                path: next.clone(),
                source,
            })?;
            Sealer::from_hex(&key).map_err(|source| DaemonError::KeyFileInvalid {
                path: next.clone(),
                source,
            })?
        }
    };
    let store = match open_store(config) {
        Ok(store) => store,
        // The store's lock is held (`SqliteStore::open`'s message): a daemon runs, and
        // finishes the rotation itself.
        Err(DaemonError::Store(StoreError::Backend(message)))
            if message.starts_with("another hookline process") =>
        {
            wait_for_online_rotation(&next).await?;
            return Ok(KeyRotation {
                key_file: path,
                webhooks: None,
            });
        }
        Err(e) => return Err(e),
    };
    let resealed = reseal_all(&*store, &old, &new).await;
    store.close().await;
    let webhooks = resealed?;
    std::fs::rename(&next, &path).map_err(|source| DaemonError::KeyFile {
        path: path.clone(),
        source,
    })?;
    Ok(KeyRotation {
        key_file: path,
        webhooks: Some(webhooks),
    })
}

/// Waits until the running daemon has moved `next` over the key file.
async fn wait_for_online_rotation(next: &Path) -> Result<(), DaemonError> {
    let deadline = tokio::time::Instant::now() + ONLINE_ROTATION_WAIT;
    while next.exists() {
        if tokio::time::Instant::now() > deadline {
            return Err(DaemonError::Rotate(format!(
                "the running daemon has not finished re-sealing under the new key in {} s; it \
                 keeps trying (see its log) and moves {} over the key file once done",
                ONLINE_ROTATION_WAIT.as_secs(),
                next.display()
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// How long `hookline keys rotate` waits for a running daemon to finish.
const ONLINE_ROTATION_WAIT: Duration = Duration::from_secs(120);

/// Rewrites every webhook's secrets, URL credentials and sensitive header values sealed
/// under `new`; each value opens under `new` (a resumed rotation) or `old`.
async fn reseal_all(store: &dyn Store, old: &Sealer, new: &Sealer) -> Result<usize, DaemonError> {
    let mut count = 0;
    for record in store.list_webhooks().await? {
        let id = record.id.clone();
        let opened = hookline_core::at_rest::open(new, record.clone())
            .or_else(|_| hookline_core::at_rest::open(old, record))
            .map_err(|e| DaemonError::Rotate(format!("webhook `{id}`: {e}")))?;
        let mut record = hookline_core::at_rest::seal(new, opened);
        let reseal = |sealed: &str| -> Result<String, DaemonError> {
            let plaintext = new
                .open(sealed)
                .or_else(|_| old.open(sealed))
                .map_err(|e| DaemonError::Rotate(format!("webhook `{id}`: {e}")))?;
            Ok(new.seal(&plaintext))
        };
        record.secret_sealed = reseal(&record.secret_sealed)?;
        if let Some((previous, _)) = &mut record.previous_secret {
            *previous = reseal(previous)?;
        }
        let version = record.version;
        store.update_webhook(record, version).await?;
        count += 1;
    }
    Ok(count)
}

/// While the daemon runs: whenever `<key_file>.next` appears (written by `hookline keys
/// rotate`), re-seals every stored secret and credential under the key in it, then moves it
/// over `key_file`. No restart, no downtime: values keep opening under either key meanwhile.
/// A failed attempt is logged and tried again.
async fn finish_rotations(engine: Engine, key_file: PathBuf, stop: CancellationToken) {
    let next = next_key_file(&key_file);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(ROTATION_POLL) => {}
        }
        let Ok(text) = std::fs::read_to_string(&next) else {
            continue;
        };
        let new = match Sealer::from_hex(&text) {
            Ok(new) => new,
            Err(e) => {
                tracing::error!(path = %next.display(), error = %e, "the new encryption key is not valid; remove the file and rotate again");
                tokio::time::sleep(ROTATION_RETRY).await;
                continue;
            }
        };
        match engine.rotate_sealing_key(new).await {
            Ok(webhooks) => match std::fs::rename(&next, &key_file) {
                Ok(()) => {
                    tracing::info!(webhooks, key_file = %key_file.display(), "encryption key rotated")
                }
                Err(e) => {
                    tracing::error!(error = %e, "re-sealed under the new key but could not move it over the key file")
                }
            },
            Err(e) => {
                tracing::error!(error = %e, "rotating the encryption key failed; trying again");
                tokio::time::sleep(ROTATION_RETRY).await;
            }
        }
    }
}

/// How often a running daemon looks for a key rotation to finish.
const ROTATION_POLL: Duration = Duration::from_millis(500);
/// How long it waits after a failed rotation before trying again.
const ROTATION_RETRY: Duration = Duration::from_secs(10);

/// Where [`rotate_key`] keeps the new key until every secret is re-sealed under it.
fn next_key_file(key_file: &Path) -> PathBuf {
    let mut name = key_file.as_os_str().to_owned();
    name.push(".next");
    PathBuf::from(name)
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
    match daemon.key_source() {
        KeySource::Generated(path) => println!(
            "hookline: generated an encryption key into {} (back it up with the store)",
            path.display()
        ),
        KeySource::File(path) => println!("hookline: encryption key in {}", path.display()),
        KeySource::Configured => println!("hookline: encryption key from the configuration"),
        KeySource::Unsealed => println!(
            "hookline: WARNING: webhook secrets are stored UNSEALED (security.store_secrets_unsealed = true)"
        ),
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

/// Installs the daemon's own token as the `admin` token `tok_bootstrap` (see
/// [`BootstrapToken`]): a token configured in place of another replaces it; one an operator
/// revoked stays revoked, with a warning, as long as it is the one configured.
async fn install_bootstrap_token(
    engine: &Engine,
    token: &str,
    source: &TokenSource,
) -> Result<(), DaemonError> {
    let name = match source {
        TokenSource::Config => "bootstrap (server.token in the config)".to_owned(),
        TokenSource::Env => format!("bootstrap ({API_TOKEN_ENV})"),
        TokenSource::File(path) | TokenSource::Generated(path) => {
            format!("bootstrap ({})", path.display())
        }
    };
    match engine.install_bootstrap_token(token, &name).await? {
        BootstrapToken::Created | BootstrapToken::Kept => {}
        BootstrapToken::Replaced => tracing::info!(
            "the configured API token replaced the previous bootstrap token, which no longer works"
        ),
        BootstrapToken::Revoked => tracing::warn!(
            source = %name,
            "the daemon's own API token was revoked and stays refused; use another admin token \
             (or configure a new one)"
        ),
    }
    Ok(())
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

/// The sealer for webhook secrets: the configured key, else the data dir's key file
/// (generated with mode 0600 on first start, like the API token), else — only under the
/// explicit `security.store_secrets_unsealed` opt-out — none.
fn resolve_sealer(
    config: &Config,
    env: Vec<(String, String)>,
) -> Result<(Sealer, KeySource), DaemonError> {
    let configured = config.security.load_encryption_key(env)?;
    let path = config.server.key_file();
    let next = next_key_file(&path);
    let pending = match std::fs::read_to_string(&next) {
        Ok(text) => {
            Some(
                Sealer::from_hex(&text).map_err(|source| DaemonError::KeyFileInvalid {
                    path: next.clone(),
                    source,
                })?,
            )
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(source) => {
            return Err(DaemonError::KeyFile {
                path: next.clone(),
                source,
            });
        }
    };
    if pending.is_some() && (configured.is_some() || config.security.store_secrets_unsealed) {
        return Err(DaemonError::Rotate(format!(
            "{} holds a rotation of the data dir's key, but the key is configured elsewhere \
             (or the store is unsealed): remove it",
            next.display()
        )));
    }
    let fail = |source| DaemonError::KeyFile {
        path: path.clone(),
        source,
    };
    let stored = match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => Some(zeroize::Zeroizing::new(text)),
        Ok(_) => None,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(fail(e)),
    };
    if config.security.store_secrets_unsealed {
        let conflict = if configured.is_some() {
            Some(format!(
                "an encryption key is configured (security.encryption_key_file or {ENCRYPTION_KEY_ENV}); remove one of the two"
            ))
        } else if stored.is_some() {
            Some(format!(
                "{} holds the key this store's secrets are sealed with; remove the opt-out (sealing is the default)",
                path.display()
            ))
        } else {
            None
        };
        if let Some(message) = conflict {
            return Err(ConfigError::EncryptionKey {
                from: "security.store_secrets_unsealed = true".to_owned(),
                message,
            }
            .into());
        }
        tracing::warn!(
            "security.store_secrets_unsealed = true: webhook secrets will be stored only \
             base64-encoded, NOT encrypted; anyone who can read the store can sign as Hookline"
        );
        return Ok((Sealer::insecure_plaintext(), KeySource::Unsealed));
    }
    if let Some(key) = configured {
        return Ok((Sealer::from_bytes(&key), KeySource::Configured));
    }
    if let Some(text) = stored {
        let sealer = Sealer::from_hex(&text).map_err(|source| DaemonError::KeyFileInvalid {
            path: path.clone(),
            source,
        })?;
        // An unfinished rotation: values open under either key until the daemon has
        // re-sealed them all ([`finish_rotations`]).
        let sealer = match pending {
            Some(new) => new.with_previous(&sealer),
            None => sealer,
        };
        return Ok((sealer, KeySource::File(path)));
    }
    if pending.is_some() {
        return Err(DaemonError::Rotate(format!(
            "{} holds a new key but {} is missing: restore the key file (the store's secrets \
             may be sealed under it)",
            next.display(),
            path.display()
        )));
    }
    let key = generate_key();
    write_private(&path, &key).map_err(fail)?;
    let sealer = Sealer::from_hex(&key).map_err(|source| DaemonError::KeyFileInvalid {
        path: path.clone(),
        source,
    })?;
    Ok((sealer, KeySource::Generated(path)))
}

/// A new encryption key: 32 random bytes as 64 hex characters, wiped on drop.
fn generate_key() -> zeroize::Zeroizing<String> {
    use rand::RngCore;
    let mut bytes = zeroize::Zeroizing::new([0u8; SEAL_KEY_LEN]);
    rand::rng().fill_bytes(&mut *bytes);
    zeroize::Zeroizing::new(hex::encode(*bytes))
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

#[cfg(test)]
mod tests {
    use hookline_test_support::TempDir;

    use super::*;

    fn config(dir: &TempDir, extra: &str) -> Config {
        let text = format!(
            "[server]\ndata_dir = {:?}\n{extra}",
            dir.path().join("data").display().to_string()
        );
        Config::from_toml_str(&text, "config.toml", []).unwrap()
    }

    #[test]
    fn no_key_configured_generates_one_then_reads_it() {
        let dir = TempDir::new("daemon-key");
        let c = config(&dir, "");
        let (sealer, source) = resolve_sealer(&c, vec![]).unwrap();
        assert!(sealer.is_secure());
        assert_eq!(source, KeySource::Generated(c.server.key_file()));
        let sealed = sealer.seal(b"whsec_abc");
        let (again, source) = resolve_sealer(&c, vec![]).unwrap();
        assert_eq!(source, KeySource::File(c.server.key_file()));
        assert_eq!(&*again.open_string(&sealed).unwrap(), "whsec_abc");
    }

    #[test]
    fn a_configured_key_generates_no_file() {
        let dir = TempDir::new("daemon-key");
        let c = config(&dir, "");
        let env = vec![(ENCRYPTION_KEY_ENV.to_owned(), "ab".repeat(32))];
        let (sealer, source) = resolve_sealer(&c, env).unwrap();
        assert!(sealer.is_secure());
        assert_eq!(source, KeySource::Configured);
        assert!(!c.server.key_file().exists());
    }

    #[test]
    fn the_unsealed_opt_out_generates_nothing_and_refuses_a_key() {
        let dir = TempDir::new("daemon-key");
        let c = config(&dir, "[security]\nstore_secrets_unsealed = true\n");
        let (sealer, source) = resolve_sealer(&c, vec![]).unwrap();
        assert!(!sealer.is_secure());
        assert_eq!(source, KeySource::Unsealed);
        assert!(!c.server.key_file().exists());

        let env = vec![(ENCRYPTION_KEY_ENV.to_owned(), "ab".repeat(32))];
        let e = resolve_sealer(&c, env).unwrap_err().to_string();
        assert!(
            e.contains("security.store_secrets_unsealed = true")
                && e.contains("an encryption key is configured"),
            "{e}"
        );

        resolve_sealer(&config(&dir, ""), vec![]).unwrap();
        let e = resolve_sealer(&c, vec![]).unwrap_err().to_string();
        assert!(
            e.contains("holds the key this store's secrets are sealed with"),
            "{e}"
        );
    }

    #[test]
    fn an_interrupted_rotation_opens_under_either_key_and_a_bad_next_key_is_refused() {
        let dir = TempDir::new("daemon-key");
        let c = config(&dir, "");
        let (old, _) = resolve_sealer(&c, vec![]).unwrap();
        let next = next_key_file(&c.server.key_file());
        std::fs::write(&next, "ab".repeat(32)).unwrap();
        let (rotating, source) = resolve_sealer(&c, vec![]).unwrap();
        assert!(matches!(source, KeySource::File(_)), "{source:?}");
        let new = Sealer::from_hex(&"ab".repeat(32)).unwrap();
        // Values under the old key still open; new ones are sealed under the new key.
        assert_eq!(&*rotating.open_string(&old.seal(b"s1")).unwrap(), "s1");
        assert_eq!(&*new.open_string(&rotating.seal(b"s2")).unwrap(), "s2");
        std::fs::write(&next, "not a key").unwrap();
        let e = resolve_sealer(&c, vec![]).unwrap_err().to_string();
        assert!(e.contains("encryption-key.next"), "{e}");
        assert!(!e.contains("not a key"), "{e}");
    }

    #[test]
    fn a_damaged_key_file_is_named_never_shown() {
        let dir = TempDir::new("daemon-key");
        let c = config(&dir, "");
        std::fs::create_dir_all(c.server.data_dir.clone()).unwrap();
        std::fs::write(c.server.key_file(), "zz0123").unwrap();
        let e = resolve_sealer(&c, vec![]).unwrap_err().to_string();
        assert!(e.starts_with("encryption key file "), "{e}");
        assert!(!e.contains("zz0123"), "{e}");
    }
}
