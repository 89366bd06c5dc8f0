//! The write operations, run by the writer thread inside a transaction (see [`super::writer`]).
//!
//! Each function is one caller's command: it either succeeds as a whole or fails and is
//! rolled back as a whole (its savepoint), and it records its counter deltas in
//! [`WriteCtx::counts`].

use std::collections::HashMap;

use bytes::Bytes;
use rusqlite::{Connection, OptionalExtension, params};

use super::codec::{
    Failure, Outcome, WEBHOOK_COLUMN_COUNT, WEBHOOK_COLUMNS, conflict_or, shown_status,
    state_columns, stored_status, to_i64, webhook_from_row, webhook_params,
};
use super::read::summary;
use super::writer::WriteCtx;
use crate::{ClaimRequest, StoreError, WebhookStateChange};
use hookline_core::ids::id_floor;
use hookline_core::model::{
    AttemptRecord, DeliveryJob, DeliveryStatus, DeliverySummary, IngestOutcome, Millis, NewEvent,
    WebhookRecord, WebhookState,
};

/// Where new pending work for a webhook goes.
#[derive(Debug, Clone)]
enum Target {
    /// Claimable.
    Active,
    /// Pending but held back until the webhook is resumed.
    Paused,
    /// Disabled: nothing new may wait for it.
    Disabled(String),
    /// No such webhook (deleted meanwhile).
    Missing,
}

fn target(conn: &Connection, webhook_id: &str) -> Outcome<Target> {
    let mut stmt =
        conn.prepare_cached("SELECT state, disabled_reason FROM webhooks WHERE id = ?1")?;
    let row: Option<(String, Option<String>)> = stmt
        .query_row([webhook_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    Ok(match row {
        None => Target::Missing,
        Some((state, reason)) => match state.as_str() {
            "active" => Target::Active,
            "paused" => Target::Paused,
            _ => Target::Disabled(reason.unwrap_or_default()),
        },
    })
}

const INSERT_EVENT: &str = "INSERT INTO events (id, idempotency_key, event_type, resource_id, \
     resource_type, payload, received_at, delivery_count) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";

const INSERT_DELIVERY: &str = "INSERT INTO deliveries (id, event_id, webhook_id, event_type, \
     status, held, attempts, attempt_seq, next_attempt_at, due_at, lease_owner, lease_until, \
     last_error, created_at, updated_at) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, 0, ?7, ?8, ?9, ?10, ?11, ?12, ?12)";

/// Stores events and their deliveries; a known idempotency key creates nothing.
///
/// A delivery for a webhook that is disabled or gone (deleted between matching and storing)
/// is stored as `canceled` with the reason, so the event's history stays complete and
/// nothing waits forever for a webhook that will not take it.
///
/// Runs without a savepoint ([`Containment::Transaction`](super::writer::Containment)): the
/// only refusal after a write could be an id already taken, so every id is checked first
/// ([`plan_ingest`]; the savepoint's statement journal cost a sixth of an ingest).
pub(super) fn ingest(ctx: &mut WriteCtx, events: Vec<NewEvent>) -> Outcome<Vec<IngestOutcome>> {
    let conn = &ctx.conn;
    let plan = plan_ingest(conn, &events)?;
    let mut find_key =
        conn.prepare_cached("SELECT id, delivery_count FROM events WHERE idempotency_key = ?1")?;
    let mut insert_event = conn.prepare_cached(INSERT_EVENT)?;
    let mut insert_delivery = conn.prepare_cached(INSERT_DELIVERY)?;
    let mut targets: HashMap<String, Target> = HashMap::new();
    let mut outcomes = Vec::with_capacity(events.len());
    for (event, planned) in events.into_iter().zip(plan) {
        match planned {
            Planned::Insert => {}
            Planned::Stored(outcome) => {
                outcomes.push(outcome);
                continue;
            }
            Planned::EarlierInBatch => {
                // Its first event was inserted earlier in this transaction.
                let key = event.idempotency_key.as_deref().unwrap_or_default();
                let (event_id, deliveries) =
                    find_key.query_row([key], |r| Ok((r.get(0)?, r.get(1)?)))?;
                outcomes.push(IngestOutcome::Duplicate {
                    event_id,
                    deliveries,
                });
                continue;
            }
        }
        let count = u32::try_from(event.deliveries.len()).unwrap_or(u32::MAX);
        insert_event
            .execute(params![
                event.id,
                event.idempotency_key,
                event.event_type,
                event.resource_id,
                event.resource_type,
                &event.payload[..],
                event.received_at,
                count,
            ])
            .map_err(|e| conflict_or(e, "event", &event.id))?;
        ctx.counts.events(1);
        for delivery in &event.deliveries {
            let target = match targets.get(&delivery.webhook_id) {
                Some(t) => t.clone(),
                None => {
                    let t = target(conn, &delivery.webhook_id)?;
                    targets.insert(delivery.webhook_id.clone(), t.clone());
                    t
                }
            };
            let (status, held, reason) = match target {
                Target::Active => (DeliveryStatus::Pending, false, None),
                Target::Paused => (DeliveryStatus::Pending, true, None),
                Target::Disabled(reason) => (
                    DeliveryStatus::Canceled,
                    false,
                    Some(format!(
                        "webhook `{}` is disabled: {reason}",
                        delivery.webhook_id
                    )),
                ),
                Target::Missing => (
                    DeliveryStatus::Canceled,
                    false,
                    Some(format!("webhook `{}` does not exist", delivery.webhook_id)),
                ),
            };
            let lease = event
                .lease
                .as_ref()
                .filter(|_| delivery.leased && status == DeliveryStatus::Pending);
            let due_at = lease.map_or(event.received_at, |l| l.until.max(event.received_at));
            insert_delivery
                .execute(params![
                    delivery.id,
                    event.id,
                    delivery.webhook_id,
                    event.event_type,
                    status.as_str(),
                    held,
                    event.received_at,
                    due_at,
                    lease.map(|l| l.owner.as_str()),
                    lease.map(|l| l.until),
                    reason,
                    event.received_at,
                ])
                .map_err(|e| conflict_or(e, "delivery", &delivery.id))?;
            ctx.counts.deliveries(status, 1);
        }
        outcomes.push(IngestOutcome::Created);
    }
    Ok(outcomes)
}

/// What ingest will do with one event.
enum Planned {
    Insert,
    /// Its idempotency key is stored already: this is the answer.
    Stored(IngestOutcome),
    /// Its idempotency key belongs to an earlier event of the batch.
    EarlierInBatch,
}

/// Decides, before anything is written, which events are duplicates (by idempotency key)
/// and refuses a batch whose new events reuse an event or delivery id (stored, or twice in
/// the batch): the only refusal that could otherwise come after a write.
fn plan_ingest(conn: &Connection, events: &[NewEvent]) -> Outcome<Vec<Planned>> {
    let mut event_taken = conn.prepare_cached("SELECT 1 FROM events WHERE id = ?1")?;
    let mut delivery_taken = conn.prepare_cached("SELECT 1 FROM deliveries WHERE id = ?1")?;
    let mut find_key =
        conn.prepare_cached("SELECT id, delivery_count FROM events WHERE idempotency_key = ?1")?;
    let mut ids = std::collections::HashSet::new();
    let mut keys = std::collections::HashSet::new();
    let mut plan = Vec::with_capacity(events.len());
    for event in events {
        if let Some(key) = &event.idempotency_key {
            if !keys.insert(key.as_str()) {
                plan.push(Planned::EarlierInBatch);
                continue;
            }
            let stored: Option<(String, u32)> = find_key
                .query_row([key], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            if let Some((event_id, deliveries)) = stored {
                plan.push(Planned::Stored(IngestOutcome::Duplicate {
                    event_id,
                    deliveries,
                }));
                continue;
            }
        }
        if !ids.insert(event.id.as_str()) || event_taken.exists([&event.id])? {
            return Err(Failure::Refused(StoreError::Conflict {
                kind: "event",
                id: event.id.clone(),
            }));
        }
        for delivery in &event.deliveries {
            if !ids.insert(delivery.id.as_str()) || delivery_taken.exists([&delivery.id])? {
                return Err(Failure::Refused(StoreError::Conflict {
                    kind: "delivery",
                    id: delivery.id.clone(),
                }));
            }
        }
        plan.push(Planned::Insert);
    }
    Ok(plan)
}

/// Claims due deliveries, oldest due first within the request's shares, leasing them to
/// the claimer.
pub(super) fn claim(ctx: &mut WriteCtx, req: ClaimRequest) -> Outcome<Vec<DeliveryJob>> {
    if req.limit == 0 {
        return Ok(Vec::new());
    }
    let conn = &ctx.conn;
    let mut jobs: Vec<DeliveryJob> = Vec::with_capacity(req.limit.min(4096) as usize);
    // `due_at` already accounts for live leases and `held` for inactive webhooks, so an open
    // claim is a range scan of `deliveries_due` that stops after `limit` rows.
    if req.shares.is_open() {
        let mut select = conn.prepare_cached(
            "SELECT d.id, d.event_id, d.event_type, d.webhook_id, d.attempts, e.received_at, \
             e.payload \
             FROM deliveries AS d INDEXED BY deliveries_due \
             CROSS JOIN events AS e ON e.id = d.event_id \
             WHERE d.status = 'pending' AND d.held = 0 AND d.due_at <= ?1 \
             ORDER BY d.due_at LIMIT ?2",
        )?;
        read_jobs(select.query(params![req.now, req.limit])?, &mut jobs)?;
    } else {
        // A divided claim scans the oldest due rows of the webhooks not skipped (at most a
        // few times `limit`: a capped webhook's backlog is passed over within that window,
        // and the next claim, which skips it once full, goes further), numbers each
        // webhook's rows (and its retries) in due order, and keeps those within the caps.
        let skip = serde_json::to_string(&req.shares.skip)?;
        let caps: serde_json::Map<String, serde_json::Value> = req
            .shares
            .caps
            .iter()
            .map(|c| {
                (
                    c.webhook_id.clone(),
                    serde_json::json!([c.limit, c.retries]),
                )
            })
            .collect();
        let caps = serde_json::Value::Object(caps).to_string();
        let scan = req.limit.saturating_mul(4);
        let mut select = conn.prepare_cached(
            "WITH due AS MATERIALIZED ( \
               SELECT d.id, d.event_id, d.event_type, d.webhook_id, d.attempts, d.due_at \
               FROM deliveries AS d INDEXED BY deliveries_due \
               WHERE d.status = 'pending' AND d.held = 0 AND d.due_at <= ?1 \
               AND d.webhook_id NOT IN (SELECT value FROM json_each(?3)) \
               ORDER BY d.due_at LIMIT ?5 \
             ), ranked AS ( \
               SELECT *, \
                 row_number() OVER (PARTITION BY webhook_id ORDER BY due_at) AS n, \
                 row_number() OVER (PARTITION BY webhook_id, attempts > 0 ORDER BY due_at) AS lane_n \
               FROM due \
             ) \
             SELECT r.id, r.event_id, r.event_type, r.webhook_id, r.attempts, e.received_at, \
               e.payload \
             FROM ranked AS r \
             CROSS JOIN events AS e ON e.id = r.event_id \
             LEFT JOIN json_each(?4) AS cap ON cap.key = r.webhook_id \
             WHERE cap.key IS NULL OR (r.n <= json_extract(cap.value, '$[0]') \
               AND (r.attempts = 0 OR r.lane_n <= json_extract(cap.value, '$[1]'))) \
             ORDER BY r.due_at, r.event_id LIMIT ?2",
        )?;
        read_jobs(
            select.query(params![req.now, req.limit, skip, caps, scan])?,
            &mut jobs,
        )?;
    }
    let mut lease = conn.prepare_cached(
        "UPDATE deliveries SET lease_owner = ?2, lease_until = ?3, \
         due_at = max(next_attempt_at, ?3) WHERE id = ?1",
    )?;
    for job in &jobs {
        lease.execute(params![job.id, req.owner, req.lease_until])?;
    }
    Ok(jobs)
}

/// Reads claimed rows (`id, event_id, event_type, webhook_id, attempts, received_at,
/// payload`) into jobs.
fn read_jobs(mut rows: rusqlite::Rows<'_>, jobs: &mut Vec<DeliveryJob>) -> Outcome<()> {
    while let Some(row) = rows.next()? {
        let event_id: String = row.get(1)?;
        // Fan-out deliveries of one event are due together: share one copy of the payload.
        let payload = match jobs.last() {
            Some(prev) if prev.event_id == event_id => prev.payload.clone(),
            _ => Bytes::from(row.get::<_, Vec<u8>>(6)?),
        };
        jobs.push(DeliveryJob {
            id: row.get(0)?,
            event_id,
            event_type: row.get(2)?,
            webhook_id: row.get(3)?,
            attempts: row.get(4)?,
            payload,
            received_at: row.get(5)?,
        });
    }
    Ok(())
}

/// Refuses records that ask for a status a delivery cannot be stored in (`in_flight` is
/// derived from a live lease). Checked before a `complete` is sent to the writer.
pub(super) fn check_records(records: &[AttemptRecord]) -> Result<(), StoreError> {
    match records
        .iter()
        .find(|r| r.new_status == DeliveryStatus::InFlight)
    {
        Some(r) => Err(StoreError::InvalidState(format!(
            "attempt record for delivery `{}`: `in_flight` is not a status to move to",
            r.delivery_id
        ))),
        None => Ok(()),
    }
}

/// Records attempt results; a record whose owner no longer holds the lease is ignored.
///
/// Attempt rows are numbered by the delivery's `attempt_seq`, which never goes back, so an
/// operator retry (which resets `attempts` for a fresh budget) continues the numbering and
/// an attempt row's key never collides. Runs without a savepoint
/// ([`Containment::Transaction`](super::writer::Containment)): the records were checked
/// before sending ([`check_records`]) and nothing here can refuse one after a write.
pub(super) fn complete(ctx: &mut WriteCtx, records: Vec<AttemptRecord>) -> Outcome<()> {
    let conn = &ctx.conn;
    // Select, then update by key: `UPDATE … RETURNING` would run as a trigger with a
    // statement journal per row, measurably slower on this hot path. Nothing can change the
    // row in between: this thread is the only writer.
    let mut holder = conn.prepare_cached(
        "SELECT attempt_seq FROM deliveries \
         WHERE id = ?1 AND lease_owner = ?2 AND status = 'pending'",
    )?;
    let mut update = conn.prepare_cached(
        "UPDATE deliveries SET status = ?2, \
         attempts = CASE WHEN ?3 THEN ?4 ELSE attempts END, attempt_seq = ?5, \
         next_attempt_at = ?6, due_at = ?6, lease_owner = NULL, lease_until = NULL, \
         last_status_code = ?7, last_error_kind = ?8, last_error = ?9, updated_at = ?10 \
         WHERE id = ?1",
    )?;
    let mut insert = conn.prepare_cached(
        "INSERT INTO attempts (delivery_id, attempt, started_at, duration_ms, url, status_code, \
         error_kind, error_message, request_headers, request_body, response_excerpt) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?;
    for r in &records {
        let seq: Option<i64> = holder
            .query_row(params![r.delivery_id, r.owner], |row| row.get(0))
            .optional()?;
        let Some(mut seq) = seq else {
            tracing::debug!(delivery = %r.delivery_id, owner = %r.owner, "Ignored an attempt result: the lease was lost.");
            continue;
        };
        if r.counts_as_attempt {
            seq += 1;
        }
        let finished_at = r.started_at.saturating_add(to_i64(r.duration_ms));
        let next_attempt_at = r.next_attempt_at.unwrap_or(finished_at);
        update.execute(params![
            r.delivery_id,
            r.new_status.as_str(),
            r.counts_as_attempt,
            r.attempt,
            seq,
            next_attempt_at,
            r.status_code,
            r.error_kind.map(|k| k.as_str()),
            r.error_message,
            finished_at,
        ])?;
        if r.counts_as_attempt {
            insert.execute(params![
                r.delivery_id,
                seq,
                r.started_at,
                to_i64(r.duration_ms),
                r.url,
                r.status_code,
                r.error_kind.map(|k| k.as_str()),
                r.error_message,
                serde_json::to_string(&r.request_headers)?,
                r.request_body.as_deref(),
                r.response_excerpt,
            ])?;
        }
        if r.new_status != DeliveryStatus::Pending {
            ctx.counts.moved(DeliveryStatus::Pending, r.new_status, 1);
        }
    }
    Ok(())
}

/// Gives leased deliveries back: they stay pending and are claimable at their next attempt.
pub(super) fn release(ctx: &mut WriteCtx, (owner, ids): (String, Vec<String>)) -> Outcome<()> {
    let mut stmt = ctx.conn.prepare_cached(
        "UPDATE deliveries SET lease_owner = NULL, lease_until = NULL, due_at = next_attempt_at \
         WHERE id = ?1 AND lease_owner = ?2",
    )?;
    for id in &ids {
        stmt.execute(params![id, owner])?;
    }
    Ok(())
}

/// Ends every lease.
pub(super) fn release_all(ctx: &mut WriteCtx, (): ()) -> Outcome<u64> {
    let n = ctx
        .conn
        .prepare_cached(
            "UPDATE deliveries INDEXED BY deliveries_pending \
         SET lease_owner = NULL, lease_until = NULL, due_at = next_attempt_at \
         WHERE status = 'pending' AND lease_until IS NOT NULL",
        )?
        .execute([])?;
    Ok(n as u64)
}

/// Creates a webhook at version 1 and brings its pending deliveries in line with its state.
pub(super) fn create_webhook(
    ctx: &mut WriteCtx,
    mut webhook: WebhookRecord,
) -> Outcome<WebhookRecord> {
    let conn = &ctx.conn;
    let exists: Option<i64> = conn
        .prepare_cached("SELECT 1 FROM webhooks WHERE id = ?1")?
        .query_row([&webhook.id], |r| r.get(0))
        .optional()?;
    if exists.is_some() {
        return Err(StoreError::Conflict {
            kind: "webhook",
            id: webhook.id,
        }
        .into());
    }
    webhook.version = 1;
    let placeholders: Vec<String> = (1..=WEBHOOK_COLUMN_COUNT)
        .map(|i| format!("?{i}"))
        .collect();
    let sql = format!(
        "INSERT INTO webhooks ({WEBHOOK_COLUMNS}) VALUES ({})",
        placeholders.join(", ")
    );
    conn.prepare_cached(&sql)?
        .execute(rusqlite::params_from_iter(webhook_params(&webhook)?))?;
    sync_deliveries(ctx, &webhook.id, &webhook.state, webhook.updated_at)?;
    Ok(webhook)
}

/// Compare-and-set: rewrites a webhook's fields if it is still at `expected`, bumping its
/// version, and brings its pending deliveries in line with its state.
pub(super) fn update_webhook(
    ctx: &mut WriteCtx,
    (mut webhook, expected): (WebhookRecord, u64),
) -> Outcome<WebhookRecord> {
    // `col = ?N` for every column but the id (?1, the key) and the version (the last
    // parameter, bound to the expected version).
    let sets: Vec<String> = WEBHOOK_COLUMNS
        .split(',')
        .map(str::trim)
        .enumerate()
        .filter(|&(_, column)| column != "id" && column != "version")
        .map(|(i, column)| format!("{column} = ?{}", i + 1))
        .collect();
    let sql = format!(
        "UPDATE webhooks SET {}, version = version + 1 WHERE id = ?1 AND version = ?{WEBHOOK_COLUMN_COUNT}",
        sets.join(", ")
    );
    webhook.version = expected;
    let changed = ctx
        .conn
        .prepare_cached(&sql)?
        .execute(rusqlite::params_from_iter(webhook_params(&webhook)?))?;
    if changed == 0 {
        return Err(missed(&ctx.conn, webhook.id, Some(expected))?.into());
    }
    webhook.version = expected + 1;
    sync_deliveries(ctx, &webhook.id, &webhook.state, webhook.updated_at)?;
    Ok(webhook)
}

/// Why a write of webhook `id` (expecting `expected`, if given) changed no row: it is gone,
/// or at another version.
fn missed(conn: &Connection, id: String, expected: Option<u64>) -> Outcome<StoreError> {
    let actual: Option<i64> = conn
        .prepare_cached("SELECT version FROM webhooks WHERE id = ?1")?
        .query_row([&id], |r| r.get(0))
        .optional()?;
    Ok(match (actual, expected) {
        (Some(actual), Some(expected)) => StoreError::VersionMismatch {
            id,
            expected,
            actual: u64::try_from(actual).unwrap_or_default(),
        },
        _ => StoreError::NotFound {
            kind: "webhook",
            id,
        },
    })
}

/// Changes a webhook's state columns only (bumping its version, if still at `expected` when
/// given); returns the webhook as stored and how many pending deliveries were canceled.
pub(super) fn set_webhook_state(
    ctx: &mut WriteCtx,
    (id, state, now, expected): (String, WebhookState, Millis, Option<u64>),
) -> Outcome<WebhookStateChange> {
    let (name, reason, at) = state_columns(&state);
    let changed = ctx
        .conn
        .prepare_cached(
            "UPDATE webhooks SET state = ?2, disabled_reason = ?3, disabled_at = ?4, \
             updated_at = ?5, version = version + 1 WHERE id = ?1 AND (?6 IS NULL OR version = ?6)",
        )?
        .execute(params![id, name, reason, at, now, expected.map(to_i64)])?;
    if changed == 0 {
        return Err(missed(&ctx.conn, id, expected)?.into());
    }
    let canceled = sync_deliveries(ctx, &id, &state, now)?;
    let webhook = ctx
        .conn
        .prepare_cached(&format!(
            "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE id = ?1"
        ))?
        .query_row([&id], webhook_from_row)?;
    Ok(WebhookStateChange { webhook, canceled })
}

/// Deletes a webhook (if still at `expected` when given); its pending deliveries are
/// canceled and kept for history.
pub(super) fn delete_webhook(
    ctx: &mut WriteCtx,
    (id, expected, now): (String, Option<u64>, Millis),
) -> Outcome<()> {
    let deleted = ctx
        .conn
        .prepare_cached("DELETE FROM webhooks WHERE id = ?1 AND (?2 IS NULL OR version = ?2)")?
        .execute(params![id, expected.map(to_i64)])?;
    if deleted == 0 {
        return Err(missed(&ctx.conn, id, expected)?.into());
    }
    cancel_pending(ctx, &id, &format!("webhook `{id}` was deleted"), now)?;
    Ok(())
}

/// Holds, releases or cancels a webhook's pending deliveries to match its state.
fn sync_deliveries(
    ctx: &mut WriteCtx,
    webhook_id: &str,
    state: &WebhookState,
    now: Millis,
) -> Outcome<u64> {
    let (held, sql) = match state {
        WebhookState::Disabled { reason, .. } => {
            return cancel_pending(ctx, webhook_id, reason, now);
        }
        WebhookState::Active => (0, "held = 1"),
        WebhookState::Paused => (1, "held = 0"),
    };
    ctx.conn
        .prepare_cached(&format!(
            "UPDATE deliveries INDEXED BY deliveries_pending SET held = ?2 \
             WHERE status = 'pending' AND webhook_id = ?1 AND {sql}"
        ))?
        .execute(params![webhook_id, held])?;
    Ok(0)
}

fn cancel_pending(ctx: &mut WriteCtx, webhook_id: &str, reason: &str, now: Millis) -> Outcome<u64> {
    let n = ctx
        .conn
        .prepare_cached(
            "UPDATE deliveries INDEXED BY deliveries_pending \
             SET status = 'canceled', lease_owner = NULL, lease_until = NULL, \
             last_error = ?2, updated_at = ?3 \
             WHERE status = 'pending' AND webhook_id = ?1",
        )?
        .execute(params![webhook_id, reason, now])?;
    ctx.counts
        .moved(DeliveryStatus::Pending, DeliveryStatus::Canceled, n as i64);
    Ok(n as u64)
}

/// Whether new pending work for this delivery's webhook is held, or why there can be none.
fn pending_target(
    conn: &Connection,
    delivery_id: &str,
    webhook_id: &str,
    verb: &str,
) -> Outcome<bool> {
    match target(conn, webhook_id)? {
        Target::Active => Ok(false),
        Target::Paused => Ok(true),
        Target::Disabled(reason) => Err(StoreError::InvalidState(format!(
            "delivery `{delivery_id}` cannot be {verb}: webhook `{webhook_id}` is disabled \
             ({reason}); enable it first"
        ))
        .into()),
        Target::Missing => Err(StoreError::InvalidState(format!(
            "delivery `{delivery_id}` cannot be {verb}: webhook `{webhook_id}` no longer exists"
        ))
        .into()),
    }
}

/// Makes a failed, exhausted or canceled delivery pending again, due now, with a fresh
/// attempt budget.
pub(super) fn retry_delivery(
    ctx: &mut WriteCtx,
    (id, now): (String, Millis),
) -> Outcome<DeliverySummary> {
    let conn = &ctx.conn;
    let row = conn
        .prepare_cached("SELECT status, lease_until, webhook_id FROM deliveries WHERE id = ?1")?
        .query_row([&id], |r| {
            Ok((
                stored_status(r, 0)?,
                r.get::<_, Option<Millis>>(1)?,
                r.get::<_, String>(2)?,
            ))
        })
        .optional()?;
    let Some((status, lease_until, webhook_id)) = row else {
        return Err(StoreError::NotFound {
            kind: "delivery",
            id,
        }
        .into());
    };
    if !status.is_retryable_by_operator() {
        let shown = shown_status(status, lease_until, now);
        return Err(StoreError::InvalidState(format!(
            "delivery `{id}` is {shown}; only failed, exhausted or canceled deliveries can be retried"
        ))
        .into());
    }
    let held = pending_target(conn, &id, &webhook_id, "retried")?;
    conn.prepare_cached(
        "UPDATE deliveries SET status = 'pending', held = ?2, attempts = 0, \
         next_attempt_at = ?3, due_at = ?3, lease_owner = NULL, lease_until = NULL, \
         updated_at = ?3 WHERE id = ?1",
    )?
    .execute(params![id, held, now])?;
    ctx.counts.moved(status, DeliveryStatus::Pending, 1);
    summary(conn, &id, now)?.ok_or_else(|| {
        StoreError::NotFound {
            kind: "delivery",
            id: id.clone(),
        }
        .into()
    })
}

/// Creates a new pending delivery of the same event to the same webhook.
pub(super) fn replay_delivery(
    ctx: &mut WriteCtx,
    (id, new_id, now): (String, String, Millis),
) -> Outcome<DeliverySummary> {
    let conn = &ctx.conn;
    let row = conn
        .prepare_cached("SELECT event_id, webhook_id, event_type FROM deliveries WHERE id = ?1")?
        .query_row([&id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })
        .optional()?;
    let Some((event_id, webhook_id, event_type)) = row else {
        return Err(StoreError::NotFound {
            kind: "delivery",
            id,
        }
        .into());
    };
    let held = pending_target(conn, &id, &webhook_id, "replayed")?;
    conn.prepare_cached(INSERT_DELIVERY)?
        .execute(params![
            new_id,
            event_id,
            webhook_id,
            event_type,
            DeliveryStatus::Pending.as_str(),
            held,
            now,
            now,
            None::<&str>,
            None::<Millis>,
            None::<&str>,
            now,
        ])
        .map_err(|e| conflict_or(e, "delivery", &new_id))?;
    ctx.counts.deliveries(DeliveryStatus::Pending, 1);
    summary(conn, &new_id, now)?.ok_or_else(|| {
        StoreError::NotFound {
            kind: "delivery",
            id: new_id.clone(),
        }
        .into()
    })
}

/// What one pruning step removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Pruned {
    pub(super) deliveries: u64,
    pub(super) events: u64,
    /// Whether a step hit its limit, so more may remain.
    pub(super) more: bool,
}

/// One bounded pruning step: up to `limit` finished deliveries last changed before `before`
/// with their attempts, the events they leave without deliveries, and up to `limit` events
/// that never had a delivery and were received before `before`.
pub(super) fn prune_step(ctx: &mut WriteCtx, (before, limit): (Millis, u32)) -> Outcome<Pruned> {
    let conn = &ctx.conn;
    let mut gone: Vec<(String, String, DeliveryStatus)> = Vec::new();
    {
        // Ids begin with their creation time, so every delivery created before `before`
        // sorts below this one: the walk stops at the cutoff instead of reading the table.
        let created_before = id_floor("dlv", before);
        let mut stmt = conn.prepare_cached(
            "DELETE FROM deliveries WHERE id IN ( \
               SELECT id FROM deliveries \
               WHERE id < ?3 AND status <> 'pending' AND updated_at < ?1 ORDER BY id LIMIT ?2) \
             RETURNING id, event_id, status",
        )?;
        let mut rows = stmt.query(params![before, limit, created_before])?;
        while let Some(row) = rows.next()? {
            gone.push((row.get(0)?, row.get(1)?, stored_status(row, 2)?));
        }
    }
    let mut delete_attempts = conn.prepare_cached("DELETE FROM attempts WHERE delivery_id = ?1")?;
    for (id, _, status) in &gone {
        delete_attempts.execute([id])?;
        ctx.counts.deliveries(*status, -1);
    }
    let mut event_ids: Vec<&str> = gone.iter().map(|(_, e, _)| e.as_str()).collect();
    event_ids.sort_unstable();
    event_ids.dedup();
    let mut delete_event = conn.prepare_cached(
        "DELETE FROM events WHERE id = ?1 \
         AND NOT EXISTS (SELECT 1 FROM deliveries WHERE event_id = ?1)",
    )?;
    let mut events = 0;
    for event_id in event_ids {
        events += delete_event.execute([event_id])? as u64;
    }
    let undelivered = conn
        .prepare_cached(
            "DELETE FROM events WHERE id IN ( \
               SELECT id FROM events INDEXED BY events_undelivered \
               WHERE delivery_count = 0 AND received_at < ?1 LIMIT ?2) \
             AND NOT EXISTS (SELECT 1 FROM deliveries WHERE deliveries.event_id = events.id)",
        )?
        .execute(params![before, limit])? as u64;
    events += undelivered;
    ctx.counts.events(-(events as i64));
    Ok(Pruned {
        deliveries: gone.len() as u64,
        events,
        more: gone.len() as u64 >= u64::from(limit) || undelivered >= u64::from(limit),
    })
}
