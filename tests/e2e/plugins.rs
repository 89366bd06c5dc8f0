//! Each example plugin on a webhook of a real `hookline serve`: the receiver gets the
//! transformed request, signed over the exact bytes it received.

use std::time::Duration;

use hookline_e2e::daemon::{Daemon, DaemonConfig};
use hookline_e2e::signatures::marionette_signature;
use hookline_test_support::plugins::{plugin, shared_cache_dir};
use hookline_test_support::receiver::Receiver;
use hookline_test_support::wait::eventually;
use serde_json::{Value, json};

const SECRET: &str = "e2e-plugin-secret-0123456789";

fn toml_string(s: &str) -> String {
    Value::String(s.to_owned()).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_example_plugin_delivers_its_transformed_signed_request() {
    let receiver = Receiver::start().await;
    let mut config = DaemonConfig::new().set(
        "plugins",
        "cache_dir",
        &toml_string(&shared_cache_dir().display().to_string()),
    );
    // A debug build compiles a plugin slowly the first time; give the calls room.
    config = config.set("plugins", "timeout_ms", "2000");
    for (name, plugin_config) in [
        (
            "cloudevents",
            r#"{ source = "https://platform.example/e2e" }"#,
        ),
        ("slack", "{}"),
        (
            "redact",
            r#"{ remove = ["data.prompt"], mask = ["resource.labels.email"] }"#,
        ),
        (
            "filter",
            r#"{ rules = [{ name = "risky", field = "data.risk_level", in = ["high"] }] }"#,
        ),
    ] {
        config = config.webhook(&format!(
            "id = \"{name}\"\nurl = {url}\nevents = [\"*\"]\nsecret = \"{SECRET}\"\nplugin = {path}\nplugin_config = {plugin_config}",
            url = toml_string(&receiver.url(&format!("/{name}"))),
            path = toml_string(&plugin(name).display().to_string()),
        ));
    }
    let daemon = Daemon::start(config).await;

    // One event each plugin acts on; the filter only lets the high-risk one through.
    daemon
        .emit(json!({
            "type": "permission.requested",
            "resource": {"id": "p1", "type": "permission_request", "labels": {"email": "ada@example.com"}},
            "data": {"session_id": "s1", "task_id": "t1", "tool": "bash", "action": "rm -rf /tmp/x",
                     "risk_level": "high", "status": "pending", "prompt": "private"}
        }))
        .await;
    daemon
        .emit(json!({
            "type": "permission.requested",
            "resource": {"id": "p2", "type": "permission_request"},
            "data": {"session_id": "s1", "task_id": "t2", "tool": "read", "action": "cat",
                     "risk_level": "low", "status": "pending"}
        }))
        .await;

    let wait = |path: &'static str, n: usize| {
        let receiver = &receiver;
        async move {
            eventually(
                &format!("{n} request(s) to {path}"),
                Duration::from_secs(90),
                || async {
                    let got = receiver.requests_to(path);
                    if got.len() >= n {
                        Ok(got)
                    } else {
                        Err(format!("{}", got.len()))
                    }
                },
            )
            .await
        }
    };
    let cloudevents = wait("/cloudevents", 2).await;
    let slack = wait("/slack", 2).await;
    let redact = wait("/redact", 2).await;
    let filter = wait("/filter", 1).await;

    for req in cloudevents
        .iter()
        .chain(&slack)
        .chain(&redact)
        .chain(&filter)
    {
        let ts = req.expect_header("x-webhook-timestamp");
        assert_eq!(
            req.expect_header("x-webhook-signature"),
            marionette_signature(SECRET, ts, &req.body),
            "signed over the bytes received at {}",
            req.path
        );
    }
    for req in &cloudevents {
        let body = req.json();
        assert!(
            req.expect_header("content-type")
                .starts_with("application/cloudevents+json"),
        );
        assert_eq!(body["specversion"], "1.0");
        assert_eq!(body["type"], "permission.requested");
        assert_eq!(body["source"], "https://platform.example/e2e");
    }
    for req in &slack {
        let body = req.json();
        assert!(body["blocks"].is_array(), "{body}");
    }
    let high = redact
        .iter()
        .map(|r| r.json())
        .find(|b| b["resource"]["id"] == "p1")
        .expect("the high-risk event through redact");
    assert!(high["data"].get("prompt").is_none(), "{high}");
    assert_ne!(high["resource"]["labels"]["email"], "ada@example.com");
    assert_eq!(high["data"]["risk_level"], "high");

    // The filter delivered the high-risk event and skipped the low-risk one.
    assert_eq!(filter.len(), 1);
    assert_eq!(filter[0].json()["resource"]["id"], "p1");
    let settled = daemon.wait_settled("filter", 2).await;
    let statuses: Vec<&str> = settled
        .iter()
        .map(|d| d["status"].as_str().unwrap_or(""))
        .collect();
    assert!(
        statuses.contains(&"delivered") && statuses.contains(&"skipped"),
        "{statuses:?}"
    );
}
