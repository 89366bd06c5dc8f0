//! # hookline-contract
//!
//! What Hookline's daemon, its console and its plugin SDK agree on, declared once: the event
//! catalogue and the HTTP API's request, response and stream types. serde only, no runtime,
//! so the console and the WebAssembly plugins (`wasm32-wasip2`) link it without the engine.
//!
//! Main types, by room:
//! - [`event`]: the origin's event types ([`event::KNOWN_EVENT_TYPES`], [`event::category`],
//!   [`event::action`]), [`event::ResourceInfo`] and the typed data
//!   ([`event::TaskEventData`], …), serialised exactly as the origin's Go structs.
//! - [`scheme`]: [`Scheme`], the signature schemes and the headers each sets; [`SchemeName`],
//!   its tolerant form for readers.
//! - [`delivery`]: [`DeliveryStatus`], [`ErrorKind`], [`DeliverySummary`],
//!   [`DeliveryDetail`], [`Page`].
//! - [`webhook`]: [`WebhookSpec`], [`WebhookPatch`], [`WebhookView`] with its
//!   [`WebhookHealth`], [`WebhookStateName`], [`BreakerState`].
//! - [`api`]: ingest ([`EventInput`], [`EventAccepted`], [`BatchAccepted`]), [`Stats`],
//!   [`ErrorBody`].
//! - [`stream`]: the `/v1/stream` feed, [`EngineEvent`] as the daemon writes it and
//!   [`StreamEvent`] as a reader decodes it.
//! - [`token`]: API tokens: [`TokenScope`] (ordered: `admin` ⊇ `read`, `admin` ⊇ `ingest`),
//!   [`TokenView`], [`CreateToken`], [`CreatedToken`] (the secret, shown once), [`WhoAmI`].
//! - [`endpoint`]: where a reader finds the daemon and its token ([`endpoint::Endpoint`]:
//!   `--daemon`, `--token`, `--token-file`, `HOOKLINE_URL`, `HOOKLINE_API_TOKEN`, the
//!   default token file), one precedence for the CLI and the console (std only).
//!
//! ## Compatibility
//!
//! The daemon writes these types byte for byte as it always has (field names and order are
//! the wire format). Readers are tolerant, so an older console reads a newer daemon: the
//! response structs ignore unknown fields and take defaults for missing ones, and the enums a
//! daemon may extend (`DeliveryStatus`, `ErrorKind`, `WebhookStateName`, `BreakerState`,
//! `SchemeName`, `TokenScope`) are `#[non_exhaustive]` and read a name they do not know as their
//! `Unknown` variant. Request bodies stay strict (`deny_unknown_fields`, [`Scheme`] refuses
//! unknown names): a typo in a request is an error, not a silent default.
//!
//! ## Example
//!
//! ```
//! use hookline_contract::{DeliveryStatus, ErrorKind, StreamEvent};
//!
//! // A `delivery` event from a daemon newer than this build.
//! let data = r#"{"kind":"delivery","id":"dlv_1","webhook_id":"billing","status":"teleported",
//!     "attempts":1,"error_kind":"quantum_noise","at":1700000000000,"new_field":true}"#;
//! let Some(StreamEvent::Delivery(change)) = StreamEvent::decode("delivery", data).unwrap() else {
//!     panic!("a delivery event");
//! };
//! assert_eq!(change.status, DeliveryStatus::Unknown);
//! assert_eq!(change.error_kind, Some(ErrorKind::Unknown));
//! assert_eq!(change.webhook_id, "billing");
//! ```

pub mod api;
pub mod delivery;
pub mod endpoint;
pub mod event;
pub mod scheme;
pub mod stream;
pub mod token;
pub mod webhook;

pub use api::{
    BatchAccepted, DeliveryResult, ErrorBody, ErrorDetail, EventAccepted, EventBatch, EventInput,
    HealthStatus, IngestResult, LiveStats, PluginErrorCounts, PluginFigures, Stats, StoreStats,
};
pub use delivery::{
    AttemptView, DeliveryDetail, DeliveryStatus, DeliverySummary, ErrorKind, Millis, Page,
    UnknownStatus,
};
pub use event::ResourceInfo;
pub use scheme::{ParseSchemeError, Scheme, SchemeName};
pub use stream::{DeliveryChange, EngineEvent, StreamEvent, StreamSnapshot, WebhookChange};
pub use token::{
    CreateToken, CreatedToken, TokenList, TokenScope, TokenView, UnknownScope, WhoAmI,
};
pub use webhook::{
    BreakerState, RotateSecretRequest, WebhookHealth, WebhookList, WebhookPatch, WebhookSource,
    WebhookSpec, WebhookStateName, WebhookView, WebhookWithSecret,
};

#[cfg(test)]
mod tests;
