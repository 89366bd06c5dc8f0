//! Compiled plugins on disk, so a restart does not recompile them.
//!
//! One file per plugin version and engine configuration:
//! `<dir>/<sha256 of the .wasm>-<engine tag>.cwasm`, where the engine tag is derived from
//! [`Engine::precompile_compatibility_hash`] (Wasmtime version, target, compilation
//! settings). A file holds a magic line, the SHA-256 of the artifact, then the artifact from
//! [`Component::serialize`]. Files are written to a temporary name and renamed, so a reader
//! never sees a partial file; the checksum is verified before deserialising. Files of other
//! engine tags (an older Hookline) are deleted when the cache is opened.

use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

const MAGIC: &[u8] = b"hookline-cwasm-1\n";
const SUFFIX: &str = ".cwasm";

/// The on-disk cache of compiled plugins.
#[derive(Debug)]
pub(super) struct DiskCache {
    dir: PathBuf,
    tag: String,
}

/// Feeds `Hash` output into SHA-256, for a stable engine tag.
struct ShaHasher(Sha256);

impl Hasher for ShaHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
    fn finish(&self) -> u64 {
        // Only `write` is used: the digest is read from the inner hasher.
        0
    }
}

fn engine_tag(engine: &Engine) -> String {
    let mut hasher = ShaHasher(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut hasher);
    hex::encode(&hasher.0.finalize()[..8])
}

impl DiskCache {
    /// Opens (creating, mode 0700) the cache directory. Refuses a directory that others may
    /// write to or that belongs to another user: its files are executed as machine code.
    pub(super) fn open(dir: &Path, engine: &Engine) -> Result<DiskCache, String> {
        create_private_dir(dir)?;
        check_private(dir)?;
        let cache = DiskCache {
            dir: dir.to_owned(),
            tag: engine_tag(engine),
        };
        cache.remove_stale();
        Ok(cache)
    }

    fn path_for(&self, wasm_sha256: &[u8; 32]) -> PathBuf {
        self.dir
            .join(format!("{}-{}{SUFFIX}", hex::encode(wasm_sha256), self.tag))
    }

    /// Deletes artifacts of other engine configurations and leftover temporary files.
    fn remove_stale(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let current = format!("-{}{SUFFIX}", self.tag);
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let stale =
                (name.ends_with(SUFFIX) && !name.ends_with(&current)) || name.starts_with(".tmp-");
            if stale {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }

    /// The compiled component for this `.wasm` content, if cached and intact.
    pub(super) fn get(&self, engine: &Engine, wasm_sha256: &[u8; 32]) -> Option<Component> {
        let path = self.path_for(wasm_sha256);
        let bytes = std::fs::read(&path).ok()?;
        let artifact = match verified(&bytes) {
            Some(artifact) => artifact,
            None => {
                tracing::warn!(file = %path.display(), "corrupt compiled plugin in the cache; recompiling");
                let _ = std::fs::remove_file(&path);
                return None;
            }
        };
        match deserialize(engine, artifact) {
            Ok(component) => Some(component),
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "unusable compiled plugin in the cache; recompiling");
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    /// Stores a compiled component; failures only cost a recompilation later.
    pub(super) fn put(&self, wasm_sha256: &[u8; 32], component: &Component) {
        if let Err(e) = self.try_put(wasm_sha256, component) {
            tracing::warn!(dir = %self.dir.display(), error = %e, "cannot write a compiled plugin to the cache");
        }
    }

    fn try_put(&self, wasm_sha256: &[u8; 32], component: &Component) -> Result<(), String> {
        let artifact = component.serialize().map_err(|e| e.to_string())?;
        let target = self.path_for(wasm_sha256);
        let tmp = self.dir.join(format!(
            ".tmp-{}-{}",
            std::process::id(),
            hex::encode(&wasm_sha256[..8])
        ));
        let write = || -> std::io::Result<()> {
            let mut file = private_file(&tmp)?;
            file.write_all(MAGIC)?;
            file.write_all(&Sha256::digest(&artifact))?;
            file.write_all(&artifact)?;
            file.sync_all()?;
            std::fs::rename(&tmp, &target)
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            e.to_string()
        })
    }
}

/// The artifact inside a cache file, if its header and checksum are right.
fn verified(bytes: &[u8]) -> Option<&[u8]> {
    let rest = bytes.strip_prefix(MAGIC)?;
    if rest.len() < 32 {
        return None;
    }
    let (sum, artifact) = rest.split_at(32);
    (Sha256::digest(artifact).as_slice() == sum).then_some(artifact)
}

/// Loads a compiled artifact.
#[allow(unsafe_code)]
fn deserialize(engine: &Engine, artifact: &[u8]) -> wasmtime::Result<Component> {
    // SAFETY: `Component::deserialize` trusts its input to be machine code that Wasmtime
    // itself produced; arbitrary bytes could run anything. These bytes are:
    // - produced by `Component::serialize` of a Wasmtime engine (`try_put`), in a file
    //   written under a temporary name and renamed into place, so never partial;
    // - read from a directory this process created with mode 0700, or checked at open to
    //   belong to this user and not be writable by group or others (`check_private`): no
    //   other unprivileged user can place or change a file there;
    // - checked against the SHA-256 written next to them (`verified`), so a truncated or
    //   corrupted file is rejected before this call;
    // - keyed by the SHA-256 of the plugin's `.wasm` and by the engine's compatibility hash
    //   (`precompile_compatibility_hash`), so they are the compilation of exactly this
    //   plugin for exactly this engine configuration; Wasmtime also checks the header's
    //   version and settings and returns an error on a mismatch.
    unsafe { Component::deserialize(engine, artifact) }
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))
}

#[cfg(unix)]
fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::File::create(path)
}

/// The directory must belong to us and not be writable by group or others.
#[cfg(unix)]
fn check_private(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let meta = std::fs::metadata(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    if !meta.is_dir() {
        return Err(format!("{} is not a directory", dir.display()));
    }
    if meta.permissions().mode() & 0o022 != 0 {
        return Err(format!(
            "{} is writable by other users; compiled plugins are machine code, so the cache \
             must be private (chmod 700)",
            dir.display()
        ));
    }
    // A file we create there is owned by our effective user: the directory must be too.
    let probe = dir.join(format!(".tmp-owner-{}", std::process::id()));
    let mine = private_file(&probe)
        .and_then(|f| f.metadata())
        .map_err(|e| format!("{} is not writable: {e}", dir.display()))?;
    let _ = std::fs::remove_file(&probe);
    if mine.uid() != meta.uid() {
        return Err(format!(
            "{} belongs to another user; compiled plugins are machine code, so the cache \
             must be ours",
            dir.display()
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_dir: &Path) -> Result<(), String> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_damaged_file_is_not_trusted() {
        let artifact = b"pretend machine code";
        let mut file = MAGIC.to_vec();
        file.extend_from_slice(&Sha256::digest(artifact));
        file.extend_from_slice(artifact);
        assert_eq!(verified(&file), Some(&artifact[..]));

        let mut flipped = file.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert_eq!(verified(&flipped), None);
        assert_eq!(verified(&file[..file.len() - 1]), None);
        assert_eq!(verified(&file[..MAGIC.len() + 10]), None);
        assert_eq!(verified(b"something else"), None);
    }

    #[cfg(unix)]
    #[test]
    fn a_directory_others_can_write_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = hookline_test_support::TempDir::new("cache-perm");
        let dir = tmp.join("cache");
        create_private_dir(&dir).unwrap();
        assert_eq!(check_private(&dir), Ok(()));
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = check_private(&dir).unwrap_err();
        assert!(err.contains("writable by other users"), "{err}");
    }
}
