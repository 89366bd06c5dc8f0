//! The SSRF guard on a real daemon: literal private addresses refused when a webhook is
//! created, names resolving to loopback refused when delivering, loopback reachable only
//! when the allow-list says so.

use hookline_e2e::daemon::{Daemon, DaemonConfig};
use hookline_test_support::receiver::Receiver;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_addresses_are_refused_without_an_allow_list() {
    let receiver = Receiver::start().await;
    let port = receiver.port();
    let daemon = Daemon::start(DaemonConfig::new().without_allowed_networks()).await;

    for url in [
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "http://10.0.0.1/".to_owned(),
        format!("http://[::ffff:127.0.0.1]:{port}/hook"),
        format!("http://127.0.0.1:{port}/hook"),
        format!("http://[::1]:{port}/hook"),
        // Other spellings of this host and of private networks.
        format!("http://0.0.0.0:{port}/hook"),
        format!("http://[::]:{port}/hook"),
        format!("http://2130706433:{port}/hook"),
        format!("http://0x7f.1:{port}/hook"),
        format!("http://[::ffff:7f00:1]:{port}/hook"),
        "http://[::ffff:169.254.169.254]/".to_owned(),
        "http://192.168.1.1/".to_owned(),
        "http://172.16.0.1/".to_owned(),
        "http://[fd00::1]/".to_owned(),
        "http://[fe80::1]/".to_owned(),
    ] {
        let answer = daemon
            .post_json("/v1/webhooks", &json!({"url": url, "events": ["task.*"]}))
            .await;
        assert_eq!(answer.status, 400, "{url}: {}", answer.text);
        assert_eq!(
            answer.error_code(),
            "ssrf_blocked",
            "{url}: {}",
            answer.text
        );
        assert_eq!(answer.error_field(), "url", "{url}: {}", answer.text);
    }
    let listed = daemon.get_json("/v1/webhooks").await.expect(200, "list");
    assert_eq!(
        listed["items"].as_array().map(Vec::len),
        Some(0),
        "{listed:#}"
    );

    // A name is only resolved when delivering: accepted now, refused at the attempt.
    daemon
        .create_webhook(json!({
            "id": "by-name",
            "url": format!("http://localhost:{port}/hook"),
            "events": ["task.*"],
        }))
        .await;
    daemon
        .emit(json!({"type": "task.created", "resource": {"id": "t1", "type": "task"}}))
        .await;
    let detail = daemon.wait_settled("by-name", 1).await.remove(0);
    assert_eq!(detail["status"], "failed", "{detail:#}");
    assert_eq!(detail["last_error_kind"], "ssrf_blocked", "{detail:#}");
    assert_eq!(
        detail["attempts_detail"][0]["error_kind"], "ssrf_blocked",
        "{detail:#}"
    );
    assert!(
        receiver.requests().is_empty(),
        "the receiver was reached: {:?}",
        receiver.requests()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loopback_names_work_when_allowed() {
    let receiver = Receiver::start().await;
    let daemon = Daemon::start(DaemonConfig::new()).await;
    daemon
        .create_webhook(json!({
            "id": "by-name",
            "url": format!("http://localhost:{}/hook", receiver.port()),
            "events": ["task.*"],
        }))
        .await;
    daemon
        .emit(json!({"type": "task.created", "resource": {"id": "t1", "type": "task"}}))
        .await;
    let detail = daemon.wait_settled("by-name", 1).await.remove(0);
    assert_eq!(detail["status"], "delivered", "{detail:#}");
    assert_eq!(receiver.requests_to("/hook").len(), 1);
}
