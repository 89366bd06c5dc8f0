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

/// The languages of the example plugins besides Rust, each built by its SDK's build script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// `plugins/js/NAME/NAME.js`, built by `guest/js/build.sh` (componentize-qjs).
    JavaScript,
    /// `plugins/c/NAME/NAME.c`, built by `guest/c/build.sh` (wit-bindgen c, clang-16,
    /// wasi-libc, wasm-component-ld).
    C,
    /// `plugins/py/NAME/NAME.py`, built by `guest/py/build.sh` (componentize-py).
    Python,
}

impl Lang {
    fn dir(self) -> &'static str {
        match self {
            Lang::JavaScript => "js",
            Lang::C => "c",
            Lang::Python => "py",
        }
    }
}

/// The example plugin `name` in `lang`, built once per process into
/// `<target>/wasm-plugins/<lang>/NAME.wasm`. A missing toolchain fails the test with the
/// build script's word on what to install (`.ci/run` installs them): never a silent skip.
pub fn plugin_in(lang: Lang, name: &str) -> PathBuf {
    use std::collections::HashMap;
    use std::sync::Mutex;
    static BUILT: OnceLock<Mutex<HashMap<(&'static str, String), PathBuf>>> = OnceLock::new();
    let built = BUILT.get_or_init(Mutex::default);
    let mut built = built.lock().unwrap_or_else(|e| e.into_inner());
    let key = (lang.dir(), name.to_owned());
    if let Some(path) = built.get(&key) {
        return path.clone();
    }
    let root = workspace_root();
    let out_dir = wasm_target_dir().join(lang.dir());
    std::fs::create_dir_all(&out_dir).expect("create the plugin output directory");
    let out = out_dir.join(format!("{name}.wasm"));
    let mut cmd = match lang {
        Lang::JavaScript => {
            let mut cmd = Command::new(root.join("guest/js/build.sh"));
            cmd.arg(root.join(format!("plugins/js/{name}/{name}.js")))
                .arg(&out);
            cmd
        }
        Lang::C => {
            let mut cmd = Command::new(root.join("guest/c/build.sh"));
            cmd.arg(&out)
                .arg(root.join(format!("plugins/c/{name}/{name}.c")));
            cmd
        }
        Lang::Python => {
            let mut cmd = Command::new(root.join("guest/py/build.sh"));
            cmd.arg(root.join(format!("plugins/py/{name}")))
                .arg(name)
                .arg(&out);
            cmd
        }
    };
    // Where `.ci/run` installs the toolchains that are not Debian packages.
    if let Some(home) = std::env::var_os("HOME") {
        let tools = Path::new(&home).join(".cache/hookline-toolchains/cargo/bin");
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut dirs = vec![tools];
        dirs.extend(std::env::split_paths(&path));
        if let Ok(joined) = std::env::join_paths(dirs) {
            cmd.env("PATH", joined);
        }
    }
    let output = cmd
        .output()
        .unwrap_or_else(|e| panic!("running the {lang:?} build: {e}"));
    assert!(
        output.status.success(),
        "building the {lang:?} plugin `{name}` failed ({}); install the toolchain as .ci/run \
         does:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(out.is_file(), "{} was not built", out.display());
    built.insert(key, out.clone());
    out
}
