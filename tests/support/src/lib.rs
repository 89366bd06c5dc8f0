//! # hookline-test-support
//!
//! The test helpers every Hookline crate shares, each in one place:
//!
//! - [`tempdir::TempDir`]: a fresh directory (the `tempfile` crate), kept when the test
//!   fails.
//! - [`wait::eventually`]: poll a condition until a deadline; never sleep and hope.
//! - [`plugins::plugin`]: the `.wasm` of an example or hostile plugin of `plugins/`, built
//!   once per process into `<target>/wasm-plugins`; [`plugins::shared_cache_dir`] for the
//!   compiled-plugin cache.
//! - `receiver::Receiver` (feature `receiver`): a loopback receiver on `127.0.0.1:0` that
//!   records every request and answers scripted `receiver::Reply`s per path (statuses,
//!   delays, redirects, hangs, bodies).
//! - `store::TempStore` (feature `sqlite`): a temp dir with a `SqliteStore` opened in it.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use hookline_test_support::{DEFAULT_DEADLINE, TempDir, eventually};
//! let dir = TempDir::new("example");
//! std::fs::write(dir.join("ready"), b"yes").unwrap();
//! eventually("the file", DEFAULT_DEADLINE, async || dir.join("ready").is_file()).await;
//! # }
//! ```
//!
//! ## Dependency cycles
//!
//! This crate is a dev-dependency of the crates it helps, so it must not need what a crate
//! under test would have to pass it: a crate's unit tests are a second compilation of that
//! crate, and types from a copy linked through this crate would not match. Hence:
//!
//! - Apart from the `sqlite` feature, nothing here depends on a Hookline crate: the
//!   receiver speaks plain HTTP, the plugin helper deals in paths, `eventually` in closures
//!   and temp dirs in directories, so every crate, `hookline-core` included, can use them.
//! - The store fixtures name `hookline_store::sqlite::SqliteStore`, so they sit behind the
//!   `sqlite` feature. `hookline-store` uses this crate without it (temp dirs only) and
//!   opens the store under test itself; its unit tests never pass a store type through
//!   this crate. (In a workspace build cargo may unify the feature on, which links a second,
//!   unused copy of `hookline-store` into its unit tests: harmless, since no type crosses.)

pub mod plugins;
#[cfg(feature = "receiver")]
pub mod receiver;
#[cfg(feature = "sqlite")]
pub mod store;
pub mod tempdir;
pub mod wait;

pub use tempdir::TempDir;
pub use wait::{DEFAULT_DEADLINE, eventually};
