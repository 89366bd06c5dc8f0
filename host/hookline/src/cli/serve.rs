//! `hookline serve`: the headless daemon.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
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
            return Ok(ExitCode::from(2));
        }
    };
    init_logging(&config.log.level, config.log.format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("hookline")
        .build()
        .context("starting the async runtime")?;
    match runtime.block_on(daemon::serve(config)) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) => {
            eprintln!("hookline: {e}");
            Ok(ExitCode::from(1))
        }
    }
}

/// Logs to stderr as text or JSON; `RUST_LOG` overrides the configured level.
pub(super) fn init_logging(level: &str, format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
