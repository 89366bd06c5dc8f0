//! The host side of one call: the store's data, the memory limiter, the `log` import and
//! the captured stdout/stderr.

use std::sync::Arc;

use wasmtime::ResourceLimiter;

use super::bindings::TransformOnlyImports;
use super::bindings::hookline::plugin::types::{Host as TypesHost, Level};
use super::wasi::WasiAnswers;

/// Lines a plugin may log per call; the rest are counted and reported in one warning.
pub const MAX_LOG_LINES: u32 = 32;
/// A logged line is cut to this many bytes.
pub const MAX_LOG_LINE_BYTES: usize = 1024;
/// The last this-many bytes a plugin wrote to stdout/stderr are kept (for trap messages).
pub(super) const MAX_CAPTURED_OUTPUT: usize = 2048;
/// Table elements an instance may grow to (function tables of ordinary plugins hold a few
/// hundred entries, CPython's about 10,000).
const MAX_TABLE_ELEMENTS: usize = 100_000;
/// Core instances, tables and memories per store: at least the pool's per-component limits
/// (`runtime.rs`), which are what binds.
const MAX_INSTANCES: usize = 128;
const MAX_TABLES: usize = 64;
const MAX_MEMORIES: usize = 8;

/// The data of one call's `Store`.
pub(super) struct HostState {
    pub(super) limiter: Limiter,
    pub(super) log: LogSink,
    /// What the plugin wrote to stdout and stderr (the tail).
    pub(super) output: Vec<u8>,
    /// The WASI shim's clock and random answers for this call.
    pub(super) answers: WasiAnswers,
}

impl HostState {
    pub(super) fn new(
        memory_cap: usize,
        plugin: Arc<str>,
        webhook: Arc<str>,
        answers: WasiAnswers,
    ) -> HostState {
        HostState {
            limiter: Limiter {
                memory_cap,
                total: 0,
                denied: None,
            },
            log: LogSink {
                plugin,
                webhook,
                lines: 0,
                dropped: 0,
                last_error: None,
            },
            output: Vec::new(),
            answers,
        }
    }

    /// Appends to the captured output, keeping its tail.
    pub(super) fn capture(&mut self, bytes: &[u8]) {
        let bytes = &bytes[bytes.len().saturating_sub(MAX_CAPTURED_OUTPUT)..];
        self.output.extend_from_slice(bytes);
        if self.output.len() > 2 * MAX_CAPTURED_OUTPUT {
            let cut = self.output.len() - MAX_CAPTURED_OUTPUT;
            self.output.drain(..cut);
        }
    }

    /// The captured output on one line, lossily decoded, without Rust's backtrace hint
    /// (`None` when empty).
    pub(super) fn captured(&self) -> Option<String> {
        let tail = &self.output[self.output.len().saturating_sub(MAX_CAPTURED_OUTPUT)..];
        let text = String::from_utf8_lossy(tail);
        let lines: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("note: run with `RUST_BACKTRACE"))
            .collect();
        (!lines.is_empty()).then(|| sanitize(&lines.join(" ")))
    }
}

/// Caps the linear memory of a call, all of its memories together (a component built by a
/// JavaScript or Python toolchain has several); remembers a refused growth so the error says
/// "memory", not "trap".
pub(super) struct Limiter {
    memory_cap: usize,
    /// The bytes of every memory of the call so far (creation counts as growth from zero).
    pub(super) total: usize,
    /// The total a refused growth asked for.
    pub(super) denied: Option<usize>,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = self.total.saturating_add(desired.saturating_sub(current));
        if total > self.memory_cap {
            self.denied = Some(total);
            // An error (not `Ok(false)`) traps at once: the guest's allocator would otherwise
            // abort with a less precise trap, or worse, carry on without the memory.
            wasmtime::bail!("memory cap of {} bytes reached", self.memory_cap);
        }
        self.total = total;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }
}

/// Routes the `log` import to `tracing`, bounded per call.
pub(super) struct LogSink {
    plugin: Arc<str>,
    webhook: Arc<str>,
    lines: u32,
    dropped: u32,
    /// The last line logged at error level (even past the limit): a trap's likely cause,
    /// e.g. the SDK's panic message.
    pub(super) last_error: Option<String>,
}

impl LogSink {
    /// Reports lines dropped over the per-call limit, once, at the end of the call.
    pub(super) fn finish(&self) {
        if self.dropped > 0 {
            tracing::warn!(
                target: "hookline::plugin",
                plugin = %self.plugin,
                webhook = %self.webhook,
                dropped = self.dropped,
                "plugin logged more than {MAX_LOG_LINES} lines in one call; the rest were dropped"
            );
        }
    }
}

/// The `types` interface has no functions.
impl TypesHost for HostState {}

impl TransformOnlyImports for HostState {
    fn log(&mut self, level: Level, message: String) {
        let sink = &mut self.log;
        if level == Level::Error {
            // On one line: it ends up in an error message.
            let line = message.replace(['\r', '\n'], " ");
            sink.last_error = Some(sanitize(&super::truncate(line, MAX_LOG_LINE_BYTES)));
        }
        if sink.lines >= MAX_LOG_LINES {
            sink.dropped = sink.dropped.saturating_add(1);
            return;
        }
        sink.lines += 1;
        let message = sanitize(&super::truncate(message, MAX_LOG_LINE_BYTES));
        let (plugin, webhook) = (&*sink.plugin, &*sink.webhook);
        match level {
            Level::Debug => {
                tracing::debug!(target: "hookline::plugin", plugin, webhook, "{message}")
            }
            Level::Info => tracing::info!(target: "hookline::plugin", plugin, webhook, "{message}"),
            Level::Warn => tracing::warn!(target: "hookline::plugin", plugin, webhook, "{message}"),
            Level::Error => {
                tracing::error!(target: "hookline::plugin", plugin, webhook, "{message}")
            }
        }
    }
}

/// Escapes control characters (line breaks included), so a plugin cannot forge log lines.
pub(super) fn sanitize(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> HostState {
        let input = hookline_core::transform::TransformInput::default();
        HostState::new(
            1 << 20,
            "p.wasm".into(),
            "hook".into(),
            WasiAnswers::for_call(&input),
        )
    }

    #[test]
    fn logs_are_bounded_per_call() {
        let mut s = state();
        for i in 0..(MAX_LOG_LINES + 5) {
            s.log(Level::Debug, format!("line {i}"));
        }
        assert_eq!(s.log.lines, MAX_LOG_LINES);
        assert_eq!(s.log.dropped, 5);
        assert_eq!(s.log.last_error, None);
        s.log(
            Level::Error,
            "plugin panicked at src/lib.rs:1:1:\nboom".into(),
        );
        assert_eq!(
            s.log.last_error.as_deref(),
            Some("plugin panicked at src/lib.rs:1:1: boom")
        );
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(
            sanitize("a\nforged line\u{1b}[31m"),
            "a\\nforged line\\u{1b}[31m"
        );
        assert_eq!(sanitize("plain é"), "plain é");
    }

    #[test]
    fn captured_output_keeps_the_tail() {
        let mut s = state();
        assert_eq!(s.captured(), None);
        for _ in 0..100 {
            s.capture(&[b'x'; 100]);
        }
        s.capture(b"panicked at src/lib.rs:1:1:\nboom\nnote: run with `RUST_BACKTRACE=1` for a backtrace\n");
        let text = s.captured().unwrap();
        assert!(text.ends_with("panicked at src/lib.rs:1:1: boom"), "{text}");
        assert!(text.len() <= MAX_CAPTURED_OUTPUT + 8);
    }

    #[test]
    fn memory_growth_past_the_cap_is_refused_and_remembered() {
        let mut s = state();
        assert!(s.limiter.memory_growing(0, 1 << 20, None).unwrap());
        assert!(
            s.limiter
                .memory_growing(1 << 20, (1 << 20) + 1, None)
                .is_err()
        );
        assert_eq!(s.limiter.denied, Some((1 << 20) + 1));
    }

    #[test]
    fn the_cap_counts_every_memory_of_the_call() {
        let mut s = state();
        // Two memories created at 256 KiB each, then the first grows to 768 KiB: 1 MiB in all.
        assert!(s.limiter.memory_growing(0, 256 << 10, None).unwrap());
        assert!(s.limiter.memory_growing(0, 256 << 10, None).unwrap());
        assert!(
            s.limiter
                .memory_growing(256 << 10, 768 << 10, None)
                .unwrap()
        );
        // One more page of either is over.
        assert!(
            s.limiter
                .memory_growing(256 << 10, (256 << 10) + 65536, None)
                .is_err()
        );
        assert_eq!(s.limiter.denied, Some((1 << 20) + 65536));
    }
}
