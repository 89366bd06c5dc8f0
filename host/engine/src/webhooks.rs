//! The in-memory view of webhooks: subscription index, opened signing keys, limits, circuit
//! breaker and health. Rebuilt from the store at start and on every change.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use foldhash::HashMap;

use super::EngineError;
use super::metrics::Histogram;
use super::types::{BreakerState, WebhookHealth, WebhookView};
use crate::http::{CheckedUrl, HttpSender, PreparedHeaders, redact_url};
use hookline_core::at_rest;
use hookline_core::model::{Millis, WebhookRecord, WebhookState};
use hookline_core::pattern::{Pattern, SubscriptionIndex};
use hookline_core::retry::{RetryPolicy, Schedule};
use hookline_core::secret::Sealer;
use hookline_core::signing::SigningKey;

/// Engine-wide defaults a webhook falls back to.
#[derive(Debug, Clone)]
pub(crate) struct Defaults {
    pub(crate) timeout: Duration,
    pub(crate) policy: RetryPolicy,
    pub(crate) max_concurrency: u32,
    pub(crate) breaker_threshold: u32,
    pub(crate) breaker_cooldown: Duration,
    pub(crate) auto_disable_after: Option<Duration>,
}

/// A webhook ready to deliver to.
#[derive(Debug)]
pub(crate) struct Runtime {
    pub(crate) record: WebhookRecord,
    /// Current key first, then the previous one while its grace window lasts.
    pub(crate) keys: Vec<SigningKey>,
    pub(crate) previous_expires_at: Option<Millis>,
    pub(crate) policy: RetryPolicy,
    pub(crate) timeout: Duration,
    pub(crate) max_concurrency: u32,
    pub(crate) health: Arc<Health>,
    /// Its id, shared: the request pool's key (no allocation per delivery).
    pub(crate) pool_key: Arc<str>,
    /// Custom headers and user agent, validated once.
    pub(crate) headers: PreparedHeaders,
    /// The URL as attempts record it (a password replaced), computed once.
    pub(crate) shown_url: String,
    /// The URL parsed and accepted by the SSRF guard once (`None`: refused, and every
    /// attempt reports why).
    pub(crate) checked_url: Option<CheckedUrl>,
}

impl Runtime {
    /// How many of its deliveries may be held in memory: the configured share, and for a
    /// rate-limited webhook no more than two seconds' worth (at least 16), since the rest
    /// would only wait for their turn in a slot another webhook could use.
    pub(crate) fn memory_cap(&self, share: u32) -> u32 {
        match self.record.rate_limit_per_sec {
            Some(per_sec) => per_sec
                .saturating_mul(2)
                .clamp(16, share.max(16))
                .min(share),
            None => share,
        }
        .max(1)
    }

    pub(crate) fn is_active(&self) -> bool {
        self.record.state == WebhookState::Active
    }

    /// The keys to sign with at `now`: the previous key only inside its grace window.
    pub(crate) fn signing_keys(&self, now: Millis) -> &[SigningKey] {
        match self.previous_expires_at {
            Some(until) if now < until => &self.keys,
            _ => &self.keys[..1],
        }
    }
}

/// Live health of one webhook; survives updates of its record.
#[derive(Debug, Default)]
pub(crate) struct Health {
    pub(crate) in_flight: AtomicU32,
    /// Its deliveries in memory (queued or in flight), and of those, retries: bounded by the
    /// webhook's share of memory ([`Runtime::memory_cap`]).
    pub(crate) queued: AtomicU32,
    pub(crate) queued_retries: AtomicU32,
    /// Some of its deliveries wait in the store because its share of memory was full: the
    /// claimer is woken when room comes back.
    pub(crate) overflow: AtomicBool,
    pub(crate) succeeded: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) latency: Histogram,
    breaker: Mutex<Breaker>,
    rate: Mutex<RateState>,
}

#[derive(Debug, Default)]
struct Breaker {
    consecutive_failures: u32,
    consecutive_auth_failures: u32,
    failing_since: Option<Millis>,
    open_until: Option<Millis>,
    probe_in_flight: bool,
}

#[derive(Debug, Default)]
struct RateState {
    next_free_ms: f64,
}

/// What the breaker says about an attempt about to be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Gate {
    /// Go ahead.
    Pass,
    /// Go ahead as the half-open probe.
    Probe,
    /// Hold back until this time.
    HoldUntil(Millis),
}

/// What an attempt's result did to the breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AfterAttempt {
    Fine,
    /// Failing continuously for longer than the auto-disable window.
    AutoDisable {
        since: Millis,
        failures: u32,
    },
}

impl Health {
    /// Takes room in memory for one delivery if its share has some (`retry`: in the retry
    /// lane, at most half the share).
    pub(crate) fn try_reserve(&self, cap: u32, retry: bool) -> bool {
        if retry
            && self
                .queued_retries
                .fetch_update(Relaxed, Relaxed, |n| (n < retry_cap(cap)).then_some(n + 1))
                .is_err()
        {
            return false;
        }
        let taken = self
            .queued
            .fetch_update(Relaxed, Relaxed, |n| (n < cap).then_some(n + 1))
            .is_ok();
        if !taken && retry {
            self.queued_retries.fetch_sub(1, Relaxed);
        }
        taken
    }

    /// Takes room in memory for one delivery a claim brought in (the claim was sized to the
    /// room, so this is not checked again).
    pub(crate) fn reserve(&self, retry: bool) {
        self.queued.fetch_add(1, Relaxed);
        if retry {
            self.queued_retries.fetch_add(1, Relaxed);
        }
    }

    /// Gives back room taken by [`Health::try_reserve`] or [`Health::reserve`].
    pub(crate) fn unreserve(&self, retry: bool) {
        self.queued.fetch_sub(1, Relaxed);
        if retry {
            self.queued_retries.fetch_sub(1, Relaxed);
        }
    }

    /// Room left in memory: `(deliveries, retries among them)`.
    pub(crate) fn room(&self, cap: u32) -> (u32, u32) {
        let queued = self.queued.load(Relaxed);
        let retries = self.queued_retries.load(Relaxed);
        let room = cap.saturating_sub(queued);
        (room, room.min(retry_cap(cap).saturating_sub(retries)))
    }

    /// True while the breaker holds every request back (open, or half-open with its probe
    /// in flight): the claimer leaves the webhook's deliveries in the store.
    pub(crate) fn holds_back(&self, now: Millis) -> Option<Millis> {
        let b = lock(&self.breaker);
        match b.open_until {
            Some(until) if now < until => Some(until),
            Some(_) if b.probe_in_flight => Some(now),
            _ => None,
        }
    }

    /// True while the breaker lets through only its probe (open, cool-down over).
    pub(crate) fn half_open(&self, now: Millis) -> bool {
        let b = lock(&self.breaker);
        b.open_until.is_some_and(|until| now >= until)
    }

    pub(crate) fn gate(&self, now: Millis) -> Gate {
        let mut b = lock(&self.breaker);
        match b.open_until {
            None => Gate::Pass,
            Some(until) if now < until => Gate::HoldUntil(until),
            // The probe's result decides: hold until it comes (it kicks the claimer).
            Some(_) if b.probe_in_flight => Gate::HoldUntil(now),
            Some(_) => {
                b.probe_in_flight = true;
                Gate::Probe
            }
        }
    }

    /// Records an attempt's result. `failure` counts toward the breaker (retryable
    /// failures); `auth` marks a 401/403 answer.
    pub(crate) fn record(
        &self,
        success: bool,
        failure: bool,
        auth: bool,
        now: Millis,
        defaults: &Defaults,
    ) -> AfterAttempt {
        let mut b = lock(&self.breaker);
        b.probe_in_flight = false;
        if auth {
            b.consecutive_auth_failures += 1;
        } else {
            b.consecutive_auth_failures = 0;
        }
        if success {
            self.succeeded.fetch_add(1, Relaxed);
            b.consecutive_failures = 0;
            b.failing_since = None;
            b.open_until = None;
            return AfterAttempt::Fine;
        }
        self.failed.fetch_add(1, Relaxed);
        if !failure {
            return AfterAttempt::Fine;
        }
        b.consecutive_failures += 1;
        let since = *b.failing_since.get_or_insert(now);
        // A threshold of 0 turns the breaker off.
        let threshold = defaults.breaker_threshold;
        if threshold > 0 && (b.open_until.is_some() || b.consecutive_failures >= threshold) {
            b.open_until = Some(now + defaults.breaker_cooldown.as_millis() as Millis);
        }
        match defaults.auto_disable_after {
            Some(window) if now - since >= window.as_millis() as Millis => {
                AfterAttempt::AutoDisable {
                    since,
                    failures: b.consecutive_failures,
                }
            }
            _ => AfterAttempt::Fine,
        }
    }

    /// Releases a probe slot taken by [`Health::gate`] without an attempt.
    pub(crate) fn cancel_probe(&self) {
        lock(&self.breaker).probe_in_flight = false;
    }

    /// How long to wait before the next request under a `per_sec` rate limit (GCRA).
    pub(crate) fn rate_delay(&self, per_sec: u32, now_ms: f64) -> Duration {
        let interval = 1000.0 / f64::from(per_sec.max(1));
        let mut r = lock(&self.rate);
        let at = r.next_free_ms.max(now_ms);
        r.next_free_ms = at + interval;
        Duration::from_secs_f64(((at - now_ms) / 1000.0).max(0.0))
    }

    fn view(&self, now: Millis) -> WebhookHealth {
        let b = lock(&self.breaker);
        let breaker = match b.open_until {
            None => BreakerState::Closed,
            Some(until) if now < until => BreakerState::Open,
            Some(_) => BreakerState::HalfOpen,
        };
        WebhookHealth {
            breaker,
            consecutive_failures: b.consecutive_failures,
            failing_since: b.failing_since,
            in_flight: self.in_flight.load(Relaxed),
            succeeded: self.succeeded.load(Relaxed),
            failed: self.failed.load(Relaxed),
            latency_p50_ms: self.latency.quantile(0.5),
            latency_p99_ms: self.latency.quantile(0.99),
            consecutive_auth_failures: b.consecutive_auth_failures,
        }
    }

    fn reset(&self) {
        *lock(&self.breaker) = Breaker::default();
    }
}

/// Retries may take at most half a webhook's share of memory (at least one), so first
/// attempts find room during a retry storm.
pub(crate) fn retry_cap(cap: u32) -> u32 {
    (cap / 2).max(1)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding these small locks cannot leave them inconsistent.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// All webhooks, indexed by id and by subscription.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    inner: RwLock<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    by_id: HashMap<String, Arc<Runtime>>,
    health: HashMap<String, Arc<Health>>,
    index: SubscriptionIndex<String>,
}

impl Registry {
    /// Builds the runtime of `record` (opening its secrets) and installs it.
    pub(crate) fn install(
        &self,
        record: WebhookRecord,
        sealer: &Sealer,
        sender: &HttpSender,
        defaults: &Defaults,
    ) -> Result<Arc<Runtime>, EngineError> {
        let runtime = build_runtime(record, sealer, sender, defaults, self)?;
        let runtime = Arc::new(runtime);
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        let id = runtime.record.id.clone();
        inner.index.remove(&id);
        let patterns: Vec<Pattern> = runtime
            .record
            .events
            .iter()
            .filter_map(|p| Pattern::parse(p).ok())
            .collect();
        if !matches!(runtime.record.state, WebhookState::Disabled { .. }) {
            inner.index.insert(id.clone(), &patterns);
        }
        inner.health.insert(id.clone(), runtime.health.clone());
        inner.by_id.insert(id, runtime.clone());
        Ok(runtime)
    }

    fn health_for(&self, id: &str) -> Arc<Health> {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        inner.health.get(id).cloned().unwrap_or_default()
    }

    pub(crate) fn remove(&self, id: &str) {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        inner.index.remove(&id.to_owned());
        inner.by_id.remove(id);
        inner.health.remove(id);
    }

    pub(crate) fn get(&self, id: &str) -> Option<Arc<Runtime>> {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        inner.by_id.get(id).cloned()
    }

    /// Webhooks subscribed to `event_type` (active and paused; disabled ones are not
    /// indexed): `(id, its runtime if active)`.
    pub(crate) fn matching(&self, event_type: &str, out: &mut Vec<(String, Option<Arc<Runtime>>)>) {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        for id in inner.index.matches(event_type) {
            let active = inner.by_id.get(id).filter(|r| r.is_active()).cloned();
            out.push((id.clone(), active));
        }
    }

    /// Calls `f` with every active webhook, in no particular order, under the registry's
    /// read lock (`f` must not touch the registry).
    pub(crate) fn for_each_active(&self, mut f: impl FnMut(&Arc<Runtime>)) {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        for runtime in inner.by_id.values().filter(|r| r.is_active()) {
            f(runtime);
        }
    }

    pub(crate) fn all(&self) -> Vec<Arc<Runtime>> {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let mut all: Vec<_> = inner.by_id.values().cloned().collect();
        all.sort_by(|a, b| a.record.id.cmp(&b.record.id));
        all
    }

    pub(crate) fn reset_health(&self, id: &str) {
        if let Some(h) = self
            .inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .health
            .get(id)
        {
            h.reset();
        }
    }
}

fn build_runtime(
    record: WebhookRecord,
    sealer: &Sealer,
    sender: &HttpSender,
    defaults: &Defaults,
    registry: &Registry,
) -> Result<Runtime, EngineError> {
    let open = |sealed: &str| -> Result<SigningKey, EngineError> {
        let secret = sealer
            .open_string(sealed)
            .map_err(|e| EngineError::Secret(format!("webhook `{}`: {e}", record.id)))?;
        SigningKey::parse(record.scheme, &secret)
            .map_err(|e| EngineError::Secret(format!("webhook `{}`: {e}", record.id)))
    };
    let mut keys = vec![open(&record.secret_sealed)?];
    let mut previous_expires_at = None;
    if let Some((sealed, until)) = &record.previous_secret {
        keys.push(open(sealed)?);
        previous_expires_at = Some(*until);
    }
    let mut policy = defaults.policy.clone();
    if let Some(n) = record.max_attempts {
        policy.max_attempts = n.max(1);
    }
    if let Some(schedule) = &record.retry_schedule_secs {
        policy.schedule =
            Schedule::Explicit(schedule.iter().map(|&s| Duration::from_secs(s)).collect());
    }
    let timeout = record
        .timeout_ms
        .map(Duration::from_millis)
        .unwrap_or(defaults.timeout);
    let max_concurrency = record
        .max_concurrency
        .unwrap_or(defaults.max_concurrency)
        .max(1);
    let health = registry.health_for(&record.id);
    let headers = sender.prepare_headers(&record.headers);
    Ok(Runtime {
        pool_key: Arc::from(record.id.as_str()),
        headers,
        shown_url: redact_url(&record.url),
        checked_url: sender.check_url(&record.url).ok(),
        record,
        keys,
        previous_expires_at,
        policy,
        timeout,
        max_concurrency,
        health,
    })
}

/// The API view of a webhook.
pub(crate) fn view(runtime: &Runtime, now: Millis) -> WebhookView {
    let r = &runtime.record;
    let (disabled_reason, disabled_at) = match &r.state {
        WebhookState::Disabled { reason, at } => (Some(reason.clone()), Some(*at)),
        _ => (None, None),
    };
    WebhookView {
        id: r.id.clone(),
        url: at_rest::redact_url(&r.url),
        events: r.events.clone(),
        scheme: r.scheme.into(),
        secret_prefix: r.secret_prefix.clone(),
        previous_secret_expires_at: runtime.previous_expires_at.filter(|&t| t > now),
        headers: at_rest::redact_headers(&r.headers),
        timeout_seconds: runtime.timeout.as_secs(),
        max_attempts: runtime.policy.max_attempts,
        retry_schedule_seconds: r.retry_schedule_secs.clone(),
        rate_limit_per_second: r.rate_limit_per_sec,
        max_concurrency: runtime.max_concurrency,
        plugin: r.plugin.clone(),
        plugin_config: r
            .plugin_config
            .as_deref()
            .and_then(|c| serde_json::from_str(c).ok()),
        description: r.description.clone(),
        state: r.state.wire_name(),
        disabled_reason,
        disabled_at,
        source: r.source,
        created_at: r.created_at,
        updated_at: r.updated_at,
        health: runtime.health.view(now),
        version: r.version,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> Defaults {
        Defaults {
            timeout: Duration::from_secs(5),
            policy: RetryPolicy::default(),
            max_concurrency: 4,
            breaker_threshold: 3,
            breaker_cooldown: Duration::from_secs(30),
            auto_disable_after: Some(Duration::from_secs(3600)),
        }
    }

    #[test]
    fn breaker_opens_half_opens_and_closes() {
        let d = defaults();
        let h = Health::default();
        assert_eq!(h.gate(0), Gate::Pass);
        for t in 0..3 {
            assert_eq!(h.record(false, true, false, t, &d), AfterAttempt::Fine);
        }
        assert_eq!(h.gate(10), Gate::HoldUntil(2 + 30_000));
        // Cool-down over: one probe passes, the others wait for it.
        assert_eq!(h.gate(30_002), Gate::Probe);
        assert_eq!(
            h.gate(30_003),
            Gate::HoldUntil(30_003),
            "until the probe answers"
        );
        // The probe fails: open again for a full cool-down.
        h.record(false, true, false, 30_010, &d);
        assert_eq!(h.gate(30_011), Gate::HoldUntil(60_010));
        // Next probe succeeds: closed.
        assert_eq!(h.gate(60_010), Gate::Probe);
        h.record(true, false, false, 60_020, &d);
        assert_eq!(h.gate(60_021), Gate::Pass);
        assert_eq!(h.view(60_021).breaker, BreakerState::Closed);
    }

    #[test]
    fn permanent_failures_do_not_open_the_breaker() {
        let d = defaults();
        let h = Health::default();
        for t in 0..10 {
            h.record(false, false, true, t, &d);
        }
        assert_eq!(h.gate(11), Gate::Pass);
        assert_eq!(h.view(11).consecutive_auth_failures, 10);
    }

    #[test]
    fn failing_past_the_window_asks_for_auto_disable() {
        let d = defaults();
        let h = Health::default();
        assert_eq!(h.record(false, true, false, 0, &d), AfterAttempt::Fine);
        assert_eq!(
            h.record(false, true, false, 3_600_000, &d),
            AfterAttempt::AutoDisable {
                since: 0,
                failures: 2
            }
        );
    }

    #[test]
    fn rate_limit_spaces_requests() {
        let h = Health::default();
        assert_eq!(h.rate_delay(10, 0.0), Duration::ZERO);
        assert_eq!(h.rate_delay(10, 0.0), Duration::from_millis(100));
        assert_eq!(h.rate_delay(10, 0.0), Duration::from_millis(200));
        // Idle time does not bank a burst beyond one request.
        assert_eq!(h.rate_delay(10, 10_000.0), Duration::ZERO);
    }

    /// A webhook's share of memory holds, and retries get at most half of it.
    #[test]
    fn memory_share_and_retry_lane() {
        let h = Health::default();
        for _ in 0..5 {
            assert!(h.try_reserve(10, true));
        }
        assert!(!h.try_reserve(10, true), "retries: half the share");
        assert_eq!(h.room(10), (5, 0));
        for _ in 0..5 {
            assert!(h.try_reserve(10, false));
        }
        assert!(!h.try_reserve(10, false));
        h.unreserve(true);
        assert_eq!(h.room(10), (1, 1));
        assert!(h.try_reserve(10, true));
        assert!(!h.try_reserve(10, false));
    }
}
