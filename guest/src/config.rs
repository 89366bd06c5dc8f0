//! Reading the plugin's configuration: the webhook's `plugin_config`, as JSON text.

use std::fmt;

use serde::de::DeserializeOwned;

/// Decodes the `config` argument of [`Plugin::transform`](crate::Plugin::transform) as `T`.
///
/// The host passes the webhook's `plugin_config` table converted to JSON, or `{}` when there
/// is none, so a `T` whose fields all have defaults (`#[serde(default)]`) accepts a missing
/// config. An empty string reads as `{}` too. Add `#[serde(deny_unknown_fields)]` to catch
/// misspelled keys: the error names the key.
///
/// ```
/// #[derive(Debug, serde::Deserialize)]
/// #[serde(default, deny_unknown_fields)]
/// struct Config {
///     channel: Option<String>,
///     limit: u32,
/// }
/// impl Default for Config {
///     fn default() -> Self {
///         Self { channel: None, limit: 10 }
///     }
/// }
///
/// let cfg: Config = hookline_guest::config(r##"{"channel": "#ops"}"##).unwrap();
/// assert_eq!((cfg.channel.as_deref(), cfg.limit), (Some("#ops"), 10));
/// assert_eq!(hookline_guest::config::<Config>("{}").unwrap().limit, 10);
/// let err = hookline_guest::config::<Config>(r#"{"chanel": "x"}"#).unwrap_err();
/// assert!(err.to_string().starts_with("plugin_config: unknown field `chanel`"));
/// ```
///
/// # Errors
/// When `config` is not JSON matching `T`.
pub fn config<T: DeserializeOwned>(config: &str) -> Result<T, ConfigError> {
    let text = if config.trim().is_empty() {
        "{}"
    } else {
        config
    };
    serde_json::from_str(text).map_err(|source| ConfigError { source })
}

/// The plugin's configuration did not match what it expects.
///
/// Displays as `plugin_config: <what is wrong> at line L column C`.
#[derive(Debug)]
pub struct ConfigError {
    source: serde_json::Error,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "plugin_config: {}", self.source)
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Default, PartialEq, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct Cfg {
        source: Option<String>,
        n: u8,
    }

    #[test]
    fn empty_and_missing_configs_read_as_defaults() {
        assert_eq!(config::<Cfg>("{}").unwrap(), Cfg::default());
        assert_eq!(config::<Cfg>("").unwrap(), Cfg::default());
        assert_eq!(config::<Cfg>("  \n").unwrap(), Cfg::default());
    }

    #[test]
    fn errors_name_the_problem_and_the_place() {
        let err = config::<Cfg>(r#"{"n": 300}"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "plugin_config: invalid value: integer `300`, expected u8 at line 1 column 9"
        );
        let err = config::<Cfg>(r#"{"sorce": "x"}"#).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("plugin_config: unknown field `sorce`, expected `source` or `n`"),
            "{err}"
        );
        assert!(std::error::Error::source(&err).is_some());
    }
}
