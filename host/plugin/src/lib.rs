//! WebAssembly plugins: the host side of the `hookline:plugin` world (`guest/wit/`).
//!
//! A plugin is a WebAssembly component exporting
//! `transform: func(event, webhook, config) -> outcome`. For a webhook that names one, the
//! engine calls it before signing; the host then signs and sends exactly what it returned.
//!
//! Main types:
//! - [`PluginRuntime`]: one Wasmtime engine (Cranelift, component model, pooling allocator),
//!   the compiled-plugin caches (memory and disk), hot reload, and [`PluginRuntime::transform`].
//! - [`LoadedPlugin`]: one compiled version of one plugin file, with what
//!   `hookline plugin check` shows ([`PluginInfo`]).
//! - [`TransformInput`] in, [`TransformOutput`] (send or skip) or [`PluginError`] out. Each
//!   error variant maps to one [`ErrorKind`] (`plugin_trap`, `plugin_fuel`, …).
//! - [`PluginLimits`]: fuel, wall-clock deadline and memory cap of one call.
//! - [`PluginStats`]: calls, outcomes and time per plugin ([`PluginRuntime::stats`]).
//! - [`builtin`]: plugins built into the host, named where a file would be:
//!   `builtin:javascript` runs a webhook's inline script (`plugin_config.script`) in QuickJS,
//!   a component built from `builtin/javascript/` by `build.rs` and embedded.
//! - [`PluginRuntime::check_config`] / [`PluginRuntime::check_config_for`]: a webhook's
//!   `plugin_config` through the plugin's optional `check-config` export (world 0.2.0;
//!   plugins of 0.1.0 load too and accept everything), remembered so that a replacement file
//!   refusing a configuration in use is not used.
//!
//! ```no_run
//! use hookline_plugin::{PluginLimits, PluginRuntime, PluginRuntimeConfig, TransformInput, TransformOutput};
//!
//! let runtime = PluginRuntime::new(PluginRuntimeConfig::default()).unwrap();
//! let plugin = runtime.load("plugins/redact.wasm".as_ref()).unwrap();
//! let payload = br#"{"event":"task.completed","timestamp":"2024-01-02T03:04:05Z","resource":{"id":"t1","type":"task"},"data":{"prompt":"secret"}}"#;
//! let input = TransformInput::from_payload("evt_1", payload, "billing", "https://example.com/hook", "{}").unwrap();
//! match runtime.transform(&plugin, input, &PluginLimits::default()).unwrap() {
//!     TransformOutput::Send { body, fuel_used, .. } => println!("{} bytes, {fuel_used} fuel", body.len()),
//!     TransformOutput::Skip { reason, .. } => println!("skipped: {reason}"),
//! }
//! ```
//!
//! ## Isolation
//! - **A fresh instance per call.** Every [`PluginRuntime::transform`] creates a new `Store`
//!   and instance from the pre-linked component, and drops both afterwards: nothing a plugin
//!   keeps in memory (statics, caches) survives into the next event. The pooling allocator
//!   makes this cheap: memory slots are reused, reset copy-on-write (and, on Linux 6.7+,
//!   only the pages actually touched are reset, found with `PAGEMAP_SCAN`).
//! - **Limits per call** ([`PluginLimits`]): a fuel budget (deterministic: the same input
//!   stops at the same instruction), a wall-clock deadline enforced by epoch interruption (a
//!   background thread ticks the epoch every [`PluginRuntimeConfig::epoch_tick`] while calls
//!   are running, and parks after a second without any; an async call also yields at every
//!   tick), and a memory cap checked on every
//!   `memory.grow`. Exceeding one traps the guest; the host is unaffected.
//! - **Output is checked**: the body against the payload limit, headers with the same rules
//!   as a webhook's custom headers (never the id, timestamp, signature, content-type or
//!   transport headers), the URL must be http(s) (the sender's SSRF guard then vets it like
//!   any destination).
//! - **Logs**: the `log` import goes to `tracing` (target `hookline::plugin`, with `plugin`
//!   and `webhook` fields), at most [`MAX_LOG_LINES`] lines of [`MAX_LOG_LINE_BYTES`] bytes
//!   per call, control characters escaped; the excess is counted and reported once.
//! - **Errors say why**: a trap's message carries the tail of what the plugin wrote to
//!   stderr and its last error-level log line (where the guest SDK reports panics), e.g.
//!   ``plugin trapped: wasm trap: wasm `unreachable` instruction executed; it last logged:
//!   plugin panicked at src/lib.rs:19:13: …``.
//!
//! ## In the engine
//! The engine calls the plugin before signing, on every attempt, with the stored payload,
//! the webhook's id and URL and its `plugin_config` (`{}` when none), under the limits of
//! the `[plugins]` section (engine-wide; there are no per-webhook limits):
//! - send: the body, content type, extra headers and URL it returned are what is signed and
//!   sent (the URL through the same SSRF guard as any destination); the attempt keeps the
//!   body when it differs from the payload;
//! - skip: the delivery ends `skipped`, with one attempt holding the reason and no error;
//! - error: the delivery fails with the error's kind. Only a missed deadline is retried on
//!   the webhook's schedule ([`PluginError::is_transient`]); every other plugin error is a
//!   property of the plugin and the event, so retrying blindly would fail the same way: an
//!   operator fixes the plugin and retries the delivery. Plugin errors never count against
//!   the receiver's circuit breaker.
//!
//! ## WASI: a deny-by-default shim, not `wasmtime-wasi`
//! A plugin imports a dozen WASI 0.2 interfaces (environment, exit, stdio, streams, clocks,
//! random, filesystem, with JavaScript runtimes HTTP too) even when it never does I/O,
//! because its language runtime (Rust's standard library, wasi-libc, QuickJS,
//! StarlingMonkey, CPython) is linked against them, and most runtimes read the clock and
//! seed a generator from random bytes when they start. The host does not link
//! `wasmtime-wasi`: it defines those imports itself (`plugin/wasi.rs`), from the plugin's
//! own import list, with nothing granted that reaches outside the call:
//! - the environment, the arguments and the preopened directories are empty, the initial
//!   directory is none, no stream is a terminal;
//! - `stdout` and `stderr` are captured into a small per-call buffer (always ready, never
//!   blocking), so a panic message reaches the error of the failed delivery instead of being
//!   lost;
//! - the wall clock and the monotonic clock read the attempt's time
//!   ([`TransformInput::attempted_at_ms`], the time of its timestamp header), frozen for the
//!   call: two reads give the same instant, a sleep returns at once;
//! - `wasi:random` (random, insecure, insecure-seed) returns bytes derived from the delivery:
//!   SHA-256 in counter mode over its delivery, event and webhook ids. The same delivery gets
//!   the same bytes on every attempt (so `Math.random()` or Python's `random` work and a
//!   plugin stays a function of its input); **they are not secret**: anyone who knows the
//!   ids can compute them, so a plugin must not make keys or tokens from them;
//! - everything else (files, sockets, HTTP, `stdin`, `exit`) traps with a message naming the
//!   function. The product promises no filesystem, network or sockets, and here that holds
//!   by construction: there is no host code behind those imports at all.
//!
//! The pool is sized for what the standard toolchains produce (up to 64 core instances, 4
//! memories and 8 tables per component: the table and its costs are in `runtime.rs`), and
//! the memory cap counts every memory of a call together.
//!
//! Reasons: nothing to misconfigure (wasmtime-wasi always provides the real clocks and random bytes),
//! calls stay plain synchronous code (wasmtime-wasi's synchronous bindings block on a Tokio
//! runtime internally, which panics when called from an async task), no per-call WASI
//! context to build, and a smaller build. A plugin importing anything outside `wasi:*` and
//! the world's own `log` is refused at load time ("not a hookline plugin").
//!
//! ## Loading, caching, reloading
//! [`PluginRuntime::load`] keeps one compiled version per path in memory. Compiled artifacts
//! are also kept on disk ([`PluginRuntimeConfig::cache_dir`]), keyed by the SHA-256 of the
//! `.wasm` file and the engine's compatibility hash, so a restart does not recompile. A
//! changed file (size, modification time, inode; checked at most every
//! [`PluginRuntimeConfig::reload_check_interval`]) is hashed and, if its content changed,
//! recompiled: the next call uses it, no restart needed. If the new file cannot be loaded
//! (half-written, broken), the previous version keeps serving and the error is logged once
//! per change; write plugins atomically (`cp` to a temporary name, then `mv`).
//!
//! ## Blocking, or not
//! [`PluginRuntime::transform`] and [`PluginRuntime::load`] are synchronous: a call takes
//! tens of microseconds, but a hostile plugin may use its whole deadline and a first load
//! compiles for up to seconds. The engine calls [`PluginRuntime::transform_async`] on the
//! delivery's own task instead: the call runs on a fiber (a pooled stack per slot), and at
//! every epoch tick a call still running yields to the executor (trapping once past its
//! deadline), so a plugin holds a worker thread for at most one tick at a time, with no
//! thread hop for the common short call. Only loading goes to Tokio's blocking pool
//! (`spawn_blocking`): [`PluginRuntime::loaded`] hands out the current version without I/O
//! between the periodic checks of the file.
//!
//! [`ErrorKind`]: hookline_core::model::ErrorKind

pub mod builtin;
mod cache;
mod host;
mod input;
mod loader;
mod runtime;
mod stats;
mod wasi;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use hookline_core::transform::{
    ConfigCheckError, ConfigUser, MAX_REASON_BYTES, PluginError, PluginEvent, PluginResource,
    TransformInput, TransformOutput,
};
use hookline_core::transform::{ConfigCheckFuture, TransformFuture, Transformer};
pub use host::{MAX_LOG_LINE_BYTES, MAX_LOG_LINES};
pub use loader::{LoadedPlugin, PluginInfo};
pub use runtime::{MAX_CONCURRENT_CALLS, PluginRuntime, RuntimeError};
pub use stats::PluginStats;

/// Bindings generated from the WIT world, the one contract between host and guest: the
/// `transform-only` world, which every plugin version has. `check-config`, optional, is
/// looked up by name (`runtime.rs`).
mod bindings {
    wasmtime::component::bindgen!({
        path: "../../guest/wit",
        world: "transform-only",
    });
}

/// The name and version of the world plugins target.
pub const WORLD: &str = "hookline:plugin/plugin@0.2.0";
/// The versions of the world this host loads: 0.1.0 (no `check-config`) and 0.2.0.
pub const WORLD_VERSIONS: [&str; 2] = ["0.1.0", "0.2.0"];
/// The optional export that checks a webhook's `plugin_config` (world 0.2.0).
pub const CHECK_CONFIG_EXPORT: &str = "check-config";

/// Default fuel per call: roughly 50 ms of pure computation on a current x86 core, enough
/// to parse, reshape and re-serialise a JSON payload of a few MiB. Fuel is counted in
/// WebAssembly instructions, so running out is deterministic, and an endless loop runs out
/// of fuel before it reaches the default deadline.
pub const DEFAULT_FUEL: u64 = 100_000_000;
/// Default wall-clock deadline per call. A plugin that exhausts its fuel stops before this
/// on an idle machine; the deadline bounds what fuel does not count (a loaded machine, page
/// faults while memory grows).
pub const DEFAULT_DEADLINE: Duration = Duration::from_millis(100);
/// Default memory cap per call: 64 MiB of linear memory.
pub const DEFAULT_MEMORY_BYTES: usize = 64 << 20;

/// The limits of one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PluginLimits {
    /// Fuel (roughly, WebAssembly instructions) the call may burn: [`DEFAULT_FUEL`].
    pub fuel: u64,
    /// Wall-clock time the call may take, instantiation included: [`DEFAULT_DEADLINE`].
    pub deadline: Duration,
    /// Linear memory the instance may grow to, all of its memories together:
    /// [`DEFAULT_MEMORY_BYTES`]. At most
    /// [`PluginRuntimeConfig::max_memory_bytes`].
    pub memory_bytes: usize,
}

impl Default for PluginLimits {
    fn default() -> Self {
        PluginLimits {
            fuel: DEFAULT_FUEL,
            deadline: DEFAULT_DEADLINE,
            memory_bytes: DEFAULT_MEMORY_BYTES,
        }
    }
}

/// How a [`PluginRuntime`] is built. The daemon fills it from `[plugins]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginRuntimeConfig {
    /// The limits calls get unless the caller passes others.
    pub limits: PluginLimits,
    /// The largest memory cap a call may ask for: the size of one memory slot of the pool.
    /// Raised to `limits.memory_bytes` when smaller.
    pub max_memory_bytes: usize,
    /// Calls running at once at most (one pooled instance slot each, at most
    /// [`MAX_CONCURRENT_CALLS`]); further calls wait for a slot. The daemon uses
    /// `[delivery] workers`: plugins run inside a worker slot.
    pub max_concurrent_calls: u32,
    /// Largest body a plugin may return, in bytes (`[delivery] max_payload_bytes`).
    pub max_body_bytes: usize,
    /// Where compiled plugins are kept across restarts; `None` keeps them in memory only.
    /// Created (mode 0700) if missing; a directory others can write to is not used.
    pub cache_dir: Option<PathBuf>,
    /// How often a loaded plugin's file is checked for changes (a `stat`). Zero checks on
    /// every call.
    pub reload_check_interval: Duration,
    /// Granularity of deadlines: the epoch ticks this often while calls run.
    pub epoch_tick: Duration,
}

impl Default for PluginRuntimeConfig {
    fn default() -> Self {
        PluginRuntimeConfig {
            limits: PluginLimits::default(),
            max_memory_bytes: DEFAULT_MEMORY_BYTES,
            max_concurrent_calls: 16,
            max_body_bytes: hookline_core::rules::DEFAULT_MAX_PAYLOAD_BYTES,
            cache_dir: None,
            reload_check_interval: Duration::from_millis(200),
            epoch_tick: Duration::from_millis(5),
        }
    }
}

/// The engine's view of the runtime: loads the plugin at `path` if needed (on Tokio's blocking
/// pool: a first load compiles), then calls it under the runtime's default limits on the
/// caller's task ([`PluginRuntime::transform_async`]).
impl Transformer for PluginRuntime {
    fn transform(self: Arc<Self>, path: &Path, input: TransformInput) -> TransformFuture {
        let path = path.to_path_buf();
        Box::pin(async move {
            let plugin = match self.loaded(&path) {
                Some(plugin) => plugin,
                None => {
                    let runtime = Arc::clone(&self);
                    tokio::task::spawn_blocking(move || runtime.load(&path))
                        .await
                        .unwrap_or_else(|e| {
                            Err(PluginError::Trap {
                                message: format!("loading the plugin failed on the host: {e}"),
                            })
                        })?
                }
            };
            self.transform_async(&plugin, input, self.default_limits())
                .await
        })
    }

    /// [`PluginRuntime::stats`].
    fn stats(&self) -> Vec<PluginStats> {
        PluginRuntime::stats(self)
    }

    /// [`PluginRuntime::check_config_for`] on Tokio's blocking pool (it may compile).
    fn check_config(
        self: Arc<Self>,
        path: &Path,
        user: ConfigUser,
        config: String,
    ) -> ConfigCheckFuture {
        let path = path.to_path_buf();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || self.check_config_for(&path, user, &config))
                .await
                .unwrap_or_else(|e| {
                    Err(ConfigCheckError::Plugin(PluginError::Trap {
                        message: format!("checking the config failed on the host: {e}"),
                    }))
                })
        })
    }
}

/// Cuts `s` to at most `max` bytes at a character boundary, marking the cut with `…`.
pub(crate) fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max.saturating_sub('…'.len_utf8());
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_respects_characters() {
        assert_eq!(truncate("short".into(), 10), "short");
        let cut = truncate("ééééé".into(), 6);
        assert!(cut.len() <= 6, "{cut}");
        assert!(cut.ends_with('…'));
    }
}
