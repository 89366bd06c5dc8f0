//! Target 3: the event and batch JSON the API ingests, and the payload built from them.

use chrono::{DateTime, Timelike, Utc};
use hookline_contract::api::{EventBatch, EventInput};
use hookline_core::event::{Payload, validate_event_type};

/// Input: JSON text, read as an [`EventBatch`], an [`EventInput`] and a [`Payload`].
///
/// Asserts: each event the engine would accept (it checks the same fields, see
/// `Inner::build_payload`) builds a payload; a payload's bytes parse back to an equal payload
/// with the same bytes, and as JSON carry the event type and resource given.
pub fn event(data: &[u8]) {
    if let Ok(batch) = serde_json::from_slice::<EventBatch>(data) {
        for input in batch.events {
            accept(input);
        }
    }
    if let Ok(input) = serde_json::from_slice::<EventInput>(data) {
        accept(input);
    }
    if let Ok(payload) = serde_json::from_slice::<Payload>(data) {
        round_trip(&payload);
    }
}

fn accept(input: EventInput) {
    let valid_type = validate_event_type(&input.event_type).is_ok();
    let at: DateTime<Utc> = "2024-01-02T03:04:05.123456789Z"
        .parse()
        .expect("a fixed valid timestamp");
    let built = Payload::new(
        input.event_type.clone(),
        input.resource.clone(),
        input.data,
        at,
    );
    assert_eq!(built.is_ok(), valid_type, "{:?}", input.event_type);
    let Ok(payload) = built else {
        return;
    };
    let bytes = round_trip(&payload);
    let json: serde_json::Value = serde_json::from_slice(&bytes).expect("a payload is JSON");
    assert_eq!(json["event"].as_str(), Some(input.event_type.as_str()));
    assert_eq!(
        json["resource"]["id"].as_str(),
        Some(input.resource.id.as_str())
    );
    assert_eq!(
        json["resource"]["type"].as_str(),
        Some(input.resource.r#type.as_str())
    );
}

/// Serialises `payload`, parses it back and checks both agree; returns the bytes.
fn round_trip(payload: &Payload) -> Vec<u8> {
    let bytes = payload.to_bytes();
    let back: Payload = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        panic!(
            "a payload's own bytes do not parse: {e}: {}",
            String::from_utf8_lossy(&bytes)
        )
    });
    // A leap second is written as `:59.999999999` (Go cannot represent it): the only
    // documented change.
    if payload.timestamp().nanosecond() < 1_000_000_000 {
        assert_eq!(&back, payload, "{}", String::from_utf8_lossy(&bytes));
    }
    assert_eq!(back.to_bytes(), bytes);
    bytes
}
