//! The schema, its migrations and the connection settings.
//!
//! The schema version is SQLite's `PRAGMA user_version`: the number of scripts of
//! [`MIGRATIONS`] applied. Each script runs in its own transaction together with the version
//! bump, so a crash mid-migration leaves the previous version intact. A file whose version is
//! newer than this build knows is refused rather than guessed at.
//!
//! Tables (all `STRICT`):
//! - `webhooks`: one row per webhook; list-valued fields are JSON text; `version` (V3) is
//!   the compare-and-set token of every change.
//! - `events`: the accepted events with their payload bytes (`BLOB`) and idempotency key.
//! - `deliveries` (`WITHOUT ROWID`, keyed by id): one row per (event, webhook). Beside the
//!   fields the API shows it keeps three derived columns that make the hot queries index
//!   range scans:
//!   - `due_at`: when the delivery becomes claimable, `max(next_attempt_at, lease_until)`.
//!     Claims and `next_due` read the partial index `deliveries_due` instead of filtering
//!     out live leases row by row.
//!   - `held`: 1 while the webhook is not active (paused), so a paused webhook's backlog
//!     sits outside `deliveries_due` and claims never scan it. Kept in step by every
//!     webhook state change, in the same transaction.
//!   - `attempt_seq`: the number of the last attempt row written. `attempts` is the current
//!     budget's count (reset to 0 by an operator retry); `attempt_seq` never goes back, so
//!     attempt rows of a retried delivery continue the numbering and their key never
//!     collides.
//!   - indexes: chosen so that a delivery that succeeds at once touches few of them (see
//!     [`V2`]): `deliveries_due` and `deliveries_pending` while it is pending,
//!     `deliveries_webhook` and `deliveries_event` for good; `deliveries_retrying` and
//!     `deliveries_trouble` only when something goes wrong.
//! - `attempts` (`WITHOUT ROWID`): one row per attempt, keyed by (delivery, sequence number).
//! - `api_tokens` (V5): API tokens by id, their scope and the SHA-256 digest of their
//!   secret (unique index: requests are authenticated by digest); revoked rows are kept.
//! - `counters`: events and deliveries by stored status, maintained by the writer in the
//!   same transaction as the rows they count, so statistics never scan the tables.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior};

use super::codec::{Failure, at_path, sql_error};
use super::{SqliteOptions, Synchronous};
use crate::StoreError;

/// Marks a file as a Hookline store (`PRAGMA application_id`, "HkLn").
const APPLICATION_ID: i64 = 0x486B_4C6E;

/// The schema scripts, oldest first; the schema version is how many have been applied.
/// Never edit a released script: append a new one.
pub(super) const MIGRATIONS: &[&str] = &[V1, V2, V3, V4, V5];

const V1: &str = r#"
CREATE TABLE webhooks (
    id                          TEXT PRIMARY KEY NOT NULL,
    url                         TEXT NOT NULL,
    events                      TEXT NOT NULL,
    scheme                      TEXT NOT NULL,
    secret_sealed               TEXT NOT NULL,
    secret_prefix               TEXT NOT NULL,
    previous_secret_sealed      TEXT,
    previous_secret_expires_at  INTEGER,
    headers                     TEXT NOT NULL,
    timeout_ms                  INTEGER,
    max_attempts                INTEGER,
    retry_schedule              TEXT,
    rate_limit_per_sec          INTEGER,
    max_concurrency             INTEGER,
    plugin                      TEXT,
    plugin_config               TEXT,
    description                 TEXT NOT NULL,
    state                       TEXT NOT NULL,
    disabled_reason             TEXT,
    disabled_at                 INTEGER,
    source                      TEXT NOT NULL,
    created_at                  INTEGER NOT NULL,
    updated_at                  INTEGER NOT NULL
) STRICT;

CREATE TABLE events (
    id               TEXT PRIMARY KEY NOT NULL,
    idempotency_key  TEXT,
    event_type       TEXT NOT NULL,
    resource_id      TEXT NOT NULL,
    resource_type    TEXT NOT NULL,
    payload          BLOB NOT NULL,
    received_at      INTEGER NOT NULL,
    delivery_count   INTEGER NOT NULL
) STRICT;

CREATE UNIQUE INDEX events_idempotency ON events (idempotency_key)
    WHERE idempotency_key IS NOT NULL;
-- Events that never had a delivery, for pruning.
CREATE INDEX events_undelivered ON events (received_at) WHERE delivery_count = 0;

CREATE TABLE deliveries (
    id                TEXT PRIMARY KEY NOT NULL,
    event_id          TEXT NOT NULL,
    webhook_id        TEXT NOT NULL,
    event_type        TEXT NOT NULL,
    status            TEXT NOT NULL,
    held              INTEGER NOT NULL,
    attempts          INTEGER NOT NULL,
    attempt_seq       INTEGER NOT NULL,
    next_attempt_at   INTEGER NOT NULL,
    due_at            INTEGER NOT NULL,
    lease_owner       TEXT,
    lease_until       INTEGER,
    last_status_code  INTEGER,
    last_error_kind   TEXT,
    last_error        TEXT,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- Claims and next_due: claimable deliveries by the time they become claimable.
CREATE INDEX deliveries_due ON deliveries (due_at) WHERE status = 'pending' AND held = 0;
-- Leased deliveries (a lease is set and cleared with its owner, and only on pending rows):
-- the in-flight count, answered from the index alone, and release_all.
CREATE INDEX deliveries_leased ON deliveries (lease_until) WHERE lease_until IS NOT NULL;
-- Deliveries waiting for a retry: the retry_waiting count, answered from the index alone.
CREATE INDEX deliveries_retrying ON deliveries (next_attempt_at, status, attempts)
    WHERE status = 'pending' AND attempts > 0;
-- Finished deliveries by last change: pruning.
CREATE INDEX deliveries_finished ON deliveries (updated_at) WHERE status <> 'pending';
-- Listing filters (newest first) and the oldest pending delivery.
CREATE INDEX deliveries_status ON deliveries (status, id);
CREATE INDEX deliveries_webhook ON deliveries (webhook_id, id);
CREATE INDEX deliveries_event ON deliveries (event_id);

CREATE TABLE attempts (
    delivery_id       TEXT NOT NULL,
    attempt           INTEGER NOT NULL,
    started_at        INTEGER NOT NULL,
    duration_ms       INTEGER NOT NULL,
    url               TEXT NOT NULL,
    status_code       INTEGER,
    error_kind        TEXT,
    error_message     TEXT,
    request_headers   TEXT NOT NULL,
    request_body      BLOB,
    response_excerpt  TEXT,
    PRIMARY KEY (delivery_id, attempt)
) STRICT;

CREATE TABLE counters (
    name   TEXT PRIMARY KEY NOT NULL,
    value  INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

INSERT INTO counters (name, value) VALUES
    ('events', 0), ('pending', 0), ('delivered', 0), ('failed', 0),
    ('exhausted', 0), ('canceled', 0), ('skipped', 0);
"#;

/// Fewer index updates per delivery on the hot path (an ingest and a `complete` touched eight
/// index entries of `deliveries`; now three), and attempts keyed by their primary key alone.
///
/// - `deliveries_leased` is gone: deliveries in flight are counted from `deliveries_due`
///   (a live lease sets `due_at` to the lease's end), and `release_all` walks
///   `deliveries_pending`.
/// - `deliveries_status (status, id)` changed on every completion (an entry moved from
///   `pending` to `delivered`). It is replaced by two partial indexes a successful delivery
///   leaves as soon as it is delivered and never enters again: `deliveries_pending` (pending
///   work, oldest first) and `deliveries_trouble` (failed, exhausted, canceled, skipped: the
///   statuses an operator lists, rare by nature). Delivered ones are listed by walking the
///   primary key newest first, where they are the common case.
/// - `deliveries_finished` is gone: pruning walks the primary key, whose ids begin with their
///   creation time, up to the retention cutoff.
/// - `attempts` becomes `WITHOUT ROWID`: one B-tree insert per attempt instead of two.
const V2: &str = r#"
DROP INDEX deliveries_leased;
DROP INDEX deliveries_status;
DROP INDEX deliveries_finished;
CREATE INDEX deliveries_pending ON deliveries (id) WHERE status = 'pending';
-- Two comparisons, not `IN (…)`: SQLite evaluates a list with a temporary table, built on
-- every write of a row.
CREATE INDEX deliveries_trouble ON deliveries (id)
    WHERE status <> 'pending' AND status <> 'delivered';

CREATE TABLE attempts_v2 (
    delivery_id       TEXT NOT NULL,
    attempt           INTEGER NOT NULL,
    started_at        INTEGER NOT NULL,
    duration_ms       INTEGER NOT NULL,
    url               TEXT NOT NULL,
    status_code       INTEGER,
    error_kind        TEXT,
    error_message     TEXT,
    request_headers   TEXT NOT NULL,
    request_body      BLOB,
    response_excerpt  TEXT,
    PRIMARY KEY (delivery_id, attempt)
) STRICT, WITHOUT ROWID;
INSERT INTO attempts_v2 SELECT * FROM attempts;
DROP TABLE attempts;
ALTER TABLE attempts_v2 RENAME TO attempts;
"#;

/// A version per webhook, bumped by every change: admin edits are compare-and-set writes
/// (`UPDATE … WHERE id = ? AND version = ?`) instead of whole-row replacements, so an edit
/// racing another never silently undoes it. Existing rows start at 1.
const V3: &str = r#"
ALTER TABLE webhooks ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
"#;

/// `deliveries_due` carries the webhook id: a claim divided among webhooks (and
/// `next_due` leaving some out) passes over the due rows of a webhook it skips in the index
/// alone, without reading each row, so a skipped webhook's backlog of thousands costs the
/// claim a few hundred microseconds rather than a row read each.
const V4: &str = r#"
DROP INDEX deliveries_due;
CREATE INDEX deliveries_due ON deliveries (due_at, webhook_id) WHERE status = 'pending' AND held = 0;
"#;

/// API tokens with a scope (`ingest`, `read`, `admin`): only the SHA-256 digest of each
/// secret is kept, looked up through its unique index. A revoked token keeps its row
/// (`revoked_at`), so the bootstrap token installed again at each start stays revoked.
const V5: &str = r#"
CREATE TABLE api_tokens (
    id            TEXT PRIMARY KEY NOT NULL,
    name          TEXT NOT NULL,
    scope         TEXT NOT NULL,
    digest        BLOB NOT NULL,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER,
    revoked_at    INTEGER
) STRICT;
CREATE UNIQUE INDEX api_tokens_digest ON api_tokens (digest);
"#;

/// Log frames (4 KiB pages) past which the writer completes a checkpoint itself (16 MiB).
const WAL_RESTART_PAGES: i64 = 4096;

/// Opens the read-write connection, applies the settings and migrates the schema.
pub(super) fn open_writer(path: &Path, opts: &SqliteOptions) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let mut conn = Connection::open_with_flags(path, flags).map_err(|e| opening(path, e))?;
    configure_writer(&conn, opts).map_err(|e| at_path(e.into_store(), path))?;
    migrate(&mut conn, path)?;
    Ok(conn)
}

fn configure_writer(conn: &Connection, opts: &SqliteOptions) -> Result<(), Failure> {
    conn.busy_timeout(opts.busy_timeout)?;
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Backend(format!(
            "the file system refused write-ahead logging (journal mode is `{mode}`)"
        ))
        .into());
    }
    conn.pragma_update(None, "synchronous", synchronous(opts.synchronous))?;
    // Integrity between tables is kept by the writer's code (a delivery outlives its
    // webhook on purpose); foreign key checks would only cost lookups on the hot path.
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    // Statement and savepoint journals (the original of every page a multi-row statement or
    // a savepoint changes) stay in memory up to 64 KiB, then spill to an unlinked temporary
    // file. In memory only (`MEMORY`), resuming a webhook with 1,000,000 pending deliveries
    // (one `UPDATE` of every row) held ~140 MB until it ended: the `backlog` benchmark's
    // peak RSS came from that statement alone (273 MB, against 132 MB before and after).
    conn.pragma_update(None, "temp_store", "FILE")?;
    conn.pragma_update(None, "cache_size", -i64::from(opts.cache_size_kib))?;
    // The checkpointer thread copies the log into the database file, but under sustained
    // writes it never catches up with the last frame, and only a checkpoint that has copied
    // every frame lets the log start over: the log would grow for as long as the load lasts,
    // and shrinking it afterwards (a truncate of hundreds of MiB) held a commit back for
    // ~100 ms. So once the log passes 16 MiB the writer finishes the copy itself after a
    // commit (only what the checkpointer has not copied yet: a few ms), and the next
    // transaction starts the log over, in place: its file stays at most this size and is
    // never truncated.
    conn.pragma_update(None, "wal_autocheckpoint", WAL_RESTART_PAGES)?;
    conn.pragma_update(None, "journal_size_limit", 4 * WAL_RESTART_PAGES * 4096)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

/// Opens the checkpointer's connection (read-write, but it never writes rows).
pub(super) fn open_checkpointer(
    path: &Path,
    opts: &SqliteOptions,
) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|e| opening(path, e))?;
    let configure = || -> rusqlite::Result<()> {
        conn.busy_timeout(opts.busy_timeout)?;
        conn.pragma_update(None, "synchronous", synchronous(opts.synchronous))?;
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        Ok(())
    };
    configure().map_err(|e| at_path(sql_error(e), path))?;
    Ok(conn)
}

fn synchronous(level: Synchronous) -> &'static str {
    match level {
        Synchronous::Full => "FULL",
        Synchronous::Normal => "NORMAL",
    }
}

/// Opens one read-only connection.
pub(super) fn open_reader(path: &Path, busy_timeout: Duration) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(path, flags).map_err(|e| opening(path, e))?;
    let configure = || -> rusqlite::Result<()> {
        conn.busy_timeout(busy_timeout)?;
        conn.pragma_update(None, "cache_size", -16_384)?;
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        conn.set_prepared_statement_cache_capacity(64);
        Ok(())
    };
    configure().map_err(|e| at_path(sql_error(e), path))?;
    Ok(conn)
}

fn opening(path: &Path, e: rusqlite::Error) -> StoreError {
    StoreError::Backend(format!("cannot open {}: {e}", path.display()))
}

/// Brings the schema up to the newest version this build knows.
fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let run = |conn: &mut Connection| -> Result<(), Failure> {
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        let app_id: i64 = conn.pragma_query_value(None, "application_id", |r| r.get(0))?;
        let known = MIGRATIONS.len() as i64;
        if app_id != 0 && app_id != APPLICATION_ID {
            return Err(not_ours(path).into());
        }
        if version > known {
            return Err(StoreError::Schema(format!(
                "{} has schema version {version}, newer than the {known} this build of hookline \
                 knows; use a newer hookline",
                path.display()
            ))
            .into());
        }
        if version == 0 {
            let has_tables: Option<i64> = conn
                .query_row(
                    "SELECT 1 FROM sqlite_schema WHERE type = 'table' LIMIT 1",
                    [],
                    |r| r.get(0),
                )
                .optional()?;
            if has_tables.is_some() {
                return Err(not_ours(path).into());
            }
        }
        for (done, script) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute_batch(script)?;
            tx.pragma_update(None, "application_id", APPLICATION_ID)?;
            tx.pragma_update(None, "user_version", done as i64 + 1)?;
            tx.commit()?;
            tracing::info!(path = %path.display(), version = done + 1, "Migrated the store schema.");
        }
        Ok(())
    };
    run(conn).map_err(|e| match e {
        Failure::Store(e @ StoreError::Schema(_)) => e,
        other => at_path(other.into_store(), path),
    })
}

fn not_ours(path: &Path) -> StoreError {
    StoreError::Schema(format!(
        "{} is a SQLite database but not a hookline store",
        path.display()
    ))
}
