//! `hookline demo`: a daemon, a flaky receiver and synthetic events in one process, until
//! Ctrl-C. The work is in [`hookline::demo`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;

use super::AtRuntime as _;
use clap::Args;
use hookline::demo::{DEMO_DATA_DIR, Demo, DemoOptions};

/// How often the demo prints a line of progress.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);

/// Arguments of `hookline demo`.
#[derive(Debug, Args)]
pub(super) struct DemoArgs {
    /// Synthetic platform events per second.
    #[arg(long, default_value_t = 20.0)]
    rate: f64,
    /// The daemon's API address.
    #[arg(long, default_value = "127.0.0.1:8420")]
    listen: SocketAddr,
    /// Data directory (store and API token), apart from `serve`'s.
    #[arg(long, default_value = DEMO_DATA_DIR)]
    data_dir: PathBuf,
    /// The redact plugin (default: the built example under plugins/, if found).
    #[arg(long, value_name = "FILE.wasm")]
    plugin: Option<PathBuf>,
    /// Stop after this many seconds (default: run until Ctrl-C).
    #[arg(long, value_name = "SECONDS")]
    duration: Option<u64>,
}

pub(super) fn demo(args: DemoArgs) -> anyhow::Result<ExitCode> {
    super::serve::init_logging("warn", hookline::config::LogFormat::Text);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("hookline-demo")
        .build()
        .context("starting the async runtime")
        .at_runtime()?;
    runtime.block_on(async move {
        let demo = match Demo::start(DemoOptions {
            rate: args.rate,
            listen: args.listen,
            data_dir: args.data_dir,
            plugin: args.plugin,
        })
        .await
        {
            Ok(demo) => demo,
            Err(e) => {
                eprintln!("hookline demo: {e}");
                return Ok(ExitCode::from(super::EXIT_RUNTIME));
            }
        };
        println!("{}", demo.banner());
        let until = async {
            match args.duration {
                Some(s) => tokio::time::sleep(Duration::from_secs(s)).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(until);
        let mut progress = tokio::time::interval(PROGRESS_EVERY);
        progress.tick().await;
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => break,
                () = &mut until => break,
                _ = progress.tick() => println!("{}", demo.progress()),
            }
        }
        println!("hookline demo: stopping…");
        println!("{}", demo.progress());
        demo.stop(Duration::from_secs(2)).await;
        println!("hookline demo: stopped; its data stays in the data directory for next time");
        Ok(ExitCode::SUCCESS)
    })
}
