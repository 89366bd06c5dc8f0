//! Per-plugin call counters, for the API and the console's plugins view.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use serde::Serialize;

use super::{PluginError, TransformOutput};

/// What the calls of one plugin (one path, all its versions) came to since the process
/// started.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PluginStats {
    /// The plugin file.
    pub path: PathBuf,
    /// SHA-256 of the version in use, hex (`None` while none could be loaded).
    pub sha256: Option<String>,
    /// Calls made (loads that failed included).
    pub calls: u64,
    /// Calls that returned a request to send.
    pub sent: u64,
    /// Calls that skipped the event.
    pub skipped: u64,
    /// Calls that trapped (`plugin_trap`).
    pub traps: u64,
    /// Calls out of fuel (`plugin_fuel`).
    pub out_of_fuel: u64,
    /// Calls past their deadline (`plugin_deadline`).
    pub missed_deadline: u64,
    /// Calls over the memory cap (`plugin_memory`).
    pub over_memory: u64,
    /// Calls with unusable output, or that failed on purpose (`plugin_output`).
    pub bad_output: u64,
    /// Calls that could not run because the plugin did not load (`plugin_load`).
    pub load_failures: u64,
    /// Time spent in calls, in microseconds (instantiation included).
    pub busy_micros: u64,
}

/// The live counters behind [`PluginStats`].
#[derive(Debug, Default)]
pub(super) struct CallCounters {
    calls: AtomicU64,
    sent: AtomicU64,
    skipped: AtomicU64,
    traps: AtomicU64,
    out_of_fuel: AtomicU64,
    missed_deadline: AtomicU64,
    over_memory: AtomicU64,
    bad_output: AtomicU64,
    load_failures: AtomicU64,
    busy_micros: AtomicU64,
}

impl CallCounters {
    pub(super) fn record(&self, result: &Result<TransformOutput, PluginError>, took: Duration) {
        self.calls.fetch_add(1, Relaxed);
        self.busy_micros
            .fetch_add(u64::try_from(took.as_micros()).unwrap_or(u64::MAX), Relaxed);
        let counter = match result {
            Ok(TransformOutput::Send { .. }) => &self.sent,
            Ok(TransformOutput::Skip { .. }) => &self.skipped,
            Err(PluginError::Trap { .. }) => &self.traps,
            Err(PluginError::Fuel { .. }) => &self.out_of_fuel,
            Err(PluginError::Deadline { .. }) => &self.missed_deadline,
            Err(PluginError::Memory { .. }) => &self.over_memory,
            Err(PluginError::Output { .. }) => &self.bad_output,
            Err(PluginError::Load { .. }) => &self.load_failures,
        };
        counter.fetch_add(1, Relaxed);
    }

    pub(super) fn load_failed(&self) {
        self.calls.fetch_add(1, Relaxed);
        self.load_failures.fetch_add(1, Relaxed);
    }

    pub(super) fn snapshot(&self, path: PathBuf, sha256: Option<String>) -> PluginStats {
        PluginStats {
            path,
            sha256,
            calls: self.calls.load(Relaxed),
            sent: self.sent.load(Relaxed),
            skipped: self.skipped.load(Relaxed),
            traps: self.traps.load(Relaxed),
            out_of_fuel: self.out_of_fuel.load(Relaxed),
            missed_deadline: self.missed_deadline.load(Relaxed),
            over_memory: self.over_memory.load(Relaxed),
            bad_output: self.bad_output.load(Relaxed),
            load_failures: self.load_failures.load(Relaxed),
            busy_micros: self.busy_micros.load(Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_result_lands_in_one_counter() {
        let c = CallCounters::default();
        let skip = TransformOutput::Skip {
            reason: "no".into(),
            fuel_used: 1,
            duration: Duration::ZERO,
        };
        c.record(&Ok(skip), Duration::from_micros(30));
        c.record(
            &Err(PluginError::Fuel { budget: 1 }),
            Duration::from_micros(70),
        );
        c.load_failed();
        let s = c.snapshot("p.wasm".into(), None);
        assert_eq!(
            (
                s.calls,
                s.skipped,
                s.out_of_fuel,
                s.load_failures,
                s.busy_micros
            ),
            (3, 1, 1, 1, 100)
        );
    }
}
