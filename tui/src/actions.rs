//! The one table of actions: keys, labels, the views they apply to, and whether they change
//! the daemon. Key handling, the footer's hints and the `?` help are all generated from
//! [`BINDINGS`], so they cannot disagree.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// The console's views, in tab order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ViewId {
    /// Throughput, queue depth, latency, error kinds, recent deliveries.
    Overview,
    /// Webhooks and their health.
    Webhooks,
    /// Deliveries waiting for an attempt.
    Queue,
    /// Failed, exhausted and plugin-failed deliveries, grouped.
    Failures,
    /// Plugins in use.
    Plugins,
    /// One delivery.
    Detail,
}

impl ViewId {
    /// Every view, in tab order.
    pub const ALL: [ViewId; 6] = [
        ViewId::Overview,
        ViewId::Webhooks,
        ViewId::Queue,
        ViewId::Failures,
        ViewId::Plugins,
        ViewId::Detail,
    ];

    /// The tab title.
    pub fn title(self) -> &'static str {
        match self {
            ViewId::Overview => "Overview",
            ViewId::Webhooks => "Webhooks",
            ViewId::Queue => "Queue & retries",
            ViewId::Failures => "Failures",
            ViewId::Plugins => "Plugins",
            ViewId::Detail => "Detail",
        }
    }

    /// A one-word name.
    pub fn short_title(self) -> &'static str {
        match self {
            ViewId::Queue => "Queue",
            other => other.title(),
        }
    }

    /// 0-based position.
    pub fn index(self) -> usize {
        ViewId::ALL.iter().position(|v| *v == self).unwrap_or(0)
    }

    /// The view at `index`, wrapping.
    pub fn at(index: usize) -> ViewId {
        ViewId::ALL[index % ViewId::ALL.len()]
    }
}

/// Something the user can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Quit and restore the terminal.
    Quit,
    /// Show or hide the help.
    Help,
    /// Next view.
    NextView,
    /// Previous view.
    PrevView,
    /// The view numbered by the key (`1`-`6`).
    GoToView,
    /// Move down.
    Down,
    /// Move up.
    Up,
    /// A page down.
    PageDown,
    /// A page up.
    PageUp,
    /// First row.
    Top,
    /// Last row.
    Bottom,
    /// Drill into the selected row.
    Open,
    /// Back to where Enter came from.
    Back,
    /// Edit the view's filter.
    Filter,
    /// Sort by the next column.
    Sort,
    /// Reverse the sort.
    Reverse,
    /// Freeze or unfreeze the view.
    Freeze,
    /// Copy the selected delivery's id (OSC 52).
    Copy,
    /// Retry the selected delivery.
    Retry,
    /// Replay the selected delivery as a new one.
    Replay,
    /// Pause or resume the selected webhook.
    PauseResume,
}

/// A key of a binding. Shift is ignored for characters (`R` is its own key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    code: KeyCode,
    ctrl: bool,
}

const fn ch(c: char) -> Key {
    Key {
        code: KeyCode::Char(c),
        ctrl: false,
    }
}

const fn code(code: KeyCode) -> Key {
    Key { code, ctrl: false }
}

const fn ctrl(c: char) -> Key {
    Key {
        code: KeyCode::Char(c),
        ctrl: true,
    }
}

impl Key {
    /// Whether `event` is this key.
    pub fn matches(&self, event: &KeyEvent) -> bool {
        let ctrl = event.modifiers.contains(KeyModifiers::CONTROL);
        ctrl == self.ctrl && event.code == self.code
    }
}

/// Views a binding applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every view.
    All,
    /// Only these.
    Only(&'static [ViewId]),
}

impl Scope {
    /// Whether `view` is in scope.
    pub fn includes(self, view: ViewId) -> bool {
        match self {
            Scope::All => true,
            Scope::Only(views) => views.contains(&view),
        }
    }

    /// For the help and messages: `all views`, `all but Detail`, or the views' names.
    pub fn describe(self) -> String {
        let views = match self {
            Scope::All => return "all views".to_owned(),
            Scope::Only(views) => views,
        };
        if views.len() == ViewId::ALL.len() {
            return "all views".to_owned();
        }
        let missing: Vec<&str> = ViewId::ALL
            .iter()
            .filter(|v| !views.contains(v))
            .map(|v| v.short_title())
            .collect();
        if views.len() > 1 && missing.len() == 1 {
            return format!("all but {}", missing[0]);
        }
        views
            .iter()
            .map(|v| v.short_title())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// One row of the action table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Binding {
    /// What it does.
    pub action: Action,
    /// The keys.
    pub keys: &'static [Key],
    /// The keys as shown.
    pub key_label: &'static str,
    /// What it does, in a few words.
    pub label: &'static str,
    /// Where it applies.
    pub scope: Scope,
    /// Whether it changes the daemon (hidden with `--read-only`).
    pub mutates: bool,
    /// Whether the footer shows it.
    pub footer: bool,
}

const LISTS: &[ViewId] = &[
    ViewId::Overview,
    ViewId::Webhooks,
    ViewId::Queue,
    ViewId::Failures,
    ViewId::Plugins,
];
const DELIVERY_VIEWS: &[ViewId] = &[
    ViewId::Overview,
    ViewId::Queue,
    ViewId::Failures,
    ViewId::Detail,
];
const DRILL_VIEWS: &[ViewId] = &[
    ViewId::Overview,
    ViewId::Webhooks,
    ViewId::Queue,
    ViewId::Failures,
];
const MOVE_VIEWS: &[ViewId] = &[
    ViewId::Overview,
    ViewId::Webhooks,
    ViewId::Queue,
    ViewId::Failures,
    ViewId::Plugins,
    ViewId::Detail,
];

/// The action table.
pub const BINDINGS: &[Binding] = &[
    Binding {
        action: Action::Quit,
        keys: &[ch('q'), ctrl('c')],
        key_label: "q",
        label: "quit",
        scope: Scope::All,
        mutates: false,
        footer: true,
    },
    Binding {
        action: Action::Help,
        keys: &[ch('?')],
        key_label: "?",
        label: "help",
        scope: Scope::All,
        mutates: false,
        footer: true,
    },
    Binding {
        action: Action::NextView,
        keys: &[code(KeyCode::Tab)],
        key_label: "Tab",
        label: "next view",
        scope: Scope::All,
        mutates: false,
        footer: false,
    },
    Binding {
        action: Action::PrevView,
        keys: &[code(KeyCode::BackTab)],
        key_label: "S-Tab",
        label: "previous view",
        scope: Scope::All,
        mutates: false,
        footer: false,
    },
    Binding {
        action: Action::GoToView,
        keys: &[ch('1'), ch('2'), ch('3'), ch('4'), ch('5'), ch('6')],
        key_label: "1-6",
        label: "go to view",
        scope: Scope::All,
        mutates: false,
        footer: false,
    },
    Binding {
        action: Action::Down,
        keys: &[ch('j'), code(KeyCode::Down)],
        key_label: "j/↓",
        label: "down",
        scope: Scope::Only(MOVE_VIEWS),
        mutates: false,
        footer: false,
    },
    Binding {
        action: Action::Up,
        keys: &[ch('k'), code(KeyCode::Up)],
        key_label: "k/↑",
        label: "up",
        scope: Scope::Only(MOVE_VIEWS),
        mutates: false,
        footer: false,
    },
    Binding {
        action: Action::PageDown,
        keys: &[code(KeyCode::PageDown), ctrl('d')],
        key_label: "PgDn",
        label: "page down",
        scope: Scope::Only(MOVE_VIEWS),
        mutates: false,
        footer: false,
    },
    Binding {
        action: Action::PageUp,
        keys: &[code(KeyCode::PageUp), ctrl('u')],
        key_label: "PgUp",
        label: "page up",
        scope: Scope::Only(MOVE_VIEWS),
        mutates: false,
        footer: false,
    },
    Binding {
        action: Action::Top,
        keys: &[ch('g'), code(KeyCode::Home)],
        key_label: "g",
        label: "first",
        scope: Scope::Only(MOVE_VIEWS),
        mutates: false,
        footer: false,
    },
    Binding {
        action: Action::Bottom,
        keys: &[ch('G'), code(KeyCode::End)],
        key_label: "G",
        label: "last",
        scope: Scope::Only(MOVE_VIEWS),
        mutates: false,
        footer: false,
    },
    Binding {
        action: Action::Open,
        keys: &[code(KeyCode::Enter)],
        key_label: "Enter",
        label: "open",
        scope: Scope::Only(DRILL_VIEWS),
        mutates: false,
        footer: true,
    },
    Binding {
        action: Action::Back,
        keys: &[code(KeyCode::Esc)],
        key_label: "Esc",
        label: "back",
        scope: Scope::All,
        mutates: false,
        footer: true,
    },
    Binding {
        action: Action::Filter,
        keys: &[ch('/')],
        key_label: "/",
        label: "filter",
        scope: Scope::Only(LISTS),
        mutates: false,
        footer: true,
    },
    Binding {
        action: Action::Sort,
        keys: &[ch('s')],
        key_label: "s",
        label: "sort",
        scope: Scope::Only(LISTS),
        mutates: false,
        footer: true,
    },
    Binding {
        action: Action::Reverse,
        keys: &[ch('S')],
        key_label: "S",
        label: "reverse sort",
        scope: Scope::Only(LISTS),
        mutates: false,
        footer: false,
    },
    Binding {
        action: Action::Freeze,
        keys: &[ch(' ')],
        key_label: "Space",
        label: "freeze",
        scope: Scope::All,
        mutates: false,
        footer: true,
    },
    Binding {
        action: Action::Copy,
        keys: &[ch('y')],
        key_label: "y",
        label: "copy id",
        scope: Scope::Only(DELIVERY_VIEWS),
        mutates: false,
        footer: true,
    },
    Binding {
        action: Action::Retry,
        keys: &[ch('r')],
        key_label: "r",
        label: "retry",
        scope: Scope::Only(DELIVERY_VIEWS),
        mutates: true,
        footer: true,
    },
    Binding {
        action: Action::Replay,
        keys: &[ch('R')],
        key_label: "R",
        label: "replay",
        scope: Scope::Only(DELIVERY_VIEWS),
        mutates: true,
        footer: true,
    },
    Binding {
        action: Action::PauseResume,
        keys: &[ch('p')],
        key_label: "p",
        label: "pause/resume",
        scope: Scope::Only(&[ViewId::Webhooks]),
        mutates: true,
        footer: true,
    },
];

/// What a key press means in a view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// This binding's action.
    Found(&'static Binding),
    /// A known key, but its action does not apply to this view.
    OutOfScope(&'static Binding),
    /// No binding uses this key.
    Unbound,
}

/// Finds the binding of `key` in `view`.
pub fn lookup(key: &KeyEvent, view: ViewId) -> Lookup {
    let mut out_of_scope = None;
    for b in BINDINGS {
        if b.keys.iter().any(|k| k.matches(key)) {
            if b.scope.includes(view) {
                return Lookup::Found(b);
            }
            out_of_scope.get_or_insert(b);
        }
    }
    out_of_scope.map_or(Lookup::Unbound, Lookup::OutOfScope)
}

/// The footer's hints for `view`: `(keys, label)`, mutating ones left out when read-only.
pub fn footer_hints(view: ViewId, read_only: bool) -> Vec<(&'static str, &'static str)> {
    BINDINGS
        .iter()
        .filter(|b| b.footer && b.scope.includes(view) && !(read_only && b.mutates))
        .map(|b| (b.key_label, b.label))
        .collect()
}

/// The help's rows: every binding (mutating ones left out when read-only).
pub fn help_rows(read_only: bool) -> Vec<&'static Binding> {
    BINDINGS
        .iter()
        .filter(|b| !(read_only && b.mutates))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(c: char) -> KeyEvent {
        KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
    }

    #[test]
    fn keys_resolve_in_their_views_only() {
        assert!(
            matches!(lookup(&key('r'), ViewId::Failures), Lookup::Found(b) if b.action == Action::Retry)
        );
        assert!(
            matches!(lookup(&key('r'), ViewId::Webhooks), Lookup::OutOfScope(b) if b.action == Action::Retry)
        );
        assert!(
            matches!(lookup(&key('p'), ViewId::Webhooks), Lookup::Found(b) if b.action == Action::PauseResume)
        );
        assert_eq!(lookup(&key('x'), ViewId::Overview), Lookup::Unbound);
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert!(
            matches!(lookup(&ctrl_c, ViewId::Detail), Lookup::Found(b) if b.action == Action::Quit)
        );
        let shift_r = KeyEvent::new(KeyCode::Char('R'), KeyModifiers::SHIFT);
        assert!(
            matches!(lookup(&shift_r, ViewId::Queue), Lookup::Found(b) if b.action == Action::Replay)
        );
    }

    #[test]
    fn no_key_is_bound_twice_in_one_view() {
        for view in ViewId::ALL {
            for (i, a) in BINDINGS.iter().enumerate() {
                for b in &BINDINGS[i + 1..] {
                    if a.scope.includes(view) && b.scope.includes(view) {
                        for k in a.keys {
                            assert!(!b.keys.contains(k), "{k:?} bound twice in {view:?}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn read_only_hides_mutating_actions_from_footer_and_help() {
        let rw = footer_hints(ViewId::Failures, false);
        assert!(rw.contains(&("r", "retry")));
        let ro = footer_hints(ViewId::Failures, true);
        assert!(!ro.iter().any(|(k, _)| *k == "r" || *k == "R"));
        assert!(help_rows(true).iter().all(|b| !b.mutates));
        assert_eq!(help_rows(false).len(), BINDINGS.len());
    }
}
