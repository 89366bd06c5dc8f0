//! # hookline-guest: write Hookline plugins in Rust
//!
//! A Hookline plugin is a WebAssembly component that rewrites, redirects or drops a webhook
//! delivery. For every delivery to a webhook that names a plugin, the host creates a fresh
//! instance, calls the plugin once with the [`Event`], the [`Webhook`] and the webhook's
//! configuration, then signs and sends what the plugin returns. This crate is the plugin
//! side: implement [`Plugin`], register it with [`export_plugin!`], build for
//! `wasm32-wasip2`.
//!
//! The main types:
//! - [`Plugin`]: the one trait a plugin implements.
//! - [`Event`] (with its [`Resource`]) and [`Webhook`]: what the plugin receives. The event
//!   data comes as JSON: read it as the origin's typed data ([`TaskEventData`],
//!   [`SessionEventData`], [`RunnerEventData`], [`PermissionEventData`]) with [`Event::data`]
//!   or [`Event::typed_data`], or as any `serde` type; [`Event::default_body`] is the body
//!   the host would send without a plugin.
//! - [`Outcome`] and [`Request`]: what it returns: send a request, skip the delivery, or fail
//!   it.
//! - [`config()`]: decodes the plugin's configuration; [`log`]: writes to the host's log;
//!   [`path::FieldPath`]: dotted paths such as `data.prompt` into the body, for
//!   configurations that name fields.
//!
//! ## 1. Write
//!
//! A new library crate that depends on this one (it re-exports `serde` and `serde_json`, so
//! nothing else is needed):
//!
//! ```toml
//! [package]
//! name = "notify"
//! edition = "2024"
//!
//! [lib]
//! crate-type = ["cdylib"]
//!
//! [dependencies]
//! hookline-guest = { path = "../guest" }
//!
//! # Fast plugins that trap on panic. `opt-level = 3`: every delivery runs the plugin, while
//! # size only costs at compile time (the host caches compiled plugins). `panic = "abort"` is
//! # what makes a Rust panic a trap: the host then fails the delivery with a `plugin trap`
//! # error and is unharmed.
//! [profile.release]
//! opt-level = 3
//! lto = true
//! codegen-units = 1
//! strip = true
//! panic = "abort"
//! ```
//!
//! and one trait implementation in `src/lib.rs`. This one turns `task.*` events into a short
//! chat message, skips every other event and fails on a bad configuration:
//!
//! ```
//! use hookline_guest::serde::Deserialize;
//! use hookline_guest::serde_json::json;
//! use hookline_guest::{Event, EventData, Outcome, Plugin, Request, Webhook, log};
//!
//! #[derive(Deserialize, Default)]
//! #[serde(crate = "hookline_guest::serde", default, deny_unknown_fields)]
//! struct Config {
//!     /// Prepended to every message.
//!     prefix: String,
//! }
//!
//! pub struct Notify;
//!
//! impl Plugin for Notify {
//!     fn transform(event: Event, webhook: Webhook, config: &str) -> Outcome {
//!         let cfg: Config = match hookline_guest::config(config) {
//!             Ok(cfg) => cfg,
//!             Err(e) => return Outcome::fail(e),
//!         };
//!         let task = match event.typed_data() {
//!             Ok(EventData::Task(task)) => task,
//!             Ok(_) => return Outcome::skip(format!("`{}` is not a task event", event.event_type)),
//!             Err(e) => return Outcome::fail(e),
//!         };
//!         log::debug(format!("notifying webhook {}", webhook.id));
//!         let text = format!("{}task {} is {}", cfg.prefix, event.resource.id, task.status);
//!         Outcome::send(Request::json(&json!({ "text": text })).header("X-Hookline-Event", &event.id))
//!     }
//! }
//!
//! hookline_guest::export_plugin!(Notify);
//! # fn main() {
//! #     use hookline_guest::Resource;
//! #     let event = Event::new("evt_1", "task.failed", "2024-01-02T03:04:05Z")
//! #         .with_resource(Resource::new("t1", "task"))
//! #         .with_data_json(r#"{"session_id":"s1","status":"failed"}"#);
//! #     let out = Notify::transform(event, Webhook::new("ops", "https://x.test"), r#"{"prefix":"> "}"#);
//! #     assert_eq!(out.request().unwrap().body_text(), Some(r#"{"text":"> task t1 is failed"}"#));
//! # }
//! ```
//!
//! A plugin crate that derives `serde` traits through the re-export names it with
//! `#[serde(crate = "hookline_guest::serde")]`, as above; or it depends on `serde` itself.
//!
//! Rules of the sandbox: the plugin has no filesystem, network or environment (the host
//! grants none); its clocks read the attempt's time, frozen for the call, and its random
//! bytes are derived from the delivery (deterministic, not secret: never make keys from
//! them). It runs under a fuel (instruction) budget, a memory cap
//! and a wall-clock deadline, and starts from a fresh instance for every delivery, so
//! nothing carries over between events. A panic is a trap (with `panic = "abort"`); the SDK
//! first sends the panic message to the host's log at error level.
//!
//! ## 2. Build
//!
//! ```text
//! rustup target add wasm32-wasip2
//! cargo build --release --target wasm32-wasip2
//! # → target/wasm32-wasip2/release/notify.wasm, a component of world hookline:plugin/plugin
//! ```
//!
//! The toolchain's linker (`wasm-component-ld`) turns the module into a component; nothing
//! else is needed. The world is `guest/wit/plugin.wit`; this crate embeds it.
//!
//! ## 3. Test
//!
//! Natively, with `cargo test`: everything in this crate except the host calls works on
//! the build machine, so a transform is an ordinary function to unit-test. Build events
//! with [`Event::new`] or [`Event::from_body_json`]; on native builds [`log`] writes to
//! standard error and [`log::take_captured`] returns what was logged.
//!
//! ```
//! # use hookline_guest::{Event, Outcome, Plugin, Request, Resource, Webhook};
//! # struct Notify;
//! # impl Plugin for Notify {
//! #     fn transform(event: Event, _: Webhook, _: &str) -> Outcome {
//! #         Outcome::send(Request::new(event.default_body()))
//! #     }
//! # }
//! let event = Event::new("evt_1", "task.completed", "2024-01-02T03:04:05Z")
//!     .with_resource(Resource::new("t1", "task"))
//!     .with_data_json(r#"{"session_id":"s1","status":"completed"}"#);
//! let out = Notify::transform(event, Webhook::new("ops", "https://example.com/hook"), "{}");
//! assert!(out.request().is_some());
//! ```
//!
//! Then against the real host, which runs the component exactly as deliveries do (same
//! sandbox, fuel, memory cap and deadline) and shows the request it returns, the fuel it
//! used and the time it took. `event.json` is an ingest body
//! (`{"type", "id"?, "resource", "data"}`) or a stored payload
//! (`{"event", "timestamp", "resource", "data"}`, what receivers get):
//!
//! ```text
//! hookline plugin check target/wasm32-wasip2/release/notify.wasm
//! hookline plugin run target/wasm32-wasip2/release/notify.wasm --event event.json --config '{"prefix": "> "}'
//! ```
//!
//! `check` says whether the file is a plugin of this world and lists its imports (with
//! `--config JSON`, it also asks your [`Plugin::check_config`]); `run`
//! also reports traps, fuel exhaustion, the memory cap and the deadline the way a delivery
//! would fail with them.
//!
//! ## 4. Deploy
//!
//! Name the file in a webhook of the configuration; `plugin_config` is handed to the plugin
//! as JSON text (`{}` when absent):
//!
//! ```toml
//! [[webhooks]]
//! id = "ops-chat"
//! url = "https://chat.example.com/hooks/T000"
//! events = ["task.*"]
//! plugin = "plugins/notify.wasm"
//! plugin_config = { prefix = "> " }
//! ```
//!
//! Implement [`Plugin::check_config`] (the examples do) so that a wrong `plugin_config` is
//! refused before any delivery: the daemon asks it at start (a refusal is a configuration
//! error naming the key and line), when a webhook is created or updated through the API
//! (400 naming `plugin_config`) and when the plugin file is replaced (a new version that
//! refuses a configuration in use is not used; the previous one keeps serving).
//!
//! The host compiles the plugin once and caches it; replacing the file reloads it without a
//! restart. Deliveries the plugin skips are recorded as `skipped` with its reason; a
//! failure, a trap, a timeout or bad output fails the delivery with its own error kind,
//! visible in the API and the console.
//!
//! ## The contract
//!
//! The WIT world `hookline:plugin/plugin@0.2.0` (shipped in this crate as
//! `wit/plugin.wit`) exports `transform(event, webhook, config) -> outcome` and
//! `check-config(config) -> result<_, string>`, and imports `log(level, message)`. Hosts
//! also load plugins of world 0.1.0 (no `check-config`). This crate generates its bindings with `wit-bindgen` on wasm32
//! only; [`export_plugin!`] connects them to your [`Plugin`].

pub mod event;
pub mod log;
pub mod path;

mod config;
mod outcome;

pub use crate::config::{ConfigError, config};
pub use crate::event::{
    DataError, Event, EventData, PermissionEventData, Resource, RunnerEventData, SessionEventData,
    TaskEventData, Webhook,
};
pub use crate::outcome::{Outcome, Request};

/// Re-exported so plugin crates need no direct dependency on `serde` (derive through it with
/// `#[serde(crate = "hookline_guest::serde")]`).
pub use serde;
/// Re-exported so plugin crates need no direct dependency on `serde_json`.
pub use serde_json;

/// A Hookline plugin: one function from an event to an [`Outcome`].
///
/// Implement it on a unit struct and register it with [`export_plugin!`]. The host calls
/// [`Plugin::transform`] once per delivery, on a fresh instance.
pub trait Plugin {
    /// Decides what to send for `event` to `webhook`.
    ///
    /// `config` is the webhook's `plugin_config` as JSON text (`{}` when it has none); read
    /// it with [`config()`].
    fn transform(event: Event, webhook: Webhook, config: &str) -> Outcome;

    /// Checks a webhook's `plugin_config` (JSON text, `{}` when none) before any delivery
    /// uses it; an `Err` refuses it with that message, which should name the key and say
    /// what is wrong (`plugin_config: unknown field `paths`, expected `remove`, …`). The
    /// host calls it at start, when a webhook is created or updated, and when the plugin
    /// file changes. The default accepts everything: the configuration is then only read
    /// at the first delivery.
    ///
    /// # Errors
    /// The message the host shows for a refused configuration.
    fn check_config(config: &str) -> Result<(), String> {
        let _ = config;
        Ok(())
    }
}

/// Registers a [`Plugin`] as the component's `transform` export.
///
/// Invoke it once, at the top level of the plugin crate:
///
/// ```
/// # use hookline_guest::{Event, Outcome, Plugin, Request, Webhook};
/// struct Passthrough;
///
/// impl Plugin for Passthrough {
///     fn transform(event: Event, _webhook: Webhook, _config: &str) -> Outcome {
///         Outcome::send(Request::new(event.default_body()))
///     }
/// }
///
/// hookline_guest::export_plugin!(Passthrough);
/// ```
///
/// On wasm32 it emits the component's exports and its type information. On other targets
/// it only checks that the type implements [`Plugin`], so the crate still builds and
/// unit-tests natively.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct __HooklinePluginExport;

            impl $crate::__private::bindings::Guest for __HooklinePluginExport {
                fn transform(
                    event: $crate::__private::bindings::Event,
                    webhook: $crate::__private::bindings::Webhook,
                    config: ::std::string::String,
                ) -> $crate::__private::bindings::Outcome {
                    $crate::__private::transform::<$plugin>(event, webhook, config)
                }

                fn check_config(
                    config: ::std::string::String,
                ) -> ::std::result::Result<(), ::std::string::String> {
                    <$plugin as $crate::Plugin>::check_config(&config)
                }
            }

            $crate::__private::bindings::__export_hookline_plugin_world!(
                __HooklinePluginExport with_types_in $crate::__private::bindings
            );
        };

        #[cfg(not(target_arch = "wasm32"))]
        const _: () = {
            const fn assert_plugin<P: $crate::Plugin>() {}
            assert_plugin::<$plugin>();
        };
    };
}

/// Used by [`export_plugin!`]; not part of the API.
#[doc(hidden)]
pub mod __private {
    /// The component bindings, generated from `wit/plugin.wit`.
    ///
    /// `unsafe` is allowed here alone: the generated code is the canonical ABI glue between the
    /// component's linear memory and Rust values, which cannot be written without it.
    #[cfg(target_arch = "wasm32")]
    #[allow(
        unsafe_code,
        missing_docs,
        missing_debug_implementations,
        unreachable_pub,
        clippy::all
    )]
    pub mod bindings {
        wit_bindgen::generate!({
            path: "wit",
            world: "plugin",
            pub_export_macro: true,
            export_macro_name: "__export_hookline_plugin_world",
            default_bindings_module: "$crate::__private::bindings",
        });
    }

    /// Runs `P` on one call from the host: converts the WIT values into the SDK's types and
    /// the outcome back.
    #[cfg(target_arch = "wasm32")]
    pub fn transform<P: crate::Plugin>(
        event: bindings::Event,
        webhook: bindings::Webhook,
        config: String,
    ) -> bindings::Outcome {
        use bindings::hookline::plugin::types as wit;

        // A panic traps the instance (`panic = "abort"`); say why in the host's log first,
        // since the component's stderr goes nowhere.
        std::panic::set_hook(Box::new(|info| {
            crate::log::error(format!("plugin {info}"));
        }));

        let bindings::Event {
            id,
            type_,
            timestamp,
            resource,
            data,
        } = event;
        let event = crate::Event::new(id, type_, timestamp)
            .with_resource(crate::Resource {
                id: resource.id,
                r#type: resource.type_,
                labels: resource.labels.into_iter().collect(),
                annotations: resource.annotations.into_iter().collect(),
            })
            .with_data_json(data);
        let webhook = crate::Webhook {
            id: webhook.id,
            url: webhook.url,
        };
        match P::transform(event, webhook, &config).checked() {
            crate::Outcome::Send(request) => wit::Outcome::Send(wit::Request {
                body: request.body,
                content_type: request.content_type,
                headers: request.headers,
                url: request.url,
            }),
            crate::Outcome::Skip(reason) => wit::Outcome::Skip(reason),
            crate::Outcome::Fail(message) => wit::Outcome::Fail(message),
        }
    }
}
