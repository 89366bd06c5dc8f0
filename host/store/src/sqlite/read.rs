//! Reads: a small pool of read-only connections used from Tokio's blocking threads, and the
//! queries they run. WAL mode lets them read a committed snapshot beside the writer.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};
use tokio::sync::Semaphore;

use super::codec::{
    ATTEMPT_COLUMNS, Outcome, SUMMARY_COLUMNS, WEBHOOK_COLUMNS, attempt_from_row, payload_json,
    summary_from_row, webhook_from_row,
};
use super::schema::open_reader;
use super::writer::COUNTER_NAMES;
use crate::{StoreError, StoreResult};
use hookline_core::model::{
    DeliveryDetail, DeliveryFilter, DeliveryStatus, DeliverySummary, Millis, Page, StoreStats,
    WebhookRecord,
};

/// Read-only connections, opened on demand up to a fixed number.
#[derive(Debug)]
pub(super) struct ReadPool {
    path: PathBuf,
    busy_timeout: Duration,
    idle: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
}

impl ReadPool {
    pub(super) fn new(path: PathBuf, busy_timeout: Duration, size: usize) -> StoreResult<Self> {
        let size = size.max(1);
        // One connection now, so a file readers cannot open fails at start, not later.
        let first = open_reader(&path, busy_timeout)?;
        Ok(ReadPool {
            path,
            busy_timeout,
            idle: Mutex::new(vec![first]),
            permits: Arc::new(Semaphore::new(size)),
        })
    }

    /// Runs `f` on a pooled connection on a blocking thread.
    pub(super) async fn run<T, F>(self: &Arc<Self>, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Outcome<T> + Send + 'static,
    {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Closed)?;
        let pool = Arc::clone(self);
        let task = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let conn = match pool.take() {
                Some(conn) => conn,
                None => open_reader(&pool.path, pool.busy_timeout)?,
            };
            let result = f(&conn).map_err(|e| e.into_store());
            // Back to the pool even if the caller stopped waiting.
            pool.put(conn);
            result
        });
        task.await
            .map_err(|e| StoreError::Backend(format!("a store read failed: {e}")))?
    }

    fn take(&self) -> Option<Connection> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop()
    }

    fn put(&self, conn: Connection) {
        self.idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(conn);
    }
}

/// One delivery's summary (also used by the writer to answer retries and replays).
pub(super) fn summary(
    conn: &Connection,
    id: &str,
    now: Millis,
) -> Outcome<Option<DeliverySummary>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {SUMMARY_COLUMNS} FROM deliveries WHERE id = ?1"
    ))?;
    Ok(stmt
        .query_row([id], |r| summary_from_row(r, now))
        .optional()?)
}

pub(super) fn get_webhook(conn: &Connection, id: &str) -> Outcome<Option<WebhookRecord>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE id = ?1"
    ))?;
    Ok(stmt.query_row([id], webhook_from_row).optional()?)
}

pub(super) fn list_webhooks(conn: &Connection) -> Outcome<Vec<WebhookRecord>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {WEBHOOK_COLUMNS} FROM webhooks ORDER BY id"
    ))?;
    let rows = stmt.query_map([], webhook_from_row)?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// The earliest `due_at` of a claimable-to-be delivery: `max(next attempt, lease end)`.
pub(super) fn next_due(conn: &Connection) -> Outcome<Option<Millis>> {
    let mut stmt = conn.prepare_cached(
        "SELECT min(due_at) FROM deliveries INDEXED BY deliveries_due \
         WHERE status = 'pending' AND held = 0",
    )?;
    Ok(stmt.query_row([], |r| r.get(0))?)
}

/// [`next_due`] leaving out the webhooks in `except` (no room in memory, or an open
/// circuit). The scan of `deliveries_due` passes over their due rows in the index alone
/// (it carries the webhook id), oldest first, and stops at the first row of another.
pub(super) fn next_due_except(conn: &Connection, except: &[String]) -> Outcome<Option<Millis>> {
    if except.is_empty() {
        return next_due(conn);
    }
    let mut stmt = conn.prepare_cached(
        "SELECT min(due_at) FROM deliveries INDEXED BY deliveries_due \
         WHERE status = 'pending' AND held = 0 \
         AND webhook_id NOT IN (SELECT value FROM json_each(?1))",
    )?;
    Ok(stmt.query_row([serde_json::to_string(except)?], |r| r.get(0))?)
}

/// The statuses of the partial index `deliveries_trouble`.
const TROUBLE: [DeliveryStatus; 4] = [
    DeliveryStatus::Failed,
    DeliveryStatus::Exhausted,
    DeliveryStatus::Canceled,
    DeliveryStatus::Skipped,
];

/// The default and largest page sizes.
const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 1000;

/// Lists deliveries newest first (by id, which is creation order), filtered, after a cursor.
pub(super) fn list_deliveries(
    conn: &Connection,
    filter: &DeliveryFilter,
    now: Millis,
) -> Outcome<Page<DeliverySummary>> {
    let limit = filter.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let mut sql = format!("SELECT {SUMMARY_COLUMNS} FROM deliveries WHERE 1 = 1");
    let mut args: Vec<Value> = Vec::new();
    let mut arg = |sql: &mut String, clause: &str, value: Value| {
        args.push(value);
        sql.push_str(&clause.replace('?', &format!("?{}", args.len())));
    };
    if let Some(webhook) = &filter.webhook {
        arg(
            &mut sql,
            " AND webhook_id = ?",
            Value::Text(webhook.clone()),
        );
    }
    if let Some(event_type) = &filter.event_type {
        arg(
            &mut sql,
            " AND event_type = ?",
            Value::Text(event_type.clone()),
        );
    }
    if let Some(event_id) = &filter.event_id {
        arg(&mut sql, " AND event_id = ?", Value::Text(event_id.clone()));
    }
    if let Some(since) = filter.since {
        arg(&mut sql, " AND created_at >= ?", Value::Integer(since));
    }
    if let Some(until) = filter.until {
        arg(&mut sql, " AND created_at < ?", Value::Integer(until));
    }
    if let Some(cursor) = &filter.cursor {
        arg(&mut sql, " AND id < ?", Value::Text(cursor.clone()));
    }
    if !filter.status.is_empty() {
        let mut wanted = filter.status.clone();
        wanted.sort_by_key(|s| s.as_str());
        wanted.dedup();
        let mut terms: Vec<String> = Vec::new();
        let mut stored: Vec<&str> = Vec::new();
        for status in wanted {
            match status {
                DeliveryStatus::Pending => terms.push(
                    "(status = 'pending' AND (lease_until IS NULL OR lease_until <= ?now))".into(),
                ),
                DeliveryStatus::InFlight => {
                    terms.push("(status = 'pending' AND lease_until > ?now)".into());
                }
                other => stored.push(other.as_str()),
            }
        }
        if !stored.is_empty() {
            // Status names are constants of this crate, never user text.
            let list: Vec<String> = stored.iter().map(|s| format!("'{s}'")).collect();
            terms.push(format!("status IN ({})", list.join(", ")));
        }
        // The same condition as a partial index's, word for word, lets SQLite walk that
        // index newest first instead of the whole table.
        if filter
            .status
            .iter()
            .all(|s| matches!(s, DeliveryStatus::Pending | DeliveryStatus::InFlight))
        {
            sql.push_str(" AND status = 'pending'");
        } else if filter.status.iter().all(|s| TROUBLE.contains(s)) {
            sql.push_str(" AND status <> 'pending' AND status <> 'delivered'");
        }
        if terms.iter().any(|t| t.contains("?now")) {
            args.push(Value::Integer(now));
        }
        let now_param = format!("?{}", args.len());
        sql.push_str(&format!(
            " AND ({})",
            terms.join(" OR ").replace("?now", &now_param)
        ));
    }
    args.push(Value::Integer(i64::from(limit) + 1));
    sql.push_str(&format!(" ORDER BY id DESC LIMIT ?{}", args.len()));

    let mut stmt = conn.prepare_cached(&sql)?;
    let mut items = stmt
        .query_map(params_from_iter(args), |r| summary_from_row(r, now))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let next_cursor = if items.len() > limit as usize {
        items.truncate(limit as usize);
        items.last().map(|d| d.id.clone())
    } else {
        None
    };
    Ok(Page { items, next_cursor })
}

pub(super) fn get_delivery(
    conn: &Connection,
    id: &str,
    now: Millis,
) -> Outcome<Option<DeliveryDetail>> {
    let tx = conn.unchecked_transaction()?;
    let Some(summary) = summary(&tx, id, now)? else {
        return Ok(None);
    };
    let payload: Option<Vec<u8>> = tx
        .prepare_cached("SELECT payload FROM events WHERE id = ?1")?
        .query_row([&summary.event_id], |r| r.get(0))
        .optional()?;
    let mut stmt = tx.prepare_cached(&format!(
        "SELECT {ATTEMPT_COLUMNS} FROM attempts WHERE delivery_id = ?1 ORDER BY attempt"
    ))?;
    let attempts_detail = stmt
        .query_map([id], attempt_from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    drop(stmt);
    tx.finish()?;
    Ok(Some(DeliveryDetail {
        summary,
        payload: payload
            .as_deref()
            .map_or(serde_json::Value::Null, payload_json),
        attempts_detail,
    }))
}

/// Counts from the maintained counters, plus the time-dependent figures from small index
/// ranges: live leases (bounded by the deliveries in flight), retries waiting, and the oldest
/// pending delivery. One read transaction, so the figures agree with each other.
pub(super) fn stats(conn: &Connection, now: Millis) -> Outcome<StoreStats> {
    let tx = conn.unchecked_transaction()?;
    let mut counters = [0i64; 7];
    {
        let mut stmt = tx.prepare_cached("SELECT name, value FROM counters")?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let name: String = row.get(0)?;
            if let Some(slot) = COUNTER_NAMES.iter().position(|n| *n == name) {
                counters[slot] = row.get(1)?;
            }
        }
    }
    // A live lease sets `due_at` to its end, so leased deliveries are among those due later
    // (with the retries waiting): a small range of `deliveries_due`.
    let in_flight: i64 = tx
        .prepare_cached(
            "SELECT count(*) FROM deliveries INDEXED BY deliveries_due \
             WHERE status = 'pending' AND held = 0 AND due_at > ?1 AND lease_until > ?1",
        )?
        .query_row([now], |r| r.get(0))?;
    let retry_waiting: i64 = tx
        .prepare_cached(
            "SELECT count(*) FROM deliveries INDEXED BY deliveries_retrying \
             WHERE status = 'pending' AND attempts > 0 AND next_attempt_at > ?1",
        )?
        .query_row([now], |r| r.get(0))?;
    let oldest_pending_at: Option<Millis> = tx
        .prepare_cached(
            "SELECT created_at FROM deliveries INDEXED BY deliveries_pending \
             WHERE status = 'pending' ORDER BY id LIMIT 1",
        )?
        .query_row(params![], |r| r.get(0))
        .optional()?;
    tx.finish()?;

    let count = |v: i64| u64::try_from(v).unwrap_or(0);
    let mut deliveries = std::collections::BTreeMap::new();
    for (name, value) in COUNTER_NAMES.iter().zip(counters).skip(1) {
        deliveries.insert((*name).to_owned(), count(value));
    }
    let pending = count(counters[1]);
    let in_flight = count(in_flight).min(pending);
    deliveries.insert(
        DeliveryStatus::Pending.as_str().to_owned(),
        pending - in_flight,
    );
    deliveries.insert(DeliveryStatus::InFlight.as_str().to_owned(), in_flight);
    Ok(StoreStats {
        events: count(counters[0]),
        deliveries,
        retry_waiting: count(retry_waiting),
        oldest_pending_at,
    })
}
