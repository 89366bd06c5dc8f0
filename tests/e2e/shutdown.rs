//! SIGTERM with deliveries in flight: the daemon finishes what it is sending, exits 0, and
//! after a restart every accepted event ends delivered, none lost, none sent twice.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use hookline_e2e::daemon::{Daemon, DaemonConfig};
use hookline_test_support::receiver::{Receiver, Reply};
use serde_json::json;

const EVENTS: usize = 10;
const SLOW: Duration = Duration::from_millis(1500);

fn event(key: &str) -> serde_json::Value {
    json!({
        "type": "runner.assigned",
        "resource": {"id": key, "type": "runner"},
        "data": {"name": "r1", "status": "busy"},
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_in_flight_deliveries_and_loses_nothing() {
    let receiver = Receiver::start().await;
    receiver.script("/slow", vec![Reply::Delayed(SLOW, 200)]);
    let mut daemon = Daemon::start(DaemonConfig::new()).await;
    daemon
        .create_webhook(json!({
            "id": "slow",
            "url": receiver.url("/slow"),
            "events": ["runner.*"],
            "max_concurrency": 3,
        }))
        .await;
    let mut keys: Vec<String> = Vec::new();
    for i in 0..EVENTS {
        let key = format!("run-{i:02}");
        daemon.emit(event(&key)).await;
        keys.push(key);
    }
    // Three requests are in flight at the receiver, the rest wait their turn.
    receiver.wait_for_requests("/slow", 3).await;

    let term_at = Instant::now();
    daemon.send_sigterm();
    // Events sent while it drains are refused or, if accepted, must be delivered too.
    let late = daemon.post_json("/v1/events", &event("run-late")).await;
    match late.status {
        202 => keys.push("run-late".to_owned()),
        503 => assert_eq!(late.error_code(), "shutting_down", "{}", late.text),
        other => panic!("ingest while stopping answered {other}: {}", late.text),
    }
    let status = daemon.wait_exit(Duration::from_secs(20)).await;
    let took = term_at.elapsed();
    assert!(
        status.success(),
        "hookline serve exited with {status} after SIGTERM"
    );
    assert!(
        took < Duration::from_secs(8),
        "stopping took {took:?}, in-flight requests take {SLOW:?}"
    );
    let sent_before_stop = receiver.requests_to("/slow").len();
    assert!(sent_before_stop >= 3, "{sent_before_stop}");
    assert!(
        sent_before_stop < keys.len(),
        "everything was sent before the stop; the test needs deliveries left over"
    );

    daemon.restart().await;
    let settled = daemon.wait_settled("slow", keys.len()).await;
    for d in &settled {
        assert_eq!(d["status"], "delivered", "{d:#}");
        assert_eq!(
            d["attempts"], 1,
            "a request in flight at SIGTERM was cut off and sent again: {d:#}"
        );
    }
    let mut per_key: BTreeMap<String, usize> = BTreeMap::new();
    for r in receiver.requests_to("/slow") {
        *per_key
            .entry(r.resource_id().expect("resource id"))
            .or_default() += 1;
    }
    let expected: BTreeMap<String, usize> = keys.iter().map(|k| (k.clone(), 1)).collect();
    assert_eq!(per_key, expected, "each event delivered exactly once");
}
