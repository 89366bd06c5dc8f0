//! Provenance: the texts values came from laid end to end in one span space
//! ([`SourceMap`]), the merge of spanned documents, and the key path of every span
//! ([`SpanIndex`]), so that an error can say file:line:col and name the key.

use std::collections::HashMap;
use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::error::{ConfigError, Origin};

/// Parses one source and moves its spans to `base` in the shared span space.
pub(super) fn parse<'i>(
    text: &'i str,
    base: usize,
    sources: &SourceMap<'_>,
) -> Result<DeTable<'i>, ConfigError> {
    let table = DeTable::parse(text).map_err(|e| {
        let at = e.span().map_or(0, |s| s.start);
        ConfigError::Syntax {
            origin: sources
                .locate(base + at)
                .unwrap_or(Origin::Defaults { line: 1, column: 1 }),
            message: e.message().trim().to_owned(),
        }
    })?;
    Ok(shift_table(table.into_inner(), base))
}

pub(super) fn shift_span(span: Range<usize>, by: usize) -> Range<usize> {
    span.start + by..span.end + by
}

pub(super) fn shift_table(table: DeTable<'_>, by: usize) -> DeTable<'_> {
    table
        .into_iter()
        .map(|(k, v)| {
            let key_span = shift_span(k.span(), by);
            (Spanned::new(key_span, k.into_inner()), shift_value(v, by))
        })
        .collect()
}

pub(super) fn shift_value(value: Spanned<DeValue<'_>>, by: usize) -> Spanned<DeValue<'_>> {
    let span = shift_span(value.span(), by);
    let inner = match value.into_inner() {
        DeValue::Table(t) => DeValue::Table(shift_table(t, by)),
        DeValue::Array(a) => DeValue::Array(a.into_iter().map(|v| shift_value(v, by)).collect()),
        other => other,
    };
    Spanned::new(span, inner)
}

/// Merges `over` into `base`: tables recursively, anything else replaced.
pub(super) fn merge_tables<'i>(base: &mut DeTable<'i>, over: DeTable<'i>) {
    for (key, value) in over {
        // Remove first: inserting over an existing key would keep the old key's span.
        let existing = base.remove(key.get_ref().as_ref());
        let span = value.span();
        let merged = match (existing.map(Spanned::into_inner), value.into_inner()) {
            (Some(DeValue::Table(mut old)), DeValue::Table(new)) => {
                merge_tables(&mut old, new);
                DeValue::Table(old)
            }
            (_, new) => new,
        };
        base.insert(key, Spanned::new(span, merged));
    }
}

// ---------------------------------------------------------------------------------------
// Provenance: which text every span points into, and the key path of every span
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
pub(super) enum SourceKind<'a> {
    Defaults,
    File(&'a str),
    Env(&'a str),
}

/// The texts values came from, laid end to end in one span space (one unused offset
/// between two texts, so an empty span at a text's end still belongs to it).
#[derive(Debug, Default)]
pub(super) struct SourceMap<'a> {
    pub(super) texts: Vec<(usize, &'a str, SourceKind<'a>)>,
    pub(super) end: usize,
}

impl<'a> SourceMap<'a> {
    /// Adds a text; returns its base offset.
    pub(super) fn add(&mut self, text: &'a str, kind: SourceKind<'a>) -> usize {
        let base = self.end;
        self.texts.push((base, text, kind));
        self.end = base + text.len() + 1;
        base
    }

    pub(super) fn find(&self, offset: usize) -> Option<&(usize, &'a str, SourceKind<'a>)> {
        self.texts
            .iter()
            .find(|(base, text, _)| *base <= offset && offset <= base + text.len())
    }

    pub(super) fn is_default(&self, offset: usize) -> bool {
        matches!(self.find(offset), Some((_, _, SourceKind::Defaults)))
    }

    pub(super) fn locate(&self, offset: usize) -> Option<Origin> {
        let &(base, text, kind) = self.find(offset)?;
        let (line, column) = line_column(text, offset - base);
        Some(match kind {
            SourceKind::Defaults => Origin::Defaults { line, column },
            SourceKind::File(file) => Origin::File {
                file: file.to_owned(),
                line,
                column,
            },
            SourceKind::Env(var) => Origin::Env {
                var: var.to_owned(),
            },
        })
    }
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
pub(super) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (
        before.matches('\n').count() + 1,
        before[line_start..].chars().count() + 1,
    )
}

/// Every key and array element of the merged document: its path and spans.
#[derive(Debug, Default)]
pub(super) struct SpanIndex {
    pub(super) entries: Vec<IndexEntry>,
    pub(super) by_path: HashMap<String, usize>,
}

#[derive(Debug)]
pub(super) struct IndexEntry {
    pub(super) path: String,
    pub(super) value: Range<usize>,
}

impl SpanIndex {
    pub(super) fn build(root: &DeTable<'_>) -> SpanIndex {
        let mut index = SpanIndex::default();
        index.table(root, "");
        index.by_path = index
            .entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.path.clone(), i))
            .collect();
        index
    }

    pub(super) fn table(&mut self, table: &DeTable<'_>, prefix: &str) {
        for (key, value) in table.iter() {
            let path = join_key(prefix, key.get_ref());
            self.entries.push(IndexEntry {
                path: path.clone(),
                value: value.span(),
            });
            self.value(value.get_ref(), &path);
        }
    }

    pub(super) fn value(&mut self, value: &DeValue<'_>, path: &str) {
        match value {
            DeValue::Table(t) => self.table(t, path),
            DeValue::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let item_path = format!("{path}[{i}]");
                    self.entries.push(IndexEntry {
                        path: item_path.clone(),
                        value: item.span(),
                    });
                    self.value(item.get_ref(), &item_path);
                }
            }
            _ => {}
        }
    }

    pub(super) fn get(&self, path: &str) -> Option<&IndexEntry> {
        self.by_path.get(path).map(|&i| &self.entries[i])
    }
}

/// The path serde_path_to_error tracked, written as [`SpanIndex`] writes paths:
/// `webhooks[1].events[0]`, `webhooks[0].headers."X-Team"`; empty for the document.
pub(super) fn key_path(segments: &[&serde_path_to_error::Segment]) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for segment in segments {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } => out = join_key(&out, key),
            Segment::Enum { .. } | Segment::Unknown => {}
        }
    }
    out
}

/// `prefix.key`, quoting the key when it is not a bare TOML key.
pub(super) fn join_key(prefix: &str, key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let key = if bare {
        key.to_owned()
    } else {
        format!("{key:?}")
    };
    if prefix.is_empty() {
        key
    } else {
        format!("{prefix}.{key}")
    }
}
