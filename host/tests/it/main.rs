//! Integration tests of the `hookline_host` library (one binary, so the link step runs once).

mod engine;
mod standard_webhooks;
mod plugins;
