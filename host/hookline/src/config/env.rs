//! `HOOKLINE_<SECTION>_<KEY>` environment overrides. Which keys exist comes from the
//! structs (`table_keys`); what a value means comes from deserialisation: the text is read as
//! a TOML value, as itself, or as a comma-separated list, and the first reading the key's
//! type accepts wins. Each override has spans of its own, so errors name the variable.

use std::borrow::Cow;
use std::ops::Range;

use serde_path_to_error::Segment;
use toml::Spanned;
use toml::de::{DeArray, DeTable, DeValue};

use super::de::fields_of;
use super::error::{ConfigError, closest, deserialize_error};
use super::provenance::{SourceKind, SourceMap, SpanIndex, key_path, shift_value};
use super::{API_TOKEN_ENV, Config, ENCRYPTION_KEY_ENV, ENV_PREFIX, table_keys};

/// One `HOOKLINE_<SECTION>_<KEY>` override.
#[derive(Debug)]
pub(super) struct EnvOverride<'i> {
    section: String,
    key: String,
    /// `section.key`, as error paths write it.
    path: String,
    /// The variable's text in the shared span space.
    whole: Range<usize>,
    /// What the text may mean, in the order tried: the TOML value it parses as (not when
    /// that is a string: a string is taken as written, quotes and all), the text itself, a
    /// comma-separated list of TOML values or texts, the same list of texts.
    readings: Vec<Spanned<DeValue<'i>>>,
}

/// The overrides of `env` (sorted by name), each text added to `sources`. Refuses a
/// variable naming a key that does not exist, webhooks, and two different tokens.
pub(super) fn env_overrides<'i>(
    env: &'i [(String, String)],
    sources: &mut SourceMap<'i>,
) -> Result<Vec<EnvOverride<'i>>, ConfigError> {
    let alias = env.iter().find(|(n, _)| n == API_TOKEN_ENV);
    let direct = env.iter().find(|(n, _)| n == "HOOKLINE_SERVER_TOKEN");
    if let (Some((_, a)), Some((_, b))) = (alias, direct)
        && a != b
    {
        return Err(ConfigError::Env {
            var: API_TOKEN_ENV.to_owned(),
            message: "differs from HOOKLINE_SERVER_TOKEN; set only one of them".to_owned(),
        });
    }

    let mut overrides: Vec<EnvOverride<'i>> = Vec::new();
    for (var, value) in env {
        let (section, key) = if var == API_TOKEN_ENV {
            ("server".to_owned(), "token".to_owned())
        } else {
            let rest = &var[ENV_PREFIX.len()..];
            let Some((section, key)) = rest.split_once('_') else {
                continue;
            };
            (section.to_ascii_lowercase(), key.to_ascii_lowercase())
        };
        if section == "webhooks" {
            return Err(ConfigError::Env {
                var: var.clone(),
                message: "webhooks cannot be configured through the environment; declare \
                          them in the config file or create them through the API"
                    .to_owned(),
            });
        }
        let keys = match table_keys(&section) {
            Some(keys) if fields_of::<Config>().contains(&section.as_str()) => keys,
            // Not a section: another HOOKLINE_ variable (HOOKLINE_ENCRYPTION_KEY, …).
            _ => continue,
        };
        if !keys.contains(&key.as_str()) {
            let expected: Vec<String> = keys
                .iter()
                .map(|k| format!("{ENV_PREFIX}{section}_{k}").to_ascii_uppercase())
                .collect();
            let mut message = format!(
                "unknown key `{section}.{key}` (expected one of {})",
                expected.join(", ")
            );
            if section == "security" && key == "encryption_key" {
                message.push_str(&format!("; the key itself goes in {ENCRYPTION_KEY_ENV}"));
            } else if let Some(close) = closest(&key, keys.iter().copied()) {
                message.push_str(&format!(
                    "; did you mean {}?",
                    format!("{ENV_PREFIX}{section}_{close}").to_ascii_uppercase()
                ));
            }
            return Err(ConfigError::Env {
                var: var.clone(),
                message,
            });
        }
        let base = sources.add(value, SourceKind::Env(var));
        let path = format!("{section}.{key}");
        // HOOKLINE_API_TOKEN and HOOKLINE_SERVER_TOKEN (equal, as checked): the later one.
        overrides.retain(|o| o.path != path);
        overrides.push(EnvOverride {
            readings: readings(value, base),
            whole: base..base + value.len(),
            section,
            key,
            path,
        });
    }
    Ok(overrides)
}

impl<'i> EnvOverride<'i> {
    /// Sets this override's `reading` in `root`.
    fn apply(&self, root: &mut DeTable<'i>, reading: usize) {
        let table = root
            .entry(Spanned::new(
                self.whole.clone(),
                Cow::Owned(self.section.clone()),
            ))
            .or_insert_with(|| Spanned::new(self.whole.clone(), DeValue::Table(DeTable::new())));
        if let DeValue::Table(table) = table.get_mut() {
            table.remove(self.key.as_str());
            table.insert(
                Spanned::new(self.whole.clone(), Cow::Owned(self.key.clone())),
                self.readings[reading].clone(),
            );
        }
        // A section the file set to a non-table stays as it is: deserialisation reports it.
    }

    /// Whether an error at `path` is about this override's value.
    fn covers(&self, path: &str) -> bool {
        path.strip_prefix(self.path.as_str())
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
    }
}

/// The readings of one variable's text (see [`EnvOverride::readings`]). Spans are offsets
/// into the text, from `base`.
fn readings<'i>(value: &'i str, base: usize) -> Vec<Spanned<DeValue<'i>>> {
    let whole = base..base + value.len();
    let mut items = Vec::new();
    if !value.trim().is_empty() {
        let mut at = base;
        for item in value.split(',') {
            items.push((item, at));
            at += item.len() + 1;
        }
    }
    let list = |items: DeArray<'i>| Spanned::new(whole.clone(), DeValue::Array(items));

    let mut out = Vec::new();
    out.extend(parsed(value, base));
    out.push(Spanned::new(
        whole.clone(),
        DeValue::String(Cow::Borrowed(value)),
    ));
    let parsed_items: Vec<_> = items.iter().map(|&(item, at)| parsed(item, at)).collect();
    let any_parsed = parsed_items.iter().any(Option::is_some);
    out.push(list(
        parsed_items
            .into_iter()
            .zip(&items)
            .map(|(p, &(item, at))| p.unwrap_or_else(|| text(item, at)))
            .collect(),
    ));
    if any_parsed {
        out.push(list(
            items.iter().map(|&(item, at)| text(item, at)).collect(),
        ));
    }
    out
}

/// The span of `item`, which starts at `at`, without its surrounding whitespace.
fn trimmed_span(item: &str, at: usize) -> Range<usize> {
    let start = at + (item.len() - item.trim_start().len());
    start..start + item.trim().len()
}

/// `item`, trimmed, as a string.
fn text(item: &str, at: usize) -> Spanned<DeValue<'_>> {
    Spanned::new(
        trimmed_span(item, at),
        DeValue::String(Cow::Borrowed(item.trim())),
    )
}

/// `item` as a TOML value, unless it is not one or is a (quoted) string.
fn parsed(item: &str, at: usize) -> Option<Spanned<DeValue<'_>>> {
    let value = DeValue::parse(item.trim()).ok()?;
    if value.get_ref().is_str() {
        return None;
    }
    Some(shift_value(value, trimmed_span(item, at).start))
}

/// Deserialises `root` with `overrides` laid over it. When deserialisation refuses an
/// override's value, its next reading is tried; when none fits, the error reported is the
/// one that got furthest into the value (`retry_schedule_seconds[1]`: expected u64 beats
/// `retry_schedule_seconds`: expected a sequence), the earliest reading on a tie.
pub(super) fn deserialize<'i>(
    root: &DeTable<'i>,
    overrides: &[EnvOverride<'i>],
    sources: &SourceMap<'i>,
) -> Result<(Config, SpanIndex), ConfigError> {
    let mut reading = vec![0; overrides.len()];
    let mut furthest: Vec<Option<(usize, ConfigError)>> = overrides.iter().map(|_| None).collect();
    loop {
        let mut doc = root.clone();
        for (o, &r) in overrides.iter().zip(&reading) {
            o.apply(&mut doc, r);
        }
        let index = SpanIndex::build(&doc);
        let end = sources.end;
        let de = toml::de::Deserializer::from(Spanned::new(end..end, doc));
        let e = match serde_path_to_error::deserialize::<_, Config>(de) {
            Ok(config) => return Ok((config, index)),
            Err(e) => e,
        };
        let error = deserialize_error(&e, sources, &index);
        let segments: Vec<&Segment> = e.path().iter().collect();
        let Some(i) = overrides
            .iter()
            .position(|o| o.covers(&key_path(&segments)))
        else {
            return Err(error);
        };
        if furthest[i]
            .as_ref()
            .is_none_or(|(depth, _)| segments.len() > *depth)
        {
            furthest[i] = Some((segments.len(), error));
        }
        reading[i] += 1;
        if reading[i] == overrides[i].readings.len()
            && let Some((_, error)) = furthest[i].take()
        {
            return Err(error);
        }
    }
}
