//! Removing and masking values of JSON text in one pass, without building a tree.
//!
//! Only the objects and arrays a path goes into are split into their members (each kept as
//! its raw text); every other value is copied verbatim. So the cost is one scan of what the
//! paths reach, no hashing and no allocation per value, and whatever no path touches keeps
//! its exact bytes (numbers, escapes).
//!
//! The result is what [`FieldPath::remove`](hookline_guest::path::FieldPath::remove) for
//! every removal, then [`FieldPath::for_each_mut`](hookline_guest::path::FieldPath::for_each_mut)
//! for every mask would give, applied in one go: a value reached by a removal is dropped,
//! else one reached by a mask is replaced, else its members are visited. That holds as long
//! as no removal takes an array element by index, which shifts the indexes of later rules:
//! [`needs_one_pass_per_rule`] tells, and the caller then applies the rules one at a time.

use std::borrow::Cow;
use std::fmt;

use hookline_guest::path::Segment;
use hookline_guest::serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use hookline_guest::serde_json::{self, value::RawValue};

/// What happens to the values a rule reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// Drop them from their object or array.
    Remove,
    /// Replace them with the mask.
    Mask,
}

/// A path from the current value down, and what to do with what it reaches.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rule<'p> {
    pub(crate) rest: &'p [Segment],
    pub(crate) action: Action,
}

/// Whether applying `rules` together could differ from applying them one after the other:
/// when a removal ends on what may be an array index.
pub(crate) fn needs_one_pass_per_rule(rules: &[Rule<'_>]) -> bool {
    rules.iter().any(|r| {
        r.action == Action::Remove && matches!(r.rest.last(), Some(Segment::Key(k)) if is_index(k))
    })
}

/// What `rules` do to a member or element that `matches` tells them apart by.
pub(crate) enum Fate<'p> {
    /// No rule reaches it: copy it.
    Keep,
    /// A removal ends on it.
    Remove,
    /// A mask ends on it (and no removal).
    Mask,
    /// Rules go further into it.
    Edit(Vec<Rule<'p>>),
}

/// The fate of one child, given whether a segment selects it.
pub(crate) fn fate<'p>(rules: &[Rule<'p>], selects: impl Fn(&Segment) -> bool) -> Fate<'p> {
    let mut inner = Vec::new();
    let mut masked = false;
    for rule in rules {
        let Some((first, rest)) = rule.rest.split_first() else {
            continue;
        };
        if !selects(first) {
            continue;
        }
        match (rest.is_empty(), rule.action) {
            (true, Action::Remove) => return Fate::Remove,
            (true, Action::Mask) => masked = true,
            (false, action) => inner.push(Rule { rest, action }),
        }
    }
    if masked {
        Fate::Mask
    } else if inner.is_empty() {
        Fate::Keep
    } else {
        Fate::Edit(inner)
    }
}

/// Writes the JSON text `text` to `out` with `rules` applied; `mask` is the mask as JSON
/// text. Objects and arrays a rule goes into are parsed (and so checked); other values are
/// copied as they are.
pub(crate) fn edit(
    text: &str,
    rules: &[Rule<'_>],
    mask: &str,
    out: &mut Vec<u8>,
) -> Result<(), serde_json::Error> {
    if rules.is_empty() {
        out.extend_from_slice(text.as_bytes());
        return Ok(());
    }
    match text.trim_start().as_bytes().first() {
        Some(b'{') => {
            let Members(members) = serde_json::from_str(text)?;
            out.push(b'{');
            let mut first = true;
            for (key, value) in members {
                let fate = fate(rules, |s| match s {
                    Segment::Any => true,
                    Segment::Key(k) => *k == *key,
                });
                if matches!(fate, Fate::Remove) {
                    continue;
                }
                if !first {
                    out.push(b',');
                }
                first = false;
                match key {
                    // Borrowed: it had no escapes, so its text between quotes is the key.
                    Cow::Borrowed(k) => {
                        out.push(b'"');
                        out.extend_from_slice(k.as_bytes());
                        out.push(b'"');
                    }
                    Cow::Owned(k) => serde_json::to_writer(&mut *out, &k)?,
                }
                out.push(b':');
                write_child(value.get(), fate, mask, out)?;
            }
            out.push(b'}');
        }
        Some(b'[') => {
            let items: Vec<&RawValue> = serde_json::from_str(text)?;
            out.push(b'[');
            let mut first = true;
            for (i, item) in items.into_iter().enumerate() {
                let fate = fate(rules, |s| match s {
                    Segment::Any => true,
                    Segment::Key(k) => index(k) == Some(i),
                });
                if matches!(fate, Fate::Remove) {
                    continue;
                }
                if !first {
                    out.push(b',');
                }
                first = false;
                write_child(item.get(), fate, mask, out)?;
            }
            out.push(b']');
        }
        // A scalar: paths end above it or go nowhere. Still checked, as a tree would be.
        _ => {
            let value: &RawValue = serde_json::from_str(text)?;
            out.extend_from_slice(value.get().as_bytes());
        }
    }
    Ok(())
}

/// Writes one member's value or element (not removed) according to its fate.
pub(crate) fn write_child(
    text: &str,
    fate: Fate<'_>,
    mask: &str,
    out: &mut Vec<u8>,
) -> Result<(), serde_json::Error> {
    match fate {
        Fate::Keep | Fate::Remove => out.extend_from_slice(text.as_bytes()),
        Fate::Mask => out.extend_from_slice(mask.as_bytes()),
        Fate::Edit(rules) => edit(text, &rules, mask, out)?,
    }
    Ok(())
}

/// A segment of digits is an array index (as [`FieldPath`](hookline_guest::path::FieldPath)
/// reads it).
fn is_index(key: &str) -> bool {
    !key.is_empty() && key.bytes().all(|b| b.is_ascii_digit())
}

fn index(key: &str) -> Option<usize> {
    if is_index(key) {
        key.parse().ok()
    } else {
        None
    }
}

/// An object's members in document order, each value as its raw text, keys borrowed from
/// the text unless they had escapes.
struct Members<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(MembersVisitor)
    }
}

struct MembersVisitor;

impl<'de> Visitor<'de> for MembersVisitor {
    type Value = Members<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members<'de>, A::Error> {
        let mut members = Vec::with_capacity(map.size_hint().unwrap_or(8));
        while let Some((Key(key), value)) = map.next_entry::<Key<'de>, &'de RawValue>()? {
            members.push((key, value));
        }
        Ok(Members(members))
    }
}

struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Owned(v.to_owned())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hookline_guest::path::FieldPath;
    use hookline_guest::serde_json::Value;

    /// Applies removals then masks with `sparse`, and with the tree, and checks they agree.
    fn both(json: &str, remove: &[&str], mask: &[&str]) -> String {
        let parse = |ps: &[&str]| -> Vec<FieldPath> {
            ps.iter().map(|p| FieldPath::parse(p).unwrap()).collect()
        };
        let (remove, mask) = (parse(remove), parse(mask));
        let rules: Vec<Rule<'_>> = remove
            .iter()
            .map(|p| (p, Action::Remove))
            .chain(mask.iter().map(|p| (p, Action::Mask)))
            .map(|(p, action)| Rule {
                rest: p.segments(),
                action,
            })
            .collect();
        let mut out = Vec::new();
        if needs_one_pass_per_rule(&rules) {
            let mut text = json.to_owned();
            for rule in &rules {
                out.clear();
                edit(&text, std::slice::from_ref(rule), "\"***\"", &mut out).unwrap();
                text = String::from_utf8(out.clone()).unwrap();
            }
        } else {
            edit(json, &rules, "\"***\"", &mut out).unwrap();
        }
        let mut tree: Value = serde_json::from_str(json).unwrap();
        for p in &remove {
            p.remove(&mut tree);
        }
        for p in &mask {
            p.for_each_mut(&mut tree, |v| *v = Value::String("***".into()));
        }
        let got: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(got, tree, "{}", String::from_utf8_lossy(&out));
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn edits_only_what_paths_reach_and_copies_the_rest_verbatim() {
        let json = r#"{"a":{"b":1.50,"c":"\u00e9"},"d":[{"t":1,"k":2},{"t":3}],"e":null}"#;
        assert_eq!(
            both(json, &["d.*.t"], &["a.b"]),
            r#"{"a":{"b":"***","c":"\u00e9"},"d":[{"k":2},{}],"e":null}"#
        );
        assert_eq!(both(json, &[], &[]), json);
        assert_eq!(both(json, &["a", "e"], &["d"]), r#"{"d":"***"}"#);
        assert_eq!(both(json, &["*"], &[]), "{}");
        assert_eq!(both(json, &["a.b.deeper", "nope"], &["e.x"]), json);
    }

    #[test]
    fn removal_wins_over_mask_and_masks_stop_the_descent() {
        let json = r#"{"a":{"b":1,"c":2},"x":[1,2,3]}"#;
        assert_eq!(both(json, &["a.b"], &["a"]), r#"{"a":"***","x":[1,2,3]}"#);
        assert_eq!(both(json, &["a"], &["a.b"]), r#"{"x":[1,2,3]}"#);
        assert_eq!(both(json, &[], &["a.b", "a"]), r#"{"a":"***","x":[1,2,3]}"#);
        assert_eq!(
            both(json, &["x.*"], &["x.0"]),
            r#"{"a":{"b":1,"c":2},"x":[]}"#
        );
    }

    #[test]
    fn index_removals_shift_later_rules_as_the_tree_does() {
        let json = r#"{"x":[10,20,30,40]}"#;
        assert_eq!(both(json, &["x.0", "x.0"], &["x.1"]), r#"{"x":[30,"***"]}"#);
        assert_eq!(both(json, &["x.9"], &["x.3"]), r#"{"x":[10,20,30,"***"]}"#);
        let keys = r#"{"x":{"0":1,"1":2}}"#;
        assert_eq!(both(keys, &["x.0"], &[]), r#"{"x":{"1":2}}"#);
    }

    #[test]
    fn escaped_keys_are_matched_unescaped_and_written_escaped() {
        let json = r#"{"x":{"a\"b":1,"c\u00e9":{"d":2}}}"#;
        // At an edited level a key with escapes is written anew: the same key, not the
        // same bytes.
        assert_eq!(
            both(json, &[r#"x["a\"b"]"#], &[]),
            r#"{"x":{"cé":{"d":2}}}"#
        );
        assert_eq!(
            both(json, &[], &[r#"x["cé"].d"#]),
            r#"{"x":{"a\"b":1,"cé":{"d":"***"}}}"#
        );
    }

    #[test]
    fn broken_json_is_an_error_where_a_path_goes() {
        let mut out = Vec::new();
        let rule = |rest| Rule {
            rest,
            action: Action::Remove,
        };
        let path = FieldPath::parse("a").unwrap();
        assert!(edit("{broken", &[rule(path.segments())], "\"*\"", &mut out).is_err());
        assert!(edit("[1,", &[rule(path.segments())], "\"*\"", &mut out).is_err());
        assert!(edit("nul", &[rule(path.segments())], "\"*\"", &mut out).is_err());
    }
}
