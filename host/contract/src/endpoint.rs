//! Where the daemon's API is and which token to send it: resolved once, here, for every
//! reader of the API (`hookline emit`, `webhooks …`, `deliveries …` and `hookline-console`),
//! so both binaries take the same flags in the same order of precedence and fail with the
//! same messages.
//!
//! Precedence, first found wins:
//!
//! | what  | 1. flag          | 2. flag          | 3. environment       | 4. fallback                           |
//! |-------|------------------|------------------|----------------------|---------------------------------------|
//! | URL   | `--daemon URL`   |                  | `HOOKLINE_URL`       | `http://127.0.0.1:8420`               |
//! | token | `--token TOKEN`  | `--token-file F` | `HOOKLINE_API_TOKEN` | `./hookline-data/api-token` if present |
//!
//! An environment variable set to an empty string counts as unset. Giving both `--token` and
//! `--token-file` is an error, as is a token file that cannot be read or is empty (the
//! default token file only when it exists). Without any token the request is sent without
//! one, and the daemon's `401` tells the user what to do ([`TOKEN_HINT`]).
//!
//! std only (no argument parser): each binary declares the flags with its own parser and
//! hands their values over in [`EndpointArgs`].
//!
//! ```
//! use hookline_contract::endpoint::{Endpoint, EndpointArgs, Environment, Source};
//!
//! let env = Environment {
//!     url: Some("http://daemon.internal:8420".into()),
//!     token: Some("from-the-environment".into()),
//!     default_token_file: "/nonexistent/api-token".into(),
//! };
//! let flags = EndpointArgs { token: Some("from-the-flag".into()), ..EndpointArgs::default() };
//! let endpoint = Endpoint::resolve(&flags, &env).unwrap();
//! assert_eq!(endpoint.url, "http://daemon.internal:8420");
//! assert_eq!(endpoint.url_source, Source::Env("HOOKLINE_URL"));
//! assert_eq!(endpoint.token.as_deref(), Some("from-the-flag"));
//! ```

use std::fmt;
use std::path::{Path, PathBuf};

/// The daemon's API when nothing says otherwise (`hookline serve`'s default listen address).
pub const DEFAULT_URL: &str = "http://127.0.0.1:8420";
/// Environment variable naming the daemon's API URL.
pub const URL_ENV: &str = "HOOKLINE_URL";
/// Environment variable holding the API token (the daemon reads it too).
pub const TOKEN_ENV: &str = "HOOKLINE_API_TOKEN";
/// Where `hookline serve` writes its generated token, relative to its working directory.
pub const DEFAULT_TOKEN_FILE: &str = "hookline-data/api-token";
/// The flag naming the daemon's API URL.
pub const DAEMON_FLAG: &str = "--daemon";
/// The flag giving the token itself.
pub const TOKEN_FLAG: &str = "--token";
/// The flag naming a file holding the token.
pub const TOKEN_FILE_FLAG: &str = "--token-file";
/// What to do about a `401` when no token was found.
pub const TOKEN_HINT: &str = "pass --token-file FILE (or --token), or set HOOKLINE_API_TOKEN; \
     the daemon writes its generated token to <data dir>/api-token";

/// The flags as parsed, before resolution.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointArgs {
    /// `--daemon URL`.
    pub daemon: Option<String>,
    /// `--token TOKEN`.
    pub token: Option<String>,
    /// `--token-file FILE`.
    pub token_file: Option<PathBuf>,
}

/// What the process's environment contributes; tests build one by hand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment {
    /// `HOOKLINE_URL`, if set and not empty.
    pub url: Option<String>,
    /// `HOOKLINE_API_TOKEN`, if set and not blank.
    pub token: Option<String>,
    /// The token file used when nothing else gives a token: [`DEFAULT_TOKEN_FILE`].
    pub default_token_file: PathBuf,
}

impl Environment {
    /// The real environment, and [`DEFAULT_TOKEN_FILE`] in the working directory.
    pub fn from_process() -> Environment {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        Environment {
            url: var(URL_ENV),
            token: var(TOKEN_ENV),
            default_token_file: PathBuf::from(DEFAULT_TOKEN_FILE),
        }
    }
}

/// Where a value came from, for error messages and hints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A command-line flag, e.g. `--daemon`.
    Flag(&'static str),
    /// An environment variable, e.g. `HOOKLINE_URL`.
    Env(&'static str),
    /// The file given with `--token-file`.
    TokenFile(PathBuf),
    /// The default token file, found in the working directory.
    DefaultTokenFile(PathBuf),
    /// The built-in default ([`DEFAULT_URL`]).
    Default,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Flag(flag) => f.write_str(flag),
            Source::Env(var) => f.write_str(var),
            Source::TokenFile(path) => write!(f, "{TOKEN_FILE_FLAG} {}", path.display()),
            Source::DefaultTokenFile(path) => {
                write!(f, "the default token file {}", path.display())
            }
            Source::Default => write!(f, "the default address"),
        }
    }
}

/// The daemon's API and the token to send it.
#[derive(Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The API's base URL, e.g. `http://127.0.0.1:8420` (checked: http or https, with a host).
    pub url: String,
    /// Where [`Endpoint::url`] came from.
    pub url_source: Source,
    /// The bearer token, trimmed; `None` when nothing gave one.
    pub token: Option<String>,
    /// Where [`Endpoint::token`] came from.
    pub token_source: Option<Source>,
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The token is a secret: never in debug output.
        f.debug_struct("Endpoint")
            .field("url", &self.url)
            .field("url_source", &self.url_source)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("token_source", &self.token_source)
            .finish()
    }
}

/// Why the endpoint could not be resolved: a usage or configuration error (exit code 2).
#[derive(Debug)]
#[non_exhaustive]
pub enum EndpointError {
    /// The URL is not an http(s) URL with a host.
    BadUrl {
        /// Where it came from.
        source: Source,
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Both `--token` and `--token-file`.
    TwoTokens,
    /// The token (flag or file) is empty.
    EmptyToken {
        /// Where it came from.
        source: Source,
    },
    /// The token file could not be read.
    TokenFile {
        /// Which file, and whether it was given or the default.
        source: Source,
        /// Why.
        error: std::io::Error,
    },
}

impl fmt::Display for EndpointError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EndpointError::BadUrl {
                source,
                url,
                reason,
            } => write!(
                f,
                "{source} `{url}`: {reason}; expected the daemon's http or https URL, e.g. \
                 {DEFAULT_URL}"
            ),
            EndpointError::TwoTokens => write!(
                f,
                "{TOKEN_FLAG} and {TOKEN_FILE_FLAG} both given: pass one of them"
            ),
            EndpointError::EmptyToken { source } => match source {
                Source::Flag(_) | Source::Env(_) => write!(f, "{source}: the token is empty"),
                _ => write!(f, "{source}: the file is empty"),
            },
            EndpointError::TokenFile { source, error } => {
                write!(f, "{source}: cannot read the token: {error}")
            }
        }
    }
}

/// The cause is part of the message (`… cannot read the token: <io error>`), so
/// [`std::error::Error::source`] is `None`: a reporter printing the chain prints it once.
impl std::error::Error for EndpointError {}

impl Endpoint {
    /// Resolves `args` against the process's environment ([`Environment::from_process`]).
    pub fn from_args(args: &EndpointArgs) -> Result<Endpoint, EndpointError> {
        Endpoint::resolve(args, &Environment::from_process())
    }

    /// Resolves `args` against `env`, in the order of the module docs.
    pub fn resolve(args: &EndpointArgs, env: &Environment) -> Result<Endpoint, EndpointError> {
        let (url, url_source) = match (&args.daemon, &env.url) {
            (Some(url), _) => (url.clone(), Source::Flag(DAEMON_FLAG)),
            (None, Some(url)) => (url.clone(), Source::Env(URL_ENV)),
            (None, None) => (DEFAULT_URL.to_owned(), Source::Default),
        };
        let url = url.trim().to_owned();
        if let Err(reason) = check_url(&url) {
            return Err(EndpointError::BadUrl {
                source: url_source,
                url,
                reason,
            });
        }
        let (token, token_source) = match (&args.token, &args.token_file) {
            (Some(_), Some(_)) => return Err(EndpointError::TwoTokens),
            (Some(token), None) => {
                let source = Source::Flag(TOKEN_FLAG);
                match token.trim() {
                    "" => return Err(EndpointError::EmptyToken { source }),
                    token => (Some(token.to_owned()), Some(source)),
                }
            }
            (None, Some(path)) => {
                let source = Source::TokenFile(path.clone());
                let token = read_token(path, &source)?;
                (Some(token), Some(source))
            }
            (None, None) => match &env.token {
                Some(token) if !token.trim().is_empty() => {
                    (Some(token.trim().to_owned()), Some(Source::Env(TOKEN_ENV)))
                }
                _ => {
                    let path = &env.default_token_file;
                    let source = Source::DefaultTokenFile(path.clone());
                    match std::fs::metadata(path) {
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (None, None),
                        _ => (Some(read_token(path, &source)?), Some(source)),
                    }
                }
            },
        };
        Ok(Endpoint {
            url,
            url_source,
            token,
            token_source,
        })
    }
}

fn read_token(path: &Path, source: &Source) -> Result<String, EndpointError> {
    let text = std::fs::read_to_string(path).map_err(|error| EndpointError::TokenFile {
        source: source.clone(),
        error,
    })?;
    match text.trim() {
        "" => Err(EndpointError::EmptyToken {
            source: source.clone(),
        }),
        token => Ok(token.to_owned()),
    }
}

/// A light check, without a URL parser: `http://` or `https://`, then a host. Callers with
/// an HTTP client parse the URL fully and report what else is wrong.
fn check_url(url: &str) -> Result<(), &'static str> {
    let lower = url.to_ascii_lowercase();
    let Some(rest) = lower
        .strip_prefix("http://")
        .or_else(|| lower.strip_prefix("https://"))
    else {
        return Err(match url.contains("://") {
            true => "not an http or https URL",
            false => "no scheme (`http://`)",
        });
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    if host.is_empty() || host.starts_with(':') {
        return Err("no host");
    }
    if url.chars().any(char::is_whitespace) {
        return Err("contains whitespace");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scratch directory under the system's temporary directory, removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Scratch {
            let dir = std::env::temp_dir().join(format!(
                "hookline-contract-endpoint-{name}-{}",
                std::process::id()
            ));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Scratch(dir)
        }

        fn file(&self, name: &str, text: &str) -> PathBuf {
            let path = self.0.join(name);
            std::fs::write(&path, text).unwrap();
            path
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn env(url: Option<&str>, token: Option<&str>, default_token_file: &Path) -> Environment {
        Environment {
            url: url.map(str::to_owned),
            token: token.map(str::to_owned),
            default_token_file: default_token_file.to_owned(),
        }
    }

    fn flags(daemon: Option<&str>, token: Option<&str>, file: Option<&Path>) -> EndpointArgs {
        EndpointArgs {
            daemon: daemon.map(str::to_owned),
            token: token.map(str::to_owned),
            token_file: file.map(Path::to_owned),
        }
    }

    #[test]
    fn the_url_comes_from_the_flag_then_the_environment_then_the_default() {
        let none = Path::new("/nonexistent/hookline/api-token");
        let e = Endpoint::resolve(&flags(None, None, None), &env(None, None, none)).unwrap();
        assert_eq!(
            (e.url.as_str(), e.url_source),
            (DEFAULT_URL, Source::Default)
        );
        assert_eq!((e.token, e.token_source), (None, None));

        let from_env = env(Some("https://env.example:1"), None, none);
        let e = Endpoint::resolve(&flags(None, None, None), &from_env).unwrap();
        assert_eq!(
            (e.url.as_str(), e.url_source),
            ("https://env.example:1", Source::Env(URL_ENV))
        );

        let e = Endpoint::resolve(&flags(Some(" http://flag:2/ "), None, None), &from_env).unwrap();
        assert_eq!(
            (e.url.as_str(), e.url_source),
            ("http://flag:2/", Source::Flag(DAEMON_FLAG))
        );
    }

    #[test]
    fn the_token_comes_from_the_flags_then_the_environment_then_the_default_file() {
        let dir = Scratch::new("precedence");
        let default = dir.file("api-token", "from-default-file\n");
        let given = dir.file("given", "  from-token-file \n");
        let with_env = env(None, Some("from-env"), &default);
        let without_env = env(None, None, &default);

        let token = |args: EndpointArgs, env: &Environment| {
            let e = Endpoint::resolve(&args, env).unwrap();
            (e.token.unwrap(), e.token_source.unwrap())
        };
        assert_eq!(
            token(flags(None, Some(" from-flag "), None), &with_env),
            ("from-flag".into(), Source::Flag(TOKEN_FLAG))
        );
        assert_eq!(
            token(flags(None, None, Some(&given)), &with_env),
            ("from-token-file".into(), Source::TokenFile(given.clone()))
        );
        assert_eq!(
            token(flags(None, None, None), &with_env),
            ("from-env".into(), Source::Env(TOKEN_ENV))
        );
        assert_eq!(
            token(flags(None, None, None), &without_env),
            (
                "from-default-file".into(),
                Source::DefaultTokenFile(default)
            )
        );
    }

    #[test]
    fn bad_urls_are_refused_naming_their_source() {
        let none = Path::new("/nonexistent/hookline/api-token");
        let cases = [
            (
                Some("localhost:8420"),
                None,
                "--daemon `localhost:8420`: no scheme",
            ),
            (
                None,
                Some("ftp://x"),
                "HOOKLINE_URL `ftp://x`: not an http or https URL",
            ),
            (Some("http://"), None, "--daemon `http://`: no host"),
            (Some("http://:80/"), None, "--daemon `http://:80/`: no host"),
            (
                Some("http://a b"),
                None,
                "--daemon `http://a b`: contains whitespace",
            ),
        ];
        for (flag, var, expected) in cases {
            let err = Endpoint::resolve(&flags(flag, None, None), &env(var, None, none))
                .unwrap_err()
                .to_string();
            assert!(err.starts_with(expected), "{err}");
            assert!(err.contains(DEFAULT_URL), "{err}");
        }
        for good in [
            "HTTP://127.0.0.1:8420",
            "https://user@host/prefix",
            "http://[::1]:1",
        ] {
            assert_eq!(check_url(good), Ok(()), "{good}");
        }
    }

    #[test]
    fn token_errors_name_the_flag_or_file() {
        let dir = Scratch::new("errors");
        let empty = dir.file("empty", " \n");
        let missing = dir.0.join("missing");
        let none = env(None, None, &missing);
        let err = |args: EndpointArgs, env: &Environment| {
            Endpoint::resolve(&args, env).unwrap_err().to_string()
        };

        assert_eq!(
            err(flags(None, Some("t"), Some(&empty)), &none),
            "--token and --token-file both given: pass one of them"
        );
        assert_eq!(
            err(flags(None, Some(" "), None), &none),
            "--token: the token is empty"
        );
        assert_eq!(
            err(flags(None, None, Some(&empty)), &none),
            format!("--token-file {}: the file is empty", empty.display())
        );
        let e = err(flags(None, None, Some(&missing)), &none);
        assert!(
            e.starts_with(&format!(
                "--token-file {}: cannot read the token: ",
                missing.display()
            )),
            "{e}"
        );
        // An empty default token file is an error too; a missing one is no token.
        assert_eq!(
            err(flags(None, None, None), &env(None, None, &empty)),
            format!(
                "the default token file {}: the file is empty",
                empty.display()
            )
        );
        // A directory where the default file should be cannot be read.
        let e = err(flags(None, None, None), &env(None, None, &dir.0));
        assert!(e.starts_with("the default token file "), "{e}");
        // A blank HOOKLINE_API_TOKEN counts as unset.
        let blank = env(None, Some("  "), &missing);
        let resolved = Endpoint::resolve(&flags(None, None, None), &blank).unwrap();
        assert_eq!(resolved.token, None);
    }

    #[test]
    fn debug_output_hides_the_token() {
        let e = Endpoint {
            url: DEFAULT_URL.into(),
            url_source: Source::Default,
            token: Some("secret-token-value".into()),
            token_source: Some(Source::Flag(TOKEN_FLAG)),
        };
        let debug = format!("{e:?}");
        assert!(!debug.contains("secret-token-value"), "{debug}");
        assert!(debug.contains("<redacted>"), "{debug}");
    }
}
