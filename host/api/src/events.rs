//! `POST /v1/events` and `POST /v1/events/batch`: the ingest path.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::extract::ApiJson;
use super::{ApiState, BatchAccepted, ErrorBody, EventAccepted, EventBatch};
use hookline_engine::EventInput;

const REPLAYED: &str = "idempotent-replayed";

/// One event. Answers only once the event and its deliveries are durable.
#[utoipa::path(
    post, operation_id = "publishEvent", path = "/v1/events", tag = "events",
    summary = "Publish one event",
    description = "Matches the event against every webhook's patterns and stores it with one delivery per match; answers 202 only once both are durable. A repeated `idempotency_key` answers with the first event's id and the `idempotent-replayed: true` header.",
    request_body = EventInput,
    responses(
        (status = 202, description = "Stored, with its deliveries.", body = EventAccepted,
            headers(("idempotent-replayed" = String, description = "`true` when the idempotency key was seen before: nothing new was stored."))),
        (status = 400, description = "Malformed JSON, an unknown field, or an invalid event (`field` names it).", body = ErrorBody),
        (status = 413, description = "The body or the event's payload is over the limit.", body = ErrorBody),
        (status = 415, description = "The body is not `application/json`.", body = ErrorBody),
        (status = 507, description = "The store is full.", body = ErrorBody),
    ),
)]
pub(crate) async fn ingest_one(
    State(st): State<ApiState>,
    ApiJson(input): ApiJson<EventInput>,
) -> Result<Response, ApiError> {
    let result = st
        .engine
        .ingest(vec![input])
        .await
        .map_err(|e| ApiError::from(e).single_event())?
        .pop()
        .ok_or_else(|| ApiError::internal("the engine returned no result for the event"))?;
    let mut response = (
        StatusCode::ACCEPTED,
        Json(EventAccepted {
            event_id: result.event_id,
            deliveries: result.deliveries,
        }),
    )
        .into_response();
    if result.duplicate {
        response
            .headers_mut()
            .insert(REPLAYED, HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// Many events, all or nothing: an invalid one fails the batch, naming its index. The body
/// is parsed straight into the engine's inputs (no intermediate `Value`); each event's
/// `data` is kept as raw JSON.
#[utoipa::path(
    post, operation_id = "publishEvents", path = "/v1/events/batch", tag = "events",
    summary = "Publish a batch of events",
    description = "All or nothing: an invalid event fails the whole batch, naming its index (`events[3].type`). Answers 202 once every event and delivery is durable, with one result per event in order.",
    request_body = EventBatch,
    responses(
        (status = 202, description = "Every event stored.", body = BatchAccepted,
            headers(("idempotent-replayed" = String, description = "`true` when every event's idempotency key was seen before."))),
        (status = 400, description = "Malformed JSON, an empty batch, more events than the batch limit, or an invalid event (`field` names it).", body = ErrorBody),
        (status = 413, description = "The body or an event's payload is over the limit.", body = ErrorBody),
        (status = 415, description = "The body is not `application/json`.", body = ErrorBody),
        (status = 507, description = "The store is full.", body = ErrorBody),
    ),
)]
pub(crate) async fn ingest_batch(
    State(st): State<ApiState>,
    ApiJson(batch): ApiJson<EventBatch>,
) -> Result<Response, ApiError> {
    let n = batch.events.len();
    if n == 0 {
        return Err(ApiError::invalid(
            "events",
            "at least one event is required",
        ));
    }
    if n > st.limits.max_batch {
        return Err(ApiError::invalid(
            "events",
            format!(
                "{n} events is over the limit of {} per batch",
                st.limits.max_batch
            ),
        ));
    }
    let results = st.engine.ingest(batch.events).await?;
    let all_replayed = results.iter().all(|r| r.duplicate);
    let mut response = (StatusCode::ACCEPTED, Json(BatchAccepted { results })).into_response();
    if all_replayed {
        response
            .headers_mut()
            .insert(REPLAYED, HeaderValue::from_static("true"));
    }
    Ok(response)
}
