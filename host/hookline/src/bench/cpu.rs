//! CPU accounting for the benchmark, from `/proc`: what this process (publisher, receiver,
//! bare client) and the daemon spent, and what every *other* process on the machine spent
//! meanwhile, so a run on a busy machine says so instead of flattering the ratio.
//!
//! On a system without `/proc` every figure reads as zero and no run is flagged.

use std::time::Instant;

/// Other processes' share of the machine's CPU above which a measurement is flagged as
/// noisy: 10 % of every core's time, i.e. 0.2 of a core on a two-core machine.
pub const NOISY_SHARE: f64 = 0.10;

/// `/proc`'s clock ticks per second (`USER_HZ`: 100 on every Linux architecture).
const TICKS_PER_SECOND: f64 = 100.0;

/// One reading of the counters.
#[derive(Debug, Clone, Copy)]
pub(super) struct Snapshot {
    at: Instant,
    /// Non-idle CPU seconds of the whole machine since boot (every core).
    machine_busy: f64,
    /// Cores the machine has.
    cores: usize,
    /// This process's CPU seconds (every thread).
    own: f64,
    /// The daemon's CPU seconds, when one runs.
    daemon: f64,
}

/// What happened between two snapshots.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(super) struct Span {
    /// Wall-clock seconds.
    pub(super) elapsed: f64,
    /// CPU seconds of this process (publisher, receiver, bare client).
    pub(super) own: f64,
    /// CPU seconds of the daemon.
    pub(super) daemon: f64,
    /// CPU seconds of every other process on the machine.
    pub(super) other: f64,
    /// Cores of the machine.
    pub(super) cores: usize,
}

impl Snapshot {
    /// Reads the counters now, with `daemon` the daemon's pid if one runs.
    pub(super) fn take(daemon: Option<u32>) -> Snapshot {
        let (machine_busy, cores) = machine_busy().unwrap_or((0.0, 0));
        Snapshot {
            at: Instant::now(),
            machine_busy,
            cores,
            own: process_cpu("self").unwrap_or(0.0),
            daemon: daemon
                .and_then(|pid| process_cpu(&pid.to_string()))
                .unwrap_or(0.0),
        }
    }

    /// From `earlier` to this snapshot.
    pub(super) fn since(&self, earlier: &Snapshot) -> Span {
        let own = (self.own - earlier.own).max(0.0);
        let daemon = (self.daemon - earlier.daemon).max(0.0);
        let busy = (self.machine_busy - earlier.machine_busy).max(0.0);
        Span {
            elapsed: self.at.duration_since(earlier.at).as_secs_f64(),
            own,
            daemon,
            // Tick rounding can make ours exceed the machine's by a tick or two.
            other: (busy - own - daemon).max(0.0),
            cores: self.cores,
        }
    }
}

impl Span {
    /// CPU seconds of every process taking part (this one and the daemon).
    pub(super) fn ours(&self) -> f64 {
        self.own + self.daemon
    }

    /// Other processes' share of the machine's CPU time, 0 to 1.
    pub(super) fn other_share(&self) -> f64 {
        let capacity = self.elapsed * self.cores as f64;
        if capacity > 0.0 {
            (self.other / capacity).min(1.0)
        } else {
            0.0
        }
    }

    /// Whether other processes used more than [`NOISY_SHARE`] of the machine.
    pub(super) fn noisy(&self) -> bool {
        self.other_share() > NOISY_SHARE
    }
}

/// `utime + stime` of `/proc/<pid>/stat` (`pid` may be `self`), seconds.
pub(super) fn process_cpu(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name, in parentheses, may hold spaces: fields count from after it.
    let after = stat.rsplit_once(')')?.1;
    let mut fields = after.split_whitespace().skip(11);
    let utime: f64 = fields.next()?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    Some((utime + stime) / TICKS_PER_SECOND)
}

/// The machine's non-idle CPU seconds since boot and its number of cores, from `/proc/stat`.
fn machine_busy() -> Option<(f64, usize)> {
    parse_proc_stat(&std::fs::read_to_string("/proc/stat").ok()?)
}

/// See [`machine_busy`]: `user nice system idle iowait irq softirq steal …` on the `cpu`
/// line; busy is everything but idle and iowait (`guest` time is already inside `user`).
fn parse_proc_stat(text: &str) -> Option<(f64, usize)> {
    let mut busy = None;
    let mut cores = 0;
    for line in text.lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("cpu") => {
                let ticks: Vec<f64> = words.take(8).filter_map(|w| w.parse().ok()).collect();
                if ticks.len() < 8 {
                    return None;
                }
                let [user, nice, system, _idle, _iowait, irq, softirq, steal] = ticks[..8] else {
                    return None;
                };
                busy = Some((user + nice + system + irq + softirq + steal) / TICKS_PER_SECOND);
            }
            Some(word) if word.starts_with("cpu") => cores += 1,
            _ => {}
        }
    }
    Some((busy?, cores.max(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_stat_busy_time_leaves_out_idle_and_iowait() {
        let text = "cpu  100 20 30 5000 40 1 2 3 7 0\n\
                    cpu0 50 10 15 2500 20 1 1 2 3 0\n\
                    cpu1 50 10 15 2500 20 0 1 1 4 0\n\
                    intr 12345\n";
        let (busy, cores) = parse_proc_stat(text).expect("parses");
        assert_eq!(cores, 2);
        assert!((busy - 1.56).abs() < 1e-9, "{busy}");
    }

    #[test]
    fn a_proc_stat_without_a_cpu_line_reads_as_nothing() {
        assert_eq!(parse_proc_stat("intr 1\n"), None);
        assert_eq!(parse_proc_stat("cpu 1 2 3\n"), None);
    }

    #[test]
    fn other_share_is_the_rest_of_the_machine() {
        let span = Span {
            elapsed: 10.0,
            own: 3.0,
            daemon: 5.0,
            other: 4.0,
            cores: 2,
        };
        assert!((span.other_share() - 0.2).abs() < 1e-9);
        assert!(span.noisy());
        assert_eq!(span.ours(), 8.0);
        let quiet = Span { other: 1.0, ..span };
        assert!(!quiet.noisy());
    }

    #[test]
    fn this_process_spends_cpu_that_the_machine_counts() {
        let before = Snapshot::take(Some(std::process::id()));
        let mut x = 0u64;
        let started = Instant::now();
        // Spin until /proc has counted a tenth of a second of our CPU (however busy the
        // machine is), or give up after half a minute.
        while process_cpu("self").unwrap_or(0.0) - before.own < 0.1
            && started.elapsed().as_secs() < 30
        {
            for _ in 0..10_000 {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
            }
        }
        std::hint::black_box(x);
        let after = Snapshot::take(Some(std::process::id()));
        let span = after.since(&before);
        assert!(span.own >= 0.1, "{span:?}");
        assert!((span.daemon - span.own).abs() < 0.02, "{span:?}");
        assert!(span.cores >= 1, "{span:?}");
        // The machine's busy time includes ours (give or take a tick per core).
        let busy = after.machine_busy - before.machine_busy;
        assert!(
            busy + 0.01 * span.cores as f64 >= span.own,
            "{busy} < {span:?}"
        );
    }
}
