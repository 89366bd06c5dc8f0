//! Integration tests of `hookline_engine` over a real SQLite store, with and without the
//! WebAssembly plugin runtime (one binary, so the link step runs once).

mod engine;
mod plugins;
