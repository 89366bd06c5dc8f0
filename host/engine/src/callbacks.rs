//! The result callbacks of [`Engine::dispatch`](crate::Engine::dispatch): each delivery of a
//! dispatched event reports once, when it reaches a final status, wherever that happens.
//!
//! Most deliveries finish in this process and report from `deliver.rs`. The others would
//! leave their entry behind for good: a delivery canceled because its webhook was deleted
//! or disabled, one another daemon sharing the store finished (it claimed the delivery
//! after our lease ended, or took it from the store before we did). [`sweep_loop`] finds
//! those: for the tracked deliveries not held in this process's memory it reads the store,
//! a bounded number of events per round, and reports the ones it finds final (or drops
//! the ones the store no longer has). Shutdown drops every entry: nothing reports after.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

use super::{DeliveryResult, Inner, ResultCallback, lock};
use hookline_core::model::{DeliveryFilter, DeliverySummary};

/// Events a sweep round looks up in the store, at most.
const SWEEP_EVENTS: usize = 64;

/// How many sweep rounds per claimer poll interval: a delivery finished elsewhere reports
/// within a few safety polls of the claimer.
const SWEEP_EVERY_POLLS: u32 = 8;

/// The callbacks waiting for results.
#[derive(Default)]
pub(crate) struct Callbacks {
    state: Mutex<State>,
    /// Asks for a sweep now (deliveries were canceled: a webhook deleted or disabled).
    nudge: Notify,
}

#[derive(Default)]
struct State {
    /// By event id (time-ordered, so a sweep can resume where it stopped).
    by_event: BTreeMap<String, Waiting>,
    /// The last event the previous sweep round looked at.
    cursor: Option<String>,
}

struct Waiting {
    callback: ResultCallback,
    /// Deliveries of the event that have not reported yet.
    deliveries: BTreeSet<String>,
}

impl Callbacks {
    /// `callback` waits for these deliveries of `event_id`.
    pub(crate) fn register(
        &self,
        event_id: &str,
        deliveries: impl IntoIterator<Item = String>,
        callback: &ResultCallback,
    ) {
        let deliveries: BTreeSet<String> = deliveries.into_iter().collect();
        if deliveries.is_empty() {
            return;
        }
        lock(&self.state).by_event.insert(
            event_id.to_owned(),
            Waiting {
                callback: callback.clone(),
                deliveries,
            },
        );
    }

    /// Reports `result` to its callback, if one still waits for that delivery (once: a
    /// second report of the same delivery finds nothing).
    pub(crate) fn report(&self, result: DeliveryResult) {
        let callback = {
            let mut state = lock(&self.state);
            let Some(waiting) = state.by_event.get_mut(&result.event_id) else {
                return;
            };
            if !waiting.deliveries.remove(&result.delivery_id) {
                return;
            }
            let callback = waiting.callback.clone();
            if waiting.deliveries.is_empty() {
                state.by_event.remove(&result.event_id);
            }
            callback
        };
        // Outside the lock: the callback is the embedder's code.
        callback(result);
    }

    /// Forgets a delivery without reporting (the store no longer has it).
    fn forget(&self, event_id: &str, delivery_id: &str) {
        let mut state = lock(&self.state);
        if let Some(waiting) = state.by_event.get_mut(event_id) {
            waiting.deliveries.remove(delivery_id);
            if waiting.deliveries.is_empty() {
                state.by_event.remove(event_id);
            }
        }
    }

    /// Drops every entry (shutdown).
    pub(crate) fn clear(&self) {
        let mut state = lock(&self.state);
        state.by_event.clear();
        state.cursor = None;
    }

    /// Deliveries still waiting to report.
    pub(crate) fn waiting(&self) -> usize {
        lock(&self.state)
            .by_event
            .values()
            .map(|w| w.deliveries.len())
            .sum()
    }

    /// Asks the sweep to run now.
    pub(crate) fn nudge(&self) {
        self.nudge.notify_one();
    }

    /// The next events to look up, after the cursor (wrapping around), with their waiting
    /// deliveries, skipping those `held` here.
    fn next_round(&self, held: impl Fn(&str) -> bool) -> Vec<(String, Vec<String>)> {
        let mut state = lock(&self.state);
        let after = state.cursor.take();
        let start = after.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
        let mut picked: Vec<(String, Vec<String>)> = Vec::new();
        let events = state
            .by_event
            .range::<str, _>((start, Bound::Unbounded))
            .chain(state.by_event.iter())
            .take(state.by_event.len());
        let mut last = None;
        for (event_id, waiting) in events {
            last = Some(event_id.clone());
            let open: Vec<String> = waiting
                .deliveries
                .iter()
                .filter(|id| !held(id))
                .cloned()
                .collect();
            if !open.is_empty() {
                picked.push((event_id.clone(), open));
                if picked.len() == SWEEP_EVENTS {
                    break;
                }
            }
        }
        state.cursor = last;
        picked
    }
}

/// What a callback gets for a delivery found final in the store (the attempt's duration
/// is not stored with the delivery: 0).
fn result_of(d: DeliverySummary) -> DeliveryResult {
    DeliveryResult {
        delivery_id: d.id,
        event_id: d.event_id,
        webhook_id: d.webhook_id,
        status: d.status,
        attempts: d.attempts,
        status_code: d.last_status_code,
        error_kind: d.last_error_kind,
        error: d.last_error,
        latency_ms: 0,
    }
}

/// One sweep round: reports the tracked deliveries the store has final.
pub(crate) async fn sweep(inner: &Inner) {
    let held = lock(&inner.in_memory).clone();
    let round = inner.callbacks.next_round(|id| held.contains(id));
    for (event_id, waiting) in round {
        let filter = DeliveryFilter {
            event_id: Some(event_id.clone()),
            limit: Some(1000),
            ..DeliveryFilter::default()
        };
        let page = match inner.store.list_deliveries(filter, inner.now_ms()).await {
            Ok(page) => page,
            Err(e) => {
                tracing::warn!(event = %event_id, error = %e, "looking up dispatched deliveries failed");
                return;
            }
        };
        let mut found: BTreeMap<String, DeliverySummary> =
            page.items.into_iter().map(|d| (d.id.clone(), d)).collect();
        let complete = page.next_cursor.is_none();
        for id in waiting {
            match found.remove(&id) {
                Some(d) if d.status.is_terminal() => inner.callbacks.report(result_of(d)),
                Some(_) => {}
                // Pruned (or never stored): it cannot report any more.
                None if complete => inner.callbacks.forget(&event_id, &id),
                None => {}
            }
        }
    }
}

/// Sweeps every few claimer polls, or at once when nudged, while the engine runs.
pub(crate) async fn sweep_loop(inner: Arc<Inner>) {
    // Floored: an embedder's zero poll interval must not make this a busy loop.
    let every = (inner.cfg.poll_interval * SWEEP_EVERY_POLLS).max(Duration::from_millis(100));
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = inner.callbacks.nudge.notified() => {}
            _ = inner.cancel.cancelled() => return,
        }
        if inner.callbacks.waiting() > 0 {
            sweep(&inner).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

    use super::*;
    use hookline_core::model::DeliveryStatus;

    fn result(event: &str, delivery: &str) -> DeliveryResult {
        DeliveryResult {
            delivery_id: delivery.into(),
            event_id: event.into(),
            webhook_id: "w".into(),
            status: DeliveryStatus::Delivered,
            attempts: 1,
            status_code: Some(200),
            error_kind: None,
            error: None,
            latency_ms: 1,
        }
    }

    #[test]
    fn each_delivery_reports_once_and_the_entry_goes_with_the_last() {
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = calls.clone();
        let callback: ResultCallback = Arc::new(move |_| {
            counted.fetch_add(1, SeqCst);
        });
        let callbacks = Callbacks::default();
        callbacks.register("evt_1", ["dlv_a".to_owned(), "dlv_b".to_owned()], &callback);
        callbacks.register("evt_2", Vec::<String>::new(), &callback);
        assert_eq!(callbacks.waiting(), 2);
        callbacks.report(result("evt_1", "dlv_a"));
        callbacks.report(result("evt_1", "dlv_a"));
        callbacks.report(result("evt_1", "dlv_other"));
        assert_eq!((calls.load(SeqCst), callbacks.waiting()), (1, 1));
        callbacks.forget("evt_1", "dlv_b");
        assert_eq!((calls.load(SeqCst), callbacks.waiting()), (1, 0));
        assert!(lock(&callbacks.state).by_event.is_empty());
    }

    #[test]
    fn sweep_rounds_are_bounded_resume_where_they_stopped_and_skip_held_deliveries() {
        let callback: ResultCallback = Arc::new(|_| {});
        let callbacks = Callbacks::default();
        for i in 0..100 {
            callbacks.register(&format!("evt_{i:03}"), [format!("dlv_{i:03}")], &callback);
        }
        let events = |round: &[(String, Vec<String>)]| {
            round.iter().map(|(e, _)| e.clone()).collect::<Vec<_>>()
        };
        let held = |id: &str| id == "dlv_070";
        let first = callbacks.next_round(held);
        assert_eq!(first.len(), SWEEP_EVENTS);
        assert_eq!(first[0].0, "evt_000");
        assert_eq!(first[SWEEP_EVENTS - 1].0, "evt_063");
        // The rest, then around again from the start; the held delivery is never looked up.
        let second = callbacks.next_round(held);
        assert_eq!(second[0].0, "evt_064");
        assert!(!events(&second).contains(&"evt_070".to_owned()));
        assert_eq!(second.len(), SWEEP_EVENTS);
        assert_eq!(second[34].0, "evt_099");
        assert_eq!(second[35].0, "evt_000");
        let third = callbacks.next_round(held);
        assert_eq!(third[0].0, "evt_029");
    }
}
