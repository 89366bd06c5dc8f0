//! The example plugins, built once per test binary from the `plugins/` workspace into
//! `<target>/wasm-plugins` (a target dir of its own, so the outer cargo's lock is not held).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

fn target_dir() -> PathBuf {
    // <target>/<profile>/deps/<test binary>
    let exe = std::env::current_exe().expect("current test executable");
    exe.ancestors()
        .nth(3)
        .expect("test executable lives in <target>/<profile>/deps")
        .to_path_buf()
}

/// Where built plugins and their compiled-code cache live.
pub fn wasm_target_dir() -> PathBuf {
    target_dir().join("wasm-plugins")
}

/// The plugin cache shared by every test run (compiling a plugin in a debug build takes
/// seconds; the cache is keyed by content and engine, so sharing it is safe).
pub fn shared_cache_dir() -> PathBuf {
    wasm_target_dir().join("hookline-plugin-cache")
}

fn build() -> &'static Path {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let built = BUILT.get_or_init(|| {
        let dir = wasm_target_dir();
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join("plugins")
            .join("Cargo.toml");
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

/// The `.wasm` of the example plugin `name` (`redact`, `cloudevents`, …), built if needed.
pub fn plugin(name: &str) -> PathBuf {
    let path = build().join(format!("{}.wasm", name.replace('-', "_")));
    assert!(path.is_file(), "{} was not built", path.display());
    path
}
