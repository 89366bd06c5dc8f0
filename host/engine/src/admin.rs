//! The operations behind the admin API: webhooks, deliveries and stats.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use super::webhooks::view;
use super::{
    Engine, EngineError, EngineEvent, Inner, LiveStats, Stats, WebhookPatch, WebhookSpec,
    WebhookView, WebhookWithSecret,
};
use hookline_core::at_rest;
use hookline_core::ids::new_id_at;
use hookline_core::model::{
    DeliveryDetail, DeliveryFilter, DeliverySummary, Millis, Page, WebhookRecord, WebhookSource,
    WebhookState,
};
use hookline_core::pattern::Pattern;
use hookline_core::rules;
use hookline_core::secret::{
    Sealer, generate_ed25519, generate_marionette, generate_standard, secret_prefix,
};
use hookline_core::signing::{Scheme, SigningKey};
use hookline_core::transform::{ConfigCheckError, ConfigUser, PluginError};
use hookline_store::StoreError;

/// Reason recorded on webhooks disabled by `enabled = false`.
const DISABLED_BY_CONFIG: &str = "disabled in the config file";
/// Reason recorded on config webhooks that left the config file.
const REMOVED_FROM_CONFIG: &str = "removed from the config file";
const DISABLED_BY_OPERATOR: &str = "disabled by an operator";

/// The fields a create and an update both check; `None` is absent (nothing to check).
#[derive(Default)]
struct Fields<'a> {
    url: Option<&'a str>,
    events: Option<&'a [String]>,
    headers: Option<&'a BTreeMap<String, String>>,
    timeout_seconds: Option<u64>,
    max_attempts: Option<u32>,
    retry_schedule_seconds: Option<&'a [u64]>,
    rate_limit_per_second: Option<u32>,
    max_concurrency: Option<u32>,
    plugin_config: Option<&'a serde_json::Value>,
}

/// A rule of [`rules`] as an API error naming `field`.
fn rule(field: &str, result: Result<(), String>) -> Result<(), EngineError> {
    result.map_err(|message| EngineError::invalid(field, message))
}

/// Checks `fields` with the same rules, and the same words, as the config loader
/// ([`hookline_core::rules`]), then the destination against the SSRF guard.
fn check_fields(inner: &Inner, fields: &Fields<'_>) -> Result<(), EngineError> {
    if let Some(url) = fields.url {
        rule("url", rules::check_webhook_url(url).map(drop))?;
        inner
            .sender
            .policy()
            .check_url(url)
            .map_err(|e| match e.is_ssrf() {
                true => EngineError::SsrfBlocked {
                    field: "url".into(),
                    message: e.to_string(),
                },
                false => EngineError::invalid("url", e.to_string()),
            })?;
    }
    if let Some(events) = fields.events {
        if events.is_empty() {
            return Err(EngineError::invalid(
                "events",
                "at least one pattern is required (e.g. \"task.*\" or \"*\")",
            ));
        }
        for (i, p) in events.iter().enumerate() {
            Pattern::parse(p)
                .map_err(|e| EngineError::invalid(format!("events[{i}]"), e.to_string()))?;
        }
    }
    if let Some(headers) = fields.headers {
        for (name, value) in headers {
            rule(
                &format!("headers.{name}"),
                rules::validate_custom_header(name, value),
            )?;
        }
    }
    if let Some(timeout) = fields.timeout_seconds {
        rule(
            "timeout_seconds",
            rules::check_timeout(timeout, inner.cfg.lease.as_secs()),
        )?;
    }
    if let Some(n) = fields.max_attempts {
        rule("max_attempts", rules::check_range(n, rules::MAX_ATTEMPTS))?;
    }
    if let Some(delays) = fields.retry_schedule_seconds {
        rules::check_schedule(delays).map_err(|(at, message)| match at {
            Some(i) => EngineError::invalid(format!("retry_schedule_seconds[{i}]"), message),
            None => EngineError::invalid("retry_schedule_seconds", message),
        })?;
    }
    if let Some(n) = fields.rate_limit_per_second {
        rule(
            "rate_limit_per_second",
            rules::check_range(n, rules::RATE_LIMIT_PER_SECOND),
        )?;
    }
    if let Some(n) = fields.max_concurrency {
        rule(
            "max_concurrency",
            rules::check_range(n, rules::MAX_CONCURRENCY),
        )?;
    }
    if let Some(cfg) = fields.plugin_config
        && !cfg.is_object()
    {
        return Err(EngineError::invalid(
            "plugin_config",
            "must be a JSON object",
        ));
    }
    Ok(())
}

/// Asks the webhook's plugin whether it accepts the webhook's `plugin_config` (the plugin's
/// optional `check-config` export), before any delivery uses it; `origin` says where the
/// configuration came from, for the error of a later plugin version that refuses it.
///
/// A plugin that cannot be loaded yet is no reason to refuse the webhook (the file may be
/// deployed next; its deliveries fail with `plugin_load` meanwhile): that is logged.
async fn check_plugin_config(
    inner: &Inner,
    record: &WebhookRecord,
    origin: String,
) -> Result<(), EngineError> {
    let (Some(plugin), Some(plugins)) = (&record.plugin, &inner.cfg.plugins) else {
        return Ok(());
    };
    let config = record.plugin_config.clone().unwrap_or_else(|| "{}".into());
    let user = ConfigUser {
        webhook_id: record.id.clone(),
        origin,
    };
    match Arc::clone(plugins)
        .check_config(std::path::Path::new(plugin), user, config)
        .await
    {
        Ok(()) => Ok(()),
        Err(ConfigCheckError::Refused(message)) => Err(EngineError::invalid(
            "plugin_config",
            format!("plugin `{plugin}` refused it: {message}"),
        )),
        // A built-in plugin (`builtin:…`) is part of the binary: one that does not load now
        // never will (an unknown name), so that is refused rather than deployed later.
        Err(ConfigCheckError::Plugin(error @ PluginError::Load { .. }))
            if plugin.starts_with("builtin:") =>
        {
            Err(EngineError::invalid("plugin", error.to_string()))
        }
        Err(ConfigCheckError::Plugin(error @ PluginError::Load { .. })) => {
            tracing::warn!(
                webhook = %record.id,
                %error,
                "the webhook's plugin_config could not be checked: its plugin does not load"
            );
            Ok(())
        }
        Err(ConfigCheckError::Plugin(error)) => Err(EngineError::invalid(
            "plugin_config",
            format!("plugin `{plugin}` failed while checking it: {error}"),
        )),
    }
}

/// A new secret for `scheme` (or the given one, checked), with the public key for ed25519.
fn make_secret(
    scheme: Scheme,
    given: Option<&str>,
    like: Option<&str>,
) -> Result<(String, Option<String>), EngineError> {
    match given {
        Some(secret) => {
            SigningKey::parse(scheme, secret)
                .map_err(|e| EngineError::invalid("secret", e.to_string()))?;
            Ok((secret.to_owned(), None))
        }
        None => Ok(match scheme {
            Scheme::Marionette => (generate_marionette().secret, None),
            Scheme::Standard if like.is_some_and(|s| s.starts_with("whsk_")) => {
                let (secret, public) = generate_ed25519();
                (secret, Some(public))
            }
            Scheme::Standard => (generate_standard(), None),
        }),
    }
}

fn record_from_spec(
    inner: &Inner,
    spec: &WebhookSpec,
    id: String,
    secret: &str,
    source: WebhookSource,
    now: Millis,
) -> WebhookRecord {
    let state = match spec.enabled {
        Some(false) => WebhookState::Disabled {
            reason: match source {
                WebhookSource::Config => DISABLED_BY_CONFIG.into(),
                WebhookSource::Api => DISABLED_BY_OPERATOR.into(),
            },
            at: now,
        },
        _ => WebhookState::Active,
    };
    WebhookRecord {
        id,
        url: spec.url.clone(),
        events: spec.events.clone(),
        scheme: spec.scheme.unwrap_or_default(),
        secret_sealed: inner.sealer().seal(secret.as_bytes()),
        secret_prefix: secret_prefix(secret).to_owned(),
        previous_secret: None,
        headers: spec.headers.clone(),
        timeout_ms: spec.timeout_seconds.map(|s| s * 1000),
        max_attempts: spec.max_attempts,
        retry_schedule_secs: spec.retry_schedule_seconds.clone(),
        rate_limit_per_sec: spec.rate_limit_per_second,
        max_concurrency: spec.max_concurrency,
        plugin: spec.plugin.clone(),
        plugin_config: spec.plugin_config.as_ref().map(|v| v.to_string()),
        description: spec.description.clone().unwrap_or_default(),
        state,
        source,
        created_at: now,
        updated_at: now,
        version: 1,
    }
}

fn check_spec(inner: &Inner, spec: &WebhookSpec) -> Result<(), EngineError> {
    if let Some(id) = &spec.id {
        rule("id", rules::check_webhook_id(id))?;
    }
    check_fields(
        inner,
        &Fields {
            url: Some(&spec.url),
            events: Some(&spec.events),
            headers: Some(&spec.headers),
            timeout_seconds: spec.timeout_seconds,
            max_attempts: spec.max_attempts,
            retry_schedule_seconds: spec.retry_schedule_seconds.as_deref(),
            rate_limit_per_second: spec.rate_limit_per_second,
            max_concurrency: spec.max_concurrency,
            plugin_config: spec.plugin_config.as_ref(),
        },
    )
}

/// Installs a stored record in memory and announces it.
fn install(inner: &Arc<Inner>, record: WebhookRecord) -> Result<WebhookView, EngineError> {
    let runtime = inner.install(record)?;
    inner.emit(EngineEvent::Webhook {
        id: runtime.record.id.clone(),
        state: runtime.record.state.name().to_owned(),
        reason: match &runtime.record.state {
            WebhookState::Disabled { reason, .. } => Some(reason.clone()),
            _ => None,
        },
    });
    if runtime.is_active() {
        inner.kick();
    }
    if matches!(runtime.record.state, WebhookState::Disabled { .. }) {
        // Its pending deliveries were canceled: their callbacks report now.
        inner.callbacks.nudge();
    }
    Ok(view(&runtime, inner.now_ms()))
}

/// `patch` applied to `r` (fields already checked): absent fields keep their value.
fn apply_patch(mut r: WebhookRecord, patch: &WebhookPatch, now: Millis) -> WebhookRecord {
    let patch = patch.clone();
    if let Some(v) = patch.url {
        r.url = v;
    }
    if let Some(v) = patch.events {
        r.events = v;
    }
    if let Some(v) = patch.headers {
        r.headers = v;
    }
    if let Some(v) = patch.timeout_seconds {
        r.timeout_ms = Some(v * 1000);
    }
    if let Some(v) = patch.max_attempts {
        r.max_attempts = Some(v);
    }
    if let Some(v) = patch.retry_schedule_seconds {
        r.retry_schedule_secs = Some(v);
    }
    if let Some(v) = patch.rate_limit_per_second {
        r.rate_limit_per_sec = (v > 0).then_some(v);
    }
    if let Some(v) = patch.max_concurrency {
        r.max_concurrency = (v > 0).then_some(v);
    }
    if let Some(v) = patch.plugin {
        r.plugin = (!v.is_empty()).then_some(v);
    }
    if let Some(v) = patch.plugin_config {
        r.plugin_config = Some(v.to_string());
    }
    if let Some(v) = patch.description {
        r.description = v;
    }
    r.updated_at = now;
    match patch.enabled {
        Some(true) if matches!(r.state, WebhookState::Disabled { .. }) => {
            r.state = WebhookState::Active;
        }
        Some(false) if !matches!(r.state, WebhookState::Disabled { .. }) => {
            r.state = WebhookState::Disabled {
                reason: DISABLED_BY_OPERATOR.into(),
                at: now,
            };
        }
        _ => {}
    }
    r
}

/// How many read-modify-writes an unconditional change tries before it gives up
/// ([`EngineError::EditConflict`]). Only another process writing the same webhook makes one
/// lose (in this process [`Inner::admin`] orders them), and each loss means that writer
/// made progress; sixteen losses in a row take a writer hammering this very webhook.
const CHANGE_ATTEMPTS: usize = 16;

/// A change of a stored webhook: read → modify → compare-and-set on the version read.
///
/// `modify` gets the record as stored and returns what to write (`None`: nothing to change).
/// With `if_match` (the caller's `If-Match`), the change applies only to that version
/// ([`EngineError::VersionMismatch`] otherwise, nothing written); without it a lost race is
/// retried on a fresh read (at most [`CHANGE_ATTEMPTS`] times), so two unconditional edits
/// of different fields both apply and neither undoes the other. The write never re-creates a
/// webhook deleted meanwhile (`NotFound`, and it leaves this process's memory too).
///
/// The whole change holds [`Inner::admin`]: the compare-and-set keeps the store right, and
/// the lock keeps memory right, installing this process's writes in the order they were
/// stored (without it, a slower caller could install an older record over a newer one, or
/// put back one a deletion has just removed).
async fn change_webhook(
    inner: &Arc<Inner>,
    id: &str,
    if_match: Option<u64>,
    mut modify: impl FnMut(WebhookRecord) -> Result<Option<WebhookRecord>, EngineError>,
) -> Result<WebhookView, EngineError> {
    let _admin = inner.admin.lock().await;
    let gone = || {
        // Deleted by another process: forget it here too.
        if inner.registry.get(id).is_some() {
            inner.registry.remove(id);
            inner.callbacks.nudge();
            inner.emit(EngineEvent::Webhook {
                id: id.to_owned(),
                state: "deleted".into(),
                reason: None,
            });
        }
        EngineError::NotFound {
            kind: "webhook",
            id: id.to_owned(),
        }
    };
    for attempt in 0..CHANGE_ATTEMPTS {
        let Some(read) = inner.read_webhook(id).await? else {
            return Err(gone());
        };
        let version = read.version;
        if let Some(expected) = if_match
            && expected != version
        {
            return Err(EngineError::VersionMismatch {
                id: id.to_owned(),
                expected,
                actual: version,
            });
        }
        let was_active = read.state == WebhookState::Active;
        let Some(record) = modify(read.clone())? else {
            // Nothing to change; memory may lag behind another process's change.
            return match inner.registry.get(id) {
                Some(runtime) if runtime.record.version == version => {
                    Ok(view(&runtime, inner.now_ms()))
                }
                _ => install(inner, read),
            };
        };
        match inner.update_webhook_at_rest(record, version).await {
            Ok(stored) => {
                if stored.state == WebhookState::Active && !was_active {
                    inner.registry.reset_health(id);
                }
                return install(inner, stored);
            }
            Err(StoreError::VersionMismatch { .. }) if if_match.is_none() => {
                tracing::debug!(webhook = %id, version, "webhook changed by another writer; reading it again");
                // Two daemons retrying in lockstep can keep beating each other: wait a
                // random moment, longer each time, so one of them gets through.
                let ceiling_ms = 1u64 << attempt.min(6);
                let wait = rand::random_range(0..=ceiling_ms);
                tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
            }
            Err(StoreError::NotFound { .. }) => return Err(gone()),
            Err(e) => return Err(e.into()),
        }
    }
    Err(EngineError::EditConflict {
        id: id.to_owned(),
        attempts: CHANGE_ATTEMPTS,
    })
}

/// Whether the stored `record` holds a secret, URL credentials or a sensitive header value
/// in another form than the engine's sealer writes (stored unsealed, or before the mode
/// marker or the sealing of URLs and headers existed).
pub(super) fn needs_reseal(inner: &Inner, record: &WebhookRecord) -> bool {
    inner.sealer().needs_reseal(&record.secret_sealed)
        || record
            .previous_secret
            .as_ref()
            .is_some_and(|(sealed, _)| inner.sealer().needs_reseal(sealed))
        || at_rest::needs_seal(&inner.sealer(), record)
}

impl Inner {
    /// The sealer of secrets and credentials at rest (changed only by a key rotation).
    pub(super) fn sealer(&self) -> Sealer {
        self.sealer
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Webhook `id` as the engine uses it: what the store holds, its sealed URL and
    /// headers opened ([`at_rest`]).
    pub(super) async fn read_webhook(
        &self,
        id: &str,
    ) -> Result<Option<WebhookRecord>, EngineError> {
        match self.store.get_webhook(id.to_owned()).await? {
            Some(stored) => self.opened(stored).map(Some),
            None => Ok(None),
        }
    }

    /// `stored` with its sealed URL and headers opened.
    pub(super) fn opened(&self, stored: WebhookRecord) -> Result<WebhookRecord, EngineError> {
        let id = stored.id.clone();
        at_rest::open(&self.sealer(), stored)
            .map_err(|e| EngineError::Secret(format!("webhook `{id}`: {e}")))
    }

    /// Stores a new webhook with its credentials sealed; returns it as the engine uses it.
    async fn create_webhook_at_rest(
        &self,
        record: WebhookRecord,
    ) -> Result<WebhookRecord, StoreError> {
        let stored = self
            .store
            .create_webhook(at_rest::seal(&self.sealer(), record.clone()))
            .await?;
        Ok(WebhookRecord {
            version: stored.version,
            ..record
        })
    }

    /// [`Store::update_webhook`] with the credentials sealed; returns the record as the
    /// engine uses it, at its new version.
    async fn update_webhook_at_rest(
        &self,
        record: WebhookRecord,
        expected_version: u64,
    ) -> Result<WebhookRecord, StoreError> {
        let stored = self
            .store
            .update_webhook(
                at_rest::seal(&self.sealer(), record.clone()),
                expected_version,
            )
            .await?;
        Ok(WebhookRecord {
            version: stored.version,
            ..record
        })
    }
}

/// Rewrites webhook `id`'s secrets, URL credentials and sensitive header values sealed under
/// the engine's key (a compare-and-set like every other change; nothing else in the record
/// moves, not even `updated_at`), and installs it. Done at start for a store written
/// unsealed, or before URLs and headers were sealed (`rewrite`: write it even when the
/// secrets are already in the right form).
pub(super) async fn reseal_secrets(
    inner: &Arc<Inner>,
    id: &str,
    rewrite: bool,
) -> Result<(), EngineError> {
    let secret_error = |e: hookline_core::secret::SealError| {
        EngineError::Secret(format!("webhook `{id}`: re-sealing its secret: {e}"))
    };
    let mut resealed = false;
    change_webhook(inner, id, None, |mut r| {
        resealed = false;
        if let Some(sealed) = inner
            .sealer()
            .reseal(&r.secret_sealed)
            .map_err(secret_error)?
        {
            r.secret_sealed = sealed;
            resealed = true;
        }
        if let Some((previous, _)) = &mut r.previous_secret
            && let Some(sealed) = inner.sealer().reseal(previous).map_err(secret_error)?
        {
            *previous = sealed;
            resealed = true;
        }
        resealed |= rewrite;
        Ok(resealed.then_some(r))
    })
    .await?;
    if resealed {
        tracing::info!(webhook = %id, "re-sealed the webhook's stored secrets under the encryption key");
    }
    Ok(())
}

/// Moves a webhook to `state`, whatever else changed meanwhile: the engine's own changes
/// (auto-disable, 410 Gone, a config webhook that left the file). One statement that touches
/// the state columns only, so it never undoes a concurrent edit of other fields.
pub(super) async fn set_state(
    inner: &Arc<Inner>,
    id: &str,
    state: WebhookState,
) -> Result<WebhookView, EngineError> {
    let _admin = inner.admin.lock().await;
    let now = inner.now_ms();
    let active = state == WebhookState::Active;
    let change = inner
        .store
        .set_webhook_state(id.to_owned(), state, now, None)
        .await?;
    if change.canceled > 0 {
        tracing::info!(webhook = %id, canceled = change.canceled, "canceled pending deliveries of a disabled webhook");
    }
    if active {
        inner.registry.reset_health(id);
    }
    install(inner, inner.opened(change.webhook)?)
}

/// The record the config file's webhook `spec` (`webhooks[i]`) makes of the stored one, if
/// any: the file's fields, keeping the stored secret when the file gives none (same scheme),
/// the rotation grace and an operator's pause or disable. Returns a generated secret too.
fn config_record(
    inner: &Inner,
    spec: &WebhookSpec,
    i: usize,
    id: &str,
    existing: Option<&WebhookRecord>,
    now: Millis,
) -> Result<(WebhookRecord, Option<String>), EngineError> {
    let scheme = spec.scheme.unwrap_or_default();
    let (secret, sealed_keep, made) = match (&spec.secret, existing) {
        (Some(s), _) => {
            SigningKey::parse(scheme, s).map_err(|e| {
                EngineError::invalid(format!("webhooks[{i}].secret"), e.to_string())
            })?;
            (s.clone(), None, None)
        }
        (None, Some(old)) if old.scheme == scheme => (
            String::new(),
            Some((old.secret_sealed.clone(), old.secret_prefix.clone())),
            None,
        ),
        (None, _) => {
            let (s, _) = make_secret(scheme, None, None)?;
            (s.clone(), None, Some(s))
        }
    };
    let mut record = record_from_spec(
        inner,
        spec,
        id.to_owned(),
        &secret,
        WebhookSource::Config,
        now,
    );
    if let Some((sealed, prefix)) = sealed_keep {
        record.secret_sealed = sealed;
        record.secret_prefix = prefix;
    }
    if let Some(old) = existing {
        record.created_at = old.created_at;
        record.previous_secret = old.previous_secret.clone();
        // An operator's pause or disable survives a restart; the file's own
        // `enabled = false` is applied above.
        if spec.enabled != Some(false) {
            match &old.state {
                WebhookState::Disabled { reason, .. }
                    if reason == DISABLED_BY_CONFIG || reason == REMOVED_FROM_CONFIG => {}
                other => record.state = other.clone(),
            }
        }
    }
    Ok((record, made))
}

impl Engine {
    /// Creates a webhook through the API. Returns it with its secret, shown this once.
    pub async fn create_webhook(
        &self,
        spec: WebhookSpec,
    ) -> Result<WebhookWithSecret, EngineError> {
        let inner = &self.inner;
        check_spec(inner, &spec)?;
        let now = inner.now_ms();
        let id = spec.id.clone().unwrap_or_else(|| new_id_at("wh", now));
        let scheme = spec.scheme.unwrap_or_default();
        let (secret, public_key) = make_secret(scheme, spec.secret.as_deref(), None)?;
        let record = record_from_spec(inner, &spec, id, &secret, WebhookSource::Api, now);
        let origin = format!("webhook `{}` (created through the API)", record.id);
        check_plugin_config(inner, &record, origin).await?;
        let _admin = inner.admin.lock().await;
        let stored = inner.create_webhook_at_rest(record).await?;
        let webhook = install(inner, stored)?;
        Ok(WebhookWithSecret {
            webhook,
            secret,
            public_key,
        })
    }

    /// Applies the config file's `[[webhooks]]` at start: creates or updates each (keeping
    /// a stored secret when the file gives none, and an operator's pause), and disables
    /// config webhooks that left the file. Returns generated secrets `(id, secret)`.
    pub async fn apply_config_webhooks(
        &self,
        specs: Vec<WebhookSpec>,
    ) -> Result<Vec<(String, String)>, EngineError> {
        let inner = &self.inner;
        let now = inner.now_ms();
        let mut generated = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (i, spec) in specs.iter().enumerate() {
            check_spec(inner, spec).map_err(|e| match e {
                EngineError::Invalid { field, message } => EngineError::Invalid {
                    field: format!("webhooks[{i}].{field}"),
                    message,
                },
                other => other,
            })?;
            let id = spec
                .id
                .clone()
                .ok_or_else(|| EngineError::invalid(format!("webhooks[{i}].id"), "is required"))?;
            seen.insert(id.clone());
            // Another daemon sharing the store may apply the same file at the same time: a
            // lost race (it created, changed or removed the row meanwhile) reads again.
            let _admin = inner.admin.lock().await;
            let mut attempts = 0;
            let (stored, made) = loop {
                attempts += 1;
                let existing = inner.read_webhook(&id).await?;
                let (record, made) = config_record(inner, spec, i, &id, existing.as_ref(), now)?;
                let written = match &existing {
                    Some(old) => inner.update_webhook_at_rest(record, old.version).await,
                    None => inner.create_webhook_at_rest(record).await,
                };
                match written {
                    Ok(stored) => break (stored, made),
                    Err(
                        StoreError::VersionMismatch { .. }
                        | StoreError::Conflict { .. }
                        | StoreError::NotFound { .. },
                    ) if attempts < CHANGE_ATTEMPTS => {}
                    Err(StoreError::VersionMismatch { .. }) => {
                        return Err(EngineError::EditConflict { id, attempts });
                    }
                    Err(e) => return Err(e.into()),
                }
            };
            if let Some(secret) = made {
                generated.push((id, secret));
            }
            inner.install(stored)?;
        }
        for old in inner.store.list_webhooks().await? {
            if old.source == WebhookSource::Config
                && !seen.contains(&old.id)
                && !matches!(old.state, WebhookState::Disabled { .. })
            {
                let disabled = WebhookState::Disabled {
                    reason: REMOVED_FROM_CONFIG.into(),
                    at: now,
                };
                match set_state(inner, &old.id, disabled).await {
                    // Deleted meanwhile (by another daemon): nothing left to disable.
                    Ok(_) | Err(EngineError::NotFound { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        inner.kick();
        Ok(generated)
    }

    /// Updates a webhook: absent fields keep their value. With `if_match`, only if the
    /// webhook is still at that version ([`EngineError::VersionMismatch`]).
    pub async fn update_webhook(
        &self,
        id: &str,
        patch: WebhookPatch,
        if_match: Option<u64>,
    ) -> Result<WebhookView, EngineError> {
        let inner = &self.inner;
        // In a patch, 0 clears a rate limit or a concurrency limit (back to the default).
        check_fields(
            inner,
            &Fields {
                url: patch.url.as_deref(),
                events: patch.events.as_deref(),
                headers: patch.headers.as_ref(),
                timeout_seconds: patch.timeout_seconds,
                max_attempts: patch.max_attempts,
                retry_schedule_seconds: patch.retry_schedule_seconds.as_deref(),
                rate_limit_per_second: patch.rate_limit_per_second.filter(|&n| n != 0),
                max_concurrency: patch.max_concurrency.filter(|&n| n != 0),
                plugin_config: patch.plugin_config.as_ref(),
            },
        )?;
        if patch.plugin.is_some() || patch.plugin_config.is_some() {
            // Checked before the compare-and-set: the plugin's answer does not depend on
            // the fields another edit may change meanwhile.
            let current = inner
                .store
                .get_webhook(id.to_owned())
                .await?
                .ok_or_else(|| EngineError::NotFound {
                    kind: "webhook",
                    id: id.to_owned(),
                })?;
            let trial = apply_patch(current, &patch, inner.now_ms());
            let origin = format!("webhook `{id}` (updated through the API)");
            check_plugin_config(inner, &trial, origin).await?;
        }
        change_webhook(inner, id, if_match, |r| {
            Ok(Some(apply_patch(r, &patch, inner.now_ms())))
        })
        .await
    }

    /// Deletes a webhook; its pending deliveries are canceled (history is kept). With
    /// `if_match`, only if it is still at that version.
    pub async fn delete_webhook(&self, id: &str, if_match: Option<u64>) -> Result<(), EngineError> {
        let inner = &self.inner;
        let _admin = inner.admin.lock().await;
        inner.store.delete_webhook(id.to_owned(), if_match).await?;
        inner.registry.remove(id);
        // Its pending deliveries were canceled: their callbacks report now.
        inner.callbacks.nudge();
        inner.emit(EngineEvent::Webhook {
            id: id.to_owned(),
            state: "deleted".into(),
            reason: None,
        });
        Ok(())
    }

    /// One webhook with its live health.
    pub async fn get_webhook(&self, id: &str) -> Result<WebhookView, EngineError> {
        let runtime = self
            .inner
            .registry
            .get(id)
            .ok_or_else(|| EngineError::NotFound {
                kind: "webhook",
                id: id.to_owned(),
            })?;
        Ok(view(&runtime, self.inner.now_ms()))
    }

    /// Every webhook, by id.
    pub fn list_webhooks(&self) -> Vec<WebhookView> {
        let now = self.inner.now_ms();
        self.inner
            .registry
            .all()
            .iter()
            .map(|r| view(r, now))
            .collect()
    }

    /// Pauses a webhook: its deliveries wait, nothing is sent, nothing is lost. With
    /// `if_match`, only if it is still at that version.
    pub async fn pause_webhook(
        &self,
        id: &str,
        if_match: Option<u64>,
    ) -> Result<WebhookView, EngineError> {
        let now = self.inner.now_ms();
        change_webhook(&self.inner, id, if_match, |mut r| match r.state {
            WebhookState::Disabled { .. } => Err(EngineError::InvalidState(format!(
                "webhook `{id}` is disabled; enable it instead of pausing or resuming"
            ))),
            WebhookState::Paused => Ok(None),
            WebhookState::Active => {
                r.state = WebhookState::Paused;
                r.updated_at = now;
                Ok(Some(r))
            }
        })
        .await
    }

    /// Resumes a paused (or re-enables a disabled) webhook; its waiting deliveries flow.
    /// With `if_match`, only if it is still at that version.
    pub async fn resume_webhook(
        &self,
        id: &str,
        if_match: Option<u64>,
    ) -> Result<WebhookView, EngineError> {
        let now = self.inner.now_ms();
        change_webhook(&self.inner, id, if_match, |mut r| match r.state {
            WebhookState::Active => Ok(None),
            _ => {
                r.state = WebhookState::Active;
                r.updated_at = now;
                Ok(Some(r))
            }
        })
        .await
    }

    /// Re-seals every webhook's secrets, URL credentials and sensitive header values under
    /// `new` while the engine runs: values under the current key keep opening meanwhile
    /// ([`Sealer::with_previous`]), each webhook is rewritten by a compare-and-set like any
    /// other change, and from then on everything is sealed under `new` only. Returns how
    /// many webhooks were re-sealed. Safe to run again after a failure (each value opens
    /// under either key).
    pub async fn rotate_sealing_key(&self, new: Sealer) -> Result<usize, EngineError> {
        let inner = &self.inner;
        let rotating = new.clone().with_previous(&inner.sealer());
        *inner.sealer.write().unwrap_or_else(|e| e.into_inner()) = rotating.clone();
        let mut count = 0;
        for stored in inner.store.list_webhooks().await? {
            let id = stored.id.clone();
            let reseal = |sealed: &str| -> Result<String, EngineError> {
                let plaintext = rotating
                    .open(sealed)
                    .map_err(|e| EngineError::Secret(format!("webhook `{id}`: {e}")))?;
                Ok(rotating.seal(&plaintext))
            };
            // The read opens the URL and headers under either key; the write seals them
            // under the new one.
            let changed = change_webhook(inner, &id, None, |mut r| {
                r.secret_sealed = reseal(&r.secret_sealed)?;
                if let Some((previous, _)) = &mut r.previous_secret {
                    *previous = reseal(previous)?;
                }
                Ok(Some(r))
            })
            .await;
            match changed {
                Ok(_) => count += 1,
                // Deleted meanwhile: nothing left to re-seal.
                Err(EngineError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        *inner.sealer.write().unwrap_or_else(|e| e.into_inner()) = new;
        tracing::info!(
            webhooks = count,
            "re-sealed every webhook under the new encryption key"
        );
        Ok(count)
    }

    /// Rotates a webhook's secret: the new one signs from now on, the old one keeps signing
    /// too (both signatures sent) for the grace window. `secret` sets the new one. With
    /// `if_match`, only if the webhook is still at that version.
    pub async fn rotate_secret(
        &self,
        id: &str,
        secret: Option<String>,
        if_match: Option<u64>,
    ) -> Result<WebhookWithSecret, EngineError> {
        let inner = &self.inner;
        let now = inner.now_ms();
        // Set by the attempt that is written (a retry makes a new one).
        let mut made = None;
        let webhook = change_webhook(inner, id, if_match, |mut r| {
            let current = inner
                .sealer()
                .open_string(&r.secret_sealed)
                .map_err(|e| EngineError::Secret(format!("webhook `{id}`: {e}")))?;
            let (new_secret, public_key) =
                make_secret(r.scheme, secret.as_deref(), Some(&current))?;
            let grace_until = now + inner.cfg.rotation_grace.as_millis() as Millis;
            r.previous_secret = Some((r.secret_sealed.clone(), grace_until));
            r.secret_sealed = inner.sealer().seal(new_secret.as_bytes());
            r.secret_prefix = secret_prefix(&new_secret).to_owned();
            r.updated_at = now;
            made = Some((new_secret, public_key));
            Ok(Some(r))
        })
        .await?;
        let (secret, public_key) = made.ok_or_else(|| {
            EngineError::Store(StoreError::Backend("rotation wrote no secret".into()))
        })?;
        Ok(WebhookWithSecret {
            webhook,
            secret,
            public_key,
        })
    }

    /// Lists deliveries, newest first.
    pub async fn list_deliveries(
        &self,
        filter: DeliveryFilter,
    ) -> Result<Page<DeliverySummary>, EngineError> {
        Ok(self
            .inner
            .store
            .list_deliveries(filter, self.inner.now_ms())
            .await?)
    }

    /// One delivery with every attempt.
    pub async fn get_delivery(&self, id: &str) -> Result<DeliveryDetail, EngineError> {
        self.inner
            .store
            .get_delivery(id.to_owned(), self.inner.now_ms())
            .await?
            .ok_or_else(|| EngineError::NotFound {
                kind: "delivery",
                id: id.to_owned(),
            })
    }

    /// Retries a failed, exhausted or canceled delivery now, with a fresh attempt budget.
    pub async fn retry_delivery(&self, id: &str) -> Result<DeliverySummary, EngineError> {
        let summary = self
            .inner
            .store
            .retry_delivery(id.to_owned(), self.inner.now_ms())
            .await?;
        self.inner.kick();
        Ok(summary)
    }

    /// Sends a delivery's event again to the same webhook, as a new delivery.
    pub async fn replay_delivery(&self, id: &str) -> Result<DeliverySummary, EngineError> {
        let now = self.inner.now_ms();
        let summary = self
            .inner
            .store
            .replay_delivery(id.to_owned(), new_id_at("dlv", now), now)
            .await?;
        self.inner.kick();
        Ok(summary)
    }

    /// Stored counts, live figures and webhook states.
    pub async fn stats(&self) -> Result<Stats, EngineError> {
        let inner = &self.inner;
        let now = inner.now_ms();
        let store = inner.store.stats(now).await?;
        let m = &inner.metrics;
        let live = LiveStats {
            uptime_seconds: inner.started.elapsed().as_secs(),
            events_accepted: m.events_accepted.load(Relaxed),
            deliveries_created: m.deliveries_created.load(Relaxed),
            attempts: m.attempts.load(Relaxed),
            delivered: m.delivered.load(Relaxed),
            failed: m.failed.load(Relaxed),
            exhausted: m.exhausted.load(Relaxed),
            retries_scheduled: m.retries_scheduled.load(Relaxed),
            in_flight: m.in_flight.load(Relaxed),
            in_memory: m.in_memory.load(Relaxed),
            attempt_p50_ms: m.attempt_latency.quantile(0.5),
            attempt_p99_ms: m.attempt_latency.quantile(0.99),
            end_to_end_p50_ms: m.end_to_end_latency.quantile(0.5),
            end_to_end_p99_ms: m.end_to_end_latency.quantile(0.99),
        };
        let mut webhooks = BTreeMap::new();
        for r in inner.registry.all() {
            *webhooks
                .entry(r.record.state.name().to_owned())
                .or_insert(0) += 1;
        }
        let plugins = inner
            .cfg
            .plugins
            .as_ref()
            .map(|p| p.stats())
            .unwrap_or_default();
        Ok(Stats {
            now,
            store,
            live,
            webhooks,
            plugins,
        })
    }

    /// Prometheus text: counters, gauges from the store, histograms.
    pub async fn prometheus(&self) -> Result<String, EngineError> {
        let stats = self.stats().await?;
        let count = |s: &str| stats.store.deliveries.get(s).copied().unwrap_or(0);
        let gauges = [
            (
                "hookline_deliveries_pending",
                "Deliveries waiting (first attempt or retry).",
                count("pending"),
            ),
            (
                "hookline_deliveries_retry_waiting",
                "Pending deliveries waiting for a retry.",
                stats.store.retry_waiting,
            ),
            (
                "hookline_deliveries_failed",
                "Deliveries failed (stored).",
                count("failed"),
            ),
            (
                "hookline_deliveries_exhausted",
                "Deliveries exhausted (stored).",
                count("exhausted"),
            ),
            (
                "hookline_webhooks_active",
                "Active webhooks.",
                stats.webhooks.get("active").copied().unwrap_or(0),
            ),
            (
                "hookline_webhooks_disabled",
                "Disabled webhooks.",
                stats.webhooks.get("disabled").copied().unwrap_or(0),
            ),
        ];
        let mut text = self.inner.metrics.render_prometheus(&gauges);
        crate::metrics::render_plugins(&mut text, &stats.plugins);
        Ok(text)
    }
}
