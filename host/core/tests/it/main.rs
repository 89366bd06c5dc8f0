//! Integration tests of `hookline_core` (one binary, so the link step runs once).

mod standard_webhooks;
