//! # hookline-engine
//!
//! The delivery engine, the crate embedders use: ingest, the dispatcher, and the operations
//! behind the HTTP API, over any [`Store`].
//!
//! Main types:
//! - [`Engine`]: started over a store with [`Engine::start`]; [`Engine::ingest`] accepts
//!   events (durable before it returns), webhooks are managed with
//!   [`Engine::create_webhook`] and friends, [`Engine::subscribe`] streams changes.
//! - [`EngineConfig`]: workers, lease, retry policy, breaker, the plugin runtime (any
//!   [`Transformer`]; `None` links no wasmtime) and the [`Clock`].
//! - [`http::HttpSender`]: one attempt over HTTP behind the [`ssrf`] guard.
//! - [`Metrics`]: the Prometheus counters and gauges.
//!
//! Embedding it over a SQLite store:
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! use hookline_core::event::ResourceInfo;
//! use hookline_core::model::DeliveryFilter;
//! use hookline_core::secret::Sealer;
//! use hookline_engine::http::{HttpSender, SenderConfig};
//! use hookline_engine::ssrf::NetworkPolicy;
//! use hookline_engine::{Engine, EngineConfig, EventInput, WebhookSpec};
//! use hookline_store::sqlite::{SqliteOptions, SqliteStore};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = std::env::temp_dir().join(format!("hookline-doc-{}", std::process::id()));
//! let store = SqliteStore::open(&dir.join("hookline.db"), SqliteOptions::default())?;
//! // Loopback allowed for this example; the default policy refuses private addresses.
//! let sender = HttpSender::new(SenderConfig::default(), NetworkPolicy::loopback())?;
//! let key = [7; 32]; // in production: a random key kept outside the store
//! let engine = Engine::start(
//!     Arc::new(store),
//!     sender,
//!     Sealer::from_bytes(&key),
//!     EngineConfig::default(),
//! )
//! .await?;
//! engine
//!     .create_webhook(WebhookSpec {
//!         id: Some("billing".into()),
//!         url: "http://127.0.0.1:9/hook".into(),
//!         events: vec!["task.*".into()],
//!         ..WebhookSpec::default()
//!     })
//!     .await?;
//! engine
//!     .ingest(vec![EventInput {
//!         event_type: "task.completed".into(),
//!         id: Some("order-42".into()), // an idempotency key
//!         resource: ResourceInfo::new("t1", "task"),
//!         data: None,
//!     }])
//!     .await?;
//! // Stored before `ingest` returned: one delivery, retried until the receiver answers.
//! let deliveries = engine.list_deliveries(DeliveryFilter::default()).await?;
//! assert_eq!(deliveries.items.len(), 1);
//! engine.shutdown(Duration::from_secs(1)).await;
//! # drop(engine);
//! # let _ = std::fs::remove_dir_all(&dir);
//! # Ok(())
//! # }
//! ```
//!
//! ## The hot path
//! 1. [`Engine::ingest`] validates a batch of events, builds each payload once (the origin's
//!    JSON body, never re-encoded afterwards), matches it against the in-memory
//!    [`SubscriptionIndex`](hookline_core::pattern::SubscriptionIndex), and hands the batch to the
//!    store, which commits it together with other callers' batches (group commit).
//! 2. When the in-memory queue has room, the new deliveries are created already leased to
//!    this process and start at once from memory: no poll, no read back. Otherwise they wait
//!    in the store, and the claimer takes them (in batches) as room frees up.
//! 3. Each delivery runs as a task: per-webhook concurrency and rate limit, circuit breaker,
//!    a global worker limit on requests in flight, signing over the exact bytes sent, one
//!    HTTP attempt, then the result and the next state are written (group commit again).
//! 4. Retries wait in the store; the claimer sleeps until the earliest due time it knows of
//!    (woken early by anything that schedules sooner), with a slow safety poll.
//!
//! Invariant: the store is the only source of truth for delivery state; memory only holds
//! leased work, which a crash returns to the store when the lease ends (or at once when a
//! single-process store restarts).

mod admin;
mod callbacks;
pub mod clock;
mod deliver;
mod fair;
pub mod http;
pub mod metrics;
pub mod ssrf;
#[cfg(test)]
mod tests;
mod tokens;
pub mod types;
mod webhooks;

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use foldhash::HashSet;
use tokio::sync::{Notify, OwnedSemaphorePermit, RwLock, Semaphore, broadcast};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::http::HttpSender;
use hookline_core::event::{Payload, validate_event_type};
use hookline_core::ids::new_id_at;
use hookline_core::model::{DeliveryJob, IngestOutcome, Lease, Millis, NewDelivery, NewEvent};
use hookline_core::retry::RetryPolicy;
use hookline_core::secret::Sealer;
use hookline_core::transform::Transformer;
use hookline_store::{ClaimCap, ClaimRequest, ClaimShares, Store, StoreError};

pub use clock::Clock;
use fair::FairPool;
pub use hookline_store::BootstrapToken;
pub use metrics::Metrics;
pub use tokens::LAST_USED_WRITE_INTERVAL_MS;
pub use types::*;
use webhooks::{Defaults, Health, Registry, Runtime};

/// Tuning of the engine; the daemon fills it from `[delivery]`.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Requests in flight at most, over all webhooks.
    pub workers: usize,
    /// Deliveries held in memory at most (queued or in flight); the rest wait in the store.
    pub queue_capacity: usize,
    /// Deliveries of one webhook held in memory at most, so that a webhook with a backlog
    /// (a slow or rate-limited receiver) leaves room for the others; a rate-limited webhook
    /// holds at most two seconds' worth (at least 16).
    pub max_queued_per_webhook: usize,
    /// How long a claim holds a delivery before another claimer may take it.
    pub lease: Duration,
    /// Default request timeout.
    pub timeout: Duration,
    /// Default retry policy.
    pub retry: RetryPolicy,
    /// Default per-webhook concurrency.
    pub max_concurrency_per_webhook: u32,
    /// Consecutive failures that open a webhook's circuit.
    pub breaker_threshold: u32,
    /// How long an open circuit holds requests back.
    pub breaker_cooldown: Duration,
    /// Failing continuously this long disables a webhook (`None`: never).
    pub auto_disable_after: Option<Duration>,
    /// How long an old secret keeps signing after a rotation.
    pub rotation_grace: Duration,
    /// Largest payload accepted and sent.
    pub max_payload_bytes: usize,
    /// Terminal deliveries older than this are pruned (`None`: kept).
    pub retention: Option<Duration>,
    /// The store belongs to this process alone (SQLite): leases left by a previous run are
    /// ended at start instead of waiting for them to expire.
    pub exclusive_store: bool,
    /// How often the claimer looks at the store even when nothing woke it.
    pub poll_interval: Duration,
    /// Runs the plugins webhooks name (`None`: a webhook with a plugin fails its deliveries
    /// with `plugin_load`).
    pub plugins: Option<Arc<dyn Transformer>>,
    /// Where the engine's time comes from ([`Clock::system`]; tests pass [`Clock::tokio`]).
    pub clock: Clock,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            workers: 64,
            queue_capacity: 10_000,
            max_queued_per_webhook: 2_500,
            lease: Duration::from_secs(300),
            timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
            max_concurrency_per_webhook: 16,
            breaker_threshold: 10,
            breaker_cooldown: Duration::from_secs(30),
            auto_disable_after: Some(Duration::from_secs(5 * 24 * 3600)),
            rotation_grace: Duration::from_secs(24 * 3600),
            max_payload_bytes: 10 << 20,
            retention: Some(Duration::from_secs(7 * 24 * 3600)),
            exclusive_store: true,
            poll_interval: Duration::from_secs(2),
            plugins: None,
            clock: Clock::system(),
        }
    }
}

/// Why an engine operation failed. Each variant maps to one API error code.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The input is invalid; `field` names where (`events[2].type`, `url`).
    #[error("{field}: {message}")]
    Invalid {
        /// Where.
        field: String,
        /// What.
        message: String,
    },
    /// A payload is larger than the maximum.
    #[error("{field}: payload is {size} bytes, over the {max} byte limit")]
    PayloadTooLarge {
        /// Which event.
        field: String,
        /// Its size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The SSRF guard refuses the destination.
    #[error("{field}: {message}")]
    SsrfBlocked {
        /// Where.
        field: String,
        /// Why.
        message: String,
    },
    /// No such record.
    #[error("{kind} `{id}` not found")]
    NotFound {
        /// `webhook`, `delivery`.
        kind: &'static str,
        /// The id.
        id: String,
    },
    /// The id is taken.
    #[error("{kind} `{id}` already exists")]
    Conflict {
        /// `webhook`.
        kind: &'static str,
        /// The id.
        id: String,
    },
    /// Not allowed in the current state.
    #[error("{0}")]
    InvalidState(String),
    /// A stored secret could not be opened (wrong encryption key?).
    #[error("secret: {0}")]
    Secret(String),
    /// The engine is shutting down and accepts nothing new.
    #[error("shutting down: not accepting new work")]
    ShuttingDown,
    /// Storage is full: nothing new is accepted, nothing accepted is lost.
    #[error("storage is full: {0}")]
    StoreFull(String),
    /// The store's writer is saturated: this was refused, nothing was stored; try again
    /// shortly (the API answers 503 with `Retry-After`).
    #[error("{0}")]
    Overloaded(String),
    /// The store failed.
    #[error("store: {0}")]
    Store(StoreError),
    /// A conditional change (`If-Match`) found the webhook at another version.
    #[error("webhook `{id}` is at version {actual}, not the expected version {expected}")]
    VersionMismatch {
        /// The webhook.
        id: String,
        /// The version the caller expected.
        expected: u64,
        /// The current version.
        actual: u64,
    },
    /// An unconditional change lost the compare-and-set to other writers (another daemon
    /// sharing the store) on every one of its attempts; nothing was written.
    #[error(
        "webhook `{id}` was changed by another writer on each of {attempts} attempts to apply \
         this change; nothing was changed, try again"
    )]
    EditConflict {
        /// The webhook.
        id: String,
        /// How many read-modify-writes were tried.
        attempts: usize,
    },
}

impl EngineError {
    /// The stable error code (`invalid_input`, `not_found`, …).
    pub fn code(&self) -> &'static str {
        match self {
            EngineError::Invalid { .. } => "invalid_input",
            EngineError::PayloadTooLarge { .. } => "payload_too_large",
            EngineError::SsrfBlocked { .. } => "ssrf_blocked",
            EngineError::NotFound { .. } => "not_found",
            EngineError::Conflict { .. } => "conflict",
            EngineError::InvalidState(_) => "invalid_state",
            EngineError::Secret(_) => "secret_error",
            EngineError::ShuttingDown => "shutting_down",
            EngineError::StoreFull(_) => "storage_full",
            EngineError::Overloaded(_) => "overloaded",
            EngineError::Store(_) => "store_error",
            EngineError::VersionMismatch { .. } => "precondition_failed",
            EngineError::EditConflict { .. } => "edit_conflict",
        }
    }

    /// The field the error is about, if any.
    pub fn field(&self) -> Option<&str> {
        match self {
            EngineError::Invalid { field, .. }
            | EngineError::PayloadTooLarge { field, .. }
            | EngineError::SsrfBlocked { field, .. } => Some(field),
            _ => None,
        }
    }

    pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> EngineError {
        EngineError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl From<StoreError> for EngineError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { kind, id } => EngineError::NotFound { kind, id },
            StoreError::Conflict { kind, id } => EngineError::Conflict { kind, id },
            StoreError::InvalidState(m) => EngineError::InvalidState(m),
            StoreError::Full(m) => EngineError::StoreFull(m),
            StoreError::Closed => EngineError::ShuttingDown,
            busy @ StoreError::Busy { .. } => EngineError::Overloaded(busy.to_string()),
            StoreError::VersionMismatch {
                id,
                expected,
                actual,
            } => EngineError::VersionMismatch {
                id,
                expected,
                actual,
            },
            other => EngineError::Store(other),
        }
    }
}

/// A callback receiving the results of one dispatched event's deliveries.
pub type ResultCallback = Arc<dyn Fn(DeliveryResult) + Send + Sync>;

const CLAIM_BATCH: usize = 512;
const NO_DUE: i64 = i64::MAX;
const MIN_CLAIM_GAP_MS: i64 = 5;
/// Capped webhooks with at least this much room get an undivided claim of that size.
const MIN_DIVIDED_CLAIM: usize = 32;

/// The running engine. Cheap to clone; every clone drives the same engine.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("owner", &self.inner.owner)
            .finish_non_exhaustive()
    }
}

pub(crate) struct Inner {
    cfg: EngineConfig,
    defaults: Defaults,
    store: Arc<dyn Store>,
    sender: HttpSender,
    /// Swapped only by a key rotation ([`Engine::rotate_sealing_key`]); read by admin
    /// changes and webhook installs, never per delivery.
    sealer: std::sync::RwLock<Sealer>,
    registry: Registry,
    /// This process's lease owner name.
    owner: String,
    /// Room in memory for deliveries (queued or in flight).
    capacity: Arc<Semaphore>,
    /// Requests in flight, over all webhooks, shared fairly among them.
    workers: Arc<FairPool>,
    /// Wakes the claimer.
    wake: Notify,
    /// Set when work waits in the store for room in memory.
    starved: AtomicBool,
    /// The earliest due time the claimer knows of.
    next_due: AtomicI64,
    /// Delivery ids held in memory (a re-claim after an expired lease must not run twice).
    in_memory: Mutex<HashSet<String>>,
    events: broadcast::Sender<EngineEvent>,
    metrics: Metrics,
    /// Readers: ingest calls in progress. The writer: shutdown (closes it for good).
    gate: RwLock<bool>,
    cancel: CancellationToken,
    /// Cancelled when shutdown's grace ends: `dispatch_sync` attempts still running stop.
    halt: CancellationToken,
    tasks: TaskTracker,
    /// `dispatch` callbacks waiting for their deliveries' results (`callbacks.rs`).
    callbacks: callbacks::Callbacks,
    started: tokio::time::Instant,
    /// Held across each webhook change's read, write and install (`admin.rs`).
    admin: tokio::sync::Mutex<()>,
    /// API tokens seen, by digest (`tokens.rs`).
    tokens: tokens::TokenCache,
}

/// A delivery's room in memory: one of the engine's slots and one of its webhook's share.
/// Dropping it gives both back.
pub(crate) struct MemorySlot {
    _slot: OwnedSemaphorePermit,
    health: Arc<Health>,
    retry: bool,
}

impl Drop for MemorySlot {
    fn drop(&mut self) {
        self.health.unreserve(self.retry);
    }
}

impl Inner {
    /// Builds and installs a webhook's runtime, and gives the request pool its limit.
    pub(crate) fn install(
        &self,
        record: hookline_core::model::WebhookRecord,
    ) -> Result<Arc<Runtime>, EngineError> {
        let runtime =
            self.registry
                .install(record, &self.sealer(), &self.sender, &self.defaults)?;
        self.workers
            .set_limit(&runtime.record.id, runtime.max_concurrency);
        Ok(runtime)
    }

    /// A webhook's share of memory.
    fn memory_cap(&self, runtime: &Runtime) -> u32 {
        let share = self
            .cfg
            .max_queued_per_webhook
            .clamp(1, self.cfg.queue_capacity.max(1));
        runtime.memory_cap(u32::try_from(share).unwrap_or(u32::MAX))
    }

    /// Wall time now, from the engine's clock.
    pub(crate) fn now_ms(&self) -> Millis {
        self.cfg.clock.now_ms()
    }

    /// Monotonic milliseconds since the engine started: in-memory state that must not jump
    /// with the system clock (the rate limiter).
    pub(crate) fn mono_ms(&self) -> f64 {
        self.cfg
            .clock
            .now()
            .duration_since(self.started)
            .as_secs_f64()
            * 1000.0
    }
}

impl Engine {
    /// Starts the engine over `store`: ends stale leases (exclusive stores), loads webhooks,
    /// and starts the claimer and the retention task.
    pub async fn start(
        store: Arc<dyn Store>,
        sender: HttpSender,
        sealer: Sealer,
        cfg: EngineConfig,
    ) -> Result<Engine, EngineError> {
        if cfg.exclusive_store {
            let released = store.release_all().await?;
            if released > 0 {
                tracing::info!(
                    released,
                    "returned deliveries leased by a previous run to the queue"
                );
            }
        }
        let defaults = Defaults {
            timeout: cfg.timeout,
            policy: cfg.retry.clone(),
            max_concurrency: cfg.max_concurrency_per_webhook.max(1),
            breaker_threshold: cfg.breaker_threshold,
            breaker_cooldown: cfg.breaker_cooldown,
            auto_disable_after: cfg.auto_disable_after,
        };
        let (events, _) = broadcast::channel(16_384);
        let inner = Arc::new(Inner {
            defaults,
            store,
            sender,
            sealer: std::sync::RwLock::new(sealer),
            registry: Registry::default(),
            owner: new_id_at("node", cfg.clock.now_ms()),
            capacity: Arc::new(Semaphore::new(cfg.queue_capacity.max(1))),
            workers: FairPool::new(cfg.workers.max(1)),
            wake: Notify::new(),
            starved: AtomicBool::new(true),
            next_due: AtomicI64::new(0),
            in_memory: Mutex::new(HashSet::default()),
            events,
            metrics: Metrics::default(),
            gate: RwLock::new(true),
            cancel: CancellationToken::new(),
            halt: CancellationToken::new(),
            tasks: TaskTracker::new(),
            callbacks: callbacks::Callbacks::default(),
            started: cfg.clock.now(),
            admin: tokio::sync::Mutex::new(()),
            tokens: tokens::TokenCache::default(),
            cfg,
        });
        for record in inner.store.list_webhooks().await? {
            let id = record.id.clone();
            // A store written unsealed (or before the mode marker, or before URLs and
            // headers were sealed) is sealed on the first start with a key.
            let loaded = if admin::needs_reseal(&inner, &record) {
                let rewrite = hookline_core::at_rest::needs_seal(&inner.sealer(), &record);
                admin::reseal_secrets(&inner, &id, rewrite).await
            } else {
                inner
                    .opened(record)
                    .and_then(|record| inner.install(record))
                    .map(drop)
            };
            if let Err(e) = loaded {
                tracing::error!(webhook = %id, error = %e, "cannot load webhook; it will not receive deliveries");
            }
        }
        let engine = Engine { inner };
        let claimer = engine.inner.clone();
        engine.inner.tasks.spawn(claim_loop(claimer));
        engine
            .inner
            .tasks
            .spawn(callbacks::sweep_loop(engine.inner.clone()));
        if let Some(retention) = engine.inner.cfg.retention {
            let inner = engine.inner.clone();
            engine.inner.tasks.spawn(retention_loop(inner, retention));
        }
        Ok(engine)
    }

    /// Ingests events: validates every one (the batch is all or nothing), stores them with
    /// one delivery per matching webhook, and returns once they are durable.
    pub async fn ingest(&self, inputs: Vec<EventInput>) -> Result<Vec<IngestResult>, EngineError> {
        let gate = self.inner.gate.read().await;
        if !*gate {
            return Err(EngineError::ShuttingDown);
        }
        self.inner.ingest(inputs, None).await
    }

    /// Dispatches one event (the origin's `Dispatch`): returns once it is durably queued; the
    /// callback then gets one [`DeliveryResult`] per delivery as each reaches a final status
    /// in this process. Dropping the returned future gives up waiting (the event may still
    /// have been queued).
    pub async fn dispatch(
        &self,
        input: EventInput,
        on_result: ResultCallback,
    ) -> Result<IngestResult, EngineError> {
        let gate = self.inner.gate.read().await;
        if !*gate {
            return Err(EngineError::ShuttingDown);
        }
        let mut results = self.inner.ingest(vec![input], Some(on_result)).await?;
        results
            .pop()
            .ok_or_else(|| EngineError::InvalidState("ingest returned no result".into()))
    }

    /// Delivers one event to one webhook inline, without storing anything (the origin's
    /// `DispatchSync`): one attempt, its result returned.
    ///
    /// A shutdown lets the attempt finish within its grace, like deliveries in flight; if
    /// the grace ends first, this returns [`EngineError::ShuttingDown`] and the request is
    /// dropped (the receiver may have got it).
    pub async fn dispatch_sync(
        &self,
        webhook_id: &str,
        input: EventInput,
    ) -> Result<DeliveryResult, EngineError> {
        // The gate is held only to be let in, never across the attempt: shutdown closes it
        // at once instead of waiting for a receiver (up to its timeout). Taken under the
        // gate, the tracker token makes the attempt work in flight that shutdown waits for.
        let _in_flight = {
            let gate = self.inner.gate.read().await;
            if !*gate {
                return Err(EngineError::ShuttingDown);
            }
            self.inner.tasks.token()
        };
        let runtime = self
            .inner
            .registry
            .get(webhook_id)
            .ok_or_else(|| EngineError::NotFound {
                kind: "webhook",
                id: webhook_id.to_owned(),
            })?;
        let now = self.inner.now_ms();
        let mut input = input;
        let payload = self.inner.build_payload(&mut input, 0)?;
        let job = DeliveryJob {
            id: new_id_at("dlv", now),
            event_id: new_id_at("evt", now),
            event_type: input.event_type,
            webhook_id: webhook_id.to_owned(),
            attempts: 0,
            payload,
            received_at: now,
        };
        tokio::select! {
            result = deliver::attempt_once(&self.inner, &runtime, &job) => Ok(result),
            _ = self.inner.halt.cancelled() => Err(EngineError::ShuttingDown),
        }
    }

    /// Subscribes to changes (deliveries, webhooks). A slow subscriber that falls behind
    /// gets `RecvError::Lagged` and should re-read a snapshot.
    pub fn subscribe(&self) -> broadcast::Receiver<EngineEvent> {
        self.inner.events.subscribe()
    }

    /// Live counters.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// True until shutdown starts.
    pub fn is_accepting(&self) -> bool {
        !self.inner.cancel.is_cancelled()
    }

    /// Stops: refuses new events (waiting for ingests in progress to finish), stops
    /// claiming, lets deliveries in flight (and `dispatch_sync` attempts) finish within
    /// `grace`, and returns the rest to the store (they stay pending; nothing is lost).
    /// `dispatch` callbacks still waiting are dropped.
    pub async fn shutdown(&self, grace: Duration) {
        {
            let mut open = self.inner.gate.write().await;
            *open = false;
        }
        self.inner.cancel.cancel();
        self.inner.tasks.close();
        if tokio::time::timeout(grace, self.inner.tasks.wait())
            .await
            .is_err()
        {
            self.inner.halt.cancel();
            let left = self.inner.in_memory_ids();
            tracing::warn!(
                deliveries = left.len(),
                "shutdown grace elapsed; returning unfinished deliveries to the queue"
            );
            if !left.is_empty() {
                let _ = self
                    .inner
                    .store
                    .release(self.inner.owner.clone(), left)
                    .await;
            }
        }
        // No result reports after shutdown: drop the callbacks still waiting.
        self.inner.callbacks.clear();
    }

    /// How many deliveries of `dispatch`ed events still wait to report to their callback
    /// (for tests: the count goes back to 0 however the deliveries end).
    #[doc(hidden)]
    pub fn waiting_callbacks(&self) -> usize {
        self.inner.callbacks.waiting()
    }
}

impl Inner {
    /// Validates an event and writes its payload; takes the event's data (it is embedded in
    /// the payload, not copied).
    fn build_payload(&self, input: &mut EventInput, index: usize) -> Result<Bytes, EngineError> {
        let field = |name: &str| format!("events[{index}].{name}");
        validate_event_type(&input.event_type)
            .map_err(|e| EngineError::invalid(field("type"), e.to_string()))?;
        if input.resource.id.is_empty() {
            return Err(EngineError::invalid(
                field("resource.id"),
                "must not be empty",
            ));
        }
        if input.resource.r#type.is_empty() {
            return Err(EngineError::invalid(
                field("resource.type"),
                "must not be empty",
            ));
        }
        if let Some(key) = &input.id
            && (key.is_empty() || key.len() > 256)
        {
            return Err(EngineError::invalid(
                field("id"),
                "idempotency key must be 1 to 256 characters",
            ));
        }
        let payload = Payload::new(
            input.event_type.clone(),
            input.resource.clone(),
            input.data.take(),
            self.cfg.clock.now_utc(),
        )
        .map_err(|e| EngineError::invalid(field("type"), e.to_string()))?;
        let bytes = payload.to_bytes();
        if bytes.len() > self.cfg.max_payload_bytes {
            return Err(EngineError::PayloadTooLarge {
                field: format!("events[{index}]"),
                size: bytes.len(),
                max: self.cfg.max_payload_bytes,
            });
        }
        Ok(Bytes::from(bytes))
    }

    async fn ingest(
        self: &Arc<Self>,
        inputs: Vec<EventInput>,
        callback: Option<ResultCallback>,
    ) -> Result<Vec<IngestResult>, EngineError> {
        let now = self.now_ms();
        let mut events = Vec::with_capacity(inputs.len());
        // Each delivery, with its webhook's health when it took room in the webhook's share
        // of memory (to be delivered from memory, leased to us).
        let mut jobs: Vec<Vec<(DeliveryJob, Option<Arc<Health>>)>> =
            Vec::with_capacity(inputs.len());
        let mut matched = Vec::new();
        let mut reserved = 0usize;
        for (i, mut input) in inputs.into_iter().enumerate() {
            let payload = self.build_payload(&mut input, i)?;
            let event_id = new_id_at("evt", now);
            matched.clear();
            self.registry.matching(&input.event_type, &mut matched);
            let mut deliveries = Vec::with_capacity(matched.len());
            let mut event_jobs = Vec::with_capacity(matched.len());
            for (webhook_id, active) in matched.drain(..) {
                let id = new_id_at("dlv", now);
                let room = active.and_then(|runtime| {
                    let health = &runtime.health;
                    // An open circuit holds them in the store, like a paused webhook's.
                    if health.holds_back(now).is_none()
                        && health.try_reserve(self.memory_cap(&runtime), false)
                    {
                        Some(health.clone())
                    } else {
                        health.overflow.store(true, Relaxed);
                        None
                    }
                });
                reserved += usize::from(room.is_some());
                deliveries.push(NewDelivery {
                    id: id.clone(),
                    webhook_id: webhook_id.clone(),
                    leased: room.is_some(),
                });
                event_jobs.push((
                    DeliveryJob {
                        id,
                        event_id: event_id.clone(),
                        event_type: input.event_type.clone(),
                        webhook_id,
                        attempts: 0,
                        payload: payload.clone(),
                        received_at: now,
                    },
                    room,
                ));
            }
            events.push(NewEvent {
                id: event_id,
                idempotency_key: input.id,
                event_type: input.event_type,
                resource_id: input.resource.id,
                resource_type: input.resource.r#type,
                payload,
                received_at: now,
                deliveries,
                lease: None,
            });
            jobs.push(event_jobs);
        }

        // Room in the engine's memory for all that found room in their webhook's share?
        // Then they start from memory, leased to us; otherwise all wait for the claimer.
        let permits = match u32::try_from(reserved) {
            Ok(n) if n > 0 => self.capacity.clone().try_acquire_many_owned(n).ok(),
            _ => None,
        };
        if permits.is_some() {
            let lease = Lease {
                owner: self.owner.clone(),
                until: now + self.cfg.lease.as_millis() as Millis,
            };
            for event in &mut events {
                if event.deliveries.iter().any(|d| d.leased) {
                    event.lease = Some(lease.clone());
                }
            }
        } else if reserved > 0 {
            self.starved.store(true, Relaxed);
            for event in &mut events {
                for delivery in &mut event.deliveries {
                    delivery.leased = false;
                }
            }
            for (_, room) in jobs.iter_mut().flatten() {
                if let Some(health) = room.take() {
                    health.unreserve(false);
                }
            }
        }

        let ids: Vec<(String, u32)> = events
            .iter()
            .map(|e| (e.id.clone(), e.deliveries.len() as u32))
            .collect();
        let outcomes = match self.store.ingest(events).await {
            Ok(outcomes) => outcomes,
            Err(e) => {
                for (_, room) in jobs.iter_mut().flatten() {
                    if let Some(health) = room.take() {
                        health.unreserve(false);
                    }
                }
                return Err(e.into());
            }
        };

        let mut results = Vec::with_capacity(outcomes.len());
        let mut permits = permits;
        let mut created_deliveries = 0u64;
        let mut duplicates = 0u64;
        for ((outcome, (event_id, count)), event_jobs) in outcomes.into_iter().zip(ids).zip(jobs) {
            match outcome {
                IngestOutcome::Created => {
                    created_deliveries += u64::from(count);
                    if let Some(cb) = &callback {
                        self.callbacks.register(
                            &event_id,
                            event_jobs.iter().map(|(job, _)| job.id.clone()),
                            cb,
                        );
                    }
                    for (job, room) in event_jobs {
                        self.announce_created(&job);
                        let slot = room.and_then(|health| {
                            let one = permits.as_mut().and_then(|p| p.split(1));
                            if one.is_none() {
                                health.unreserve(false);
                            }
                            one.map(|slot| MemorySlot {
                                _slot: slot,
                                health,
                                retry: false,
                            })
                        });
                        if let Some(slot) = slot {
                            self.spawn_delivery(job, slot);
                        }
                    }
                    results.push(IngestResult {
                        event_id,
                        deliveries: count,
                        duplicate: false,
                    });
                }
                IngestOutcome::Duplicate {
                    event_id,
                    deliveries,
                } => {
                    duplicates += 1;
                    for (_, room) in event_jobs {
                        if let Some(health) = room {
                            health.unreserve(false);
                        }
                    }
                    results.push(IngestResult {
                        event_id,
                        deliveries,
                        duplicate: true,
                    });
                }
            }
        }
        // Permits of duplicates go back; work left in the store is the claimer's.
        drop(permits);
        let m = &self.metrics;
        m.events_accepted
            .fetch_add(results.len() as u64 - duplicates, Relaxed);
        m.events_duplicate.fetch_add(duplicates, Relaxed);
        m.deliveries_created.fetch_add(created_deliveries, Relaxed);
        if self.starved.load(Relaxed) {
            self.wake.notify_one();
        }
        Ok(results)
    }

    fn announce_created(&self, job: &DeliveryJob) {
        if self.events.receiver_count() == 0 {
            return;
        }
        let _ = self.events.send(EngineEvent::Delivery(DeliveryChange {
            id: job.id.clone(),
            event_id: job.event_id.clone(),
            event_type: job.event_type.clone(),
            webhook_id: job.webhook_id.clone(),
            status: hookline_core::model::DeliveryStatus::Pending,
            attempts: 0,
            max_attempts: self
                .registry
                .get(&job.webhook_id)
                .map_or(0, |r| r.policy.max_attempts),
            status_code: None,
            error_kind: None,
            error: None,
            latency_ms: None,
            next_attempt_at: Some(job.received_at),
            at: job.received_at,
        }));
    }

    /// Runs a delivery from memory. `slot` is its room in memory, freed when it ends.
    fn spawn_delivery(self: &Arc<Self>, job: DeliveryJob, slot: MemorySlot) {
        if !lock(&self.in_memory).insert(job.id.clone()) {
            return; // already running here (re-claimed after its lease ended)
        }
        self.metrics.in_memory.fetch_add(1, Relaxed);
        let inner = self.clone();
        self.tasks.spawn(async move {
            let id = job.id.clone();
            let webhook_id = job.webhook_id.clone();
            deliver::run(&inner, job).await;
            lock(&inner.in_memory).remove(&id);
            inner.metrics.in_memory.fetch_sub(1, Relaxed);
            let health = slot.health.clone();
            drop(slot);
            // Work waits in the store: wake the claimer once there is room for a batch worth
            // a store round trip, not for every delivery that ends; the same for the room in
            // this webhook's share of memory.
            let engine_room = inner.capacity.available_permits() >= inner.claim_threshold()
                && inner.starved.swap(false, Relaxed);
            if engine_room
                || (health.overflow.load(Relaxed)
                    && inner.has_room_worth_a_claim(&health, &webhook_id)
                    && health.overflow.swap(false, Relaxed))
            {
                inner.wake.notify_one();
            }
        });
    }

    /// True when a webhook whose deliveries wait in the store has a quarter of its share
    /// of memory free.
    fn has_room_worth_a_claim(&self, health: &Health, webhook_id: &str) -> bool {
        match self.registry.get(webhook_id) {
            Some(runtime) => {
                let cap = self.memory_cap(&runtime);
                let (room, retries) = health.room(cap);
                room >= (cap / 4).max(1) && retries > 0
            }
            None => false,
        }
    }

    /// Room in memory worth a claim while deliveries are still running here: claiming one
    /// or two at a time would cost a store command (and a read of the next due time) per
    /// delivery under sustained load.
    fn claim_threshold(&self) -> usize {
        (self.cfg.queue_capacity / 8).clamp(1, CLAIM_BATCH / 4)
    }

    fn in_memory_ids(&self) -> Vec<String> {
        lock(&self.in_memory).iter().cloned().collect()
    }

    /// Notes a retry due at `at`, waking the claimer if that is sooner than it planned.
    fn schedule_wake(&self, at: Millis) {
        let prev = self.next_due.fetch_min(at, Relaxed);
        if at < prev {
            self.wake.notify_one();
        }
    }

    /// Wakes the claimer now (a webhook resumed, a delivery retried).
    fn kick(&self) {
        self.next_due.store(0, Relaxed);
        self.starved.store(true, Relaxed);
        self.wake.notify_one();
    }

    fn emit(&self, event: EngineEvent) {
        if self.events.receiver_count() > 0 {
            let _ = self.events.send(event);
        }
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What the claimer may take now: the webhooks to skip and cap, and when an open circuit
/// half-opens (its probe is claimed then).
struct ClaimPlan {
    shares: ClaimShares,
    half_opens_at: Option<Millis>,
}

impl Inner {
    /// Divides the next claim among webhooks: a webhook with no room left in its share of
    /// memory, or whose circuit holds requests back, is skipped; one with little room (or
    /// little room for retries) is capped; a half-open one gets one delivery, its probe.
    fn claim_plan(&self, now: Millis) -> ClaimPlan {
        let mut shares = ClaimShares::default();
        let mut half_opens_at: Option<Millis> = None;
        // Inactive webhooks are left out: the store holds their deliveries.
        self.registry.for_each_active(|runtime| {
            let id = &runtime.record.id;
            let health = &runtime.health;
            if let Some(until) = health.holds_back(now) {
                shares.skip.push(id.clone());
                if until > now {
                    half_opens_at = Some(half_opens_at.map_or(until, |t| t.min(until)));
                }
                return;
            }
            let cap = self.memory_cap(runtime);
            let (mut room, mut retries) = health.room(cap);
            if health.half_open(now) {
                room = room.min(1);
                retries = retries.min(1);
            }
            if room == 0 || retries == 0 {
                // Skipped until a quarter of its share is free (it wakes the claimer). With
                // no room for retries its first attempts still come straight from ingest
                // (retries take half the share at most); left in the claim, its retries
                // would fill the claim's window of due rows and hide other webhooks' rows.
                health.overflow.store(true, Relaxed);
                shares.skip.push(id.clone());
            } else if room < CLAIM_BATCH as u32 || retries < CLAIM_BATCH as u32 {
                shares.caps.push(ClaimCap {
                    webhook_id: id.clone(),
                    limit: room,
                    retries,
                });
            }
        });
        ClaimPlan {
            shares,
            half_opens_at,
        }
    }

    /// Runs claimed deliveries from memory, each with its room there.
    fn start_claimed(self: &Arc<Self>, jobs: Vec<DeliveryJob>, permits: &mut OwnedSemaphorePermit) {
        for job in jobs {
            let retry = job.attempts > 0;
            let health = match self.registry.get(&job.webhook_id) {
                Some(runtime) => runtime.health.clone(),
                // Deleted meanwhile: the delivery is released at once.
                None => Arc::new(Health::default()),
            };
            let Some(one) = permits.split(1) else {
                break;
            };
            health.reserve(retry);
            self.spawn_delivery(
                job,
                MemorySlot {
                    _slot: one,
                    health,
                    retry,
                },
            );
        }
    }
}

/// Claims due deliveries from the store while there is room in memory, divided fairly
/// among webhooks ([`Inner::claim_plan`]), then sleeps until the earliest due time of a
/// webhook with room (or a wake-up, or the safety poll).
async fn claim_loop(inner: Arc<Inner>) {
    // Woken by the safety poll rather than a due time or a wake-up: look before claiming
    // (a read), since a claim is a write even when it finds nothing.
    let mut polled = false;
    loop {
        let mut failed = false;
        let mut full = false;
        let mut claimed_any = false;
        let mut claimed_up_to = Millis::MIN;
        if polled {
            let now = inner.now_ms();
            let skip = inner.claim_plan(now).shares.skip;
            polled = !matches!(inner.store.next_due_except(skip).await, Ok(Some(d)) if d <= now);
        }
        if !polled {
            loop {
                let room = inner.capacity.available_permits().min(CLAIM_BATCH);
                let busy = inner.metrics.in_memory.load(Relaxed) > 0;
                if room == 0 || (busy && room < inner.claim_threshold()) {
                    inner.starved.store(true, Relaxed);
                    full = true;
                    break;
                }
                let Ok(mut permits) = inner.capacity.clone().try_acquire_many_owned(room as u32)
                else {
                    break;
                };
                let now = inner.now_ms();
                claimed_up_to = now;
                let mut shares = inner.claim_plan(now).shares;
                // Caps no smaller than a claim worth making bind nothing when the claim is
                // no larger than the smallest: an undivided claim (a plain index range
                // scan) then.
                let mut limit = room as u32;
                let smallest = shares.caps.iter().map(|c| c.limit.min(c.retries)).min();
                if let Some(smallest) = smallest
                    && smallest as usize >= inner.claim_threshold().min(MIN_DIVIDED_CLAIM)
                {
                    limit = limit.min(smallest);
                    shares.caps.clear();
                }
                let req = ClaimRequest {
                    owner: inner.owner.clone(),
                    now,
                    lease_until: now + inner.cfg.lease.as_millis() as Millis,
                    limit,
                    shares,
                };
                let claimed = tokio::select! {
                    r = inner.store.claim(req) => r,
                    _ = inner.cancel.cancelled() => return,
                };
                match claimed {
                    Ok(jobs) => {
                        let n = jobs.len();
                        claimed_any |= n > 0;
                        inner.start_claimed(jobs, &mut permits);
                        if n < limit as usize {
                            break;
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "claiming due deliveries failed; retrying shortly");
                        failed = true;
                        break;
                    }
                }
            }
        }
        // Memory full: no store read; a delivery ending (or a retry scheduled) wakes us.
        // Otherwise the earliest due time among the webhooks a claim would not skip.
        let plan = inner.claim_plan(inner.now_ms());
        let mut due = if failed || full {
            None
        } else {
            match inner.store.next_due_except(plan.shares.skip).await {
                Ok(due) => due,
                Err(e) => {
                    tracing::error!(error = %e, "reading the next due time failed");
                    None
                }
            }
        };
        // A claim that took nothing though this was due already: it belongs to webhooks
        // whose share is taken (their retry lane, say). Room coming back wakes us; asking
        // again every few milliseconds would not help.
        if !claimed_any && due.is_some_and(|d| d <= claimed_up_to) {
            due = None;
        }
        // An open circuit half-opens: its probe is claimed then.
        due = match (due, plan.half_opens_at) {
            (Some(d), Some(h)) => Some(d.min(h)),
            (d, h) => d.or(h),
        };
        inner.next_due.store(due.unwrap_or(NO_DUE), Relaxed);
        // Read after the store answered: the sleep is measured from when it starts.
        let now = inner.now_ms();
        let poll = inner.cfg.poll_interval.as_millis() as i64;
        // Memory full: a finishing delivery wakes us. Otherwise sleep until the earliest due
        // time, at least a few ms (a due time just passed is claimed on the next round).
        let wait_ms = if full {
            poll
        } else {
            due.map_or(poll, |d| {
                (d - now).clamp(MIN_CLAIM_GAP_MS, poll.max(MIN_CLAIM_GAP_MS))
            })
        };
        let planned = due.is_some_and(|d| d - now <= poll);
        polled = false;
        tokio::select! {
            _ = inner.wake.notified() => {}
            _ = tokio::time::sleep(Duration::from_millis(wait_ms as u64)) => polled = !planned,
            _ = inner.cancel.cancelled() => return,
        }
    }
}

/// Prunes terminal deliveries older than the retention window, hourly.
async fn retention_loop(inner: Arc<Inner>, retention: Duration) {
    loop {
        let before = inner.now_ms() - retention.as_millis() as Millis;
        match inner.store.prune(before).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(pruned = n, "pruned old deliveries"),
            Err(e) => tracing::warn!(error = %e, "pruning old deliveries failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
            _ = inner.cancel.cancelled() => return,
        }
    }
}
