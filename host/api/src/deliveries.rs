//! `/v1/deliveries`: list with filters and cursor pages, show one with its attempts, retry,
//! replay.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;

use super::error::ApiError;
use super::extract::Id;
use super::{ApiState, ErrorBody};
use hookline_core::model::{
    DeliveryDetail, DeliveryFilter, DeliveryStatus, DeliverySummary, Millis, Page,
};

/// Largest page.
const MAX_LIMIT: u32 = 1000;

const PARAMETERS: &str = "webhook, status, event_type, event_id, since, until, cursor, limit";

#[utoipa::path(
    get, operation_id = "listDeliveries", path = "/v1/deliveries", tag = "deliveries",
    summary = "List deliveries",
    description = "Newest first, a page at a time; every filter is optional and unknown parameters are refused.",
    params(
        ("webhook" = Option<String>, Query, description = "Only this webhook's."),
        ("status" = Option<String>, Query, description = "Comma-separated statuses (`failed,exhausted`); may repeat."),
        ("event_type" = Option<String>, Query, description = "Only events of this type."),
        ("event_id" = Option<String>, Query, description = "Only this event's deliveries."),
        ("since" = Option<i64>, Query, description = "Created at or after, Unix milliseconds."),
        ("until" = Option<i64>, Query, description = "Created before, Unix milliseconds."),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page."),
        ("limit" = Option<u32>, Query, description = "Page size, 1 to 1000 (default 100)."),
    ),
    responses(
        (status = 200, description = "A page of deliveries.", body = Page<DeliverySummary>),
        (status = 400, description = "An unknown parameter or an invalid value (`field` names it).", body = ErrorBody),
    ),
)]
pub(crate) async fn list(
    State(st): State<ApiState>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<Page<DeliverySummary>>, ApiError> {
    let Query(pairs) = query.map_err(|e| ApiError::invalid("query", e.body_text()))?;
    let filter = parse_filter(pairs)?;
    Ok(Json(st.engine.list_deliveries(filter).await?))
}

#[utoipa::path(
    get, operation_id = "getDelivery", path = "/v1/deliveries/{id}", tag = "deliveries",
    summary = "Show a delivery",
    description = "With every attempt: status, response code, duration and the start of the answer.",
    params(("id" = String, Path, description = "The delivery's id.")),
    responses(
        (status = 200, description = "The delivery and its attempts.", body = DeliveryDetail),
        (status = 404, description = "No delivery has this id.", body = ErrorBody),
    ),
)]
pub(crate) async fn show(
    State(st): State<ApiState>,
    Id(id): Id,
) -> Result<Json<DeliveryDetail>, ApiError> {
    Ok(Json(st.engine.get_delivery(&id).await?))
}

#[utoipa::path(
    post, operation_id = "retryDelivery", path = "/v1/deliveries/{id}/retry", tag = "deliveries",
    summary = "Retry a finished delivery",
    description = "A failed, exhausted or canceled delivery is pending again, attempted at once.",
    params(("id" = String, Path, description = "The delivery's id.")),
    responses(
        (status = 200, description = "Pending again.", body = DeliverySummary),
        (status = 404, description = "No delivery has this id.", body = ErrorBody),
        (status = 409, description = "The delivery is not failed, exhausted or canceled.", body = ErrorBody),
    ),
)]
pub(crate) async fn retry(
    State(st): State<ApiState>,
    Id(id): Id,
) -> Result<Json<DeliverySummary>, ApiError> {
    Ok(Json(st.engine.retry_delivery(&id).await?))
}

#[utoipa::path(
    post, operation_id = "replayDelivery", path = "/v1/deliveries/{id}/replay", tag = "deliveries",
    summary = "Replay a delivery",
    description = "A new delivery of the same event to the same webhook, whatever the first one's status.",
    params(("id" = String, Path, description = "The delivery's id.")),
    responses(
        (status = 201, description = "The new delivery.", body = DeliverySummary),
        (status = 404, description = "No delivery has this id.", body = ErrorBody),
        (status = 409, description = "Its webhook no longer exists (`invalid_state`).", body = ErrorBody),
    ),
)]
pub(crate) async fn replay(
    State(st): State<ApiState>,
    Id(id): Id,
) -> Result<(StatusCode, Json<DeliverySummary>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(st.engine.replay_delivery(&id).await?),
    ))
}

/// The filter of `GET /v1/deliveries`. Empty values mean "no filter"; `status` takes
/// comma-separated names and may repeat; unknown parameters are refused (a typo would
/// otherwise silently list everything).
pub(crate) fn parse_filter(pairs: Vec<(String, String)>) -> Result<DeliveryFilter, ApiError> {
    let mut f = DeliveryFilter::default();
    for (key, value) in pairs {
        let value = value.trim();
        let text = (!value.is_empty()).then(|| value.to_owned());
        match key.as_str() {
            "webhook" => f.webhook = text,
            "event_type" => f.event_type = text,
            "event_id" => f.event_id = text,
            "cursor" => f.cursor = text,
            "status" => {
                for name in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    let status: DeliveryStatus =
                        name.parse()
                            .map_err(|e: hookline_core::model::UnknownStatus| {
                                ApiError::invalid("status", e.to_string())
                            })?;
                    if !f.status.contains(&status) {
                        f.status.push(status);
                    }
                }
            }
            "since" => {
                f.since = text
                    .as_deref()
                    .map(|t| parse_time("since", t))
                    .transpose()?
            }
            "until" => {
                f.until = text
                    .as_deref()
                    .map(|t| parse_time("until", t))
                    .transpose()?
            }
            "limit" => {
                f.limit = text
                    .as_deref()
                    .map(|t| match t.parse::<u32>() {
                        Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
                        _ => Err(ApiError::invalid(
                            "limit",
                            format!("`{t}` is not a page size from 1 to {MAX_LIMIT}"),
                        )),
                    })
                    .transpose()?;
            }
            other => {
                return Err(ApiError::invalid(
                    other,
                    format!("unknown query parameter `{other}` (expected one of {PARAMETERS})"),
                ));
            }
        }
    }
    if let (Some(since), Some(until)) = (f.since, f.until)
        && since > until
    {
        return Err(ApiError::invalid("since", "`since` is after `until`"));
    }
    Ok(f)
}

/// A time: Unix milliseconds, or RFC 3339 (`2025-01-31T12:00:00Z`).
fn parse_time(param: &str, text: &str) -> Result<Millis, ApiError> {
    if let Ok(ms) = text.parse::<Millis>() {
        return Ok(ms);
    }
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp_millis())
        .map_err(|e| {
            ApiError::invalid(
                param,
                format!(
                    "`{text}` is not a time ({e}): expected Unix milliseconds or RFC 3339, \
                     e.g. 2025-01-31T12:00:00Z"
                ),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn parses_every_filter() {
        let f = parse_filter(pairs(&[
            ("webhook", "billing"),
            ("status", "failed, exhausted"),
            ("status", "failed,pending"),
            ("event_type", "task.created"),
            ("event_id", "evt_1"),
            ("since", "1700000000000"),
            ("until", "2025-01-31T12:00:00Z"),
            ("cursor", "dlv_9"),
            ("limit", "20"),
        ]))
        .unwrap();
        assert_eq!(f.webhook.as_deref(), Some("billing"));
        assert_eq!(
            f.status,
            vec![
                DeliveryStatus::Failed,
                DeliveryStatus::Exhausted,
                DeliveryStatus::Pending
            ]
        );
        assert_eq!(f.event_type.as_deref(), Some("task.created"));
        assert_eq!(f.event_id.as_deref(), Some("evt_1"));
        assert_eq!(f.since, Some(1_700_000_000_000));
        assert_eq!(f.until, Some(1_738_324_800_000));
        assert_eq!(f.cursor.as_deref(), Some("dlv_9"));
        assert_eq!(f.limit, Some(20));
    }

    #[test]
    fn empty_values_mean_no_filter() {
        let f = parse_filter(pairs(&[("webhook", ""), ("status", ""), ("limit", "")])).unwrap();
        assert_eq!(f, DeliveryFilter::default());
    }

    #[test]
    fn bad_values_name_the_parameter() {
        for (list, field) in [
            (vec![("status", "failed,nope")], "status"),
            (vec![("limit", "0")], "limit"),
            (vec![("limit", "1001")], "limit"),
            (vec![("limit", "ten")], "limit"),
            (vec![("since", "yesterday")], "since"),
            (vec![("until", "2025-13-01T00:00:00Z")], "until"),
            (vec![("since", "20"), ("until", "10")], "since"),
            (vec![("stauts", "failed")], "stauts"),
        ] {
            let e = parse_filter(pairs(&list)).unwrap_err();
            assert_eq!(e.status(), StatusCode::BAD_REQUEST, "{list:?}");
            assert_eq!(e.code(), "invalid_input");
            assert_eq!(e.field(), Some(field), "{list:?}");
        }
    }
}
