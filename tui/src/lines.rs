//! The rows of the Webhooks, Plugins and Failures views, derived from [`Data`] when the app
//! refreshes a view (never while drawing), with the webhooks' warnings.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::data::{Bucket, Data, DeliveryRow};
use crate::format;
use crate::query::{Field, Record};
use hookline_contract::{DeliveryStatus, Millis, PluginFigures, WebhookView};

/// Failure rate over the last minute that raises a warning, with at least
/// [`MIN_ATTEMPTS_FOR_RATE`] attempts.
pub const HIGH_FAILURE_RATE: f64 = 0.2;
/// Attempts needed before a failure rate means anything.
pub const MIN_ATTEMPTS_FOR_RATE: u64 = 10;
/// Share of the auto-disable window after which "near auto-disable" shows.
pub const NEAR_AUTO_DISABLE: f64 = 0.8;
/// Share of the timeout a p99 must reach to warn.
pub const NEAR_TIMEOUT: f64 = 0.8;
/// 401/403 answers in a row that raise a warning.
pub const AUTH_FAILURES: u32 = 3;
/// Seconds over which the backlog trend is measured.
pub const BACKLOG_SECONDS: i64 = 30;
/// Net growth over [`BACKLOG_SECONDS`] that counts as a growing backlog.
pub const BACKLOG_GROWTH: u64 = 20;

/// Something wrong, or about to be, with a webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Warning {
    /// Many recent attempts failed.
    FailureRate {
        /// Percent of attempts that failed in the last minute.
        percent: u32,
    },
    /// Failing continuously, close to the auto-disable window.
    NearAutoDisable {
        /// Failing for this long.
        failing_ms: i64,
        /// The window.
        window_ms: i64,
    },
    /// Latency p99 close to the timeout.
    P99NearTimeout {
        /// p99, ms.
        p99_ms: u64,
        /// Timeout, ms.
        timeout_ms: u64,
    },
    /// More deliveries created than settled lately.
    BacklogGrowing {
        /// Net growth over [`BACKLOG_SECONDS`].
        net: u64,
    },
    /// The plugin trapped or ran out of resources.
    PluginErrors {
        /// How many times since the console attached.
        count: u64,
    },
    /// Repeated 401/403.
    AuthFailures {
        /// In a row.
        count: u32,
    },
}

impl Warning {
    /// A few words for the table.
    pub fn short(&self) -> String {
        match self {
            Warning::FailureRate { percent } => format!("fail {percent}%"),
            Warning::NearAutoDisable {
                failing_ms,
                window_ms,
            } => format!(
                "auto-disable in {}",
                format::age((window_ms - failing_ms).max(0))
            ),
            Warning::P99NearTimeout { .. } => "p99≈timeout".to_owned(),
            Warning::BacklogGrowing { net } => format!("backlog +{net}"),
            Warning::PluginErrors { count } => format!("plugin traps {count}"),
            Warning::AuthFailures { count } => format!("401/403 ×{count}"),
        }
    }

    /// A sentence for the details pane.
    pub fn long(&self) -> String {
        match self {
            Warning::FailureRate { percent } => {
                format!("{percent}% of attempts failed in the last minute")
            }
            Warning::NearAutoDisable {
                failing_ms,
                window_ms,
            } => format!(
                "failing continuously for {}; auto-disabled after {} (--auto-disable-after)",
                format::age(*failing_ms),
                format::age(*window_ms)
            ),
            Warning::P99NearTimeout { p99_ms, timeout_ms } => format!(
                "latency p99 {} is near the {} timeout",
                format::duration_ms(*p99_ms),
                format::duration_ms(*timeout_ms)
            ),
            Warning::BacklogGrowing { net } => format!(
                "{net} more deliveries created than settled in the last {BACKLOG_SECONDS} s"
            ),
            Warning::PluginErrors { count } => format!(
                "the plugin failed {count} times (trap, fuel, deadline, memory, output or load) since the console attached"
            ),
            Warning::AuthFailures { count } => {
                format!("{count} answers 401/403 in a row: check the receiver's credentials")
            }
        }
    }
}

/// One row of the Webhooks view.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookLine {
    /// The webhook as the API shows it.
    pub webhook: WebhookView,
    /// Share of attempts that succeeded since the daemon started.
    pub success: Option<f64>,
    /// The last minute, from the stream.
    pub recent: Bucket,
    /// Pending deliveries the console knows of.
    pub waiting: u64,
    /// The soonest retry among them.
    pub next_retry: Option<Millis>,
    /// What looks wrong.
    pub warnings: Vec<Warning>,
}

impl Record for WebhookLine {
    fn text(&self, field: Field) -> Option<Cow<'_, str>> {
        let w = &self.webhook;
        Some(match field {
            Field::Webhook | Field::Id => w.id.as_str().into(),
            Field::State | Field::Status => w.state.as_str().into(),
            Field::Breaker => w.health.breaker.as_str().into(),
            Field::Plugin => w.plugin.as_deref()?.into(),
            Field::Event => w.events.join(" ").into(),
            Field::Error => w.disabled_reason.as_deref()?.into(),
            _ => return None,
        })
    }

    fn number(&self, _field: Field) -> Option<i64> {
        None
    }

    fn free_text(&self) -> Vec<&str> {
        let w = &self.webhook;
        let mut v = vec![w.id.as_str(), w.url.as_str(), w.state.as_str()];
        v.extend(w.events.iter().map(String::as_str));
        v.extend(w.plugin.as_deref());
        v.extend(w.disabled_reason.as_deref());
        v.push(w.description.as_str());
        v
    }
}

/// Fields the Webhooks view filters on.
pub const WEBHOOK_FIELDS: &[Field] = &[
    Field::Webhook,
    Field::Id,
    Field::State,
    Field::Status,
    Field::Breaker,
    Field::Plugin,
    Field::Event,
    Field::Error,
];

/// Builds the Webhooks view's rows.
pub fn webhook_lines(data: &Data, now: Millis, auto_disable_ms: i64) -> Vec<WebhookLine> {
    // One pass over the deliveries that need attention: waiting counts, soonest retry.
    let mut waiting: HashMap<&str, (u64, Option<Millis>)> = HashMap::new();
    for row in data
        .book
        .attention()
        .filter(|r| r.status == DeliveryStatus::Pending)
    {
        let e = waiting.entry(&row.webhook_id).or_default();
        e.0 += 1;
        if row.attempts > 0
            && let Some(at) = row.next_attempt_at
        {
            e.1 = Some(e.1.map_or(at, |m: Millis| m.min(at)));
        }
    }
    data.webhooks
        .values()
        .map(|info| {
            let w = &info.view;
            let h = &w.health;
            let total = h.succeeded + h.failed;
            let recent = info.window.sum(now, crate::data::WINDOW_SECONDS);
            let trend = info.window.sum(now, BACKLOG_SECONDS);
            let (count, next_retry) = waiting.get(w.id.as_str()).copied().unwrap_or_default();
            let mut warnings = Vec::new();
            let attempts = recent.ok + recent.failed;
            if attempts >= MIN_ATTEMPTS_FOR_RATE
                && recent.failed as f64 >= HIGH_FAILURE_RATE * attempts as f64
            {
                warnings.push(Warning::FailureRate {
                    percent: (recent.failed * 100 / attempts) as u32,
                });
            }
            if let Some(since) = h.failing_since
                && w.state == "active"
                && auto_disable_ms > 0
            {
                let failing_ms = (now - since).max(0);
                if failing_ms as f64 >= NEAR_AUTO_DISABLE * auto_disable_ms as f64 {
                    warnings.push(Warning::NearAutoDisable {
                        failing_ms,
                        window_ms: auto_disable_ms,
                    });
                }
            }
            let timeout_ms = w.timeout_seconds.saturating_mul(1000);
            if let Some(p99) = h.latency_p99_ms
                && timeout_ms > 0
                && p99 as f64 >= NEAR_TIMEOUT * timeout_ms as f64
            {
                warnings.push(Warning::P99NearTimeout {
                    p99_ms: p99,
                    timeout_ms,
                });
            }
            let net = trend.created.saturating_sub(trend.settled);
            if net >= BACKLOG_GROWTH && net * 5 >= trend.created {
                warnings.push(Warning::BacklogGrowing { net });
            }
            let plugin_errors: u64 = info.plugin_errors.values().sum();
            if plugin_errors > 0 {
                warnings.push(Warning::PluginErrors {
                    count: plugin_errors,
                });
            }
            if h.consecutive_auth_failures >= AUTH_FAILURES {
                warnings.push(Warning::AuthFailures {
                    count: h.consecutive_auth_failures,
                });
            }
            WebhookLine {
                webhook: w.clone(),
                success: (total > 0).then(|| h.succeeded as f64 / total as f64),
                recent,
                waiting: count,
                next_retry,
                warnings,
            }
        })
        .collect()
}

/// One row of the Plugins view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginLine {
    /// The plugin's path.
    pub plugin: String,
    /// Webhooks using it.
    pub webhooks: Vec<String>,
    /// Calls since the daemon started: the runtime's count when the daemon reports
    /// per-plugin figures, else the attempts of the webhooks using it (one call each).
    pub calls: u64,
    /// Calls that skipped the event: since the daemon started with figures, else since the
    /// console attached.
    pub skipped: u64,
    /// Plugin errors by kind (`plugin_trap`, …): since the daemon started with figures,
    /// else since the console attached.
    pub errors: BTreeMap<String, u64>,
    /// The last plugin error (since the console attached).
    pub last_error: Option<String>,
    /// The daemon's figures for this plugin (`None`: an older daemon, or not called yet).
    pub figures: Option<PluginFigures>,
}

impl PluginLine {
    /// Errors of `kind` (`plugin_trap`, …).
    pub fn errors_of(&self, kind: &str) -> u64 {
        self.errors.get(kind).copied().unwrap_or(0)
    }

    /// Every plugin error.
    pub fn error_total(&self) -> u64 {
        self.errors.values().sum()
    }

    /// Mean call time, µs, when the daemon reports it.
    pub fn mean_us(&self) -> Option<u64> {
        self.figures.as_ref().and_then(|f| f.call_mean_us)
    }

    /// p99 call time, µs, when the daemon reports it.
    pub fn p99_us(&self) -> Option<u64> {
        self.figures.as_ref().and_then(|f| f.call_p99_us)
    }
}

/// The plugin error kinds, in the Plugins view's column order.
pub const PLUGIN_ERROR_KINDS: [&str; 6] = [
    "plugin_trap",
    "plugin_fuel",
    "plugin_deadline",
    "plugin_memory",
    "plugin_output",
    "plugin_load",
];

impl Record for PluginLine {
    fn text(&self, field: Field) -> Option<Cow<'_, str>> {
        match field {
            Field::Plugin => Some(self.plugin.as_str().into()),
            Field::Webhook => Some(self.webhooks.join(" ").into()),
            _ => None,
        }
    }

    fn number(&self, _field: Field) -> Option<i64> {
        None
    }

    fn free_text(&self) -> Vec<&str> {
        let mut v = vec![self.plugin.as_str()];
        v.extend(self.webhooks.iter().map(String::as_str));
        v
    }
}

/// Fields the Plugins view filters on.
pub const PLUGIN_FIELDS: &[Field] = &[Field::Plugin, Field::Webhook];

/// Builds the Plugins view's rows: one per plugin path in use.
pub fn plugin_lines(data: &Data) -> Vec<PluginLine> {
    let figures: HashMap<&str, &PluginFigures> = data
        .stats
        .iter()
        .flat_map(|s| &s.plugins)
        .map(|f| (f.plugin.as_str(), f))
        .collect();
    let mut by_plugin: BTreeMap<&str, PluginLine> = BTreeMap::new();
    for info in data.webhooks.values() {
        let Some(plugin) = info.view.plugin.as_deref() else {
            continue;
        };
        let line = by_plugin.entry(plugin).or_insert_with(|| PluginLine {
            plugin: plugin.to_owned(),
            webhooks: Vec::new(),
            calls: 0,
            skipped: 0,
            errors: BTreeMap::new(),
            last_error: None,
            figures: figures.get(plugin).map(|f| (*f).clone()),
        });
        line.webhooks.push(info.view.id.clone());
        if line.figures.is_none() {
            line.calls += info.view.health.succeeded + info.view.health.failed;
            line.skipped += info.skipped;
            for (kind, n) in &info.plugin_errors {
                *line.errors.entry(kind.to_string()).or_default() += n;
            }
        }
        if info.last_plugin_error.is_some() {
            line.last_error.clone_from(&info.last_plugin_error);
        }
    }
    for line in by_plugin.values_mut() {
        if let Some(f) = &line.figures {
            line.calls = f.calls;
            line.skipped = f.skipped;
            line.errors = PLUGIN_ERROR_KINDS
                .iter()
                .map(|k| ((*k).to_owned(), f.errors.of(k)))
                .filter(|(_, n)| *n > 0)
                .collect();
        }
    }
    by_plugin.into_values().collect()
}

/// Failures of one error kind at one webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureGroup {
    /// `kind` and `webhook` as one key (keeps the selection across refreshes).
    pub key: String,
    /// Error kind (`-` when the daemon gave none).
    pub kind: Arc<str>,
    /// Webhook id.
    pub webhook: Arc<str>,
    /// The deliveries, most recently changed first.
    pub rows: Vec<Arc<DeliveryRow>>,
    /// How many failed.
    pub failed: u64,
    /// How many exhausted.
    pub exhausted: u64,
    /// How many are still pending after a plugin error.
    pub pending: u64,
    /// The latest change.
    pub last_at: Millis,
    /// The latest error message.
    pub last_error: Option<String>,
}

/// Groups failed, exhausted and plugin-failed deliveries by (error kind, webhook).
pub fn failure_groups<'a>(rows: impl Iterator<Item = &'a Arc<DeliveryRow>>) -> Vec<FailureGroup> {
    let none: Arc<str> = Arc::from("-");
    let mut groups: HashMap<(Arc<str>, Arc<str>), FailureGroup> = HashMap::new();
    for row in rows {
        let kind = row.error_kind.clone().unwrap_or_else(|| none.clone());
        let g = groups
            .entry((kind.clone(), row.webhook_id.clone()))
            .or_insert_with(|| FailureGroup {
                key: format!("{kind}\0{}", row.webhook_id),
                kind,
                webhook: row.webhook_id.clone(),
                rows: Vec::new(),
                failed: 0,
                exhausted: 0,
                pending: 0,
                last_at: row.changed_at,
                last_error: row.error.clone(),
            });
        match row.status {
            DeliveryStatus::Failed => g.failed += 1,
            DeliveryStatus::Exhausted => g.exhausted += 1,
            _ => g.pending += 1,
        }
        if row.changed_at > g.last_at {
            g.last_at = row.changed_at;
            g.last_error.clone_from(&row.error);
        }
        g.rows.push(row.clone());
    }
    let mut out: Vec<FailureGroup> = groups.into_values().collect();
    for g in &mut out {
        g.rows
            .sort_by(|a, b| b.changed_at.cmp(&a.changed_at).then(b.id.cmp(&a.id)));
    }
    out
}
