//! `hookline-console`: argument parsing only; the console is the library's.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser;
use hookline_console::app::Options;
use hookline_console::run::{RunOptions, run};

/// Where `hookline serve` writes its generated token, relative to its working directory.
const DEFAULT_TOKEN_FILE: &str = "hookline-data/api-token";

/// Hookline's terminal console: live views of a running daemon over its HTTP API.
#[derive(Debug, Parser)]
#[command(name = "hookline-console", version, about)]
struct Cli {
    /// The daemon's API.
    #[arg(long, default_value = "http://127.0.0.1:8420")]
    url: String,
    /// A file holding the API token. Without it: HOOKLINE_API_TOKEN, else
    /// `hookline-data/api-token` when present.
    #[arg(long)]
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
    match real_main() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hookline-console: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn real_main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let token = resolve_token(cli.token_file.as_deref())?;
    let color = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let stats_path = std::env::var_os("HOOKLINE_CONSOLE_STATS")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    let opts = RunOptions {
        app: Options {
            url: cli.url,
            read_only: cli.read_only,
            auto_disable_after_seconds: cli.auto_disable_after,
            color,
        },
        token,
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

/// `--token-file`, else `HOOKLINE_API_TOKEN`, else the default token file when present.
fn resolve_token(file: Option<&Path>) -> anyhow::Result<Option<String>> {
    let read = |path: &Path| -> anyhow::Result<String> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the token file {}", path.display()))?;
        let token = text.trim().to_owned();
        anyhow::ensure!(
            !token.is_empty(),
            "the token file {} is empty",
            path.display()
        );
        Ok(token)
    };
    if let Some(path) = file {
        return read(path).map(Some);
    }
    if let Some(token) = std::env::var("HOOKLINE_API_TOKEN")
        .ok()
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
    {
        return Ok(Some(token));
    }
    let default = Path::new(DEFAULT_TOKEN_FILE);
    if default.exists() {
        return read(default).map(Some);
    }
    Ok(None)
}
