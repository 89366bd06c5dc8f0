//! Target 3: the event and batch JSON the API ingests, and the payload built from them.

use chrono::{DateTime, Timelike, Utc};
use hookline_contract::api::{EventBatch, EventInput};
use hookline_core::event::{Payload, validate_event_type};

/// Input: JSON text, read as an [`EventBatch`], an [`EventInput`] and a [`Payload`].
///
/// Asserts: each event the engine would accept (it checks the same fields, see
/// `Inner::build_payload`) builds a payload; a payload's bytes parse back to an equal payload
/// with the same bytes, carrying the event type, resource and data given.
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
    let data = input.data.as_deref().map(|raw| raw.get().to_owned());
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
    let back = round_trip(&payload);
    // What receivers get carries the event as given, its data verbatim. (Not checked with
    // `serde_json::Value`: the data is valid JSON but may hold numbers beyond `f64`, such as
    // `3E333`, which `Value` refuses and the payload embeds unchanged.)
    assert_eq!(back.event(), input.event_type);
    assert_eq!(back.resource(), &input.resource);
    let data = data.filter(|raw| raw != "null");
    assert_eq!(back.data().map(|raw| raw.get().to_owned()), data);
}

/// Serialises `payload`, parses it back and checks both agree; returns what was parsed.
fn round_trip(payload: &Payload) -> Payload {
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
    back
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the fuzzer (then in this target's own check, which read the payload back
    /// with `serde_json::Value`): data holding a number beyond `f64` is valid JSON, ingested
    /// and embedded verbatim.
    #[test]
    fn data_with_a_number_beyond_f64_is_embedded_verbatim() {
        let body =
            br#"{"type":"k0","resource":{"id":"t1","type":"task"},"data":{"x":[3E333,2.5]}}"#;
        event(body);
        let input: EventInput = serde_json::from_slice(body).unwrap();
        let at = "2024-01-02T03:04:05Z".parse().unwrap();
        let payload = Payload::new(input.event_type, input.resource, input.data, at).unwrap();
        let bytes = String::from_utf8(payload.to_bytes()).unwrap();
        assert!(bytes.ends_with(r#""data":{"x":[3E333,2.5]}}"#), "{bytes}");
    }
}
