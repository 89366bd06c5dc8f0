//! Conversions between rows and records, and between SQLite errors and [`StoreError`].

use std::path::Path;

use rusqlite::types::Type;
use rusqlite::{ErrorCode, Row};

use crate::StoreError;
use hookline_core::model::{
    AttemptView, DeliveryStatus, DeliverySummary, ErrorKind, Millis, WebhookRecord, WebhookSource,
    WebhookState,
};

/// A failed store operation inside this module: a SQLite error not yet classified, or a
/// [`StoreError`] already decided (not found, conflict, invalid state).
#[derive(Debug)]
pub(super) enum Failure {
    Sql(rusqlite::Error),
    Store(StoreError),
    /// Refused before the command wrote anything: it fails alone even without a savepoint.
    Refused(StoreError),
}

impl From<rusqlite::Error> for Failure {
    fn from(e: rusqlite::Error) -> Self {
        Failure::Sql(e)
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Failure::Store(e)
    }
}

impl From<serde_json::Error> for Failure {
    fn from(e: serde_json::Error) -> Self {
        Failure::Store(StoreError::Backend(format!("encoding a JSON column: {e}")))
    }
}

impl Failure {
    pub(super) fn into_store(self) -> StoreError {
        match self {
            Failure::Sql(e) => sql_error(e),
            Failure::Store(e) | Failure::Refused(e) => e,
        }
    }

    /// Whether the command wrote nothing before failing (see [`Failure::Refused`]).
    pub(super) fn is_refusal(&self) -> bool {
        matches!(self, Failure::Refused(_))
    }
}

/// Results inside the SQLite store.
pub(super) type Outcome<T> = Result<T, Failure>;

/// Classifies a SQLite error: a full disk or an I/O failure means new writes are refused
/// (`Full`) while reads go on; anything else is a backend failure.
pub(super) fn sql_error(e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(ErrorCode::DiskFull | ErrorCode::SystemIoFailure) => StoreError::Full(e.to_string()),
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => {
            StoreError::Schema(format!("the database file is damaged: {e}"))
        }
        _ => StoreError::Backend(e.to_string()),
    }
}

/// Names the file in an error raised while opening it.
pub(super) fn at_path(e: StoreError, path: &Path) -> StoreError {
    let path = path.display();
    match e {
        StoreError::Full(m) => StoreError::Full(format!("{path}: {m}")),
        StoreError::Schema(m) => StoreError::Schema(format!("{path}: {m}")),
        StoreError::Backend(m) => StoreError::Backend(format!("{path}: {m}")),
        other => other,
    }
}

/// A `Conflict` when the error is a uniqueness violation, else the classified error.
pub(super) fn conflict_or(e: rusqlite::Error, kind: &'static str, id: &str) -> Failure {
    if e.sqlite_error_code() == Some(ErrorCode::ConstraintViolation) {
        StoreError::Conflict {
            kind,
            id: id.to_owned(),
        }
        .into()
    } else {
        Failure::Sql(e)
    }
}

/// A column whose stored value this version cannot read.
fn bad_column(index: usize, ty: Type, message: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(index, ty, message.into())
}

/// `u64` as SQLite's `INTEGER` (saturating: no duration or limit comes near `i64::MAX`).
pub(super) fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn get_u64(row: &Row<'_>, index: usize) -> rusqlite::Result<u64> {
    let v: i64 = row.get(index)?;
    u64::try_from(v).map_err(|_| bad_column(index, Type::Integer, format!("negative value {v}")))
}

fn get_opt_u64(row: &Row<'_>, index: usize) -> rusqlite::Result<Option<u64>> {
    let v: Option<i64> = row.get(index)?;
    v.map(|v| {
        u64::try_from(v)
            .map_err(|_| bad_column(index, Type::Integer, format!("negative value {v}")))
    })
    .transpose()
}

fn get_json<T: serde::de::DeserializeOwned>(row: &Row<'_>, index: usize) -> rusqlite::Result<T> {
    let text: String = row.get(index)?;
    serde_json::from_str(&text)
        .map_err(|e| bad_column(index, Type::Text, format!("invalid JSON: {e}")))
}

/// Stored statuses: the lifecycle statuses minus `in_flight`, which is derived from a live
/// lease on a `pending` row.
pub(super) fn stored_status(row: &Row<'_>, index: usize) -> rusqlite::Result<DeliveryStatus> {
    let text: String = row.get(index)?;
    match text.parse::<DeliveryStatus>() {
        Ok(DeliveryStatus::InFlight) | Err(_) => Err(bad_column(
            index,
            Type::Text,
            format!("unknown stored delivery status `{text}`"),
        )),
        Ok(status) => Ok(status),
    }
}

/// The status shown for a stored status and lease: a pending delivery with a live lease is
/// in flight.
pub(super) fn shown_status(
    stored: DeliveryStatus,
    lease_until: Option<Millis>,
    now: Millis,
) -> DeliveryStatus {
    match (stored, lease_until) {
        (DeliveryStatus::Pending, Some(until)) if until > now => DeliveryStatus::InFlight,
        (status, _) => status,
    }
}

/// The columns [`summary_from_row`] reads, in order.
pub(super) const SUMMARY_COLUMNS: &str = "id, event_id, event_type, webhook_id, status, attempts, \
     next_attempt_at, lease_until, last_status_code, last_error_kind, last_error, created_at, \
     updated_at";

/// A delivery summary from a row of [`SUMMARY_COLUMNS`].
pub(super) fn summary_from_row(row: &Row<'_>, now: Millis) -> rusqlite::Result<DeliverySummary> {
    let stored = stored_status(row, 4)?;
    let lease_until: Option<Millis> = row.get(7)?;
    let next_attempt_at: Millis = row.get(6)?;
    let last_error_kind: Option<String> = row.get(9)?;
    Ok(DeliverySummary {
        id: row.get(0)?,
        event_id: row.get(1)?,
        event_type: row.get(2)?,
        webhook_id: row.get(3)?,
        status: shown_status(stored, lease_until, now),
        attempts: row.get(5)?,
        last_status_code: row.get(8)?,
        last_error_kind: last_error_kind.as_deref().and_then(ErrorKind::parse),
        last_error: row.get(10)?,
        next_attempt_at: (stored == DeliveryStatus::Pending).then_some(next_attempt_at),
        created_at: row.get(11)?,
        updated_at: row.get(12)?,
    })
}

/// The columns [`attempt_from_row`] reads, in order.
pub(super) const ATTEMPT_COLUMNS: &str = "attempt, started_at, duration_ms, url, status_code, \
     error_kind, error_message, request_headers, request_body, response_excerpt";

/// An attempt from a row of [`ATTEMPT_COLUMNS`].
pub(super) fn attempt_from_row(row: &Row<'_>) -> rusqlite::Result<AttemptView> {
    let error_kind: Option<String> = row.get(5)?;
    let body: Option<Vec<u8>> = row.get(8)?;
    Ok(AttemptView {
        attempt: row.get(0)?,
        started_at: row.get(1)?,
        duration_ms: get_u64(row, 2)?,
        url: row.get(3)?,
        status_code: row.get(4)?,
        error_kind: error_kind.as_deref().and_then(ErrorKind::parse),
        error_message: row.get(6)?,
        request_headers: get_json(row, 7)?,
        request_body: body.map(|b| String::from_utf8_lossy(&b).into_owned()),
        response_excerpt: row.get(9)?,
    })
}

/// A stored payload as JSON: the document itself, or a JSON string when the bytes are not
/// JSON (a payload is stored exactly as received).
pub(super) fn payload_json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

fn source_name(source: WebhookSource) -> &'static str {
    match source {
        WebhookSource::Api => "api",
        WebhookSource::Config => "config",
    }
}

/// The columns [`webhook_from_row`] reads and [`webhook_params`] binds, in order.
pub(super) const WEBHOOK_COLUMNS: &str = "id, url, events, scheme, secret_sealed, secret_prefix, \
     previous_secret_sealed, previous_secret_expires_at, headers, timeout_ms, max_attempts, \
     retry_schedule, rate_limit_per_sec, max_concurrency, plugin, plugin_config, description, \
     state, disabled_reason, disabled_at, source, created_at, updated_at, version";

/// How many columns [`WEBHOOK_COLUMNS`] names.
pub(super) const WEBHOOK_COLUMN_COUNT: usize = 24;

/// A webhook from a row of [`WEBHOOK_COLUMNS`].
pub(super) fn webhook_from_row(row: &Row<'_>) -> rusqlite::Result<WebhookRecord> {
    let scheme: String = row.get(3)?;
    let previous_sealed: Option<String> = row.get(6)?;
    let previous_expires: Option<Millis> = row.get(7)?;
    let state: String = row.get(17)?;
    let source: String = row.get(20)?;
    Ok(WebhookRecord {
        id: row.get(0)?,
        url: row.get(1)?,
        events: get_json(row, 2)?,
        scheme: scheme
            .parse()
            .map_err(|e| bad_column(3, Type::Text, format!("{e}")))?,
        secret_sealed: row.get(4)?,
        secret_prefix: row.get(5)?,
        previous_secret: previous_sealed.zip(previous_expires),
        headers: get_json(row, 8)?,
        timeout_ms: get_opt_u64(row, 9)?,
        max_attempts: row.get(10)?,
        retry_schedule_secs: {
            let text: Option<String> = row.get(11)?;
            text.map(|t| {
                serde_json::from_str(&t)
                    .map_err(|e| bad_column(11, Type::Text, format!("invalid JSON: {e}")))
            })
            .transpose()?
        },
        rate_limit_per_sec: row.get(12)?,
        max_concurrency: row.get(13)?,
        plugin: row.get(14)?,
        plugin_config: row.get(15)?,
        description: row.get(16)?,
        state: match state.as_str() {
            "active" => WebhookState::Active,
            "paused" => WebhookState::Paused,
            "disabled" => WebhookState::Disabled {
                reason: row.get::<_, Option<String>>(18)?.unwrap_or_default(),
                at: row.get::<_, Option<Millis>>(19)?.unwrap_or_default(),
            },
            other => {
                return Err(bad_column(
                    17,
                    Type::Text,
                    format!("unknown webhook state `{other}`"),
                ));
            }
        },
        source: match source.as_str() {
            "api" => WebhookSource::Api,
            "config" => WebhookSource::Config,
            other => {
                return Err(bad_column(
                    20,
                    Type::Text,
                    format!("unknown webhook source `{other}`"),
                ));
            }
        },
        created_at: row.get(21)?,
        updated_at: row.get(22)?,
        version: get_u64(row, 23)?,
    })
}

/// The state columns (`state`, `disabled_reason`, `disabled_at`) of a webhook state.
pub(super) fn state_columns(state: &WebhookState) -> (&'static str, Option<&str>, Option<Millis>) {
    match state {
        WebhookState::Disabled { reason, at } => (state.name(), Some(reason.as_str()), Some(*at)),
        other => (other.name(), None, None),
    }
}

/// Binds a webhook in the order of [`WEBHOOK_COLUMNS`].
pub(super) fn webhook_params(w: &WebhookRecord) -> Outcome<Vec<rusqlite::types::Value>> {
    use rusqlite::types::Value;
    let text = |s: &str| Value::Text(s.to_owned());
    let opt_text = |s: Option<&str>| s.map_or(Value::Null, |s| Value::Text(s.to_owned()));
    let opt_int = |v: Option<i64>| v.map_or(Value::Null, Value::Integer);
    let (state, reason, at) = state_columns(&w.state);
    Ok(vec![
        text(&w.id),
        text(&w.url),
        Value::Text(serde_json::to_string(&w.events)?),
        text(w.scheme.as_str()),
        text(&w.secret_sealed),
        text(&w.secret_prefix),
        opt_text(w.previous_secret.as_ref().map(|(s, _)| s.as_str())),
        opt_int(w.previous_secret.as_ref().map(|(_, at)| *at)),
        Value::Text(serde_json::to_string(&w.headers)?),
        opt_int(w.timeout_ms.map(to_i64)),
        opt_int(w.max_attempts.map(i64::from)),
        match &w.retry_schedule_secs {
            Some(s) => Value::Text(serde_json::to_string(s)?),
            None => Value::Null,
        },
        opt_int(w.rate_limit_per_sec.map(i64::from)),
        opt_int(w.max_concurrency.map(i64::from)),
        opt_text(w.plugin.as_deref()),
        opt_text(w.plugin_config.as_deref()),
        text(&w.description),
        text(state),
        opt_text(reason),
        opt_int(at),
        text(source_name(w.source)),
        Value::Integer(w.created_at),
        Value::Integer(w.updated_at),
        Value::Integer(to_i64(w.version)),
    ])
}
