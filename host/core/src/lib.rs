//! # hookline-core
//!
//! Hookline's pure rules: no I/O, no async runtime. Everything here is a function of its
//! inputs, so the engine, the store, the API, the config loader and the plugin runtime share
//! one definition of each rule.
//!
//! The wire types (the event catalogue, statuses, the API's views) are declared in
//! `hookline-contract`, which the console and the plugin SDK share; the modules here re-export
//! them where they always were, so `hookline_core::model::DeliveryStatus` still names the type.
//!
//! Main types, by room:
//! - [`event`]: the origin's event catalog and typed event data (from the contract), event
//!   type validation, and [`event::Payload`], the JSON body every receiver gets.
//! - [`pattern`]: subscription patterns (`task.created`, `task.*`, `task`, `*`), their
//!   validation, and [`pattern::SubscriptionIndex`], which matches one event against many
//!   subscriptions without scanning them all.
//! - [`signing`]: the `marionette` and Standard Webhooks signature schemes, signing and
//!   verification with precise failure reasons.
//! - [`secret`]: secret generation and AES-256-GCM sealing of secrets at rest.
//! - [`token`]: API tokens: generation (`hl_<scope>_` and 256 random bits), the SHA-256
//!   digest they are stored and looked up by, constant-time digest comparison.
//! - [`retry`]: retry classification, backoff schedules and `Retry-After`.
//! - [`ids`]: time-ordered ids (`evt_…`, `dlv_…`, `wh_…`).
//! - [`model`]: the records the store keeps and the API shows (webhooks, deliveries,
//!   attempts, [`model::ErrorKind`]).
//! - [`rules`]: what a webhook may set (custom headers) and what Hookline owns, which header
//!   values are credentials, the payload limit.
//! - [`transform`]: the seam to a plugin runtime: [`transform::Transformer`], its input,
//!   output and errors.
//!
//! ```
//! use hookline_core::pattern::{Pattern, SubscriptionIndex};
//!
//! let mut index = SubscriptionIndex::new();
//! index.insert("billing", &[Pattern::parse("task.*").unwrap()]);
//! index.insert("audit", &[Pattern::parse("*").unwrap()]);
//! let mut hits: Vec<_> = index.matches("task.completed").collect();
//! hits.sort();
//! assert_eq!(hits, vec![&"audit", &"billing"]);
//! ```

pub mod at_rest;
pub mod event;
pub mod ids;
pub mod model;
pub mod pattern;
pub mod retry;
pub mod rules;
pub mod secret;
pub mod signing;
pub mod token;
pub mod transform;
