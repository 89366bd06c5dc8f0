//! Idempotency keys over the wire: the same `id` again answers the first event and sends
//! nothing new, also in a batch and after a restart.

use hookline_e2e::daemon::{Daemon, DaemonConfig};
use hookline_test_support::receiver::Receiver;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_id_twice_is_one_event_and_one_delivery() {
    let receiver = Receiver::start().await;
    let mut daemon = Daemon::start(DaemonConfig::new()).await;
    daemon
        .create_webhook(
            json!({"id": "orders", "url": receiver.url("/orders"), "events": ["task.*"]}),
        )
        .await;
    let event = |resource: &str| {
        json!({
            "type": "task.completed",
            "id": "order-42",
            "resource": {"id": resource, "type": "task"},
            "data": {"session_id": "s1", "status": "completed"},
        })
    };

    let first = daemon.post_json("/v1/events", &event("first")).await;
    assert!(first.headers.get("idempotent-replayed").is_none());
    let first = first.expect(202, "first ingest");
    assert_eq!(first["deliveries"], 1);

    let again = daemon.post_json("/v1/events", &event("second")).await;
    assert_eq!(
        again
            .headers
            .get("idempotent-replayed")
            .and_then(|v| v.to_str().ok()),
        Some("true")
    );
    let again = again.expect(202, "repeated ingest");
    assert_eq!(again["event_id"], first["event_id"]);
    assert_eq!(again["deliveries"], 1);

    let batch = daemon
        .post_json(
            "/v1/events/batch",
            &json!({"events": [event("third"), {
                "type": "task.created",
                "id": "order-43",
                "resource": {"id": "other", "type": "task"},
            }]}),
        )
        .await
        .expect(202, "batch");
    assert_eq!(batch["results"][0]["event_id"], first["event_id"]);
    assert_eq!(batch["results"][0]["duplicate"], true);
    assert_ne!(batch["results"][1]["event_id"], first["event_id"]);
    assert!(
        batch["results"][1]["duplicate"].is_null() || batch["results"][1]["duplicate"] == false
    );

    // The key is durable: a restarted daemon still knows it. (Everything is delivered and
    // the stop is graceful first, so a restart cannot legitimately send anything twice.)
    daemon.wait_settled("orders", 2).await;
    assert!(daemon.terminate().await.success());
    daemon.restart().await;
    let after = daemon
        .post_json("/v1/events", &event("fourth"))
        .await
        .expect(202, "ingest after restart");
    assert_eq!(after["event_id"], first["event_id"]);

    let settled = daemon.wait_settled("orders", 2).await;
    assert!(
        settled.iter().all(|d| d["status"] == "delivered"),
        "{settled:#?}"
    );
    let event_id = first["event_id"].as_str().unwrap();
    assert_eq!(
        daemon
            .deliveries(&format!("event_id={event_id}"))
            .await
            .len(),
        1,
        "one delivery for the event"
    );
    let requests = receiver.requests_to("/orders");
    let resources: Vec<_> = requests.iter().filter_map(|r| r.resource_id()).collect();
    assert_eq!(
        resources.iter().filter(|r| *r == "first").count(),
        1,
        "{resources:?}"
    );
    assert!(
        !resources
            .iter()
            .any(|r| r == "second" || r == "third" || r == "fourth"),
        "a repeated key was delivered: {resources:?}"
    );
    assert_eq!(requests.len(), 2, "{resources:?}");
    let stats = daemon.get_json("/v1/stats").await.expect(200, "stats");
    assert_eq!(stats["store"]["events"], 2, "{stats:#}");
}
