//! One delivery's life in memory: wait for its turn, make an attempt, record the result.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use rand::Rng;

use super::webhooks::{AfterAttempt, Gate, Runtime};
use super::{DeliveryChange, DeliveryResult, EngineEvent, Inner, lock, now_ms};
use crate::http::{AttemptOutcome, OutboundRequest, build_headers, redact_headers};
use crate::model::{AttemptRecord, DeliveryJob, DeliveryStatus, ErrorKind, Millis, WebhookState};
use crate::retry::{Decision, Verdict};
use crate::signing::signature_headers;

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

    // Per-webhook concurrency.
    let _webhook_slot = tokio::select! {
        permit = health.concurrency.clone().acquire_owned() => match permit {
            Ok(p) => p,
            Err(_) => return release(inner, &job).await,
        },
        _ = inner.cancel.cancelled() => return release(inner, &job).await,
    };

    // The webhook may have changed while we waited: use its latest version.
    let runtime = match inner.registry.get(&job.webhook_id) {
        Some(r) if r.is_active() => r,
        _ => return release(inner, &job).await,
    };

    // Per-webhook rate limit.
    if let Some(per_sec) = runtime.record.rate_limit_per_sec {
        let delay = health.rate_delay(per_sec, now_ms() as f64);
        if !delay.is_zero() {
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = inner.cancel.cancelled() => return release(inner, &job).await,
            }
        }
    }

    // Circuit breaker.
    match health.gate(now_ms()) {
        Gate::HoldUntil(until) => {
            postpone(inner, &runtime, &job, until).await;
            return;
        }
        Gate::Pass | Gate::Probe => {}
    }

    // A worker slot: requests in flight over all webhooks.
    let worker = tokio::select! {
        permit = inner.workers.clone().acquire_owned() => match permit {
            Ok(p) => p,
            Err(_) => { health.cancel_probe(); return release(inner, &job).await },
        },
        _ = inner.cancel.cancelled() => { health.cancel_probe(); return release(inner, &job).await },
    };

    let attempt = job.attempts + 1;
    let started_at = now_ms();
    health.in_flight.fetch_add(1, Relaxed);
    inner.metrics.in_flight.fetch_add(1, Relaxed);
    let (outcome, request_headers) = send(inner, &runtime, &job, started_at).await;
    inner.metrics.in_flight.fetch_sub(1, Relaxed);
    health.in_flight.fetch_sub(1, Relaxed);
    drop(worker);

    finish(
        inner,
        &runtime,
        &job,
        attempt,
        started_at,
        outcome,
        request_headers,
    )
    .await;
}

/// Signs and sends one attempt.
async fn send(
    inner: &Inner,
    runtime: &Runtime,
    job: &DeliveryJob,
    started_at: Millis,
) -> (AttemptOutcome, Vec<(String, String)>) {
    let timestamp = started_at.div_euclid(1000);
    let keys = runtime.signing_keys(started_at);
    let sig = match signature_headers(
        runtime.record.scheme,
        &job.id,
        timestamp,
        &job.payload,
        keys,
    ) {
        Ok(sig) => sig,
        Err(e) => {
            return (
                AttemptOutcome::local_failure(ErrorKind::Secret, e.to_string()),
                Vec::new(),
            );
        }
    };
    let headers = build_headers(sig, &runtime.record.headers, None);
    let redacted = redact_headers(&headers);
    let outcome = inner
        .sender
        .send(OutboundRequest {
            url: &runtime.record.url,
            body: job.payload.clone(),
            headers,
            timeout: runtime.timeout,
        })
        .await;
    (outcome, redacted)
}

/// One attempt outside the queue (`dispatch_sync`): nothing is stored.
pub(super) async fn attempt_once(
    inner: &Arc<Inner>,
    runtime: &Runtime,
    job: &DeliveryJob,
) -> DeliveryResult {
    let started_at = now_ms();
    let (outcome, _) = send(inner, runtime, job, started_at).await;
    let status = match outcome.verdict {
        Verdict::Success => DeliveryStatus::Delivered,
        Verdict::Retryable => DeliveryStatus::Exhausted,
        Verdict::Permanent | Verdict::Gone => DeliveryStatus::Failed,
    };
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
    outcome: AttemptOutcome,
    request_headers: Vec<(String, String)>,
) {
    let now = now_ms();
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
    let breaker_failure = outcome.verdict == Verdict::Retryable;
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
        url: runtime.record.url.clone(),
        status_code: outcome.status,
        error_kind,
        error_message: error_message.clone(),
        request_headers,
        request_body: None,
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

fn notify_callback(inner: &Inner, result: DeliveryResult) {
    let callback = {
        let mut callbacks = lock(&inner.callbacks);
        match callbacks.get_mut(&result.event_id) {
            Some((cb, remaining)) => {
                let cb = cb.clone();
                *remaining -= 1;
                if *remaining == 0 {
                    callbacks.remove(&result.event_id);
                }
                Some(cb)
            }
            None => None,
        }
    };
    if let Some(cb) = callback {
        cb(result);
    }
}

async fn disable(inner: &Arc<Inner>, webhook_id: &str, reason: String) {
    let state = WebhookState::Disabled {
        reason: reason.clone(),
        at: now_ms(),
    };
    if let Err(e) = super::admin::set_state(inner, webhook_id, state).await {
        tracing::error!(webhook = %webhook_id, error = %e, "disabling the webhook failed");
    } else {
        tracing::warn!(webhook = %webhook_id, %reason, "webhook disabled");
    }
}

/// The breaker holds this delivery back: reschedule it without counting an attempt.
async fn postpone(inner: &Arc<Inner>, runtime: &Runtime, job: &DeliveryJob, until: Millis) {
    let record = AttemptRecord {
        delivery_id: job.id.clone(),
        owner: inner.owner.clone(),
        attempt: job.attempts,
        started_at: now_ms(),
        duration_ms: 0,
        url: runtime.record.url.clone(),
        status_code: None,
        error_kind: Some(ErrorKind::CircuitOpen),
        error_message: Some(format!(
            "circuit open after repeated failures; next try at {}",
            chrono::DateTime::from_timestamp_millis(until).unwrap_or_default()
        )),
        request_headers: Vec::new(),
        request_body: None,
        response_excerpt: None,
        new_status: DeliveryStatus::Pending,
        next_attempt_at: Some(until),
        counts_as_attempt: false,
    };
    match inner.store.complete(vec![record]).await {
        Ok(()) => inner.schedule_wake(until),
        Err(e) => tracing::error!(delivery = %job.id, error = %e, "postponing failed"),
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
