//! Why a configuration was refused, and where ([`Origin`]): file:line:col, the embedded
//! defaults, or an environment variable.

use std::fmt;
use std::path::PathBuf;

use serde_path_to_error::Segment;

use super::provenance::{SourceMap, SpanIndex, join_key, key_path};
use super::{ENCRYPTION_KEY_ENV, table_keys};

/// Where a configuration value was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The user's config file (1-based line and column).
    File {
        /// The file's name as given.
        file: String,
        /// Line, from 1.
        line: usize,
        /// Column in characters, from 1.
        column: usize,
    },
    /// The embedded defaults (only a broken build gets errors from there).
    Defaults {
        /// Line, from 1.
        line: usize,
        /// Column in characters, from 1.
        column: usize,
    },
    /// An environment variable.
    Env {
        /// Its name.
        var: String,
    },
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File { file, line, column } => write!(f, "{file}:{line}:{column}"),
            Origin::Defaults { line, column } => {
                write!(f, "built-in defaults (config.default.toml):{line}:{column}")
            }
            Origin::Env { var } => write!(f, "environment variable `{var}`"),
        }
    }
}

/// Why the configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read config file `{}`: {source}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error("{origin}: invalid TOML: {message}")]
    Syntax {
        /// Where.
        origin: Origin,
        /// The parser's message.
        message: String,
    },
    /// A key that does not exist.
    #[error("{}unknown key `{key}`{}", prefix(.origin), unknown_key_hint(.expected, .hint))]
    UnknownKey {
        /// Where it was written.
        origin: Option<Origin>,
        /// Its full path, e.g. `delivery.wrokers`.
        key: String,
        /// The keys accepted at that place.
        expected: Vec<String>,
        /// Advice: the closest accepted key (`did you mean `workers`?`), or where a value
        /// refused in the file belongs instead.
        hint: Option<String>,
    },
    /// A value of the wrong type, a missing required key, or a value that fails validation.
    #[error("{}`{key}`: {message}", prefix(.origin))]
    Invalid {
        /// Where the value was written (for a missing key: its table).
        origin: Option<Origin>,
        /// Its full path, e.g. `webhooks[1].events[0]`.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// An environment variable could not be applied.
    #[error("environment variable `{var}`: {message}")]
    Env {
        /// Its name.
        var: String,
        /// What is wrong (never the value of a secret).
        message: String,
    },
    /// The encryption key could not be loaded.
    #[error("encryption key from {from}: {message}")]
    EncryptionKey {
        /// Its source: the file (and key naming it) or the environment variable.
        from: String,
        /// What is wrong (never the key).
        message: String,
    },
    /// Several problems, all reported at once.
    #[error("{} problems in the configuration:{}", .0.len(), bullets(.0))]
    Multiple(Vec<ConfigError>),
}

impl ConfigError {
    /// The individual errors (one, unless this is [`ConfigError::Multiple`]).
    pub fn errors(&self) -> Vec<&ConfigError> {
        match self {
            ConfigError::Multiple(all) => all.iter().collect(),
            one => vec![one],
        }
    }

    pub(super) fn from_list(mut errors: Vec<ConfigError>) -> Result<(), ConfigError> {
        match errors.len() {
            0 => Ok(()),
            1 => Err(errors.remove(0)),
            _ => Err(ConfigError::Multiple(errors)),
        }
    }
}

pub(super) fn prefix(origin: &Option<Origin>) -> String {
    origin
        .as_ref()
        .map(|o| format!("{o}: "))
        .unwrap_or_default()
}

pub(super) fn unknown_key_hint(expected: &[String], hint: &Option<String>) -> String {
    let mut out = String::new();
    if !expected.is_empty() {
        let list: Vec<String> = expected.iter().map(|k| format!("`{k}`")).collect();
        out.push_str(" (expected one of ");
        out.push_str(&list.join(", "));
        out.push(')');
    }
    if let Some(hint) = hint {
        out.push_str("; ");
        out.push_str(hint);
    }
    out
}

pub(super) fn bullets(errors: &[ConfigError]) -> String {
    errors.iter().map(|e| format!("\n  - {e}")).collect()
}

/// Turns a deserialisation error into one naming the key (the path serde_path_to_error
/// tracked) and where it was written (the span the toml crate gave the error).
pub(super) fn deserialize_error(
    e: &serde_path_to_error::Error<toml::de::Error>,
    sources: &SourceMap<'_>,
    index: &SpanIndex,
) -> ConfigError {
    let segments: Vec<&Segment> = e.path().iter().collect();
    let path = key_path(&segments);
    let inner = e.inner();
    let origin = inner
        .span()
        .or_else(|| index.get(&path).map(|entry| entry.value.clone()))
        .and_then(|span| sources.locate(span.start));
    let message = inner.message().trim();

    // A key its table does not declare: the last segment of the path names it.
    if let Some((Segment::Map { key: field }, parent)) = segments.split_last()
        && let Some(keys) = table_keys(&key_path(parent))
        && !keys.contains(&field.as_str())
    {
        let hint = if path == "security.encryption_key" {
            Some(format!(
                "the key itself is not accepted in the file: use \
                 `security.encryption_key_file` or {ENCRYPTION_KEY_ENV}"
            ))
        } else {
            closest(field, keys.iter().copied()).map(|close| format!("did you mean `{close}`?"))
        };
        return ConfigError::UnknownKey {
            origin,
            key: path,
            expected: keys.iter().map(|&k| k.to_owned()).collect(),
            hint,
        };
    }
    // Serde reports a missing key on its table, naming it only in the message (a fixed
    // format: serde's `Error::missing_field`).
    if let Some(rest) = message.strip_prefix("missing field `")
        && let Some((field, _)) = rest.split_once('`')
    {
        return ConfigError::Invalid {
            origin,
            key: join_key(&path, field),
            message: "required key is missing".to_owned(),
        };
    }
    ConfigError::Invalid {
        origin,
        key: if path.is_empty() {
            "(document)".to_owned()
        } else {
            path
        },
        message: message.to_owned(),
    }
}

/// The candidate closest to `word` by edit distance (optimal string alignment: Levenshtein
/// with a swap of two neighbours counted as one edit), if close enough to be a likely typo.
pub(super) fn closest<'a>(
    word: &str,
    candidates: impl Iterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(2);
    candidates
        .map(|c| (strsim::osa_distance(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}
