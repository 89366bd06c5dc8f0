//! Helpers for the end-to-end tests: locating the real binaries built by
//! `cargo build --workspace`, running them, and waiting for conditions with deadlines.

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
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(stdin)
        .expect("write stdin");
    child.wait_with_output().expect("wait for hookline")
}
