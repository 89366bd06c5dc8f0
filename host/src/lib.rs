//! # hookline-host
//!
//! The Hookline engine: everything between "a platform emitted an event" and "a receiver
//! verified our signed HTTP request".
//!
//! Main types, by room:
//! - [`event`]: the origin's event catalog, typed event data and [`event::Payload`], the JSON
//!   body every receiver gets.
//! - [`pattern`]: subscription patterns (`task.created`, `task.*`, `task`, `*`), their
//!   validation, and [`pattern::SubscriptionIndex`], which matches one event against many
//!   subscriptions without scanning them all.
//! - [`signing`]: the `marionette` and Standard Webhooks signature schemes, signing and
//!   verification with precise failure reasons.
//! - [`secret`]: secret generation and AES-256-GCM sealing of secrets at rest.
//! - [`retry`]: retry classification, backoff schedules and `Retry-After`.
//!
//! ```
//! use hookline_host::pattern::{Pattern, SubscriptionIndex};
//!
//! let mut index = SubscriptionIndex::new();
//! index.insert("billing", &[Pattern::parse("task.*").unwrap()]);
//! index.insert("audit", &[Pattern::parse("*").unwrap()]);
//! let mut hits: Vec<_> = index.matches("task.completed").collect();
//! hits.sort();
//! assert_eq!(hits, vec![&"audit", &"billing"]);
//! ```

pub mod api;
pub mod bench;
pub mod config;
pub mod daemon;
pub mod demo;
pub mod engine;
pub mod event;
pub mod http;
pub mod ids;
pub mod model;
pub mod pattern;
pub mod plugin;
pub mod retry;
pub mod secret;
pub mod signing;
pub mod ssrf;
pub mod store;
