//! Configuration: the embedded defaults, the user's TOML file, `HOOKLINE_` environment
//! overrides, and validation with errors that name the key and where it was set.
//!
//! Loading happens in four steps, in this order:
//!
//! 1. [`DEFAULT_CONFIG`] (`host/hookline/config.default.toml`, compiled in) is parsed. It is the one
//!    place defaults live, each key documented there.
//! 2. The user's file is merged over it: tables key by key, recursively; any other value,
//!    lists included, replaces the default.
//! 3. Environment overrides `HOOKLINE_<SECTION>_<KEY>` replace single keys of the sections
//!    (`HOOKLINE_DELIVERY_WORKERS=8`); a value is read as its key's type asks (a TOML value,
//!    the text itself, or a comma-separated list). `HOOKLINE_API_TOKEN` sets
//!    `server.token`. Every variable of the form `HOOKLINE_<SECTION>_…` whose section is one
//!    of `server`, `store`, `security`, `delivery`, `plugins`, `log` is an override, and naming a key
//!    that does not exist is an error; other `HOOKLINE_` variables (`HOOKLINE_ENCRYPTION_KEY`,
//!    read by [`SecurityConfig::load_encryption_key`], `HOOKLINE_LOG`, …) are left alone.
//! 4. The merged document is deserialised into [`Config`] (unknown keys are errors) and
//!    validated.
//!
//! Every value keeps the span of the text it came from (the toml crate's spanned document
//! tree is merged, not a plain `toml::Table`), so an error says where the offending value
//! was written: ``config.toml:12:1: unknown key `delivery.wrokers` (…)``, or
//! ``environment variable `HOOKLINE_DELIVERY_WORKERS`: `delivery.workers`: must be between
//! 1 and 4096, got 0``. Deserialisation stops at the first type error; validation reports
//! every problem at once ([`ConfigError::Multiple`]). That same provenance tells a retry schedule set in the file apart
//! from the default base delay, so that setting both `retry_base_delay_seconds` and
//! `retry_schedule_seconds` yourself is an error while setting only the schedule is not.
//!
//! Tokens, secrets and the PostgreSQL URL are [`Redacted`]: `Debug` never shows them.
//!
//! ```
//! use hookline::config::Config;
//!
//! let file = r#"
//! [delivery]
//! workers = 8
//!
//! [[webhooks]]
//! id = "billing"
//! url = "https://billing.example.com/hook"
//! events = ["task.*"]
//! "#;
//! let env = [("HOOKLINE_DELIVERY_MAX_ATTEMPTS".to_owned(), "5".to_owned())];
//! let config = Config::from_toml_str(file, "hookline.toml", env).unwrap();
//! assert_eq!(config.delivery.workers, 8);
//! assert_eq!(config.delivery.max_attempts, 5);
//! assert_eq!(config.delivery.timeout_seconds, 30); // the embedded default
//! assert_eq!(config.webhooks[0].retry_policy(&config.delivery).max_attempts, 5);
//!
//! let err = Config::from_toml_str("[delivery]\nwrokers = 8\n", "hookline.toml", []).unwrap_err();
//! assert!(err.to_string().starts_with("hookline.toml:2:1: unknown key `delivery.wrokers`"));
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;
use serde::Deserialize;
use toml::de::DeTable;
use zeroize::Zeroizing;

use hookline_core::pattern::Pattern;
use hookline_core::retry::{RetryPolicy, Schedule};
use hookline_core::rules;
use hookline_core::signing::Scheme;

/// The embedded defaults, documented key by key: `host/hookline/config.default.toml`.
pub const DEFAULT_CONFIG: &str = include_str!("../../config.default.toml");

/// Environment variable holding the API token (an alias of `HOOKLINE_SERVER_TOKEN`).
pub const API_TOKEN_ENV: &str = "HOOKLINE_API_TOKEN";

/// Environment variable holding the encryption key, as 64 hex characters.
pub const ENCRYPTION_KEY_ENV: &str = "HOOKLINE_ENCRYPTION_KEY";

/// Name of the generated API token file inside `server.data_dir`.
pub const TOKEN_FILE_NAME: &str = "api-token";

/// Name of the generated encryption key file inside `server.data_dir`, used when no key is
/// configured (`security.encryption_key_file`, `HOOKLINE_ENCRYPTION_KEY`).
pub const KEY_FILE_NAME: &str = "encryption-key";

/// Name of the SQLite database inside `server.data_dir` when `store.path` is unset.
pub const DEFAULT_DATABASE_NAME: &str = "hookline.db";

/// Name of the compiled-plugin cache inside `server.data_dir` when `plugins.cache_dir` is
/// unset.
pub const DEFAULT_PLUGIN_CACHE_NAME: &str = "plugin-cache";

/// The most `delivery.workers` (and per-webhook concurrency) accepted.
pub const MAX_WORKERS: u32 = rules::MAX_CONCURRENCY.1;

/// Shortest API token accepted, in characters.
pub const MIN_TOKEN_LEN: usize = 16;

const ENV_PREFIX: &str = "HOOKLINE_";
const VERSION_PLACEHOLDER: &str = "{version}";
const DAY_SECS: u64 = 24 * 60 * 60;

mod de;
mod env;
mod error;
mod provenance;
#[cfg(test)]
mod tests;
mod validate;

pub use error::{ConfigError, Origin};
pub use validate::{check_webhook_id, check_webhook_url};

use de::{fields_of, parsed_list, plugin_config_json};
use env::env_overrides;
use provenance::{SourceKind, SourceMap, merge_tables, parse};
use validate::Checker;

// ---------------------------------------------------------------------------------------
// Typed configuration
// ---------------------------------------------------------------------------------------

/// The whole configuration, defaults applied, validated.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[server]`: the HTTP API.
    pub server: ServerConfig,
    /// `[store]`: where deliveries live.
    pub store: StoreConfig,
    /// `[security]`: encryption at rest and the SSRF allow-list.
    pub security: SecurityConfig,
    /// `[delivery]`: how requests are sent and retried.
    pub delivery: DeliveryConfig,
    /// `[plugins]`: limits of WebAssembly plugin calls, and their compilation cache.
    pub plugins: PluginsConfig,
    /// `[log]`: logging.
    pub log: LogConfig,
    /// `[[webhooks]]`: endpoints declared in the file.
    #[serde(default)]
    pub webhooks: Vec<WebhookConfig>,
}

/// `[server]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address the API listens on.
    pub listen: SocketAddr,
    /// The API's bearer token, when configured (file, `HOOKLINE_SERVER_TOKEN` or
    /// `HOOKLINE_API_TOKEN`); otherwise the daemon generates [`ServerConfig::token_file`].
    pub token: Option<Redacted<String>>,
    /// Largest body of the event routes, in bytes.
    pub max_request_bytes: u64,
    /// Largest body of every other API route, in bytes.
    pub max_admin_request_bytes: u64,
    /// Longest an API request may take before it is answered 503 `timeout`, seconds.
    pub request_timeout_seconds: u64,
    /// API requests served at once; more are answered 503 `overloaded`.
    pub max_concurrent_requests: u64,
    /// Directory for the generated token and the default database.
    pub data_dir: PathBuf,
}

/// `store.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    /// The embedded SQLite store (`store.path`).
    Sqlite,
    /// PostgreSQL (`store.url`).
    Postgres,
}

/// `store.synchronous`: SQLite's durability setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Synchronous {
    /// fsync on every commit.
    Full,
    /// fsync at checkpoints only (WAL): the last commits may be lost on power loss.
    Normal,
}

/// `[store]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// Backend.
    pub kind: StoreKind,
    /// The SQLite file; `<data_dir>/hookline.db` unless set.
    #[serde(default)]
    pub path: PathBuf,
    /// The PostgreSQL URL (holds a password, hence redacted).
    pub url: Option<Redacted<String>>,
    /// SQLite durability.
    pub synchronous: Synchronous,
    /// Rows queued for the writer past which new events are refused (503 `overloaded`).
    pub max_queued_rows: u64,
}

/// `[security]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityConfig {
    /// File holding the encryption key (64 hex characters).
    pub encryption_key_file: Option<PathBuf>,
    /// The opt-out from sealing: store webhook secrets only base64-encoded, and generate no
    /// key. Off by default; refused together with a configured or generated key.
    pub store_secrets_unsealed: bool,
    /// Networks exempt from the SSRF guard.
    #[serde(deserialize_with = "parsed_list")]
    pub allowed_networks: Vec<IpNet>,
}

/// `[delivery]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryConfig {
    /// Requests in flight at once, over all webhooks.
    pub workers: u32,
    /// Timeout of one request, in seconds.
    pub timeout_seconds: u64,
    /// Attempts per delivery, the first included.
    pub max_attempts: u32,
    /// Base of the exponential schedule, in seconds (unused when
    /// `retry_schedule_seconds` is set).
    pub retry_base_delay_seconds: u64,
    /// Explicit retry delays, in seconds; replaces the exponential schedule.
    pub retry_schedule_seconds: Option<Vec<u64>>,
    /// Jitter fraction in `[0, 1]`.
    pub retry_jitter: f64,
    /// Lower bound applied to a receiver's `Retry-After`, in seconds.
    pub retry_after_min_seconds: u64,
    /// Upper bound applied to a receiver's `Retry-After`, in seconds.
    pub retry_after_max_seconds: u64,
    /// Largest payload sent, in bytes.
    pub max_payload_bytes: u64,
    /// `User-Agent` of every request, `{version}` already substituted.
    pub user_agent: String,
    /// Deliveries held in memory at most.
    pub queue_capacity: u32,
    /// Lease of a claimed delivery, in seconds.
    pub lease_seconds: u64,
    /// Consecutive failures that open a webhook's circuit; 0 disables the breaker.
    pub breaker_failure_threshold: u32,
    /// Wait of an open circuit before a trial request, in seconds.
    pub breaker_cooldown_seconds: u64,
    /// Continuous failure that disables a webhook, in seconds; 0 = never.
    pub auto_disable_after_seconds: u64,
    /// Requests in flight at once for one webhook (a quarter of `workers` unless set).
    #[serde(default)]
    pub max_concurrency_per_webhook: u32,
    /// Deliveries of one webhook held in memory at most (a quarter of `queue_capacity`
    /// unless set).
    #[serde(default)]
    pub max_queued_per_webhook: u32,
    /// Age at which delivered rows are pruned, in hours; 0 = keep.
    pub retention_hours: u64,
    /// How long a rotated-out secret keeps signing, in seconds.
    pub rotation_grace_seconds: u64,
}

/// `[plugins]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginsConfig {
    /// Fuel (about one unit per WebAssembly instruction) one call may burn.
    pub fuel: u64,
    /// Wall-clock deadline of one call, in milliseconds.
    pub timeout_ms: u64,
    /// Linear memory one call may use, in MiB.
    pub memory_mb: u64,
    /// Compiled plugins kept across restarts; `<data_dir>/plugin-cache` unless set.
    #[serde(default)]
    pub cache_dir: PathBuf,
}

/// `log.format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// `[log]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// A level (`info`) or an `EnvFilter` directive (`info,hookline_engine=debug`).
    pub level: String,
    /// Output format.
    pub format: LogFormat,
}

/// One `[[webhooks]]` entry. Unset overrides fall back to [`DeliveryConfig`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Unique id, `[A-Za-z0-9_.-]{1,64}`.
    pub id: String,
    /// Destination URL, http or https.
    pub url: String,
    /// Subscription patterns, validated.
    #[serde(deserialize_with = "parsed_list")]
    pub events: Vec<Pattern>,
    /// Signature scheme (default `marionette`).
    #[serde(default)]
    pub scheme: Scheme,
    /// Signing secret; generated and stored when absent.
    pub secret: Option<Redacted<String>>,
    /// Extra request headers (never one Hookline or the HTTP client sets:
    /// [`rules::validate_custom_header`]).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Request timeout override, in seconds.
    pub timeout_seconds: Option<u64>,
    /// Attempts override.
    pub max_attempts: Option<u32>,
    /// Explicit retry schedule override, in seconds.
    pub retry_schedule_seconds: Option<Vec<u64>>,
    /// Requests per second at most.
    pub rate_limit_per_second: Option<u32>,
    /// Requests in flight at most.
    pub max_concurrency: Option<u32>,
    /// WebAssembly plugin transforming the request.
    pub plugin: Option<PathBuf>,
    /// The plugin's configuration, converted from TOML to JSON text.
    #[serde(default, deserialize_with = "plugin_config_json")]
    pub plugin_config: Option<String>,
    /// Where `plugin_config` (or, when absent, the webhook) was written: the daemon's
    /// error when the plugin's `check-config` refuses it names the place. Set by loading.
    #[serde(skip)]
    pub plugin_config_origin: Option<Origin>,
    /// Whether deliveries are made (default true).
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    /// Free text.
    #[serde(default)]
    pub description: String,
}

fn enabled_by_default() -> bool {
    true
}

/// The keys the table at `path` accepts, from the structs' own field lists: `""` is the top
/// level, then `server`, …, `log`, `webhooks[2]`. `None` for a table of free keys
/// (`headers`, `plugin_config`).
fn table_keys(path: &str) -> Option<&'static [&'static str]> {
    Some(match path {
        "" => fields_of::<Config>(),
        "server" => fields_of::<ServerConfig>(),
        "store" => fields_of::<StoreConfig>(),
        "security" => fields_of::<SecurityConfig>(),
        "delivery" => fields_of::<DeliveryConfig>(),
        "plugins" => fields_of::<PluginsConfig>(),
        "log" => fields_of::<LogConfig>(),
        _ if path.starts_with("webhooks[") && path.ends_with(']') && !path.contains('.') => {
            fields_of::<WebhookConfig>()
        }
        _ => return None,
    })
}

/// A value `Debug` never shows: tokens, secrets, URLs with passwords.
#[derive(Clone, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(transparent)]
pub struct Redacted<T>(T);

impl<T> Redacted<T> {
    /// Wraps a value.
    pub fn new(value: T) -> Self {
        Redacted(value)
    }

    /// The value itself: handle with care.
    pub fn expose(&self) -> &T {
        &self.0
    }

    /// Unwraps the value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> From<T> for Redacted<T> {
    fn from(value: T) -> Self {
        Redacted(value)
    }
}

impl<T> fmt::Debug for Redacted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

fn secs(seconds: u64) -> Duration {
    Duration::from_secs(seconds)
}

impl ServerConfig {
    /// Where the daemon keeps a generated API token: `<data_dir>/api-token`.
    pub fn token_file(&self) -> PathBuf {
        self.data_dir.join(TOKEN_FILE_NAME)
    }

    /// Where the daemon keeps a generated encryption key: `<data_dir>/encryption-key`.
    pub fn key_file(&self) -> PathBuf {
        self.data_dir.join(KEY_FILE_NAME)
    }
}

impl PluginsConfig {
    /// `timeout_ms` as a duration.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    /// `memory_mb` in bytes.
    pub fn memory_bytes(&self) -> usize {
        usize::try_from(self.memory_mb.saturating_mul(1 << 20)).unwrap_or(usize::MAX)
    }
}

impl DeliveryConfig {
    /// Timeout of one request.
    pub fn timeout(&self) -> Duration {
        secs(self.timeout_seconds)
    }

    /// Lease of a claimed delivery.
    pub fn lease(&self) -> Duration {
        secs(self.lease_seconds)
    }

    /// Wait of an open circuit before a trial request.
    pub fn breaker_cooldown(&self) -> Duration {
        secs(self.breaker_cooldown_seconds)
    }

    /// Continuous failure after which a webhook is disabled; `None` = never.
    pub fn auto_disable_after(&self) -> Option<Duration> {
        (self.auto_disable_after_seconds > 0).then(|| secs(self.auto_disable_after_seconds))
    }

    /// Age at which delivered rows are pruned; `None` = keep them.
    pub fn retention(&self) -> Option<Duration> {
        (self.retention_hours > 0).then(|| secs(self.retention_hours.saturating_mul(3600)))
    }

    /// How long a rotated-out secret keeps signing.
    pub fn rotation_grace(&self) -> Duration {
        secs(self.rotation_grace_seconds)
    }

    /// The default schedule: the explicit list when set, else exponential.
    pub fn schedule(&self) -> Schedule {
        match &self.retry_schedule_seconds {
            Some(delays) => explicit(delays),
            None => Schedule::Exponential {
                base: secs(self.retry_base_delay_seconds),
            },
        }
    }

    /// The retry policy of webhooks without overrides.
    pub fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy {
            max_attempts: self.max_attempts,
            schedule: self.schedule(),
            jitter: self.retry_jitter,
            retry_after_min: secs(self.retry_after_min_seconds),
            retry_after_max: secs(self.retry_after_max_seconds),
        }
    }
}

fn explicit(delays: &[u64]) -> Schedule {
    Schedule::Explicit(delays.iter().map(|&d| secs(d)).collect())
}

impl WebhookConfig {
    /// This webhook's retry policy: its overrides over `defaults`.
    pub fn retry_policy(&self, defaults: &DeliveryConfig) -> RetryPolicy {
        let mut policy = defaults.retry_policy();
        if let Some(max_attempts) = self.max_attempts {
            policy.max_attempts = max_attempts;
        }
        if let Some(delays) = &self.retry_schedule_seconds {
            policy.schedule = explicit(delays);
        }
        policy
    }

    /// This webhook's request timeout.
    pub fn timeout(&self, defaults: &DeliveryConfig) -> Duration {
        secs(self.timeout_seconds.unwrap_or(defaults.timeout_seconds))
    }

    /// Requests in flight at most for this webhook.
    pub fn concurrency(&self, defaults: &DeliveryConfig) -> u32 {
        self.max_concurrency
            .unwrap_or(defaults.max_concurrency_per_webhook)
    }
}

impl SecurityConfig {
    /// Loads the encryption key from `encryption_key_file` and/or `HOOKLINE_ENCRYPTION_KEY`
    /// in `env` (pass [`process_env`]'s result, or a test's own list).
    ///
    /// Both may be set only if they hold the same key. With neither, returns `Ok(None)`: the
    /// daemon then uses (or generates) the data dir's key file, or, only under
    /// `store_secrets_unsealed`, stores secrets unsealed.
    /// Error messages name the source but never include the key.
    pub fn load_encryption_key(
        &self,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Option<[u8; 32]>, ConfigError> {
        let from_file = match &self.encryption_key_file {
            Some(path) => {
                let source = format!("file `{}` (security.encryption_key_file)", path.display());
                let fail = |message: String| ConfigError::EncryptionKey {
                    from: source.clone(),
                    message,
                };
                let text = std::fs::read_to_string(path)
                    .map(Zeroizing::new)
                    .map_err(|e| fail(format!("cannot read it: {e}")))?;
                warn_if_readable_by_others(path);
                let key = decode_key(&text).map_err(fail)?;
                Some((source, key))
            }
            None => None,
        };
        let from_env = match env.into_iter().find(|(name, _)| name == ENCRYPTION_KEY_ENV) {
            Some((_, value)) => {
                let value = Zeroizing::new(value);
                let source = format!("environment variable `{ENCRYPTION_KEY_ENV}`");
                let key = decode_key(&value).map_err(|message| ConfigError::EncryptionKey {
                    from: source.clone(),
                    message,
                })?;
                Some((source, key))
            }
            None => None,
        };
        match (from_file, from_env) {
            (Some((file, a)), Some((_, b))) if *a != *b => Err(ConfigError::EncryptionKey {
                from: format!("{file} and environment variable `{ENCRYPTION_KEY_ENV}`"),
                message: "both are set and hold different keys; keep only one".to_owned(),
            }),
            (Some((_, key)), _) | (None, Some((_, key))) => Ok(Some(*key)),
            (None, None) => Ok(None),
        }
    }
}

/// Decodes 64 hex characters (surrounding whitespace ignored). Messages never echo the key.
fn decode_key(text: &str) -> Result<Zeroizing<[u8; 32]>, String> {
    let hex_text = text.trim();
    if hex_text.is_empty() {
        return Err("is empty: expected 64 hex characters (32 bytes)".to_owned());
    }
    if let Some(position) = hex_text.chars().position(|c| !c.is_ascii_hexdigit()) {
        return Err(format!(
            "must be 64 hex characters (32 bytes); character {} is not a hex digit",
            position + 1
        ));
    }
    if hex_text.len() != 64 {
        return Err(format!(
            "must be 64 hex characters (32 bytes), got {}",
            hex_text.len()
        ));
    }
    let mut key = Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(hex_text, &mut key[..])
        .map_err(|e| format!("must be 64 hex characters (32 bytes): {e}"))?;
    Ok(key)
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path) {
        let mode = meta.permissions().mode();
        if mode & 0o077 != 0 {
            tracing::warn!(
                path = %path.display(),
                mode = format_args!("{:o}", mode & 0o777),
                "the encryption key file is accessible to other users; chmod 600 it"
            );
        }
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_path: &Path) {}

// ---------------------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------------------

impl Default for Config {
    /// The embedded defaults alone: what loading with no file and no environment gives.
    fn default() -> Self {
        Config::load(None, []).expect("the embedded defaults are a valid configuration")
    }
}

impl Config {
    /// Loads the defaults, then the file at `path` (if any), then the `HOOKLINE_` overrides
    /// found in `env`, and validates the result.
    pub fn load(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        match path {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })?;
                let name = path.display().to_string();
                load_from(Some((&name, &text)), env)
            }
            None => load_from(None, env),
        }
    }

    /// [`Config::load`] with the process's environment (see [`process_env`]).
    pub fn from_env_and_file(path: Option<&Path>) -> Result<Config, ConfigError> {
        Config::load(path, process_env()?)
    }

    /// Like [`Config::load`], with the file's text given; `file_name` names it in errors.
    pub fn from_toml_str(
        text: &str,
        file_name: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        load_from(Some((file_name, text)), env)
    }

    /// Validates a configuration assembled in code (loading validates already). Unlike
    /// loading, it cannot tell explicit settings from defaults, so it does not refuse
    /// `retry_base_delay_seconds` next to `retry_schedule_seconds` (the schedule wins).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut check = Checker::new(None);
        check.config(self);
        ConfigError::from_list(check.errors)
    }

    /// The declared webhook with this id.
    pub fn webhook(&self, id: &str) -> Option<&WebhookConfig> {
        self.webhooks.iter().find(|w| w.id == id)
    }
}

/// The process's `HOOKLINE_` environment variables, without panicking on non-UTF-8 ones
/// elsewhere in the environment (as `std::env::vars` would). A `HOOKLINE_` variable whose
/// value is not UTF-8 is an error.
pub fn process_env() -> Result<Vec<(String, String)>, ConfigError> {
    let mut out = Vec::new();
    for (name, value) in std::env::vars_os() {
        let Some(name) = name.to_str().filter(|n| n.starts_with(ENV_PREFIX)) else {
            continue;
        };
        let value = value.into_string().map_err(|_| ConfigError::Env {
            var: name.to_owned(),
            message: "the value is not valid UTF-8".to_owned(),
        })?;
        out.push((name.to_owned(), value));
    }
    Ok(out)
}

/// For a `builtin:javascript` webhook whose `plugin_config` names a `script_file`: reads the
/// file (relative to `config_dir`, the config file's folder) into `script`.
fn read_script_file(
    webhook: &mut WebhookConfig,
    config_dir: Option<&Path>,
) -> Result<(), (&'static str, String)> {
    let (Some(plugin), Some(text)) = (&webhook.plugin, webhook.plugin_config.as_deref()) else {
        return Ok(());
    };
    if let Some(resolved) = resolve_script_file(plugin, text, config_dir)? {
        webhook.plugin_config = Some(resolved);
    }
    Ok(())
}

/// A `builtin:javascript` `plugin_config` (JSON text) with its `script_file` read into
/// `script`, the file's name kept as `script_name` for the plugin's messages; `None` when
/// there is nothing to read (another plugin, or no `script_file`). A relative path is taken
/// from `dir` (the config file's folder; the current directory when `None`). The plugin
/// itself reads no files, and the API takes `script` only.
///
/// # Errors
/// The key under `plugin_config` (`.script_file`) and what is wrong with it.
pub fn resolve_script_file(
    plugin: &Path,
    plugin_config: &str,
    dir: Option<&Path>,
) -> Result<Option<String>, (&'static str, String)> {
    if plugin.as_os_str() != hookline_plugin::builtin::JAVASCRIPT {
        return Ok(None);
    }
    let Ok(serde_json::Value::Object(mut map)) = serde_json::from_str(plugin_config) else {
        // Not an object: the plugin's check-config says why.
        return Ok(None);
    };
    let Some(file) = map.remove("script_file") else {
        return Ok(None);
    };
    let serde_json::Value::String(file) = file else {
        return Err((
            ".script_file",
            "must be a string: the script's path, relative to the config file".to_owned(),
        ));
    };
    if map.contains_key("script") {
        return Err((
            ".script_file",
            "is set next to `script`: give the script inline or as a file, not both".to_owned(),
        ));
    }
    let path = match dir {
        Some(dir) if Path::new(&file).is_relative() => dir.join(&file),
        _ => PathBuf::from(&file),
    };
    let script = std::fs::read_to_string(&path).map_err(|e| {
        (
            ".script_file",
            format!("cannot read `{}`: {e}", path.display()),
        )
    })?;
    map.insert("script".to_owned(), serde_json::Value::String(script));
    map.insert("script_name".to_owned(), serde_json::Value::String(file));
    Ok(Some(serde_json::Value::Object(map).to_string()))
}

fn load_from(
    file: Option<(&str, &str)>,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Config, ConfigError> {
    let mut env: Vec<(String, String)> = env
        .into_iter()
        .filter(|(name, _)| name.starts_with(ENV_PREFIX))
        .collect();
    env.sort();

    let mut sources = SourceMap::default();
    let mut root = DeTable::new();
    let defaults_base = sources.add(DEFAULT_CONFIG, SourceKind::Defaults);
    merge_tables(&mut root, parse(DEFAULT_CONFIG, defaults_base, &sources)?);
    if let Some((name, text)) = file {
        let base = sources.add(text, SourceKind::File(name));
        merge_tables(&mut root, parse(text, base, &sources)?);
    }
    let overrides = env_overrides(&env, &mut sources)?;
    let (mut config, index) = env::deserialize(&root, &overrides, &sources)?;

    // Keys whose default depends on another key.
    if config.store.path.as_os_str().is_empty() && index.get("store.path").is_none() {
        config.store.path = config.server.data_dir.join(DEFAULT_DATABASE_NAME);
    }
    if config.plugins.cache_dir.as_os_str().is_empty() && index.get("plugins.cache_dir").is_none() {
        config.plugins.cache_dir = config.server.data_dir.join(DEFAULT_PLUGIN_CACHE_NAME);
    }
    if config.delivery.max_concurrency_per_webhook == 0
        && index.get("delivery.max_concurrency_per_webhook").is_none()
    {
        // Clamped: an invalid `workers` is reported once, not twice.
        config.delivery.max_concurrency_per_webhook =
            (config.delivery.workers / 4).clamp(1, MAX_WORKERS);
    }
    if config.delivery.max_queued_per_webhook == 0
        && index.get("delivery.max_queued_per_webhook").is_none()
    {
        config.delivery.max_queued_per_webhook = (config.delivery.queue_capacity / 4).max(1);
    }
    config.delivery.user_agent = config
        .delivery
        .user_agent
        .replace(VERSION_PLACEHOLDER, env!("CARGO_PKG_VERSION"));

    let mut check = Checker::new(Some((&index, &sources)));
    // `script_file` paths are relative to the config file's folder.
    let config_dir = file.and_then(|(name, _)| Path::new(name).parent());
    for (i, webhook) in config.webhooks.iter_mut().enumerate() {
        webhook.plugin_config_origin = check.origin(&format!("webhooks[{i}].plugin_config"));
        if let Err((key, message)) = read_script_file(webhook, config_dir) {
            check.fail(&format!("webhooks[{i}].plugin_config{key}"), message);
        }
    }
    check.config(&config);
    check.explicit_retry_keys();
    ConfigError::from_list(check.errors)?;
    Ok(config)
}
