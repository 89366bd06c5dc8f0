//! Scoped API tokens against a real daemon: the CLI creates, lists and revokes them; each
//! scope reaches what it may and gets 403 naming the scope elsewhere; a revoked token is
//! refused at once and stays refused over a restart; the store keeps digests only.

use hookline_e2e::daemon::{Daemon, DaemonConfig, TOKEN};
use hookline_e2e::run_hookline_async;
use reqwest::Method;
use serde_json::{Value, json};

async fn hookline(args: &[&str]) -> (Option<i32>, String, String) {
    run_hookline_async(args.iter().map(|s| (*s).to_owned()).collect()).await
}

/// `hookline tokens …` against `daemon` with the admin token; must exit 0.
async fn tokens_cli(daemon: &Daemon, args: &[&str]) -> (String, String) {
    let url = daemon.url();
    let mut all = vec!["tokens"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--daemon", &url, "--token", TOKEN]);
    let (code, stdout, stderr) = hookline(&all).await;
    assert_eq!(code, Some(0), "hookline {all:?}:\n{stdout}\n{stderr}");
    (stdout, stderr)
}

/// A route of the matrix: method, path, body, the scope it needs, its success status.
type Probe = (Method, &'static str, Option<Vec<u8>>, &'static str, u16);

fn event() -> Vec<u8> {
    serde_json::to_vec(&json!({
        "type": "task.created",
        "resource": {"id": "t-1", "type": "task"},
        "data": {"session_id": "s1"}
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_through_the_cli_and_the_scope_matrix() {
    let mut daemon = Daemon::start(DaemonConfig::new()).await;

    // Create one token per scope with the CLI: the secret alone on stdout.
    let mut secrets = Vec::new();
    for scope in ["ingest", "read", "admin"] {
        let name = format!("e2e-{scope}");
        let (stdout, stderr) =
            tokens_cli(&daemon, &["create", "--name", &name, "--scope", scope]).await;
        let secret = stdout.trim().to_owned();
        assert!(secret.starts_with(&format!("hl_{scope}_")), "{stdout}");
        assert_eq!(stdout.lines().count(), 1, "{stdout}");
        assert!(stderr.contains("shown this once"), "{stderr}");
        secrets.push(secret);
    }
    let [ingest, read, admin] = [&secrets[0], &secrets[1], &secrets[2]];

    // List: every token, no secret.
    let (listed, _) = tokens_cli(&daemon, &["list"]).await;
    for name in ["e2e-ingest", "e2e-read", "e2e-admin", "tok_bootstrap"] {
        assert!(listed.contains(name), "{listed}");
    }
    for secret in &secrets {
        assert!(!listed.contains(secret.as_str()), "{listed}");
    }
    assert!(!listed.contains(TOKEN), "{listed}");

    // The matrix: a representative route of each kind, with no token, a bad one and each
    // scope's.
    let webhook = serde_json::to_vec(&json!({
        "id": "matrix", "url": "http://127.0.0.1:9/hook", "events": ["task.*"]
    }))
    .unwrap();
    let token_body = serde_json::to_vec(&json!({"name": "x", "scope": "read"})).unwrap();
    let routes: [Probe; 6] = [
        (Method::POST, "/v1/events", Some(event()), "ingest", 202),
        (Method::GET, "/v1/deliveries", None, "read", 200),
        (Method::GET, "/metrics", None, "read", 200),
        (Method::POST, "/v1/webhooks", Some(webhook), "admin", 201),
        (Method::GET, "/v1/tokens", None, "admin", 200),
        (Method::POST, "/v1/tokens", Some(token_body), "admin", 201),
    ];
    for (method, path, body, needed, ok) in &routes {
        let what = format!("{method} {path}");
        let none = daemon
            .request_raw(method.clone(), path, None, body.clone())
            .await;
        assert_eq!(none.status, 401, "{what} without a token: {}", none.text);
        let bad = daemon
            .request_raw(method.clone(), path, Some("hl_admin_forged"), body.clone())
            .await;
        assert_eq!(bad.status, 401, "{what} with a forged token: {}", bad.text);
        for (held, secret) in [("ingest", ingest), ("read", read), ("admin", admin)] {
            let answer = daemon
                .request_raw(method.clone(), path, Some(secret), body.clone())
                .await;
            let allowed = held == "admin" || held == *needed;
            // Creating the same webhook twice conflicts: only the first allowed call creates.
            if allowed {
                assert!(
                    answer.status == *ok || (answer.status == 409 && *path == "/v1/webhooks"),
                    "{what} with a {held} token: {} {}",
                    answer.status,
                    answer.text
                );
            } else {
                assert_eq!(
                    answer.status, 403,
                    "{what} with a {held} token: {}",
                    answer.text
                );
                assert_eq!(answer.error_code(), "insufficient_scope");
                let message = answer.error_message();
                assert!(message.contains(&format!("`{needed}` scope")), "{message}");
                assert!(
                    message.contains(&format!("has the `{held}` scope")),
                    "{message}"
                );
            }
        }
    }
    // The probes need no token.
    for probe in ["/healthz", "/readyz"] {
        let answer = daemon.request_raw(Method::GET, probe, None, None).await;
        assert_eq!(answer.status, 200, "{probe}: {}", answer.text);
    }
    // whoami: any token.
    let who = daemon
        .request_raw(Method::GET, "/v1/whoami", Some(ingest), None)
        .await
        .expect(200, "whoami");
    assert_eq!(who["scope"], "ingest");
    assert_eq!(who["name"], "e2e-ingest");

    // Revoke the read token with the CLI: refused at once.
    let list: Value = serde_json::from_str(&tokens_cli(&daemon, &["list", "--json"]).await.0)
        .expect("tokens list --json");
    let read_id = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "e2e-read")
        .and_then(|t| t["id"].as_str())
        .unwrap()
        .to_owned();
    let (revoked, _) = tokens_cli(&daemon, &["revoke", &read_id]).await;
    assert!(revoked.contains(&read_id), "{revoked}");
    let after = daemon
        .request_raw(Method::GET, "/v1/stats", Some(read), None)
        .await;
    assert_eq!(after.status, 401, "{}", after.text);

    // Over a restart: tokens persist, the revoked one stays refused.
    daemon.restart().await;
    let stats = daemon
        .request_raw(Method::GET, "/v1/stats", Some(admin), None)
        .await;
    assert_eq!(stats.status, 200, "{}", stats.text);
    let after = daemon
        .request_raw(Method::GET, "/v1/stats", Some(read), None)
        .await;
    assert_eq!(after.status, 401, "{}", after.text);
    daemon
        .get_json("/v1/stats")
        .await
        .expect(200, "the bootstrap token");

    // The store and the log hold no secret.
    daemon.terminate().await;
    let mut stored = Vec::new();
    for file in ["hookline.db", "hookline.db-wal"] {
        stored.extend(std::fs::read(daemon.dir().join(file)).unwrap_or_default());
    }
    let stored = String::from_utf8_lossy(&stored);
    let log = daemon.log();
    for secret in secrets.iter().map(String::as_str).chain([TOKEN]) {
        assert!(!stored.contains(secret), "a token secret is in the store");
        assert!(!log.contains(secret), "a token secret is in the log");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_refuses_to_revoke_the_last_admin_token() {
    let daemon = Daemon::start(DaemonConfig::new()).await;
    let url = daemon.url();
    let (code, stdout, stderr) = hookline(&[
        "tokens",
        "revoke",
        "tok_bootstrap",
        "--daemon",
        &url,
        "--token",
        TOKEN,
    ])
    .await;
    assert_eq!(code, Some(1), "{stdout}\n{stderr}");
    assert!(stderr.contains("last admin token"), "{stderr}");
    daemon
        .get_json("/v1/stats")
        .await
        .expect(200, "still works");

    // A read token cannot manage tokens: 403 from the CLI, naming the scope.
    let created = daemon
        .post_json("/v1/tokens", &json!({"name": "viewer", "scope": "read"}))
        .await
        .expect(201, "create a read token");
    let secret = created["secret"].as_str().unwrap();
    let (code, _, stderr) =
        hookline(&["tokens", "list", "--daemon", &url, "--token", secret]).await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("insufficient_scope"), "{stderr}");
    assert!(stderr.contains("`admin` scope"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_id_is_echoed_and_in_the_daemon_s_log() {
    use hookline_test_support::wait::{DEFAULT_DEADLINE, eventually};
    let daemon = Daemon::start(DaemonConfig::new().set("log", "level", "\"debug\"")).await;
    let http = reqwest::Client::new();
    let response = http
        .get(format!("{}/v1/stats", daemon.url()))
        .bearer_auth("hl_read_forged")
        .header("x-request-id", "e2e-trace-7")
        .send()
        .await
        .expect("the daemon answers");
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["x-request-id"], "e2e-trace-7");
    // The refusal is logged inside the request's span, with its id.
    eventually(
        "the refusal logged with the request id",
        DEFAULT_DEADLINE,
        || async {
            let log = daemon.log();
            let line = log
                .lines()
                .find(|l| l.contains("refused an API request with an invalid token"))
                .map(str::to_owned);
            match line {
                Some(line) if line.contains("e2e-trace-7") => Ok(()),
                Some(line) => Err(format!("logged without the id: {line}")),
                None => Err("not logged yet".to_owned()),
            }
        },
    )
    .await;
    let answer = daemon.get_json("/v1/stats").await;
    let id = answer.headers["x-request-id"].to_str().unwrap();
    assert!(id.starts_with("req_"), "{id}");
}

/// Under an ingest flood past what the writer's queue takes, the daemon answers 503
/// `overloaded` with `Retry-After` instead of queueing without bound, and every event it
/// acknowledged is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ingest_flood_past_the_writer_queue_is_shed_and_nothing_acknowledged_is_lost() {
    let receiver = hookline_test_support::receiver::Receiver::start().await;
    let daemon = Daemon::start(DaemonConfig::new().set("store", "max_queued_rows", "4")).await;
    daemon
        .create_webhook(json!({"id": "flood", "url": receiver.url("/flood"), "events": ["task.*"]}))
        .await;
    let http = reqwest::Client::new();
    let url = format!("{}/v1/events", daemon.url());
    let mut tasks = Vec::new();
    for worker in 0..64 {
        let (http, url) = (http.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            let (mut accepted, mut shed) = (Vec::new(), 0u32);
            for n in 0..20 {
                let body = json!({
                    "type": "task.created",
                    "id": format!("flood-{worker}-{n}"),
                    "resource": {"id": "t", "type": "task"},
                    "data": {"session_id": "s"}
                });
                let response = http
                    .post(&url)
                    .bearer_auth(TOKEN)
                    .json(&body)
                    .send()
                    .await
                    .expect("the daemon answers");
                match response.status().as_u16() {
                    202 => accepted.push(format!("flood-{worker}-{n}")),
                    503 => {
                        assert_eq!(response.headers()["retry-after"], "1");
                        let error: Value = response.json().await.expect("an error body");
                        assert_eq!(error["error"]["code"], "overloaded", "{error}");
                        shed += 1;
                    }
                    other => panic!("unexpected {other}: {}", response.text().await.unwrap()),
                }
            }
            (accepted, shed)
        }));
    }
    let (mut accepted, mut shed) = (Vec::new(), 0);
    for task in tasks {
        let (a, s) = task.await.expect("a flood worker");
        accepted.extend(a);
        shed += s;
    }
    assert!(
        shed > 0,
        "the flood was never shed ({} accepted)",
        accepted.len()
    );
    assert!(!accepted.is_empty());
    let rss_kib = std::fs::read_to_string(format!("/proc/{}/status", daemon.pid()))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).map(str::to_owned))
        })
        .unwrap_or_default();
    eprintln!(
        "flood: {} accepted, {shed} shed with 503; daemon RSS {rss_kib} KiB",
        accepted.len()
    );
    // Every acknowledged event is stored, and nothing refused was.
    let stats = daemon.get_json("/v1/stats").await.expect(200, "stats");
    assert_eq!(
        stats["store"]["events"].as_u64(),
        Some(accepted.len() as u64),
        "{stats:#}"
    );
}
