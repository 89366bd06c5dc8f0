//! Integration tests of the `hookline_host` library (one binary, so the link step runs once).

mod engine;
mod plugins;
mod standard_webhooks;
mod store_sqlite;
