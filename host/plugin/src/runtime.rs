//! The Wasmtime engine, the epoch ticker, the call gate, and one call from start to finish.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, OptLevel, PoolingAllocationConfig, Store,
    Trap, UpdateDeadline,
};

use super::bindings::hookline::plugin::types::Outcome;
use super::cache::DiskCache;
use super::host::{HostState, sanitize};
use super::loader::{LoadedPlugin, Loader};
use super::stats::CallCost;
use super::wasi::WasiAnswers;
use super::{
    CHECK_CONFIG_EXPORT, ConfigCheckError, ConfigUser, MAX_REASON_BYTES, PluginError, PluginLimits,
    PluginRuntimeConfig, PluginStats, TransformInput, TransformOutput, truncate,
};

/// Pooled instance slots at most. Each slot reserves address space for its memories (4 GiB
/// each, so that bounds checks are done by guard pages instead of code); more concurrent
/// calls than this wait for a slot.
pub const MAX_CONCURRENT_CALLS: u32 = 128;
/// Headers a plugin may add at most.
const MAX_PLUGIN_HEADERS: usize = 64;
/// Longest URL or content type a plugin may return.
const MAX_URL_BYTES: usize = 4096;
const MAX_CONTENT_TYPE_BYTES: usize = 256;
/// Core module instances per component. What the standard toolchains produce, counted
/// (core modules instantiated, per component):
///
/// | toolchain | core instances | memories | tables |
/// |---|---:|---:|---:|
/// | Rust `wasm32-wasip2`, C (wasi-libc + `wasm-component-ld`) | 3-4 | 1 | 1-2 |
/// | JavaScript: ComponentizeJS 0.23 (StarlingMonkey) | 4 | 1 | 2 |
/// | JavaScript: componentize-qjs 0.4 `--sync` (`--stub-wasi`) | 8 (11) | 2 (3) | 2 (3) |
/// | Python: componentize-py 0.25 (`--stub-wasi`) | 14 (38) | 1 | 2 |
///
/// A core instance costs nothing until it exists (its state is allocated on
/// instantiation), so the limit only needs headroom: CPython with native extensions adds a
/// module per library.
const MAX_CORE_INSTANCES_PER_COMPONENT: u32 = 64;
/// Memories per component. Each memory slot of the pool reserves address space for the
/// largest memory plus a guard (about 4 GiB on 64-bit hosts; reserved, not resident), so
/// the pool reserves `slots × 4 × 4 GiB`: 64 GiB for the daemon's default 4 workers, 2 TiB
/// at the most 128 slots, of the 128 TiB a Linux process may map (it was half that with 2). Resident memory grows only with use: each slot
/// used keeps at most [`KEEP_RESIDENT_BYTES`] per memory.
const MAX_MEMORIES_PER_COMPONENT: u32 = 4;
/// Tables per component. A table slot is `20_000` elements of 8 bytes, mapped but untouched
/// until used: `slots × 8 × 160 KiB` of address space.
const MAX_TABLES_PER_COMPONENT: u32 = 8;
/// Linear memory kept resident (reset with `memset`, or only the touched pages with
/// `PAGEMAP_SCAN`) instead of being returned to the kernel when a slot is freed: a small
/// plugin's whole working set, so the next call takes no page faults.
const KEEP_RESIDENT_BYTES: usize = 2 << 20;
const TABLE_KEEP_RESIDENT_BYTES: usize = 64 << 10;
/// Guest stack: plugins transform one payload; deep recursion is a bug.
const MAX_WASM_STACK: usize = 512 << 10;
/// The stack of one async call (one per slot, from the pool): the guest's, plus room for
/// the host functions it calls (the WASI shim, `log`). Not zeroed between calls: it only
/// ever holds host and guest frames of calls that are over, never readable by a guest.
const ASYNC_STACK: usize = MAX_WASM_STACK + (512 << 10);

/// The runtime could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot start the plugin runtime: {0}")]
pub struct RuntimeError(String);

/// Runs plugins. One per process; cheap to share behind an `Arc`.
pub struct PluginRuntime {
    engine: Engine,
    cfg: PluginRuntimeConfig,
    loader: Loader,
    gate: Gate,
    ticker: Ticker,
    /// The configurations accepted by [`PluginRuntime::check_config_for`], by webhook id: a
    /// new version of their plugin file must accept them too.
    users: Mutex<HashMap<String, ConfigInUse>>,
}

/// A `plugin_config` in use, and where it was written.
#[derive(Debug, Clone)]
struct ConfigInUse {
    path: PathBuf,
    config: String,
    origin: String,
}

impl std::fmt::Debug for PluginRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginRuntime")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

impl PluginRuntime {
    /// Builds the engine (Cranelift, fuel, epoch interruption, pooling allocator sized for
    /// `cfg.max_concurrent_calls`), opens the disk cache and starts the epoch ticker.
    ///
    /// A disk cache that cannot be used (not creatable, writable by others) is logged and
    /// skipped: plugins still work, compiled in memory.
    pub fn new(mut cfg: PluginRuntimeConfig) -> Result<PluginRuntime, RuntimeError> {
        cfg.max_memory_bytes = cfg.max_memory_bytes.max(cfg.limits.memory_bytes);
        cfg.max_concurrent_calls = cfg.max_concurrent_calls.clamp(1, MAX_CONCURRENT_CALLS);
        if cfg.epoch_tick.is_zero() {
            cfg.epoch_tick = Duration::from_millis(1);
        }
        let slots = cfg.max_concurrent_calls;

        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(slots)
            .total_core_instances(slots.saturating_mul(MAX_CORE_INSTANCES_PER_COMPONENT))
            .max_core_instances_per_component(MAX_CORE_INSTANCES_PER_COMPONENT)
            .total_memories(slots.saturating_mul(MAX_MEMORIES_PER_COMPONENT))
            .max_memories_per_component(MAX_MEMORIES_PER_COMPONENT)
            .total_tables(slots.saturating_mul(MAX_TABLES_PER_COMPONENT))
            .max_tables_per_component(MAX_TABLES_PER_COMPONENT)
            .max_memory_size(cfg.max_memory_bytes)
            .linear_memory_keep_resident(KEEP_RESIDENT_BYTES)
            .table_keep_resident(TABLE_KEEP_RESIDENT_BYTES)
            .total_stacks(slots)
            .pagemap_scan(Enabled::Auto);

        let mut config = Config::new();
        config
            .consume_fuel(true)
            .epoch_interruption(true)
            .max_wasm_stack(MAX_WASM_STACK)
            .async_stack_size(ASYNC_STACK)
            .cranelift_opt_level(OptLevel::Speed)
            .parallel_compilation(true)
            .memory_init_cow(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config).map_err(|e| RuntimeError(format!("{e:#}")))?;

        let disk = cfg
            .cache_dir
            .as_deref()
            .and_then(|dir| match DiskCache::open(dir, &engine) {
                Ok(cache) => Some(cache),
                Err(e) => {
                    tracing::warn!(error = %e, "compiled plugins will not be cached on disk");
                    None
                }
            });
        let loader = Loader::new(engine.clone(), disk, cfg.reload_check_interval);
        let ticker = Ticker::start(engine.clone(), cfg.epoch_tick)?;
        Ok(PluginRuntime {
            gate: Gate::new(slots),
            engine,
            loader,
            ticker,
            cfg,
            users: Mutex::new(HashMap::new()),
        })
    }

    /// The configuration in force (after adjustments: see [`PluginRuntimeConfig`]).
    pub fn config(&self) -> &PluginRuntimeConfig {
        &self.cfg
    }

    /// The limits calls get by default.
    pub fn default_limits(&self) -> &PluginLimits {
        &self.cfg.limits
    }

    /// Calls and outcomes of every plugin used so far, by path.
    pub fn stats(&self) -> Vec<PluginStats> {
        self.loader.stats()
    }

    /// Whether compiled plugins are kept on disk.
    pub fn has_disk_cache(&self) -> bool {
        self.loader.has_disk_cache()
    }

    /// The current version of the plugin at `path`: compiled on first use (or read from the
    /// disk cache), then kept; recompiled when the file's content changes. Checks that it
    /// targets the `hookline:plugin` world: a component that does not is refused with
    /// [`PluginError::Load`] ("not a hookline plugin: …").
    ///
    /// Blocking: reads the file and may compile for up to seconds.
    ///
    /// A new version replacing a loaded one must accept every `plugin_config` checked with
    /// [`PluginRuntime::check_config_for`] for this path; if one is refused, the previous
    /// version stays in use and the error, naming the webhook and where its configuration
    /// was written, is logged (once per file version).
    pub fn load(&self, path: &Path) -> Result<Arc<LoadedPlugin>, PluginError> {
        self.loader
            .load(path, &|plugin| self.check_users(path, plugin))
    }

    /// Checks `config` with `plugin`'s `check-config` export, in a fresh instance under the
    /// default limits. A plugin without one (world 0.1.0) accepts everything.
    ///
    /// Blocking, like [`PluginRuntime::transform`].
    pub fn check_config(
        &self,
        plugin: &LoadedPlugin,
        config: &str,
    ) -> Result<(), ConfigCheckError> {
        if !plugin.info().checks_config {
            return Ok(());
        }
        let limits = self.cfg.limits;
        let _slot = self.gate.enter();
        let _ticking = self.ticker.enter();
        let input = TransformInput {
            config: config.to_owned(),
            ..TransformInput::default()
        };
        let (mut store, memory_cap) = self
            .store(plugin, &input, &limits)
            .map_err(ConfigCheckError::Plugin)?;
        store.set_epoch_deadline(self.deadline_ticks(limits.deadline));
        store.epoch_deadline_trap();
        let started = Instant::now();
        let result = plugin
            .pre
            .instance_pre()
            .instantiate(&mut store)
            .and_then(|instance| {
                let check = instance.get_typed_func::<(&str,), (Result<(), String>,)>(
                    &mut store,
                    CHECK_CONFIG_EXPORT,
                )?;
                let (verdict,) = check.call(&mut store, (config,))?;
                Ok(verdict)
            });
        let state = store.data();
        state.log.finish();
        match result {
            Ok(Ok(())) => Ok(()),
            Ok(Err(message)) => Err(ConfigCheckError::Refused(sanitize(&truncate(
                message,
                MAX_REASON_BYTES,
            )))),
            Err(error) => {
                tracing::debug!(
                    plugin = %plugin.label(),
                    elapsed_us = started.elapsed().as_micros() as u64,
                    "check-config failed"
                );
                Err(ConfigCheckError::Plugin(classify(
                    &error, state, &limits, memory_cap,
                )))
            }
        }
    }

    /// Loads the plugin at `path` and checks `config` with it
    /// ([`PluginRuntime::check_config`]); when it is accepted, remembers `user`, so that a
    /// new version of the file must accept it too before it replaces the loaded one.
    ///
    /// Blocking: may compile the plugin.
    pub fn check_config_for(
        &self,
        path: &Path,
        user: ConfigUser,
        config: &str,
    ) -> Result<(), ConfigCheckError> {
        let plugin = self.load(path).map_err(ConfigCheckError::Plugin)?;
        self.check_config(&plugin, config)?;
        let mut users = self.users.lock().unwrap_or_else(|e| e.into_inner());
        users.insert(
            user.webhook_id.clone(),
            ConfigInUse {
                path: path.to_owned(),
                config: config.to_owned(),
                origin: user.origin,
            },
        );
        Ok(())
    }

    /// Whether a new version of `path` accepts every configuration in use with it.
    fn check_users(&self, path: &Path, plugin: &LoadedPlugin) -> Result<(), PluginError> {
        if !plugin.info().checks_config {
            return Ok(());
        }
        let users: Vec<(String, ConfigInUse)> = {
            let users = self.users.lock().unwrap_or_else(|e| e.into_inner());
            users
                .iter()
                .filter(|(_, u)| u.path == path)
                .map(|(id, u)| (id.clone(), u.clone()))
                .collect()
        };
        for (webhook, user) in users {
            let why = match self.check_config(plugin, &user.config) {
                Ok(()) => continue,
                Err(ConfigCheckError::Refused(message)) => format!("refuses it: {message}"),
                Err(ConfigCheckError::Plugin(error)) => format!("cannot check it: {error}"),
            };
            return Err(PluginError::Load {
                path: path.to_owned(),
                message: format!(
                    "the new version (sha256 {}) is not used: the `plugin_config` of webhook \
                     `{webhook}`, {}, no longer passes its check-config: it {why}",
                    plugin.sha256_hex(),
                    user.origin
                ),
            });
        }
        Ok(())
    }

    /// The version of the plugin at `path` in memory, if its file was checked within
    /// [`PluginRuntimeConfig::reload_check_interval`]: no I/O, so async code may call it and
    /// fall back to [`PluginRuntime::load`] on a blocking thread when it returns `None`.
    pub fn loaded(&self, path: &Path) -> Option<Arc<LoadedPlugin>> {
        self.loader.loaded(path)
    }

    /// Compiles `path` afresh, bypassing the memory cache (the disk cache still applies):
    /// what `hookline plugin check` measures.
    pub fn compile_uncached(&self, path: &Path) -> Result<LoadedPlugin, PluginError> {
        let bytes = match crate::builtin::component(path) {
            Some(bytes) => bytes.to_vec(),
            None => std::fs::read(path).map_err(|e| PluginError::Load {
                path: path.to_owned(),
                message: format!("cannot read the file: {e}"),
            })?,
        };
        use sha2::Digest;
        let sha256: [u8; 32] = sha2::Sha256::digest(&bytes).into();
        self.loader.compile(path, &bytes, sha256, Arc::default())
    }

    /// Runs `plugin` on `input` in a fresh instance, within `limits` (the memory cap is
    /// bounded by [`PluginRuntimeConfig::max_memory_bytes`]).
    ///
    /// Blocking: typically tens of microseconds, at most about `limits.deadline`; waits for
    /// a free slot when [`PluginRuntimeConfig::max_concurrent_calls`] calls are running. From
    /// async code, use [`PluginRuntime::transform_async`].
    pub fn transform(
        &self,
        plugin: &LoadedPlugin,
        input: TransformInput,
        limits: &PluginLimits,
    ) -> Result<TransformOutput, PluginError> {
        let _slot = self.gate.enter();
        let _ticking = self.ticker.enter();
        let started = Instant::now();
        let (mut store, memory_cap) = self.store(plugin, &input, limits)?;
        store.set_epoch_deadline(self.deadline_ticks(limits.deadline));
        store.epoch_deadline_trap();
        let (event, target, config) = super::input::into_wit(input);
        let mut instantiated = None;
        let result = plugin.pre.instantiate(&mut store).and_then(|instance| {
            instantiated = Some(started.elapsed());
            instance.call_transform(&mut store, &event, &target, &config)
        });
        self.finish(
            plugin,
            &store,
            result,
            (started, instantiated),
            limits,
            memory_cap,
        )
    }

    /// [`PluginRuntime::transform`] for async callers: the call runs on the calling task
    /// (no thread hop), on a fiber of its own. At every epoch tick a call that is still
    /// running yields to the executor, so even a plugin that spends its whole budget holds
    /// a worker thread for at most one tick at a time; past `limits.deadline` it traps.
    ///
    /// Waits (asynchronously) for a free slot when
    /// [`PluginRuntimeConfig::max_concurrent_calls`] calls are running.
    pub async fn transform_async(
        &self,
        plugin: &LoadedPlugin,
        input: TransformInput,
        limits: &PluginLimits,
    ) -> Result<TransformOutput, PluginError> {
        let _slot = self.gate.enter_async().await;
        let _ticking = self.ticker.enter();
        let started = Instant::now();
        let (mut store, memory_cap) = self.store(plugin, &input, limits)?;
        // Called at every tick: yield to the executor, or trap once the deadline passed.
        // Measured on the clock rather than counted in ticks, as time spent yielded counts.
        let deadline = limits.deadline;
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            Ok(if started.elapsed() >= deadline {
                UpdateDeadline::Interrupt
            } else {
                UpdateDeadline::Yield(1)
            })
        });
        let (event, target, config) = super::input::into_wit(input);
        let mut instantiated = None;
        let result = async {
            let instance = plugin.pre.instantiate_async(&mut store).await?;
            instantiated = Some(started.elapsed());
            let (outcome,) = instance
                .func_transform()
                .call_async(&mut store, (&event, &target, &config))
                .await?;
            Ok(outcome)
        }
        .await;
        self.finish(
            plugin,
            &store,
            result,
            (started, instantiated),
            limits,
            memory_cap,
        )
    }

    /// A fresh store for one call of `plugin` on `input`, with its fuel, memory cap and
    /// WASI answers (the attempt's time, the delivery's random stream).
    fn store(
        &self,
        plugin: &LoadedPlugin,
        input: &TransformInput,
        limits: &PluginLimits,
    ) -> Result<(Store<HostState>, usize), PluginError> {
        let memory_cap = limits.memory_bytes.min(self.cfg.max_memory_bytes);
        let mut store = Store::new(
            &self.engine,
            HostState::new(
                memory_cap,
                plugin.label().clone(),
                Arc::from(input.webhook_id.as_str()),
                WasiAnswers::for_call(input),
            ),
        );
        store.limiter(|state| &mut state.limiter);
        store.set_fuel(limits.fuel).map_err(|e| PluginError::Trap {
            message: format!("cannot set fuel: {e}"),
        })?;
        Ok((store, memory_cap))
    }

    /// Turns what the call returned into its output or error, and counts it (with the call's
    /// start and, if it got that far, how long instantiation took).
    fn finish(
        &self,
        plugin: &LoadedPlugin,
        store: &Store<HostState>,
        result: wasmtime::Result<Outcome>,
        (started, instantiated): (Instant, Option<Duration>),
        limits: &PluginLimits,
        memory_cap: usize,
    ) -> Result<TransformOutput, PluginError> {
        let duration = started.elapsed();
        let fuel_used = limits.fuel.saturating_sub(store.get_fuel().unwrap_or(0));
        let state = store.data();
        state.log.finish();
        let result = match result {
            Ok(outcome) => {
                if let Some(output) = state.captured() {
                    tracing::debug!(
                        target: "hookline::plugin",
                        plugin = %plugin.label(),
                        output = %output,
                        "plugin wrote to stdout/stderr"
                    );
                }
                check_outcome(outcome, fuel_used, duration, self.cfg.max_body_bytes)
            }
            Err(error) => Err(classify(&error, state, limits, memory_cap)),
        };
        plugin.counters.record(
            &result,
            CallCost {
                took: duration,
                instantiated,
                fuel: fuel_used,
                memory_bytes: state.limiter.total as u64,
            },
        );
        result
    }

    /// Epoch ticks for `deadline`: rounded up, plus one for the tick already under way.
    fn deadline_ticks(&self, deadline: Duration) -> u64 {
        let tick = self.cfg.epoch_tick.as_nanos().max(1);
        let ticks = deadline.as_nanos().div_ceil(tick);
        u64::try_from(ticks).unwrap_or(u64::MAX - 1).max(1) + 1
    }
}

/// Turns a failed call into the error its cause deserves.
fn classify(
    error: &wasmtime::Error,
    state: &HostState,
    limits: &PluginLimits,
    memory_cap: usize,
) -> PluginError {
    if let Some(requested) = state.limiter.denied {
        return PluginError::Memory {
            limit_bytes: memory_cap,
            requested_bytes: requested,
        };
    }
    let message = match error.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => {
            return PluginError::Fuel {
                budget: limits.fuel,
            };
        }
        Some(Trap::Interrupt) => {
            return PluginError::Deadline {
                limit: limits.deadline,
            };
        }
        Some(trap) => trap.to_string(),
        None => error.root_cause().to_string(),
    };
    let mut message = message;
    if let Some(output) = state.captured() {
        message.push_str("; the plugin wrote: ");
        message.push_str(&output);
    }
    if let Some(line) = &state.log.last_error {
        message.push_str("; it last logged: ");
        message.push_str(line);
    }
    PluginError::Trap {
        message: truncate(message, 2 * MAX_REASON_BYTES + 64),
    }
}

/// Checks what the plugin returned; malformed output is [`PluginError::Output`].
fn check_outcome(
    outcome: Outcome,
    fuel_used: u64,
    duration: Duration,
    max_body: usize,
) -> Result<TransformOutput, PluginError> {
    let request = match outcome {
        Outcome::Send(request) => request,
        Outcome::Skip(reason) => {
            return Ok(TransformOutput::Skip {
                reason: sanitize(&truncate(reason, MAX_REASON_BYTES)),
                fuel_used,
                duration,
            });
        }
        Outcome::Fail(message) => {
            return Err(PluginError::output(format!(
                "plugin failed: {}",
                sanitize(&truncate(message, MAX_REASON_BYTES))
            )));
        }
    };
    if request.body.len() > max_body {
        return Err(PluginError::output(format!(
            "plugin returned a body of {} bytes, over the {max_body} byte payload limit",
            request.body.len()
        )));
    }
    if let Some(ct) = &request.content_type {
        let valid = !ct.trim().is_empty()
            && ct.len() <= MAX_CONTENT_TYPE_BYTES
            && http::HeaderValue::from_str(ct).is_ok();
        if !valid {
            return Err(PluginError::output(format!(
                "plugin returned an invalid content type `{}`",
                sanitize(&truncate(ct.clone(), 64))
            )));
        }
    }
    if request.headers.len() > MAX_PLUGIN_HEADERS {
        return Err(PluginError::output(format!(
            "plugin returned {} headers, more than the {MAX_PLUGIN_HEADERS} allowed",
            request.headers.len()
        )));
    }
    for (name, value) in &request.headers {
        hookline_core::rules::validate_custom_header(name, value).map_err(|reason| {
            PluginError::output(format!(
                "plugin returned a header that cannot be sent: {}",
                sanitize(&truncate(reason, MAX_REASON_BYTES))
            ))
        })?;
    }
    if let Some(url) = &request.url {
        check_url(url)?;
    }
    Ok(TransformOutput::Send {
        body: Bytes::from(request.body),
        content_type: request.content_type,
        headers: request.headers,
        url: request.url,
        fuel_used,
        duration,
    })
}

fn check_url(url: &str) -> Result<(), PluginError> {
    let bad = |why: &str| {
        PluginError::output(format!(
            "plugin returned the URL `{}`, which {why}",
            sanitize(&truncate(url.to_owned(), 128))
        ))
    };
    if url.len() > MAX_URL_BYTES {
        return Err(bad("is too long"));
    }
    let parsed = url::Url::parse(url).map_err(|_| bad("is not a valid URL"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(bad("is not http or https"));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(bad("has no host"));
    }
    Ok(())
}

/// Bounds calls in flight to the pool's instance slots; further calls wait, blocking
/// ([`Gate::enter`]) or asynchronously ([`Gate::enter_async`]).
struct Gate {
    slots: Mutex<GateState>,
    freed: Condvar,
    freed_async: tokio::sync::Notify,
}

struct GateState {
    free: u32,
    waiting: u32,
    waiting_async: u32,
}

struct GateSlot<'a>(&'a Gate);

impl Gate {
    fn new(slots: u32) -> Gate {
        Gate {
            slots: Mutex::new(GateState {
                free: slots,
                waiting: 0,
                waiting_async: 0,
            }),
            freed: Condvar::new(),
            freed_async: tokio::sync::Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, GateState> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn enter(&self) -> GateSlot<'_> {
        let mut state = self.lock();
        while state.free == 0 {
            state.waiting += 1;
            state = self.freed.wait(state).unwrap_or_else(|e| e.into_inner());
            state.waiting -= 1;
        }
        state.free -= 1;
        GateSlot(self)
    }

    async fn enter_async(&self) -> GateSlot<'_> {
        loop {
            let notified = self.freed_async.notified();
            tokio::pin!(notified);
            {
                let mut state = self.lock();
                if state.free > 0 {
                    state.free -= 1;
                    return GateSlot(self);
                }
                // Registered before the lock is released: a slot freed from now on wakes us.
                notified.as_mut().enable();
                state.waiting_async += 1;
            }
            let _waiting = WaitingAsync(self);
            notified.await;
        }
    }
}

/// Counts one async waiter while it waits (also when its future is dropped).
struct WaitingAsync<'a>(&'a Gate);

impl Drop for WaitingAsync<'_> {
    fn drop(&mut self) {
        self.0.lock().waiting_async -= 1;
    }
}

impl Drop for GateSlot<'_> {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.free += 1;
        // Waking is a system call: only when someone waits. A waiter that loses the slot
        // to another waits again, and is woken by the next release.
        if state.waiting > 0 {
            self.0.freed.notify_one();
        }
        if state.waiting_async > 0 {
            self.0.freed_async.notify_one();
        }
    }
}

/// Increments the engine's epoch every tick while calls run. After [`IDLE_TICKS`] ticks
/// without a call it parks, so an idle daemon does not wake up for it; under steady
/// traffic it keeps ticking, so a call costs no wake-up.
struct Ticker {
    shared: Arc<TickerShared>,
    thread: Option<JoinHandle<()>>,
}

/// Ticks without a call before the ticker parks (a second at the default tick).
const IDLE_TICKS: u32 = 200;

struct TickerShared {
    active: AtomicUsize,
    parked: AtomicBool,
    stop: AtomicBool,
}

struct Ticking<'a>(&'a Ticker);

impl Ticker {
    fn start(engine: Engine, tick: Duration) -> Result<Ticker, RuntimeError> {
        let shared = Arc::new(TickerShared {
            active: AtomicUsize::new(0),
            parked: AtomicBool::new(false),
            stop: AtomicBool::new(false),
        });
        let state = shared.clone();
        let thread = std::thread::Builder::new()
            .name("hookline-plugin-epoch".into())
            .spawn(move || {
                // Start parked: no call yet.
                let mut idle = IDLE_TICKS;
                while !state.stop.load(Ordering::SeqCst) {
                    if idle >= IDLE_TICKS {
                        // Announce the park, then look again: a call that started before
                        // it saw `parked` false and did not wake us, so we must see it.
                        state.parked.store(true, Ordering::SeqCst);
                        if state.active.load(Ordering::SeqCst) == 0
                            && !state.stop.load(Ordering::SeqCst)
                        {
                            std::thread::park();
                        }
                        state.parked.store(false, Ordering::SeqCst);
                        idle = 0;
                        continue;
                    }
                    std::thread::sleep(tick);
                    engine.increment_epoch();
                    if state.active.load(Ordering::SeqCst) == 0 {
                        idle += 1;
                    } else {
                        idle = 0;
                    }
                }
            })
            .map_err(|e| RuntimeError(format!("cannot start the epoch thread: {e}")))?;
        Ok(Ticker {
            shared,
            thread: Some(thread),
        })
    }

    fn enter(&self) -> Ticking<'_> {
        self.shared.active.fetch_add(1, Ordering::SeqCst);
        if self.shared.parked.load(Ordering::SeqCst)
            && let Some(thread) = &self.thread
        {
            thread.thread().unpark();
        }
        Ticking(self)
    }
}

impl Drop for Ticking<'_> {
    fn drop(&mut self) {
        self.0.shared.active.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::bindings::hookline::plugin::types::Request;
    use super::*;

    fn send(request: Request) -> Result<TransformOutput, PluginError> {
        check_outcome(Outcome::Send(request), 7, Duration::from_micros(3), 100)
    }

    fn request() -> Request {
        Request {
            body: b"{}".to_vec(),
            content_type: None,
            headers: vec![("X-Team".into(), "billing".into())],
            url: None,
        }
    }

    #[test]
    fn good_output_passes() {
        let out = send(Request {
            content_type: Some("text/plain; charset=utf-8".into()),
            url: Some("https://hooks.example.com/x".into()),
            ..request()
        })
        .unwrap();
        match out {
            TransformOutput::Send {
                body,
                content_type,
                headers,
                url,
                fuel_used,
                ..
            } => {
                assert_eq!(&body[..], b"{}");
                assert_eq!(content_type.as_deref(), Some("text/plain; charset=utf-8"));
                assert_eq!(headers.len(), 1);
                assert_eq!(url.as_deref(), Some("https://hooks.example.com/x"));
                assert_eq!(fuel_used, 7);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn malformed_output_is_refused() {
        let cases = [
            (
                Request {
                    body: vec![b'x'; 101],
                    ..request()
                },
                "over the 100 byte payload limit",
            ),
            (
                Request {
                    headers: vec![("X-Webhook-Signature".into(), "forged".into())],
                    ..request()
                },
                "cannot be overridden",
            ),
            (
                Request {
                    headers: vec![("X-Ok".into(), "line\nbreak".into())],
                    ..request()
                },
                "not allowed in a header",
            ),
            (
                Request {
                    headers: vec![("bad name".into(), "v".into())],
                    ..request()
                },
                "not a valid HTTP header name",
            ),
            (
                Request {
                    content_type: Some("text/plain\r\nX-Injected: 1".into()),
                    ..request()
                },
                "invalid content type",
            ),
            (
                Request {
                    url: Some("file:///etc/passwd".into()),
                    ..request()
                },
                "not http or https",
            ),
            (
                Request {
                    url: Some("not a url".into()),
                    ..request()
                },
                "not a valid URL",
            ),
            (
                Request {
                    headers: (0..65).map(|i| (format!("x-h{i}"), "v".into())).collect(),
                    ..request()
                },
                "more than the 64 allowed",
            ),
        ];
        for (request, expected) in cases {
            let err = send(request).unwrap_err();
            assert_eq!(err.kind(), hookline_core::model::ErrorKind::PluginOutput);
            assert!(err.to_string().contains(expected), "{err}");
        }
    }

    #[test]
    fn fail_and_skip_carry_the_plugins_words() {
        let err =
            check_outcome(Outcome::Fail("no\nway".into()), 0, Duration::ZERO, 10).unwrap_err();
        assert_eq!(err.to_string(), "plugin failed: no\\nway");
        let skip = check_outcome(Outcome::Skip("x".repeat(5000)), 1, Duration::ZERO, 10).unwrap();
        match skip {
            TransformOutput::Skip { reason, .. } => assert!(reason.len() <= MAX_REASON_BYTES),
            other => panic!("{other:?}"),
        }
    }
}
