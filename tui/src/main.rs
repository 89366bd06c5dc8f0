//! `hookline-console`: argument parsing only; the console is the library's.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser;
use hookline_console::app::Options;
use hookline_console::run::{RunOptions, run};
use hookline_contract::endpoint::{Endpoint, EndpointArgs};

/// Exit code of a usage or configuration error (clap's own usage errors exit 2 too).
const EXIT_USAGE: u8 = 2;
/// Exit code of a failure while running (the terminal, the runtime).
const EXIT_RUNTIME: u8 = 1;

/// Hookline's terminal console: live views of a running daemon over its HTTP API.
#[derive(Debug, Parser)]
#[command(name = "hookline-console", version, about)]
struct Cli {
    /// The daemon's API URL [env: HOOKLINE_URL] [default: http://127.0.0.1:8420]. `--url`
    /// is accepted too, as before.
    #[arg(long, alias = "url", value_name = "URL")]
    daemon: Option<String>,
    /// The API bearer token [env: HOOKLINE_API_TOKEN] (default: the contents of
    /// ./hookline-data/api-token, when present). Prefer --token-file: flags are visible to
    /// other users of the machine.
    #[arg(long, value_name = "TOKEN")]
    token: Option<String>,
    /// A file holding the API bearer token (instead of --token).
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// Hide and refuse actions that change the daemon (retry, replay, pause/resume).
    #[arg(long)]
    read_only: bool,
    /// The daemon's `delivery.auto_disable_after_seconds`, which its API does not expose,
    /// for the "near auto-disable" warning (0 = the daemon never auto-disables).
    #[arg(long, value_name = "SECONDS", default_value_t = 432_000)]
    auto_disable_after: u64,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The same resolution, precedence and messages as `hookline`'s API clients.
    let endpoint = match Endpoint::from_args(&EndpointArgs {
        daemon: cli.daemon.clone(),
        token: cli.token.clone(),
        token_file: cli.token_file.clone(),
    }) {
        Ok(endpoint) => endpoint,
        Err(e) => {
            eprintln!("hookline-console: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    match real_main(cli, endpoint) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hookline-console: {e:#}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}

fn real_main(cli: Cli, endpoint: Endpoint) -> anyhow::Result<()> {
    let color = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let stats_path = std::env::var_os("HOOKLINE_CONSOLE_STATS")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    let opts = RunOptions {
        app: Options {
            url: endpoint.url,
            read_only: cli.read_only,
            read_only_reason: None,
            auto_disable_after_seconds: cli.auto_disable_after,
            color,
        },
        token: endpoint.token,
        stats_path,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("hookline-console")
        .build()
        .context("starting the async runtime")?;
    let result = runtime.block_on(run(opts));
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    result.map_err(Into::into)
}
