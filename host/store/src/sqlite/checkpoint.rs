//! The checkpointer: copies committed pages from the write-ahead log into the database file
//! on its own thread and connection, so the writer never stalls on that I/O (two fsyncs per
//! checkpoint with `synchronous = FULL`). SQLite runs a passive checkpoint beside a writer;
//! once the log is fully copied, the writer's next transaction starts the log over.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use rusqlite::Connection;

/// How often the checkpointer looks for new commits.
///
/// Often, so that each checkpoint copies and flushes little: the database file's `fsync`
/// shares the disk with the writer's log `fsync`, and a large one appears to hold commits
/// back. At half the maximum rate, the p99 from event to delivery went from about 22 ms
/// with a 200 ms period to about 13 ms with 25 ms (`hookline bench --scenario plain`,
/// medians of six runs; the writer's commits over 8 ms had come every 100–300 ms, about
/// the checkpoints' cadence).
const PERIOD: Duration = Duration::from_millis(25);

/// A running checkpointer thread.
#[derive(Debug)]
pub(super) struct Checkpointer {
    stop: mpsc::Sender<()>,
    thread: JoinHandle<()>,
}

impl Checkpointer {
    /// Starts checkpointing through `conn` whenever `commits` (bumped by the writer after
    /// each commit) has moved since the last checkpoint.
    pub(super) fn spawn(conn: Connection, commits: Arc<AtomicU64>) -> std::io::Result<Self> {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = thread::Builder::new()
            .name("hookline-store-checkpoint".to_owned())
            .spawn(move || {
                let mut seen = 0;
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(PERIOD) {
                    let now = commits.load(Ordering::Acquire);
                    if now == seen {
                        continue;
                    }
                    seen = now;
                    let result = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                        Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
                    });
                    match result {
                        Ok((log, copied)) => {
                            tracing::trace!(log, copied, "Checkpointed the store's log.");
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "Could not checkpoint the store's log.")
                        }
                    }
                }
            })?;
        Ok(Checkpointer { stop, thread })
    }

    /// Stops the thread after its current checkpoint.
    pub(super) fn stop(self) {
        let _ = self.stop.send(());
        if self.thread.join().is_err() {
            tracing::error!("The store checkpointer thread panicked.");
        }
    }
}
