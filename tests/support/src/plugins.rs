//! The plugins of `plugins/` (a cargo workspace of its own), built once per process for
//! `wasm32-wasip2` into `<target>/wasm-plugins`: a target directory of its own, so the
//! outer cargo's lock is not held while it builds.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The workspace's root directory (this crate sits at `tests/support`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("the crate sits two levels below the workspace root")
        .to_path_buf()
}

/// The outer build's target directory: `CARGO_TARGET_DIR` when set, else found from the
/// running executable (`<target>/<profile>/deps/<binary>`).
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if Path::new(&dir).is_absolute() => PathBuf::from(dir),
        Some(dir) => workspace_root().join(dir),
        None => std::env::current_exe()
            .ok()
            .and_then(|exe| exe.ancestors().nth(3).map(Path::to_path_buf))
            .unwrap_or_else(|| workspace_root().join("target")),
    }
}

/// Where the plugins are built, and their compiled-code cache lives.
pub fn wasm_target_dir() -> PathBuf {
    target_dir().join("wasm-plugins")
}

/// The plugin cache shared by every test run (compiling a plugin in a debug build takes
/// seconds; the cache is keyed by content and engine, so sharing it is safe).
pub fn shared_cache_dir() -> PathBuf {
    wasm_target_dir().join("hookline-plugin-cache")
}

/// Builds `plugins/` once per process (`cargo build --release --target wasm32-wasip2
/// --manifest-path plugins/Cargo.toml`); returns the directory of the `.wasm` files.
fn build() -> &'static Path {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let built = BUILT.get_or_init(|| {
        let dir = wasm_target_dir();
        let manifest = workspace_root().join("plugins").join("Cargo.toml");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let output = Command::new(cargo)
            .args([
                "build",
                "--release",
                "--target",
                "wasm32-wasip2",
                "--manifest-path",
            ])
            .arg(&manifest)
            .env("CARGO_TARGET_DIR", &dir)
            .output()
            .map_err(|e| format!("running cargo: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "building the plugins failed ({}):\n{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        Ok(dir.join("wasm32-wasip2").join("release"))
    });
    match built {
        Ok(dir) => dir,
        Err(e) => panic!("{e}"),
    }
}

/// The `.wasm` of the plugin crate `name` (`redact`, `cloudevents`, `hostile-loop`, …),
/// built if needed.
pub fn plugin(name: &str) -> PathBuf {
    let path = build().join(format!("{}.wasm", name.replace('-', "_")));
    assert!(path.is_file(), "{} was not built", path.display());
    path
}
