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
//! ## Why the console has its own wire types
//!
//! The structs in [`wire`] mirror the daemon's JSON but are not imported from `hookline-host`:
//! that crate is the whole engine (SQLite, HTTP sending, the WebAssembly plugin runtime), and
//! depending on it would put all of it into the console's build for a handful of structs.
//! The console's structs are tolerant (`#[serde(default)]`, unknown fields and unknown
//! status names accepted), so the console keeps working against a newer daemon.
//!
//! ## Example
//!
//! The update logic runs without a terminal:
//!
//! ```
//! use std::sync::Arc;
//! use hookline_console::app::{App, Msg, Options};
//! use hookline_console::clock::ManualClock;
//! use hookline_console::wire::{DeliveryChange, Status, StreamEvent};
//!
//! let mut app = App::new(Options::default(), Arc::new(ManualClock::at(1_700_000_000_000)));
//! app.update(Msg::Stream(vec![StreamEvent::Delivery(DeliveryChange {
//!     id: "dlv_1".into(),
//!     webhook_id: "billing".into(),
//!     status: Status::Failed,
//!     attempts: 1,
//!     at: 1_700_000_000_000,
//!     ..DeliveryChange::default()
//! })]));
//! assert_eq!(app.shown.overview.len(), 1);
//! assert_eq!(app.shown.overview[0].status, Status::Failed);
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
pub mod wire;

#[cfg(test)]
mod fixtures;
