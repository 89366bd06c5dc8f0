//! Where the example plugins of `plugins/` are found once built, for the commands that use
//! one without being told where it is (`hookline demo`, `hookline bench`).

use std::path::PathBuf;

/// Where the redact plugin was looked for, and whether it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginStatus {
    /// Found (or given) at this path.
    Found(PathBuf),
    /// Not found at any of these paths.
    Missing(Vec<PathBuf>),
}

impl PluginStatus {
    /// The path, when found.
    pub fn found(self) -> Option<PathBuf> {
        match self {
            PluginStatus::Found(path) => Some(path),
            PluginStatus::Missing(_) => None,
        }
    }
}

/// The places `cargo build --release --target wasm32-wasip2 --manifest-path plugins/Cargo.toml`
/// leaves the redact example, relative to the working directory (and under
/// `CARGO_TARGET_DIR` when set, where the tests build it: `<target>/wasm-plugins`); the
/// first that exists (made absolute), or every candidate.
pub fn find_redact_plugin() -> PluginStatus {
    let mut candidates = vec![PathBuf::from(
        "plugins/target/wasm32-wasip2/release/redact.wasm",
    )];
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        let dir = PathBuf::from(dir);
        candidates.push(dir.join("wasm-plugins/wasm32-wasip2/release/redact.wasm"));
        candidates.push(dir.join("wasm32-wasip2/release/redact.wasm"));
    }
    match candidates.iter().find(|p| p.is_file()) {
        Some(p) => PluginStatus::Found(std::path::absolute(p).unwrap_or_else(|_| p.clone())),
        None => PluginStatus::Missing(candidates),
    }
}
