//! # hookline
//!
//! The `hookline` binary's library: the pieces that turn the engine crates into a program.
//!
//! - [`config`]: the TOML configuration (defaults in `config.default.toml`, `HOOKLINE_`
//!   environment overrides, validation errors with file:line:col).
//! - [`daemon`]: `hookline serve`'s wiring: config → store → plugin runtime → engine → API,
//!   signals and shutdown ([`daemon::Daemon`]).
//! - [`demo`]: `hookline demo`, a daemon with a misbehaving receiver and synthetic events.
//! - [`bench`]: `hookline bench`, the reproducible load benchmark.
//! - [`example_plugins`]: where the built example plugins are found (demo and bench).
//!
//! The engine itself is `hookline_engine` (over a `hookline_store` store, with
//! `hookline_plugin` transforms), served by `hookline_api`; the pure rules are
//! `hookline_core`.
//!
//! ```
//! use hookline::config::Config;
//!
//! // Embedded defaults, then the file, then `HOOKLINE_*` overrides; validated with file:line.
//! let config = Config::from_toml_str("[delivery]\nworkers = 8\n", "hookline.toml", []).unwrap();
//! assert_eq!(config.delivery.workers, 8);
//! let err = Config::from_toml_str("[delivery]\nworkers = 0\n", "hookline.toml", []).unwrap_err();
//! assert!(err.to_string().contains("hookline.toml:2:11: `delivery.workers`"));
//! ```

pub mod bench;
pub mod config;
pub mod daemon;
pub mod demo;
pub mod example_plugins;
