//! Hookline's fuzz targets, one plain function per target, each taking the fuzzer's bytes.
//!
//! Every function must return normally on any input; a panic is a finding. Besides "does not
//! panic", each asserts properties of what it parses: round trips, a naive reimplementation
//! agreeing with the real one (differential), a tampered signature failing.
//!
//! The cargo-fuzz crate in `tests/fuzz/` wraps each in a `fuzz_target!`; `tests/corpus.rs`
//! replays every committed corpus file through its function as an ordinary test, so CI runs
//! them without cargo-fuzz or a nightly compiler.

mod event;
mod header;
mod pattern;
mod query;
mod signature;

pub use event::event;
pub use header::plugin_header;
pub use pattern::pattern;
pub use query::query;
pub use signature::signature;

/// A fuzz target: takes any bytes, panics only on a finding.
pub type Target = fn(&[u8]);

/// Every target by name (the name of its corpus directory and of its `fuzz_target!`).
pub const TARGETS: &[(&str, Target)] = &[
    ("signature", signature),
    ("pattern", pattern),
    ("event", event),
    ("plugin_header", plugin_header),
    ("query", query),
];

/// Splits `data` at NUL bytes into at most `n` parts (the last keeps any further NULs), each
/// read as UTF-8 with invalid sequences replaced; missing parts are empty.
fn fields(data: &[u8], n: usize) -> Vec<String> {
    let mut parts: Vec<String> = data
        .splitn(n, |b| *b == 0)
        .map(|part| String::from_utf8_lossy(part).into_owned())
        .collect();
    parts.resize(n, String::new());
    parts
}
