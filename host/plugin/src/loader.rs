//! Compiling, linking and caching plugins; noticing when their files change.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, HasSelf, Linker};

use super::bindings::{TransformOnly, TransformOnlyPre};
use super::builtin;
use super::cache::DiskCache;
use super::host::HostState;
use super::stats::{CallCounters, PluginStats};
use super::{CHECK_CONFIG_EXPORT, PluginError, WORLD, WORLD_VERSIONS, wasi};

/// The interface holding the world's types; its version is the contract's version.
const TYPES_INTERFACE: &str = "hookline:plugin/types";

/// What a plugin is, as `hookline plugin check` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginInfo {
    /// The world it was built for: [`WORLD`], or `hookline:plugin/plugin@0.1.0` for a
    /// plugin importing the 0.1.0 types.
    pub world: &'static str,
    /// Its imports, by name (`log`, `wasi:cli/stderr@0.2.6`, …).
    pub imports: Vec<String>,
    /// Its exports, by name (`transform`, `check-config`).
    pub exports: Vec<String>,
    /// Whether it exports `check-config` (world 0.2.0), so the host can check a webhook's
    /// `plugin_config` before any delivery.
    pub checks_config: bool,
}

/// One compiled, linked version of a plugin file, ready to instantiate.
pub struct LoadedPlugin {
    path: PathBuf,
    label: Arc<str>,
    sha256: [u8; 32],
    size: u64,
    info: PluginInfo,
    compile_time: Duration,
    from_disk_cache: bool,
    pub(super) pre: TransformOnlyPre<HostState>,
    /// Shared by every version of the same path.
    pub(super) counters: Arc<CallCounters>,
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("path", &self.path)
            .field("sha256", &self.sha256_hex())
            .field("size", &self.size)
            .field("from_disk_cache", &self.from_disk_cache)
            .finish_non_exhaustive()
    }
}

impl LoadedPlugin {
    /// The file it was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The path as shown in logs.
    pub(super) fn label(&self) -> &Arc<str> {
        &self.label
    }

    /// SHA-256 of the `.wasm` file, hex.
    pub fn sha256_hex(&self) -> String {
        hex::encode(self.sha256)
    }

    /// Size of the `.wasm` file in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// World, imports and exports.
    pub fn info(&self) -> &PluginInfo {
        &self.info
    }

    /// How long compiling (or reading from the disk cache) and linking took.
    pub fn compile_time(&self) -> Duration {
        self.compile_time
    }

    /// Whether the compiled code came from the disk cache instead of the compiler.
    pub fn from_disk_cache(&self) -> bool {
        self.from_disk_cache
    }
}

/// Identifies a version of a file without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fingerprint {
    len: u64,
    modified: Option<SystemTime>,
    inode: u64,
    changed: i64,
}

impl Fingerprint {
    fn of(meta: &std::fs::Metadata) -> Fingerprint {
        #[cfg(unix)]
        let (inode, changed) = {
            use std::os::unix::fs::MetadataExt;
            (meta.ino(), meta.ctime_nsec() + meta.ctime() * 1_000_000_000)
        };
        #[cfg(not(unix))]
        let (inode, changed) = (0, 0);
        Fingerprint {
            len: meta.len(),
            modified: meta.modified().ok(),
            inode,
            changed,
        }
    }
}

/// One plugin path: its current version and what was last seen on disk.
#[derive(Default)]
struct Slot {
    counters: Arc<CallCounters>,
    state: Mutex<SlotState>,
    /// Held while (re)compiling, so one caller compiles and the others wait or keep the old
    /// version.
    reload: Mutex<()>,
}

#[derive(Default)]
struct SlotState {
    current: Option<Arc<LoadedPlugin>>,
    /// The file's fingerprint when it was last looked at.
    seen: Option<Fingerprint>,
    checked_at: Option<Instant>,
    /// The error of the version `seen`, when it could not be loaded.
    failed: Option<PluginError>,
}

/// Compiled plugins by path, with the disk cache behind them.
pub(super) struct Loader {
    engine: Engine,
    disk: Option<DiskCache>,
    interval: Duration,
    slots: RwLock<HashMap<PathBuf, Arc<Slot>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Loader {
    pub(super) fn new(engine: Engine, disk: Option<DiskCache>, interval: Duration) -> Loader {
        Loader {
            engine,
            disk,
            interval,
            slots: RwLock::new(HashMap::new()),
        }
    }

    pub(super) fn has_disk_cache(&self) -> bool {
        self.disk.is_some()
    }

    fn slot(&self, path: &Path) -> Arc<Slot> {
        if let Some(slot) = self
            .slots
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(path)
        {
            return slot.clone();
        }
        self.slots
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .entry(path.to_owned())
            .or_default()
            .clone()
    }

    /// The current version of the plugin at `path`, loading or reloading it as needed. A
    /// new version replacing a loaded one is used only if `accept` takes it (the
    /// configurations in use pass its `check-config`); otherwise the previous one stays.
    pub(super) fn load(
        &self,
        path: &Path,
        accept: &dyn Fn(&LoadedPlugin) -> Result<(), PluginError>,
    ) -> Result<Arc<LoadedPlugin>, PluginError> {
        let slot = self.slot(path);
        let loaded = self.load_slot(&slot, path, accept);
        if loaded.is_err() {
            slot.counters.load_failed();
        }
        loaded
    }

    /// The current version of `path`, if it was checked within the interval (no I/O).
    pub(super) fn loaded(&self, path: &Path) -> Option<Arc<LoadedPlugin>> {
        let slot = self
            .slots
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(path)?
            .clone();
        let state = lock(&slot.state);
        // A built-in plugin's bytes are part of the binary: never stale.
        let fresh = builtin::component(path).is_some()
            || state
                .checked_at
                .is_some_and(|at| at.elapsed() < self.interval);
        if fresh { state.current.clone() } else { None }
    }

    /// Every plugin path used so far, with its counters.
    pub(super) fn stats(&self) -> Vec<PluginStats> {
        let slots = self.slots.read().unwrap_or_else(|e| e.into_inner());
        let mut stats: Vec<PluginStats> = slots
            .iter()
            .map(|(path, slot)| {
                let sha256 = lock(&slot.state).current.as_ref().map(|p| p.sha256_hex());
                slot.counters.snapshot(path.display().to_string(), sha256)
            })
            .collect();
        stats.sort_by(|a, b| a.plugin.cmp(&b.plugin));
        stats
    }

    fn load_slot(
        &self,
        slot: &Slot,
        path: &Path,
        accept: &dyn Fn(&LoadedPlugin) -> Result<(), PluginError>,
    ) -> Result<Arc<LoadedPlugin>, PluginError> {
        if let Some(bytes) = builtin::component(path) {
            return self.load_builtin(slot, path, bytes);
        }
        if let Some(message) = path.to_str().and_then(builtin::unknown_builtin) {
            return Err(load_error(path, message));
        }
        let current = {
            let mut state = lock(&slot.state);
            let fresh = state
                .checked_at
                .is_some_and(|at| at.elapsed() < self.interval);
            if fresh {
                if let Some(current) = &state.current {
                    return Ok(current.clone());
                }
                if let Some(e) = &state.failed {
                    return Err(e.clone());
                }
            }
            state.checked_at = Some(Instant::now());
            state.current.clone()
        };

        let fingerprint = match std::fs::metadata(path) {
            Ok(meta) => Fingerprint::of(&meta),
            Err(e) => {
                let error = load_error(path, format!("cannot read the file: {e}"));
                return self.keep_or_fail(slot, current, None, error);
            }
        };
        {
            let state = lock(&slot.state);
            if state.seen == Some(fingerprint) {
                if let Some(current) = &state.current {
                    return Ok(current.clone());
                }
                if let Some(e) = &state.failed {
                    return Err(e.clone());
                }
            }
        }

        // Changed (or never loaded): one caller recompiles; with a version in hand, the others
        // keep using it meanwhile.
        let _reloading = match (&current, slot.reload.try_lock()) {
            (_, Ok(guard)) => guard,
            (Some(current), Err(_)) => return Ok(current.clone()),
            (None, Err(_)) => lock(&slot.reload),
        };
        {
            // Someone else may have finished the same work while we waited.
            let state = lock(&slot.state);
            if state.seen == Some(fingerprint) {
                if let Some(current) = &state.current {
                    return Ok(current.clone());
                }
                if let Some(e) = &state.failed {
                    return Err(e.clone());
                }
            }
        }
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) => {
                let error = load_error(path, format!("cannot read the file: {e}"));
                return self.keep_or_fail(slot, current, Some(fingerprint), error);
            }
        };
        let sha256: [u8; 32] = Sha256::digest(&bytes).into();
        if let Some(current) = &current
            && current.sha256 == sha256
        {
            // Touched, copied over with the same content: nothing to do.
            let mut state = lock(&slot.state);
            state.seen = Some(fingerprint);
            state.failed = None;
            return Ok(current.clone());
        }
        let compiled = self
            .compile(path, &bytes, sha256, slot.counters.clone())
            .and_then(|plugin| match &current {
                Some(_) => accept(&plugin).map(|()| plugin),
                None => Ok(plugin),
            });
        match compiled {
            Ok(plugin) => {
                let plugin = Arc::new(plugin);
                if current.is_some() {
                    tracing::info!(
                        plugin = %path.display(),
                        sha256 = %plugin.sha256_hex(),
                        "plugin file changed; the new version is in use"
                    );
                }
                let mut state = lock(&slot.state);
                state.current = Some(plugin.clone());
                state.seen = Some(fingerprint);
                state.failed = None;
                Ok(plugin)
            }
            Err(error) => self.keep_or_fail(slot, current, Some(fingerprint), error),
        }
    }

    /// A built-in plugin: compiled (or read from the disk cache) once, then kept; there is no
    /// file to watch.
    fn load_builtin(
        &self,
        slot: &Slot,
        path: &Path,
        bytes: &'static [u8],
    ) -> Result<Arc<LoadedPlugin>, PluginError> {
        if let Some(current) = lock(&slot.state).current.clone() {
            return Ok(current);
        }
        let _compiling = lock(&slot.reload);
        if let Some(current) = lock(&slot.state).current.clone() {
            return Ok(current);
        }
        let sha256: [u8; 32] = Sha256::digest(bytes).into();
        let plugin = Arc::new(self.compile(path, bytes, sha256, slot.counters.clone())?);
        let mut state = lock(&slot.state);
        state.current = Some(plugin.clone());
        state.checked_at = Some(Instant::now());
        state.failed = None;
        Ok(plugin)
    }

    /// After a failed (re)load: keep serving the previous version if there is one (logging
    /// the error once per file version), else fail.
    fn keep_or_fail(
        &self,
        slot: &Slot,
        current: Option<Arc<LoadedPlugin>>,
        fingerprint: Option<Fingerprint>,
        error: PluginError,
    ) -> Result<Arc<LoadedPlugin>, PluginError> {
        let mut state = lock(&slot.state);
        let first_time = state.seen != fingerprint || state.failed.is_none();
        state.seen = fingerprint;
        state.failed = Some(error.clone());
        match current {
            Some(current) => {
                if first_time {
                    tracing::error!(
                        error = %error,
                        "plugin file cannot be loaded; the previously loaded version stays in use"
                    );
                }
                Ok(current)
            }
            None => Err(error),
        }
    }

    /// Compiles (or reads from the disk cache), links and checks one plugin.
    pub(super) fn compile(
        &self,
        path: &Path,
        bytes: &[u8],
        sha256: [u8; 32],
        counters: Arc<CallCounters>,
    ) -> Result<LoadedPlugin, PluginError> {
        let started = Instant::now();
        if let Some(kind) = not_a_component(bytes) {
            return Err(not_a_plugin(path, kind));
        }
        let cached = self
            .disk
            .as_ref()
            .and_then(|d| d.get(&self.engine, &sha256));
        let from_disk_cache = cached.is_some();
        let component = match cached {
            Some(component) => component,
            None => {
                let component = Component::new(&self.engine, bytes)
                    .map_err(|e| not_a_plugin(path, &format!("it does not compile: {e:#}")))?;
                if let Some(disk) = &self.disk {
                    disk.put(&sha256, &component);
                }
                component
            }
        };

        let ty = component.component_type();
        let imports: Vec<String> = ty
            .imports(&self.engine)
            .map(|(n, _)| n.to_owned())
            .collect();
        let exports: Vec<String> = ty
            .exports(&self.engine)
            .map(|(n, _)| n.to_owned())
            .collect();
        let known = |name: &str| {
            name.strip_prefix(TYPES_INTERFACE)
                .and_then(|v| v.strip_prefix('@'))
                .is_some_and(|v| WORLD_VERSIONS.contains(&v))
        };
        if let Some(other) = imports
            .iter()
            .find(|n| n.starts_with("hookline:plugin/") && !known(n))
        {
            return Err(not_a_plugin(
                path,
                &format!(
                    "it was built for `{other}`, and this host loads `{WORLD}` and the \
                     versions {} of its types",
                    WORLD_VERSIONS.join(", ")
                ),
            ));
        }
        match ty.get_export(&self.engine, "transform").map(|e| e.ty) {
            Some(ComponentItem::ComponentFunc(_)) => {}
            _ => {
                return Err(not_a_plugin(
                    path,
                    &format!(
                        "it does not export the `transform` function of `{WORLD}` (its exports: {})",
                        list(&exports)
                    ),
                ));
            }
        }

        let checks_config = match ty
            .get_export(&self.engine, CHECK_CONFIG_EXPORT)
            .map(|e| e.ty)
        {
            None => false,
            Some(ComponentItem::ComponentFunc(_)) => true,
            Some(_) => {
                return Err(not_a_plugin(
                    path,
                    &format!("its `{CHECK_CONFIG_EXPORT}` export is not a function"),
                ));
            }
        };

        let mut linker: Linker<HostState> = Linker::new(&self.engine);
        TransformOnly::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |state| state)
            .map_err(|e| load_error(path, format!("cannot link: {e:#}")))?;
        // The types interface of every version this host loads: types only, nothing to
        // define, but the name must exist (the bindings define the current version's;
        // re-opening it is allowed).
        for version in WORLD_VERSIONS {
            linker
                .instance(&format!("{TYPES_INTERFACE}@{version}"))
                .map_err(|e| load_error(path, format!("cannot link: {e:#}")))?;
        }
        wasi::link(&mut linker, &self.engine, &component).map_err(|m| not_a_plugin(path, &m))?;
        let instance_pre = linker
            .instantiate_pre(&component)
            .map_err(|e| not_a_plugin(path, &format!("{e:#}")))?;
        let pre = TransformOnlyPre::new(instance_pre)
            .map_err(|e| not_a_plugin(path, &format!("{e:#}")))?;
        let label: Arc<str> = Arc::from(path.display().to_string());
        Ok(LoadedPlugin {
            path: path.to_owned(),
            label,
            sha256,
            size: bytes.len() as u64,
            info: PluginInfo {
                world: if imports.iter().any(|n| n == "hookline:plugin/types@0.1.0") {
                    "hookline:plugin/plugin@0.1.0"
                } else {
                    WORLD
                },
                imports,
                exports,
                checks_config,
            },
            compile_time: started.elapsed(),
            from_disk_cache,
            pre,
            counters,
        })
    }
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

fn load_error(path: &Path, message: String) -> PluginError {
    PluginError::Load {
        path: path.to_owned(),
        message,
    }
}

fn not_a_plugin(path: &Path, why: &str) -> PluginError {
    load_error(path, format!("not a hookline plugin: {why}"))
}

/// Why `bytes` is not a WebAssembly component, if it is not one.
fn not_a_component(bytes: &[u8]) -> Option<&'static str> {
    const COMPONENT_LAYER: [u8; 4] = [0x0d, 0x00, 0x01, 0x00];
    const CORE_MODULE: [u8; 4] = [0x01, 0x00, 0x00, 0x00];
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Some("it is not WebAssembly (no `\\0asm` header)");
    }
    if bytes[4..8] == CORE_MODULE {
        return Some(
            "it is a core WebAssembly module, not a component (build it with \
             `--target wasm32-wasip2`)",
        );
    }
    if bytes[4..8] != COMPONENT_LAYER {
        return Some("it is a WebAssembly binary of an unknown version");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_tell_modules_and_components_apart() {
        assert!(
            not_a_component(b"hello")
                .unwrap()
                .contains("not WebAssembly")
        );
        assert!(
            not_a_component(b"\0asm\x01\0\0\0")
                .unwrap()
                .contains("core WebAssembly module")
        );
        assert_eq!(not_a_component(b"\0asm\x0d\0\x01\0rest"), None);
    }
}
