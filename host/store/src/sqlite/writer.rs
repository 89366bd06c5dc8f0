//! The writer thread: the only read-write connection, with group commit.
//!
//! Callers send [`Command`]s over a channel. The thread takes every command already queued
//! (until their weight, roughly the rows they touch, reaches the batch cap), runs each one
//! inside its own `SAVEPOINT` of a single transaction, commits once, and only then answers
//! the callers: one fsync covers every caller of the batch. A command that fails rolls back
//! its savepoint and fails alone. When the whole transaction is lost (a full disk or an I/O
//! error), every command of it that had succeeded is answered with that error instead, never
//! with a success whose commit did not happen; the commands after it run in a new
//! transaction.
//!
//! A savepoint is not free: SQLite copies every page a command touches into a statement
//! journal, about 15% of the cost of a one-record `complete`. Commands that can fail only
//! with the whole transaction ([`Containment::Transaction`]) therefore run without one.

use std::fs::File;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::checkpoint::Checkpointer;
use super::codec::{Outcome, sql_error};
use crate::{StoreError, StoreResult};
use hookline_core::model::DeliveryStatus;

/// Counter deltas of one command or one batch: events, then deliveries by stored status.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Counts {
    values: [i64; 7],
}

/// A commit slower than this is logged (debug level): the place to look when ingest
/// latency has spikes.
const SLOW_COMMIT: Duration = Duration::from_millis(10);

/// The `counters` rows, in the order of [`Counts`].
pub(super) const COUNTER_NAMES: [&str; 7] = [
    "events",
    "pending",
    "delivered",
    "failed",
    "exhausted",
    "canceled",
    "skipped",
];

impl Counts {
    /// The counter of a stored status. `None` for [`DeliveryStatus::Unknown`] (and any name
    /// a newer contract adds before this store counts it): only a reader of a newer daemon
    /// makes one, the engine never stores it, so there is nothing to count.
    fn slot(status: DeliveryStatus) -> Option<usize> {
        match status {
            DeliveryStatus::Pending | DeliveryStatus::InFlight => Some(1),
            DeliveryStatus::Delivered => Some(2),
            DeliveryStatus::Failed => Some(3),
            DeliveryStatus::Exhausted => Some(4),
            DeliveryStatus::Canceled => Some(5),
            DeliveryStatus::Skipped => Some(6),
            _ => None,
        }
    }

    pub(super) fn events(&mut self, n: i64) {
        self.values[0] += n;
    }

    pub(super) fn deliveries(&mut self, status: DeliveryStatus, n: i64) {
        if let Some(slot) = Self::slot(status) {
            self.values[slot] += n;
        }
    }

    pub(super) fn moved(&mut self, from: DeliveryStatus, to: DeliveryStatus, n: i64) {
        self.deliveries(from, -n);
        self.deliveries(to, n);
    }

    fn add(&mut self, other: &Counts) {
        for (a, b) in self.values.iter_mut().zip(other.values) {
            *a += b;
        }
    }
}

/// What a write operation works with: the connection, inside the batch's transaction and
/// the command's savepoint, and the command's counter deltas.
#[derive(Debug)]
pub(super) struct WriteCtx {
    pub(super) conn: Connection,
    pub(super) counts: Counts,
}

/// A write operation: runs on the writer thread inside a transaction.
pub(super) type WriteFn<I, T> = fn(&mut WriteCtx, I) -> Outcome<T>;

/// How a failing command is kept from affecting the other commands of its batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Containment {
    /// It runs in its own savepoint: a failure rolls back this command only.
    Savepoint,
    /// It runs without a savepoint because, once it has written anything, it can fail only
    /// the way the whole transaction fails (full disk, I/O error, damaged file): every check
    /// that can refuse it comes before its first write (and fails with
    /// [`Failure::Refused`](super::codec::Failure)), or before it is sent. Should it fail
    /// anyway, the batch's transaction is rolled back and every command of it up to this one
    /// fails, so nothing half-done is ever committed.
    Transaction,
}

/// One caller's request, type-erased so one channel carries every kind.
pub(super) trait Command: Send {
    /// Roughly the rows it touches, for the batch cap.
    fn weight(&self) -> usize;
    /// How its failure is contained.
    fn containment(&self) -> Containment;
    /// Runs it; on failure returns a copy of the error it will answer, and whether the
    /// command was refused before writing anything.
    fn execute(&mut self, ctx: &mut WriteCtx) -> Result<(), (StoreError, bool)>;
    /// Its work was undone after all (the transaction was lost): answer `err` instead of
    /// a success.
    fn fail(&mut self, err: &StoreError);
    /// Sends the answer.
    fn answer(self: Box<Self>);
}

/// A [`Command`] running a [`WriteFn`] on an input and answering through a oneshot.
pub(super) struct Op<I, T> {
    input: Option<I>,
    run: WriteFn<I, T>,
    weight: usize,
    containment: Containment,
    result: Option<StoreResult<T>>,
    reply: oneshot::Sender<StoreResult<T>>,
    /// Counted in the store's queue until answered or dropped.
    _slot: super::QueueSlot,
}

impl<I, T> Op<I, T> {
    pub(super) fn new(
        input: I,
        weight: usize,
        containment: Containment,
        run: WriteFn<I, T>,
        reply: oneshot::Sender<StoreResult<T>>,
        slot: super::QueueSlot,
    ) -> Self {
        Op {
            input: Some(input),
            run,
            weight: weight.max(1),
            containment,
            result: None,
            reply,
            _slot: slot,
        }
    }
}

impl<I: Send, T: Send> Command for Op<I, T> {
    fn weight(&self) -> usize {
        self.weight
    }

    fn containment(&self) -> Containment {
        self.containment
    }

    fn execute(&mut self, ctx: &mut WriteCtx) -> Result<(), (StoreError, bool)> {
        let Some(input) = self.input.take() else {
            let err = StoreError::Backend("a store command ran twice".to_owned());
            return Err((err, true));
        };
        match (self.run)(ctx, input) {
            Ok(value) => {
                self.result = Some(Ok(value));
                Ok(())
            }
            Err(failure) => {
                let refused = failure.is_refusal();
                let err = failure.into_store();
                let copy = err.clone();
                self.result = Some(Err(err));
                Err((copy, refused))
            }
        }
    }

    fn fail(&mut self, err: &StoreError) {
        if !matches!(self.result, Some(Err(_))) {
            self.result = Some(Err(err.clone()));
        }
    }

    fn answer(self: Box<Self>) {
        let Op {
            result,
            reply,
            _slot: slot,
            ..
        } = *self;
        // Out of the queue before the caller hears: whoever the answer wakes sees the room.
        drop(slot);
        let result = result.unwrap_or(Err(StoreError::Closed));
        // The caller may have gone (its future was dropped); the work is done regardless.
        let _ = reply.send(result);
    }
}

/// What the writer receives.
pub(super) enum Msg {
    Run(Box<dyn Command>),
    /// Finish what is queued, then stop; the sender (if any) learns when it has.
    Close(Option<oneshot::Sender<()>>),
}

/// Starts the writer thread and its checkpointer. The writer owns its connection and the
/// lock file: the lock is released only after the last commit and the final checkpoint.
pub(super) fn spawn(
    conn: Connection,
    checkpoint_conn: Connection,
    lock: File,
    commands: Receiver<Msg>,
    max_batch_rows: usize,
) -> std::io::Result<JoinHandle<()>> {
    let commits = Arc::new(AtomicU64::new(0));
    let checkpointer = Checkpointer::spawn(checkpoint_conn, Arc::clone(&commits))?;
    thread::Builder::new()
        .name("hookline-store-writer".to_owned())
        .spawn(move || {
            let mut writer = Writer {
                ctx: WriteCtx {
                    conn,
                    counts: Counts::default(),
                },
                max_batch_rows,
                commits,
            };
            let acks = writer.serve(&commands);
            checkpointer.stop();
            // Fold the WAL back into the database so the next start opens a compact file.
            if let Err(e) = writer
                .ctx
                .conn
                .execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
            {
                tracing::warn!(error = %e, "Could not checkpoint the store at shutdown.");
            }
            drop(writer);
            drop(lock);
            drop(commands);
            for ack in acks {
                let _ = ack.send(());
            }
        })
}

struct Writer {
    ctx: WriteCtx,
    max_batch_rows: usize,
    /// Commits so far, for the checkpointer.
    commits: Arc<AtomicU64>,
}

/// Where a transaction was lost: the index of the command it was lost at (every command up
/// to it is undone) and why.
type Lost = (usize, StoreError);

impl Writer {
    /// Serves commands until told to close; returns who to tell once closed.
    fn serve(&mut self, commands: &Receiver<Msg>) -> Vec<oneshot::Sender<()>> {
        let mut batch: Vec<Box<dyn Command>> = Vec::new();
        let mut acks = Vec::new();
        let mut closing = false;
        loop {
            let first = if closing {
                match commands.try_recv() {
                    Ok(msg) => msg,
                    Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                }
            } else {
                match commands.recv() {
                    Ok(msg) => msg,
                    Err(_) => break,
                }
            };
            let mut weight = 0;
            let mut next = Some(first);
            while let Some(msg) = next.take() {
                match msg {
                    Msg::Run(cmd) => {
                        weight += cmd.weight();
                        batch.push(cmd);
                    }
                    Msg::Close(ack) => {
                        closing = true;
                        acks.extend(ack);
                    }
                }
                if weight < self.max_batch_rows {
                    next = commands.try_recv().ok();
                }
            }
            if !batch.is_empty() {
                self.execute(&mut batch);
                for cmd in batch.drain(..) {
                    cmd.answer();
                }
            }
        }
        acks
    }

    /// Runs a batch in as few transactions as possible (one, unless one is lost).
    fn execute(&mut self, batch: &mut [Box<dyn Command>]) {
        let mut start = 0;
        while start < batch.len() {
            match self.transaction(&mut batch[start..]) {
                Ok(()) => break,
                Err((at, err)) => {
                    tracing::error!(error = %err, "A store transaction failed; its callers get the error.");
                    for cmd in &mut batch[start..=start + at] {
                        cmd.fail(&err);
                    }
                    if !self.ctx.conn.is_autocommit()
                        && let Err(e) = self.ctx.conn.execute_batch("ROLLBACK")
                    {
                        tracing::error!(error = %e, "Could not roll back a failed store transaction.");
                    }
                    start += at + 1;
                }
            }
        }
    }

    /// Runs commands in one transaction, each in its own savepoint, and commits.
    fn transaction(&mut self, cmds: &mut [Box<dyn Command>]) -> Result<(), Lost> {
        let last = cmds.len() - 1;
        control(&self.ctx.conn, "BEGIN IMMEDIATE").map_err(|e| (last, e))?;
        let mut total = Counts::default();
        for (i, cmd) in cmds.iter_mut().enumerate() {
            let savepoint = cmd.containment() == Containment::Savepoint;
            if savepoint {
                control(&self.ctx.conn, "SAVEPOINT cmd").map_err(|e| (i, e))?;
            }
            self.ctx.counts = Counts::default();
            match cmd.execute(&mut self.ctx) {
                Ok(()) => {
                    if savepoint {
                        control(&self.ctx.conn, "RELEASE cmd").map_err(|e| (i, e))?;
                    }
                    total.add(&self.ctx.counts);
                }
                Err((err, refused)) => {
                    // When SQLite has rolled the whole transaction back itself (full disk,
                    // I/O error), or a command without a savepoint failed after writing,
                    // the transaction is lost.
                    if self.ctx.conn.is_autocommit() || (!savepoint && !refused) {
                        return Err((i, err));
                    }
                    if !savepoint {
                        // Refused before writing: nothing to undo.
                        continue;
                    }
                    control(&self.ctx.conn, "ROLLBACK TO cmd").map_err(|e| (i, e))?;
                    control(&self.ctx.conn, "RELEASE cmd").map_err(|e| (i, e))?;
                }
            }
        }
        write_counts(&self.ctx.conn, &total).map_err(|e| (last, e))?;
        let started = Instant::now();
        control(&self.ctx.conn, "COMMIT").map_err(|e| (last, e))?;
        let took = started.elapsed();
        if took >= SLOW_COMMIT {
            tracing::debug!(
                ms = took.as_millis() as u64,
                commands = cmds.len(),
                "A slow commit."
            );
        }
        self.commits.fetch_add(1, Ordering::Release);
        Ok(())
    }
}

/// Runs a transaction-control statement (prepared once).
fn control(conn: &Connection, sql: &str) -> Result<(), StoreError> {
    conn.prepare_cached(sql)
        .and_then(|mut stmt| stmt.execute([]))
        .map(drop)
        .map_err(sql_error)
}

fn write_counts(conn: &Connection, counts: &Counts) -> Result<(), StoreError> {
    if counts.values.iter().all(|&v| v == 0) {
        return Ok(());
    }
    let mut stmt = conn
        .prepare_cached("UPDATE counters SET value = value + ?2 WHERE name = ?1")
        .map_err(sql_error)?;
    for (name, delta) in COUNTER_NAMES.iter().zip(counts.values) {
        if delta != 0 {
            stmt.execute((name, delta)).map_err(sql_error)?;
        }
    }
    Ok(())
}
