//! Integration tests of `hookline_core` (one binary, so the link step runs once).

mod guest_body;
mod standard_webhooks;
