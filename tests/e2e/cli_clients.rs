//! `hookline webhooks`, `emit` and `deliveries` as thin clients of a live daemon.

use hookline_e2e::daemon::{Daemon, DaemonConfig};
use hookline_e2e::run_hookline_async;
use hookline_test_support::plugins::plugin;
use hookline_test_support::receiver::Receiver;
use hookline_test_support::wait::{DEFAULT_DEADLINE, eventually};
use serde_json::Value;

async fn cli(args: &[&str]) -> String {
    let (code, stdout, stderr) =
        run_hookline_async(args.iter().map(|s| (*s).to_owned()).collect()).await;
    assert_eq!(
        code,
        Some(0),
        "hookline {args:?} failed:\n{stdout}\n{stderr}"
    );
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emit_then_list_deliveries_through_the_cli() {
    let receiver = Receiver::start().await;
    let daemon = Daemon::start(DaemonConfig::new()).await;
    let url = daemon.url();
    let token = daemon.token().to_owned();
    let hook = receiver.url("/cli");

    let created: Value = serde_json::from_str(
        &cli(&[
            "webhooks", "add", "--id", "cli-hook", "--url", &hook, "--daemon", &url, "--token",
            &token, "--events", "task.*",
        ])
        .await,
    )
    .expect("webhooks add prints JSON");
    assert_eq!(created["webhook"]["id"], "cli-hook");
    let listed = cli(&["webhooks", "--daemon", &url, "--token", &token, "list"]).await;
    assert!(
        listed.contains("cli-hook") && listed.contains(&hook),
        "{listed}"
    );

    let emitted: Value = serde_json::from_str(
        &cli(&[
            "emit",
            "task.created",
            "--data",
            r#"{"session_id":"s1","status":"pending"}"#,
            "--resource-id",
            "cli-task-1",
            "--daemon",
            &url,
            "--token",
            &token,
        ])
        .await,
    )
    .expect("emit prints JSON");
    assert_eq!(emitted["deliveries"], 1, "{emitted}");
    let event_id = emitted["event_id"].as_str().expect("event id").to_owned();

    let sent = receiver.wait_for_requests("/cli", 1).await.remove(0);
    let body = sent.json();
    assert_eq!(body["event"], "task.created");
    assert_eq!(body["resource"]["id"], "cli-task-1");
    assert_eq!(body["resource"]["type"], "task");
    assert_eq!(body["data"]["session_id"], "s1");

    // The table shows the delivery; --json gives the same listing to scripts.
    let delivery = eventually(
        "the delivery listed as delivered",
        DEFAULT_DEADLINE,
        || async {
            let page: Value = serde_json::from_str(
                &cli(&[
                    "deliveries",
                    "list",
                    "--json",
                    "--daemon",
                    &url,
                    "--token",
                    &token,
                ])
                .await,
            )
            .expect("deliveries list --json prints JSON");
            let items = page["items"].as_array().cloned().unwrap_or_default();
            match items.as_slice() {
                [d] if d["status"] == "delivered" => Ok(d.clone()),
                _ => Err(format!("{page}")),
            }
        },
    )
    .await;
    assert_eq!(delivery["event_id"], event_id.as_str());
    let id = delivery["id"].as_str().unwrap();
    let table = cli(&["deliveries", "list", "--daemon", &url, "--token", &token]).await;
    let row = table
        .lines()
        .find(|l| l.starts_with(id))
        .unwrap_or_else(|| panic!("delivery {id} not in the table:\n{table}"));
    for cell in ["delivered", "cli-hook", "task.created", "200"] {
        assert!(row.contains(cell), "row lacks {cell}: {row}\n{table}");
    }
    assert!(table.starts_with("ID"), "{table}");

    let shown: Value = serde_json::from_str(
        &cli(&[
            "deliveries",
            "show",
            id,
            "--daemon",
            &url,
            "--token",
            &token,
        ])
        .await,
    )
    .expect("deliveries show prints JSON");
    assert_eq!(shown["attempts_detail"][0]["status_code"], 200, "{shown:#}");

    // `plugin run --replay` finds the daemon with the same flags as the other clients, and
    // diffs what a plugin would send now against what was sent.
    let redact = plugin("redact").display().to_string();
    let replayed = cli(&[
        "plugin",
        "run",
        &redact,
        "--replay",
        id,
        "--config",
        r#"{"remove": ["data.session_id"]}"#,
        "--daemon",
        &url,
        "--token",
        &token,
    ])
    .await;
    assert!(
        replayed.contains("body diff (- sent, + now):"),
        "{replayed}"
    );
    assert!(
        replayed
            .lines()
            .any(|l| l.starts_with('-') && l.contains("session_id")),
        "{replayed}"
    );

    // A wrong token is an error on stderr and a non-zero exit, not a crash.
    let (code, _, stderr) = run_hookline_async(
        [
            "deliveries",
            "list",
            "--daemon",
            &url,
            "--token",
            "wrong-token-0123456789",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect(),
    )
    .await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("unauthorized"), "{stderr}");
}
