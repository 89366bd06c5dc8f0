//! Helpers for the end-to-end tests: locating the real binaries built by
//! `cargo build --workspace` and running them.
//!
//! - [`daemon::Daemon`]: a real `hookline serve` in its own directory and port, killed on drop.
//! - [`python::StandardWebhooksReceiver`]: the official Standard Webhooks library, verifying.
//! - [`signatures`]: both signature schemes computed from their specification alone.
//!
//! The helpers every crate's tests share are in `hookline_test_support`: the loopback
//! receiver (`receiver::Receiver`), `eventually`, `TempDir` and the example plugins.

pub mod daemon;
pub mod python;
pub mod signatures;

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

/// Path of a binary of this workspace, next to the running test executable's `deps/` folder.
///
/// The README's test command builds every binary before running the tests.
pub fn bin_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current test executable");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test executable lives in <target>/<profile>/deps");
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} not found: build the binaries first (`cargo build --workspace`)",
        path.display()
    );
    path
}

/// A `Command` for the `hookline` binary.
pub fn hookline() -> Command {
    Command::new(bin_path("hookline"))
}

/// Runs `hookline` with `args`, feeding `stdin`, and returns its output.
pub fn run_hookline(args: &[&str], stdin: &[u8]) -> Output {
    use std::io::Write;
    let mut child = hookline()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn hookline");
    let written = child.stdin.take().expect("stdin is piped").write_all(stdin);
    if let Err(e) = written {
        // A command may exit without reading its input (`sign --body-file …`).
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "write stdin: {e}");
    }
    child.wait_with_output().expect("wait for hookline")
}

/// Runs `hookline` with `args` on a blocking thread (so receivers in the test's runtime keep
/// answering) and returns its exit code, stdout and stderr.
pub async fn run_hookline_async(args: Vec<String>) -> (Option<i32>, String, String) {
    tokio::task::spawn_blocking(move || {
        let mut cmd = hookline();
        cmd.args(&args).stdin(Stdio::null());
        daemon::clean_env(&mut cmd);
        let output = cmd.output().expect("run hookline");
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    })
    .await
    .expect("the hookline run finished")
}
