//! The contract's compatibility promises: unknown names read as `Unknown`, unknown fields are
//! ignored, and what the daemon writes reads back the same.

use serde_json::json;

use super::*;

#[test]
fn an_unknown_delivery_status_reads_as_unknown() {
    let s: DeliveryStatus = serde_json::from_str(r#""teleported""#).unwrap();
    assert_eq!(s, DeliveryStatus::Unknown);
    assert_eq!(
        DeliveryStatus::from_name("teleported"),
        DeliveryStatus::Unknown
    );
    // Strict parsing (the API's `status` filter, the store) still refuses it, `unknown` too.
    assert!("teleported".parse::<DeliveryStatus>().is_err());
    assert!("unknown".parse::<DeliveryStatus>().is_err());
    for known in DeliveryStatus::ALL {
        let json = serde_json::to_string(&known).unwrap();
        assert_eq!(json, format!("\"{}\"", known.as_str()));
        assert_eq!(
            serde_json::from_str::<DeliveryStatus>(&json).unwrap(),
            known
        );
    }
}

#[test]
fn an_unknown_error_kind_reads_as_unknown() {
    let k: ErrorKind = serde_json::from_str(r#""quantum_noise""#).unwrap();
    assert_eq!(k, ErrorKind::Unknown);
    assert_eq!(ErrorKind::parse("quantum_noise"), None);
    for known in ErrorKind::ALL {
        let json = serde_json::to_string(&known).unwrap();
        assert_eq!(json, format!("\"{}\"", known.as_str()));
        assert_eq!(ErrorKind::parse(known.as_str()), Some(known));
    }
}

#[test]
fn unknown_webhook_breaker_and_scheme_names_read_as_unknown() {
    let view: WebhookView = serde_json::from_value(json!({
        "id": "billing",
        "scheme": "quantum-hmac",
        "state": "hibernating",
        "health": {"breaker": "ajar"},
    }))
    .unwrap();
    assert_eq!(view.state, WebhookStateName::Unknown);
    assert_eq!(view.scheme, SchemeName::Unknown);
    assert_eq!(view.health.breaker, BreakerState::Unknown);
    assert_eq!(
        serde_json::from_str::<WebhookStateName>(r#""paused""#).unwrap(),
        WebhookStateName::Paused
    );
    // A request stays strict: an unknown scheme is refused.
    assert!(serde_json::from_str::<Scheme>(r#""quantum-hmac""#).is_err());
}

#[test]
fn unknown_fields_are_ignored_and_missing_ones_default() {
    let summary: DeliverySummary = serde_json::from_value(json!({
        "id": "dlv_1",
        "status": "failed",
        "last_error_kind": "http_status",
        "brand_new_field": [1, 2, 3],
    }))
    .unwrap();
    assert_eq!(summary.id, "dlv_1");
    assert_eq!(summary.status, DeliveryStatus::Failed);
    assert_eq!(summary.last_error_kind, Some(ErrorKind::HttpStatus));
    assert_eq!(summary.attempts, 0);

    let Some(StreamEvent::Stats(stats)) = StreamEvent::decode("stats", "{}").unwrap() else {
        panic!("not stats");
    };
    assert_eq!(*stats, Stats::default());
    assert_eq!(StreamEvent::decode("future_event", "{}").unwrap(), None);
    assert!(StreamEvent::decode("delivery", "not json").is_err());

    let body: ErrorBody =
        serde_json::from_str(r#"{"error":{"code":"x","message":"y","hint":"z"},"trace":1}"#)
            .unwrap();
    assert_eq!(body.error.code, "x");
}

#[test]
fn a_detail_flattens_its_summary() {
    let detail: DeliveryDetail = serde_json::from_str(
        r#"{"id":"dlv_1","status":"failed","attempts":1,"payload":{"a":1},
            "attempts_detail":[{"attempt":1,"status_code":400,
            "request_headers":[["X-Webhook-ID","dlv_1"]],"request_body":null}]}"#,
    )
    .unwrap();
    assert_eq!(detail.summary.id, "dlv_1");
    assert_eq!(detail.summary.status, DeliveryStatus::Failed);
    assert_eq!(detail.attempts_detail[0].request_headers.len(), 1);
    assert_eq!(detail.payload["a"], 1);
}

#[test]
fn a_webhook_engine_event_reads_as_a_webhook_change() {
    let event = EngineEvent::Webhook {
        id: "billing".into(),
        state: "disabled".into(),
        reason: Some("410 Gone".into()),
    };
    let data = serde_json::to_string(&event).unwrap();
    assert_eq!(
        data,
        r#"{"kind":"webhook","id":"billing","state":"disabled","reason":"410 Gone"}"#
    );
    assert_eq!(
        StreamEvent::decode(event.stream_name(), &data).unwrap(),
        Some(StreamEvent::Webhook(WebhookChange {
            id: "billing".into(),
            state: "disabled".into(),
            reason: Some("410 Gone".into()),
        }))
    );
}

#[test]
fn a_delivery_engine_event_round_trips() {
    let change = DeliveryChange {
        id: "dlv_1".into(),
        event_id: "evt_1".into(),
        event_type: "task.created".into(),
        webhook_id: "billing".into(),
        status: DeliveryStatus::Pending,
        attempts: 1,
        max_attempts: 3,
        status_code: Some(503),
        error_kind: Some(ErrorKind::HttpStatus),
        error: Some("boom".into()),
        latency_ms: Some(12),
        next_attempt_at: Some(2000),
        at: 1000,
    };
    let data = serde_json::to_string(&EngineEvent::Delivery(change.clone())).unwrap();
    assert_eq!(
        data,
        r#"{"kind":"delivery","id":"dlv_1","event_id":"evt_1","event_type":"task.created","webhook_id":"billing","status":"pending","attempts":1,"max_attempts":3,"status_code":503,"error_kind":"http_status","error":"boom","latency_ms":12,"next_attempt_at":2000,"at":1000}"#
    );
    assert_eq!(
        StreamEvent::decode("delivery", &data).unwrap(),
        Some(StreamEvent::Delivery(change))
    );
}
