//! Each example plugin on a webhook of a real `hookline serve`: the receiver gets the
//! transformed request, signed over the exact bytes it received.

use std::time::Duration;

use hookline_e2e::daemon::{Daemon, DaemonConfig, serve_expecting_failure};
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

    // Every plugin's figures where operators look: `/v1/stats` (and so the stream and the
    // console) and `/metrics`.
    let stats = daemon.get_json("/v1/stats").await.expect(200, "stats");
    let figures = stats["plugins"].as_array().expect("stats.plugins");
    assert_eq!(figures.len(), 4, "{figures:?}");
    for name in ["cloudevents", "slack", "redact", "filter"] {
        let path = plugin(name).display().to_string();
        let f = figures
            .iter()
            .find(|f| f["plugin"] == path.as_str())
            .unwrap_or_else(|| panic!("no figures for {path}: {figures:?}"));
        assert_eq!(f["calls"], 2, "{f}");
        assert_eq!(f["errors"]["trap"], 0, "{f}");
        let (mean, p99) = (f["call_mean_us"].as_u64(), f["call_p99_us"].as_u64());
        assert!(mean.is_some_and(|m| m > 0) && p99 >= mean, "{f}");
        assert!(
            f["instantiate_p99_us"].as_u64().is_some_and(|i| i > 0),
            "{f}"
        );
        assert!(f["fuel_used"].as_u64().is_some_and(|u| u > 0), "{f}");
        // At least one 64 KiB page of linear memory.
        assert!(
            f["memory_max_bytes"].as_u64().is_some_and(|b| b >= 65_536),
            "{f}"
        );
        assert_eq!(f["sha256"].as_str().map(str::len), Some(64), "{f}");
    }
    let filter_figures = figures
        .iter()
        .find(|f| f["plugin"] == plugin("filter").display().to_string().as_str())
        .unwrap();
    assert_eq!(
        (&filter_figures["sent"], &filter_figures["skipped"]),
        (&json!(1), &json!(1))
    );
    let metrics = daemon.get_json("/metrics").await;
    assert_eq!(metrics.status, 200);
    let redact_path = plugin("redact").display().to_string();
    assert!(
        metrics.text.lines().any(|l| l
            == format!(
                "hookline_plugin_calls_total{{plugin=\"{redact_path}\",outcome=\"sent\"}} 2"
            )),
        "{}",
        metrics.text
    );
    assert!(
        metrics
            .text
            .contains("# TYPE hookline_plugin_call_seconds summary")
    );
}

/// The mistake of issue 15: `redact`'s key is `remove`, not `paths`.
const BAD_REDACT_CONFIG: &str = r#"{ paths = ["data.prompt"] }"#;

fn redact_webhook(id: &str, url: &str, plugin_path: &str, plugin_config: &str) -> String {
    format!(
        "id = \"{id}\"\nurl = {url}\nevents = [\"*\"]\nsecret = \"{SECRET}\"\nplugin = {path}\nplugin_config = {plugin_config}",
        url = toml_string(url),
        path = toml_string(plugin_path),
    )
}

fn plugin_config(cache: bool) -> DaemonConfig {
    let config = DaemonConfig::new().set("plugins", "timeout_ms", "2000");
    if cache {
        config.set(
            "plugins",
            "cache_dir",
            &toml_string(&shared_cache_dir().display().to_string()),
        )
    } else {
        config
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_plugin_config_is_refused_at_start_naming_the_key_and_line() {
    let redact = plugin("redact").display().to_string();
    let dir = hookline_test_support::TempDir::new("e2e-plugin-config-start");
    let text = plugin_config(true)
        .webhook(&redact_webhook(
            "analytics",
            "http://127.0.0.1:9/hook",
            &redact,
            BAD_REDACT_CONFIG,
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
    assert!(stderr.contains("unknown field `paths`"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_plugin_config_is_refused_by_the_api_before_any_delivery() {
    let receiver = Receiver::start().await;
    let daemon = Daemon::start(plugin_config(true)).await;
    let redact = plugin("redact").display().to_string();
    let spec = json!({
        "id": "analytics",
        "url": receiver.url("/analytics"),
        "events": ["*"],
        "plugin": redact,
        "plugin_config": {"paths": ["data.prompt"]},
    });
    let refused = daemon.post_json("/v1/webhooks", &spec).await;
    assert_eq!(refused.status, 400, "{refused:?}");
    assert_eq!(refused.error_field(), "plugin_config");
    assert!(
        refused.error_message().contains("unknown field `paths`"),
        "{refused:?}"
    );
    assert_eq!(daemon.get_json("/v1/webhooks/analytics").await.status, 404);

    // Created with a good configuration, then updated to the bad one: refused too.
    let mut good = spec.clone();
    good["plugin_config"] = json!({"remove": ["data.prompt"]});
    daemon.create_webhook(good).await;
    let update = daemon
        .request_raw(
            reqwest::Method::PATCH,
            "/v1/webhooks/analytics",
            Some(hookline_e2e::daemon::TOKEN),
            Some(serde_json::to_vec(&json!({"plugin_config": {"paths": ["x"]}})).unwrap()),
        )
        .await;
    assert_eq!(update.status, 400, "{update:?}");
    assert_eq!(update.error_field(), "plugin_config");
    let stored = daemon.webhook("analytics").await;
    assert_eq!(stored["plugin_config"], json!({"remove": ["data.prompt"]}));

    // The good one delivers.
    daemon
        .emit(
            json!({"type": "task.completed", "resource": {"id": "t1", "type": "task"},
                     "data": {"prompt": "private", "status": "completed"}}),
        )
        .await;
    let got = eventually("the redacted delivery", Duration::from_secs(60), || async {
        let got = receiver.requests_to("/analytics");
        if got.is_empty() {
            Err("none yet".to_owned())
        } else {
            Ok(got)
        }
    })
    .await;
    assert!(got[0].json()["data"].get("prompt").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_file_replaced_by_one_refusing_the_config_is_not_used() {
    let receiver = Receiver::start().await;
    let dir = hookline_test_support::TempDir::new("e2e-plugin-config-reload");
    let path = dir.path().join("transform.wasm");
    std::fs::copy(plugin("fixture-v0-1-0"), &path).unwrap();
    // Accepted at start: a plugin of world 0.1.0 has no check-config.
    let config = plugin_config(true).webhook(&redact_webhook(
        "swap",
        &receiver.url("/swap"),
        &path.display().to_string(),
        BAD_REDACT_CONFIG,
    ));
    let daemon = Daemon::start(config).await;

    // Replaced (atomically) by redact, which refuses `paths`.
    let tmp = dir.path().join("transform.wasm.tmp");
    std::fs::copy(plugin("redact"), &tmp).unwrap();
    std::fs::rename(&tmp, &path).unwrap();

    // The file is looked at again once its check interval passed, at a delivery: deliver
    // until the daemon has looked (and said it refused the new version).
    let mut emitted = 0;
    let log = eventually("the refusal in the log", Duration::from_secs(60), || {
        emitted += 1;
        let daemon = &daemon;
        let n = emitted;
        async move {
            daemon
                .emit(json!({"type": "task.completed", "resource": {"id": format!("t{n}"), "type": "task"},
                             "data": {"prompt": "private"}}))
                .await;
            let log = daemon.log();
            if log.contains("no longer passes its check-config") {
                Ok(log)
            } else {
                Err(format!("{n} event(s) emitted"))
            }
        }
    })
    .await;
    let settled = daemon.wait_settled("swap", emitted).await;
    assert!(
        settled.iter().all(|d| d["status"] == "delivered"),
        "{settled:?}"
    );
    let got = receiver.requests_to("/swap");
    assert_eq!(got.len(), emitted);
    for req in &got {
        // The previous version made them all: the refusing one never ran a delivery.
        assert_eq!(
            req.json()["world"],
            "0.1.0",
            "{}",
            String::from_utf8_lossy(&req.body)
        );
        let ts = req.expect_header("x-webhook-timestamp");
        assert_eq!(
            req.expect_header("x-webhook-signature"),
            marionette_signature(SECRET, ts, &req.body)
        );
    }
    let line = log
        .lines()
        .find(|l| l.contains("no longer passes its check-config"))
        .unwrap();
    assert!(line.contains("`webhooks[0].plugin_config`"), "{line}");
    assert!(line.contains("unknown field `paths`"), "{line}");
    assert!(line.contains(".toml:"), "names the file and line: {line}");
}

/// The JavaScript, C and Python examples, built from source by their SDKs' build scripts (a
/// missing toolchain fails here), behind a real daemon: each delivers a transformed request
/// signed over the bytes received, the same as its Rust original; each refuses a bad config
/// at API create.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn javascript_c_and_python_examples_deliver_their_transformed_signed_requests() {
    use hookline_test_support::plugins::{Lang, plugin_in};
    let receiver = Receiver::start().await;
    let examples = [
        (
            "redact-js",
            plugin_in(Lang::JavaScript, "redact"),
            r#"{ remove = ["data.prompt", "data.items.*.token"], mask = ["resource.labels.email"] }"#,
        ),
        (
            "redact-c",
            plugin_in(Lang::C, "redact"),
            r#"{ remove = ["data.prompt", "data.items.*.token"], mask = ["resource.labels.email"] }"#,
        ),
        (
            "redact-py",
            plugin_in(Lang::Python, "redact"),
            r#"{ remove = ["data.prompt", "data.items.*.token"], mask = ["resource.labels.email"] }"#,
        ),
        (
            "cloudevents-js",
            plugin_in(Lang::JavaScript, "cloudevents"),
            r#"{ source = "https://platform.example/e2e", type_prefix = "com.example" }"#,
        ),
        (
            "cloudevents-py",
            plugin_in(Lang::Python, "cloudevents"),
            r#"{ source = "https://platform.example/e2e", type_prefix = "com.example" }"#,
        ),
    ];
    // The daemon compiles each plugin at start to check its config (Python's 18 MB take
    // seconds each in a debug build; the cache keeps them for the next run).
    let mut config = plugin_config(true).start_within(Duration::from_secs(180));
    for (id, path, plugin_config) in &examples {
        config = config.webhook(&redact_webhook(
            id,
            &receiver.url(&format!("/{id}")),
            &path.display().to_string(),
            plugin_config,
        ));
    }
    let daemon = Daemon::start(config).await;
    daemon
        .emit(json!({
            "type": "task.completed",
            "resource": {"id": "t1", "type": "task", "labels": {"email": "ada@example.com", "team": "core"}},
            "data": {"session_id": "s1", "prompt": "private", "status": "completed",
                     "items": [{"name": "a", "token": "tok_a"}], "cost": 1.50}
        }))
        .await;
    let mut bodies = std::collections::HashMap::new();
    for (id, _, _) in &examples {
        let path = format!("/{id}");
        let got = eventually(
            &format!("a request to {path}"),
            Duration::from_secs(90),
            || async {
                let got = receiver.requests_to(&path);
                if got.is_empty() {
                    Err("none yet".to_owned())
                } else {
                    Ok(got)
                }
            },
        )
        .await;
        let req = &got[0];
        let ts = req.expect_header("x-webhook-timestamp");
        assert_eq!(
            req.expect_header("x-webhook-signature"),
            marionette_signature(SECRET, ts, &req.body),
            "signed over the bytes received at {path}"
        );
        bodies.insert(
            *id,
            (req.expect_header("content-type").to_owned(), req.json()),
        );
    }
    for id in ["redact-js", "redact-c", "redact-py"] {
        let (content_type, body) = &bodies[id];
        assert_eq!(content_type, "application/json", "{id}");
        assert!(body["data"].get("prompt").is_none(), "{id}: {body}");
        assert_eq!(body["data"]["items"], json!([{"name": "a"}]), "{id}");
        assert_eq!(
            body["resource"]["labels"],
            json!({"email": "***", "team": "core"}),
            "{id}"
        );
        assert_eq!(body["event"], "task.completed", "{id}");
        assert_eq!(body["data"]["cost"], 1.5, "{id}");
    }
    for id in ["cloudevents-js", "cloudevents-py"] {
        let (content_type, ce) = &bodies[id];
        assert!(
            content_type.starts_with("application/cloudevents+json"),
            "{id}: {content_type}"
        );
        assert_eq!(ce["specversion"], "1.0", "{id}");
        assert_eq!(ce["type"], "com.example.task.completed", "{id}");
        assert_eq!(ce["source"], "https://platform.example/e2e", "{id}");
        assert_eq!(ce["subject"], "task/t1", "{id}");
        assert_eq!(ce["datacontenttype"], "application/json", "{id}");
        assert_eq!(ce["data"]["status"], "completed", "{id}");
        assert!(
            ce["id"].as_str().is_some_and(|e| e.starts_with("evt_")),
            "{id}: {ce}"
        );
    }

    // A bad plugin_config for each is refused before any delivery.
    for ((id, path, _), bad) in examples.iter().zip([
        json!({"paths": ["data.prompt"]}),
        json!({"remove": ["prompt"]}),
        json!({"mask": ["data..x"]}),
        json!({"source": ""}),
        json!({"sauce": "x"}),
    ]) {
        let spec = json!({
            "id": format!("{id}-bad"), "url": receiver.url("/bad"), "events": ["*"],
            "plugin": path.display().to_string(), "plugin_config": bad,
        });
        let refused = daemon.post_json("/v1/webhooks", &spec).await;
        assert_eq!(refused.status, 400, "{id}: {refused:?}");
        assert_eq!(refused.error_field(), "plugin_config", "{id}");
    }
}

/// `hookline plugin new NAME --lang …` writes a skeleton whose `build.sh` builds a plugin that
/// `plugin check` accepts and `plugin run` runs, for the languages whose toolchains CI installs
/// (a missing one fails here). The Rust skeleton is a cargo crate like `plugins/`' own.
#[test]
fn plugin_new_writes_skeletons_that_build_and_run() {
    let dir = hookline_test_support::TempDir::new("e2e-plugin-new");
    let root = hookline_test_support::plugins::workspace_root();
    let home = std::env::var("HOME").unwrap_or_default();
    let path = format!(
        "{home}/.cache/hookline-toolchains/cargo/bin:{}",
        std::env::var("PATH").unwrap_or_default()
    );
    let event = dir.path().join("event.json");
    std::fs::write(
        &event,
        r#"{"type":"task.completed","id":"evt_1","resource":{"id":"t1","type":"task"},"data":{"ok":true}}"#,
    )
    .unwrap();
    for lang in ["c", "js", "python"] {
        let name = format!("tag-{lang}");
        let out = hookline_e2e::hookline()
            .args(["plugin", "new", &name, "--lang", lang, "--dir"])
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{lang}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let build = std::process::Command::new(dir.path().join(&name).join("build.sh"))
            .env("PATH", &path)
            .env(
                "HOOKLINE_COMPONENTIZE_QJS",
                root.join("guest/js/node_modules/.bin/componentize-qjs"),
            )
            .env(
                "HOOKLINE_COMPONENTIZE_PY",
                format!("{home}/.cache/hookline-toolchains/py/bin/componentize-py"),
            )
            .output()
            .unwrap();
        assert!(
            build.status.success(),
            "{lang}: the skeleton does not build (install the toolchain as .ci/run does): {}",
            String::from_utf8_lossy(&build.stderr)
        );
        let wasm = dir.path().join(&name).join(format!("tag_{lang}.wasm"));
        let check = hookline_e2e::hookline()
            .args(["plugin", "check", "--config", "{}"])
            .arg(&wasm)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&check.stdout);
        assert!(check.status.success(), "{lang}: {text}");
        assert!(text.contains("check-config, transform"), "{lang}: {text}");
        let run = hookline_e2e::hookline()
            .args(["plugin", "run", "--json", "--timeout-ms", "5000", "--event"])
            .arg(&event)
            .arg(&wasm)
            .output()
            .unwrap();
        let result: Value = serde_json::from_slice(&run.stdout)
            .unwrap_or_else(|e| panic!("{lang}: {e}: {}", String::from_utf8_lossy(&run.stdout)));
        assert_eq!(result["outcome"], "send", "{lang}: {result}");
        let body: Value = serde_json::from_str(result["body"].as_str().unwrap()).unwrap();
        assert_eq!(body["data"], json!({"ok": true}), "{lang}: {body}");
    }
}
