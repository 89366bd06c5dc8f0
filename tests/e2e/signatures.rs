//! Both signature schemes, checked on real deliveries: by HMAC code written here from the
//! documented wire format, and for `standard` by the official Standard Webhooks library.

use std::collections::BTreeMap;

use hookline_e2e::daemon::{Daemon, DaemonConfig, TOKEN};
use hookline_e2e::python::StandardWebhooksReceiver;
use hookline_e2e::signatures::{
    marionette_signature, standard_header_contains, standard_signature,
};
use hookline_test_support::receiver::{Receiver, Recorded};
use reqwest::Method;
use serde_json::{Value, json};

/// Ingests an event given as exact JSON text.
async fn emit_raw(daemon: &Daemon, body: &str) -> Value {
    daemon
        .request_raw(
            Method::POST,
            "/v1/events",
            Some(TOKEN),
            Some(body.as_bytes().to_vec()),
        )
        .await
        .expect(202, "ingest")
}

/// The body is the origin's JSON, byte for byte: `{"event","timestamp","resource":{"id",
/// "type"},"data"}` in that order, compact, `data` embedded as sent (`null` when absent), the
/// timestamp RFC 3339 in UTC. Returns the timestamp.
fn assert_origin_body(req: &Recorded, event: &str, resource_id: &str, data: &str) -> String {
    let json = req.json();
    let timestamp = json["timestamp"]
        .as_str()
        .unwrap_or_else(|| panic!("no timestamp in {json}"))
        .to_owned();
    let expected = format!(
        r#"{{"event":"{event}","timestamp":"{timestamp}","resource":{{"id":"{resource_id}","type":"task"}},"data":{data}}}"#
    );
    assert_eq!(
        String::from_utf8_lossy(&req.body),
        expected,
        "the body must be the origin's JSON, keys in order"
    );
    assert!(timestamp.ends_with('Z'), "UTC timestamp: {timestamp}");
    let at = chrono::DateTime::parse_from_rfc3339(&timestamp)
        .unwrap_or_else(|e| panic!("timestamp {timestamp} is not RFC 3339: {e}"));
    let age = chrono::Utc::now().signed_duration_since(at);
    assert!(
        age.num_seconds().abs() < 60,
        "timestamp {timestamp} is not now"
    );
    timestamp
}

/// `X-Webhook-Timestamp` / `webhook-timestamp`: Unix seconds, taken at send time.
fn assert_fresh_unix_seconds(value: &str) {
    let ts: i64 = value
        .parse()
        .unwrap_or_else(|e| panic!("timestamp header {value:?} is not Unix seconds: {e}"));
    let now = chrono::Utc::now().timestamp();
    assert!((now - ts).abs() <= 30, "timestamp {ts} is not now ({now})");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_schemes_sign_the_exact_body_as_documented() {
    let receiver = Receiver::start().await;
    let daemon = Daemon::start(DaemonConfig::new()).await;
    let marionette = daemon
        .create_webhook(json!({
            "id": "sig-marionette",
            "url": receiver.url("/marionette"),
            "events": ["task.*"],
        }))
        .await;
    let standard = daemon
        .create_webhook(json!({
            "id": "sig-standard",
            "url": receiver.url("/standard"),
            "events": ["task.*"],
            "scheme": "standard",
        }))
        .await;
    let m_secret = marionette["secret"].as_str().expect("secret shown once");
    let s_secret = standard["secret"].as_str().expect("secret shown once");
    assert_eq!(marionette["webhook"]["scheme"], "marionette");
    assert_eq!(standard["webhook"]["scheme"], "standard");
    assert_eq!(m_secret.len(), 64, "origin secrets are 64 hex characters");
    assert!(s_secret.starts_with("whsec_"), "{s_secret}");
    for id in ["sig-marionette", "sig-standard"] {
        let shown = daemon.webhook(id).await.to_string();
        assert!(
            !shown.contains(m_secret) && !shown.contains(s_secret),
            "a secret is shown again: {shown}"
        );
    }

    let data = r#"{"session_id":"sess-1","status":"running","note":"café ✓"}"#;
    emit_raw(
        &daemon,
        &format!(
            r#"{{"type":"task.created","resource":{{"id":"task-1","type":"task"}},"data":{data}}}"#
        ),
    )
    .await;
    emit_raw(
        &daemon,
        r#"{"type":"task.completed","resource":{"id":"task-2","type":"task"}}"#,
    )
    .await;

    let expected_data = |req: &Recorded| match req.resource_id().as_deref() {
        Some("task-1") => ("task.created", "task-1", data),
        Some("task-2") => ("task.completed", "task-2", "null"),
        other => panic!("unexpected resource {other:?}"),
    };
    let m_ids: Vec<String> = daemon
        .deliveries("webhook=sig-marionette")
        .await
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_owned())
        .collect();
    let s_ids: Vec<String> = daemon
        .deliveries("webhook=sig-standard")
        .await
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_owned())
        .collect();

    for req in receiver.wait_for_requests("/marionette", 2).await {
        let (event, rid, data) = expected_data(&req);
        assert_origin_body(&req, event, rid, data);
        assert_eq!(req.method, "POST");
        assert_eq!(req.header("content-type"), Some("application/json"));
        assert!(
            req.expect_header("user-agent").starts_with("Hookline/"),
            "{:?}",
            req.header("user-agent")
        );
        let id = req.expect_header("X-Webhook-ID");
        assert!(
            m_ids.iter().any(|d| d == id),
            "X-Webhook-ID {id} is not a delivery id {m_ids:?}"
        );
        let ts = req.expect_header("X-Webhook-Timestamp");
        assert_fresh_unix_seconds(ts);
        let signature = req.expect_header("X-Webhook-Signature");
        assert_eq!(signature.len(), 71, "{signature}");
        assert_eq!(signature, marionette_signature(m_secret, ts, &req.body));
        // The check above is a real check: one changed byte fails it.
        let mut tampered = req.body.to_vec();
        tampered[2] ^= 1;
        assert_ne!(signature, marionette_signature(m_secret, ts, &tampered));
        assert!(
            req.header("webhook-signature").is_none(),
            "no standard headers on marionette"
        );
    }

    for req in receiver.wait_for_requests("/standard", 2).await {
        let (event, rid, data) = expected_data(&req);
        assert_origin_body(&req, event, rid, data);
        assert_eq!(req.header("content-type"), Some("application/json"));
        let id = req.expect_header("webhook-id");
        assert!(
            s_ids.iter().any(|d| d == id),
            "webhook-id {id} is not a delivery id {s_ids:?}"
        );
        let ts = req.expect_header("webhook-timestamp");
        assert_fresh_unix_seconds(ts);
        let header = req.expect_header("webhook-signature");
        let expected = standard_signature(s_secret, id, ts, &req.body);
        assert!(
            standard_header_contains(header, &expected),
            "webhook-signature {header:?} lacks {expected}"
        );
        let mut tampered = req.body.to_vec();
        tampered[2] ^= 1;
        assert!(!standard_header_contains(
            header,
            &standard_signature(s_secret, id, ts, &tampered)
        ));
        assert!(
            req.header("X-Webhook-Signature").is_none(),
            "no marionette headers on standard"
        );
    }
    daemon.wait_settled("sig-marionette", 2).await;
    daemon.wait_settled("sig-standard", 2).await;
}

/// The official Standard Webhooks Python library verifies our deliveries unchanged: with a
/// secret Hookline generated, with one the operator gave, and across a secret rotation (old
/// and new signatures both sent during the grace window).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_standard_webhooks_library_verifies_deliveries() {
    let python = StandardWebhooksReceiver::start();
    let daemon = Daemon::start(DaemonConfig::new()).await;
    let generated = daemon
        .create_webhook(json!({
            "id": "py-generated",
            "url": python.url("/generated"),
            "events": ["task.created"],
            "scheme": "standard",
            "max_attempts": 1,
        }))
        .await;
    // 32 bytes 0x00..0x1f, base64: a secret chosen by the operator.
    let given_secret = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    daemon
        .create_webhook(json!({
            "id": "py-given",
            "url": python.url("/given"),
            "events": ["task.created"],
            "scheme": "standard",
            "secret": given_secret,
            "max_attempts": 1,
        }))
        .await;
    let mut secrets = BTreeMap::from([
        (
            "/generated".to_owned(),
            generated["secret"].as_str().unwrap().to_owned(),
        ),
        ("/given".to_owned(), given_secret.to_owned()),
    ]);
    python.set_secrets(&secrets);

    let event = |n: u32| {
        json!({
            "type": "task.created",
            "resource": {"id": format!("task-{n}"), "type": "task"},
            "data": {"session_id": "s1", "status": "pending", "prompt": "naïve"},
        })
    };
    daemon.emit(event(1)).await;
    for webhook in ["py-generated", "py-given"] {
        let settled = daemon.wait_settled(webhook, 1).await;
        assert_eq!(
            settled[0]["status"],
            "delivered",
            "the official library refused the delivery: {:#} (receiver said {:?})",
            settled[0],
            python.verdicts()
        );
        assert_eq!(settled[0]["last_status_code"], 204);
    }

    // Rotation: while the old secret is still in its grace window both signatures are sent,
    // so a receiver still holding the old secret verifies, and so does one with the new.
    let old = secrets["/generated"].clone();
    let rotated = daemon
        .post_json("/v1/webhooks/py-generated/rotate-secret", &json!({}))
        .await
        .expect(200, "rotate the secret");
    let new = rotated["secret"].as_str().expect("new secret").to_owned();
    assert_ne!(new, old);
    daemon.emit(event(2)).await;
    let settled = daemon.wait_settled("py-generated", 2).await;
    assert!(
        settled.iter().all(|d| d["status"] == "delivered"),
        "old secret during the grace window: {settled:#?} {:?}",
        python.verdicts()
    );
    secrets.insert("/generated".to_owned(), new);
    python.set_secrets(&secrets);
    daemon.emit(event(3)).await;
    let settled = daemon.wait_settled("py-generated", 3).await;
    assert!(
        settled.iter().all(|d| d["status"] == "delivered"),
        "new secret after rotation: {settled:#?} {:?}",
        python.verdicts()
    );
    let given = daemon.wait_settled("py-given", 3).await;
    assert!(
        given.iter().all(|d| d["status"] == "delivered"),
        "{given:#?}"
    );
    let verdicts = python.verdicts();
    assert_eq!(
        verdicts.iter().filter(|v| v.starts_with("VALID ")).count(),
        6,
        "{verdicts:?}"
    );
}
