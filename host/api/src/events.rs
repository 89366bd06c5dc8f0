//! `POST /v1/events` and `POST /v1/events/batch`: the ingest path.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::extract::ApiJson;
use super::{ApiState, BatchAccepted, EventAccepted, EventBatch};
use hookline_engine::EventInput;

const REPLAYED: &str = "idempotent-replayed";

/// One event. Answers only once the event and its deliveries are durable.
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
