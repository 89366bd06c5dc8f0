//! Validation of a deserialised [`Config`]: every problem at once, each naming its key and,
//! when loaded from text, where it was written.
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;

use hookline_core::rules;
use hookline_core::signing::SigningKey;

use super::error::{ConfigError, Origin};
use super::provenance::{SourceMap, SpanIndex, join_key};
use super::{
    Config, DAY_SECS, DeliveryConfig, LogConfig, MAX_WORKERS, MIN_TOKEN_LEN, PluginsConfig,
    ServerConfig, StoreConfig, StoreKind, WebhookConfig,
};

pub use hookline_core::rules::{check_webhook_id, check_webhook_url};

/// Collects validation errors, locating each by its key path when spans are known.
pub(super) struct Checker<'a> {
    provenance: Option<(&'a SpanIndex, &'a SourceMap<'a>)>,
    pub(super) errors: Vec<ConfigError>,
}

impl<'a> Checker<'a> {
    pub(super) fn new(provenance: Option<(&'a SpanIndex, &'a SourceMap<'a>)>) -> Self {
        Checker {
            provenance,
            errors: Vec::new(),
        }
    }

    /// Where the value at `path` (or its nearest written ancestor) came from.
    pub(super) fn origin(&self, path: &str) -> Option<Origin> {
        let (index, sources) = self.provenance?;
        let mut path = path;
        loop {
            if let Some(entry) = index.get(path) {
                return sources.locate(entry.value.start);
            }
            path = &path[..path.rfind(['.', '['])?];
        }
    }

    pub(super) fn fail(&mut self, path: &str, message: impl Into<String>) {
        self.fail_at(path, path, message);
    }

    /// An error about `path`, located where `cause` was written (for a key missing because
    /// of another key's value).
    pub(super) fn fail_at(&mut self, path: &str, cause: &str, message: impl Into<String>) {
        self.errors.push(ConfigError::Invalid {
            origin: self.origin(cause),
            key: path.to_owned(),
            message: message.into(),
        });
    }

    pub(super) fn range<T: PartialOrd + fmt::Display>(
        &mut self,
        path: &str,
        value: T,
        min: T,
        max: T,
    ) {
        if value < min || value > max {
            self.fail(
                path,
                format!("must be between {min} and {max}, got {value}"),
            );
        }
    }

    pub(super) fn config(&mut self, c: &Config) {
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

    pub(super) fn server(&mut self, s: &ServerConfig) {
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
        self.range(
            "server.max_admin_request_bytes",
            s.max_admin_request_bytes,
            1024,
            1 << 30,
        );
        self.range(
            "server.request_timeout_seconds",
            s.request_timeout_seconds,
            1,
            3600,
        );
        self.range(
            "server.max_concurrent_requests",
            s.max_concurrent_requests,
            1,
            1_000_000,
        );
        if s.data_dir.as_os_str().is_empty() {
            self.fail("server.data_dir", "must not be empty");
        }
    }

    pub(super) fn store(&mut self, s: &StoreConfig) {
        self.range("store.max_queued_rows", s.max_queued_rows, 1, 100_000_000);
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

    pub(super) fn schedule(&mut self, path: &str, delays: &[u64]) {
        if let Err((at, e)) = rules::check_schedule(delays) {
            match at {
                Some(i) => self.fail(&format!("{path}[{i}]"), e),
                None => self.fail(path, e),
            }
        }
    }

    /// A rule of [`rules`]: its reason, located at `path`.
    pub(super) fn rule(&mut self, path: &str, result: Result<(), String>) {
        if let Err(e) = result {
            self.fail(path, e);
        }
    }

    pub(super) fn delivery(&mut self, d: &DeliveryConfig) {
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
        self.range(
            "delivery.max_queued_per_webhook",
            d.max_queued_per_webhook,
            1,
            d.queue_capacity.max(1),
        );
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

    pub(super) fn plugins(&mut self, p: &PluginsConfig) {
        self.range("plugins.fuel", p.fuel, 1_000_000, 1_000_000_000_000);
        self.range("plugins.timeout_ms", p.timeout_ms, 1, 60_000);
        self.range("plugins.memory_mb", p.memory_mb, 1, 4096);
        if p.cache_dir.as_os_str().is_empty() {
            self.fail("plugins.cache_dir", "must not be empty");
        }
    }

    pub(super) fn log(&mut self, l: &LogConfig) {
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

    pub(super) fn webhook(&mut self, path: &str, w: &WebhookConfig, d: &DeliveryConfig) {
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
        if let Some(why) = w
            .plugin
            .as_ref()
            .and_then(|p| p.to_str())
            .and_then(hookline_plugin::builtin::unknown_builtin)
        {
            self.fail(&format!("{path}.plugin"), why);
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
    pub(super) fn explicit_retry_keys(&mut self) {
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
