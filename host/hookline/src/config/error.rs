//! Why a configuration was refused, and where ([`Origin`]): file:line:col, the embedded
//! defaults, or an environment variable.

use std::fmt;
use std::path::PathBuf;

use super::ENCRYPTION_KEY_ENV;
use super::provenance::{SourceMap, SpanIndex, join_key};

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

/// Turns a deserialisation error into one naming the key and where it was written.
pub(super) fn deserialize_error(
    e: &toml::de::Error,
    sources: &SourceMap<'_>,
    index: &SpanIndex,
) -> ConfigError {
    let span = e.span();
    let origin = span.as_ref().and_then(|s| sources.locate(s.start));
    let entry = span.as_ref().and_then(|s| index.find(s));
    let path = entry.map(|e| e.path.clone());
    let message = e.message().trim();

    if let Some(rest) = message.strip_prefix("unknown field `")
        && let Some((field, tail)) = rest.split_once('`')
    {
        let expected: Vec<String> = tail
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect();
        let key = path.unwrap_or_else(|| field.to_owned());
        let hint = if key == "security.encryption_key" {
            Some(format!(
                "the key itself is not accepted in the file: use `security.encryption_key_file` \
                 or {ENCRYPTION_KEY_ENV}"
            ))
        } else {
            closest(field, expected.iter().map(String::as_str))
                .map(|close| format!("did you mean `{close}`?"))
        };
        return ConfigError::UnknownKey {
            origin,
            key,
            expected,
            hint,
        };
    }
    if let Some(rest) = message.strip_prefix("missing field `")
        && let Some((field, _)) = rest.split_once('`')
    {
        return ConfigError::Invalid {
            origin,
            key: join_key(path.as_deref().unwrap_or(""), field),
            message: "required key is missing".to_owned(),
        };
    }
    ConfigError::Invalid {
        origin,
        key: path.unwrap_or_else(|| "(document)".to_owned()),
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
