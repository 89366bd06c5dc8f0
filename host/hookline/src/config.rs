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
//!    (`HOOKLINE_DELIVERY_WORKERS=8`); lists are comma-separated. `HOOKLINE_API_TOKEN` sets
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

use std::borrow::Cow;
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;
use serde::{Deserialize, Deserializer};
use toml::Spanned;
use toml::de::{DeArray, DeTable, DeValue};
use zeroize::Zeroizing;

use hookline_core::pattern::Pattern;
use hookline_core::retry::{RetryPolicy, Schedule};
use hookline_core::rules;
use hookline_core::signing::{Scheme, SigningKey};

/// The embedded defaults, documented key by key: `host/hookline/config.default.toml`.
pub const DEFAULT_CONFIG: &str = include_str!("../config.default.toml");

/// Environment variable holding the API token (an alias of `HOOKLINE_SERVER_TOKEN`).
pub const API_TOKEN_ENV: &str = "HOOKLINE_API_TOKEN";

/// Environment variable holding the encryption key, as 64 hex characters.
pub const ENCRYPTION_KEY_ENV: &str = "HOOKLINE_ENCRYPTION_KEY";

/// Name of the generated API token file inside `server.data_dir`.
pub const TOKEN_FILE_NAME: &str = "api-token";

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
    /// Largest API request body, in bytes.
    pub max_request_bytes: u64,
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
}

/// `[security]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityConfig {
    /// File holding the encryption key (64 hex characters).
    pub encryption_key_file: Option<PathBuf>,
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
    /// Requests in flight at once for one webhook (`workers` unless set).
    #[serde(default)]
    pub max_concurrency_per_webhook: u32,
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
    /// Both may be set only if they hold the same key. With neither, returns `Ok(None)`
    /// after logging a loud warning: secrets will then be stored only base64-encoded.
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
            (None, None) => {
                tracing::warn!(
                    "no encryption key configured (neither `security.encryption_key_file` \
                     nor {ENCRYPTION_KEY_ENV}): webhook secrets will be stored only \
                     base64-encoded, NOT encrypted; anyone who can read the store can sign \
                     as Hookline"
                );
                Ok(None)
            }
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
// Errors
// ---------------------------------------------------------------------------------------

/// Where a configuration value was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The user's config file (1-based line and column).
    File {
        /// The file's name as given.
        file: String,
        /// Line, from 1.
        line: usize,
        /// Column in characters, from 1.
        column: usize,
    },
    /// The embedded defaults (only a broken build gets errors from there).
    Defaults {
        /// Line, from 1.
        line: usize,
        /// Column in characters, from 1.
        column: usize,
    },
    /// An environment variable.
    Env {
        /// Its name.
        var: String,
    },
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File { file, line, column } => write!(f, "{file}:{line}:{column}"),
            Origin::Defaults { line, column } => {
                write!(f, "built-in defaults (config.default.toml):{line}:{column}")
            }
            Origin::Env { var } => write!(f, "environment variable `{var}`"),
        }
    }
}

/// Why the configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read config file `{}`: {source}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error("{origin}: invalid TOML: {message}")]
    Syntax {
        /// Where.
        origin: Origin,
        /// The parser's message.
        message: String,
    },
    /// A key that does not exist.
    #[error("{}unknown key `{key}`{}", prefix(.origin), unknown_key_hint(.expected, .hint))]
    UnknownKey {
        /// Where it was written.
        origin: Option<Origin>,
        /// Its full path, e.g. `delivery.wrokers`.
        key: String,
        /// The keys accepted at that place.
        expected: Vec<String>,
        /// Advice: the closest accepted key (`did you mean `workers`?`), or where a value
        /// refused in the file belongs instead.
        hint: Option<String>,
    },
    /// A value of the wrong type, a missing required key, or a value that fails validation.
    #[error("{}`{key}`: {message}", prefix(.origin))]
    Invalid {
        /// Where the value was written (for a missing key: its table).
        origin: Option<Origin>,
        /// Its full path, e.g. `webhooks[1].events[0]`.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// An environment variable could not be applied.
    #[error("environment variable `{var}`: {message}")]
    Env {
        /// Its name.
        var: String,
        /// What is wrong (never the value of a secret).
        message: String,
    },
    /// The encryption key could not be loaded.
    #[error("encryption key from {from}: {message}")]
    EncryptionKey {
        /// Its source: the file (and key naming it) or the environment variable.
        from: String,
        /// What is wrong (never the key).
        message: String,
    },
    /// Several problems, all reported at once.
    #[error("{} problems in the configuration:{}", .0.len(), bullets(.0))]
    Multiple(Vec<ConfigError>),
}

impl ConfigError {
    /// The individual errors (one, unless this is [`ConfigError::Multiple`]).
    pub fn errors(&self) -> Vec<&ConfigError> {
        match self {
            ConfigError::Multiple(all) => all.iter().collect(),
            one => vec![one],
        }
    }

    fn from_list(mut errors: Vec<ConfigError>) -> Result<(), ConfigError> {
        match errors.len() {
            0 => Ok(()),
            1 => Err(errors.remove(0)),
            _ => Err(ConfigError::Multiple(errors)),
        }
    }
}

fn prefix(origin: &Option<Origin>) -> String {
    origin
        .as_ref()
        .map(|o| format!("{o}: "))
        .unwrap_or_default()
}

fn unknown_key_hint(expected: &[String], hint: &Option<String>) -> String {
    let mut out = String::new();
    if !expected.is_empty() {
        let list: Vec<String> = expected.iter().map(|k| format!("`{k}`")).collect();
        out.push_str(" (expected one of ");
        out.push_str(&list.join(", "));
        out.push(')');
    }
    if let Some(hint) = hint {
        out.push_str("; ");
        out.push_str(hint);
    }
    out
}

fn bullets(errors: &[ConfigError]) -> String {
    errors.iter().map(|e| format!("\n  - {e}")).collect()
}

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
    apply_env(&mut root, &env, &mut sources)?;

    let index = SpanIndex::build(&root);
    let end = sources.end;
    let mut config =
        Config::deserialize(toml::de::Deserializer::from(Spanned::new(end..end, root)))
            .map_err(|e| deserialize_error(&e, &sources, &index))?;

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
        config.delivery.max_concurrency_per_webhook = config.delivery.workers.clamp(1, MAX_WORKERS);
    }
    config.delivery.user_agent = config
        .delivery
        .user_agent
        .replace(VERSION_PLACEHOLDER, env!("CARGO_PKG_VERSION"));

    let mut check = Checker::new(Some((&index, &sources)));
    check.config(&config);
    check.explicit_retry_keys();
    ConfigError::from_list(check.errors)?;
    Ok(config)
}

/// Parses one source and moves its spans to `base` in the shared span space.
fn parse<'i>(
    text: &'i str,
    base: usize,
    sources: &SourceMap<'_>,
) -> Result<DeTable<'i>, ConfigError> {
    let table = DeTable::parse(text).map_err(|e| {
        let at = e.span().map_or(0, |s| s.start);
        ConfigError::Syntax {
            origin: sources
                .locate(base + at)
                .unwrap_or(Origin::Defaults { line: 1, column: 1 }),
            message: e.message().trim().to_owned(),
        }
    })?;
    Ok(shift_table(table.into_inner(), base))
}

fn shift_span(span: Range<usize>, by: usize) -> Range<usize> {
    span.start + by..span.end + by
}

fn shift_table(table: DeTable<'_>, by: usize) -> DeTable<'_> {
    table
        .into_iter()
        .map(|(k, v)| {
            let key_span = shift_span(k.span(), by);
            (Spanned::new(key_span, k.into_inner()), shift_value(v, by))
        })
        .collect()
}

fn shift_value(value: Spanned<DeValue<'_>>, by: usize) -> Spanned<DeValue<'_>> {
    let span = shift_span(value.span(), by);
    let inner = match value.into_inner() {
        DeValue::Table(t) => DeValue::Table(shift_table(t, by)),
        DeValue::Array(a) => DeValue::Array(a.into_iter().map(|v| shift_value(v, by)).collect()),
        other => other,
    };
    Spanned::new(span, inner)
}

/// Merges `over` into `base`: tables recursively, anything else replaced.
fn merge_tables<'i>(base: &mut DeTable<'i>, over: DeTable<'i>) {
    for (key, value) in over {
        // Remove first: inserting over an existing key would keep the old key's span.
        let existing = base.remove(key.get_ref().as_ref());
        let span = value.span();
        let merged = match (existing.map(Spanned::into_inner), value.into_inner()) {
            (Some(DeValue::Table(mut old)), DeValue::Table(new)) => {
                merge_tables(&mut old, new);
                DeValue::Table(old)
            }
            (_, new) => new,
        };
        base.insert(key, Spanned::new(span, merged));
    }
}

// ---------------------------------------------------------------------------------------
// Environment overrides
// ---------------------------------------------------------------------------------------

/// The TOML type an environment value is converted to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Str,
    Int,
    Float,
    StrList,
    IntList,
}

/// The sections' keys and their types: the keys `HOOKLINE_<SECTION>_<KEY>` may set. A unit
/// test checks this table against the structs' fields.
const SECTION_KEYS: &[(&str, &[(&str, Kind)])] = &[
    (
        "server",
        &[
            ("listen", Kind::Str),
            ("token", Kind::Str),
            ("max_request_bytes", Kind::Int),
            ("data_dir", Kind::Str),
        ],
    ),
    (
        "store",
        &[
            ("kind", Kind::Str),
            ("path", Kind::Str),
            ("url", Kind::Str),
            ("synchronous", Kind::Str),
        ],
    ),
    (
        "security",
        &[
            ("encryption_key_file", Kind::Str),
            ("allowed_networks", Kind::StrList),
        ],
    ),
    (
        "delivery",
        &[
            ("workers", Kind::Int),
            ("timeout_seconds", Kind::Int),
            ("max_attempts", Kind::Int),
            ("retry_base_delay_seconds", Kind::Int),
            ("retry_schedule_seconds", Kind::IntList),
            ("retry_jitter", Kind::Float),
            ("retry_after_min_seconds", Kind::Int),
            ("retry_after_max_seconds", Kind::Int),
            ("max_payload_bytes", Kind::Int),
            ("user_agent", Kind::Str),
            ("queue_capacity", Kind::Int),
            ("lease_seconds", Kind::Int),
            ("breaker_failure_threshold", Kind::Int),
            ("breaker_cooldown_seconds", Kind::Int),
            ("auto_disable_after_seconds", Kind::Int),
            ("max_concurrency_per_webhook", Kind::Int),
            ("retention_hours", Kind::Int),
            ("rotation_grace_seconds", Kind::Int),
        ],
    ),
    (
        "plugins",
        &[
            ("fuel", Kind::Int),
            ("timeout_ms", Kind::Int),
            ("memory_mb", Kind::Int),
            ("cache_dir", Kind::Str),
        ],
    ),
    ("log", &[("level", Kind::Str), ("format", Kind::Str)]),
];

/// Applies the `HOOKLINE_` overrides of `env` (sorted by name) to `root`.
fn apply_env<'i>(
    root: &mut DeTable<'i>,
    env: &'i [(String, String)],
    sources: &mut SourceMap<'i>,
) -> Result<(), ConfigError> {
    let alias = env.iter().find(|(n, _)| n == API_TOKEN_ENV);
    let direct = env.iter().find(|(n, _)| n == "HOOKLINE_SERVER_TOKEN");
    if let (Some((_, a)), Some((_, b))) = (alias, direct)
        && a != b
    {
        return Err(ConfigError::Env {
            var: API_TOKEN_ENV.to_owned(),
            message: "differs from HOOKLINE_SERVER_TOKEN; set only one of them".to_owned(),
        });
    }

    for (var, value) in env {
        let (section, key) = if var == API_TOKEN_ENV {
            ("server".to_owned(), "token".to_owned())
        } else {
            let rest = &var[ENV_PREFIX.len()..];
            let Some((section, key)) = rest.split_once('_') else {
                continue;
            };
            (section.to_ascii_lowercase(), key.to_ascii_lowercase())
        };
        if section == "webhooks" {
            return Err(ConfigError::Env {
                var: var.clone(),
                message: "webhooks cannot be configured through the environment; declare \
                          them in the config file or create them through the API"
                    .to_owned(),
            });
        }
        let Some((_, keys)) = SECTION_KEYS.iter().find(|(s, _)| *s == section) else {
            // Not a section: another HOOKLINE_ variable (HOOKLINE_ENCRYPTION_KEY, …).
            continue;
        };
        let Some(&(_, kind)) = keys.iter().find(|(k, _)| *k == key) else {
            let expected: Vec<String> = keys
                .iter()
                .map(|(k, _)| format!("{ENV_PREFIX}{}_{}", section, k).to_ascii_uppercase())
                .collect();
            let mut message = format!(
                "unknown key `{section}.{key}` (expected one of {})",
                expected.join(", ")
            );
            if section == "security" && key == "encryption_key" {
                message.push_str(&format!("; the key itself goes in {ENCRYPTION_KEY_ENV}"));
            } else if let Some(close) = closest(&key, keys.iter().map(|(k, _)| *k)) {
                message.push_str(&format!(
                    "; did you mean {}?",
                    format!("{ENV_PREFIX}{section}_{close}").to_ascii_uppercase()
                ));
            }
            return Err(ConfigError::Env {
                var: var.clone(),
                message,
            });
        };
        let base = sources.add(value, SourceKind::Env(var));
        let converted = env_value(kind, var, value, base)?;
        let section_span = base..base + value.len();
        let table = root
            .entry(Spanned::new(section_span.clone(), Cow::Owned(section)))
            .or_insert_with(|| Spanned::new(section_span.clone(), DeValue::Table(DeTable::new())));
        if let DeValue::Table(table) = table.get_mut() {
            table.remove(key.as_str());
            table.insert(Spanned::new(section_span, Cow::Owned(key)), converted);
        }
        // A section the file set to a non-table stays as it is: deserialisation reports it.
    }
    Ok(())
}

/// Converts one environment value to `kind`. Spans are offsets into the value, from `base`.
fn env_value<'i>(
    kind: Kind,
    var: &str,
    value: &'i str,
    base: usize,
) -> Result<Spanned<DeValue<'i>>, ConfigError> {
    let whole = base..base + value.len();
    let scalar = |item: &'i str,
                  at: usize,
                  kind: Kind|
     -> Result<Spanned<DeValue<'i>>, ConfigError> {
        let trimmed = item.trim();
        let at = at + (item.len() - item.trim_start().len());
        let span = base + at..base + at + trimmed.len();
        let value = match kind {
            Kind::Str | Kind::StrList => DeValue::String(Cow::Borrowed(trimmed)),
            Kind::Int | Kind::IntList | Kind::Float => {
                let parsed = DeValue::parse(trimmed).ok().map(Spanned::into_inner);
                match parsed {
                    Some(v) if v.is_integer() => v,
                    Some(v) if kind == Kind::Float && v.is_float() => v,
                    _ => {
                        let what = if kind == Kind::Float {
                            "a number"
                        } else {
                            "an integer"
                        };
                        return Err(ConfigError::Env {
                            var: var.to_owned(),
                            message: format!("expected {what}, got `{}`", trimmed.escape_debug()),
                        });
                    }
                }
            }
        };
        Ok(Spanned::new(span, value))
    };
    match kind {
        Kind::Str => Ok(Spanned::new(whole, DeValue::String(Cow::Borrowed(value)))),
        Kind::Int | Kind::Float => scalar(value, 0, kind),
        Kind::StrList | Kind::IntList => {
            let mut array = DeArray::new();
            if !value.trim().is_empty() {
                let mut at = 0;
                for item in value.split(',') {
                    array.push(scalar(item, at, kind)?);
                    at += item.len() + 1;
                }
            }
            Ok(Spanned::new(whole, DeValue::Array(array)))
        }
    }
}

// ---------------------------------------------------------------------------------------
// Provenance: which text every span points into, and the key path of every span
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
enum SourceKind<'a> {
    Defaults,
    File(&'a str),
    Env(&'a str),
}

/// The texts values came from, laid end to end in one span space (one unused offset
/// between two texts, so an empty span at a text's end still belongs to it).
#[derive(Debug, Default)]
struct SourceMap<'a> {
    texts: Vec<(usize, &'a str, SourceKind<'a>)>,
    end: usize,
}

impl<'a> SourceMap<'a> {
    /// Adds a text; returns its base offset.
    fn add(&mut self, text: &'a str, kind: SourceKind<'a>) -> usize {
        let base = self.end;
        self.texts.push((base, text, kind));
        self.end = base + text.len() + 1;
        base
    }

    fn find(&self, offset: usize) -> Option<&(usize, &'a str, SourceKind<'a>)> {
        self.texts
            .iter()
            .find(|(base, text, _)| *base <= offset && offset <= base + text.len())
    }

    fn is_default(&self, offset: usize) -> bool {
        matches!(self.find(offset), Some((_, _, SourceKind::Defaults)))
    }

    fn locate(&self, offset: usize) -> Option<Origin> {
        let &(base, text, kind) = self.find(offset)?;
        let (line, column) = line_column(text, offset - base);
        Some(match kind {
            SourceKind::Defaults => Origin::Defaults { line, column },
            SourceKind::File(file) => Origin::File {
                file: file.to_owned(),
                line,
                column,
            },
            SourceKind::Env(var) => Origin::Env {
                var: var.to_owned(),
            },
        })
    }
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (
        before.matches('\n').count() + 1,
        before[line_start..].chars().count() + 1,
    )
}

/// Every key and array element of the merged document: its path and spans.
#[derive(Debug, Default)]
struct SpanIndex {
    entries: Vec<IndexEntry>,
    by_path: HashMap<String, usize>,
}

#[derive(Debug)]
struct IndexEntry {
    path: String,
    key: Option<Range<usize>>,
    value: Range<usize>,
}

impl SpanIndex {
    fn build(root: &DeTable<'_>) -> SpanIndex {
        let mut index = SpanIndex::default();
        index.table(root, "");
        index.by_path = index
            .entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.path.clone(), i))
            .collect();
        index
    }

    fn table(&mut self, table: &DeTable<'_>, prefix: &str) {
        for (key, value) in table.iter() {
            let path = join_key(prefix, key.get_ref());
            self.entries.push(IndexEntry {
                path: path.clone(),
                key: Some(key.span()),
                value: value.span(),
            });
            self.value(value.get_ref(), &path);
        }
    }

    fn value(&mut self, value: &DeValue<'_>, path: &str) {
        match value {
            DeValue::Table(t) => self.table(t, path),
            DeValue::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let item_path = format!("{path}[{i}]");
                    self.entries.push(IndexEntry {
                        path: item_path.clone(),
                        key: None,
                        value: item.span(),
                    });
                    self.value(item.get_ref(), &item_path);
                }
            }
            _ => {}
        }
    }

    fn get(&self, path: &str) -> Option<&IndexEntry> {
        self.by_path.get(path).map(|&i| &self.entries[i])
    }

    /// The entry an error span points at: a key exactly, else a value exactly (the deepest
    /// one: an array of tables shares its first element's span), else the smallest value
    /// containing it.
    fn find(&self, span: &Range<usize>) -> Option<&IndexEntry> {
        if let Some(e) = self
            .entries
            .iter()
            .rev()
            .find(|e| e.key.as_ref() == Some(span))
        {
            return Some(e);
        }
        if let Some(e) = self.entries.iter().rev().find(|e| e.value == *span) {
            return Some(e);
        }
        self.entries
            .iter()
            .filter(|e| e.value.start <= span.start && span.end <= e.value.end)
            .min_by_key(|e| e.value.end - e.value.start)
    }
}

/// `prefix.key`, quoting the key when it is not a bare TOML key.
fn join_key(prefix: &str, key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let key = if bare {
        key.to_owned()
    } else {
        format!("{key:?}")
    };
    if prefix.is_empty() {
        key
    } else {
        format!("{prefix}.{key}")
    }
}

/// Turns a deserialisation error into one naming the key and where it was written.
fn deserialize_error(
    e: &toml::de::Error,
    sources: &SourceMap<'_>,
    index: &SpanIndex,
) -> ConfigError {
    let span = e.span();
    let origin = span.as_ref().and_then(|s| sources.locate(s.start));
    let entry = span.as_ref().and_then(|s| index.find(s));
    let path = entry.map(|e| e.path.clone());
    let message = e.message().trim();

    if let Some(rest) = message.strip_prefix("unknown field `")
        && let Some((field, tail)) = rest.split_once('`')
    {
        let expected: Vec<String> = tail
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect();
        let key = path.unwrap_or_else(|| field.to_owned());
        let hint = if key == "security.encryption_key" {
            Some(format!(
                "the key itself is not accepted in the file: use `security.encryption_key_file` \
                 or {ENCRYPTION_KEY_ENV}"
            ))
        } else {
            closest(field, expected.iter().map(String::as_str))
                .map(|close| format!("did you mean `{close}`?"))
        };
        return ConfigError::UnknownKey {
            origin,
            key,
            expected,
            hint,
        };
    }
    if let Some(rest) = message.strip_prefix("missing field `")
        && let Some((field, _)) = rest.split_once('`')
    {
        return ConfigError::Invalid {
            origin,
            key: join_key(path.as_deref().unwrap_or(""), field),
            message: "required key is missing".to_owned(),
        };
    }
    ConfigError::Invalid {
        origin,
        key: path.unwrap_or_else(|| "(document)".to_owned()),
        message: message.to_owned(),
    }
}

/// The candidate closest to `word` by edit distance, if close enough to be a likely typo.
fn closest<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(2);
    candidates
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance, counting a swap of two neighbours as one edit.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

// ---------------------------------------------------------------------------------------
// Custom deserialisation
// ---------------------------------------------------------------------------------------

// Values parsed from a string are parsed inside a visitor, not after `String::deserialize`
// returns: the toml deserializer attaches the span of the value being visited to errors
// raised during the visit, so an error names `allowed_networks[1]`, not the whole list.

/// A string parsed by `parse`; errors carry the string's own span.
struct ParsedStr<T>(T);

trait FromConfigStr: Sized {
    const EXPECTING: &'static str;
    fn from_config_str(s: &str) -> Result<Self, String>;
}

impl<'de, T: FromConfigStr> Deserialize<'de> for ParsedStr<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit<T>(std::marker::PhantomData<T>);
        impl<T: FromConfigStr> serde::de::Visitor<'_> for Visit<T> {
            type Value = ParsedStr<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(T::EXPECTING)
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Self::Value, E> {
                T::from_config_str(s).map(ParsedStr).map_err(E::custom)
            }
        }
        d.deserialize_str(Visit(std::marker::PhantomData))
    }
}

impl FromConfigStr for IpNet {
    const EXPECTING: &'static str = "a network in CIDR notation";

    /// CIDR, or a bare address meaning that one host; host bits are cleared.
    fn from_config_str(text: &str) -> Result<Self, String> {
        let trimmed = text.trim();
        if let Ok(net) = trimmed.parse::<IpNet>() {
            return Ok(net.trunc());
        }
        if let Ok(addr) = trimmed.parse::<std::net::IpAddr>() {
            return Ok(IpNet::from(addr));
        }
        Err(format!(
            "`{}` is not a network in CIDR notation (like `10.0.0.0/8` or `::1/128`) \
             nor an IP address",
            text.escape_debug()
        ))
    }
}

impl FromConfigStr for Pattern {
    const EXPECTING: &'static str = "an event pattern";

    fn from_config_str(text: &str) -> Result<Self, String> {
        Pattern::parse(text).map_err(|e| e.to_string())
    }
}

fn parsed_list<'de, D: Deserializer<'de>, T: FromConfigStr>(d: D) -> Result<Vec<T>, D::Error> {
    Ok(Vec::<ParsedStr<T>>::deserialize(d)?
        .into_iter()
        .map(|p| p.0)
        .collect())
}

fn plugin_config_json<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let table = toml::Table::deserialize(d)?;
    let json = toml_to_json(toml::Value::Table(table)).map_err(serde::de::Error::custom)?;
    Ok(Some(json.to_string()))
}

/// TOML to JSON: datetimes become strings (RFC 3339); NaN and infinities are refused.
fn toml_to_json(value: toml::Value) -> Result<serde_json::Value, String> {
    Ok(match value {
        toml::Value::String(s) => serde_json::Value::String(s),
        toml::Value::Integer(i) => serde_json::Value::from(i),
        toml::Value::Float(f) => serde_json::Number::from_f64(f)
            .map(serde_json::Value::Number)
            .ok_or_else(|| format!("{f} cannot be represented in JSON"))?,
        toml::Value::Boolean(b) => serde_json::Value::Bool(b),
        toml::Value::Datetime(d) => serde_json::Value::String(d.to_string()),
        toml::Value::Array(items) => serde_json::Value::Array(
            items
                .into_iter()
                .map(toml_to_json)
                .collect::<Result<_, _>>()?,
        ),
        toml::Value::Table(table) => serde_json::Value::Object(
            table
                .into_iter()
                .map(|(k, v)| Ok((k, toml_to_json(v)?)))
                .collect::<Result<_, String>>()?,
        ),
    })
}

// ---------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------

pub use hookline_core::rules::{check_webhook_id, check_webhook_url};

/// Collects validation errors, locating each by its key path when spans are known.
struct Checker<'a> {
    provenance: Option<(&'a SpanIndex, &'a SourceMap<'a>)>,
    errors: Vec<ConfigError>,
}

impl<'a> Checker<'a> {
    fn new(provenance: Option<(&'a SpanIndex, &'a SourceMap<'a>)>) -> Self {
        Checker {
            provenance,
            errors: Vec::new(),
        }
    }

    /// Where the value at `path` (or its nearest written ancestor) came from.
    fn origin(&self, path: &str) -> Option<Origin> {
        let (index, sources) = self.provenance?;
        let mut path = path;
        loop {
            if let Some(entry) = index.get(path) {
                return sources.locate(entry.value.start);
            }
            path = &path[..path.rfind(['.', '['])?];
        }
    }

    fn fail(&mut self, path: &str, message: impl Into<String>) {
        self.fail_at(path, path, message);
    }

    /// An error about `path`, located where `cause` was written (for a key missing because
    /// of another key's value).
    fn fail_at(&mut self, path: &str, cause: &str, message: impl Into<String>) {
        self.errors.push(ConfigError::Invalid {
            origin: self.origin(cause),
            key: path.to_owned(),
            message: message.into(),
        });
    }

    fn range<T: PartialOrd + fmt::Display>(&mut self, path: &str, value: T, min: T, max: T) {
        if value < min || value > max {
            self.fail(
                path,
                format!("must be between {min} and {max}, got {value}"),
            );
        }
    }

    fn config(&mut self, c: &Config) {
        self.server(&c.server);
        self.store(&c.store);
        self.delivery(&c.delivery);
        self.plugins(&c.plugins);
        self.log(&c.log);
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (i, webhook) in c.webhooks.iter().enumerate() {
            let path = format!("webhooks[{i}]");
            match seen.entry(&webhook.id) {
                Entry::Occupied(first) => self.fail(
                    &format!("{path}.id"),
                    format!(
                        "duplicate webhook id `{}` (also webhooks[{}])",
                        webhook.id,
                        first.get()
                    ),
                ),
                Entry::Vacant(slot) => {
                    slot.insert(i);
                }
            }
            self.webhook(&path, webhook, &c.delivery);
        }
    }

    fn server(&mut self, s: &ServerConfig) {
        if let Some(token) = &s.token {
            let token = token.expose();
            if token.chars().count() < MIN_TOKEN_LEN {
                self.fail(
                    "server.token",
                    format!(
                        "must be at least {MIN_TOKEN_LEN} characters long, got {}",
                        token.chars().count()
                    ),
                );
            } else if !token.bytes().all(|b| b.is_ascii_graphic()) {
                self.fail(
                    "server.token",
                    "may contain only visible ASCII characters (no spaces)",
                );
            }
        }
        self.range(
            "server.max_request_bytes",
            s.max_request_bytes,
            1024,
            1 << 30,
        );
        if s.data_dir.as_os_str().is_empty() {
            self.fail("server.data_dir", "must not be empty");
        }
    }

    fn store(&mut self, s: &StoreConfig) {
        match s.kind {
            StoreKind::Sqlite => {
                if s.path.as_os_str().is_empty() {
                    self.fail("store.path", "must not be empty");
                }
            }
            StoreKind::Postgres => match &s.url {
                None => self.fail_at(
                    "store.url",
                    "store.kind",
                    "required when `store.kind` is \"postgres\" (or set HOOKLINE_STORE_URL)",
                ),
                Some(url) => {
                    let url = url.expose();
                    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                        // Never echo the URL: it may hold a password.
                        self.fail(
                            "store.url",
                            "must be a `postgres://` or `postgresql://` URL",
                        );
                    }
                }
            },
        }
    }

    fn schedule(&mut self, path: &str, delays: &[u64]) {
        if let Err((at, e)) = rules::check_schedule(delays) {
            match at {
                Some(i) => self.fail(&format!("{path}[{i}]"), e),
                None => self.fail(path, e),
            }
        }
    }

    /// A rule of [`rules`]: its reason, located at `path`.
    fn rule(&mut self, path: &str, result: Result<(), String>) {
        if let Err(e) = result {
            self.fail(path, e);
        }
    }

    fn delivery(&mut self, d: &DeliveryConfig) {
        self.range("delivery.workers", d.workers, 1, MAX_WORKERS);
        self.rule(
            "delivery.timeout_seconds",
            rules::check_range(d.timeout_seconds, rules::TIMEOUT_SECONDS),
        );
        self.rule(
            "delivery.max_attempts",
            rules::check_range(d.max_attempts, rules::MAX_ATTEMPTS),
        );
        self.range(
            "delivery.retry_base_delay_seconds",
            d.retry_base_delay_seconds,
            1,
            DAY_SECS,
        );
        if let Some(delays) = &d.retry_schedule_seconds {
            self.schedule("delivery.retry_schedule_seconds", delays);
        }
        if !(0.0..=1.0).contains(&d.retry_jitter) {
            self.fail(
                "delivery.retry_jitter",
                format!("must be between 0.0 and 1.0, got {}", d.retry_jitter),
            );
        }
        self.range(
            "delivery.retry_after_max_seconds",
            d.retry_after_max_seconds,
            1,
            DAY_SECS,
        );
        if d.retry_after_min_seconds > d.retry_after_max_seconds {
            self.fail(
                "delivery.retry_after_min_seconds",
                format!(
                    "must not exceed `delivery.retry_after_max_seconds` ({}), got {}",
                    d.retry_after_max_seconds, d.retry_after_min_seconds
                ),
            );
        }
        self.range(
            "delivery.max_payload_bytes",
            d.max_payload_bytes,
            1024,
            1 << 30,
        );
        if d.user_agent.trim().is_empty() {
            self.fail("delivery.user_agent", "must not be empty");
        } else if axum::http::HeaderValue::from_str(&d.user_agent).is_err() {
            self.fail(
                "delivery.user_agent",
                "may contain only visible ASCII characters, spaces and tabs",
            );
        }
        self.range("delivery.queue_capacity", d.queue_capacity, 1, 10_000_000);
        self.range("delivery.lease_seconds", d.lease_seconds, 10, DAY_SECS);
        if d.lease_seconds <= d.timeout_seconds {
            self.fail(
                "delivery.lease_seconds",
                format!(
                    "must exceed `delivery.timeout_seconds` ({}), got {}: a lease ending \
                     before the request does lets another worker send it again",
                    d.timeout_seconds, d.lease_seconds
                ),
            );
        }
        self.range(
            "delivery.breaker_cooldown_seconds",
            d.breaker_cooldown_seconds,
            1,
            DAY_SECS,
        );
        self.range(
            "delivery.max_concurrency_per_webhook",
            d.max_concurrency_per_webhook,
            1,
            MAX_WORKERS,
        );
        self.range(
            "delivery.rotation_grace_seconds",
            d.rotation_grace_seconds,
            0,
            30 * DAY_SECS,
        );
    }

    fn plugins(&mut self, p: &PluginsConfig) {
        self.range("plugins.fuel", p.fuel, 1_000_000, 1_000_000_000_000);
        self.range("plugins.timeout_ms", p.timeout_ms, 1, 60_000);
        self.range("plugins.memory_mb", p.memory_mb, 1, 4096);
        if p.cache_dir.as_os_str().is_empty() {
            self.fail("plugins.cache_dir", "must not be empty");
        }
    }

    fn log(&mut self, l: &LogConfig) {
        const LEVELS: &[&str] = &["off", "error", "warn", "info", "debug", "trace"];
        let level = l.level.trim();
        if !level.contains([',', '=']) {
            // A bare word would parse as a target name: `loud` must be a typo, not a target.
            if !LEVELS.iter().any(|known| known.eq_ignore_ascii_case(level)) {
                self.fail(
                    "log.level",
                    format!(
                        "`{}` is not a level (off, error, warn, info, debug, trace) nor a \
                         filter such as `info,hookline_engine=debug`",
                        level.escape_debug()
                    ),
                );
            }
        } else if let Err(e) = tracing_subscriber::EnvFilter::builder().parse(&l.level) {
            self.fail(
                "log.level",
                format!("`{}` is not a valid filter: {e}", l.level.escape_debug()),
            );
        }
    }

    fn webhook(&mut self, path: &str, w: &WebhookConfig, d: &DeliveryConfig) {
        self.rule(&format!("{path}.id"), rules::check_webhook_id(&w.id));
        self.rule(
            &format!("{path}.url"),
            rules::check_webhook_url(&w.url).map(drop),
        );
        if w.events.is_empty() {
            self.fail(
                &format!("{path}.events"),
                "must list at least one pattern (`*` for every event)",
            );
        }
        if let Some(secret) = &w.secret
            && let Err(e) = SigningKey::parse(w.scheme, secret.expose())
        {
            self.fail(
                &format!("{path}.secret"),
                format!("not a usable `{}` secret: {e}", w.scheme),
            );
        }
        for (name, value) in &w.headers {
            self.rule(
                &join_key(&format!("{path}.headers"), name),
                rules::validate_custom_header(name, value),
            );
        }
        if let Some(timeout) = w.timeout_seconds {
            self.rule(
                &format!("{path}.timeout_seconds"),
                rules::check_timeout(timeout, d.lease_seconds),
            );
        }
        if let Some(n) = w.max_attempts {
            self.rule(
                &format!("{path}.max_attempts"),
                rules::check_range(n, rules::MAX_ATTEMPTS),
            );
        }
        if let Some(delays) = &w.retry_schedule_seconds {
            self.schedule(&format!("{path}.retry_schedule_seconds"), delays);
        }
        if let Some(n) = w.rate_limit_per_second {
            self.rule(
                &format!("{path}.rate_limit_per_second"),
                rules::check_range(n, rules::RATE_LIMIT_PER_SECOND),
            );
        }
        if let Some(n) = w.max_concurrency {
            self.rule(
                &format!("{path}.max_concurrency"),
                rules::check_range(n, rules::MAX_CONCURRENCY),
            );
        }
        if let Some(plugin) = &w.plugin
            && plugin.as_os_str().is_empty()
        {
            self.fail(&format!("{path}.plugin"), "must not be empty");
        }
        if w.plugin_config.is_some() && w.plugin.is_none() {
            self.fail(
                &format!("{path}.plugin_config"),
                "is set but `plugin` is not: there is no plugin to configure",
            );
        }
    }

    /// `retry_base_delay_seconds` and `retry_schedule_seconds` both set by the user (file or
    /// environment, not the defaults) are ambiguous.
    fn explicit_retry_keys(&mut self) {
        let Some((index, sources)) = self.provenance else {
            return;
        };
        let base = index.get("delivery.retry_base_delay_seconds");
        let list = index.get("delivery.retry_schedule_seconds");
        if let (Some(base), Some(list)) = (base, list)
            && !sources.is_default(base.value.start)
            && !sources.is_default(list.value.start)
        {
            let base_at = sources
                .locate(base.value.start)
                .map(|o| format!(" (set at {o})"))
                .unwrap_or_default();
            self.fail(
                "delivery.retry_schedule_seconds",
                format!(
                    "conflicts with `delivery.retry_base_delay_seconds`{base_at}: set \
                     `retry_schedule_seconds` for an explicit schedule or \
                     `retry_base_delay_seconds` for the exponential one, not both"
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn load(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml_str(text, "config.toml", [])
    }

    fn load_env(text: &str, pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_toml_str(text, "config.toml", env(pairs))
    }

    fn err(text: &str) -> String {
        load(text).unwrap_err().to_string()
    }

    fn err_env(text: &str, pairs: &[(&str, &str)]) -> String {
        load_env(text, pairs).unwrap_err().to_string()
    }

    #[track_caller]
    fn assert_has(haystack: &str, needle: &str) {
        assert!(
            haystack.contains(needle),
            "expected {needle:?} in:\n{haystack}"
        );
    }

    fn webhook(extra: &str) -> String {
        format!(
            "[[webhooks]]\nid = \"billing\"\nurl = \"https://example.com/hook\"\nevents = [\"task.*\"]\n{extra}\n"
        )
    }

    /// A unique scratch file, removed on drop.
    struct TempFile(PathBuf);

    impl TempFile {
        fn new(name: &str, contents: &str) -> TempFile {
            let path = std::env::temp_dir().join(format!(
                "hookline-config-test-{}-{name}",
                std::process::id()
            ));
            std::fs::write(&path, contents).unwrap();
            TempFile(path)
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    // --- defaults -----------------------------------------------------------------------

    #[test]
    fn defaults_match_the_origin() {
        let c = Config::default();
        let d = &c.delivery;
        assert_eq!(d.max_attempts, 3);
        assert_eq!(d.retry_base_delay_seconds, 60);
        assert_eq!(d.retry_schedule_seconds, None);
        assert_eq!(d.timeout(), Duration::from_secs(30));
        assert_eq!(d.max_payload_bytes, 10 * 1024 * 1024);
        assert_eq!(d.workers, 4);
        assert_eq!(d.max_concurrency_per_webhook, 4);
        assert_eq!(
            d.user_agent,
            format!("Hookline/{}", env!("CARGO_PKG_VERSION"))
        );
        assert_eq!(d.queue_capacity, 10_000);
        assert_eq!(d.lease(), Duration::from_secs(300));
        assert_eq!(d.breaker_failure_threshold, 10);
        assert_eq!(d.breaker_cooldown(), Duration::from_secs(30));
        assert_eq!(
            d.auto_disable_after(),
            Some(Duration::from_secs(5 * 86_400))
        );
        assert_eq!(d.retention(), Some(Duration::from_secs(168 * 3600)));
        assert_eq!(d.rotation_grace(), Duration::from_secs(86_400));
        // The retry module's own defaults agree with the documented ones.
        assert_eq!(d.retry_policy(), RetryPolicy::default());

        assert_eq!(c.server.listen, "127.0.0.1:8420".parse().unwrap());
        assert_eq!(c.server.token, None);
        assert_eq!(c.server.max_request_bytes, 16 * 1024 * 1024);
        assert_eq!(c.server.data_dir, PathBuf::from("hookline-data"));
        assert_eq!(
            c.server.token_file(),
            Path::new("hookline-data").join("api-token")
        );
        assert_eq!(c.store.kind, StoreKind::Sqlite);
        assert_eq!(c.store.path, Path::new("hookline-data").join("hookline.db"));
        assert_eq!(c.store.url, None);
        assert_eq!(c.store.synchronous, Synchronous::Full);
        assert_eq!(c.security.encryption_key_file, None);
        assert!(c.security.allowed_networks.is_empty());
        assert_eq!(c.log.level, "info");
        assert_eq!(c.log.format, LogFormat::Text);
        assert!(c.webhooks.is_empty());
        assert!(c.validate().is_ok());
    }

    #[test]
    fn default_is_loading_without_file_or_env() {
        assert_eq!(Config::default(), Config::load(None, []).unwrap());
        assert_eq!(Config::default(), load("").unwrap());
        assert_eq!(Config::default(), load("# only a comment\n").unwrap());
    }

    #[test]
    fn dependent_defaults_follow_their_key() {
        let c =
            load("[server]\ndata_dir = \"/var/lib/hookline\"\n[delivery]\nworkers = 32\n").unwrap();
        assert_eq!(c.store.path, PathBuf::from("/var/lib/hookline/hookline.db"));
        assert_eq!(c.delivery.max_concurrency_per_webhook, 32);
        let c = load("[store]\npath = \"db/x.db\"\n[delivery]\nmax_concurrency_per_webhook = 2\n")
            .unwrap();
        assert_eq!(c.store.path, PathBuf::from("db/x.db"));
        assert_eq!(c.delivery.max_concurrency_per_webhook, 2);
        let c =
            load("[delivery]\nuser_agent = \"Acme-Hooks/{version} (ops@acme.test)\"\n").unwrap();
        assert_eq!(
            c.delivery.user_agent,
            format!("Acme-Hooks/{} (ops@acme.test)", env!("CARGO_PKG_VERSION"))
        );
        // Set explicitly to nothing: refused rather than silently defaulted.
        assert_has(
            &err("[store]\npath = \"\"\n"),
            "config.toml:2:8: `store.path`: must not be empty",
        );
        assert_has(
            &err("[delivery]\nmax_concurrency_per_webhook = 0\n"),
            "`delivery.max_concurrency_per_webhook`: must be between 1 and 4096, got 0",
        );
    }

    // --- the contract -------------------------------------------------------------------

    fn contract(retry: &str) -> String {
        format!(
            r#"
[server]
listen = "127.0.0.1:8420"
token = "0123456789abcdef-token"
[store]
kind = "sqlite"
path = "hookline-data/hookline.db"
[security]
encryption_key_file = "/etc/hookline/encryption.key"
allowed_networks = ["127.0.0.0/8", "::1/128"]
[delivery]
workers = 4
timeout_seconds = 30
max_attempts = 3
{retry}
[[webhooks]]
id = "billing"
url = "http://127.0.0.1:9000/hook"
events = ["task.*", "session.created"]
scheme = "standard"
secret = "{WHSEC}"
headers = {{ "X-Team" = "billing" }}
timeout_seconds = 5
max_attempts = 5
"#
        )
    }

    #[test]
    fn the_contract_snippet_parses_with_the_exponential_schedule() {
        let c = load(&contract("retry_base_delay_seconds = 60")).unwrap();
        assert_eq!(
            c.server.token.as_ref().unwrap().expose(),
            "0123456789abcdef-token"
        );
        assert_eq!(
            c.security.encryption_key_file,
            Some(PathBuf::from("/etc/hookline/encryption.key"))
        );
        assert_eq!(
            c.security.allowed_networks,
            vec![
                "127.0.0.0/8".parse::<IpNet>().unwrap(),
                "::1/128".parse().unwrap()
            ]
        );
        assert_eq!(
            c.delivery.schedule(),
            Schedule::Exponential {
                base: Duration::from_secs(60)
            }
        );
        let w = c.webhook("billing").unwrap();
        assert_eq!(w.url, "http://127.0.0.1:9000/hook");
        let events: Vec<&str> = w.events.iter().map(Pattern::as_str).collect();
        assert_eq!(events, ["task.*", "session.created"]);
        assert_eq!(w.scheme, Scheme::Standard);
        assert_eq!(w.secret.as_ref().unwrap().expose(), WHSEC);
        assert_eq!(w.headers.get("X-Team").map(String::as_str), Some("billing"));
        assert_eq!(w.timeout(&c.delivery), Duration::from_secs(5));
        assert!(w.enabled);
        assert_eq!(w.concurrency(&c.delivery), 4);
        let policy = w.retry_policy(&c.delivery);
        assert_eq!(policy.max_attempts, 5);
        assert_eq!(policy.schedule, c.delivery.schedule());
    }

    #[test]
    fn the_contract_snippet_parses_with_an_explicit_schedule() {
        let c = load(&contract("retry_schedule_seconds = [5, 300, 1800]")).unwrap();
        let expected = Schedule::Explicit(vec![
            Duration::from_secs(5),
            Duration::from_secs(300),
            Duration::from_secs(1800),
        ]);
        assert_eq!(c.delivery.retry_policy().schedule, expected);
        assert_eq!(c.webhooks[0].retry_policy(&c.delivery).schedule, expected);
    }

    #[test]
    fn webhook_defaults_and_overrides() {
        let c = load(&webhook(
            "retry_schedule_seconds = [1, 2]\nrate_limit_per_second = 10\nmax_concurrency = 2\n\
             enabled = false\ndescription = \"d\"",
        ))
        .unwrap();
        let w = &c.webhooks[0];
        assert_eq!(w.scheme, Scheme::Marionette);
        assert_eq!(w.secret, None);
        assert!(w.headers.is_empty());
        assert_eq!(w.timeout(&c.delivery), Duration::from_secs(30));
        assert_eq!(w.concurrency(&c.delivery), 2);
        assert_eq!(w.rate_limit_per_second, Some(10));
        assert!(!w.enabled);
        assert_eq!(w.description, "d");
        let policy = w.retry_policy(&c.delivery);
        assert_eq!(policy.max_attempts, 3);
        assert_eq!(
            policy.schedule,
            Schedule::Explicit(vec![Duration::from_secs(1), Duration::from_secs(2)])
        );
        assert_eq!(policy.jitter, 0.2);
        let plain = load(&webhook("")).unwrap();
        assert!(plain.webhooks[0].enabled);
        assert_eq!(plain.webhooks[0].description, "");
    }

    #[test]
    fn plugin_config_becomes_json_text() {
        let c = load(&webhook(
            "plugin = \"plugins/slack.wasm\"\n\
             plugin_config = { channel = \"#ops\", n = 3, ratio = 1.5, on = true, \
             tags = [\"a\", \"b\"], nested = { at = 1979-05-27T07:32:00Z } }",
        ))
        .unwrap();
        let w = &c.webhooks[0];
        assert_eq!(w.plugin, Some(PathBuf::from("plugins/slack.wasm")));
        let json: serde_json::Value =
            serde_json::from_str(w.plugin_config.as_deref().unwrap()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "channel": "#ops", "n": 3, "ratio": 1.5, "on": true, "tags": ["a", "b"],
                "nested": { "at": "1979-05-27T07:32:00Z" }
            })
        );
        assert_has(
            &err(&webhook("plugin_config = { a = 1 }")),
            "`webhooks[0].plugin_config`: is set but `plugin` is not",
        );
        assert_has(
            &err(&webhook("plugin = \"p.wasm\"\nplugin_config = { x = nan }")),
            "`webhooks[0].plugin_config`: NaN cannot be represented in JSON",
        );
    }

    #[test]
    fn the_example_file_parses_and_validates() {
        let example = include_str!("../../../hookline.example.toml");
        let c = Config::from_toml_str(example, "hookline.example.toml", []).unwrap();
        assert!(c.validate().is_ok());
        assert_eq!(c.webhooks.len(), 2);
        assert_eq!(c.webhooks[0].id, "billing");
        assert_eq!(c.webhooks[0].scheme, Scheme::Standard);
        assert_eq!(c.webhooks[1].scheme, Scheme::Marionette);
        assert_eq!(c.security.allowed_networks.len(), 2);
        // Apart from what it sets on purpose, the example shows the defaults.
        let mut as_defaults = c.clone();
        as_defaults.webhooks.clear();
        as_defaults.security.allowed_networks.clear();
        assert_eq!(as_defaults, Config::default());
    }

    // --- environment --------------------------------------------------------------------

    #[test]
    fn env_overrides_integers_and_beats_the_file() {
        let c = load_env(
            "[delivery]\nworkers = 8\n",
            &[("HOOKLINE_DELIVERY_WORKERS", "16")],
        )
        .unwrap();
        assert_eq!(c.delivery.workers, 16);
        assert_eq!(c.delivery.max_concurrency_per_webhook, 16);
        let c = load_env("", &[("HOOKLINE_SERVER_MAX_REQUEST_BYTES", "1_048_576")]).unwrap();
        assert_eq!(c.server.max_request_bytes, 1 << 20);
    }

    #[test]
    fn env_overrides_floats() {
        let c = load_env("", &[("HOOKLINE_DELIVERY_RETRY_JITTER", "0.5")]).unwrap();
        assert_eq!(c.delivery.retry_jitter, 0.5);
        let c = load_env("", &[("HOOKLINE_DELIVERY_RETRY_JITTER", "1")]).unwrap();
        assert_eq!(c.delivery.retry_jitter, 1.0);
        assert_has(
            &err_env("", &[("HOOKLINE_DELIVERY_RETRY_JITTER", "lots")]),
            "environment variable `HOOKLINE_DELIVERY_RETRY_JITTER`: expected a number, got `lots`",
        );
    }

    #[test]
    fn env_overrides_strings_and_enums() {
        let c = load_env(
            "",
            &[
                ("HOOKLINE_SERVER_LISTEN", "0.0.0.0:9999"),
                ("HOOKLINE_STORE_PATH", "/data/h.db"),
                ("HOOKLINE_STORE_SYNCHRONOUS", "normal"),
                ("HOOKLINE_LOG_FORMAT", "json"),
                ("HOOKLINE_LOG_LEVEL", "debug"),
            ],
        )
        .unwrap();
        assert_eq!(c.server.listen, "0.0.0.0:9999".parse().unwrap());
        assert_eq!(c.store.path, PathBuf::from("/data/h.db"));
        assert_eq!(c.store.synchronous, Synchronous::Normal);
        assert_eq!(c.log.format, LogFormat::Json);
        assert_eq!(c.log.level, "debug");
        let c = load_env(
            "",
            &[
                ("HOOKLINE_STORE_KIND", "postgres"),
                ("HOOKLINE_STORE_URL", "postgres://h:pw@db/h"),
            ],
        )
        .unwrap();
        assert_eq!(c.store.kind, StoreKind::Postgres);
        assert_eq!(c.store.url.unwrap().expose(), "postgres://h:pw@db/h");
    }

    #[test]
    fn env_overrides_lists() {
        let c = load_env(
            "[security]\nallowed_networks = [\"10.0.0.0/8\"]\n",
            &[
                ("HOOKLINE_DELIVERY_RETRY_SCHEDULE_SECONDS", "5, 300,1800"),
                ("HOOKLINE_SECURITY_ALLOWED_NETWORKS", "127.0.0.0/8,::1/128"),
            ],
        )
        .unwrap();
        assert_eq!(c.delivery.retry_schedule_seconds, Some(vec![5, 300, 1800]));
        assert_eq!(
            c.security.allowed_networks,
            vec![
                "127.0.0.0/8".parse::<IpNet>().unwrap(),
                "::1/128".parse().unwrap()
            ]
        );
        let c = load_env(
            "[security]\nallowed_networks = [\"10.0.0.0/8\"]\n",
            &[("HOOKLINE_SECURITY_ALLOWED_NETWORKS", "")],
        )
        .unwrap();
        assert!(c.security.allowed_networks.is_empty());
        assert_has(
            &err_env(
                "",
                &[("HOOKLINE_DELIVERY_RETRY_SCHEDULE_SECONDS", "5,soon")],
            ),
            "environment variable `HOOKLINE_DELIVERY_RETRY_SCHEDULE_SECONDS`: expected an integer, got `soon`",
        );
        assert_has(
            &err_env(
                "",
                &[("HOOKLINE_SECURITY_ALLOWED_NETWORKS", "127.0.0.0/8, 10.1/99")],
            ),
            "environment variable `HOOKLINE_SECURITY_ALLOWED_NETWORKS`: `security.allowed_networks[1]`: `10.1/99` is not a network",
        );
    }

    #[test]
    fn api_token_env_sets_the_server_token() {
        let c = load_env("", &[("HOOKLINE_API_TOKEN", "tok-0123456789abcdef")]).unwrap();
        assert_eq!(c.server.token.unwrap().expose(), "tok-0123456789abcdef");
        let c = load_env(
            "[server]\ntoken = \"file-token-0123456789\"\n",
            &[("HOOKLINE_SERVER_TOKEN", "env-token-0123456789")],
        )
        .unwrap();
        assert_eq!(c.server.token.unwrap().expose(), "env-token-0123456789");
        let e = err_env(
            "",
            &[
                ("HOOKLINE_API_TOKEN", "tok-0123456789abcdef"),
                ("HOOKLINE_SERVER_TOKEN", "other-0123456789abcdef"),
            ],
        );
        assert_has(
            &e,
            "environment variable `HOOKLINE_API_TOKEN`: differs from HOOKLINE_SERVER_TOKEN",
        );
        assert!(!e.contains("tok-0123456789abcdef"));
        let e = err_env("", &[("HOOKLINE_API_TOKEN", "short")]);
        assert_has(
            &e,
            "environment variable `HOOKLINE_API_TOKEN`: `server.token`: must be at least 16 characters long, got 5",
        );
    }

    #[test]
    fn unrelated_env_is_ignored() {
        let c = load_env(
            "",
            &[
                ("HOOKLINE_ENCRYPTION_KEY", "not even hex"),
                ("HOOKLINE_LOG", "trace"),
                ("HOOKLINE_CONFIG", "/etc/hookline.toml"),
                ("HOOKLINE_URL", "http://127.0.0.1:8420"),
                ("PATH", "/usr/bin"),
                ("DELIVERY_WORKERS", "0"),
            ],
        )
        .unwrap();
        assert_eq!(c, Config::default());
    }

    #[test]
    fn env_errors_name_the_variable() {
        let e = err_env("", &[("HOOKLINE_DELIVERY_WROKERS", "8")]);
        assert_has(
            &e,
            "environment variable `HOOKLINE_DELIVERY_WROKERS`: unknown key `delivery.wrokers`",
        );
        assert_has(&e, "did you mean HOOKLINE_DELIVERY_WORKERS?");
        assert_has(
            &err_env("", &[("HOOKLINE_DELIVERY_WORKERS", "lots")]),
            "environment variable `HOOKLINE_DELIVERY_WORKERS`: expected an integer, got `lots`",
        );
        assert_has(
            &err_env("", &[("HOOKLINE_DELIVERY_WORKERS", "0")]),
            "environment variable `HOOKLINE_DELIVERY_WORKERS`: `delivery.workers`: must be between 1 and 4096, got 0",
        );
        assert_has(
            &err_env("", &[("HOOKLINE_DELIVERY_WORKERS", "-1")]),
            "environment variable `HOOKLINE_DELIVERY_WORKERS`: `delivery.workers`: invalid value: integer `-1`, expected u32",
        );
        assert_has(
            &err_env("", &[("HOOKLINE_SERVER_LISTEN", "localhost")]),
            "environment variable `HOOKLINE_SERVER_LISTEN`: `server.listen`: invalid socket address syntax",
        );
        assert_has(
            &err_env("", &[("HOOKLINE_WEBHOOKS_0_ID", "x")]),
            "environment variable `HOOKLINE_WEBHOOKS_0_ID`: webhooks cannot be configured through the environment",
        );
        let e = err_env(
            "",
            &[("HOOKLINE_SECURITY_ENCRYPTION_KEY", &"ab".repeat(32))],
        );
        assert_has(&e, "the key itself goes in HOOKLINE_ENCRYPTION_KEY");
        assert!(!e.contains(&"ab".repeat(32)));
    }

    // --- errors from the file -------------------------------------------------------------

    #[test]
    fn unknown_keys_are_named_with_their_line() {
        let text =
            "[server]\nlisten = \"127.0.0.1:8420\"\n\n[delivery]\nworkers = 4\nwrokers = 5\n";
        let e = load(text).unwrap_err();
        let ConfigError::UnknownKey {
            origin,
            key,
            expected,
            hint,
        } = &e
        else {
            panic!("{e:?}");
        };
        assert_eq!(key, "delivery.wrokers");
        assert_eq!(
            origin,
            &Some(Origin::File {
                file: "config.toml".to_owned(),
                line: 6,
                column: 1
            })
        );
        assert!(expected.iter().any(|k| k == "workers"));
        assert_eq!(hint.as_deref(), Some("did you mean `workers`?"));
        let e = e.to_string();
        assert!(
            e.starts_with("config.toml:6:1: unknown key `delivery.wrokers` (expected one of `workers`, `timeout_seconds`"),
            "{e}"
        );
        assert_has(&e, "did you mean `workers`?");

        assert_has(
            &err("[deliveri]\nworkers = 4\n"),
            "config.toml:1:2: unknown key `deliveri` (expected one of `server`, `store`, `security`, `delivery`, `plugins`, `log`, `webhooks`); did you mean `delivery`?",
        );
        let mut two = webhook("");
        two.push_str("\n[[webhooks]]\nid = \"b\"\nurl = \"https://b.example\"\nevents = [\"*\"]\nevnets = [\"x\"]\n");
        assert_has(
            &err(&two),
            "config.toml:11:1: unknown key `webhooks[1].evnets`",
        );
        let e = err(&format!(
            "[security]\nencryption_key = \"{}\"\n",
            "ab".repeat(32)
        ));
        assert_has(&e, "config.toml:2:1: unknown key `security.encryption_key`");
        assert_has(
            &e,
            "use `security.encryption_key_file` or HOOKLINE_ENCRYPTION_KEY",
        );
    }

    #[test]
    fn bad_toml_names_file_line_and_column() {
        let e =
            load("[server]\nlisten = \"127.0.0.1:8420\"\n[delivery]\nworkers = \n").unwrap_err();
        let ConfigError::Syntax { origin, .. } = &e else {
            panic!("{e:?}");
        };
        assert_eq!(
            origin,
            &Origin::File {
                file: "config.toml".to_owned(),
                line: 4,
                column: 11
            }
        );
        assert_has(&e.to_string(), "config.toml:4:11: invalid TOML: ");
        assert_has(&err("[server\n"), "config.toml:1:");
        assert_has(
            &err("[delivery]\nworkers = 4\nworkers = 5\n"),
            "config.toml:3:1: invalid TOML: ",
        );
    }

    #[test]
    fn type_errors_name_the_key_path_and_line() {
        assert_has(
            &err("[delivery]\nworkers = \"many\"\n"),
            "config.toml:2:11: `delivery.workers`: invalid type: string \"many\", expected u32",
        );
        assert_has(
            &err(&webhook("scheme = \"hmac\"")),
            "config.toml:5:10: `webhooks[0].scheme`: unknown variant `hmac`, expected `marionette` or `standard`",
        );
        assert_has(
            &err(&webhook("max_attempts = -1")),
            "config.toml:5:16: `webhooks[0].max_attempts`: invalid value: integer `-1`, expected u32",
        );
        assert_has(
            &err("[server]\nlisten = \"localhost\"\n"),
            "config.toml:2:10: `server.listen`: invalid socket address syntax",
        );
        assert_has(
            &err("[store]\nkind = \"mysql\"\n"),
            "`store.kind`: unknown variant `mysql`, expected `sqlite` or `postgres`",
        );
        assert_has(
            &err("delivery = 5\n"),
            "config.toml:1:12: `delivery`: invalid type: integer `5`",
        );
    }

    #[test]
    fn missing_required_webhook_keys_are_named() {
        let mut text = webhook("");
        text.push_str("\n[[webhooks]]\nid = \"second\"\nevents = [\"*\"]\n");
        assert_has(
            &err(&text),
            "config.toml:7:1: `webhooks[1].url`: required key is missing",
        );
    }

    // --- validation ---------------------------------------------------------------------

    #[test]
    fn bad_patterns_are_refused_with_their_reason() {
        let mut text = webhook("");
        text.push_str(
            "\n[[webhooks]]\nid = \"b\"\nurl = \"https://b.example\"\nevents = [\"task*\"]\n",
        );
        assert_has(
            &err(&text),
            "config.toml:10:11: `webhooks[1].events[0]`: pattern `task*`: `*` must follow a `.`",
        );
        assert_has(
            &err(&webhook("").replace("[\"task.*\"]", "[]")),
            "`webhooks[0].events`: must list at least one pattern",
        );
    }

    #[test]
    fn duplicate_webhook_ids_are_refused() {
        let text = format!(
            "{}\n{}\n{}",
            webhook(""),
            webhook("").replace("\"billing\"", "\"other\""),
            webhook(""),
        );
        let e = err(&text);
        assert_has(
            &e,
            "config.toml:14:6: `webhooks[2].id`: duplicate webhook id `billing` (also webhooks[0])",
        );
    }

    #[test]
    fn bad_ids_and_urls_are_refused() {
        let bad_url = |url: &str| err(&webhook("").replace("https://example.com/hook", url));
        assert_has(
            &bad_url("ftp://example.com/x"),
            "config.toml:3:7: `webhooks[0].url`: `ftp://example.com/x`: only http and https URLs are allowed",
        );
        assert_has(
            &bad_url("example.com/hook"),
            "`webhooks[0].url`: `example.com/hook` is not a valid URL",
        );
        assert_has(
            &bad_url("https://example.com/#frag"),
            "`webhooks[0].url`: `https://example.com/#frag` has a fragment",
        );
        assert!(
            load(&webhook("").replace("https://example.com/hook", "http://[::1]:9000/h?x=1"))
                .is_ok()
        );
        assert_has(
            &err(&webhook("").replace("\"billing\"", "\"bill ing\"")),
            "`webhooks[0].id`: webhook id `bill ing` has the character ' '",
        );
        assert_has(
            &err(&webhook("").replace("\"billing\"", &format!("\"{}\"", "x".repeat(65)))),
            "`webhooks[0].id`: webhook id must be 1 to 64 characters long, got 65",
        );
        assert!(check_webhook_id("Billing_v2.eu-1").is_ok());
    }

    #[test]
    fn bad_networks_are_refused() {
        assert_has(
            &err("[security]\nallowed_networks = [\"127.0.0.0/8\", \"10.0.0.0/33\"]\n"),
            "config.toml:2:36: `security.allowed_networks[1]`: `10.0.0.0/33` is not a network in CIDR notation",
        );
        let c = load(
            "[security]\nallowed_networks = [\"192.168.1.7\", \"10.1.2.3/8\", \"fd00::/8\"]\n",
        )
        .unwrap();
        assert_eq!(
            c.security.allowed_networks,
            vec![
                "192.168.1.7/32".parse::<IpNet>().unwrap(),
                "10.0.0.0/8".parse().unwrap(),
                "fd00::/8".parse().unwrap()
            ]
        );
    }

    #[test]
    fn reserved_headers_are_refused_case_insensitively() {
        for name in [
            "X-Webhook-Signature",
            "x-webhook-id",
            "webhook-signature",
            "WEBHOOK-TIMESTAMP",
            "content-type",
        ] {
            let e = err(&webhook(&format!("headers = {{ \"{name}\" = \"x\" }}")));
            assert_has(
                &e,
                &format!(
                    "`webhooks[0].headers.{name}`: header `{name}` is set by Hookline on every \
                     delivery and cannot be overridden"
                ),
            );
            assert_has(&e, "config.toml:5:");
        }
        for name in ["Host", "Expect", "te", "Keep-Alive"] {
            let e = err(&webhook(&format!("headers = {{ \"{name}\" = \"x\" }}")));
            assert_has(
                &e,
                &format!(
                    "`webhooks[0].headers.{name}`: header `{name}` is managed by the HTTP \
                     client and cannot be set"
                ),
            );
            assert_has(&e, "config.toml:5:");
        }
        assert_has(
            &err(&webhook("headers = { \"X-Bad\" = \"a\\nb\" }")),
            "`webhooks[0].headers.X-Bad`: header `X-Bad`: the value contains characters not allowed",
        );
        assert_has(
            &err(&webhook("headers = { \"Bad Name\" = \"x\" }")),
            "`webhooks[0].headers.\"Bad Name\"`: header `Bad Name`: not a valid HTTP header name",
        );
        let c = load(&webhook(
            "headers = { \"User-Agent\" = \"x\", \"X-Team\" = \"billing\" }",
        ))
        .unwrap();
        assert_eq!(c.webhooks[0].headers.len(), 2);
    }

    /// Regression: an `Expect` header passed config validation and then failed at start
    /// without a file:line; the config and the API now share one header rule.
    #[test]
    fn config_and_api_refuse_a_header_with_the_same_words() {
        let e = err(&webhook("headers = { \"Expect\" = \"100-continue\" }"));
        let rule =
            hookline_core::rules::validate_custom_header("Expect", "100-continue").unwrap_err();
        assert_has(
            &e,
            &format!("config.toml:5:24: `webhooks[0].headers.Expect`: {rule}"),
        );
    }

    #[test]
    fn secrets_are_checked_against_the_scheme() {
        assert!(
            load(&webhook(&format!(
                "scheme = \"standard\"\nsecret = \"{WHSEC}\""
            )))
            .is_ok()
        );
        assert!(load(&webhook("secret = \"any non-empty string\"")).is_ok());
        let e = err(&webhook(
            "scheme = \"standard\"\nsecret = \"whsec_!!!not-base64\"",
        ));
        assert_has(&e, "`webhooks[0].secret`: not a usable `standard` secret: ");
        assert!(!e.contains("!!!not-base64"));
        assert_has(
            &err(&webhook("secret = \"\"")),
            "`webhooks[0].secret`: not a usable `marionette` secret: secret is empty",
        );
    }

    #[test]
    fn both_retry_keys_set_explicitly_is_an_error() {
        let both = "[delivery]\nretry_base_delay_seconds = 30\nretry_schedule_seconds = [5, 60]\n";
        let e = err(both);
        assert_has(
            &e,
            "config.toml:3:26: `delivery.retry_schedule_seconds`: conflicts with `delivery.retry_base_delay_seconds` (set at config.toml:2:28)",
        );
        // One from the file, one from the environment: still both explicit.
        assert_has(
            &err_env(
                "[delivery]\nretry_base_delay_seconds = 30\n",
                &[("HOOKLINE_DELIVERY_RETRY_SCHEDULE_SECONDS", "5")],
            ),
            "environment variable `HOOKLINE_DELIVERY_RETRY_SCHEDULE_SECONDS`: `delivery.retry_schedule_seconds`: conflicts with `delivery.retry_base_delay_seconds`",
        );
        assert_has(
            &err_env(
                "[delivery]\nretry_schedule_seconds = [5]\n",
                &[("HOOKLINE_DELIVERY_RETRY_BASE_DELAY_SECONDS", "5")],
            ),
            "`delivery.retry_schedule_seconds`: conflicts with `delivery.retry_base_delay_seconds` (set at environment variable `HOOKLINE_DELIVERY_RETRY_BASE_DELAY_SECONDS`)",
        );
        // The default base delay next to a schedule of the user's is fine.
        let c = load("[delivery]\nretry_schedule_seconds = [5]\n").unwrap();
        assert_eq!(
            c.delivery.schedule(),
            Schedule::Explicit(vec![Duration::from_secs(5)])
        );
        assert_has(
            &err("[delivery]\nretry_schedule_seconds = []\n"),
            "`delivery.retry_schedule_seconds`: must list at least one delay",
        );
        assert_has(
            &err("[delivery]\nretry_schedule_seconds = [5, 100000]\n"),
            "`delivery.retry_schedule_seconds[1]`: must be between 0 and 86400, got 100000",
        );
    }

    #[test]
    fn ranges_and_relations_are_checked() {
        assert_has(
            &err("[delivery]\nworkers = 0\n"),
            "config.toml:2:11: `delivery.workers`: must be between 1 and 4096, got 0",
        );
        assert_has(
            &err("[delivery]\nworkers = 5000\n"),
            "`delivery.workers`: must be between 1 and 4096, got 5000",
        );
        assert!(load("[delivery]\nworkers = 4096\n").is_ok());
        assert_has(
            &err("[delivery]\nretry_jitter = 1.5\n"),
            "`delivery.retry_jitter`: must be between 0.0 and 1.0, got 1.5",
        );
        assert_has(
            &err("[delivery]\nmax_attempts = 0\n"),
            "`delivery.max_attempts`: must be between 1 and 100, got 0",
        );
        assert_has(
            &err("[delivery]\ntimeout_seconds = 600\n"),
            "`delivery.lease_seconds`: must exceed `delivery.timeout_seconds` (600), got 300",
        );
        assert_has(
            &err(&webhook("timeout_seconds = 300")),
            "`webhooks[0].timeout_seconds`: must be less than `delivery.lease_seconds` (300), got 300",
        );
        assert_has(
            &err("[delivery]\nretry_after_min_seconds = 10\nretry_after_max_seconds = 5\n"),
            "`delivery.retry_after_min_seconds`: must not exceed `delivery.retry_after_max_seconds` (5), got 10",
        );
        assert_has(
            &err("[log]\nlevel = \"loud\"\n"),
            "`log.level`: `loud` is not a level",
        );
        assert!(load("[log]\nlevel = \"info,hookline_engine=debug\"\n").is_ok());
        assert_has(
            &err("[server]\ntoken = \"has spaces in it, 16+\"\n"),
            "`server.token`: may contain only visible ASCII characters",
        );
        assert_has(
            &err("[store]\nkind = \"postgres\"\n"),
            "config.toml:2:8: `store.url`: required when `store.kind` is \"postgres\"",
        );
        let e = err("[store]\nkind = \"postgres\"\nurl = \"mysql://u:hunter2@db/x\"\n");
        assert_has(
            &e,
            "`store.url`: must be a `postgres://` or `postgresql://` URL",
        );
        assert!(!e.contains("hunter2"));
        assert!(load("[delivery]\nbreaker_failure_threshold = 0\nauto_disable_after_seconds = 0\nretention_hours = 0\n")
            .map(|c| c.delivery.auto_disable_after().is_none() && c.delivery.retention().is_none())
            .unwrap());
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let e = load("[delivery]\nworkers = 0\nmax_attempts = 0\n").unwrap_err();
        assert_eq!(e.errors().len(), 2);
        let text = e.to_string();
        assert!(
            text.starts_with("2 problems in the configuration:"),
            "{text}"
        );
        assert_has(&text, "\n  - config.toml:2:11: `delivery.workers`");
        assert_has(&text, "\n  - config.toml:3:16: `delivery.max_attempts`");
    }

    #[test]
    fn validate_checks_configs_built_in_code() {
        let mut c = Config::default();
        c.delivery.workers = 0;
        c.webhooks
            .push(load(&webhook("")).unwrap().webhooks.remove(0));
        c.webhooks.push(c.webhooks[0].clone());
        let e = c.validate().unwrap_err().to_string();
        assert_has(
            &e,
            "  - `delivery.workers`: must be between 1 and 4096, got 0",
        );
        assert_has(
            &e,
            "  - `webhooks[1].id`: duplicate webhook id `billing` (also webhooks[0])",
        );
    }

    // --- the encryption key -------------------------------------------------------------

    #[test]
    fn encryption_key_from_env_or_file() {
        let hex_key = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
        let mut expected = [0u8; 32];
        hex::decode_to_slice(hex_key, &mut expected).unwrap();

        let none = SecurityConfig {
            encryption_key_file: None,
            allowed_networks: vec![],
        };
        assert_eq!(none.load_encryption_key([]).unwrap(), None);
        assert_eq!(
            none.load_encryption_key(env(&[("HOOKLINE_ENCRYPTION_KEY", hex_key)]))
                .unwrap(),
            Some(expected)
        );

        let file = TempFile::new("key", &format!("{hex_key}\n"));
        let from_file = SecurityConfig {
            encryption_key_file: Some(file.0.clone()),
            allowed_networks: vec![],
        };
        assert_eq!(from_file.load_encryption_key([]).unwrap(), Some(expected));
        assert_eq!(
            from_file
                .load_encryption_key(env(&[("HOOKLINE_ENCRYPTION_KEY", &hex_key.to_uppercase())]))
                .unwrap(),
            Some(expected)
        );
        let other = "ff".repeat(32);
        let e = from_file
            .load_encryption_key(env(&[("HOOKLINE_ENCRYPTION_KEY", &other)]))
            .unwrap_err()
            .to_string();
        assert_has(&e, "hold different keys");
        assert!(!e.contains(hex_key) && !e.contains(&other));
    }

    #[test]
    fn bad_encryption_keys_name_their_source_never_the_key() {
        let none = SecurityConfig {
            encryption_key_file: None,
            allowed_networks: vec![],
        };
        let short = "abcdef0123";
        let e = none
            .load_encryption_key(env(&[("HOOKLINE_ENCRYPTION_KEY", short)]))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "encryption key from environment variable `HOOKLINE_ENCRYPTION_KEY`: must be 64 hex characters (32 bytes), got 10"
        );
        let not_hex = format!("{}zz", "a".repeat(62));
        let e = none
            .load_encryption_key(env(&[("HOOKLINE_ENCRYPTION_KEY", &not_hex)]))
            .unwrap_err()
            .to_string();
        assert_has(&e, "character 63 is not a hex digit");
        assert!(!e.contains(&not_hex));
        assert_has(
            &none
                .load_encryption_key(env(&[("HOOKLINE_ENCRYPTION_KEY", "")]))
                .unwrap_err()
                .to_string(),
            "`HOOKLINE_ENCRYPTION_KEY`: is empty",
        );

        let file = TempFile::new("badkey", &"ab".repeat(31));
        let from_file = SecurityConfig {
            encryption_key_file: Some(file.0.clone()),
            allowed_networks: vec![],
        };
        let e = from_file.load_encryption_key([]).unwrap_err().to_string();
        assert_has(
            &e,
            &format!(
                "encryption key from file `{}` (security.encryption_key_file): must be 64 hex characters (32 bytes), got 62",
                file.0.display()
            ),
        );
        let missing = SecurityConfig {
            encryption_key_file: Some(PathBuf::from("/nonexistent/hookline.key")),
            allowed_networks: vec![],
        };
        assert_has(
            &missing.load_encryption_key([]).unwrap_err().to_string(),
            "encryption key from file `/nonexistent/hookline.key` (security.encryption_key_file): cannot read it",
        );
    }

    // --- files, secrets in Debug --------------------------------------------------------

    #[test]
    fn load_reads_the_file_and_names_it_in_errors() {
        let file = TempFile::new("config.toml", "[delivery]\nworkers = 7\n");
        let c = Config::load(Some(&file.0), []).unwrap();
        assert_eq!(c.delivery.workers, 7);
        let bad = TempFile::new("bad.toml", "\n[delivery]\nworkerz = 7\n");
        let e = Config::load(Some(&bad.0), []).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!(
                "{}:3:1: unknown key `delivery.workerz`",
                bad.0.display()
            )),
            "{e}"
        );
        let e = Config::load(Some(Path::new("/nonexistent/hookline.toml")), []).unwrap_err();
        assert!(matches!(e, ConfigError::Read { .. }));
        assert_has(
            &e.to_string(),
            "cannot read config file `/nonexistent/hookline.toml`",
        );
    }

    #[test]
    fn debug_never_shows_tokens_or_secrets() {
        let c = load_env(
            &format!(
                "[server]\ntoken = \"TOKEN-0123456789abcdef\"\n[store]\nurl = \"postgres://u:PGPASSWORD@db/h\"\n{}",
                webhook(&format!("scheme = \"standard\"\nsecret = \"{WHSEC}\""))
            ),
            &[],
        )
        .unwrap();
        let debug = format!("{c:?} {c:#?}");
        for secret in [
            "TOKEN-0123456789abcdef",
            "PGPASSWORD",
            WHSEC,
            "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        ] {
            assert!(!debug.contains(secret), "{secret} leaked");
        }
        assert_has(&debug, "<redacted>");
        assert_eq!(format!("{:?}", Redacted::new("x")), "<redacted>");
    }

    // --- the schema stays in step with the structs and the documentation ----------------

    /// The field names serde's derive knows for `T` (its `deserialize_struct` `fields`).
    fn fields_of<T: serde::de::DeserializeOwned>() -> &'static [&'static str] {
        struct Capture<'a>(&'a mut &'static [&'static str]);
        impl<'de> Deserializer<'de> for Capture<'_> {
            type Error = serde::de::value::Error;
            fn deserialize_any<V: serde::de::Visitor<'de>>(
                self,
                _: V,
            ) -> Result<V::Value, Self::Error> {
                Err(serde::de::Error::custom("not a struct"))
            }
            fn deserialize_struct<V: serde::de::Visitor<'de>>(
                self,
                _: &'static str,
                fields: &'static [&'static str],
                _: V,
            ) -> Result<V::Value, Self::Error> {
                *self.0 = fields;
                Err(serde::de::Error::custom("captured"))
            }
            serde::forward_to_deserialize_any! {
                bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
                byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map
                enum identifier ignored_any
            }
        }
        let mut fields: &'static [&'static str] = &[];
        let _ = T::deserialize(Capture(&mut fields));
        fields
    }

    fn section_fields() -> Vec<(&'static str, &'static [&'static str])> {
        vec![
            ("server", fields_of::<ServerConfig>()),
            ("store", fields_of::<StoreConfig>()),
            ("security", fields_of::<SecurityConfig>()),
            ("delivery", fields_of::<DeliveryConfig>()),
            ("plugins", fields_of::<PluginsConfig>()),
            ("log", fields_of::<LogConfig>()),
        ]
    }

    #[test]
    fn the_env_schema_matches_the_structs() {
        let sections: BTreeSet<&str> = fields_of::<Config>().iter().copied().collect();
        let mut expected: BTreeSet<&str> = SECTION_KEYS.iter().map(|(s, _)| *s).collect();
        expected.insert("webhooks");
        assert_eq!(sections, expected);
        for (section, fields) in section_fields() {
            let (_, keys) = SECTION_KEYS.iter().find(|(s, _)| *s == section).unwrap();
            let keys: BTreeSet<&str> = keys.iter().map(|(k, _)| *k).collect();
            let fields: BTreeSet<&str> = fields.iter().copied().collect();
            assert_eq!(keys, fields, "section {section}");
        }
    }

    #[test]
    fn every_section_key_can_be_set_from_the_env() {
        let defaults: toml::Table = DEFAULT_CONFIG.parse().unwrap();
        for (section, keys) in SECTION_KEYS {
            for (key, kind) in *keys {
                let value = match defaults[*section].get(*key) {
                    Some(toml::Value::String(s)) => s.clone(),
                    Some(toml::Value::Array(a)) => a
                        .iter()
                        .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                        .collect::<Vec<_>>()
                        .join(","),
                    Some(other) => other.to_string(),
                    None => match *key {
                        "token" => "0123456789abcdef0123".to_owned(),
                        "path" => "x.db".to_owned(),
                        "url" => "postgres://localhost/h".to_owned(),
                        "encryption_key_file" => "/etc/key".to_owned(),
                        "retry_schedule_seconds" => "5,300".to_owned(),
                        "max_concurrency_per_webhook" => "2".to_owned(),
                        "cache_dir" => "/var/cache/hookline/plugins".to_owned(),
                        other => panic!("no sample value for {section}.{other}"),
                    },
                };
                let var = format!("HOOKLINE_{section}_{key}").to_ascii_uppercase();
                let result = load_env("", &[(&var, &value)]);
                assert!(
                    result.is_ok(),
                    "{var}={value} ({kind:?}): {}",
                    result.unwrap_err()
                );
            }
        }
    }

    #[test]
    fn every_key_is_documented_in_the_defaults_and_the_example() {
        let example = include_str!("../../../hookline.example.toml");
        let documented = |text: &str, key: &str| {
            text.lines().any(|line| {
                let line = line.trim_start();
                let line = line.strip_prefix("# ").unwrap_or(line);
                line.starts_with(&format!("{key} = "))
            })
        };
        let mut keys: Vec<&str> = section_fields()
            .into_iter()
            .flat_map(|(_, f)| f.iter().copied())
            .collect();
        keys.extend(fields_of::<WebhookConfig>());
        assert!(keys.len() > 40);
        for key in keys {
            assert!(
                documented(DEFAULT_CONFIG, key),
                "`{key}` is not in config.default.toml"
            );
            assert!(
                documented(example, key),
                "`{key}` is not in hookline.example.toml"
            );
        }
    }

    #[test]
    fn edit_distance_and_suggestions() {
        assert_eq!(edit_distance("wrokers", "workers"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(
            closest("timeout", ["timeout_seconds", "workers"].into_iter()),
            None
        );
        assert_eq!(
            closest("evnets", ["events", "url"].into_iter()),
            Some("events")
        );
        assert_eq!(line_column("ab\ncdé\nx", 7), (2, 4));
        assert_eq!(line_column("ab", 99), (1, 3));
    }
}
