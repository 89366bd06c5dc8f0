//! Durable storage of webhooks, events, deliveries and attempts.
//!
//! [`Store`] is the one interface the engine uses; it is batch-oriented so that an
//! implementation can commit many events or attempt results in one transaction (group
//! commit) and claim many due deliveries in one statement. [`sqlite::SqliteStore`] is the
//! embedded default; a PostgreSQL store (many daemons sharing one queue with
//! `FOR UPDATE SKIP LOCKED` claims) implements the same trait.
//!
//! Invariants every implementation keeps:
//! - `ingest` returns only after the events and their deliveries are durable.
//! - A delivery is `pending` until an attempt result moves it; a pending delivery whose
//!   lease is live is reported as `in_flight`. Claims skip live leases and take expired
//!   ones, so a crashed process's deliveries come back when its leases end.
//! - `complete` ignores a record whose lease owner no longer holds the delivery.
//! - Claims only take deliveries of `active` webhooks whose next attempt is due.
//! - A webhook's `version` is 1 when created and goes up by one with every change; a write
//!   naming an expected version changes nothing unless the row is at that version
//!   ([`StoreError::VersionMismatch`]), and no write but `create_webhook` creates a row.
//!
//! ## Webhook writes under concurrency
//!
//! Several processes may change the same webhook at once (two daemons on one PostgreSQL
//! database; in one process the engine orders its own changes). No webhook write may undo
//! another one it did not see:
//! - [`Store::update_webhook`] is a compare-and-set on the version the caller read, in one
//!   statement (`UPDATE webhooks SET …, version = version + 1 WHERE id = $1 AND version = $2`,
//!   `RETURNING` the row on PostgreSQL). When no row changed, the implementation tells
//!   [`StoreError::VersionMismatch`] (the row is at another version, named in the error) from
//!   [`StoreError::NotFound`] (it was deleted) with a read in the same transaction. The caller
//!   reads again and retries, or reports the mismatch to whoever named the version.
//! - [`Store::set_webhook_state`] writes the state columns only, in one statement, so the
//!   engine's own changes (auto-disable, `410 Gone`) never need a read-modify-write.
//! - [`Store::create_webhook`] is the only write that inserts (`Conflict` if the id exists);
//!   an update or state change of a deleted webhook is `NotFound` and never re-creates it.

pub mod sqlite;

use std::future::Future;
use std::pin::Pin;

use hookline_core::model::{
    AttemptRecord, DeliveryDetail, DeliveryFilter, DeliveryJob, DeliverySummary, IngestOutcome,
    Millis, NewEvent, Page, StoreStats, WebhookRecord, WebhookState,
};
use hookline_core::token::{TokenDigest, TokenRecord};

/// A boxed, sendable future (the store trait is object-safe).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Store results.
pub type StoreResult<T> = Result<T, StoreError>;

/// Why a store operation failed. `Clone`: one failure (a lost commit) is reported to every
/// caller in its group.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The record does not exist.
    #[error("{kind} `{id}` not found")]
    NotFound {
        /// `webhook`, `delivery` or `event`.
        kind: &'static str,
        /// The id asked for.
        id: String,
    },
    /// A record with this id exists already.
    #[error("{kind} `{id}` already exists")]
    Conflict {
        /// `webhook`, `delivery` or `event`.
        kind: &'static str,
        /// The id.
        id: String,
    },
    /// The operation does not apply in the record's current state.
    #[error("{0}")]
    InvalidState(String),
    /// The disk is full: new events are refused, nothing accepted is lost.
    #[error("storage is full: {0}")]
    Full(String),
    /// The stored data or schema is not what this version expects.
    #[error("store schema: {0}")]
    Schema(String),
    /// The backend failed.
    #[error("store backend: {0}")]
    Backend(String),
    /// The store is shutting down.
    #[error("the store is closed")]
    Closed,
    /// The writer is saturated: so many rows wait to be written that new events are refused
    /// (nothing was written) rather than queued without bound. Try again shortly.
    #[error(
        "the store is saturated: {queued} rows are waiting to be written (at most {limit} \
         queue); nothing was stored, try again shortly"
    )]
    Busy {
        /// Rows (roughly) queued for the writer when this was refused.
        queued: usize,
        /// The most the queue takes before refusing new events.
        limit: usize,
    },
    /// A compare-and-set write found the webhook at another version than expected (someone
    /// else changed it since it was read); nothing was written.
    #[error("webhook `{id}` is at version {actual}, not the expected version {expected}")]
    VersionMismatch {
        /// The webhook.
        id: String,
        /// The version the write expected.
        expected: u64,
        /// The version stored.
        actual: u64,
    },
}

/// What [`Store::set_webhook_state`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookStateChange {
    /// The webhook as stored after the change (new state, new version).
    pub webhook: WebhookRecord,
    /// Pending deliveries canceled (moving to `Disabled`).
    pub canceled: u64,
}

/// What [`Store::install_bootstrap_token`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootstrapToken {
    /// There was none: it is stored now.
    Created,
    /// The same token was stored already.
    Kept,
    /// Another bootstrap token was stored (the configuration changed): replaced, the old
    /// one no longer works.
    Replaced,
    /// This very token was revoked: it stays revoked (and refused).
    Revoked,
}

/// Claim parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimRequest {
    /// The claiming process.
    pub owner: String,
    /// Current time.
    pub now: Millis,
    /// Lease end for the claimed deliveries.
    pub lease_until: Millis,
    /// At most this many.
    pub limit: u32,
    /// How the claim is divided among webhooks (default: oldest due first, any webhook).
    pub shares: ClaimShares,
}

/// How one claim is divided among webhooks, so that one webhook's backlog cannot take a
/// whole claim: the engine skips the webhooks with no room in memory (or an open circuit)
/// and caps the ones with little room. Within what is allowed, the oldest due go first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClaimShares {
    /// Webhooks none of whose deliveries are claimed.
    pub skip: Vec<String>,
    /// At most this many deliveries of these webhooks.
    pub caps: Vec<ClaimCap>,
}

impl ClaimShares {
    /// True when the claim is not divided (any webhook, oldest due first).
    pub fn is_open(&self) -> bool {
        self.skip.is_empty() && self.caps.is_empty()
    }
}

/// A webhook's share of one claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimCap {
    /// The webhook.
    pub webhook_id: String,
    /// Its deliveries, at most.
    pub limit: u32,
    /// Of those, retries (deliveries attempted before) at most: a retry storm cannot take
    /// the room of first attempts.
    pub retries: u32,
}

/// Durable storage. All methods are safe to call concurrently.
pub trait Store: Send + Sync + 'static {
    /// Stores events and their deliveries; durable when it returns. Refused with
    /// [`StoreError::Busy`] (nothing written) when the writer's queue is full. Events whose idempotency
    /// key was seen before create nothing and report the first result. One outcome per
    /// event, in order.
    fn ingest(&self, events: Vec<NewEvent>) -> BoxFuture<'_, StoreResult<Vec<IngestOutcome>>>;

    /// Claims due deliveries (pending, next attempt due, no live lease, webhook active),
    /// oldest due first within `req.shares`, leasing them to `req.owner`.
    fn claim(&self, req: ClaimRequest) -> BoxFuture<'_, StoreResult<Vec<DeliveryJob>>>;

    /// Records attempt results and moves deliveries to their new status, clearing leases.
    fn complete(&self, records: Vec<AttemptRecord>) -> BoxFuture<'_, StoreResult<()>>;

    /// Gives back leased deliveries without an attempt (shutdown): they stay pending and
    /// become claimable at once.
    fn release(&self, owner: String, ids: Vec<String>) -> BoxFuture<'_, StoreResult<()>>;

    /// Ends every lease (a single-process store at start-up: no other process can hold one).
    fn release_all(&self) -> BoxFuture<'_, StoreResult<u64>>;

    /// The earliest time a pending delivery of an active webhook becomes claimable (its next
    /// attempt, or its lease end), if any.
    fn next_due(&self) -> BoxFuture<'_, StoreResult<Option<Millis>>>;

    /// Creates a webhook at version 1 (`Conflict` if the id exists); returns it as stored.
    fn create_webhook(&self, webhook: WebhookRecord) -> BoxFuture<'_, StoreResult<WebhookRecord>>;

    /// Compare-and-set: replaces every field of the stored webhook `webhook.id` (but its id)
    /// if it is still at `expected_version`, bumping the version; returns it as stored.
    /// `VersionMismatch` if it changed meanwhile, `NotFound` if it is gone (never re-created).
    fn update_webhook(
        &self,
        webhook: WebhookRecord,
        expected_version: u64,
    ) -> BoxFuture<'_, StoreResult<WebhookRecord>>;

    /// Like [`Store::next_due`], leaving out the deliveries of the webhooks in `except` (those
    /// a divided claim would skip: [`ClaimShares::skip`]).
    fn next_due_except(&self, except: Vec<String>) -> BoxFuture<'_, StoreResult<Option<Millis>>>;

    /// One webhook.
    fn get_webhook(&self, id: String) -> BoxFuture<'_, StoreResult<Option<WebhookRecord>>>;

    /// Every webhook, by id.
    fn list_webhooks(&self) -> BoxFuture<'_, StoreResult<Vec<WebhookRecord>>>;

    /// Deletes a webhook and cancels its pending deliveries (kept for history). With an
    /// expected version, only if it is still at that version (`VersionMismatch`).
    fn delete_webhook(
        &self,
        id: String,
        expected_version: Option<u64>,
    ) -> BoxFuture<'_, StoreResult<()>>;

    /// Changes a webhook's state, and only its state columns (one statement: a concurrent
    /// edit of other fields is never undone), bumping its version; with an expected version,
    /// only if it is still at that version. Moving to `Disabled` cancels its pending
    /// deliveries.
    fn set_webhook_state(
        &self,
        id: String,
        state: WebhookState,
        now: Millis,
        expected_version: Option<u64>,
    ) -> BoxFuture<'_, StoreResult<WebhookStateChange>>;

    /// Lists deliveries, newest first, with filters and a cursor.
    fn list_deliveries(
        &self,
        filter: DeliveryFilter,
        now: Millis,
    ) -> BoxFuture<'_, StoreResult<Page<DeliverySummary>>>;

    /// One delivery with its payload and attempts.
    fn get_delivery(
        &self,
        id: String,
        now: Millis,
    ) -> BoxFuture<'_, StoreResult<Option<DeliveryDetail>>>;

    /// Makes a failed, exhausted or canceled delivery pending again, due now, with a fresh
    /// attempt budget (`InvalidState` otherwise).
    fn retry_delivery(
        &self,
        id: String,
        now: Millis,
    ) -> BoxFuture<'_, StoreResult<DeliverySummary>>;

    /// Creates a new pending delivery `new_id` of the same event to the same webhook.
    fn replay_delivery(
        &self,
        id: String,
        new_id: String,
        now: Millis,
    ) -> BoxFuture<'_, StoreResult<DeliverySummary>>;

    /// Counts by status.
    fn stats(&self, now: Millis) -> BoxFuture<'_, StoreResult<StoreStats>>;

    /// Stores a new API token (`Conflict` if its id or its digest is taken).
    fn create_token(&self, token: TokenRecord) -> BoxFuture<'_, StoreResult<TokenRecord>>;

    /// Every live (not revoked) token, oldest first.
    fn list_tokens(&self) -> BoxFuture<'_, StoreResult<Vec<TokenRecord>>>;

    /// The live token whose secret has this digest, if any.
    fn find_token(&self, digest: TokenDigest) -> BoxFuture<'_, StoreResult<Option<TokenRecord>>>;

    /// Revokes a live token at `now` and returns it (`NotFound` if there is no live token
    /// `id`). Revoking the last live `admin` token is refused (`InvalidState`), in the same
    /// transaction as the count, so two concurrent revokes cannot lock every operator out.
    fn revoke_token(&self, id: String, now: Millis) -> BoxFuture<'_, StoreResult<TokenRecord>>;

    /// Records when tokens were last used (a later time only ever replaces an earlier one).
    /// Callers batch and throttle these: at most one write per token per minute.
    fn touch_tokens(&self, used: Vec<(String, Millis)>) -> BoxFuture<'_, StoreResult<()>>;

    /// Installs the daemon's bootstrap token (id [`BOOTSTRAP_TOKEN_ID`], scope `admin`) from
    /// `token`'s digest, name and creation time; see [`BootstrapToken`] for what happens to
    /// one stored before.
    ///
    /// [`BOOTSTRAP_TOKEN_ID`]: hookline_core::token::BOOTSTRAP_TOKEN_ID
    fn install_bootstrap_token(
        &self,
        token: TokenRecord,
    ) -> BoxFuture<'_, StoreResult<BootstrapToken>>;

    /// Deletes terminal deliveries (and their attempts, and events left without deliveries)
    /// last changed before `before`; returns how many deliveries.
    fn prune(&self, before: Millis) -> BoxFuture<'_, StoreResult<u64>>;
}
