//! Logging through the host: each line lands in the host's log, tagged with the plugin and
//! the delivery.
//!
//! ```
//! use hookline_guest::log;
//!
//! log::info("transforming");
//! log::warn(format!("unknown risk level `{}`", "extreme"));
//! ```
//!
//! In a WebAssembly build these call the world's `log` import. Natively (your unit tests)
//! they write to standard error, which the test harness captures, and keep the lines in a
//! per-thread buffer that [`take_captured`] hands to tests.

use std::fmt;

/// How important a log line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Detail for debugging a plugin.
    Debug,
    /// Normal operation.
    Info,
    /// Something unexpected that the plugin handled.
    Warn,
    /// Something failed.
    Error,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Error => "error",
        })
    }
}

/// Writes `message` to the host's log at `level`.
pub fn log(level: Level, message: impl AsRef<str>) {
    write(level, message.as_ref());
}

/// Writes `message` to the host's log at [`Level::Debug`].
pub fn debug(message: impl AsRef<str>) {
    write(Level::Debug, message.as_ref());
}

/// Writes `message` to the host's log at [`Level::Info`].
pub fn info(message: impl AsRef<str>) {
    write(Level::Info, message.as_ref());
}

/// Writes `message` to the host's log at [`Level::Warn`].
pub fn warn(message: impl AsRef<str>) {
    write(Level::Warn, message.as_ref());
}

/// Writes `message` to the host's log at [`Level::Error`].
pub fn error(message: impl AsRef<str>) {
    write(Level::Error, message.as_ref());
}

#[cfg(target_arch = "wasm32")]
fn write(level: Level, message: &str) {
    use crate::__private::bindings::hookline::plugin::types::Level as Wit;
    let level = match level {
        Level::Debug => Wit::Debug,
        Level::Info => Wit::Info,
        Level::Warn => Wit::Warn,
        Level::Error => Wit::Error,
    };
    crate::__private::bindings::log(level, message);
}

#[cfg(not(target_arch = "wasm32"))]
thread_local! {
    static CAPTURED: std::cell::RefCell<Vec<(Level, String)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

#[cfg(not(target_arch = "wasm32"))]
fn write(level: Level, message: &str) {
    eprintln!("[plugin {level}] {message}");
    CAPTURED.with_borrow_mut(|lines| lines.push((level, message.to_owned())));
}

/// Native builds only: the lines logged so far on this thread, oldest first, emptying the
/// buffer. Each test runs on its own thread, so a test sees only its own lines.
///
/// ```
/// use hookline_guest::log::{self, Level};
///
/// log::warn("careful");
/// assert_eq!(log::take_captured(), vec![(Level::Warn, "careful".to_owned())]);
/// assert!(log::take_captured().is_empty());
/// ```
#[cfg(not(target_arch = "wasm32"))]
pub fn take_captured() -> Vec<(Level, String)> {
    CAPTURED.with_borrow_mut(std::mem::take)
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[test]
    fn lines_are_captured_in_order_per_thread() {
        debug("a");
        info(String::from("b"));
        warn("c");
        error("d");
        log(Level::Info, "e");
        assert_eq!(
            take_captured(),
            vec![
                (Level::Debug, "a".into()),
                (Level::Info, "b".into()),
                (Level::Warn, "c".into()),
                (Level::Error, "d".into()),
                (Level::Info, "e".into()),
            ]
        );
        std::thread::spawn(|| info("elsewhere")).join().unwrap();
        assert!(take_captured().is_empty());
        assert_eq!(Level::Warn.to_string(), "warn");
        assert!(Level::Debug < Level::Error);
    }
}
