//! Request slots shared fairly among webhooks.
//!
//! The engine sends at most `workers` requests at once, and each webhook at most its own
//! `max_concurrency`. When the slots run out, the next free one does not go to whoever asked
//! first (a webhook with thousands of deliveries queued would take every slot that frees,
//! and one whose receiver hangs would keep them) but to the waiting webhook holding the
//! fewest, and among those to the request waiting longest: max-min fairness, so every
//! webhook with work gets an equal share of the pool and a hanging or slow one keeps only
//! its own, while equals are served in order (deliveries complete near the order they were
//! stored in, which keeps the store's commits compact).
//!
//! Within a webhook, first attempts and retries are two lanes ([`Flow`]) compared the same
//! way, so a retry storm takes at most half of its webhook's slots while first attempts
//! wait.
//!
//! A webhook's limit may change while its requests are in flight: a lowered limit holds as
//! soon as enough of them end (no new slot goes to it meanwhile), a raised one hands out
//! slots at once.

use std::collections::{BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};

use foldhash::HashMap;
use tokio::sync::oneshot;

use super::lock;

/// Who asks for a slot: a webhook's first attempts, or its retries.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Flow {
    pub(crate) webhook: Arc<str>,
    pub(crate) retry: bool,
}

/// The engine's request slots.
#[derive(Debug)]
pub(crate) struct FairPool {
    state: Mutex<PoolState>,
}

/// A waiting lane's place in line, smallest first: its webhook's slots held, its own, the
/// arrival of its first waiting request, and whether it yields to its webhook's other lane.
type Rank = (usize, usize, u64, bool);

/// A rank and the lane it belongs to (the tie-break among equal ranks).
type Place = (Rank, Flow);

#[derive(Debug)]
struct PoolState {
    /// Slots nobody holds.
    free: usize,
    /// Slots held, the limit and both lanes, per webhook with slots held or asked for: one
    /// lookup per pool operation.
    webhooks: HashMap<Arc<str>, WebhookUse>,
    /// The lanes with requests waiting whose webhook is under its limit, fairest first:
    /// a grant costs a few B-tree steps however many webhooks wait.
    ready: BTreeSet<Place>,
    /// Slots granted so far.
    granted: u64,
    /// Requests that asked so far: orders waiting requests by arrival.
    arrivals: u64,
}

#[derive(Debug)]
struct WebhookUse {
    /// The webhook's id (the map's key), for the places of its lanes.
    id: Arc<str>,
    held: usize,
    limit: usize,
    /// First attempts (`[0]`) and retries (`[1]`).
    lanes: [Lane; 2],
}

#[derive(Debug, Default)]
struct Lane {
    held: usize,
    /// Requests waiting, each with its arrival number.
    waiting: VecDeque<(u64, oneshot::Sender<Slot>)>,
    last_grant: u64,
    /// Its rank in `ready`, if it has one.
    rank: Option<Rank>,
}

/// One request slot. Dropping it gives it back (to the next flow in line, if any waits).
#[derive(Debug)]
pub(crate) struct Slot {
    /// `None` once given back (or handed over while the pool is locked).
    held: Option<(Arc<FairPool>, Flow)>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some((pool, flow)) = self.held.take() {
            pool.release(&flow);
        }
    }
}

impl FairPool {
    pub(crate) fn new(slots: usize) -> Arc<FairPool> {
        Arc::new(FairPool {
            state: Mutex::new(PoolState {
                free: slots.max(1),
                webhooks: HashMap::default(),
                ready: BTreeSet::new(),
                granted: 0,
                arrivals: 0,
            }),
        })
    }

    /// Waits for a slot for `flow`, whose webhook may hold at most `limit` at once. Dropping
    /// the future gives up its place in line.
    pub(crate) async fn acquire(self: &Arc<Self>, flow: Flow, limit: u32) -> Slot {
        let waiting = {
            let mut st = lock(&self.state);
            let st = &mut *st;
            let limit = limit.max(1) as usize;
            let webhook = st
                .webhooks
                .entry(flow.webhook.clone())
                .or_insert_with(|| WebhookUse {
                    id: flow.webhook.clone(),
                    held: 0,
                    limit,
                    lanes: Default::default(),
                });
            webhook.limit = limit;
            // Free slots exist only when nobody eligible waits (every release and limit
            // change hands them out), so taking one now jumps no queue.
            if st.free > 0 && webhook.held < webhook.limit {
                st.free -= 1;
                st.granted += 1;
                webhook.grant(flow.retry, st.granted);
                webhook.requeue(&mut st.ready);
                return Slot {
                    held: Some((self.clone(), flow)),
                };
            }
            let (tx, rx) = oneshot::channel();
            st.arrivals += 1;
            webhook.lanes[usize::from(flow.retry)]
                .waiting
                .push_back((st.arrivals, tx));
            webhook.requeue(&mut st.ready);
            rx
        };
        match waiting.await {
            Ok(slot) => slot,
            // The pool is never dropped while a request waits on it (it lives as long as the
            // engine, and every waiter holds the engine).
            Err(_) => unreachable!("the request pool went away with requests waiting"),
        }
    }

    /// Sets a webhook's limit (its `max_concurrency` changed), handing out slots if it rose.
    pub(crate) fn set_limit(self: &Arc<Self>, webhook: &str, limit: u32) {
        let mut st = lock(&self.state);
        let st = &mut *st;
        let Some(w) = st.webhooks.get_mut(webhook) else {
            return;
        };
        w.limit = limit.max(1) as usize;
        w.requeue(&mut st.ready);
        self.hand_out(st);
    }

    /// Slots free now (for tests and metrics).
    #[cfg(test)]
    pub(crate) fn free(&self) -> usize {
        lock(&self.state).free
    }

    /// Slots held by a webhook now.
    #[cfg(test)]
    pub(crate) fn held_by(&self, webhook: &str) -> usize {
        lock(&self.state)
            .webhooks
            .get(webhook)
            .map_or(0, |w| w.held)
    }

    fn release(self: &Arc<Self>, flow: &Flow) {
        let mut st = lock(&self.state);
        let st = &mut *st;
        st.free += 1;
        if let Some(w) = st.webhooks.get_mut(&*flow.webhook) {
            w.unhold(flow.retry);
            w.requeue(&mut st.ready);
        }
        self.hand_out(st);
        st.forget_if_idle(&flow.webhook);
    }

    /// Gives free slots to waiting lanes, fairest first, while both last.
    fn hand_out(self: &Arc<Self>, st: &mut PoolState) {
        while st.free > 0 {
            let Some((_, flow)) = st.ready.pop_first() else {
                return;
            };
            let Some(w) = st.webhooks.get_mut(&*flow.webhook) else {
                continue;
            };
            let lane = &mut w.lanes[usize::from(flow.retry)];
            lane.rank = None;
            let Some(tx) = lane
                .waiting
                .pop_front()
                .map(|(_, tx)| tx)
                .filter(|tx| !tx.is_closed())
            else {
                w.requeue(&mut st.ready);
                st.forget_if_idle(&flow.webhook);
                continue;
            };
            st.free -= 1;
            st.granted += 1;
            w.grant(flow.retry, st.granted);
            w.requeue(&mut st.ready);
            let slot = Slot {
                held: Some((self.clone(), flow)),
            };
            if let Err(mut slot) = tx.send(slot) {
                // It stopped waiting just now: take the slot back without `Drop` (the pool
                // is locked) and try the next one.
                let Some((_, flow)) = slot.held.take() else {
                    continue;
                };
                st.free += 1;
                if let Some(w) = st.webhooks.get_mut(&*flow.webhook) {
                    w.unhold(flow.retry);
                    w.requeue(&mut st.ready);
                }
                st.forget_if_idle(&flow.webhook);
            }
        }
    }
}

impl PoolState {
    /// Forgets a webhook that holds nothing and has nobody waiting.
    fn forget_if_idle(&mut self, webhook: &str) {
        let Some(w) = self.webhooks.get(webhook) else {
            return;
        };
        let idle = w.held == 0
            && w.lanes
                .iter()
                .all(|lane| lane.waiting.iter().all(|(_, tx)| tx.is_closed()));
        if idle && let Some(w) = self.webhooks.remove(webhook) {
            for (retry, lane) in [false, true].into_iter().zip(&w.lanes) {
                if let Some(rank) = lane.rank {
                    self.ready.remove(&(rank, w.flow(retry)));
                }
            }
        }
    }
}

impl WebhookUse {
    fn flow(&self, retry: bool) -> Flow {
        Flow {
            webhook: self.id.clone(),
            retry,
        }
    }

    /// One slot granted to a lane, the `granted`-th of the pool.
    fn grant(&mut self, retry: bool, granted: u64) {
        self.held += 1;
        let lane = &mut self.lanes[usize::from(retry)];
        lane.held += 1;
        lane.last_grant = granted;
    }

    /// One slot of a lane given back.
    fn unhold(&mut self, retry: bool) {
        self.held -= 1;
        self.lanes[usize::from(retry)].held -= 1;
    }

    /// Puts the lanes in line at their current ranks (their counts changed), or out of it
    /// (nobody waiting, or the webhook at its limit). A lane whose rank did not change
    /// keeps its entry: most calls (another request joining a waiting lane) touch nothing.
    fn requeue(&mut self, ready: &mut BTreeSet<Place>) {
        // Each lane's first waiting request (after dropping those that gave up) and when
        // the lane was last served.
        let mut fronts = [None, None];
        for (front, lane) in fronts.iter_mut().zip(&mut self.lanes) {
            while lane.waiting.front().is_some_and(|(_, tx)| tx.is_closed()) {
                lane.waiting.pop_front();
            }
            *front = lane
                .waiting
                .front()
                .map(|(arrival, _)| (*arrival, lane.last_grant, lane.held));
        }
        let under_limit = self.held < self.limit;
        for (i, retry) in [false, true].into_iter().enumerate() {
            // First come, first served among equals; with both lanes waiting, the lane
            // served last goes right behind the other one's first request, so the lanes
            // alternate.
            let rank = fronts[i]
                .filter(|_| under_limit)
                .map(|(arrival, last_grant, lane_held)| match fronts[1 - i] {
                    Some((other, other_grant, _)) if last_grant > other_grant => {
                        (self.held, lane_held, arrival.max(other), true)
                    }
                    _ => (self.held, lane_held, arrival, false),
                });
            if self.lanes[i].rank == rank {
                continue;
            }
            if let Some(old) = self.lanes[i].rank.take() {
                ready.remove(&(old, self.flow(retry)));
            }
            if let Some(rank) = rank {
                ready.insert((rank, self.flow(retry)));
            }
            self.lanes[i].rank = rank;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn flow(webhook: &str, retry: bool) -> Flow {
        Flow {
            webhook: webhook.into(),
            retry,
        }
    }

    /// Spawns a request waiting for a slot; the returned channel gets the slot once granted.
    fn wait_for(
        pool: &Arc<FairPool>,
        f: Flow,
        limit: u32,
    ) -> tokio::sync::mpsc::UnboundedReceiver<Slot> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let pool = pool.clone();
        tokio::spawn(async move {
            let slot = pool.acquire(f, limit).await;
            let _ = tx.send(slot);
        });
        rx
    }

    async fn settle() {
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
    }

    /// A webhook holding every slot (its receiver hangs) does not get the next one while
    /// another webhook waits, however many more of its own requests asked first.
    #[tokio::test]
    async fn a_freed_slot_goes_to_the_webhook_holding_fewest() {
        let pool = FairPool::new(4);
        let mut hang = Vec::new();
        for _ in 0..4 {
            hang.push(pool.acquire(flow("hang", false), 8).await);
        }
        assert_eq!(pool.free(), 0);
        // Ten more of hang's wait, then one of ok's.
        let hang_waiting: Vec<_> = (0..10)
            .map(|_| wait_for(&pool, flow("hang", false), 8))
            .collect();
        settle().await;
        let mut ok = wait_for(&pool, flow("ok", false), 8);
        settle().await;
        drop(hang.pop());
        settle().await;
        let _ok_slot = ok.try_recv().expect("ok got the freed slot");
        assert_eq!(pool.held_by("hang"), 3);
        assert_eq!(pool.held_by("ok"), 1);
        drop(hang.pop());
        settle().await;
        assert_eq!(
            pool.held_by("hang"),
            3,
            "no one else waits: hang's next one goes"
        );
        drop(hang_waiting);
    }

    /// Retries and first attempts of one webhook are lanes: with both waiting, slots
    /// alternate instead of going to whichever queued first.
    #[tokio::test]
    async fn retries_do_not_starve_first_attempts() {
        let pool = FairPool::new(1);
        let first = pool.acquire(flow("a", true), 4).await;
        let mut retries: Vec<_> = (0..5)
            .map(|_| wait_for(&pool, flow("a", true), 4))
            .collect();
        settle().await;
        let mut fresh = wait_for(&pool, flow("a", false), 4);
        settle().await;
        drop(first);
        settle().await;
        let _fresh_slot = fresh.try_recv().expect("the first attempt goes next");
        assert!(retries.iter_mut().all(|r| r.try_recv().is_err()));
    }

    /// A webhook's limit holds inside the pool: lowered with slots in use, no new slot goes
    /// to it until it is under the new limit; raised, waiting requests get slots at once.
    #[tokio::test]
    async fn a_webhook_limit_holds_when_lowered_and_hands_out_when_raised() {
        let pool = FairPool::new(16);
        let mut held = Vec::new();
        for _ in 0..6 {
            held.push(pool.acquire(flow("a", false), 6).await);
        }
        let mut waiting: Vec<_> = (0..6)
            .map(|_| wait_for(&pool, flow("a", false), 6))
            .collect();
        settle().await;
        pool.set_limit("a", 2);
        held.truncate(3);
        settle().await;
        assert_eq!(
            pool.held_by("a"),
            3,
            "over the new limit: nothing handed out"
        );
        held.truncate(1);
        settle().await;
        assert_eq!(pool.held_by("a"), 2, "one handed out to reach the limit");
        pool.set_limit("a", 10);
        settle().await;
        assert_eq!(pool.held_by("a"), 7, "every waiting request got one");
        let got: usize = waiting
            .iter_mut()
            .map(|r| usize::from(r.try_recv().is_ok()))
            .sum();
        assert_eq!(got, 6);
    }

    /// A request that stops waiting (shutdown, a cancelled task) loses its place and no
    /// slot is lost with it.
    #[tokio::test]
    async fn giving_up_while_waiting_loses_no_slot() {
        let pool = FairPool::new(1);
        let held = pool.acquire(flow("a", false), 4).await;
        let gave_up =
            tokio::time::timeout(Duration::from_millis(1), pool.acquire(flow("b", false), 4)).await;
        assert!(gave_up.is_err());
        drop(held);
        assert_eq!(pool.free(), 1);
        let again = pool.acquire(flow("c", false), 4).await;
        assert_eq!(pool.free(), 0);
        drop(again);
        assert_eq!(pool.free(), 1);
    }
}
