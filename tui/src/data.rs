//! What the console knows about the daemon, aggregated as updates arrive (never while
//! drawing): figures and their per-second rates, webhooks with windowed counters, and a
//! bounded book of deliveries.
//!
//! Bounds: the book keeps the [`BOOK_CAPACITY`] most recently changed deliveries, plus up to
//! as many that need attention (not delivered: pending, failed, exhausted, …), so that a
//! flood of successful deliveries does not push the failures out. Rates keep
//! [`RATE_SAMPLES`] seconds; webhook windows [`WINDOW_SECONDS`].

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use crate::query::{Field, Record};
use hookline_contract::{
    DeliveryChange, DeliveryStatus, DeliverySummary, ErrorKind, Millis, Stats, StreamEvent,
    StreamSnapshot, WebhookChange, WebhookStateName, WebhookView,
};

/// Deliveries kept in each of the book's two indexes.
pub const BOOK_CAPACITY: usize = 10_000;
/// Seconds of rate samples kept for the sparklines.
pub const RATE_SAMPLES: usize = 300;
/// Seconds covered by a webhook's windowed counters.
pub const WINDOW_SECONDS: i64 = 60;

/// One delivery as the console shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRow {
    /// Delivery id.
    pub id: String,
    /// Event id.
    pub event_id: String,
    /// Event type.
    pub event_type: Arc<str>,
    /// Webhook id.
    pub webhook_id: Arc<str>,
    /// Status.
    pub status: DeliveryStatus,
    /// Attempts made.
    pub attempts: u32,
    /// Attempt budget, when known (stream changes carry it; summaries do not).
    pub max_attempts: Option<u32>,
    /// Last HTTP status.
    pub code: Option<u16>,
    /// Last error kind.
    pub error_kind: Option<Arc<str>>,
    /// Last error message.
    pub error: Option<String>,
    /// Last attempt's latency.
    pub latency_ms: Option<u64>,
    /// Next attempt, when pending.
    pub next_attempt_at: Option<Millis>,
    /// Creation time, when known.
    pub created_at: Option<Millis>,
    /// Last change (server time).
    pub changed_at: Millis,
}

impl DeliveryRow {
    /// Failed, exhausted, or failed by a plugin: what the Failures view lists.
    pub fn is_failure(&self) -> bool {
        matches!(
            self.status,
            DeliveryStatus::Failed | DeliveryStatus::Exhausted
        ) || self.error_kind.as_deref().is_some_and(is_plugin_kind)
    }

    /// Waiting for an attempt: what the Queue view lists.
    pub fn is_waiting(&self) -> bool {
        self.status == DeliveryStatus::Pending
    }

    fn needs_attention(&self) -> bool {
        !matches!(
            self.status,
            DeliveryStatus::Delivered | DeliveryStatus::Skipped
        )
    }
}

impl Record for DeliveryRow {
    fn text(&self, field: Field) -> Option<std::borrow::Cow<'_, str>> {
        Some(match field {
            Field::Status => self.status.as_str().into(),
            Field::Webhook => (*self.webhook_id).into(),
            Field::Event => (*self.event_type).into(),
            Field::Kind => self.error_kind.as_deref()?.into(),
            Field::Id => self.id.as_str().into(),
            Field::Error => self.error.as_deref()?.into(),
            _ => return None,
        })
    }

    fn number(&self, field: Field) -> Option<i64> {
        match field {
            Field::Code => self.code.map(i64::from),
            Field::Attempts => Some(i64::from(self.attempts)),
            _ => None,
        }
    }

    fn free_text(&self) -> Vec<&str> {
        let mut v = vec![
            self.id.as_str(),
            &*self.webhook_id,
            &*self.event_type,
            self.event_id.as_str(),
        ];
        v.extend(self.error.as_deref());
        v.extend(self.error_kind.as_deref());
        v
    }
}

/// Whether an error kind is one of the plugin's (`plugin_trap`, `plugin_fuel`, …).
pub fn is_plugin_kind(kind: &str) -> bool {
    kind.starts_with("plugin_")
}

/// A fast, non-cryptographic hasher (the multiply-rotate scheme of rustc's `FxHasher`) for
/// the book's maps: their keys are ids the daemon generated, not attacker-chosen input that
/// could be crafted to collide, and SipHash showed up in profiles at 10,000 changes/s.
#[derive(Debug, Default, Clone, Copy)]
pub struct FxHasher {
    hash: u64,
}

const FX_SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(FX_SEED);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    fn finish(&self) -> u64 {
        self.hash
    }
}

type FxBuild = BuildHasherDefault<FxHasher>;

/// Shares the few distinct webhook ids, event types and error kinds between rows.
#[derive(Debug, Default)]
struct Interner {
    set: HashSet<Arc<str>, FxBuild>,
}

impl Interner {
    const LIMIT: usize = 50_000;

    fn get(&mut self, s: &str) -> Arc<str> {
        if let Some(a) = self.set.get(s) {
            return a.clone();
        }
        if self.set.len() >= Self::LIMIT {
            self.set.clear(); // rows keep their Arcs; only sharing is lost
        }
        let a: Arc<str> = Arc::from(s);
        self.set.insert(a.clone());
        a
    }
}

#[derive(Debug)]
struct Entry {
    row: Arc<DeliveryRow>,
    recent: Option<u64>,
    attention: Option<u64>,
}

/// The bounded set of deliveries the console knows, by id, in order of last change. The
/// indexes hold the rows themselves, so listing them needs no lookups.
#[derive(Debug)]
pub struct DeliveryBook {
    rows: HashMap<String, Entry, FxBuild>,
    recent: BTreeMap<u64, Arc<DeliveryRow>>,
    attention: BTreeMap<u64, Arc<DeliveryRow>>,
    seq: u64,
    capacity: usize,
    interner: Interner,
}

impl Default for DeliveryBook {
    fn default() -> Self {
        DeliveryBook::with_capacity(BOOK_CAPACITY)
    }
}

impl DeliveryBook {
    /// A book keeping `capacity` rows in each index.
    pub fn with_capacity(capacity: usize) -> DeliveryBook {
        DeliveryBook {
            rows: HashMap::default(),
            recent: BTreeMap::new(),
            attention: BTreeMap::new(),
            seq: 0,
            capacity: capacity.max(1),
            interner: Interner::default(),
        }
    }

    /// Deliveries known.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether no delivery is known.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// One delivery.
    pub fn get(&self, id: &str) -> Option<&Arc<DeliveryRow>> {
        self.rows.get(id).map(|e| &e.row)
    }

    /// The most recently changed deliveries, newest first.
    pub fn recent(&self) -> impl Iterator<Item = &Arc<DeliveryRow>> {
        self.recent.values().rev()
    }

    /// Deliveries that need attention (not delivered or skipped), most recent first.
    pub fn attention(&self) -> impl Iterator<Item = &Arc<DeliveryRow>> {
        self.attention.values().rev()
    }

    /// Applies a stream change (always newer than what the book holds).
    pub fn apply_change(&mut self, c: &DeliveryChange) {
        let old = self.rows.get(&c.id).map(|e| e.row.clone());
        let created_at = match &old {
            Some(r) => r.created_at,
            None => (c.status == DeliveryStatus::Pending && c.attempts == 0).then_some(c.at),
        };
        let row = DeliveryRow {
            id: c.id.clone(),
            event_id: c.event_id.clone(),
            event_type: self.interner.get(&c.event_type),
            webhook_id: self.interner.get(&c.webhook_id),
            status: c.status,
            attempts: c.attempts,
            max_attempts: (c.max_attempts > 0)
                .then_some(c.max_attempts)
                .or(old.as_ref().and_then(|r| r.max_attempts)),
            code: c.status_code,
            error_kind: c.error_kind.map(|k| self.interner.get(k.as_str())),
            error: c.error.clone(),
            latency_ms: c.latency_ms,
            next_attempt_at: c.next_attempt_at,
            created_at,
            changed_at: c.at,
        };
        self.put(row);
    }

    /// Applies a listed summary unless the book already has a newer state of it.
    pub fn apply_summary(&mut self, s: &DeliverySummary) {
        let old = self.rows.get(&s.id).map(|e| e.row.clone());
        if let Some(old) = &old
            && old.changed_at > s.updated_at
        {
            return;
        }
        let row = DeliveryRow {
            id: s.id.clone(),
            event_id: s.event_id.clone(),
            event_type: self.interner.get(&s.event_type),
            webhook_id: self.interner.get(&s.webhook_id),
            status: s.status,
            attempts: s.attempts,
            max_attempts: old.as_ref().and_then(|r| r.max_attempts),
            code: s.last_status_code,
            error_kind: s.last_error_kind.map(|k| self.interner.get(k.as_str())),
            error: s.last_error.clone(),
            latency_ms: old.as_ref().and_then(|r| r.latency_ms),
            next_attempt_at: s.next_attempt_at,
            created_at: Some(s.created_at),
            changed_at: s.updated_at,
        };
        self.put(row);
    }

    /// Forgets a delivery.
    pub fn remove(&mut self, id: &str) {
        if let Some(e) = self.rows.remove(id) {
            if let Some(r) = e.recent {
                self.recent.remove(&r);
            }
            if let Some(a) = e.attention {
                self.attention.remove(&a);
            }
        }
    }

    fn put(&mut self, row: DeliveryRow) {
        self.seq += 1;
        let seq = self.seq;
        let attention = row.needs_attention();
        let row = Arc::new(row);
        self.recent.insert(seq, row.clone());
        if attention {
            self.attention.insert(seq, row.clone());
        }
        match self.rows.get_mut(&row.id) {
            Some(e) => {
                if let Some(r) = e.recent.replace(seq) {
                    self.recent.remove(&r);
                }
                if let Some(a) = e.attention.take() {
                    self.attention.remove(&a);
                }
                if attention {
                    e.attention = Some(seq);
                }
                e.row = row;
            }
            None => {
                self.rows.insert(
                    row.id.clone(),
                    Entry {
                        row,
                        recent: Some(seq),
                        attention: attention.then_some(seq),
                    },
                );
            }
        }
        self.evict();
    }

    fn evict(&mut self) {
        while self.recent.len() > self.capacity {
            let Some((_, row)) = self.recent.pop_first() else {
                break;
            };
            // Still in the attention index: keep the row, out of `recent` only.
            if let Some(e) = self.rows.get_mut(&row.id) {
                e.recent = None;
                if e.attention.is_none() {
                    self.rows.remove(&row.id);
                }
            }
        }
        while self.attention.len() > self.capacity {
            let Some((_, row)) = self.attention.pop_first() else {
                break;
            };
            if let Some(e) = self.rows.get_mut(&row.id) {
                e.attention = None;
                if e.recent.is_none() {
                    self.rows.remove(&row.id);
                }
            }
        }
    }
}

/// Per-second counters of one webhook over the last [`WINDOW_SECONDS`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Window {
    buckets: VecDeque<(i64, Bucket)>,
}

/// One second of a [`Window`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bucket {
    /// Successful attempts.
    pub ok: u64,
    /// Failed attempts.
    pub failed: u64,
    /// Deliveries created.
    pub created: u64,
    /// Deliveries that reached a final status.
    pub settled: u64,
}

impl Window {
    fn add(&mut self, at: Millis, f: impl FnOnce(&mut Bucket)) {
        let second = at.div_euclid(1000);
        match self.buckets.back_mut() {
            Some((s, b)) if *s == second => f(b),
            Some((s, _)) if *s > second => {
                match self.buckets.iter_mut().rev().find(|(s, _)| *s == second) {
                    Some((_, b)) => f(b),
                    None => {
                        let oldest = self.buckets.front().map_or(second, |(s, _)| *s);
                        if second > oldest {
                            // A gap inside the window: insert in order.
                            let pos = self.buckets.partition_point(|(s, _)| *s < second);
                            let mut b = Bucket::default();
                            f(&mut b);
                            self.buckets.insert(pos, (second, b));
                        }
                    }
                }
            }
            _ => {
                let mut b = Bucket::default();
                f(&mut b);
                self.buckets.push_back((second, b));
            }
        }
        let newest = self.buckets.back().map_or(second, |(s, _)| *s);
        while self
            .buckets
            .front()
            .is_some_and(|(s, _)| *s <= newest - WINDOW_SECONDS)
        {
            self.buckets.pop_front();
        }
    }

    /// Sums the buckets of the last `seconds` before `now`.
    pub fn sum(&self, now: Millis, seconds: i64) -> Bucket {
        let from = now.div_euclid(1000) - seconds;
        let mut total = Bucket::default();
        for (_, b) in self.buckets.iter().filter(|(s, _)| *s > from) {
            total.ok += b.ok;
            total.failed += b.failed;
            total.created += b.created;
            total.settled += b.settled;
        }
        total
    }
}

/// A webhook and what the console derived about it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WebhookInfo {
    /// As the API last showed it.
    pub view: WebhookView,
    /// Recent per-second counters, from the stream.
    pub window: Window,
    /// Plugin errors by kind, since the console attached.
    pub plugin_errors: BTreeMap<Arc<str>, u64>,
    /// The last plugin error message.
    pub last_plugin_error: Option<String>,
    /// Deliveries the plugin declined (`skipped`), since the console attached.
    pub skipped: u64,
}

/// Per-second rates derived from consecutive `stats`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rates {
    /// Deliveries delivered per second, oldest first.
    pub delivered: VecDeque<u64>,
    /// Failed attempts per second, oldest first.
    pub failed: VecDeque<u64>,
    last: Option<(Millis, u64, u64, u64)>,
}

impl Rates {
    fn push(ring: &mut VecDeque<u64>, v: u64) {
        if ring.len() == RATE_SAMPLES {
            ring.pop_front();
        }
        ring.push_back(v);
    }

    fn observe(&mut self, s: &Stats) {
        let l = &s.live;
        let cur = (s.now, l.delivered, l.attempts, l.uptime_seconds);
        if let Some((then, delivered, attempts, uptime)) = self.last
            && s.now > then
            && l.uptime_seconds >= uptime
            && l.delivered >= delivered
            && l.attempts >= attempts
        {
            let dt = (s.now - then) as f64 / 1000.0;
            let d = l.delivered - delivered;
            let failed = (l.attempts - attempts).saturating_sub(d);
            Self::push(&mut self.delivered, (d as f64 / dt).round() as u64);
            Self::push(&mut self.failed, (failed as f64 / dt).round() as u64);
        }
        self.last = Some(cur);
    }
}

/// Everything the console knows about the daemon.
#[derive(Debug, Default)]
pub struct Data {
    /// The last figures.
    pub stats: Option<Stats>,
    /// Rates for the sparklines.
    pub rates: Rates,
    /// Webhooks by id.
    pub webhooks: BTreeMap<String, WebhookInfo>,
    /// Deliveries.
    pub book: DeliveryBook,
    /// Failed attempts by error kind, since the console attached.
    pub error_kinds: BTreeMap<Arc<str>, u64>,
    /// Stream events applied.
    pub events_applied: u64,
    /// The newest server time seen (from stats and changes).
    pub server_now: Millis,
}

/// What an applied update touched, so the app knows what to refresh.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Touched {
    /// Deliveries changed.
    pub deliveries: bool,
    /// Webhooks changed.
    pub webhooks: bool,
    /// Figures changed.
    pub stats: bool,
    /// A webhook the console did not know appeared: fetch the list.
    pub unknown_webhook: bool,
}

impl Touched {
    /// Combines two.
    pub fn merge(&mut self, other: Touched) {
        self.deliveries |= other.deliveries;
        self.webhooks |= other.webhooks;
        self.stats |= other.stats;
        self.unknown_webhook |= other.unknown_webhook;
    }
}

impl Data {
    /// Applies one stream event.
    pub fn apply(&mut self, event: &StreamEvent) -> Touched {
        self.events_applied += 1;
        match event {
            StreamEvent::Snapshot(s) => self.apply_snapshot(s),
            StreamEvent::Delivery(c) => self.apply_change(c),
            StreamEvent::Webhook(w) => self.apply_webhook_change(w),
            StreamEvent::Stats(s) => {
                self.apply_stats(s);
                Touched {
                    stats: true,
                    ..Touched::default()
                }
            }
        }
    }

    fn apply_snapshot(&mut self, s: &StreamSnapshot) -> Touched {
        self.apply_stats(&s.stats);
        self.set_webhooks(&s.webhooks);
        // Oldest first, so the newest ends up most recent in the book.
        for d in s.deliveries.iter().rev() {
            self.book.apply_summary(d);
        }
        Touched {
            deliveries: true,
            webhooks: true,
            stats: true,
            unknown_webhook: false,
        }
    }

    fn apply_stats(&mut self, s: &Stats) {
        self.rates.observe(s);
        self.server_now = self.server_now.max(s.now);
        self.stats = Some(s.clone());
    }

    /// Replaces the webhooks with the API's list, keeping the derived counters.
    pub fn set_webhooks(&mut self, list: &[WebhookView]) {
        let mut next = BTreeMap::new();
        for w in list {
            let mut info = self.webhooks.remove(&w.id).unwrap_or_default();
            info.view = w.clone();
            next.insert(w.id.clone(), info);
        }
        self.webhooks = next;
    }

    /// Updates one webhook (an action's answer).
    pub fn put_webhook(&mut self, w: &WebhookView) {
        self.webhooks.entry(w.id.clone()).or_default().view = w.clone();
    }

    fn apply_webhook_change(&mut self, w: &WebhookChange) -> Touched {
        if w.state == "deleted" {
            self.webhooks.remove(&w.id);
            return Touched {
                webhooks: true,
                ..Touched::default()
            };
        }
        match self.webhooks.get_mut(&w.id) {
            Some(info) => {
                info.view.state = WebhookStateName::from_name(&w.state);
                info.view.disabled_reason = w.reason.clone();
                Touched {
                    webhooks: true,
                    ..Touched::default()
                }
            }
            None => Touched {
                webhooks: true,
                unknown_webhook: true,
                ..Touched::default()
            },
        }
    }

    fn apply_change(&mut self, c: &DeliveryChange) -> Touched {
        self.server_now = self.server_now.max(c.at);
        self.book.apply_change(c);
        let kind = c.error_kind.map(ErrorKind::as_str);
        if let Some(kind) = kind {
            let key = self
                .book
                .get(&c.id)
                .and_then(|r| r.error_kind.clone())
                .unwrap_or_else(|| Arc::from(kind));
            *self.error_kinds.entry(key).or_default() += 1;
        }
        let mut touched = Touched {
            deliveries: true,
            ..Touched::default()
        };
        let Some(info) = self.webhooks.get_mut(&c.webhook_id) else {
            touched.unknown_webhook = true;
            return touched;
        };
        let attempt_finished = c.attempts > 0 && c.status != DeliveryStatus::InFlight;
        info.window.add(c.at, |b| {
            if c.status == DeliveryStatus::Pending && c.attempts == 0 {
                b.created += 1;
            }
            if attempt_finished {
                if c.status == DeliveryStatus::Delivered {
                    b.ok += 1;
                } else if kind.is_some() {
                    b.failed += 1;
                }
            }
            if !c.status.is_open() {
                b.settled += 1;
            }
        });
        if c.status == DeliveryStatus::Skipped {
            info.skipped += 1;
        }
        if let Some(kind) = kind.filter(|k| is_plugin_kind(k)) {
            let key = self
                .book
                .get(&c.id)
                .and_then(|r| r.error_kind.clone())
                .unwrap_or_else(|| Arc::from(kind));
            *info.plugin_errors.entry(key).or_default() += 1;
            info.last_plugin_error = c.error.clone();
        }
        touched
    }

    /// Merges a listed page of deliveries.
    pub fn apply_summaries(&mut self, items: &[DeliverySummary]) {
        for s in items.iter().rev() {
            self.server_now = self.server_now.max(s.updated_at);
            self.book.apply_summary(s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(id: &str, status: DeliveryStatus, attempts: u32, at: Millis) -> DeliveryChange {
        DeliveryChange {
            id: id.into(),
            event_id: format!("evt_{id}"),
            event_type: "task.created".into(),
            webhook_id: "billing".into(),
            status,
            attempts,
            max_attempts: 3,
            at,
            ..DeliveryChange::default()
        }
    }

    #[test]
    fn the_book_stays_bounded_and_keeps_failures() {
        let mut book = DeliveryBook::with_capacity(3);
        let mut failed = change("f", DeliveryStatus::Failed, 1, 1);
        failed.error_kind = Some("http_status".into());
        book.apply_change(&failed);
        for i in 0..10 {
            book.apply_change(&change(
                &format!("d{i}"),
                DeliveryStatus::Delivered,
                1,
                2 + i,
            ));
        }
        let recent: Vec<&str> = book.recent().map(|r| r.id.as_str()).collect();
        assert_eq!(recent, ["d9", "d8", "d7"]);
        let attention: Vec<&str> = book.attention().map(|r| r.id.as_str()).collect();
        assert_eq!(
            attention,
            ["f"],
            "the failure outlives the flood of successes"
        );
        assert_eq!(book.len(), 4);
        for i in 0..5 {
            book.apply_change(&change(
                &format!("p{i}"),
                DeliveryStatus::Pending,
                0,
                20 + i,
            ));
        }
        assert!(book.len() <= 6, "{}", book.len());
        assert!(
            book.get("f").is_none(),
            "the oldest attention row went at last"
        );
    }

    #[test]
    fn an_update_moves_a_row_between_indexes() {
        let mut book = DeliveryBook::with_capacity(10);
        book.apply_change(&change("a", DeliveryStatus::Pending, 0, 1));
        assert_eq!(book.attention().count(), 1);
        book.apply_change(&change("a", DeliveryStatus::Delivered, 1, 2));
        assert_eq!(book.attention().count(), 0);
        let row = book.get("a").unwrap();
        assert_eq!(row.created_at, Some(1), "kept from the creation change");
        assert_eq!(row.max_attempts, Some(3));
    }

    #[test]
    fn an_older_summary_does_not_undo_a_newer_change() {
        let mut book = DeliveryBook::with_capacity(10);
        book.apply_change(&change("a", DeliveryStatus::Delivered, 1, 50));
        book.apply_summary(&DeliverySummary {
            id: "a".into(),
            status: DeliveryStatus::Pending,
            updated_at: 40,
            ..DeliverySummary::default()
        });
        assert_eq!(book.get("a").unwrap().status, DeliveryStatus::Delivered);
        book.apply_summary(&DeliverySummary {
            id: "a".into(),
            status: DeliveryStatus::Pending,
            attempts: 1,
            updated_at: 60,
            created_at: 10,
            ..DeliverySummary::default()
        });
        let row = book.get("a").unwrap();
        assert_eq!(row.status, DeliveryStatus::Pending);
        assert_eq!(row.max_attempts, Some(3), "kept from the change");
    }

    #[test]
    fn rates_come_from_consecutive_stats() {
        let mut rates = Rates::default();
        let stats = |now, delivered, attempts, uptime| Stats {
            now,
            live: hookline_contract::LiveStats {
                delivered,
                attempts,
                uptime_seconds: uptime,
                ..Default::default()
            },
            ..Stats::default()
        };
        rates.observe(&stats(1000, 0, 0, 1));
        rates.observe(&stats(2000, 100, 130, 2));
        rates.observe(&stats(4000, 300, 340, 4));
        // A restarted daemon: counters went back; no sample.
        rates.observe(&stats(5000, 5, 5, 0));
        assert_eq!(rates.delivered, [100, 100]);
        assert_eq!(rates.failed, [30, 5]);
    }

    #[test]
    fn windows_count_attempts_creations_and_settlements() {
        let mut data = Data::default();
        data.set_webhooks(&[WebhookView {
            id: "billing".into(),
            ..WebhookView::default()
        }]);
        data.apply_change(&change("a", DeliveryStatus::Pending, 0, 1_000));
        let mut failed = change("a", DeliveryStatus::Pending, 1, 1_500);
        failed.error_kind = Some("plugin_trap".into());
        failed.error = Some("unreachable".into());
        data.apply_change(&failed);
        data.apply_change(&change("a", DeliveryStatus::Delivered, 2, 3_000));
        let info = &data.webhooks["billing"];
        let sum = info.window.sum(3_000, 60);
        assert_eq!(
            sum,
            Bucket {
                ok: 1,
                failed: 1,
                created: 1,
                settled: 1
            }
        );
        assert_eq!(info.plugin_errors.get("plugin_trap"), Some(&1));
        assert_eq!(data.error_kinds.get("plugin_trap"), Some(&1));
        // Older than the window: gone.
        assert_eq!(info.window.sum(200_000, 60), Bucket::default());
    }

    #[test]
    fn unknown_webhooks_ask_for_the_list() {
        let mut data = Data::default();
        let t = data.apply(&StreamEvent::Delivery(change(
            "a",
            DeliveryStatus::Pending,
            0,
            1,
        )));
        assert!(t.unknown_webhook);
        let t = data.apply(&StreamEvent::Webhook(WebhookChange {
            id: "new".into(),
            state: "active".into(),
            reason: None,
        }));
        assert!(t.unknown_webhook);
    }
}
