//! [`FieldPath`]: dotted paths into a JSON value, such as `data.prompt` or
//! `resource.labels.email`, as plugin configurations write them.
//!
//! Syntax:
//! - segments separated by `.`: `data.task.status`;
//! - `*` matches every member of an object or every element of an array: `data.items.*.email`;
//! - on an array, a segment of digits is an index: `data.items.0` (or `data.items[0]`);
//! - a key with `.`, `[`, `]` or that would read as `*` goes in brackets as a JSON string:
//!   `resource.labels["app.kubernetes.io/name"]`, `data["*"]`. `[*]` and `[0]` work too.
//!
//! Body paths ([`FieldPath::body`]) are rooted at the default body, so their first segment
//! is one of [`BODY_MEMBERS`]: `event`, `timestamp`, `resource` or `data`.
//!
//! ```
//! use hookline_guest::path::FieldPath;
//! use serde_json::json;
//!
//! let mut body = json!({"data": {"prompt": "secret", "items": [{"email": "a@x"}, {"email": "b@x"}]}});
//! let emails = FieldPath::body("data.items.*.email").unwrap();
//! let mut seen = Vec::new();
//! emails.for_each(&body, |v| seen.push(v.clone()));
//! assert_eq!(seen, [json!("a@x"), json!("b@x")]);
//!
//! emails.for_each_mut(&mut body, |v| *v = json!("***"));
//! assert_eq!(FieldPath::body("data.prompt").unwrap().remove(&mut body), 1);
//! assert_eq!(body, json!({"data": {"items": [{"email": "***"}, {"email": "***"}]}}));
//! ```

use std::fmt;

use serde_json::Value;

/// The members of the default body, in order: the roots of a body path.
pub const BODY_MEMBERS: [&str; 4] = ["event", "timestamp", "resource", "data"];

/// One step of a [`FieldPath`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// An object member; on an array, an index when it is all digits.
    Key(String),
    /// Every member of an object or element of an array.
    Any,
}

/// A parsed path into a JSON value; see the [module docs](self) for the syntax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldPath {
    text: String,
    segments: Vec<Segment>,
}

impl FieldPath {
    /// Parses a path.
    ///
    /// # Errors
    /// When `text` is empty or malformed; the error quotes it and says where.
    pub fn parse(text: &str) -> Result<Self, PathError> {
        let err = |reason: String| PathError {
            path: text.to_owned(),
            reason,
        };
        let mut segments = Vec::new();
        let mut rest = text;
        let mut expect_segment = true;
        while !rest.is_empty() {
            let at = text.len() - rest.len();
            if let Some(after) = rest.strip_prefix('[') {
                let (segment, len) =
                    bracket(after).map_err(|reason| err(format!("{reason} at byte {at}")))?;
                segments.push(segment);
                rest = &after[len..];
                expect_segment = false;
            } else if !expect_segment {
                match rest.strip_prefix('.') {
                    Some(after) => {
                        rest = after;
                        expect_segment = true;
                        if rest.is_empty() || rest.starts_with(['.', '[']) {
                            return Err(err(format!("empty segment after the `.` at byte {at}")));
                        }
                    }
                    None => return Err(err(format!("expected `.` or `[` at byte {at}"))),
                }
            } else {
                let end = rest.find(['.', '[', ']']).unwrap_or(rest.len());
                if end == 0 {
                    return Err(err(format!("empty segment at byte {at}")));
                }
                let word = &rest[..end];
                segments.push(if word == "*" {
                    Segment::Any
                } else {
                    Segment::Key(word.to_owned())
                });
                rest = &rest[end..];
                expect_segment = false;
            }
        }
        if segments.is_empty() {
            return Err(err("the path is empty".to_owned()));
        }
        Ok(Self {
            text: text.to_owned(),
            segments,
        })
    }

    /// Parses a path rooted at the default body: it must start with one of
    /// [`BODY_MEMBERS`].
    ///
    /// # Errors
    /// When the path is malformed or starts elsewhere (`prompt` instead of `data.prompt`).
    pub fn body(text: &str) -> Result<Self, PathError> {
        let path = Self::parse(text)?;
        match path.segments.first() {
            Some(Segment::Key(root)) if BODY_MEMBERS.contains(&root.as_str()) => Ok(path),
            _ => Err(PathError {
                path: text.to_owned(),
                reason: "must start with `event`, `timestamp`, `resource` or `data` \
                         (paths are rooted at the body)"
                    .to_owned(),
            }),
        }
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The parsed segments.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// Calls `f` on every value the path reaches in `root` (none when it reaches nothing;
    /// several with `*`).
    pub fn for_each<'v>(&self, root: &'v Value, mut f: impl FnMut(&'v Value)) {
        visit(root, &self.segments, &mut f);
    }

    /// Whether the path reaches at least one value in `root` (`null` counts).
    pub fn exists(&self, root: &Value) -> bool {
        let mut found = false;
        self.for_each(root, |_| found = true);
        found
    }

    /// Calls `f` on every value the path reaches in `root`, to change it in place.
    pub fn for_each_mut(&self, root: &mut Value, mut f: impl FnMut(&mut Value)) {
        visit_mut(root, &self.segments, &mut f);
    }

    /// Removes every value the path reaches from its parent object or array and returns how
    /// many were removed. Object members keep the order of the others; a removed array
    /// element shifts the later ones down.
    pub fn remove(&self, root: &mut Value) -> usize {
        let Some((last, parents)) = self.segments.split_last() else {
            return 0;
        };
        let mut removed = 0;
        visit_mut(root, parents, &mut |parent: &mut Value| {
            removed += remove_child(parent, last);
        });
        removed
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::str::FromStr for FieldPath {
    type Err = PathError;

    fn from_str(s: &str) -> Result<Self, PathError> {
        Self::parse(s)
    }
}

/// A path that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathError {
    path: String,
    reason: String,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "path `{}`: {}", self.path, self.reason)
    }
}

impl std::error::Error for PathError {}

/// Parses what follows a `[`: a JSON string, `*` or digits, then `]`. Returns the segment
/// and the length consumed, `]` included.
fn bracket(after: &str) -> Result<(Segment, usize), String> {
    if after.starts_with('"') {
        let mut stream = serde_json::Deserializer::from_str(after).into_iter::<String>();
        let key = match stream.next() {
            Some(Ok(key)) => key,
            Some(Err(e)) if e.is_eof() => return Err("unterminated quoted key".to_owned()),
            Some(Err(_)) => return Err("the quoted key is not a JSON string".to_owned()),
            None => return Err("unterminated `[`".to_owned()),
        };
        let end = stream.byte_offset();
        return match after[end..].starts_with(']') {
            true => Ok((Segment::Key(key), end + 1)),
            false => Err("expected `]` after the quoted key".to_owned()),
        };
    }
    let close = after
        .find(']')
        .ok_or_else(|| "unterminated `[`".to_owned())?;
    let inner = &after[..close];
    if inner == "*" {
        Ok((Segment::Any, close + 1))
    } else if !inner.is_empty() && inner.bytes().all(|b| b.is_ascii_digit()) {
        Ok((Segment::Key(inner.to_owned()), close + 1))
    } else {
        Err(format!(
            "`[{inner}]` is not `[*]`, an index or a quoted key like `[\"a.b\"]`"
        ))
    }
}

fn index(key: &str, len: usize) -> Option<usize> {
    if key.is_empty() || !key.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    key.parse().ok().filter(|&i| i < len)
}

fn visit<'v>(value: &'v Value, segments: &[Segment], f: &mut impl FnMut(&'v Value)) {
    let Some((first, rest)) = segments.split_first() else {
        f(value);
        return;
    };
    match (first, value) {
        (Segment::Key(key), Value::Object(map)) => {
            if let Some(child) = map.get(key) {
                visit(child, rest, f);
            }
        }
        (Segment::Key(key), Value::Array(items)) => {
            if let Some(i) = index(key, items.len()) {
                visit(&items[i], rest, f);
            }
        }
        (Segment::Any, Value::Object(map)) => map.values().for_each(|v| visit(v, rest, f)),
        (Segment::Any, Value::Array(items)) => items.iter().for_each(|v| visit(v, rest, f)),
        _ => {}
    }
}

fn visit_mut(value: &mut Value, segments: &[Segment], f: &mut impl FnMut(&mut Value)) {
    let Some((first, rest)) = segments.split_first() else {
        f(value);
        return;
    };
    match (first, value) {
        (Segment::Key(key), Value::Object(map)) => {
            if let Some(child) = map.get_mut(key) {
                visit_mut(child, rest, f);
            }
        }
        (Segment::Key(key), Value::Array(items)) => {
            if let Some(i) = index(key, items.len()) {
                visit_mut(&mut items[i], rest, f);
            }
        }
        (Segment::Any, Value::Object(map)) => {
            map.values_mut().for_each(|v| visit_mut(v, rest, f));
        }
        (Segment::Any, Value::Array(items)) => {
            items.iter_mut().for_each(|v| visit_mut(v, rest, f));
        }
        _ => {}
    }
}

fn remove_child(parent: &mut Value, last: &Segment) -> usize {
    match (last, parent) {
        (Segment::Key(key), Value::Object(map)) => {
            // `retain` keeps the other members in order whether or not serde_json's
            // `preserve_order` is on (`remove` would swap the last member into the hole).
            let before = map.len();
            map.retain(|k, _| k != key);
            before - map.len()
        }
        (Segment::Key(key), Value::Array(items)) => match index(key, items.len()) {
            Some(i) => {
                items.remove(i);
                1
            }
            None => 0,
        },
        (Segment::Any, Value::Object(map)) => {
            let n = map.len();
            map.clear();
            n
        }
        (Segment::Any, Value::Array(items)) => {
            let n = items.len();
            items.clear();
            n
        }
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(k: &str) -> Segment {
        Segment::Key(k.to_owned())
    }

    #[test]
    fn parses_dots_stars_indexes_and_quoted_keys() {
        let cases: [(&str, Vec<Segment>); 7] = [
            ("data", vec![key("data")]),
            ("data.prompt", vec![key("data"), key("prompt")]),
            (
                "data.items.*.email",
                vec![key("data"), key("items"), Segment::Any, key("email")],
            ),
            (
                "data.items[0].email",
                vec![key("data"), key("items"), key("0"), key("email")],
            ),
            (
                r#"resource.labels["app.kubernetes.io/name"]"#,
                vec![
                    key("resource"),
                    key("labels"),
                    key("app.kubernetes.io/name"),
                ],
            ),
            (
                r#"data["*"][*]["q\"uote"].x"#,
                vec![
                    key("data"),
                    key("*"),
                    Segment::Any,
                    key("q\"uote"),
                    key("x"),
                ],
            ),
            ("a-b.c_d.é", vec![key("a-b"), key("c_d"), key("é")]),
        ];
        for (text, want) in cases {
            let p = FieldPath::parse(text).unwrap();
            assert_eq!(p.segments(), want, "{text}");
            assert_eq!(p.to_string(), text);
            assert_eq!(text.parse::<FieldPath>().unwrap(), p);
        }
    }

    #[test]
    fn refuses_malformed_paths_saying_where() {
        for (text, msg) in [
            ("", "path ``: the path is empty"),
            (".a", "path `.a`: empty segment at byte 0"),
            ("a.", "path `a.`: empty segment after the `.` at byte 1"),
            ("a..b", "path `a..b`: empty segment after the `.` at byte 1"),
            (
                "a.[\"b\"]",
                "path `a.[\"b\"]`: empty segment after the `.` at byte 1",
            ),
            ("a]", "path `a]`: expected `.` or `[` at byte 1"),
            ("a[", "path `a[`: unterminated `[` at byte 1"),
            (
                "a[x]",
                "path `a[x]`: `[x]` is not `[*]`, an index or a quoted key like `[\"a.b\"]` at byte 1",
            ),
            (
                "a[\"b\"",
                "path `a[\"b\"`: expected `]` after the quoted key at byte 1",
            ),
            ("a[\"b]", "path `a[\"b]`: unterminated quoted key at byte 1"),
            ("a[0]b", "path `a[0]b`: expected `.` or `[` at byte 4"),
            (
                "a[\"\\x\"]",
                "path `a[\"\\x\"]`: the quoted key is not a JSON string at byte 1",
            ),
        ] {
            assert_eq!(
                FieldPath::parse(text).unwrap_err().to_string(),
                msg,
                "{text:?}"
            );
        }
    }

    #[test]
    fn body_paths_start_at_a_body_member() {
        for ok in ["event", "timestamp", "resource.labels.x", "data.a.b"] {
            assert!(FieldPath::body(ok).is_ok(), "{ok}");
        }
        for bad in ["prompt", "*", "[0]", "Data.x"] {
            assert_eq!(
                FieldPath::body(bad).unwrap_err().to_string(),
                format!(
                    "path `{bad}`: must start with `event`, `timestamp`, `resource` or `data` \
                     (paths are rooted at the body)"
                )
            );
        }
    }

    #[test]
    fn reads_what_the_path_reaches() {
        let v = json!({"data": {"a": null, "items": [{"e": 1}, {"e": 2}, {"f": 3}], "m": {"x": 1, "y": 2}}});
        let all = |p: &str| {
            let mut out = Vec::new();
            FieldPath::parse(p)
                .unwrap()
                .for_each(&v, |x| out.push(x.clone()));
            out
        };
        assert_eq!(all("data.items.*.e"), [json!(1), json!(2)]);
        assert_eq!(all("data.items.1.e"), [json!(2)]);
        assert_eq!(all("data.items[2]"), [json!({"f": 3})]);
        assert_eq!(all("data.items.3"), Vec::<Value>::new());
        assert_eq!(all("data.items.-1"), Vec::<Value>::new());
        assert_eq!(all("data.m.*"), [json!(1), json!(2)]);
        assert_eq!(all("data.a"), [Value::Null]);
        assert_eq!(all("data.a.b"), Vec::<Value>::new());
        assert_eq!(all("data.m.x.deeper"), Vec::<Value>::new());
        assert!(FieldPath::parse("data.a").unwrap().exists(&v));
        assert!(!FieldPath::parse("data.b").unwrap().exists(&v));
    }

    #[test]
    fn changes_and_removes_in_place_keeping_order() {
        let mut v = json!({"data": {"z": 1, "a": 2, "m": 3, "items": [1, 2, 3]}});
        assert_eq!(FieldPath::parse("data.a").unwrap().remove(&mut v), 1);
        assert_eq!(FieldPath::parse("data.a").unwrap().remove(&mut v), 0);
        assert_eq!(FieldPath::parse("data.items.1").unwrap().remove(&mut v), 1);
        assert_eq!(FieldPath::parse("data.nope.x").unwrap().remove(&mut v), 0);
        FieldPath::parse("data.z")
            .unwrap()
            .for_each_mut(&mut v, |x| *x = json!("***"));
        assert_eq!(v, json!({"data": {"z": "***", "m": 3, "items": [1, 3]}}));
        assert_eq!(FieldPath::parse("data.items.*").unwrap().remove(&mut v), 2);
        assert_eq!(FieldPath::parse("data.*").unwrap().remove(&mut v), 3);
        assert_eq!(v, json!({"data": {}}));
        assert_eq!(FieldPath::parse("data").unwrap().remove(&mut v), 1);
        assert_eq!(v, json!({}));
    }
}
