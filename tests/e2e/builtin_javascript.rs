//! The built-in plugin `builtin:javascript` on webhooks of a real `hookline serve`: an
//! inline script and a script file reshape the body, which is signed over the bytes the
//! receiver gets; a script with a syntax error is refused at start, naming the key and the
//! script's line; an endless loop fails only its own delivery.

use std::time::Duration;

use hookline_e2e::daemon::{Daemon, DaemonConfig, serve_expecting_failure};
use hookline_e2e::signatures::marionette_signature;
use hookline_test_support::TempDir;
use hookline_test_support::receiver::Receiver;
use hookline_test_support::wait::eventually;
use serde_json::{Value, json};

const SECRET: &str = "e2e-javascript-secret-0123456789";

fn toml_string(s: &str) -> String {
    Value::String(s.to_owned()).to_string()
}

fn js_webhook(id: &str, url: &str, plugin_config: &str) -> String {
    format!(
        "id = \"{id}\"\nurl = {url}\nevents = [\"task.*\"]\nsecret = \"{SECRET}\"\n\
         plugin = \"builtin:javascript\"\nplugin_config = {plugin_config}",
        url = toml_string(url),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inline_scripts_deliver_their_reshaped_signed_body() {
    let receiver = Receiver::start().await;
    let scripts = TempDir::new("e2e-js-scripts");
    let slim = scripts.path().join("slim.js");
    std::fs::write(
        &slim,
        "// From a file.\nexport default (event, webhook) => ({\n  kind: event.event,\n  to: webhook.id,\n});\n",
    )
    .expect("write the script");
    let inline = "export default (event, webhook) => ({ ...event, data: { id: event.data.id } })";
    let config = DaemonConfig::new()
        // A debug build's first compile of the component is slow; the calls themselves are not.
        .set("plugins", "timeout_ms", "2000")
        // Fuel to spare, so the endless loop below is stopped by the deadline.
        .set("plugins", "fuel", "1000000000000")
        .webhook(&js_webhook(
            "slim",
            &receiver.url("/slim"),
            &format!("{{ script = {} }}", toml_string(inline)),
        ))
        .webhook(&js_webhook(
            "from-file",
            &receiver.url("/file"),
            &format!(
                "{{ script_file = {} }}",
                toml_string(&slim.display().to_string())
            ),
        ))
        .webhook(&format!(
            "{}\nmax_attempts = 1",
            js_webhook(
                "loop",
                &receiver.url("/loop"),
                r#"{ script = "export default (event) => { for (;;) {} }" }"#,
            )
        ));
    let daemon = Daemon::start(config).await;

    daemon
        .emit(json!({
            "type": "task.completed",
            "resource": {"id": "t1", "type": "task"},
            "data": {"id": "d-42", "session_id": "s1", "status": "completed", "prompt": "private"}
        }))
        .await;

    let wait = |path: &'static str| {
        let receiver = &receiver;
        async move {
            eventually(
                &format!("a request to {path}"),
                Duration::from_secs(90),
                || async {
                    let got = receiver.requests_to(path);
                    got.into_iter().next().ok_or_else(|| "none yet".to_owned())
                },
            )
            .await
        }
    };
    let slim_req = wait("/slim").await;
    let file_req = wait("/file").await;
    for req in [&slim_req, &file_req] {
        let ts = req.expect_header("x-webhook-timestamp");
        assert_eq!(
            req.expect_header("x-webhook-signature"),
            marionette_signature(SECRET, ts, &req.body),
            "signed over the bytes received at {}",
            req.path
        );
    }
    let body = slim_req.json();
    assert_eq!(body["event"], "task.completed");
    assert_eq!(body["resource"]["id"], "t1");
    assert_eq!(body["data"], json!({"id": "d-42"}), "{body}");
    assert_eq!(
        file_req.json(),
        json!({"kind": "task.completed", "to": "from-file"})
    );

    // The endless loop is stopped by the deadline and fails its own delivery (a missed
    // deadline is retried on the schedule; this webhook has one attempt); the others went out.
    let settled = daemon.wait_settled("loop", 1).await;
    assert!(
        matches!(settled[0]["status"].as_str(), Some("failed" | "exhausted")),
        "{settled:?}"
    );
    assert_eq!(
        settled[0]["last_error_kind"], "plugin_deadline",
        "{settled:?}"
    );
    assert!(receiver.requests_to("/loop").is_empty());

    // Through the API: a bad script is refused before any delivery, naming `plugin_config`
    // and the script's line; an unknown built-in name is refused too.
    let refused = daemon
        .post_json(
            "/v1/webhooks",
            &json!({
                "id": "api-broken",
                "url": receiver.url("/api"),
                "events": ["*"],
                "plugin": "builtin:javascript",
                "plugin_config": {"script": "export default (e) =>\n  e.data.;"},
            }),
        )
        .await;
    assert_eq!(refused.status, 400, "{refused:?}");
    assert_eq!(refused.error_field(), "plugin_config");
    assert!(
        refused.error_message().contains("script line 2, column"),
        "{refused:?}"
    );
    let unknown = daemon
        .post_json(
            "/v1/webhooks",
            &json!({
                "id": "api-unknown",
                "url": receiver.url("/api"),
                "events": ["*"],
                "plugin": "builtin:python",
            }),
        )
        .await;
    assert_eq!(unknown.status, 400, "{unknown:?}");
    assert_eq!(unknown.error_field(), "plugin");

    let stats = daemon.get_json("/v1/stats").await.expect(200, "stats");
    let figures = stats["plugins"].as_array().expect("stats.plugins");
    let js = figures
        .iter()
        .find(|f| f["plugin"] == "builtin:javascript")
        .unwrap_or_else(|| panic!("no figures for builtin:javascript: {figures:?}"));
    assert_eq!(js["calls"], 3, "{js}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_script_with_a_syntax_error_is_refused_at_start_naming_the_line() {
    let dir = TempDir::new("e2e-js-bad");
    let text = DaemonConfig::new()
        .set("plugins", "timeout_ms", "2000")
        .webhook(&js_webhook(
            "broken",
            "http://127.0.0.1:9/hook",
            r#"{ script = "export default (event) => {\n  return { a: 1 ;\n}" }"#,
        ))
        .render(dir.path(), "127.0.0.1:0");
    let line = text
        .lines()
        .position(|l| l.starts_with("plugin_config = "))
        .expect("the plugin_config line")
        + 1;
    let out = serve_expecting_failure(&text, &[]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("bad.toml:{line}:")), "{stderr}");
    assert!(stderr.contains("`webhooks[0].plugin_config`"), "{stderr}");
    assert!(stderr.contains("script line 2, column"), "{stderr}");
    assert!(stderr.contains("SyntaxError"), "{stderr}");
}
