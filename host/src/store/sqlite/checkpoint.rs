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
const PERIOD: Duration = Duration::from_millis(200);

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
