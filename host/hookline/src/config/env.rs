//! `HOOKLINE_<SECTION>_<KEY>` environment overrides, laid into the merged document with
//! spans of their own so that errors name the variable.

use std::borrow::Cow;

use toml::Spanned;
use toml::de::{DeArray, DeTable, DeValue};

use super::error::{ConfigError, closest};
use super::provenance::{SourceKind, SourceMap};
use super::{API_TOKEN_ENV, ENCRYPTION_KEY_ENV, ENV_PREFIX};

/// The TOML type an environment value is converted to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Str,
    Int,
    Float,
    StrList,
    IntList,
}

/// The sections' keys and their types: the keys `HOOKLINE_<SECTION>_<KEY>` may set. A unit
/// test checks this table against the structs' fields.
pub(super) const SECTION_KEYS: &[(&str, &[(&str, Kind)])] = &[
    (
        "server",
        &[
            ("listen", Kind::Str),
            ("token", Kind::Str),
            ("max_request_bytes", Kind::Int),
            ("data_dir", Kind::Str),
        ],
    ),
    (
        "store",
        &[
            ("kind", Kind::Str),
            ("path", Kind::Str),
            ("url", Kind::Str),
            ("synchronous", Kind::Str),
        ],
    ),
    (
        "security",
        &[
            ("encryption_key_file", Kind::Str),
            ("allowed_networks", Kind::StrList),
        ],
    ),
    (
        "delivery",
        &[
            ("workers", Kind::Int),
            ("timeout_seconds", Kind::Int),
            ("max_attempts", Kind::Int),
            ("retry_base_delay_seconds", Kind::Int),
            ("retry_schedule_seconds", Kind::IntList),
            ("retry_jitter", Kind::Float),
            ("retry_after_min_seconds", Kind::Int),
            ("retry_after_max_seconds", Kind::Int),
            ("max_payload_bytes", Kind::Int),
            ("user_agent", Kind::Str),
            ("queue_capacity", Kind::Int),
            ("lease_seconds", Kind::Int),
            ("breaker_failure_threshold", Kind::Int),
            ("breaker_cooldown_seconds", Kind::Int),
            ("auto_disable_after_seconds", Kind::Int),
            ("max_concurrency_per_webhook", Kind::Int),
            ("retention_hours", Kind::Int),
            ("rotation_grace_seconds", Kind::Int),
        ],
    ),
    (
        "plugins",
        &[
            ("fuel", Kind::Int),
            ("timeout_ms", Kind::Int),
            ("memory_mb", Kind::Int),
            ("cache_dir", Kind::Str),
        ],
    ),
    ("log", &[("level", Kind::Str), ("format", Kind::Str)]),
];

/// Applies the `HOOKLINE_` overrides of `env` (sorted by name) to `root`.
pub(super) fn apply_env<'i>(
    root: &mut DeTable<'i>,
    env: &'i [(String, String)],
    sources: &mut SourceMap<'i>,
) -> Result<(), ConfigError> {
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
        let Some((_, keys)) = SECTION_KEYS.iter().find(|(s, _)| *s == section) else {
            // Not a section: another HOOKLINE_ variable (HOOKLINE_ENCRYPTION_KEY, …).
            continue;
        };
        let Some(&(_, kind)) = keys.iter().find(|(k, _)| *k == key) else {
            let expected: Vec<String> = keys
                .iter()
                .map(|(k, _)| format!("{ENV_PREFIX}{}_{}", section, k).to_ascii_uppercase())
                .collect();
            let mut message = format!(
                "unknown key `{section}.{key}` (expected one of {})",
                expected.join(", ")
            );
            if section == "security" && key == "encryption_key" {
                message.push_str(&format!("; the key itself goes in {ENCRYPTION_KEY_ENV}"));
            } else if let Some(close) = closest(&key, keys.iter().map(|(k, _)| *k)) {
                message.push_str(&format!(
                    "; did you mean {}?",
                    format!("{ENV_PREFIX}{section}_{close}").to_ascii_uppercase()
                ));
            }
            return Err(ConfigError::Env {
                var: var.clone(),
                message,
            });
        };
        let base = sources.add(value, SourceKind::Env(var));
        let converted = env_value(kind, var, value, base)?;
        let section_span = base..base + value.len();
        let table = root
            .entry(Spanned::new(section_span.clone(), Cow::Owned(section)))
            .or_insert_with(|| Spanned::new(section_span.clone(), DeValue::Table(DeTable::new())));
        if let DeValue::Table(table) = table.get_mut() {
            table.remove(key.as_str());
            table.insert(Spanned::new(section_span, Cow::Owned(key)), converted);
        }
        // A section the file set to a non-table stays as it is: deserialisation reports it.
    }
    Ok(())
}

/// Converts one environment value to `kind`. Spans are offsets into the value, from `base`.
pub(super) fn env_value<'i>(
    kind: Kind,
    var: &str,
    value: &'i str,
    base: usize,
) -> Result<Spanned<DeValue<'i>>, ConfigError> {
    let whole = base..base + value.len();
    let scalar = |item: &'i str,
                  at: usize,
                  kind: Kind|
     -> Result<Spanned<DeValue<'i>>, ConfigError> {
        let trimmed = item.trim();
        let at = at + (item.len() - item.trim_start().len());
        let span = base + at..base + at + trimmed.len();
        let value = match kind {
            Kind::Str | Kind::StrList => DeValue::String(Cow::Borrowed(trimmed)),
            Kind::Int | Kind::IntList | Kind::Float => {
                let parsed = DeValue::parse(trimmed).ok().map(Spanned::into_inner);
                match parsed {
                    Some(v) if v.is_integer() => v,
                    Some(v) if kind == Kind::Float && v.is_float() => v,
                    _ => {
                        let what = if kind == Kind::Float {
                            "a number"
                        } else {
                            "an integer"
                        };
                        return Err(ConfigError::Env {
                            var: var.to_owned(),
                            message: format!("expected {what}, got `{}`", trimmed.escape_debug()),
                        });
                    }
                }
            }
        };
        Ok(Spanned::new(span, value))
    };
    match kind {
        Kind::Str => Ok(Spanned::new(whole, DeValue::String(Cow::Borrowed(value)))),
        Kind::Int | Kind::Float => scalar(value, 0, kind),
        Kind::StrList | Kind::IntList => {
            let mut array = DeArray::new();
            if !value.trim().is_empty() {
                let mut at = 0;
                for item in value.split(',') {
                    array.push(scalar(item, at, kind)?);
                    at += item.len() + 1;
                }
            }
            Ok(Spanned::new(whole, DeValue::Array(array)))
        }
    }
}
