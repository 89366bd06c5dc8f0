//! The engine's input and output types: what the API, the CLI and embedders exchange with it.
//!
//! They are the API's wire types, declared once in `hookline-contract` (which the console
//! and the plugin SDK share without linking the engine) and re-exported here.

pub use hookline_contract::api::{DeliveryResult, EventInput, IngestResult, LiveStats, Stats};
pub use hookline_contract::stream::{DeliveryChange, EngineEvent};
pub use hookline_contract::token::{
    CreateToken, CreatedToken, TokenList, TokenScope, TokenView, WhoAmI,
};
pub use hookline_contract::webhook::{
    BreakerState, WebhookHealth, WebhookPatch, WebhookSpec, WebhookView, WebhookWithSecret,
};
