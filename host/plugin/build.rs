//! Builds the built-in plugins the host embeds (`src/builtin.rs`): today `builtin:javascript`,
//! the component in `builtin/javascript/` (QuickJS running a webhook's inline script).
//!
//! A nested `cargo build --release --target wasm32-wasip2` of that crate (a workspace of its
//! own) into `<target>/builtin-plugins`, a target dir of its own so the outer cargo's lock is
//! not held, and shared by every profile of the outer build. Cargo reruns this script only
//! when the guest's sources (or the SDK and contract it builds on) change, and the nested
//! cargo is itself incremental, so an outer build that touches none of them costs nothing.
//!
//! `HOOKLINE_BUILTIN_JAVASCRIPT_WASM=FILE` embeds a prebuilt component instead (no nested
//! build, no C toolchain).
//!
//! QuickJS is C. Its build (`rquickjs-sys`) wants a WASI SDK; Debian's `clang-16`,
//! `llvm-ar-16` and `wasi-libc` serve as one: this script lays out a small directory of
//! links to them (`WASI_SDK`), unless `WASI_SDK` is already set.

use std::env;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const OVERRIDE: &str = "HOOKLINE_BUILTIN_JAVASCRIPT_WASM";
const GUEST_TARGET: &str = "wasm32-wasip2";

fn main() -> ExitCode {
    match build() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: building the built-in plugin `builtin:javascript`: {message}");
            eprintln!(
                "hint: to embed a prebuilt component instead, set {OVERRIDE}=FILE (built with \
                 `cargo build --release --target {GUEST_TARGET} --manifest-path \
                 host/plugin/builtin/javascript/Cargo.toml`)"
            );
            ExitCode::FAILURE
        }
    }
}

fn build() -> Result<(), String> {
    let manifest_dir = PathBuf::from(var("CARGO_MANIFEST_DIR")?);
    let out_dir = PathBuf::from(var("OUT_DIR")?);
    let embedded = out_dir.join("javascript.wasm");
    println!("cargo::rerun-if-env-changed={OVERRIDE}");
    println!("cargo::rerun-if-env-changed=WASI_SDK");
    println!("cargo::rerun-if-changed=build.rs");

    if let Some(prebuilt) = env::var_os(OVERRIDE).filter(|v| !v.is_empty()) {
        let prebuilt = PathBuf::from(prebuilt);
        println!("cargo::rerun-if-changed={}", prebuilt.display());
        return copy_if_changed(&prebuilt, &embedded)
            .map_err(|e| format!("{OVERRIDE}={}: {e}", prebuilt.display()));
    }

    let guest = manifest_dir.join("builtin/javascript");
    let root = manifest_dir.join("../..");
    for watched in [
        guest.join("src"),
        guest.join("Cargo.toml"),
        guest.join("Cargo.lock"),
        root.join("guest/src"),
        root.join("guest/wit"),
        root.join("guest/Cargo.toml"),
        root.join("host/contract/src"),
        root.join("host/contract/Cargo.toml"),
    ] {
        println!("cargo::rerun-if-changed={}", watched.display());
    }

    let target_dir = nested_target_dir(&out_dir);
    let mut cargo = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cargo
        .arg("build")
        .arg("--release")
        .arg("--locked")
        .arg("--target")
        .arg(GUEST_TARGET)
        .arg("--manifest-path")
        .arg(guest.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir);
    // What the outer cargo tells its build scripts is not for the nested build: its rustc
    // wrapper (clippy's driver under `cargo clippy`), flags, jobserver and profile.
    for (key, _) in env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        let inherited = key.starts_with("CARGO_")
            && !matches!(key, "CARGO_HOME")
            && !key.starts_with("CARGO_NET_")
            && !key.starts_with("CARGO_HTTP_")
            && !key.starts_with("CARGO_REGISTRIES_");
        if inherited
            || matches!(
                key,
                "RUSTC_WORKSPACE_WRAPPER"
                    | "RUSTFLAGS"
                    | "TARGET"
                    | "HOST"
                    | "OUT_DIR"
                    | "OPT_LEVEL"
                    | "PROFILE"
                    | "DEBUG"
                    | "NUM_JOBS"
                    | "MAKEFLAGS"
                    | "MFLAGS"
            )
        {
            cargo.env_remove(key);
        }
    }
    if env::var_os("WASI_SDK").is_none() {
        let sdk = debian_wasi_sdk(&target_dir.join("wasi-sdk"))?;
        cargo.env("WASI_SDK", &sdk);
        cargo.env(
            "CC_wasm32_wasip2",
            env::var_os("CC_wasm32_wasip2").unwrap_or_else(|| sdk.join("bin/clang").into()),
        );
        cargo.env(
            "AR_wasm32_wasip2",
            env::var_os("AR_wasm32_wasip2").unwrap_or_else(|| sdk.join("bin/ar").into()),
        );
    }

    let output = cargo
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "the nested `cargo build --release --target {GUEST_TARGET}` of {} failed ({}):\n{}",
            guest.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let built = target_dir
        .join(GUEST_TARGET)
        .join("release/hookline_builtin_javascript.wasm");
    copy_if_changed(&built, &embedded).map_err(|e| format!("{}: {e}", built.display()))
}

fn var(name: &str) -> Result<OsString, String> {
    env::var_os(name).ok_or_else(|| format!("cargo did not set {name}"))
}

/// `<target>/builtin-plugins`, where `OUT_DIR` is `<target>/<profile>/build/<pkg>/out` (or
/// `<target>/<triple>/<profile>/…`): one nested target dir for every outer profile, so
/// `cargo build`, `cargo test` and `cargo clippy` share one guest build.
fn nested_target_dir(out_dir: &Path) -> PathBuf {
    out_dir
        .ancestors()
        .find(|p| p.file_name().is_some_and(|n| n == "build"))
        .and_then(Path::parent)
        .and_then(Path::parent)
        .map(|t| t.join("builtin-plugins"))
        .unwrap_or_else(|| out_dir.join("builtin-plugins"))
}

/// A WASI SDK layout (`bin/clang`, `bin/ar`, `share/wasi-sysroot`) made of links to
/// Debian's clang-16, llvm-ar-16 and wasi-libc, which is what `rquickjs-sys` looks for.
fn debian_wasi_sdk(dir: &Path) -> Result<PathBuf, String> {
    const HINT: &str = "apt-get install clang-16 lld-16 llvm-16 wasi-libc \
                        libclang-rt-16-dev-wasm32, or set WASI_SDK to a WASI SDK";
    let find = |names: &[&str]| -> Result<PathBuf, String> {
        names
            .iter()
            .flat_map(|n| {
                [
                    PathBuf::from("/usr/bin").join(n),
                    PathBuf::from("/usr/lib/llvm-16/bin").join(n),
                ]
            })
            .find(|p| p.is_file())
            .ok_or_else(|| format!("{} not found ({HINT})", names.join(" or ")))
    };
    let clang = find(&["clang-16"])?;
    let ar = find(&["llvm-ar-16", "llvm-ar"])?;
    let include = Path::new("/usr/include/wasm32-wasi");
    let lib = Path::new("/usr/lib/wasm32-wasi");
    if !include.join("stdlib.h").is_file() {
        return Err(format!(
            "wasi-libc's headers are not in {} ({HINT})",
            include.display()
        ));
    }
    let sysroot = dir.join("share/wasi-sysroot");
    let links = [
        (clang.as_path(), dir.join("bin/clang")),
        (ar.as_path(), dir.join("bin/ar")),
        (include, sysroot.join("include/wasm32-wasip2")),
        (include, sysroot.join("include/wasm32-wasi")),
        (lib, sysroot.join("lib/wasm32-wasip2")),
        (lib, sysroot.join("lib/wasm32-wasi")),
    ];
    for (to, at) in links {
        link(to, &at).map_err(|e| format!("linking {} to {}: {e}", at.display(), to.display()))?;
    }
    Ok(dir.to_owned())
}

#[cfg(unix)]
fn link(to: &Path, at: &Path) -> std::io::Result<()> {
    if std::fs::read_link(at).is_ok_and(|current| current == to) {
        return Ok(());
    }
    if let Some(parent) = at.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let _ = std::fs::remove_file(at);
    std::os::unix::fs::symlink(to, at)
}

#[cfg(not(unix))]
fn link(_to: &Path, _at: &Path) -> std::io::Result<()> {
    Err(std::io::Error::other(
        "only Unix hosts get a WASI SDK made of Debian's packages; set WASI_SDK",
    ))
}

/// Copies `from` to `to` unless `to` already has the same bytes (so its mtime, and what
/// depends on it, stays put).
fn copy_if_changed(from: &Path, to: &Path) -> std::io::Result<()> {
    let bytes = std::fs::read(from)?;
    if std::fs::read(to).is_ok_and(|current| current == bytes) {
        return Ok(());
    }
    std::fs::write(to, bytes)
}
