//! Integration tests of `hookline_engine` over a real SQLite store, with and without the
//! WebAssembly plugin runtime (one binary, so the link step runs once).

// They run the engine on the system clock against real receivers, and measure real time:
// the engine crate's ban on reading the system clock (clippy.toml) is for its own code.
#![allow(clippy::disallowed_methods)]

mod engine;
mod plugins;
