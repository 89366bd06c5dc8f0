//! `hookline serve`: the headless daemon; `hookline keys`: its encryption key.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

use super::AtRuntime as _;
use clap::{Args, Subcommand};
use hookline::config::{Config, LogFormat};
use hookline::daemon;

/// Arguments of `hookline serve`.
#[derive(Debug, Args)]
pub(super) struct ServeArgs {
    /// Config file (TOML). Without one, the embedded defaults (see hookline.example.toml).
    #[arg(long, short = 'c', env = "HOOKLINE_CONFIG")]
    config: Option<PathBuf>,
}

pub(super) fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let config = match Config::from_env_and_file(args.config.as_deref()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("hookline: invalid configuration:\n{e}");
            return Ok(ExitCode::from(super::EXIT_USAGE));
        }
    };
    init_logging(&config.log.level, config.log.format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("hookline")
        .build()
        .context("starting the async runtime")
        .at_runtime()?;
    match runtime.block_on(daemon::serve(config)) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) => {
            eprintln!("hookline: {e}");
            Ok(ExitCode::from(super::EXIT_RUNTIME))
        }
    }
}

/// `hookline keys`.
#[derive(Debug, Subcommand)]
pub(super) enum KeysCommand {
    /// Re-seal every stored webhook secret under a new encryption key (the one the daemon
    /// generated in its data dir). Stop the daemon first; an interrupted rotation is
    /// finished by running it again.
    Rotate(ServeArgs),
}

pub(super) fn keys(cmd: KeysCommand) -> anyhow::Result<ExitCode> {
    let KeysCommand::Rotate(args) = cmd;
    let config = match Config::from_env_and_file(args.config.as_deref()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("hookline: invalid configuration:\n{e}");
            return Ok(ExitCode::from(super::EXIT_USAGE));
        }
    };
    init_logging(&config.log.level, config.log.format);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
        .at_runtime()?;
    match runtime.block_on(daemon::rotate_key(&config)) {
        Ok(done) => {
            match done.webhooks {
                Some(n) => println!(
                    "hookline: re-sealed the secrets of {n} webhook(s) under a new key in {}",
                    done.key_file.display()
                ),
                None => println!(
                    "hookline: the running daemon re-sealed every webhook's secrets under a \
                     new key in {}",
                    done.key_file.display()
                ),
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("hookline: {e}");
            Ok(ExitCode::from(super::EXIT_RUNTIME))
        }
    }
}

/// Logs to stderr as text or JSON; `RUST_LOG` overrides the configured level. Text is
/// coloured only when stderr is a terminal and `NO_COLOR` is unset or empty, so a log file
/// or a pipe gets no ANSI escapes.
pub(super) fn init_logging(level: &str, format: LogFormat) {
    use std::io::IsTerminal as _;
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = use_colour(
        std::io::stderr().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
    );
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// Colour on a terminal unless `NO_COLOR` is set to something (<https://no-color.org>).
fn use_colour(writer_is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    writer_is_terminal && no_color.is_none_or(|v| v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::use_colour;
    use std::ffi::OsStr;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(use_colour(true, None));
        assert!(use_colour(true, Some(OsStr::new(""))));
        assert!(!use_colour(true, Some(OsStr::new("1"))));
        assert!(!use_colour(false, None));
        assert!(!use_colour(false, Some(OsStr::new(""))));
    }
}
