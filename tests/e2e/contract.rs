//! Contract fuzzing: schemathesis (PyPI, installed by `.ci/run`) generates requests for every
//! operation of the checked-in OpenAPI document and runs them against a real `hookline
//! serve`, with a valid token, without one and with a wrong one. Every answer must be
//! documented (status, content type, headers, body schema) and none may be a server error.
//!
//! Bounded for CI: a fixed seed and a fixed number of examples per operation. A longer,
//! randomised run by hand: `schemathesis run http://127.0.0.1:8420/v1/openapi.json -H
//! "Authorization: Bearer $(cat hookline-data/api-token)" --max-time 600`.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use hookline_e2e::daemon::{Daemon, DaemonConfig};

/// The checks that compare answers with the document (schemathesis' names).
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
                      response_headers_conformance,response_schema_conformance";

/// schemathesis: `$HOOKLINE_SCHEMATHESIS`, else where `.ci/run` installs it.
fn schemathesis() -> PathBuf {
    if let Some(path) = std::env::var_os("HOOKLINE_SCHEMATHESIS") {
        return PathBuf::from(path);
    }
    let home = std::env::var_os("HOME").unwrap_or_default();
    let path = PathBuf::from(home).join(".cache/hookline-toolchains/st/bin/schemathesis");
    assert!(
        path.exists(),
        "schemathesis is not installed at {} (run .ci/run, which installs it from PyPI, or set \
         HOOKLINE_SCHEMATHESIS)",
        path.display()
    );
    path
}

/// Runs schemathesis against `daemon` with `headers`; panics with its report on failure.
async fn run(daemon: &Daemon, what: &str, headers: &[String], examples: u32) {
    let mut cmd = tokio::process::Command::new(schemathesis());
    cmd.arg("run")
        .arg(format!("{}/v1/openapi.json", daemon.url()))
        .args(["--checks", CHECKS])
        // Never ends: an event stream stays open (its answer is checked in the API's tests).
        .args(["--exclude-path", "/v1/stream"])
        .args(["--max-examples", &examples.to_string()])
        .args(["--seed", "20261204"])
        .args(["--workers", "2"])
        .args(["--request-timeout", "20"])
        .args(["--max-failures", "20"])
        .arg("--no-color")
        .current_dir(daemon.dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for header in headers {
        cmd.args(["--header", header]);
    }
    let out = tokio::time::timeout(Duration::from_secs(600), cmd.output())
        .await
        .unwrap_or_else(|_| panic!("schemathesis ({what}) ran over 10 minutes"))
        .expect("schemathesis runs");
    let report = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "schemathesis ({what}) found answers that break the document:\n{report}\n\ndaemon log:\n{}",
        daemon.log()
    );
    assert!(
        report.contains("passed"),
        "schemathesis ({what}) ran no test:\n{report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_matches_the_openapi_document_with_and_without_a_token() {
    let daemon = Daemon::start(DaemonConfig::new()).await;
    let bearer = format!("Authorization: Bearer {}", daemon.token());
    run(&daemon, "without a token", &[], 10).await;
    let wrong = "Authorization: Bearer not-the-token-0123456789".to_owned();
    run(&daemon, "with a wrong token", &[wrong], 10).await;
    // Last: the stateful phase follows the token routes' links and may revoke this token
    // (it creates other admin tokens first, so it is not the last one).
    run(&daemon, "with the token", &[bearer], 40).await;
    // The daemon is still up and answering.
    let ready = daemon
        .request_raw(reqwest::Method::GET, "/readyz", None, None)
        .await;
    assert_eq!(ready.status, 200, "{}", ready.text);
}
