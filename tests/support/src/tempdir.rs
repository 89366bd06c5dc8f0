//! A fresh directory per test, from the `tempfile` crate: removed when the test passes,
//! kept (its path printed) when it fails, so logs and databases can be inspected.

use std::path::{Path, PathBuf};

/// A directory under the system temp dir, unique to this call: `hookline-<label>-XXXXXX`.
#[derive(Debug)]
pub struct TempDir {
    /// `None` only while dropping.
    dir: Option<tempfile::TempDir>,
}

impl TempDir {
    /// Creates `<tmp>/hookline-<label>-<random>`.
    pub fn new(label: &str) -> TempDir {
        let dir = tempfile::Builder::new()
            .prefix(&format!("hookline-{label}-"))
            .tempdir()
            .unwrap_or_else(|e| panic!("creating a temporary directory for {label}: {e}"));
        TempDir { dir: Some(dir) }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.dir
            .as_ref()
            .map(tempfile::TempDir::path)
            .expect("the directory lives until drop")
    }

    /// `path().join(part)`.
    pub fn join(&self, part: impl AsRef<Path>) -> PathBuf {
        self.path().join(part)
    }
}

impl AsRef<Path> for TempDir {
    fn as_ref(&self) -> &Path {
        self.path()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take()
            && std::thread::panicking()
        {
            eprintln!("kept the failed test's directory: {}", dir.keep().display());
        }
    }
}
