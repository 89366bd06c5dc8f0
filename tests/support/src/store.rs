//! Store fixtures: a temp dir with a [`SqliteStore`] opened in it.

use std::path::PathBuf;
use std::sync::Arc;

use hookline_store::Store;
use hookline_store::sqlite::{SqliteOptions, SqliteStore};

use crate::tempdir::TempDir;

/// A [`SqliteStore`] at `<temp dir>/hookline.db`, default options. The directory is removed
/// when this is dropped (kept when the test failed); drop the store's other handles first.
#[derive(Debug)]
pub struct TempStore {
    store: Arc<SqliteStore>,
    dir: TempDir,
}

impl TempStore {
    /// Opens a fresh store in a new `hookline-<label>-…` directory.
    pub fn open(label: &str) -> TempStore {
        let dir = TempDir::new(label);
        let path = dir.join("hookline.db");
        let store = SqliteStore::open(&path, SqliteOptions::default())
            .unwrap_or_else(|e| panic!("opening a SQLite store at {}: {e}", path.display()));
        TempStore {
            store: Arc::new(store),
            dir,
        }
    }

    /// The store.
    pub fn store(&self) -> Arc<SqliteStore> {
        self.store.clone()
    }

    /// The store as the engine holds it.
    pub fn dyn_store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    /// The directory.
    pub fn dir(&self) -> &TempDir {
        &self.dir
    }

    /// The database file.
    pub fn db_path(&self) -> PathBuf {
        self.dir.join("hookline.db")
    }
}
