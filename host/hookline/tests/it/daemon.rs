//! `Daemon::start` and `Daemon::shutdown` in one process: a failed start stops what it
//! started, so the next start finds the store free.

use std::time::Duration;

use hookline::config::Config;
use hookline::daemon::{Daemon, DaemonError};
use hookline_store::sqlite::{SqliteOptions, SqliteStore};
use hookline_test_support::TempDir;

/// A daemon config over `dir` listening on `listen`, with `extra` TOML appended.
fn config(dir: &TempDir, listen: &str, extra: &str) -> Config {
    let text = format!(
        "[server]\nlisten = \"{listen}\"\ndata_dir = \"{}\"\n{extra}",
        dir.path().display()
    );
    Config::from_toml_str(&text, "test.toml", []).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_start_frees_the_store_for_the_next_start() {
    let dir = TempDir::new("daemon-start");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let in_use = taken.local_addr().unwrap().to_string();

    // The API's port is in use: the store, the engine and its tasks had started by then.
    match Daemon::start(config(&dir, &in_use, "")).await {
        Err(DaemonError::Listen { addr, .. }) => assert_eq!(addr.to_string(), in_use),
        other => panic!("a start on a port in use must fail to listen, got {other:?}"),
    }
    // A webhook of the config file the engine refuses (the SSRF guard, after the store
    // and the engine started).
    let refused =
        "\n[[webhooks]]\nid = \"private\"\nurl = \"http://10.1.2.3/hook\"\nevents = [\"*\"]\n";
    match Daemon::start(config(&dir, "127.0.0.1:0", refused)).await {
        Err(DaemonError::Engine(e)) => assert_eq!(e.code(), "ssrf_blocked", "{e}"),
        other => panic!("an SSRF-blocked config webhook must fail the start, got {other:?}"),
    }

    // Each failure left the store closed: the same process starts again on a free port.
    let daemon = Daemon::start(config(&dir, "127.0.0.1:0", ""))
        .await
        .expect("a start after failed ones opens the store");
    assert!(daemon.engine().is_accepting());
    let health = reqwest::get(format!("http://{}/healthz", daemon.local_addr()))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);

    // A shutdown frees it at once, too.
    daemon.shutdown(Duration::from_secs(2)).await;
    let db = dir.join("hookline.db");
    SqliteStore::open(&db, SqliteOptions::default())
        .unwrap_or_else(|e| panic!("the store is still locked after shutdown: {e}"));
}
