//! `hookline bench`: the reproducible load benchmark (see `hookline::bench`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};

use super::AtRuntime as _;
use clap::{Args, ValueEnum};
use hookline::bench::{self, BenchOptions, Scenario, StoreChoice};
use hookline::example_plugins::find_redact_plugin;

/// Arguments of `hookline bench`.
#[derive(Debug, Args)]
pub(super) struct BenchArgs {
    /// Scenario to run (repeatable): plain, plugin, fanout, flaky, backlog, isolation.
    /// Default: all (plugin only when a plugin is given or found).
    #[arg(long = "scenario", value_name = "NAME")]
    scenarios: Vec<String>,
    /// Events per scenario (default: each scenario's own; backlog 1,000,000; isolation
    /// publishes at 20/s, 200 by default and at most 1,000).
    #[arg(long)]
    events: Option<usize>,
    /// Concurrent publishers, the daemon's workers and the baseline client's concurrency.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Webhooks in the fanout scenario.
    #[arg(long, default_value_t = 1000)]
    webhooks: usize,
    /// Events per batch request.
    #[arg(long, default_value_t = 100)]
    batch: usize,
    /// Approximate event size in bytes.
    #[arg(long, default_value_t = 1024)]
    body_bytes: usize,
    /// Plugin for the plugin scenario (default: the built `redact` example, if found).
    #[arg(long)]
    plugin: Option<PathBuf>,
    /// The plugin's `plugin_config`, JSON (default: the `redact` example's, which removes
    /// `data.pad` and masks `resource.id`).
    #[arg(long, value_name = "JSON")]
    plugin_config: Option<String>,
    /// The `hookline` binary to run as the daemon (default: this one): compares another
    /// build with the same publisher, receiver and scenarios.
    #[arg(long, value_name = "FILE")]
    daemon_binary: Option<PathBuf>,
    /// Where the daemon's SQLite store lives.
    #[arg(long, value_enum, default_value_t = StoreArg::Sqlite)]
    store: StoreArg,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum StoreArg {
    /// On disk, every commit flushed.
    Sqlite,
    /// On a RAM-backed tmpfs (/dev/shm).
    Memory,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Output {
    Text,
    Json,
}

pub(super) fn bench(args: BenchArgs) -> anyhow::Result<ExitCode> {
    let plugin = args.plugin.clone().or_else(|| find_redact_plugin().found());
    let scenarios = if args.scenarios.is_empty() {
        Scenario::ALL
            .into_iter()
            .filter(|s| *s != Scenario::Plugin || plugin.is_some())
            .collect()
    } else {
        let mut out = Vec::new();
        for name in &args.scenarios {
            match Scenario::parse(name) {
                Some(s) => out.push(s),
                None => bail!(
                    "unknown scenario `{name}` (expected plain, plugin, fanout, flaky, backlog or isolation)"
                ),
            }
        }
        out
    };
    let plugin_config = match &args.plugin_config {
        Some(text) => Some(
            serde_json::from_str::<serde_json::Value>(text)
                .with_context(|| format!("--plugin-config is not JSON: {text}"))?,
        ),
        None => None,
    };
    let opts = BenchOptions {
        scenarios,
        events: args.events,
        concurrency: args.concurrency,
        webhooks: args.webhooks,
        batch: args.batch,
        body_bytes: args.body_bytes,
        plugin,
        plugin_config,
        store: match args.store {
            StoreArg::Sqlite => StoreChoice::Sqlite,
            StoreArg::Memory => StoreChoice::Memory,
        },
        hookline: match args.daemon_binary {
            Some(path) => path,
            None => std::env::current_exe().context("locating the hookline binary")?,
        },
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
        .at_runtime()?;
    let report = runtime.block_on(bench::run(&opts)).at_runtime()?;
    match args.output {
        Output::Text => print!("{}", report.to_text()),
        Output::Json => println!("{}", serde_json::to_string_pretty(&report)?),
    }
    if report.balanced() {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("hookline bench: a ledger did not balance");
        Ok(ExitCode::from(super::EXIT_RUNTIME))
    }
}
