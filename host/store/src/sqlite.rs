//! The embedded store: one SQLite file in WAL mode, written by one thread with group commit.
//!
//! [`SqliteStore::open`] takes a path and [`SqliteOptions`]; the store implements
//! [`Store`]. Nothing else is needed to run Hookline on one machine.
//!
//! How it works:
//! - **One writer.** Every write (ingest, claim, complete, release, webhook changes, retry,
//!   replay, prune) is a command sent to a dedicated thread that owns the only read-write
//!   connection. The thread takes every command already queued, runs them in one
//!   transaction (each inside its own savepoint, so a failing command fails only its own
//!   caller; the hot claim/complete/release commands, which cannot fail half-way, skip the
//!   savepoint), commits once and then answers: under load, one fsync covers thousands of
//!   events. A caller hears "stored" only after the commit; if the commit fails, it hears
//!   the error. A full disk or an I/O error is [`StoreError::Full`]: new writes are refused
//!   and reads go on.
//! - **Checkpoints off the write path.** A second thread copies the write-ahead log into
//!   the database file, so the writer never waits for that I/O.
//! - **Pooled readers.** Reads (listing, details, statistics, `next_due`, webhooks) run on a
//!   few read-only connections on Tokio's blocking threads, beside the writer.
//! - **Indexes shaped by the hot queries.** A claim is a range scan over an index of
//!   claimable deliveries ordered by the time they become claimable; statistics read counters
//!   maintained in the same transactions as the rows they count. The `schema` submodule
//!   describes the tables and their migrations.
//! - **One process per file.** `<file>.lock` is locked (an advisory, whole-file lock) for as
//!   long as the store is open; a second daemon on the same file is refused with an error
//!   naming the file.
//! - **Shutdown.** [`SqliteStore::close`] (or dropping the store) lets the writer finish
//!   every command already queued, checkpoints the log into the database file, and releases
//!   the lock. Dropping the store waits for that (blocking the dropping thread briefly).
//! - **Cancellation.** A write whose caller stops waiting still runs (or has run): dropping
//!   an `ingest` future never un-stores events, it only loses the answer.
//!
//! Durability: with the default [`Synchronous::Full`], a commit is on disk when `ingest`
//! returns (a crash or power loss keeps it). [`Synchronous::Normal`] survives a process
//! crash but may lose the last commits on power loss.
//!
//! ```no_run
//! # async fn demo() -> Result<(), hookline_store::StoreError> {
//! use hookline_store::Store;
//! use hookline_store::sqlite::{SqliteOptions, SqliteStore};
//!
//! let store = SqliteStore::open("hookline-data/hookline.db".as_ref(), SqliteOptions::default())?;
//! let stats = store.stats(0).await?;
//! println!("{} events stored", stats.events);
//! store.close().await;
//! # Ok(())
//! # }
//! ```

mod checkpoint;
mod codec;
mod read;
mod schema;
mod tokens;
mod write;
mod writer;

#[cfg(test)]
mod tests;

use std::fs::{File, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::oneshot;

use self::read::ReadPool;
use self::writer::{Containment, Msg, Op, WriteFn};
use crate::{
    BootstrapToken, BoxFuture, ClaimRequest, Store, StoreError, StoreResult, WebhookStateChange,
};
use hookline_core::model::{
    AttemptRecord, DeliveryDetail, DeliveryFilter, DeliveryJob, DeliverySummary, IngestOutcome,
    Millis, NewEvent, Page, StoreStats, WebhookRecord, WebhookState,
};
use hookline_core::token::{TokenDigest, TokenRecord};

/// How hard a commit waits for the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Synchronous {
    /// Every commit is flushed to the disk before it is acknowledged (`PRAGMA synchronous =
    /// FULL`): nothing acknowledged is lost, even on power loss.
    #[default]
    Full,
    /// Commits survive a crash of the process but the last ones may be lost on power loss
    /// (`PRAGMA synchronous = NORMAL`); faster on slow disks.
    Normal,
}

/// Settings of a [`SqliteStore`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteOptions {
    /// Commit durability (default [`Synchronous::Full`]).
    pub synchronous: Synchronous,
    /// How long a connection waits for a lock held by another connection (default 5 s).
    pub busy_timeout: Duration,
    /// Read-only connections for concurrent reads (default 4).
    pub read_connections: usize,
    /// The writer's page cache, in KiB (default 64 MiB).
    pub cache_size_kib: u32,
    /// A batch (one transaction) takes queued commands until their rows reach this many
    /// (default 10 000); a single larger command still runs whole.
    pub max_batch_rows: usize,
    /// Rows (roughly) queued for the writer past which `ingest` is refused with
    /// [`StoreError::Busy`] instead of queued (default 100 000, ten full batches). The
    /// engine's own writes (claims, results, releases) are never refused: their number is
    /// bounded by the deliveries it holds in memory.
    pub max_queued_rows: usize,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            synchronous: Synchronous::Full,
            busy_timeout: Duration::from_secs(5),
            read_connections: 4,
            cache_size_kib: 64 * 1024,
            max_batch_rows: 10_000,
            max_queued_rows: 100_000,
        }
    }
}

/// Finished deliveries deleted per pruning step: small enough that the writer is never held
/// for long, so ingest and claims interleave with a large prune.
const PRUNE_STEP: u32 = 1000;

/// The embedded SQLite [`Store`]. See the [module docs](self).
pub struct SqliteStore {
    path: PathBuf,
    commands: mpsc::Sender<Msg>,
    /// Write commands sent to the writer, and their weight (rows, roughly).
    written: (AtomicU64, AtomicU64),
    /// Weight of the commands sent and not answered yet (queued or running).
    queued: Arc<AtomicUsize>,
    /// [`SqliteOptions::max_queued_rows`].
    max_queued_rows: usize,
    writer: Option<JoinHandle<()>>,
    readers: Arc<ReadPool>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating it and its directory if needed) the store at `path`, migrates its
    /// schema and starts the writer thread.
    ///
    /// Fails if another process (or another store in this one) has the file open, if the
    /// file is not a Hookline store, or if its schema is newer than this build knows.
    pub fn open(path: &Path, opts: SqliteOptions) -> StoreResult<SqliteStore> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Backend(format!("cannot create directory {}: {e}", dir.display()))
            })?;
        }
        let lock = lock_file(path)?;
        let conn = schema::open_writer(path, &opts)?;
        let checkpoint_conn = schema::open_checkpointer(path, &opts)?;
        let readers = Arc::new(ReadPool::new(
            path.to_owned(),
            opts.busy_timeout,
            opts.read_connections,
        )?);
        let (commands, receiver) = mpsc::channel();
        let writer = writer::spawn(
            conn,
            checkpoint_conn,
            lock,
            receiver,
            opts.max_batch_rows.max(1),
        )
        .map_err(|e| StoreError::Backend(format!("cannot start the store writer: {e}")))?;
        tracing::debug!(path = %path.display(), "Opened the SQLite store.");
        Ok(SqliteStore {
            written: Default::default(),
            queued: Default::default(),
            max_queued_rows: opts.max_queued_rows.max(1),
            path: path.to_owned(),
            commands,
            writer: Some(writer),
            readers,
        })
    }

    /// Write commands run so far and their total weight (the rows they write, roughly):
    /// how busy the engine keeps the writer, for tests and diagnostics.
    pub fn write_counts(&self) -> (u64, u64) {
        (self.written.0.load(Relaxed), self.written.1.load(Relaxed))
    }

    /// Rows (roughly) of the write commands sent and not answered yet.
    pub fn queued_rows(&self) -> usize {
        self.queued.load(Relaxed)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stops the writer after the commands already queued, checkpoints and releases the
    /// file lock. Later writes fail with [`StoreError::Closed`]; reads keep answering until
    /// the store is dropped. Idempotent.
    pub async fn close(&self) {
        let (ack, done) = oneshot::channel();
        if self.commands.send(Msg::Close(Some(ack))).is_ok() {
            // An error means the writer is gone already: closed either way.
            let _ = done.await;
        }
    }

    /// Sends a write command, run in its own savepoint, and waits for its committed result.
    async fn write<I, T>(&self, input: I, weight: usize, run: WriteFn<I, T>) -> StoreResult<T>
    where
        I: Send + 'static,
        T: Send + 'static,
    {
        self.send(input, weight, Containment::Savepoint, run).await
    }

    /// Like [`write`](Self::write), for the hot commands that can only fail with the whole
    /// transaction (see [`Containment::Transaction`]): no savepoint.
    async fn write_unguarded<I, T>(
        &self,
        input: I,
        weight: usize,
        run: WriteFn<I, T>,
    ) -> StoreResult<T>
    where
        I: Send + 'static,
        T: Send + 'static,
    {
        self.send(input, weight, Containment::Transaction, run)
            .await
    }

    /// Like [`write_unguarded`](Self::write_unguarded), refused with [`StoreError::Busy`]
    /// when the writer's queue is full: for what comes from outside (ingest).
    async fn write_refusable<I, T>(
        &self,
        input: I,
        weight: usize,
        run: WriteFn<I, T>,
    ) -> StoreResult<T>
    where
        I: Send + 'static,
        T: Send + 'static,
    {
        // A command larger than the whole limit is let through alone, when nothing waits.
        let queued = self.queued.load(Relaxed);
        if queued > 0 && queued.saturating_add(weight) > self.max_queued_rows {
            return Err(StoreError::Busy {
                queued,
                limit: self.max_queued_rows,
            });
        }
        self.send(input, weight, Containment::Transaction, run)
            .await
    }

    async fn send<I, T>(
        &self,
        input: I,
        weight: usize,
        containment: Containment,
        run: WriteFn<I, T>,
    ) -> StoreResult<T>
    where
        I: Send + 'static,
        T: Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        self.written.0.fetch_add(1, Relaxed);
        self.written.1.fetch_add(weight as u64, Relaxed);
        let slot = QueueSlot::take(&self.queued, weight);
        let op = Op::new(input, weight, containment, run, reply, slot);
        self.commands
            .send(Msg::Run(Box::new(op)))
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

/// A command's place in the writer's queue: its weight counts in `queued` until the command
/// is answered or dropped (whatever happens to its caller).
pub(super) struct QueueSlot {
    queued: Arc<AtomicUsize>,
    weight: usize,
}

impl QueueSlot {
    fn take(queued: &Arc<AtomicUsize>, weight: usize) -> QueueSlot {
        queued.fetch_add(weight, Relaxed);
        QueueSlot {
            queued: Arc::clone(queued),
            weight,
        }
    }
}

impl Drop for QueueSlot {
    fn drop(&mut self) {
        self.queued.fetch_sub(self.weight, Relaxed);
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        let _ = self.commands.send(Msg::Close(None));
        if let Some(writer) = self.writer.take()
            && writer.join().is_err()
        {
            tracing::error!(path = %self.path.display(), "The store writer thread panicked.");
        }
    }
}

/// Locks `<path>.lock` for the life of the store and writes our process id into it (for the
/// error another process gets).
fn lock_file(path: &Path) -> StoreResult<File> {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    let lock_path = PathBuf::from(name);
    let io_error =
        |e: std::io::Error| StoreError::Backend(format!("lock file {}: {e}", lock_path.display()));
    let mut file = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .map_err(io_error)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = Read::by_ref(&mut file).take(32).read_to_string(&mut holder);
            let holder = holder.trim();
            let pid = if holder.is_empty() {
                String::new()
            } else {
                format!(" (pid {holder})")
            };
            return Err(StoreError::Backend(format!(
                "another hookline process{pid} holds {}",
                path.display()
            )));
        }
        Err(TryLockError::Error(e)) => return Err(io_error(e)),
    }
    file.set_len(0).map_err(io_error)?;
    file.rewind().map_err(io_error)?;
    write!(file, "{}", std::process::id()).map_err(io_error)?;
    Ok(file)
}

impl Store for SqliteStore {
    fn ingest(&self, events: Vec<NewEvent>) -> BoxFuture<'_, StoreResult<Vec<IngestOutcome>>> {
        let weight = events.iter().map(|e| 1 + e.deliveries.len()).sum();
        Box::pin(self.write_refusable(events, weight, write::ingest))
    }

    fn claim(&self, req: ClaimRequest) -> BoxFuture<'_, StoreResult<Vec<DeliveryJob>>> {
        let weight = req.limit as usize;
        Box::pin(self.write_unguarded(req, weight, write::claim))
    }

    fn complete(&self, records: Vec<AttemptRecord>) -> BoxFuture<'_, StoreResult<()>> {
        let weight = records.len();
        Box::pin(async move {
            write::check_records(&records)?;
            self.write_unguarded(records, weight, write::complete).await
        })
    }

    fn release(&self, owner: String, ids: Vec<String>) -> BoxFuture<'_, StoreResult<()>> {
        let weight = ids.len();
        Box::pin(self.write_unguarded((owner, ids), weight, write::release))
    }

    fn release_all(&self) -> BoxFuture<'_, StoreResult<u64>> {
        Box::pin(self.write_unguarded((), 1, write::release_all))
    }

    fn next_due(&self) -> BoxFuture<'_, StoreResult<Option<Millis>>> {
        Box::pin(self.readers.run(read::next_due))
    }

    fn create_webhook(&self, webhook: WebhookRecord) -> BoxFuture<'_, StoreResult<WebhookRecord>> {
        Box::pin(self.write(webhook, 1, write::create_webhook))
    }

    fn update_webhook(
        &self,
        webhook: WebhookRecord,
        expected_version: u64,
    ) -> BoxFuture<'_, StoreResult<WebhookRecord>> {
        Box::pin(self.write((webhook, expected_version), 1, write::update_webhook))
    }

    fn next_due_except(&self, except: Vec<String>) -> BoxFuture<'_, StoreResult<Option<Millis>>> {
        Box::pin(
            self.readers
                .run(move |conn| read::next_due_except(conn, &except)),
        )
    }

    fn get_webhook(&self, id: String) -> BoxFuture<'_, StoreResult<Option<WebhookRecord>>> {
        Box::pin(self.readers.run(move |conn| read::get_webhook(conn, &id)))
    }

    fn list_webhooks(&self) -> BoxFuture<'_, StoreResult<Vec<WebhookRecord>>> {
        Box::pin(self.readers.run(read::list_webhooks))
    }

    fn delete_webhook(
        &self,
        id: String,
        expected_version: Option<u64>,
    ) -> BoxFuture<'_, StoreResult<()>> {
        // The trait passes no time; deliveries canceled by the deletion are stamped with the
        // wall clock.
        let now = chrono::Utc::now().timestamp_millis();
        Box::pin(self.write((id, expected_version, now), 1, write::delete_webhook))
    }

    fn set_webhook_state(
        &self,
        id: String,
        state: WebhookState,
        now: Millis,
        expected_version: Option<u64>,
    ) -> BoxFuture<'_, StoreResult<WebhookStateChange>> {
        Box::pin(self.write(
            (id, state, now, expected_version),
            1,
            write::set_webhook_state,
        ))
    }

    fn list_deliveries(
        &self,
        filter: DeliveryFilter,
        now: Millis,
    ) -> BoxFuture<'_, StoreResult<Page<DeliverySummary>>> {
        Box::pin(
            self.readers
                .run(move |conn| read::list_deliveries(conn, &filter, now)),
        )
    }

    fn get_delivery(
        &self,
        id: String,
        now: Millis,
    ) -> BoxFuture<'_, StoreResult<Option<DeliveryDetail>>> {
        Box::pin(
            self.readers
                .run(move |conn| read::get_delivery(conn, &id, now)),
        )
    }

    fn retry_delivery(
        &self,
        id: String,
        now: Millis,
    ) -> BoxFuture<'_, StoreResult<DeliverySummary>> {
        Box::pin(self.write((id, now), 1, write::retry_delivery))
    }

    fn replay_delivery(
        &self,
        id: String,
        new_id: String,
        now: Millis,
    ) -> BoxFuture<'_, StoreResult<DeliverySummary>> {
        Box::pin(self.write((id, new_id, now), 1, write::replay_delivery))
    }

    fn stats(&self, now: Millis) -> BoxFuture<'_, StoreResult<StoreStats>> {
        Box::pin(self.readers.run(move |conn| read::stats(conn, now)))
    }

    fn create_token(&self, token: TokenRecord) -> BoxFuture<'_, StoreResult<TokenRecord>> {
        Box::pin(self.write(token, 1, tokens::create))
    }

    fn list_tokens(&self) -> BoxFuture<'_, StoreResult<Vec<TokenRecord>>> {
        Box::pin(self.readers.run(tokens::list))
    }

    fn find_token(&self, digest: TokenDigest) -> BoxFuture<'_, StoreResult<Option<TokenRecord>>> {
        Box::pin(self.readers.run(move |conn| tokens::find(conn, &digest)))
    }

    fn revoke_token(&self, id: String, now: Millis) -> BoxFuture<'_, StoreResult<TokenRecord>> {
        Box::pin(self.write((id, now), 1, tokens::revoke))
    }

    fn touch_tokens(&self, used: Vec<(String, Millis)>) -> BoxFuture<'_, StoreResult<()>> {
        let weight = used.len();
        Box::pin(self.write(used, weight, tokens::touch))
    }

    fn install_bootstrap_token(
        &self,
        token: TokenRecord,
    ) -> BoxFuture<'_, StoreResult<BootstrapToken>> {
        Box::pin(self.write(token, 1, tokens::install_bootstrap))
    }

    fn prune(&self, before: Millis) -> BoxFuture<'_, StoreResult<u64>> {
        Box::pin(async move {
            let mut deliveries = 0;
            loop {
                let step = self
                    .write((before, PRUNE_STEP), PRUNE_STEP as usize, write::prune_step)
                    .await?;
                deliveries += step.deliveries;
                if !step.more {
                    break;
                }
            }
            if deliveries > 0 {
                tracing::info!(deliveries, before, "Pruned finished deliveries.");
            }
            Ok(deliveries)
        })
    }
}
