//! End-to-end tests over the real `hookline` binaries.

mod cli_keys;

mod bad_input;
mod behaviours;
mod bench;
mod builtin_javascript;
mod cli_clients;
mod console;
mod contract;
mod crash;
mod front_door;
mod idempotency;
mod isolation;
mod plugins;
mod sealed;
mod shutdown;
mod signatures;
mod ssrf;
mod tokens;
