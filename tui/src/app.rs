//! The console's state and its pure update function: [`App::update`] takes a [`Msg`] (a key,
//! a batch of stream events, an API answer, a tick) and returns the [`Effect`]s to carry out
//! (API calls, a copy to the clipboard). No terminal, no network, no wall clock: time comes
//! from the injected [`Clock`], so every behaviour is testable.
//!
//! Drawing reads only [`App::shown`] and the view states. [`App::shown`] is recomputed from
//! [`Data`] when the data changed, at most every [`REFRESH_EVERY_MS`], and never while the
//! view is frozen (Space).

use std::cell::Cell;
use std::cmp::Ordering;
use std::sync::Arc;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::actions::{self, Action, Binding, Lookup, ViewId};
use crate::clock::Clock;
use crate::data::{Bucket, Data, DeliveryRow, WINDOW_SECONDS};
use crate::lines::{self, FailureGroup, PluginLine, WebhookLine};
use crate::query::{Field, Query};
use hookline_contract::{
    DeliveryDetail, DeliveryStatus, DeliverySummary, Millis, Page, Stats, StreamEvent, WebhookView,
};

/// Lists are recomputed at most this often while data flows.
pub const REFRESH_EVERY_MS: Millis = 100;
/// Webhooks (with their health) are polled this often.
pub const WEBHOOKS_EVERY_MS: Millis = 2_000;
/// Waiting and failed deliveries are listed from the store this often.
pub const LISTS_EVERY_MS: Millis = 5_000;
/// A status message stays this long.
pub const STATUS_FOR_MS: Millis = 8_000;
/// The detail of an open delivery is fetched again at most this often when it changes.
pub const DETAIL_EVERY_MS: Millis = 1_000;
/// Rows listed per store poll.
pub const POLL_LIMIT: u32 = 1000;

/// Fields the delivery views filter on.
pub const DELIVERY_FIELDS: &[Field] = &[
    Field::Status,
    Field::Code,
    Field::Webhook,
    Field::Event,
    Field::Kind,
    Field::Id,
    Field::Attempts,
    Field::Error,
];

/// How the console was started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The daemon's URL.
    pub url: String,
    /// Hide and refuse actions that change the daemon.
    pub read_only: bool,
    /// Why the console is read-only when it was not asked to be: the token's scope (from
    /// `/v1/whoami`), e.g. "the token `console` has the `read` scope". `None`: `--read-only`.
    pub read_only_reason: Option<String>,
    /// The daemon's `delivery.auto_disable_after_seconds` (not exposed by the API), for the
    /// "near auto-disable" warning; 0 = never.
    pub auto_disable_after_seconds: u64,
    /// Colours (false with `NO_COLOR`).
    pub color: bool,
}

impl Options {
    /// Why actions are disabled, for the status line and the help.
    pub fn read_only_why(&self) -> &str {
        self.read_only_reason
            .as_deref()
            .unwrap_or("the console was started with --read-only")
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            url: "http://127.0.0.1:8420".to_owned(),
            read_only: false,
            read_only_reason: None,
            auto_disable_after_seconds: 432_000,
            color: true,
        }
    }
}

/// The connection to the daemon's stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnState {
    /// Connecting (first time or again).
    Connecting,
    /// Receiving the stream.
    Live,
    /// The daemon cannot be reached or the stream broke; retrying.
    Unreachable(String),
    /// The daemon refused the token (401).
    Unauthorized(String),
}

/// A list the app fetches from the store periodically.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Poll {
    /// `status=pending`.
    Waiting,
    /// `status=failed,exhausted`.
    Failures,
}

impl Poll {
    /// The query string.
    pub fn query(self) -> String {
        match self {
            Poll::Waiting => format!("status=pending&limit={POLL_LIMIT}"),
            Poll::Failures => format!("status=failed,exhausted&limit={POLL_LIMIT}"),
        }
    }
}

/// An action's successful answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Done {
    /// A delivery (retry, replay).
    Delivery(DeliverySummary),
    /// A webhook (pause, resume).
    Webhook(Box<WebhookView>),
}

/// Something that happened.
#[derive(Debug, Clone, PartialEq)]
pub enum Msg {
    /// A key press.
    Key(KeyEvent),
    /// The terminal was resized.
    Resize,
    /// Time passed.
    Tick,
    /// The stream's connection changed.
    Connection(ConnState),
    /// Stream events, in order.
    Stream(Vec<StreamEvent>),
    /// `GET /v1/webhooks` answered.
    Webhooks(Result<Vec<WebhookView>, String>),
    /// A store poll answered.
    Deliveries(Poll, Result<Page<DeliverySummary>, String>),
    /// `GET /v1/deliveries/{id}` answered.
    Detail(String, Result<DeliveryDetail, String>),
    /// An action answered.
    Done(Effect, Result<Done, String>),
    /// Something worth telling the user (shown in the status line as an error).
    Notice(String),
}

/// Something the runtime must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// `GET /v1/webhooks`.
    FetchWebhooks,
    /// `GET /v1/deliveries?…`.
    FetchDeliveries(Poll),
    /// `GET /v1/deliveries/{id}`.
    FetchDetail(String),
    /// `POST /v1/deliveries/{id}/retry`.
    Retry(String),
    /// `POST /v1/deliveries/{id}/replay`.
    Replay(String),
    /// `POST /v1/webhooks/{id}/pause`.
    Pause(String),
    /// `POST /v1/webhooks/{id}/resume`.
    Resume(String),
    /// Put this text on the clipboard (OSC 52).
    Copy(String),
}

impl Effect {
    fn describe(&self) -> String {
        match self {
            Effect::Retry(id) => format!("retry of {id}"),
            Effect::Replay(id) => format!("replay of {id}"),
            Effect::Pause(id) => format!("pause of webhook {id}"),
            Effect::Resume(id) => format!("resume of webhook {id}"),
            Effect::FetchWebhooks => "listing webhooks".to_owned(),
            Effect::FetchDeliveries(_) => "listing deliveries".to_owned(),
            Effect::FetchDetail(id) => format!("loading {id}"),
            Effect::Copy(_) => "copy".to_owned(),
        }
    }
}

/// What the keys do right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// The action table applies.
    Normal,
    /// Typing a filter.
    Filter {
        /// The text so far.
        input: String,
        /// Why it does not parse, if it does not.
        error: Option<String>,
        /// The filter before editing (restored by Esc).
        before: Option<String>,
    },
    /// Waiting for y/n.
    Confirm {
        /// The question.
        question: String,
        /// What `y` does.
        effect: Effect,
    },
    /// The help is open.
    Help,
}

/// A message in the status line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusLine {
    /// The text.
    pub text: String,
    /// Shown as an error.
    pub error: bool,
    /// When it was set.
    pub at: Millis,
}

/// An active filter.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    /// As typed.
    pub text: String,
    /// Parsed.
    pub query: Query,
}

/// A list view's cursor, sort and filter.
#[derive(Debug, Default)]
pub struct ListState {
    /// Selected row.
    pub selected: usize,
    /// First row shown (kept by drawing so the selection stays visible).
    pub offset: Cell<usize>,
    /// Sort column (index into the view's columns).
    pub sort: usize,
    /// Descending.
    pub descending: bool,
    /// Filter.
    pub filter: Option<Filter>,
    selected_key: Option<String>,
}

/// A sortable column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortColumn {
    /// Shown name.
    pub name: &'static str,
    /// Whether it sorts descending first.
    pub descending: bool,
}

const fn col(name: &'static str, descending: bool) -> SortColumn {
    SortColumn { name, descending }
}

/// Sort columns of the Overview's delivery list.
pub const OVERVIEW_SORT: &[SortColumn] = &[
    col("changed", true),
    col("delivery", true),
    col("webhook", false),
    col("event", false),
    col("status", false),
    col("attempts", true),
    col("code", true),
    col("latency", true),
];
/// Sort columns of the Queue.
pub const QUEUE_SORT: &[SortColumn] = &[
    col("next", false),
    col("delivery", true),
    col("webhook", false),
    col("event", false),
    col("attempts", true),
    col("code", true),
];
/// Sort columns of the Failures groups.
pub const FAILURES_SORT: &[SortColumn] = &[
    col("count", true),
    col("kind", false),
    col("webhook", false),
    col("last", true),
];
/// Sort columns of the Webhooks.
pub const WEBHOOKS_SORT: &[SortColumn] = &[
    col("webhook", false),
    col("state", false),
    col("success", false),
    col("p99", true),
    col("in flight", true),
    col("waiting", true),
];
/// Sort columns of the Plugins.
pub const PLUGINS_SORT: &[SortColumn] = &[
    col("plugin", false),
    col("calls", true),
    col("errors", true),
];

/// The sort columns of `view`.
pub fn sort_columns(view: ViewId) -> &'static [SortColumn] {
    match view {
        ViewId::Overview => OVERVIEW_SORT,
        ViewId::Queue => QUEUE_SORT,
        ViewId::Failures => FAILURES_SORT,
        ViewId::Webhooks => WEBHOOKS_SORT,
        ViewId::Plugins => PLUGINS_SORT,
        ViewId::Detail => &[],
    }
}

fn filter_fields(view: ViewId) -> &'static [Field] {
    match view {
        ViewId::Overview | ViewId::Queue | ViewId::Failures => DELIVERY_FIELDS,
        ViewId::Webhooks => lines::WEBHOOK_FIELDS,
        ViewId::Plugins => lines::PLUGIN_FIELDS,
        ViewId::Detail => &[],
    }
}

/// In the Failures view: the groups, or the deliveries of the selected group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailuresFocus {
    /// The groups table.
    #[default]
    Groups,
    /// The deliveries of the selected group.
    Deliveries,
}

/// The Detail view.
#[derive(Debug, Default)]
pub struct DetailState {
    /// The delivery shown.
    pub id: Option<String>,
    /// Its detail, once loaded.
    pub detail: Option<DeliveryDetail>,
    /// Why loading failed.
    pub error: Option<String>,
    /// A request is on its way.
    pub loading: bool,
    /// Selected attempt (0-based).
    pub attempt: usize,
    /// Scroll of the payload panes.
    pub scroll: u16,
    /// The payload, pretty-printed once on load.
    pub payload_text: String,
    /// Each attempt's sent body when a plugin transformed it, pretty-printed when JSON.
    pub bodies: Vec<Option<String>>,
    stale: bool,
    last_fetch: Millis,
}

/// What the views draw: computed on update, never while drawing.
#[derive(Debug, Default)]
pub struct Shown {
    /// Server time the figures are for.
    pub at: Millis,
    /// Figures.
    pub stats: Option<Stats>,
    /// Delivered per second, oldest first.
    pub delivered_rate: Vec<u64>,
    /// Failed attempts per second, oldest first.
    pub failed_rate: Vec<u64>,
    /// Failed attempts by error kind since the console attached, most first.
    pub error_kinds: Vec<(Arc<str>, u64)>,
    /// Every webhook's last minute.
    pub recent: Bucket,
    /// Deliveries the console holds.
    pub book_len: usize,
    /// Overview's deliveries.
    pub overview: Vec<Arc<DeliveryRow>>,
    /// Queue's deliveries.
    pub queue: Vec<Arc<DeliveryRow>>,
    /// Failure groups.
    pub failures: Vec<FailureGroup>,
    /// Webhooks.
    pub webhooks: Vec<WebhookLine>,
    /// Plugins.
    pub plugins: Vec<PluginLine>,
}

#[derive(Debug, Default, Clone, Copy)]
struct PollClock {
    last: Option<Millis>,
    busy: bool,
}

impl PollClock {
    fn due(&self, now: Millis, every: Millis) -> bool {
        !self.busy && self.last.is_none_or(|t| now - t >= every)
    }
}

/// The console.
#[derive(Debug)]
pub struct App {
    /// How it was started.
    pub opts: Options,
    clock: Arc<dyn Clock>,
    /// The local time of the last update.
    pub now: Millis,
    /// Server time minus local time, from the last `stats`.
    pub server_offset: Millis,
    /// The stream's connection.
    pub conn: ConnState,
    /// Everything known about the daemon.
    pub data: Data,
    /// The view shown.
    pub view: ViewId,
    history: Vec<ViewId>,
    lists: [ListState; 6],
    /// The Failures view's focus.
    pub failures_focus: FailuresFocus,
    /// Selection among the selected group's deliveries.
    pub failure_rows: ListState,
    /// The Detail view.
    pub detail: DetailState,
    /// What the keys do.
    pub mode: Mode,
    /// The view is frozen.
    pub frozen: bool,
    /// What is drawn.
    pub shown: Shown,
    /// The status line.
    pub status: Option<StatusLine>,
    /// Rows of the list on screen, for page moves (kept by drawing).
    pub page_rows: Cell<usize>,
    dirty: bool,
    stale: bool,
    last_refresh: Option<Millis>,
    last_second: Millis,
    webhooks_poll: PollClock,
    waiting_poll: PollClock,
    failures_poll: PollClock,
    waiting_poll_started: Millis,
    quit: bool,
}

impl App {
    /// A console with nothing known yet.
    pub fn new(opts: Options, clock: Arc<dyn Clock>) -> App {
        let now = clock.now_ms();
        let mut lists: [ListState; 6] = Default::default();
        for view in ViewId::ALL {
            if let Some(first) = sort_columns(view).first() {
                lists[view.index()].descending = first.descending;
            }
        }
        App {
            opts,
            clock,
            now,
            server_offset: 0,
            conn: ConnState::Connecting,
            data: Data::default(),
            view: ViewId::Overview,
            history: Vec::new(),
            lists,
            failures_focus: FailuresFocus::Groups,
            failure_rows: ListState::default(),
            detail: DetailState::default(),
            mode: Mode::Normal,
            frozen: false,
            shown: Shown::default(),
            status: None,
            page_rows: Cell::new(10),
            dirty: true,
            stale: true,
            last_refresh: None,
            last_second: now / 1000,
            webhooks_poll: PollClock::default(),
            waiting_poll: PollClock::default(),
            failures_poll: PollClock::default(),
            waiting_poll_started: 0,
            quit: false,
        }
    }

    /// Whether `q` was pressed.
    pub fn should_quit(&self) -> bool {
        self.quit
    }

    /// Whether something drawn changed since the last call; resets the flag.
    pub fn take_dirty(&mut self) -> bool {
        std::mem::take(&mut self.dirty)
    }

    /// The server's time now (local clock corrected by the last `stats`).
    pub fn server_now(&self) -> Millis {
        self.now + self.server_offset
    }

    /// The time ages and countdowns are drawn against: frozen views stand still.
    pub fn display_now(&self) -> Millis {
        if self.frozen {
            self.shown.at
        } else {
            self.server_now()
        }
    }

    /// A view's list state.
    pub fn list(&self, view: ViewId) -> &ListState {
        &self.lists[view.index()]
    }

    fn list_mut(&mut self, view: ViewId) -> &mut ListState {
        &mut self.lists[view.index()]
    }

    /// Applies one message.
    pub fn update(&mut self, msg: Msg) -> Vec<Effect> {
        self.now = self.clock.now_ms();
        let mut fx = Vec::new();
        match msg {
            Msg::Key(key) => {
                self.on_key(key, &mut fx);
                self.dirty = true;
            }
            Msg::Resize => self.dirty = true,
            Msg::Tick => self.on_tick(&mut fx),
            Msg::Connection(state) => {
                if state != self.conn {
                    self.conn = state;
                    self.dirty = true;
                }
            }
            Msg::Stream(events) => self.on_stream(events, &mut fx),
            Msg::Webhooks(result) => {
                self.webhooks_poll.busy = false;
                match result {
                    Ok(list) => {
                        self.data.set_webhooks(&list);
                        self.stale = true;
                    }
                    Err(e) => self.set_status(format!("listing webhooks failed: {e}"), true),
                }
            }
            Msg::Deliveries(poll, result) => self.on_poll(poll, result),
            Msg::Detail(id, result) => {
                if self.detail.id.as_deref() == Some(id.as_str()) {
                    self.detail.loading = false;
                    match result {
                        Ok(detail) => {
                            self.data
                                .apply_summaries(std::slice::from_ref(&detail.summary));
                            let attempts = detail.attempts_detail.len();
                            if self.detail.detail.is_none() {
                                // First load: select the last attempt.
                                self.detail.attempt = attempts.saturating_sub(1);
                            }
                            self.detail.attempt =
                                self.detail.attempt.min(attempts.saturating_sub(1));
                            self.detail.payload_text = pretty_json(&detail.payload);
                            self.detail.bodies = detail
                                .attempts_detail
                                .iter()
                                .map(|a| a.request_body.as_deref().map(pretty_text))
                                .collect();
                            self.detail.detail = Some(detail);
                            self.detail.error = None;
                        }
                        Err(e) => self.detail.error = Some(e),
                    }
                    self.dirty = true;
                }
            }
            Msg::Done(effect, result) => self.on_done(effect, result),
            Msg::Notice(text) => self.set_status(text, true),
        }
        if self.stale && !self.frozen && self.refresh_due() {
            self.refresh();
        }
        fx
    }

    fn refresh_due(&self) -> bool {
        self.last_refresh
            .is_none_or(|t| self.now - t >= REFRESH_EVERY_MS || self.now < t)
    }

    fn set_status(&mut self, text: impl Into<String>, error: bool) {
        self.status = Some(StatusLine {
            text: text.into(),
            error,
            at: self.now,
        });
        self.dirty = true;
    }

    fn on_tick(&mut self, fx: &mut Vec<Effect>) {
        let second = self.now.div_euclid(1000);
        if second != self.last_second {
            self.last_second = second;
            self.dirty = true; // ages and countdowns
        }
        if let Some(s) = &self.status
            && self.now - s.at >= STATUS_FOR_MS
        {
            self.status = None;
            self.dirty = true;
        }
        if self.conn == ConnState::Live {
            if self.webhooks_poll.due(self.now, WEBHOOKS_EVERY_MS) {
                self.webhooks_poll = PollClock {
                    last: Some(self.now),
                    busy: true,
                };
                fx.push(Effect::FetchWebhooks);
            }
            if self.waiting_poll.due(self.now, LISTS_EVERY_MS) {
                self.waiting_poll = PollClock {
                    last: Some(self.now),
                    busy: true,
                };
                self.waiting_poll_started = self.server_now();
                fx.push(Effect::FetchDeliveries(Poll::Waiting));
            }
            if self.failures_poll.due(self.now, LISTS_EVERY_MS) {
                self.failures_poll = PollClock {
                    last: Some(self.now),
                    busy: true,
                };
                fx.push(Effect::FetchDeliveries(Poll::Failures));
            }
        }
        if let Some(id) = &self.detail.id
            && self.view == ViewId::Detail
            && !self.detail.loading
            && (self.detail.stale || self.detail.detail.is_none() && self.detail.error.is_none())
            && self.now - self.detail.last_fetch >= DETAIL_EVERY_MS
        {
            let id = id.clone();
            self.fetch_detail(id, fx);
        }
    }

    fn on_stream(&mut self, events: Vec<StreamEvent>, fx: &mut Vec<Effect>) {
        let mut touched = crate::data::Touched::default();
        for event in &events {
            if let StreamEvent::Stats(s) = event {
                self.server_offset = s.now - self.now;
            }
            if let (StreamEvent::Delivery(c), Some(id)) = (event, &self.detail.id)
                && &c.id == id
            {
                self.detail.stale = true;
            }
            touched.merge(self.data.apply(event));
        }
        if touched.unknown_webhook && !self.webhooks_poll.busy {
            self.webhooks_poll = PollClock {
                last: Some(self.now),
                busy: true,
            };
            fx.push(Effect::FetchWebhooks);
        }
        self.stale = true;
    }

    fn on_poll(&mut self, poll: Poll, result: Result<Page<DeliverySummary>, String>) {
        match poll {
            Poll::Waiting => self.waiting_poll.busy = false,
            Poll::Failures => self.failures_poll.busy = false,
        }
        let page = match result {
            Ok(page) => page,
            Err(e) => {
                self.set_status(format!("listing deliveries failed: {e}"), true);
                return;
            }
        };
        self.data.apply_summaries(&page.items);
        if poll == Poll::Waiting && page.next_cursor.is_none() {
            // The store's complete list of pending deliveries: a row the console still
            // believes pending, unchanged since before the poll, finished while the stream
            // was away. Forget it rather than show it waiting forever.
            let listed: std::collections::HashSet<&str> =
                page.items.iter().map(|d| d.id.as_str()).collect();
            let cutoff = self.waiting_poll_started - LISTS_EVERY_MS;
            let gone: Vec<String> = self
                .data
                .book
                .attention()
                .filter(|r| {
                    r.status == DeliveryStatus::Pending
                        && r.changed_at < cutoff
                        && !listed.contains(r.id.as_str())
                })
                .map(|r| r.id.clone())
                .collect();
            for id in gone {
                self.data.book.remove(&id);
            }
        }
        self.stale = true;
    }

    fn on_done(&mut self, effect: Effect, result: Result<Done, String>) {
        match result {
            Err(e) => self.set_status(format!("{} failed: {e}", effect.describe()), true),
            Ok(Done::Delivery(summary)) => {
                let text = match &effect {
                    Effect::Replay(id) => {
                        format!("replayed {id} as {} ({})", summary.id, summary.status)
                    }
                    _ => format!("retry of {} requested: now {}", summary.id, summary.status),
                };
                self.data.apply_summaries(std::slice::from_ref(&summary));
                if self.detail.id.as_deref() == Some(summary.id.as_str()) {
                    self.detail.stale = true;
                }
                self.stale = true;
                self.set_status(text, false);
            }
            Ok(Done::Webhook(w)) => {
                let text = format!("webhook {} is now {}", w.id, w.state);
                self.data.put_webhook(&w);
                self.stale = true;
                self.set_status(text, false);
            }
        }
    }

    /// Recomputes what is drawn, from the data.
    pub fn refresh(&mut self) {
        self.last_refresh = Some(self.now);
        self.stale = false;
        self.dirty = true;
        let now = self.server_now();
        let data = &self.data;
        let shown = &mut self.shown;
        shown.at = now;
        shown.stats.clone_from(&data.stats);
        shown.delivered_rate = data.rates.delivered.iter().copied().collect();
        shown.failed_rate = data.rates.failed.iter().copied().collect();
        let mut kinds: Vec<(Arc<str>, u64)> = data
            .error_kinds
            .iter()
            .map(|(k, n)| (k.clone(), *n))
            .collect();
        kinds.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        shown.error_kinds = kinds;
        let mut recent = Bucket::default();
        for info in data.webhooks.values() {
            let b = info.window.sum(now, WINDOW_SECONDS);
            recent.ok += b.ok;
            recent.failed += b.failed;
            recent.created += b.created;
            recent.settled += b.settled;
        }
        shown.recent = recent;
        shown.book_len = data.book.len();
        // Webhooks are few and needed by several views.
        let auto_disable_ms = (self.opts.auto_disable_after_seconds as i64).saturating_mul(1000);
        let mut webhooks = lines::webhook_lines(data, now, auto_disable_ms);
        let list = &self.lists[ViewId::Webhooks.index()];
        if let Some(f) = &list.filter {
            webhooks.retain(|w| f.query.matches(w));
        }
        sort_webhooks(&mut webhooks, list.sort, list.descending);
        shown.webhooks = webhooks;

        match self.view {
            ViewId::Overview => {
                let list = &self.lists[ViewId::Overview.index()];
                let mut rows: Vec<Arc<DeliveryRow>> = match &list.filter {
                    Some(f) => data
                        .book
                        .recent()
                        .filter(|r| f.query.matches(&***r))
                        .cloned()
                        .collect(),
                    None => data.book.recent().cloned().collect(),
                };
                // The book's order is "changed, newest first": the default needs no sort.
                if !(list.sort == 0 && list.descending) {
                    sort_deliveries(&mut rows, OVERVIEW_SORT[list.sort].name, list.descending);
                }
                shown.overview = rows;
            }
            ViewId::Queue => {
                let list = &self.lists[ViewId::Queue.index()];
                let mut rows: Vec<Arc<DeliveryRow>> = data
                    .book
                    .attention()
                    .filter(|r| r.is_waiting())
                    .filter(|r| list.filter.as_ref().is_none_or(|f| f.query.matches(&***r)))
                    .cloned()
                    .collect();
                sort_deliveries(&mut rows, QUEUE_SORT[list.sort].name, list.descending);
                shown.queue = rows;
            }
            ViewId::Failures => {
                let list = &self.lists[ViewId::Failures.index()];
                let mut groups = lines::failure_groups(
                    data.book
                        .attention()
                        .filter(|r| r.is_failure())
                        .filter(|r| list.filter.as_ref().is_none_or(|f| f.query.matches(&***r))),
                );
                sort_groups(&mut groups, list.sort, list.descending);
                shown.failures = groups;
            }
            ViewId::Plugins => {
                let list = &self.lists[ViewId::Plugins.index()];
                let mut plugins = lines::plugin_lines(data);
                if let Some(f) = &list.filter {
                    plugins.retain(|p| f.query.matches(p));
                }
                sort_plugins(&mut plugins, list.sort, list.descending);
                shown.plugins = plugins;
            }
            ViewId::Webhooks | ViewId::Detail => {}
        }
        self.reselect();
    }

    /// Keeps each list's selection on the same item after a refresh (or on the first row
    /// when it was there: following the newest). Compares ids in place: no copies.
    fn reselect(&mut self) {
        let view = self.view;
        let list = &mut self.lists[view.index()];
        let shown = &self.shown;
        match view {
            ViewId::Overview => reselect_by(list, &shown.overview, |r| r.id.as_str()),
            ViewId::Queue => reselect_by(list, &shown.queue, |r| r.id.as_str()),
            ViewId::Webhooks => reselect_by(list, &shown.webhooks, |w| w.webhook.id.as_str()),
            ViewId::Failures => reselect_by(list, &shown.failures, |g| g.key.as_str()),
            ViewId::Plugins => reselect_by(list, &shown.plugins, |p| p.plugin.as_str()),
            ViewId::Detail => return,
        }
        if view == ViewId::Failures {
            let sel = self.lists[ViewId::Failures.index()].selected;
            let rows: &[Arc<DeliveryRow>] = self
                .shown
                .failures
                .get(sel)
                .map_or(&[], |g| g.rows.as_slice());
            reselect_by(&mut self.failure_rows, rows, |r| r.id.as_str());
            if rows.is_empty() {
                self.failures_focus = FailuresFocus::Groups;
            }
        }
    }

    fn on_key(&mut self, key: KeyEvent, fx: &mut Vec<Effect>) {
        match std::mem::replace(&mut self.mode, Mode::Normal) {
            Mode::Normal => self.on_normal_key(key, fx),
            Mode::Help => {
                let close = matches!(
                    key.code,
                    KeyCode::Esc | KeyCode::Char('?') | KeyCode::Char('q') | KeyCode::Enter
                );
                if !close {
                    self.mode = Mode::Help;
                }
            }
            Mode::Confirm { question, effect } => match key.code {
                KeyCode::Char('y') | KeyCode::Char('Y') => {
                    self.set_status(format!("{} requested…", effect.describe()), false);
                    fx.push(effect);
                }
                KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc => {
                    self.set_status("canceled", false);
                }
                _ => self.mode = Mode::Confirm { question, effect },
            },
            Mode::Filter {
                mut input,
                error,
                before,
            } => match key.code {
                KeyCode::Enter => {
                    if error.is_some() {
                        self.mode = Mode::Filter {
                            input,
                            error,
                            before,
                        };
                    }
                }
                KeyCode::Esc => {
                    let text = before.unwrap_or_default();
                    self.apply_filter(&text);
                }
                KeyCode::Char('u') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                    input.clear();
                    let error = self.apply_filter(&input);
                    self.mode = Mode::Filter {
                        input,
                        error,
                        before,
                    };
                }
                KeyCode::Backspace => {
                    input.pop();
                    let error = self.apply_filter(&input);
                    self.mode = Mode::Filter {
                        input,
                        error,
                        before,
                    };
                }
                KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
                    input.push(c);
                    let error = self.apply_filter(&input);
                    self.mode = Mode::Filter {
                        input,
                        error,
                        before,
                    };
                }
                _ => {
                    self.mode = Mode::Filter {
                        input,
                        error,
                        before,
                    }
                }
            },
        }
    }

    /// Applies `text` as the current view's filter if it parses; returns why not otherwise
    /// (the previous filter stays).
    fn apply_filter(&mut self, text: &str) -> Option<String> {
        let view = self.view;
        let parsed = Query::parse(text).and_then(|q| {
            q.check_fields(filter_fields(view))?;
            Ok(q)
        });
        match parsed {
            Ok(Query::All) => {
                self.list_mut(view).filter = None;
            }
            Ok(query) => {
                self.list_mut(view).filter = Some(Filter {
                    text: text.trim().to_owned(),
                    query,
                });
            }
            Err(e) => return Some(e.to_string()),
        }
        if view == ViewId::Failures {
            self.failures_focus = FailuresFocus::Groups;
        }
        self.refresh();
        None
    }

    fn on_normal_key(&mut self, key: KeyEvent, fx: &mut Vec<Effect>) {
        let binding: &Binding = match actions::lookup(&key, self.view) {
            Lookup::Found(b) => b,
            Lookup::OutOfScope(b) => {
                if !(self.opts.read_only && b.mutates) {
                    self.set_status(
                        format!(
                            "{} ({}) does not apply to the {} view; it works in: {}",
                            b.key_label,
                            b.label,
                            self.view.title(),
                            b.scope.describe()
                        ),
                        true,
                    );
                    return;
                }
                b
            }
            Lookup::Unbound => return,
        };
        if binding.mutates && self.opts.read_only {
            self.set_status(
                format!(
                    "{} is disabled: {}",
                    binding.label,
                    self.opts.read_only_why()
                ),
                true,
            );
            return;
        }
        match binding.action {
            Action::Quit => self.quit = true,
            Action::Help => self.mode = Mode::Help,
            Action::NextView => self.switch_view(ViewId::at(self.view.index() + 1)),
            Action::PrevView => self.switch_view(ViewId::at(self.view.index() + 5)),
            Action::GoToView => {
                if let KeyCode::Char(c) = key.code
                    && let Some(d) = c.to_digit(10)
                    && (1..=6).contains(&d)
                {
                    self.switch_view(ViewId::at(d as usize - 1));
                }
            }
            Action::Down => self.move_selection(1),
            Action::Up => self.move_selection(-1),
            Action::PageDown => self.move_selection(self.page_rows.get().max(1) as isize),
            Action::PageUp => self.move_selection(-(self.page_rows.get().max(1) as isize)),
            Action::Top => self.move_selection(isize::MIN),
            Action::Bottom => self.move_selection(isize::MAX),
            Action::Open => self.open(fx),
            Action::Back => self.back(),
            Action::Filter => {
                let current = self.list(self.view).filter.as_ref().map(|f| f.text.clone());
                self.mode = Mode::Filter {
                    input: current.clone().unwrap_or_default(),
                    error: None,
                    before: current,
                };
            }
            Action::Sort => {
                let columns = sort_columns(self.view);
                if !columns.is_empty() {
                    let list = self.list_mut(self.view);
                    list.sort = (list.sort + 1) % columns.len();
                    list.descending = columns[list.sort].descending;
                    self.refresh();
                }
            }
            Action::Reverse => {
                let list = self.list_mut(self.view);
                list.descending = !list.descending;
                self.refresh();
            }
            Action::Freeze => {
                self.frozen = !self.frozen;
                if self.frozen {
                    self.set_status("frozen: the view stands still; Space to resume", false);
                } else {
                    self.refresh();
                    self.set_status("live again", false);
                }
            }
            Action::Copy => match self.selected_delivery() {
                Some(row) => {
                    self.set_status(format!("copied {} to the clipboard", row.id), false);
                    fx.push(Effect::Copy(row.id));
                }
                None => self.set_status("no delivery selected to copy", true),
            },
            Action::Retry => match self.selected_delivery() {
                None => self.set_status("retry: select a delivery first", true),
                Some(row) if !row.status.is_retryable_by_operator() => self.set_status(
                    format!(
                        "retry is for failed, exhausted or canceled deliveries; {} is {}",
                        row.id, row.status
                    ),
                    true,
                ),
                Some(row) => {
                    self.set_status(format!("retrying {}…", row.id), false);
                    fx.push(Effect::Retry(row.id));
                }
            },
            Action::Replay => match self.selected_delivery() {
                None => self.set_status("replay: select a delivery first", true),
                Some(row) => {
                    self.mode = Mode::Confirm {
                        question: format!(
                            "Replay {} to webhook {} as a new delivery? The receiver gets the event again.",
                            row.id, row.webhook
                        ),
                        effect: Effect::Replay(row.id),
                    };
                }
            },
            Action::PauseResume => {
                let Some(line) = self
                    .shown
                    .webhooks
                    .get(self.list(ViewId::Webhooks).selected)
                else {
                    self.set_status("pause/resume: no webhook selected", true);
                    return;
                };
                let w = line.webhook.clone();
                match w.state.as_str() {
                    "active" => {
                        self.mode = Mode::Confirm {
                            question: format!(
                                "Pause webhook {}? Its deliveries wait (nothing is lost) until it is resumed.",
                                w.id
                            ),
                            effect: Effect::Pause(w.id.clone()),
                        };
                    }
                    "disabled" => {
                        self.mode = Mode::Confirm {
                            question: format!(
                                "Re-enable disabled webhook {} ({})?",
                                w.id,
                                w.disabled_reason.as_deref().unwrap_or("no reason given")
                            ),
                            effect: Effect::Resume(w.id.clone()),
                        };
                    }
                    _ => {
                        self.set_status(format!("resuming webhook {}…", w.id), false);
                        fx.push(Effect::Resume(w.id.clone()));
                    }
                }
            }
        }
    }

    fn switch_view(&mut self, view: ViewId) {
        if view != self.view {
            self.view = view;
            self.refresh();
        }
    }

    fn fetch_detail(&mut self, id: String, fx: &mut Vec<Effect>) {
        self.detail.loading = true;
        self.detail.stale = false;
        self.detail.last_fetch = self.now;
        fx.push(Effect::FetchDetail(id));
    }

    fn open_detail(&mut self, id: String, fx: &mut Vec<Effect>) {
        if self.detail.id.as_deref() != Some(id.as_str()) {
            self.detail = DetailState {
                id: Some(id.clone()),
                ..DetailState::default()
            };
        }
        self.history.push(self.view);
        self.view = ViewId::Detail;
        self.fetch_detail(id, fx);
    }

    fn open(&mut self, fx: &mut Vec<Effect>) {
        match self.view {
            ViewId::Overview | ViewId::Queue => {
                if let Some(row) = self.selected_delivery() {
                    self.open_detail(row.id, fx);
                }
            }
            ViewId::Failures => match self.failures_focus {
                FailuresFocus::Groups => {
                    if !self.shown.failures.is_empty() {
                        self.failures_focus = FailuresFocus::Deliveries;
                        self.failure_rows.selected = 0;
                        self.failure_rows.offset.set(0);
                        self.failure_rows.selected_key = None;
                        self.reselect();
                    }
                }
                FailuresFocus::Deliveries => {
                    if let Some(row) = self.selected_delivery() {
                        self.open_detail(row.id, fx);
                    }
                }
            },
            ViewId::Webhooks => {
                let Some(line) = self
                    .shown
                    .webhooks
                    .get(self.list(ViewId::Webhooks).selected)
                else {
                    return;
                };
                let text = format!("webhook={}", line.webhook.id);
                self.history.push(ViewId::Webhooks);
                self.view = ViewId::Overview;
                self.apply_filter(&text);
                let list = self.list_mut(ViewId::Overview);
                list.selected = 0;
                list.selected_key = None;
            }
            ViewId::Plugins | ViewId::Detail => {}
        }
    }

    fn back(&mut self) {
        if self.view == ViewId::Failures && self.failures_focus == FailuresFocus::Deliveries {
            self.failures_focus = FailuresFocus::Groups;
            return;
        }
        if let Some(view) = self.history.pop() {
            self.view = view;
            self.refresh();
        }
    }

    fn move_selection(&mut self, delta: isize) {
        if self.view == ViewId::Detail {
            let n = self
                .detail
                .detail
                .as_ref()
                .map_or(0, |d| d.attempts_detail.len());
            match delta {
                isize::MIN => self.detail.attempt = 0,
                isize::MAX => self.detail.attempt = n.saturating_sub(1),
                1 | -1 => self.detail.attempt = step(self.detail.attempt, delta, n),
                d if d > 0 => self.detail.scroll = self.detail.scroll.saturating_add(d as u16),
                d => {
                    self.detail.scroll = self.detail.scroll.saturating_sub(d.unsigned_abs() as u16)
                }
            }
            return;
        }
        if self.view == ViewId::Failures && self.failures_focus == FailuresFocus::Deliveries {
            let n = self
                .shown
                .failures
                .get(self.list(ViewId::Failures).selected)
                .map_or(0, |g| g.rows.len());
            self.failure_rows.selected = step(self.failure_rows.selected, delta, n);
            self.failure_rows.selected_key = self
                .shown
                .failures
                .get(self.list(ViewId::Failures).selected)
                .and_then(|g| g.rows.get(self.failure_rows.selected))
                .map(|r| r.id.clone());
            return;
        }
        let n = self.shown_len(self.view);
        let view = self.view;
        let list = self.list_mut(view);
        list.selected = step(list.selected, delta, n);
        list.selected_key = None;
        if view == ViewId::Failures {
            self.failure_rows.selected = 0;
            self.failure_rows.selected_key = None;
        }
        // Remember what is selected, so a refresh keeps it.
        self.reselect_keys_after_move();
    }

    fn reselect_keys_after_move(&mut self) {
        let view = self.view;
        let sel = self.list(view).selected;
        let key = match view {
            ViewId::Overview => self.shown.overview.get(sel).map(|r| r.id.clone()),
            ViewId::Queue => self.shown.queue.get(sel).map(|r| r.id.clone()),
            ViewId::Webhooks => self.shown.webhooks.get(sel).map(|w| w.webhook.id.clone()),
            ViewId::Failures => self.shown.failures.get(sel).map(|g| g.key.clone()),
            ViewId::Plugins => self.shown.plugins.get(sel).map(|p| p.plugin.clone()),
            ViewId::Detail => None,
        };
        self.list_mut(view).selected_key = key;
    }

    fn shown_len(&self, view: ViewId) -> usize {
        match view {
            ViewId::Overview => self.shown.overview.len(),
            ViewId::Queue => self.shown.queue.len(),
            ViewId::Webhooks => self.shown.webhooks.len(),
            ViewId::Failures => self.shown.failures.len(),
            ViewId::Plugins => self.shown.plugins.len(),
            ViewId::Detail => 0,
        }
    }

    /// The delivery an action applies to in the current view.
    pub fn selected_delivery(&self) -> Option<SelectedDelivery> {
        let row = match self.view {
            ViewId::Overview => self
                .shown
                .overview
                .get(self.list(ViewId::Overview).selected)?,
            ViewId::Queue => self.shown.queue.get(self.list(ViewId::Queue).selected)?,
            ViewId::Failures => {
                if self.failures_focus != FailuresFocus::Deliveries {
                    return None;
                }
                self.shown
                    .failures
                    .get(self.list(ViewId::Failures).selected)?
                    .rows
                    .get(self.failure_rows.selected)?
            }
            ViewId::Detail => {
                let id = self.detail.id.as_deref()?;
                // The freshest state: the book (stream) or the loaded detail.
                if let Some(row) = self.data.book.get(id) {
                    row
                } else {
                    let d = &self.detail.detail.as_ref()?.summary;
                    return Some(SelectedDelivery {
                        id: d.id.clone(),
                        status: d.status,
                        webhook: d.webhook_id.clone(),
                    });
                }
            }
            ViewId::Webhooks | ViewId::Plugins => return None,
        };
        Some(SelectedDelivery {
            id: row.id.clone(),
            status: row.status,
            webhook: row.webhook_id.to_string(),
        })
    }
}

/// The delivery an action applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectedDelivery {
    /// Id.
    pub id: String,
    /// Status.
    pub status: DeliveryStatus,
    /// Webhook.
    pub webhook: String,
}

/// JSON pretty-printed.
fn pretty_json(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

/// A body: pretty-printed when it is JSON, as is otherwise.
fn pretty_text(body: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(body) {
        Ok(v) => pretty_json(&v),
        Err(_) => body.to_owned(),
    }
}

fn reselect_by<T>(list: &mut ListState, items: &[T], key: impl Fn(&T) -> &str) {
    if items.is_empty() {
        list.selected = 0;
        list.selected_key = None;
        return;
    }
    if list.selected != 0
        && let Some(wanted) = &list.selected_key
        && let Some(pos) = items.iter().position(|i| key(i) == wanted.as_str())
    {
        list.selected = pos;
    }
    list.selected = list.selected.min(items.len() - 1);
    let current = key(&items[list.selected]);
    if list.selected_key.as_deref() != Some(current) {
        list.selected_key = Some(current.to_owned());
    }
}

fn step(current: usize, delta: isize, len: usize) -> usize {
    if len == 0 {
        return 0;
    }
    match delta {
        isize::MIN => 0,
        isize::MAX => len - 1,
        d if d < 0 => current.saturating_sub(d.unsigned_abs()),
        d => (current + d as usize).min(len - 1),
    }
}

fn directed(o: Ordering, descending: bool) -> Ordering {
    if descending { o.reverse() } else { o }
}

fn sort_deliveries(rows: &mut [Arc<DeliveryRow>], column: &str, descending: bool) {
    let key = |a: &DeliveryRow, b: &DeliveryRow| -> Ordering {
        match column {
            "changed" => a.changed_at.cmp(&b.changed_at),
            "delivery" => Ordering::Equal,
            "webhook" => a.webhook_id.cmp(&b.webhook_id),
            "event" => a.event_type.cmp(&b.event_type),
            "status" => a.status.cmp(&b.status),
            "attempts" => a.attempts.cmp(&b.attempts),
            "code" => a.code.cmp(&b.code),
            "latency" => a.latency_ms.cmp(&b.latency_ms),
            // Soonest first; rows without a time (first attempt due now) first of all.
            "next" => a
                .next_attempt_at
                .unwrap_or(Millis::MIN)
                .cmp(&b.next_attempt_at.unwrap_or(Millis::MIN)),
            _ => Ordering::Equal,
        }
    };
    rows.sort_by(|a, b| {
        let primary = match column {
            "delivery" => a.id.cmp(&b.id),
            _ => key(a, b),
        };
        directed(primary, descending).then_with(|| a.id.cmp(&b.id))
    });
}

fn sort_groups(groups: &mut [FailureGroup], column: usize, descending: bool) {
    groups.sort_by(|a, b| {
        let total = |g: &FailureGroup| g.rows.len();
        let o = match FAILURES_SORT[column].name {
            "count" => total(a).cmp(&total(b)),
            "kind" => a.kind.cmp(&b.kind),
            "webhook" => a.webhook.cmp(&b.webhook),
            _ => a.last_at.cmp(&b.last_at),
        };
        directed(o, descending)
            .then_with(|| a.kind.cmp(&b.kind))
            .then_with(|| a.webhook.cmp(&b.webhook))
    });
}

fn sort_webhooks(lines: &mut [WebhookLine], column: usize, descending: bool) {
    lines.sort_by(|a, b| {
        let (wa, wb) = (&a.webhook, &b.webhook);
        let o = match WEBHOOKS_SORT[column].name {
            "webhook" => Ordering::Equal,
            "state" => wa.state.as_str().cmp(wb.state.as_str()),
            "success" => a
                .success
                .unwrap_or(2.0)
                .total_cmp(&b.success.unwrap_or(2.0)),
            "p99" => wa.health.latency_p99_ms.cmp(&wb.health.latency_p99_ms),
            "in flight" => wa.health.in_flight.cmp(&wb.health.in_flight),
            _ => a.waiting.cmp(&b.waiting),
        };
        let o = if WEBHOOKS_SORT[column].name == "webhook" {
            wa.id.cmp(&wb.id)
        } else {
            o
        };
        directed(o, descending).then_with(|| wa.id.cmp(&wb.id))
    });
}

fn sort_plugins(lines: &mut [PluginLine], column: usize, descending: bool) {
    lines.sort_by(|a, b| {
        let o = match PLUGINS_SORT[column].name {
            "plugin" => Ordering::Equal,
            "calls" => a.calls.cmp(&b.calls),
            _ => a.error_total().cmp(&b.error_total()),
        };
        let o = if PLUGINS_SORT[column].name == "plugin" {
            a.plugin.cmp(&b.plugin)
        } else {
            o
        };
        directed(o, descending).then_with(|| a.plugin.cmp(&b.plugin))
    });
}

#[cfg(test)]
mod tests;
