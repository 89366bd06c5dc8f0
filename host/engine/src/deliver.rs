//! One delivery's life in memory: wait for its turn, make an attempt, record the result.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use bytes::Bytes;
use rand::Rng;

use super::fair::Flow;
use super::webhooks::{AfterAttempt, Gate, Runtime};
use super::{DeliveryChange, DeliveryResult, EngineEvent, Inner};
use crate::http::{AttemptOutcome, OutboundRequest, redact_headers, redact_url};
use hookline_core::model::{
    AttemptRecord, DeliveryJob, DeliveryStatus, ErrorKind, Millis, WebhookState,
};
use hookline_core::retry::{Decision, Verdict};
use hookline_core::signing::signature_headers;
use hookline_core::transform::{PluginError, TransformInput, TransformOutput};

/// What one attempt did.
struct Attempted {
    outcome: AttemptOutcome,
    /// Headers sent, secrets redacted.
    request_headers: Vec<(String, String)>,
    /// The body sent, when a plugin made it differ from the event's payload.
    request_body: Option<Bytes>,
    /// The destination, when a plugin chose another one.
    url: Option<String>,
    /// The plugin declined the event, for this reason: nothing was sent.
    skipped: Option<String>,
}

impl Attempted {
    /// Nothing was sent: a local failure decided before sending.
    fn local(outcome: AttemptOutcome) -> Attempted {
        Attempted {
            outcome,
            request_headers: Vec::new(),
            request_body: None,
            url: None,
            skipped: None,
        }
    }

    /// Nothing was sent: the plugin declined the event.
    fn skipped(reason: String, duration: Duration) -> Attempted {
        let mut attempted = Attempted::local(AttemptOutcome {
            status: None,
            verdict: Verdict::Permanent,
            retry_after: None,
            error: None,
            response_excerpt: None,
            duration,
        });
        attempted.skipped = Some(reason);
        attempted
    }
}

/// What the webhook's plugin wants sent instead of the default request.
struct Transformed {
    body: Bytes,
    content_type: Option<String>,
    headers: Vec<(String, String)>,
    url: Option<String>,
}

/// Runs one delivery held in memory to its next state.
pub(super) async fn run(inner: &Arc<Inner>, job: DeliveryJob) {
    let Some(runtime) = inner.registry.get(&job.webhook_id) else {
        // The webhook was deleted meanwhile: the store canceled the delivery.
        release(inner, &job).await;
        return;
    };
    if !runtime.is_active() {
        release(inner, &job).await;
        return;
    }
    let health = runtime.health.clone();

    // Per-webhook rate limit: waits holding nothing but the delivery's room in its
    // webhook's share of memory.
    if let Some(per_sec) = runtime.record.rate_limit_per_sec {
        let delay = health.rate_delay(per_sec, inner.mono_ms());
        if !delay.is_zero() {
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = inner.cancel.cancelled() => return release(inner, &job).await,
            }
        }
    }

    // Circuit breaker: while it holds requests back, the delivery goes back to the store
    // untouched (no attempt row, no new due time) and the claimer leaves the webhook's
    // deliveries there until the circuit half-opens, as for a paused webhook. Looked at
    // before waiting for a slot (not to queue for nothing) and decided after (the circuit
    // may have opened meanwhile; only then is the probe taken).
    if health.holds_back(inner.now_ms()).is_some() {
        return release(inner, &job).await;
    }

    // A request slot: the webhook's own limit and the engine's, shared fairly among the
    // webhooks waiting for one.
    let flow = Flow {
        webhook: runtime.pool_key.clone(),
        retry: job.attempts > 0,
    };
    let slot = tokio::select! {
        slot = inner.workers.acquire(flow, runtime.max_concurrency) => slot,
        _ = inner.cancel.cancelled() => return release(inner, &job).await,
    };

    // The webhook may have changed while we waited: use its latest version.
    let runtime = match inner.registry.get(&job.webhook_id) {
        Some(r) if r.is_active() => r,
        _ => return release(inner, &job).await,
    };
    let gate = health.gate(inner.now_ms());
    if let Gate::HoldUntil(_) = gate {
        drop(slot);
        return release(inner, &job).await;
    }

    let attempt = job.attempts + 1;
    let started_at = inner.now_ms();
    health.in_flight.fetch_add(1, Relaxed);
    inner.metrics.in_flight.fetch_add(1, Relaxed);
    let attempted = send(inner, &runtime, &job, started_at).await;
    inner.metrics.in_flight.fetch_sub(1, Relaxed);
    health.in_flight.fetch_sub(1, Relaxed);
    // The slot limits requests in flight; recording the result (a group-commit flush) must
    // not hold it, or the disk's flush latency would cap the request rate.
    drop(slot);

    match attempted.skipped {
        Some(reason) => {
            health.cancel_probe();
            finish_skipped(
                inner,
                &runtime,
                &job,
                attempt,
                started_at,
                attempted.outcome.duration,
                reason,
            )
            .await;
        }
        None => finish(inner, &runtime, &job, attempt, started_at, attempted).await,
    }
    if gate == Gate::Probe {
        // The probe decided: closed, the webhook's backlog in the store is claimable again;
        // open again, the claimer plans the next probe.
        inner.kick();
    }
}

/// Transforms (when the webhook has a plugin), signs and sends one attempt.
async fn send(
    inner: &Inner,
    runtime: &Runtime,
    job: &DeliveryJob,
    started_at: Millis,
) -> Attempted {
    // The plugin runs first: the signature covers what it returns.
    let transformed = match &runtime.record.plugin {
        None => None,
        // The call's own state is boxed (`TransformFuture`): every delivery task (thousands
        // may wait in memory) would otherwise reserve room for it, plugin or not.
        Some(path) => match transform(inner, runtime, job, path, started_at).await {
            Ok(TransformOutput::Send {
                body,
                content_type,
                headers,
                url,
                ..
            }) => Some(Transformed {
                body,
                content_type,
                headers,
                url,
            }),
            Ok(TransformOutput::Skip {
                reason, duration, ..
            }) => {
                return Attempted::skipped(reason, duration);
            }
            Err(e) => return Attempted::local(plugin_failure(&e)),
        },
    };
    let (body, content_type, extra, url) = match transformed {
        Some(t) => (t.body, t.content_type, t.headers, t.url),
        None => (job.payload.clone(), None, Vec::new(), None),
    };

    let timestamp = started_at.div_euclid(1000);
    let keys = runtime.signing_keys(started_at);
    let sig = match signature_headers(runtime.record.scheme, &job.id, timestamp, &body, keys) {
        Ok(sig) => sig,
        Err(e) => {
            return Attempted::local(AttemptOutcome::local_failure(
                ErrorKind::Secret,
                e.to_string(),
            ));
        }
    };
    let headers = runtime.headers.build(sig, content_type.as_deref(), &extra);
    let redacted = redact_headers(&headers);
    let request_body = (body != job.payload).then(|| body.clone());
    let outcome = inner
        .sender
        .send(OutboundRequest {
            url: url.as_deref().unwrap_or(&runtime.record.url),
            checked: match url {
                None => runtime.checked_url.as_ref(),
                Some(_) => None,
            },
            body,
            headers,
            timeout: runtime.timeout,
            sent_at: inner.cfg.clock.system_time(),
        })
        .await;
    Attempted {
        outcome,
        request_headers: redacted,
        request_body,
        url,
        skipped: None,
    }
}

/// Runs the webhook's transform on this task ([`Transformer`]: the WebAssembly runtime's
/// call yields to the executor at every epoch tick, so no worker thread is held for long).
///
/// [`Transformer`]: hookline_core::transform::Transformer
async fn transform(
    inner: &Inner,
    runtime: &Runtime,
    job: &DeliveryJob,
    path: &str,
    started_at: Millis,
) -> Result<TransformOutput, PluginError> {
    let Some(plugins) = &inner.cfg.plugins else {
        return Err(PluginError::Load {
            path: path.into(),
            message: "plugins are not enabled in this engine (no plugin runtime)".into(),
        });
    };
    let config = runtime.record.plugin_config.as_deref().unwrap_or("{}");
    let input = TransformInput::from_payload(
        &job.event_id,
        &job.payload,
        &runtime.record.id,
        &runtime.record.url,
        config,
    )?
    // The plugin's clocks read the attempt's time (the timestamp header's), frozen.
    .for_attempt(&job.id, started_at);
    Arc::clone(plugins)
        .transform(std::path::Path::new(path), input)
        .await
}

/// A plugin error as an attempt's outcome: permanent, except a missed deadline (it depends
/// on load, so the delivery is retried on its schedule).
fn plugin_failure(error: &PluginError) -> AttemptOutcome {
    let mut outcome = AttemptOutcome::local_failure(error.kind(), error.to_string());
    if error.is_transient() {
        outcome.verdict = Verdict::Retryable;
    }
    outcome
}

fn is_plugin_error(kind: Option<ErrorKind>) -> bool {
    matches!(
        kind,
        Some(
            ErrorKind::PluginTrap
                | ErrorKind::PluginFuel
                | ErrorKind::PluginDeadline
                | ErrorKind::PluginMemory
                | ErrorKind::PluginOutput
                | ErrorKind::PluginLoad
        )
    )
}

/// One attempt outside the queue (`dispatch_sync`): nothing is stored.
pub(super) async fn attempt_once(
    inner: &Arc<Inner>,
    runtime: &Runtime,
    job: &DeliveryJob,
) -> DeliveryResult {
    let started_at = inner.now_ms();
    let attempted = send(inner, runtime, job, started_at).await;
    let outcome = attempted.outcome;
    let status = match outcome.verdict {
        _ if attempted.skipped.is_some() => DeliveryStatus::Skipped,
        Verdict::Success => DeliveryStatus::Delivered,
        Verdict::Retryable => DeliveryStatus::Exhausted,
        Verdict::Permanent | Verdict::Gone => DeliveryStatus::Failed,
    };
    if let Some(reason) = attempted.skipped {
        return DeliveryResult {
            delivery_id: job.id.clone(),
            event_id: job.event_id.clone(),
            webhook_id: job.webhook_id.clone(),
            status,
            attempts: 1,
            status_code: None,
            error_kind: None,
            error: Some(reason),
            latency_ms: outcome.duration.as_millis() as u64,
        };
    }
    DeliveryResult {
        delivery_id: job.id.clone(),
        event_id: job.event_id.clone(),
        webhook_id: job.webhook_id.clone(),
        status,
        attempts: 1,
        status_code: outcome.status,
        error_kind: outcome.error.as_ref().map(|(k, _)| *k),
        error: outcome.error.map(|(_, m)| m),
        latency_ms: outcome.duration.as_millis() as u64,
    }
}

/// Records an attempt's result, updates health, and announces the change.
async fn finish(
    inner: &Arc<Inner>,
    runtime: &Runtime,
    job: &DeliveryJob,
    attempt: u32,
    started_at: Millis,
    attempted: Attempted,
) {
    let Attempted {
        outcome,
        request_headers,
        request_body,
        url,
        skipped: _,
    } = attempted;
    let now = inner.now_ms();
    let duration_ms = outcome.duration.as_millis() as u64;
    let sample: f64 = rand::rng().random();
    let decision = runtime
        .policy
        .decide(outcome.verdict, attempt, outcome.retry_after, sample);
    let (new_status, next_attempt_at) = match decision {
        Decision::Delivered => (DeliveryStatus::Delivered, None),
        Decision::RetryAfter(d) => (DeliveryStatus::Pending, Some(now + d.as_millis() as Millis)),
        Decision::Failed | Decision::DisableWebhook => (DeliveryStatus::Failed, None),
        Decision::Exhausted => (DeliveryStatus::Exhausted, None),
    };

    let health = &runtime.health;
    health.latency.observe(duration_ms);
    let m = &inner.metrics;
    m.attempts.fetch_add(1, Relaxed);
    m.attempt_latency.observe(duration_ms);
    let success = outcome.verdict == Verdict::Success;
    let auth = matches!(outcome.status, Some(401 | 403));
    // A plugin's failure says nothing about the receiver: it never opens the circuit.
    let breaker_failure =
        outcome.verdict == Verdict::Retryable && !is_plugin_error(outcome.error_kind());
    let after = health.record(success, breaker_failure, auth, now, &inner.defaults);

    let (error_kind, error_message) = match &outcome.error {
        Some((k, msg)) => (Some(*k), Some(msg.clone())),
        None => (None, None),
    };
    let record = AttemptRecord {
        delivery_id: job.id.clone(),
        owner: inner.owner.clone(),
        attempt,
        started_at,
        duration_ms,
        url: url
            .as_deref()
            .map_or_else(|| runtime.shown_url.clone(), redact_url),
        status_code: outcome.status,
        error_kind,
        error_message: error_message.clone(),
        request_headers,
        request_body,
        response_excerpt: outcome.response_excerpt,
        new_status,
        next_attempt_at,
        counts_as_attempt: true,
    };
    if let Err(e) = inner.store.complete(vec![record]).await {
        // The lease will end and the delivery will be attempted again: at least once.
        tracing::error!(delivery = %job.id, error = %e, "recording an attempt failed");
        return;
    }

    match new_status {
        DeliveryStatus::Delivered => {
            m.delivered.fetch_add(1, Relaxed);
            m.end_to_end_latency
                .observe(now.saturating_sub(job.received_at).max(0) as u64);
        }
        DeliveryStatus::Failed => {
            m.failed.fetch_add(1, Relaxed);
        }
        DeliveryStatus::Exhausted => {
            m.exhausted.fetch_add(1, Relaxed);
        }
        DeliveryStatus::Pending => {
            m.retries_scheduled.fetch_add(1, Relaxed);
        }
        _ => {}
    }
    if let Some(at) = next_attempt_at {
        inner.schedule_wake(at);
    }
    if !success {
        tracing::debug!(
            delivery = %job.id,
            webhook = %job.webhook_id,
            attempt,
            status = ?outcome.status,
            error = error_message.as_deref().unwrap_or(""),
            next = %new_status,
            "attempt failed"
        );
    }

    inner.emit(EngineEvent::Delivery(DeliveryChange {
        id: job.id.clone(),
        event_id: job.event_id.clone(),
        event_type: job.event_type.clone(),
        webhook_id: job.webhook_id.clone(),
        status: new_status,
        attempts: attempt,
        max_attempts: runtime.policy.max_attempts,
        status_code: outcome.status,
        error_kind,
        error: error_message.clone(),
        latency_ms: Some(duration_ms),
        next_attempt_at,
        at: now,
    }));
    if new_status.is_terminal() {
        notify_callback(
            inner,
            DeliveryResult {
                delivery_id: job.id.clone(),
                event_id: job.event_id.clone(),
                webhook_id: job.webhook_id.clone(),
                status: new_status,
                attempts: attempt,
                status_code: outcome.status,
                error_kind,
                error: error_message,
                latency_ms: duration_ms,
            },
        );
    }

    if decision == Decision::DisableWebhook {
        let reason = format!(
            "receiver answered 410 Gone at {}",
            chrono::DateTime::from_timestamp_millis(now).unwrap_or_default()
        );
        disable(inner, &job.webhook_id, reason).await;
    } else if let AfterAttempt::AutoDisable { since, failures } = after {
        let reason = format!(
            "failing continuously since {} ({failures} consecutive failed attempts)",
            chrono::DateTime::from_timestamp_millis(since).unwrap_or_default()
        );
        disable(inner, &job.webhook_id, reason).await;
    }
}

/// The plugin declined the event: the delivery ends `skipped`, with one attempt row that
/// holds the reason (nothing was sent, so no status and no error kind).
async fn finish_skipped(
    inner: &Arc<Inner>,
    runtime: &Runtime,
    job: &DeliveryJob,
    attempt: u32,
    started_at: Millis,
    duration: Duration,
    reason: String,
) {
    let now = inner.now_ms();
    let record = AttemptRecord {
        delivery_id: job.id.clone(),
        owner: inner.owner.clone(),
        attempt,
        started_at,
        duration_ms: duration.as_millis() as u64,
        url: runtime.shown_url.clone(),
        status_code: None,
        error_kind: None,
        error_message: Some(reason.clone()),
        request_headers: Vec::new(),
        request_body: None,
        response_excerpt: None,
        new_status: DeliveryStatus::Skipped,
        next_attempt_at: None,
        counts_as_attempt: true,
    };
    if let Err(e) = inner.store.complete(vec![record]).await {
        tracing::error!(delivery = %job.id, error = %e, "recording a skipped delivery failed");
        return;
    }
    inner.metrics.skipped.fetch_add(1, Relaxed);
    tracing::debug!(delivery = %job.id, webhook = %job.webhook_id, %reason, "plugin skipped the event");
    inner.emit(EngineEvent::Delivery(DeliveryChange {
        id: job.id.clone(),
        event_id: job.event_id.clone(),
        event_type: job.event_type.clone(),
        webhook_id: job.webhook_id.clone(),
        status: DeliveryStatus::Skipped,
        attempts: attempt,
        max_attempts: runtime.policy.max_attempts,
        status_code: None,
        error_kind: None,
        error: Some(reason.clone()),
        latency_ms: Some(duration.as_millis() as u64),
        next_attempt_at: None,
        at: now,
    }));
    notify_callback(
        inner,
        DeliveryResult {
            delivery_id: job.id.clone(),
            event_id: job.event_id.clone(),
            webhook_id: job.webhook_id.clone(),
            status: DeliveryStatus::Skipped,
            attempts: attempt,
            status_code: None,
            error_kind: None,
            error: Some(reason),
            latency_ms: duration.as_millis() as u64,
        },
    );
}

fn notify_callback(inner: &Inner, result: DeliveryResult) {
    inner.callbacks.report(result);
}

async fn disable(inner: &Arc<Inner>, webhook_id: &str, reason: String) {
    let state = WebhookState::Disabled {
        reason: reason.clone(),
        at: inner.now_ms(),
    };
    if let Err(e) = super::admin::set_state(inner, webhook_id, state).await {
        tracing::error!(webhook = %webhook_id, error = %e, "disabling the webhook failed");
    } else {
        tracing::warn!(webhook = %webhook_id, %reason, "webhook disabled");
    }
}

/// Gives the delivery back to the store untouched (shutdown, paused or deleted webhook).
async fn release(inner: &Arc<Inner>, job: &DeliveryJob) {
    if let Err(e) = inner
        .store
        .release(inner.owner.clone(), vec![job.id.clone()])
        .await
    {
        tracing::warn!(delivery = %job.id, error = %e, "releasing a delivery failed; its lease will expire");
    }
}
