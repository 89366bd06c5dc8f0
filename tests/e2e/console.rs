//! The real `hookline-console` in a real pseudo-terminal (tmux), against a real daemon and
//! receiver: it shows the deliveries, retries a failed one and pauses a webhook through
//! keys, and the daemon's API confirms both.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

use hookline_e2e::bin_path;
use hookline_e2e::daemon::{Daemon, DaemonConfig};
use hookline_test_support::receiver::{Receiver, Reply};
use hookline_test_support::wait::{DEFAULT_DEADLINE, eventually};
use serde_json::json;

static SESSIONS: AtomicU32 = AtomicU32::new(0);

/// A tmux server of its own (its own socket), running one command in a 160×48 window.
/// Killed when dropped; on failure the last screen is printed.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn start(command: &str) -> Tmux {
        let version = Command::new("tmux").arg("-V").output();
        assert!(
            version.as_ref().is_ok_and(|o| o.status.success()),
            "this test runs the console in tmux, which is not installed (apt-get install tmux): {version:?}"
        );
        let socket = format!(
            "hookline-e2e-{}-{}",
            std::process::id(),
            SESSIONS.fetch_add(1, Ordering::Relaxed)
        );
        let tmux = Tmux { socket };
        let out = tmux.run(&[
            "new-session",
            "-d",
            "-x",
            "160",
            "-y",
            "48",
            "-s",
            "console",
            command,
        ]);
        assert!(out.status.success(), "tmux new-session: {out:?}");
        tmux
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .env_remove("TMUX")
            .output()
            .expect("run tmux")
    }

    /// Types keys (tmux key names: `Enter`, `Escape`, or characters).
    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "console"];
        args.extend_from_slice(keys);
        let out = self.run(&args);
        assert!(out.status.success(), "tmux send-keys {keys:?}: {out:?}");
    }

    /// The screen's text.
    fn screen(&self) -> String {
        let out = self.run(&["capture-pane", "-p", "-t", "console"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until the screen shows every one of `texts`.
    async fn wait_for(&self, texts: &[&str]) -> String {
        eventually(
            &format!("the console to show {texts:?}"),
            DEFAULT_DEADLINE,
            || async {
                let screen = self.screen();
                match texts.iter().all(|t| screen.contains(t)) {
                    true => Ok(screen),
                    false => Err(format!("the screen:\n{screen}")),
                }
            },
        )
        .await
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- console screen ---\n{}", self.screen());
        }
        let _ = self.run(&["kill-server"]);
    }
}

fn shell_quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_shows_deliveries_retries_a_failure_and_pauses_a_webhook() {
    let receiver = Receiver::start().await;
    receiver.script("/bad", vec![Reply::Status(400)]);
    let daemon = Daemon::start(DaemonConfig::new()).await;
    for (id, path) in [("bad", "/bad"), ("good", "/good")] {
        daemon
            .create_webhook(json!({"id": id, "url": receiver.url(path), "events": ["task.*"]}))
            .await;
    }
    for i in 0..3 {
        daemon
            .emit(json!({
                "type": "task.completed",
                "resource": {"id": format!("task-{i}"), "type": "task"},
                "data": {"session_id": "s1", "status": "completed"},
            }))
            .await;
    }
    daemon.wait_settled("bad", 3).await;
    daemon.wait_settled("good", 3).await;

    let token_file = daemon.dir().join("console-token");
    std::fs::write(&token_file, daemon.token()).expect("write the token file");
    let command = format!(
        "{} --daemon {} --token-file {}; echo \"console exited with $?\"; sleep 60",
        shell_quote(&bin_path("hookline-console")),
        daemon.url(),
        shell_quote(&token_file),
    );
    let tmux = Tmux::start(&command);

    // The deliveries appear, from the stream's snapshot.
    tmux.wait_for(&["● live", "Overview", "delivered", "failed", "good", "bad"])
        .await;

    // Retry a failed delivery: Failures view, the group of 400s at `bad`, its first delivery.
    tmux.keys(&["4"]);
    tmux.wait_for(&["Failures by error kind", "http_status", "bad"])
        .await;
    tmux.keys(&["Enter"]);
    tmux.wait_for(&["Enter opens · Esc back to groups"]).await;
    tmux.keys(&["r"]);
    tmux.wait_for(&["requested: now pending"]).await;
    // The daemon made a second attempt of exactly one delivery.
    let retried = eventually(
        "the retried delivery's second attempt",
        DEFAULT_DEADLINE,
        || async {
            let mut with_two = Vec::new();
            for d in daemon.deliveries("webhook=bad").await {
                let id = d["id"].as_str().unwrap_or_default().to_owned();
                let detail = daemon.delivery(&id).await;
                let attempts = detail["attempts_detail"].as_array().map_or(0, Vec::len);
                let settled = detail["status"] == "failed";
                if attempts == 2 && settled {
                    with_two.push(id);
                }
            }
            match with_two.len() {
                1 => Ok(with_two.remove(0)),
                n => Err(format!("{n} deliveries with two attempts")),
            }
        },
    )
    .await;
    assert_eq!(receiver.requests_to("/bad").len(), 4);
    assert_eq!(
        receiver.requests_to("/bad")[3].header("x-webhook-id"),
        Some(retried.as_str())
    );

    // Pause `good`: Webhooks view (sorted by id: bad, good), down one, p, confirm.
    tmux.keys(&["2"]);
    tmux.wait_for(&["Webhooks (2)"]).await;
    tmux.keys(&["j"]);
    tmux.wait_for(&["Webhook good"]).await;
    tmux.keys(&["p"]);
    tmux.wait_for(&["Pause webhook good?", "[y/N]"]).await;
    tmux.keys(&["y"]);
    tmux.wait_for(&["webhook good is now paused"]).await;
    assert_eq!(daemon.webhook("good").await["state"], "paused");
    assert_eq!(daemon.webhook("bad").await["state"], "active");

    // q quits and gives the terminal back.
    tmux.keys(&["q"]);
    let screen = tmux.wait_for(&["console exited with 0"]).await;
    assert!(
        !screen.contains("Hookline console"),
        "the alternate screen was left: {screen}"
    );
}

/// A `read` token: the console shows the daemon, its actions are disabled and it says why;
/// an `ingest` token is refused at start with a message naming its scope.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_with_a_read_token_disables_actions_and_refuses_an_ingest_token() {
    let receiver = Receiver::start().await;
    receiver.script("/bad", vec![Reply::Status(400)]);
    let daemon = Daemon::start(DaemonConfig::new()).await;
    daemon
        .create_webhook(json!({"id": "bad", "url": receiver.url("/bad"), "events": ["task.*"]}))
        .await;
    daemon
        .emit(json!({
            "type": "task.completed",
            "resource": {"id": "task-1", "type": "task"},
            "data": {"session_id": "s1", "status": "completed"},
        }))
        .await;
    daemon.wait_settled("bad", 1).await;

    let mut files = Vec::new();
    for scope in ["read", "ingest"] {
        let created = daemon
            .post_json(
                "/v1/tokens",
                &json!({"name": format!("{scope}-console"), "scope": scope}),
            )
            .await
            .expect(201, "create a token");
        let file = daemon.dir().join(format!("{scope}-token"));
        std::fs::write(&file, created["secret"].as_str().unwrap()).expect("write the token");
        files.push(file);
    }
    let console = |file: &Path| {
        format!(
            "{} --daemon {} --token-file {}; echo \"console exited with $?\"; sleep 60",
            shell_quote(&bin_path("hookline-console")),
            daemon.url(),
            shell_quote(file),
        )
    };

    let tmux = Tmux::start(&console(&files[0]));
    tmux.wait_for(&["● live", "[read-only: token scope]", "bad"])
        .await;
    tmux.keys(&["4"]);
    tmux.wait_for(&["Failures by error kind", "http_status"])
        .await;
    tmux.keys(&["Enter"]);
    tmux.wait_for(&["Enter opens · Esc back to groups"]).await;
    tmux.keys(&["r"]);
    tmux.wait_for(&["disabled: the token `read-console` has the `read` scope"])
        .await;
    tmux.keys(&["?"]);
    tmux.wait_for(&["read-only (the token `read-console` has the `read` scope)"])
        .await;
    // Nothing was retried.
    assert_eq!(receiver.requests_to("/bad").len(), 1);
    // Escape and `q` apart: together a terminal reads them as Alt-q.
    tmux.keys(&["Escape"]);
    eventually("the help to close", DEFAULT_DEADLINE, || async {
        let screen = tmux.screen();
        match screen.contains("Keys (? or Esc closes)") {
            true => Err(screen),
            false => Ok(()),
        }
    })
    .await;
    tmux.keys(&["q"]);
    tmux.wait_for(&["console exited with 0"]).await;
    drop(tmux);

    let tmux = Tmux::start(&console(&files[1]));
    let screen = tmux
        .wait_for(&["`ingest` scope", "console exited with 1"])
        .await;
    assert!(screen.contains("ingest-console"), "{screen}");
}
