//! # hookline-console
//!
//! The terminal console of Hookline: live views of a running daemon, attached over its HTTP
//! API and `/v1/stream` feed only. It never opens the store.
//!
//! Main types, by room:
//! - [`app::App`]: the state and its pure update function, `App::update(Msg) -> Vec<Effect>`
//!   (keys, stream batches, API answers and ticks in; API calls and clipboard copies out).
//!   Time comes from an injected [`clock::Clock`].
//! - [`data::Data`]: what is known about the daemon, aggregated as updates arrive: figures
//!   and rates, webhooks with windowed counters, a bounded [`data::DeliveryBook`].
//! - [`actions::BINDINGS`]: the one table of keys; the footer and the `?` help are generated
//!   from it.
//! - [`query::Query`]: the `/` filter language (`status>=500 and webhook=billing`).
//! - [`ui::draw`]: the views, drawn from what the app computed (never aggregating).
//! - [`stream`], [`api::Api`], [`sse::SseParser`]: the daemon's API, its event stream and its
//!   parsing; [`run::run`] ties them together in one `tokio::select!` loop.
//!
//! ## Wire types
//!
//! What the console reads from the daemon is declared in `hookline-contract`, the crate the
//! daemon writes it with: one declaration per type, and none of the engine (SQLite, HTTP
//! sending, the WebAssembly plugin runtime) in the console's build. The contract's readers are
//! tolerant (unknown fields ignored, missing ones defaulted, unknown status and kind names
//! read as `Unknown`), so the console keeps working against a newer daemon.
//!
//! ## Example
//!
//! The update logic runs without a terminal:
//!
//! ```
//! use std::sync::Arc;
//! use hookline_console::app::{App, Msg, Options};
//! use hookline_console::clock::ManualClock;
//! use hookline_contract::{DeliveryChange, DeliveryStatus, StreamEvent};
//!
//! let mut app = App::new(Options::default(), Arc::new(ManualClock::at(1_700_000_000_000)));
//! app.update(Msg::Stream(vec![StreamEvent::Delivery(DeliveryChange {
//!     id: "dlv_1".into(),
//!     webhook_id: "billing".into(),
//!     status: DeliveryStatus::Failed,
//!     attempts: 1,
//!     at: 1_700_000_000_000,
//!     ..DeliveryChange::default()
//! })]));
//! assert_eq!(app.shown.overview.len(), 1);
//! assert_eq!(app.shown.overview[0].status, DeliveryStatus::Failed);
//! ```

pub mod actions;
pub mod api;
pub mod app;
pub mod clock;
pub mod data;
pub mod format;
pub mod lines;
pub mod perf;
pub mod query;
pub mod run;
pub mod sse;
pub mod stream;
pub mod ui;

#[cfg(test)]
mod fixtures;
