//! How deliveries end for each kind of receiver answer: retried and delivered, exhausted,
//! failed, webhook disabled on 410, timeouts, redirects never followed.

use std::time::{Duration, Instant};

use hookline_e2e::daemon::{Daemon, DaemonConfig};
use hookline_test_support::receiver::{Receiver, Reply};
use hookline_test_support::wait::{DEFAULT_DEADLINE, eventually};
use serde_json::{Value, json};

/// A daemon, a receiver scripted at `/hook`, and webhook `hook` pointing there (with the
/// `extra` spec fields), subscribed to `task.*`. One event is emitted.
async fn one_delivery(script: Vec<Reply>, extra: Value) -> (Receiver, Daemon) {
    scripted_delivery(|_| script, extra).await
}

/// [`one_delivery`] with a script that needs the receiver's address.
async fn scripted_delivery(
    script: impl FnOnce(&Receiver) -> Vec<Reply>,
    extra: Value,
) -> (Receiver, Daemon) {
    let receiver = Receiver::start().await;
    receiver.script("/hook", script(&receiver));
    let daemon = Daemon::start(DaemonConfig::new()).await;
    let mut spec = json!({
        "id": "hook",
        "url": receiver.url("/hook"),
        "events": ["task.*"],
        "retry_schedule_seconds": [1, 1],
    });
    for (k, v) in extra.as_object().expect("an object") {
        spec[k] = v.clone();
    }
    daemon.create_webhook(spec).await;
    daemon
        .emit(json!({
            "type": "task.failed",
            "resource": {"id": "task-9", "type": "task"},
            "data": {"session_id": "s1", "status": "failed", "exit_code": 1},
        }))
        .await;
    (receiver, daemon)
}

/// The attempts of a delivery detail, with the checks every attempt passes.
fn attempts(detail: &Value) -> Vec<Value> {
    let attempts = detail["attempts_detail"]
        .as_array()
        .unwrap_or_else(|| panic!("no attempts_detail in {detail:#}"))
        .clone();
    assert_eq!(
        detail["attempts"].as_u64(),
        Some(attempts.len() as u64),
        "attempt count and attempts shown disagree: {detail:#}"
    );
    for (i, a) in attempts.iter().enumerate() {
        assert_eq!(a["attempt"], i as u64 + 1, "{detail:#}");
    }
    attempts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_500_then_200_is_retried_on_schedule_and_delivered() {
    let (receiver, daemon) =
        one_delivery(vec![Reply::Status(500), Reply::Status(200)], json!({})).await;
    let detail = daemon.wait_settled("hook", 1).await.remove(0);
    assert_eq!(detail["status"], "delivered", "{detail:#}");
    assert_eq!(detail["attempts"], 2);
    assert_eq!(detail["last_status_code"], 200);
    let attempts = attempts(&detail);
    assert_eq!(attempts[0]["status_code"], 500, "{detail:#}");
    assert_eq!(attempts[0]["error_kind"], "http_status", "{detail:#}");
    assert_eq!(attempts[1]["status_code"], 200, "{detail:#}");
    assert!(attempts[1]["error_kind"].is_null(), "{detail:#}");

    let requests = receiver.requests_to("/hook");
    assert_eq!(requests.len(), 2);
    // Same delivery id on both attempts (the receiver's idempotency key), new timestamp.
    let id = |i: usize| requests[i].expect_header("X-Webhook-ID").to_owned();
    assert_eq!(id(0), id(1));
    assert_eq!(id(0), detail["id"].as_str().unwrap());
    // The attempts shown by the API list the request headers, signatures redacted.
    let shown = attempts[0]["request_headers"].to_string();
    assert!(
        shown.to_ascii_lowercase().contains("x-webhook-id"),
        "request headers are shown: {detail:#}"
    );
    for r in &requests {
        let signature = r.expect_header("X-Webhook-Signature");
        assert!(
            !detail.to_string().contains(signature),
            "the API shows a signature sent: {detail:#}"
        );
    }
    let ts = |i: usize| -> i64 {
        requests[i]
            .expect_header("X-Webhook-Timestamp")
            .parse()
            .unwrap()
    };
    assert!(ts(1) > ts(0), "the timestamp is taken at each attempt");
    // The schedule says 1 s (no jitter in the test config).
    let gap = requests[1].at - requests[0].at;
    assert!(
        gap >= Duration::from_millis(950) && gap < Duration::from_secs(4),
        "retry came after {gap:?}, the schedule says 1 s"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn always_500_is_exhausted_after_max_attempts() {
    let (receiver, daemon) =
        one_delivery(vec![Reply::Status(500)], json!({"max_attempts": 3})).await;
    let detail = daemon.wait_settled("hook", 1).await.remove(0);
    assert_eq!(detail["status"], "exhausted", "{detail:#}");
    assert_eq!(detail["attempts"], 3);
    let attempts = attempts(&detail);
    assert!(
        attempts
            .iter()
            .all(|a| a["status_code"] == 500 && a["error_kind"] == "http_status"),
        "{detail:#}"
    );
    assert_eq!(receiver.requests_to("/hook").len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_400_fails_after_one_attempt() {
    let (receiver, daemon) = one_delivery(vec![Reply::Status(400)], json!({})).await;
    let detail = daemon.wait_settled("hook", 1).await.remove(0);
    assert_eq!(detail["status"], "failed", "{detail:#}");
    assert_eq!(detail["attempts"], 1);
    assert_eq!(detail["last_status_code"], 400);
    assert_eq!(detail["last_error_kind"], "http_status");
    assert_eq!(attempts(&detail)[0]["status_code"], 400);
    assert_eq!(receiver.requests_to("/hook").len(), 1);
    assert_eq!(daemon.webhook("hook").await["state"], "active");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_410_fails_the_delivery_and_disables_the_webhook() {
    let (receiver, daemon) = one_delivery(vec![Reply::Status(410)], json!({})).await;
    let detail = daemon.wait_settled("hook", 1).await.remove(0);
    assert_eq!(detail["status"], "failed", "{detail:#}");
    assert_eq!(detail["attempts"], 1);
    assert_eq!(detail["last_status_code"], 410);
    let webhook = eventually("webhook `hook` disabled", DEFAULT_DEADLINE, || async {
        let w = daemon.webhook("hook").await;
        match w["state"] == "disabled" {
            true => Ok(w),
            false => Err(format!("state {}", w["state"])),
        }
    })
    .await;
    let reason = webhook["disabled_reason"].as_str().unwrap_or("");
    assert!(reason.contains("410"), "reason names the 410: {webhook:#}");
    assert_eq!(receiver.requests_to("/hook").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_receiver_times_out_within_the_webhook_timeout() {
    let (receiver, daemon) = one_delivery(
        vec![Reply::Hang],
        json!({"timeout_seconds": 1, "max_attempts": 2}),
    )
    .await;
    let start = Instant::now();
    let detail = daemon.wait_settled("hook", 1).await.remove(0);
    let elapsed = start.elapsed();
    assert_eq!(
        detail["status"], "exhausted",
        "timeouts are retryable: {detail:#}"
    );
    for a in attempts(&detail) {
        assert_eq!(a["error_kind"], "timeout", "{detail:#}");
        assert!(a["status_code"].is_null(), "{detail:#}");
        let ms = a["duration_ms"].as_u64().unwrap_or(u64::MAX);
        assert!(
            (900..3000).contains(&ms),
            "an attempt with a 1 s timeout took {ms} ms: {detail:#}"
        );
    }
    // Two 1 s attempts and a 1 s retry delay; the 5 s default timeout was not used.
    assert!(elapsed < Duration::from_secs(8), "took {elapsed:?}");
    assert_eq!(receiver.requests_to("/hook").len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_fails_and_is_never_followed() {
    let (receiver, daemon) = scripted_delivery(
        |r| vec![Reply::Redirect(r.url("/redirect-target"))],
        json!({}),
    )
    .await;
    let detail = daemon.wait_settled("hook", 1).await.remove(0);
    assert_eq!(detail["status"], "failed", "{detail:#}");
    assert_eq!(detail["attempts"], 1);
    assert_eq!(detail["last_error_kind"], "redirect", "{detail:#}");
    assert_eq!(detail["last_status_code"], 302, "{detail:#}");
    assert_eq!(attempts(&detail)[0]["error_kind"], "redirect");
    let message = detail["last_error"].as_str().unwrap_or("");
    assert!(
        message.contains("/redirect-target"),
        "the error names the redirect target: {message}"
    );
    assert_eq!(receiver.requests_to("/hook").len(), 1);
    assert!(
        receiver.requests_to("/redirect-target").is_empty(),
        "the redirect was followed"
    );
}

/// `delivery.breaker_failure_threshold = 0` disables the circuit breaker (as
/// `config.default.toml` and `hookline.example.toml` document): one failed attempt is retried
/// on the webhook's schedule (1 s), not held back for the breaker's cool-down (60 s here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn breaker_threshold_zero_disables_the_breaker() {
    let receiver = Receiver::start().await;
    receiver.script("/hook", vec![Reply::Status(503), Reply::Status(200)]);
    let daemon = Daemon::start(
        DaemonConfig::new()
            .set("delivery", "breaker_failure_threshold", "0")
            .set("delivery", "breaker_cooldown_seconds", "60"),
    )
    .await;
    daemon
        .create_webhook(json!({"id": "hook", "url": receiver.url("/hook"), "events": ["*"]}))
        .await;
    daemon
        .emit(json!({"type": "task.created", "resource": {"id": "t", "type": "task"}}))
        .await;
    let delivered = eventually(
        "the retry, 1 s after the failed attempt",
        Duration::from_secs(10),
        || async {
            let items = daemon.deliveries("webhook=hook").await;
            match items.first() {
                Some(d) if d["status"] == "delivered" => Ok(d.clone()),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;
    assert_eq!(delivered["attempts"], 2, "{delivered:#}");
}
