//! Subscription patterns and [`SubscriptionIndex`], which matches one event type against many
//! subscriptions without scanning them all.
//!
//! A [`Pattern`] matches as the origin's `Matcher` does, case-sensitively:
//!
//! | pattern        | matches                                        | e.g.                          |
//! |----------------|------------------------------------------------|-------------------------------|
//! | `task.created` | that name only                                 | `task.created`                |
//! | `task.*`       | every name starting with `task.`, not `task`   | `task.created`, `task.a.b`    |
//! | `task`         | a name without `.`: itself and every `task.…`  | `task`, `task.created`        |
//! | `*`            | everything                                     |                               |
//!
//! Only a pattern without any `.` matches the names below it: `a.b` matches `a.b` and not
//! `a.b.c` (subscribe with `a.b.*` for those), exactly as in the origin.
//!
//! Validation accepts what the origin accepts (non-empty, only `[A-Za-z0-9._*-]`, a `*` only
//! last, not `.*` alone) except the patterns the origin accepted that can never match an event
//! type allowed by [`validate_event_type`](crate::event::validate_event_type): `task*`, `**`,
//! `*.*`, `a.*.*`, `.`, `.task`, `task.`, `task..created`, anything over
//! [`MAX_PATTERN_LEN`] bytes. Each is refused with a [`PatternError`] naming the reason. What
//! remains is exactly `*`, `NAME.*` and `NAME` where `NAME` is a valid event type, and every
//! such pattern matches some valid event type.

use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::str::FromStr;

use serde::{Deserialize, Serialize, Serializer};

use crate::event::{self, EmptySegmentAt, MAX_EVENT_TYPE_LEN};

/// The longest pattern accepted, in bytes: a longer one could only match event types longer
/// than [`MAX_EVENT_TYPE_LEN`].
pub const MAX_PATTERN_LEN: usize = MAX_EVENT_TYPE_LEN;

/// Why a pattern was refused by [`Pattern::parse`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    /// The pattern is the empty string.
    #[error("pattern is empty")]
    Empty,
    /// The pattern is longer than [`MAX_PATTERN_LEN`] bytes.
    #[error(
        "pattern `{}…`: {len} bytes long, at most {MAX_PATTERN_LEN} are allowed",
        .head.escape_debug()
    )]
    TooLong {
        /// The pattern's first 32 characters.
        head: String,
        /// The pattern's length in bytes.
        len: usize,
    },
    /// The pattern has a character outside `[A-Za-z0-9._*-]`.
    #[error(
        "pattern `{}`: character {ch:?} at byte {index} is not allowed \
         (only ASCII letters, digits, `.`, `_`, `-` and a final `*`)",
        .pattern.escape_debug()
    )]
    InvalidChar {
        /// The refused pattern.
        pattern: String,
        /// The first offending character.
        ch: char,
        /// Its byte offset.
        index: usize,
    },
    /// A `*` that is not the last character (`ta*sk`, `**`, `*.*`, `a.*.*`).
    #[error("pattern `{}`: `*` may only be the last character", .pattern.escape_debug())]
    StarNotLast {
        /// The refused pattern.
        pattern: String,
    },
    /// A final `*` after something other than a `.` (`task*`): it could never match.
    #[error("pattern `{}`: `*` must follow a `.` or stand alone", .pattern.escape_debug())]
    StarWithoutDot {
        /// The refused pattern.
        pattern: String,
    },
    /// A leading, trailing or doubled `.` (`.task`, `task.`, `task..created`, `.*`, `.`): it
    /// could never match.
    #[error("pattern `{}`: {at}", .pattern.escape_debug())]
    EmptySegment {
        /// The refused pattern.
        pattern: String,
        /// Where the empty segment is.
        at: EmptySegmentAt,
    },
}

/// The four forms of a valid pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Kind {
    /// `*`
    Any,
    /// `NAME.*`
    Prefix,
    /// `NAME` with a `.`
    Exact,
    /// `NAME` without a `.`
    Category,
}

/// A validated subscription pattern (see the [module docs](self) for what it matches).
///
/// Serialises as its string; deserialisation validates it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
pub struct Pattern {
    raw: String,
    kind: Kind,
}

impl Pattern {
    /// Validates a pattern.
    pub fn parse(pattern: &str) -> Result<Self, PatternError> {
        let kind = classify(pattern)?;
        Ok(Self {
            raw: pattern.to_owned(),
            kind,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// Whether the pattern matches `event_type` (the origin's `matchPattern`).
    pub fn matches(&self, event_type: &str) -> bool {
        match self.kind {
            Kind::Any => true,
            // The `.` before the `*` is part of the prefix.
            Kind::Prefix => event_type.starts_with(&self.raw[..self.raw.len() - 1]),
            Kind::Exact => event_type == self.raw,
            // Equal, or starting with `raw.`: `raw` has no `.` of its own.
            Kind::Category => event::category(event_type) == self.raw,
        }
    }

    /// The name the pattern is built on: itself, without `.*`, or `""` for `*`.
    fn name(&self) -> &str {
        match self.kind {
            Kind::Any => "",
            Kind::Prefix => &self.raw[..self.raw.len() - 2],
            Kind::Exact | Kind::Category => &self.raw,
        }
    }

    /// Whether `self` matches every event type that `other` matches.
    fn covers(&self, other: &Self) -> bool {
        // `name` is `parent` followed by at least one more segment.
        fn below(name: &str, parent: &str) -> bool {
            name.strip_prefix(parent)
                .is_some_and(|rest| rest.starts_with('.'))
        }
        match (self.kind, other.kind) {
            (Kind::Any, _) => true,
            (_, Kind::Any) => false,
            (Kind::Category, _) => event::category(other.name()) == self.raw,
            (Kind::Prefix, Kind::Prefix) => {
                other.name() == self.name() || below(other.name(), self.name())
            }
            (Kind::Prefix, Kind::Exact) => below(&other.raw, self.name()),
            (Kind::Prefix, Kind::Category) => false,
            (Kind::Exact, _) => self == other,
        }
    }
}

fn classify(p: &str) -> Result<Kind, PatternError> {
    if p.is_empty() {
        return Err(PatternError::Empty);
    }
    if p.len() > MAX_PATTERN_LEN {
        return Err(PatternError::TooLong {
            head: event::head(p),
            len: p.len(),
        });
    }
    if p == "*" {
        return Ok(Kind::Any);
    }
    let last = p.len() - 1;
    for (index, ch) in p.char_indices() {
        if ch == '*' {
            if index != last {
                return Err(PatternError::StarNotLast { pattern: p.into() });
            }
        } else if !event::is_name_char(ch) {
            return Err(PatternError::InvalidChar {
                pattern: p.into(),
                ch,
                index,
            });
        }
    }
    let (name, kind) = match p.strip_suffix('*') {
        None if p.contains('.') => (p, Kind::Exact),
        None => (p, Kind::Category),
        Some(rest) => match rest.strip_suffix('.') {
            Some(name) => (name, Kind::Prefix),
            None => return Err(PatternError::StarWithoutDot { pattern: p.into() }),
        },
    };
    match event::empty_segment(name) {
        Some(at) => Err(PatternError::EmptySegment {
            pattern: p.into(),
            at,
        }),
        None => Ok(kind),
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

impl AsRef<str> for Pattern {
    fn as_ref(&self) -> &str {
        &self.raw
    }
}

impl FromStr for Pattern {
    type Err = PatternError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for Pattern {
    type Error = PatternError;

    fn try_from(raw: String) -> Result<Self, Self::Error> {
        let kind = classify(&raw)?;
        Ok(Self { raw, kind })
    }
}

impl Serialize for Pattern {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.raw)
    }
}

/// Whether any of `patterns` matches `event_type` (the origin's `Matcher.Matches`); an empty
/// list matches nothing.
pub fn matches_any(patterns: &[Pattern], event_type: &str) -> bool {
    patterns.iter().any(|p| p.matches(event_type))
}

/// Many subscriptions (a key, e.g. a webhook id, with its patterns), matched against one event
/// type at a time in time independent of the number of subscriptions.
///
/// Patterns are filed by the name they are built on: a lookup of the event type itself finds
/// exact patterns (and bare ones when it has no `.`), a lookup of each part before a `.` finds
/// the `NAME.*` patterns (and, for the first, the bare category); `*` patterns are kept apart.
/// A match costs one hash lookup per segment of the event type, plus the keys it yields.
///
/// On insertion a key's patterns are reduced to those not covered by another of its patterns
/// (`task` covers `task.*` and `task.created`; `*` covers everything). Any two patterns that
/// match the same event type are such a pair, so what remains matches each event type at most
/// once: [`SubscriptionIndex::matches`] yields each key at most once without deduplicating,
/// lazily and without allocating.
///
/// ```
/// use hookline_core::pattern::{Pattern, SubscriptionIndex};
///
/// let p = |s| Pattern::parse(s).unwrap();
/// let mut index = SubscriptionIndex::new();
/// index.insert(1, &[p("task"), p("task.*"), p("runner.connected")]);
/// index.insert(2, &[p("task.completed")]);
/// index.insert(3, &[p("session.*")]);
/// let mut hits: Vec<_> = index.matches("task.completed").copied().collect();
/// hits.sort();
/// assert_eq!(hits, [1, 2]);
/// ```
#[derive(Debug, Clone)]
pub struct SubscriptionIndex<K> {
    /// Keys with the pattern `*`.
    any: Vec<K>,
    /// Keys by the name their other patterns are built on.
    names: HashMap<Box<str>, Bucket<K>>,
    /// Each key's reduced patterns.
    subscriptions: HashMap<K, Vec<Pattern>>,
}

#[derive(Debug, Clone)]
struct Bucket<K> {
    /// Keys with the pattern `NAME`: exact when `NAME` has a `.`, a bare category when not.
    name: Vec<K>,
    /// Keys with the pattern `NAME.*`.
    prefix: Vec<K>,
}

impl<K> Default for Bucket<K> {
    fn default() -> Self {
        Self {
            name: Vec::new(),
            prefix: Vec::new(),
        }
    }
}

impl<K> Default for SubscriptionIndex<K> {
    fn default() -> Self {
        Self {
            any: Vec::new(),
            names: HashMap::new(),
            subscriptions: HashMap::new(),
        }
    }
}

impl<K: Clone + Eq + Hash> SubscriptionIndex<K> {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// Subscribes `key` to `patterns`, replacing its previous patterns; returns whether it had
    /// any. A key with no patterns is kept (and counted by [`len`](Self::len)) but matches
    /// nothing.
    pub fn insert(&mut self, key: K, patterns: &[Pattern]) -> bool {
        let replaced = self.remove(&key);
        let mut kept: Vec<Pattern> = Vec::with_capacity(patterns.len());
        for p in patterns {
            if !kept.iter().any(|k| k.covers(p)) {
                kept.retain(|k| !p.covers(k));
                kept.push(p.clone());
            }
        }
        for p in &kept {
            match p.kind {
                Kind::Any => self.any.push(key.clone()),
                kind => {
                    let bucket = self.names.entry(p.name().into()).or_default();
                    let keys = if kind == Kind::Prefix {
                        &mut bucket.prefix
                    } else {
                        &mut bucket.name
                    };
                    keys.push(key.clone());
                }
            }
        }
        self.subscriptions.insert(key, kept);
        replaced
    }

    /// Unsubscribes `key`; returns whether it was subscribed. Costs a scan of the buckets its
    /// patterns are filed in.
    pub fn remove(&mut self, key: &K) -> bool {
        fn drop_key<K: Eq>(keys: &mut Vec<K>, key: &K) {
            if let Some(i) = keys.iter().position(|k| k == key) {
                keys.swap_remove(i);
            }
        }
        let Some(patterns) = self.subscriptions.remove(key) else {
            return false;
        };
        for p in &patterns {
            if p.kind == Kind::Any {
                drop_key(&mut self.any, key);
            } else if let Some(bucket) = self.names.get_mut(p.name()) {
                if p.kind == Kind::Prefix {
                    drop_key(&mut bucket.prefix, key);
                } else {
                    drop_key(&mut bucket.name, key);
                }
                if bucket.name.is_empty() && bucket.prefix.is_empty() {
                    self.names.remove(p.name());
                }
            }
        }
        true
    }

    /// The keys with a pattern matching `event_type`, each once, in no particular order.
    pub fn matches<'a>(&'a self, event_type: &str) -> impl Iterator<Item = &'a K> {
        let whole = self
            .names
            .get(event_type)
            .map_or(&[][..], |bucket| &bucket.name);
        let below = event_type
            .match_indices('.')
            .enumerate()
            .filter_map(move |(n, (dot, _))| {
                let bucket = self.names.get(&event_type[..dot])?;
                // Only the part before the first `.` can be a bare category.
                let category = if n == 0 { &bucket.name[..] } else { &[] };
                Some(category.iter().chain(&bucket.prefix))
            })
            .flatten();
        self.any.iter().chain(whole).chain(below)
    }

    /// The number of subscribed keys.
    pub fn len(&self) -> usize {
        self.subscriptions.len()
    }

    /// Whether no key is subscribed.
    pub fn is_empty(&self) -> bool {
        self.subscriptions.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;

    fn p(s: &str) -> Pattern {
        Pattern::parse(s).unwrap()
    }

    fn ps(list: &[&str]) -> Vec<Pattern> {
        list.iter().map(|s| p(s)).collect()
    }

    #[test]
    fn origin_matching_table() {
        let cases: &[(&str, &[&str], bool)] = &[
            ("task.created", &["task.created"], true),
            ("task.created", &["task.*"], true),
            ("task.created", &["task"], true),
            ("task.created", &["*"], true),
            ("task", &["task"], true),
            ("task", &["*"], true),
            ("task.created", &["task.completed"], false),
            ("task", &["task.*"], false),
            ("taskforce.created", &["task"], false),
            ("taskforce.created", &["task.*"], false),
            ("session.created", &["task.*"], false),
            ("Task.created", &["task.*"], false),
            ("task.created", &["TASK"], false),
            ("task.created", &["task.Created"], false),
            ("task.created", &[], false),
            ("task.created", &["session.*", "task.completed"], false),
            ("task.created", &["session.*", "task.created"], true),
            ("a.b.c.d", &["a.b.*"], true),
            ("a.b", &["a.b.*"], false),
            ("a.b.c", &["a.b"], false),
            ("a.b", &["a.b"], true),
            ("a.b.c", &["a"], true),
            ("custom-thing.done_ok", &["custom-thing"], true),
        ];
        for &(event, patterns, want) in cases {
            assert_eq!(
                matches_any(&ps(patterns), event),
                want,
                "{event} vs {patterns:?}"
            );
        }
    }

    #[test]
    fn validation_table() {
        for ok in [
            "*",
            "task",
            "task.*",
            "task.created",
            "a.b.*",
            "A-b_9.c",
            "a.b.c",
        ] {
            assert_eq!(p(ok).as_str(), ok);
        }
        let max = format!("{}.*", "a".repeat(MAX_PATTERN_LEN - 2));
        assert_eq!(p(&max).as_str(), max);

        let chars = "(only ASCII letters, digits, `.`, `_`, `-` and a final `*`)";
        let cases = [
            ("", "pattern is empty".to_owned()),
            (
                ".*",
                "pattern `.*`: empty segment before the first `.`".into(),
            ),
            (
                "..*",
                "pattern `..*`: empty segment before the first `.`".into(),
            ),
            (
                ".",
                "pattern `.`: empty segment before the first `.`".into(),
            ),
            (
                ".task",
                "pattern `.task`: empty segment before the first `.`".into(),
            ),
            (
                "task.",
                "pattern `task.`: empty segment after the last `.`".into(),
            ),
            (
                "task..*",
                "pattern `task..*`: empty segment after the last `.`".into(),
            ),
            (
                "task..created",
                "pattern `task..created`: empty segment between two `.`".into(),
            ),
            (
                "task*",
                "pattern `task*`: `*` must follow a `.` or stand alone".into(),
            ),
            (
                "ta*sk",
                "pattern `ta*sk`: `*` may only be the last character".into(),
            ),
            (
                "**",
                "pattern `**`: `*` may only be the last character".into(),
            ),
            (
                "*.*",
                "pattern `*.*`: `*` may only be the last character".into(),
            ),
            (
                "a.*.*",
                "pattern `a.*.*`: `*` may only be the last character".into(),
            ),
            (
                "task created",
                format!("pattern `task created`: character ' ' at byte 4 is not allowed {chars}"),
            ),
            (
                "tâche.*",
                format!("pattern `tâche.*`: character 'â' at byte 1 is not allowed {chars}"),
            ),
            (
                "a\tb",
                format!("pattern `a\\tb`: character '\\t' at byte 1 is not allowed {chars}"),
            ),
        ];
        for (pattern, msg) in cases {
            let err = Pattern::parse(pattern).unwrap_err();
            assert_eq!(err.to_string(), msg, "{pattern:?}");
        }
        let long = format!("{}.*", "a".repeat(MAX_PATTERN_LEN - 1));
        assert_eq!(
            Pattern::parse(&long).unwrap_err(),
            PatternError::TooLong {
                head: "a".repeat(32),
                len: MAX_PATTERN_LEN + 1
            }
        );
    }

    #[test]
    fn serde_round_trip_validates() {
        let list: Vec<Pattern> = serde_json::from_str(r#"["task.*","*","runner"]"#).unwrap();
        assert_eq!(list, ps(&["task.*", "*", "runner"]));
        assert_eq!(
            serde_json::to_string(&list).unwrap(),
            r#"["task.*","*","runner"]"#
        );
        let err = serde_json::from_str::<Pattern>(r#""task*""#).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("pattern `task*`: `*` must follow a `.` or stand alone"),
            "{err}"
        );
        assert_eq!("task.*".parse::<Pattern>().unwrap().to_string(), "task.*");
        assert_eq!(Pattern::try_from("x".to_owned()).unwrap(), p("x"));
    }

    #[test]
    fn insert_reduces_covered_patterns() {
        let mut index = SubscriptionIndex::new();
        index.insert(
            "k",
            &ps(&["task.created", "task.*", "a.b.c", "a.b.*", "a", "task"]),
        );
        let mut kept: Vec<_> = index.subscriptions["k"]
            .iter()
            .map(Pattern::as_str)
            .collect();
        kept.sort_unstable();
        assert_eq!(kept, ["a", "task"]);
        index.insert("k", &ps(&["x.y", "*", "x"]));
        assert_eq!(index.subscriptions["k"], ps(&["*"]));
        index.insert("k", &ps(&["x.y", "x.y", "x.y.*"]));
        assert_eq!(index.subscriptions["k"], ps(&["x.y", "x.y.*"]));
        assert_eq!(index.matches("x.y").count(), 1);
        assert_eq!(index.matches("x.y.z").count(), 1);
    }

    #[test]
    fn index_insert_replace_remove() {
        let mut index = SubscriptionIndex::new();
        assert!(index.is_empty());
        assert!(!index.insert("billing", &ps(&["task.*"])));
        assert!(!index.insert("audit", &ps(&["*"])));
        assert!(!index.insert("silent", &[]));
        assert!(!index.insert("ops", &ps(&["runner", "session.created"])));
        assert_eq!(index.len(), 4);

        let hits = |index: &SubscriptionIndex<&'static str>, t: &str| {
            let mut v: Vec<&str> = index.matches(t).copied().collect();
            v.sort_unstable();
            v
        };
        assert_eq!(hits(&index, "task.completed"), ["audit", "billing"]);
        assert_eq!(hits(&index, "runner"), ["audit", "ops"]);
        assert_eq!(hits(&index, "runner.connected"), ["audit", "ops"]);
        assert_eq!(hits(&index, "session.created"), ["audit", "ops"]);
        assert_eq!(hits(&index, "session.resumed"), ["audit"]);

        assert!(index.insert("billing", &ps(&["session.*"])));
        assert_eq!(hits(&index, "task.completed"), ["audit"]);
        assert_eq!(hits(&index, "session.resumed"), ["audit", "billing"]);

        assert!(index.remove(&"audit"));
        assert!(!index.remove(&"audit"));
        assert!(index.remove(&"ops"));
        assert_eq!(hits(&index, "runner"), Vec::<&str>::new());
        assert_eq!(index.len(), 2);
        assert!(index.remove(&"billing"));
        assert!(index.names.is_empty() && index.any.is_empty());
    }

    /// The origin's rules as SEED.md words them, on strings.
    fn reference(pattern: &str, event_type: &str) -> bool {
        if pattern == "*" || pattern == event_type {
            return true;
        }
        if let Some(category) = pattern.strip_suffix(".*") {
            return event_type.starts_with(&format!("{category}."));
        }
        !pattern.contains('.') && event_type.starts_with(&format!("{pattern}."))
    }

    /// The origin's `ValidateEventPattern`.
    fn origin_valid(pattern: &str) -> bool {
        if pattern.is_empty() {
            return false;
        }
        if pattern == "*" {
            return true;
        }
        if !pattern
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._*-".contains(c))
        {
            return false;
        }
        if pattern.contains('*') && !pattern.ends_with('*') {
            return false;
        }
        !(pattern.ends_with(".*") && pattern.len() < 3)
    }

    fn name(max_segments: usize) -> impl Strategy<Value = String> {
        prop::collection::vec(prop_oneof!["a", "b", "ab"], 1..=max_segments)
            .prop_map(|segments| segments.join("."))
    }

    fn pattern() -> impl Strategy<Value = Pattern> {
        prop_oneof![
            1 => Just("*".to_owned()),
            4 => name(3),
            4 => name(3).prop_map(|n| format!("{n}.*")),
        ]
        .prop_map(|s| p(&s))
    }

    fn event_type() -> impl Strategy<Value = String> {
        name(4)
    }

    proptest! {
        #[test]
        fn matches_agrees_with_reference(pattern in pattern(), t in event_type()) {
            prop_assert_eq!(pattern.matches(&t), reference(pattern.as_str(), &t));
        }

        #[test]
        fn matches_agrees_with_reference_on_any_string(
            pattern in "[ab.*]{1,6}",
            t in "[ab.*]{0,7}",
        ) {
            if let Ok(parsed) = Pattern::parse(&pattern) {
                prop_assert_eq!(parsed.matches(&t), reference(&pattern, &t));
            }
        }

        #[test]
        fn refused_patterns_were_refused_by_the_origin_or_never_match(
            pattern in "[ab.*]{0,6}",
            events in prop::collection::vec(event_type(), 32),
        ) {
            if Pattern::parse(&pattern).is_ok() {
                prop_assert!(origin_valid(&pattern));
            } else if origin_valid(&pattern) {
                for t in &events {
                    prop_assert!(!reference(&pattern, t), "{} matched {}", pattern, t);
                }
            }
        }

        #[test]
        fn covers_is_sound(a in pattern(), b in pattern(), t in event_type()) {
            if a.covers(&b) && b.matches(&t) {
                prop_assert!(a.matches(&t));
            }
        }

        #[test]
        fn index_matches_exactly_the_matching_keys(
            subscriptions in prop::collection::vec(prop::collection::vec(pattern(), 0..4), 0..24),
            removed in prop::collection::vec(any::<bool>(), 24),
            events in prop::collection::vec(event_type(), 8),
        ) {
            let mut index = SubscriptionIndex::new();
            for (key, patterns) in subscriptions.iter().enumerate() {
                index.insert(key, patterns);
            }
            for (key, _) in subscriptions.iter().enumerate().filter(|&(k, _)| removed[k]) {
                prop_assert!(index.remove(&key));
            }
            let live = subscriptions.iter().enumerate().filter(|&(k, _)| !removed[k]);
            prop_assert_eq!(index.len(), live.clone().count());
            for t in &events {
                let hits: Vec<usize> = index.matches(t).copied().collect();
                let unique: BTreeSet<usize> = hits.iter().copied().collect();
                prop_assert_eq!(hits.len(), unique.len(), "duplicates for {}: {:?}", t, hits);
                let want: BTreeSet<usize> = live
                    .clone()
                    .filter(|(_, patterns)| matches_any(patterns, t))
                    .map(|(k, _)| k)
                    .collect();
                prop_assert_eq!(unique, want, "event {}", t);
            }
        }
    }
}
