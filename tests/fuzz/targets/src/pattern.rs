//! Target 2: pattern parsing and matching, and the subscription index, each against a naive
//! reimplementation written from the documented rules.

use std::collections::BTreeSet;

use hookline_core::event::validate_event_type;
use hookline_core::pattern::{MAX_PATTERN_LEN, Pattern, SubscriptionIndex, matches_any};

/// Input: lines. Each line is tried as a pattern and as an event type (with a few variants
/// made from it, so that matches are common); valid patterns are subscribed in an index
/// under key `line number % 5`.
///
/// Asserts: [`Pattern::parse`] accepts exactly what [`naive_valid`] accepts; a parsed
/// pattern keeps its text, serialises to it and deserialises back; [`Pattern::matches`]
/// agrees with [`naive_matches`] on every event type; the index yields each key at most once,
/// exactly the keys one of whose patterns matches, also after a key is removed.
pub fn pattern(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let lines: Vec<&str> = text.split('\n').take(64).collect();

    let mut event_types: Vec<String> = Vec::new();
    for line in &lines {
        let base = line.trim_end_matches('*').trim_end_matches('.');
        event_types.push((*line).to_owned());
        event_types.push(base.to_owned());
        event_types.push(format!("{base}.x"));
        event_types.push(format!("{base}.x.y"));
        if let Some((head, _)) = base.split_once('.') {
            event_types.push(head.to_owned());
        }
    }

    let mut subscriptions: Vec<(u8, Vec<Pattern>)> = (0..5).map(|k| (k, Vec::new())).collect();
    for (n, line) in lines.iter().enumerate() {
        let parsed = Pattern::parse(line);
        assert_eq!(
            parsed.is_ok(),
            naive_valid(line),
            "pattern {line:?}: parse says {parsed:?}"
        );
        let Ok(pattern) = parsed else {
            continue;
        };
        assert_eq!(pattern.as_str(), *line);
        let json = serde_json::to_string(&pattern).expect("a pattern serialises");
        let back: Pattern = serde_json::from_str(&json).expect("a serialised pattern parses");
        assert_eq!(back, pattern);
        for event_type in &event_types {
            assert_eq!(
                pattern.matches(event_type),
                naive_matches(line, event_type),
                "pattern {line:?} on event type {event_type:?}"
            );
        }
        // Every valid pattern matches some valid event type (the module's promise).
        let witness = match line.strip_suffix('*') {
            Some("") => "x".to_owned(),
            Some(prefix) => format!("{prefix}x"),
            None => (*line).to_owned(),
        };
        assert!(validate_event_type(&witness).is_ok(), "{witness:?}");
        assert!(
            pattern.matches(&witness),
            "{line:?} does not match {witness:?}"
        );
        subscriptions[n % 5].1.push(pattern);
    }

    let mut index = SubscriptionIndex::new();
    for (key, patterns) in &subscriptions {
        assert!(!index.insert(*key, patterns));
    }
    assert_eq!(index.len(), subscriptions.len());
    check_index(&index, &subscriptions, &event_types);

    // Remove one key (picked by the input), then re-subscribe another with the removed
    // key's patterns: the index must follow.
    let gone = usize::from(data.first().copied().unwrap_or(0)) % subscriptions.len();
    let (gone_key, gone_patterns) = subscriptions.remove(gone);
    assert!(index.remove(&gone_key));
    assert!(!index.remove(&gone_key));
    check_index(&index, &subscriptions, &event_types);
    if let Some((key, patterns)) = subscriptions.first_mut() {
        assert!(index.insert(*key, &gone_patterns));
        *patterns = gone_patterns;
    }
    check_index(&index, &subscriptions, &event_types);
}

fn check_index(
    index: &SubscriptionIndex<u8>,
    subscriptions: &[(u8, Vec<Pattern>)],
    event_types: &[String],
) {
    for event_type in event_types {
        let got: Vec<u8> = index.matches(event_type).copied().collect();
        let unique: BTreeSet<u8> = got.iter().copied().collect();
        assert_eq!(
            unique.len(),
            got.len(),
            "{event_type:?}: a key twice: {got:?}"
        );
        let want: BTreeSet<u8> = subscriptions
            .iter()
            .filter(|(_, patterns)| {
                patterns
                    .iter()
                    .any(|p| naive_matches(p.as_str(), event_type))
            })
            .map(|(key, _)| *key)
            .collect();
        assert_eq!(unique, want, "index on event type {event_type:?}");
        for (key, patterns) in subscriptions {
            assert_eq!(
                matches_any(patterns, event_type),
                want.contains(key),
                "matches_any on {event_type:?}"
            );
        }
    }
}

/// The documented rules, segment by segment: `*` alone, or `NAME` or `NAME.*` where `NAME` is
/// non-empty dot-separated segments of `[A-Za-z0-9_-]`, at most [`MAX_PATTERN_LEN`] bytes.
fn naive_valid(pattern: &str) -> bool {
    if pattern.is_empty() || pattern.len() > MAX_PATTERN_LEN {
        return false;
    }
    if pattern == "*" {
        return true;
    }
    let name = pattern.strip_suffix(".*").unwrap_or(pattern);
    name.split('.').all(|segment| {
        !segment.is_empty()
            && segment
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    })
}

/// The match table of the module docs, segment by segment: `*` matches all; `NAME.*` the
/// types with more segments than `NAME` that start with its segments; a `NAME` without `.`
/// the types whose first segment it is; any other `NAME` itself only.
fn naive_matches(pattern: &str, event_type: &str) -> bool {
    let have: Vec<&str> = event_type.split('.').collect();
    if pattern == "*" {
        return true;
    }
    if let Some(name) = pattern.strip_suffix(".*") {
        let want: Vec<&str> = name.split('.').collect();
        return have.len() > want.len() && have[..want.len()] == want[..];
    }
    if !pattern.contains('.') {
        return have[0] == pattern;
    }
    let want: Vec<&str> = pattern.split('.').collect();
    have == want
}
