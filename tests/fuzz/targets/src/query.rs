//! Target 5: the console's `/` filter query (tui/src/query.rs).

use std::borrow::Cow;

use hookline_console::query::{Field, Query, Record};

const FIELDS: [Field; 11] = [
    Field::Status,
    Field::Code,
    Field::Webhook,
    Field::Event,
    Field::Kind,
    Field::Id,
    Field::Attempts,
    Field::Error,
    Field::State,
    Field::Breaker,
    Field::Plugin,
];

/// A row whose texts are words of the query itself, so that conditions do match sometimes.
#[derive(Debug)]
struct Row {
    words: Vec<String>,
    number: Option<i64>,
}

impl Record for Row {
    fn text(&self, field: Field) -> Option<Cow<'_, str>> {
        let at = FIELDS.iter().position(|f| *f == field)?;
        self.words.get(at).map(|w| Cow::Borrowed(w.as_str()))
    }

    fn number(&self, field: Field) -> Option<i64> {
        matches!(field, Field::Code | Field::Attempts)
            .then_some(self.number)
            .flatten()
    }

    fn free_text(&self) -> Vec<&str> {
        self.words.iter().map(String::as_str).collect()
    }
}

/// Input: the query text (UTF-8, invalid sequences replaced).
///
/// Asserts: parsing never panics; an error's column lies within the text (1-based, at most
/// one past the end); a parsed query matches rows without panicking, `not` negates it, it
/// checks against any field list, and its display form parses again (without panicking).
pub fn query(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let query = match Query::parse(&text) {
        Ok(query) => query,
        Err(err) => {
            let columns = text.chars().count() + 1;
            assert!(
                (1..=columns).contains(&err.column),
                "column {} outside 1..={columns}: {err}",
                err.column
            );
            assert!(!err.message.is_empty());
            return;
        }
    };
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric() && c != '.' && c != '_' && c != '-')
        .filter(|w| !w.is_empty())
        .take(FIELDS.len())
        .map(str::to_owned)
        .collect();
    let number = words.iter().find_map(|w| w.parse::<i64>().ok());
    let rows = [
        Row {
            words: words.clone(),
            number,
        },
        Row {
            words: words.iter().map(|w| w.to_uppercase()).collect(),
            number: number.map(|n| n.wrapping_add(1)),
        },
        Row {
            words: Vec::new(),
            number: None,
        },
    ];
    let negated = Query::Not(Box::new(query.clone()));
    for row in &rows {
        assert_eq!(negated.matches(row), !query.matches(row), "{row:?}");
    }
    assert!(query.check_fields(&FIELDS).is_ok());
    for n in 0..FIELDS.len() {
        let _ = query.check_fields(&FIELDS[..n]);
    }
    let shown = query.to_string();
    if let Ok(again) = Query::parse(&shown) {
        for row in &rows {
            let _ = again.matches(row);
        }
    }
}
