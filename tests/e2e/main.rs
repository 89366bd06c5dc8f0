//! End-to-end tests over the real `hookline` binaries.

mod cli_keys;
