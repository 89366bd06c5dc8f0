//! Command-line front end of the `hookline` binary.

mod bench;
mod client;
mod demo;
mod keys;
mod plugin;
mod serve;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Hookline: durable webhook delivery with pattern subscriptions and WebAssembly transforms.
#[derive(Debug, Parser)]
#[command(name = "hookline", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the headless daemon (API + delivery engine).
    Serve(serve::ServeArgs),
    /// A self-contained tour: daemon, flaky receiver, synthetic events (attach the console).
    Demo(demo::DemoArgs),
    /// Run the reproducible load benchmark against a real daemon.
    Bench(bench::BenchArgs),
    /// Generate signing secrets.
    #[command(subcommand)]
    Secret(keys::SecretCommand),
    /// Sign a body and print the signature header value.
    Sign(keys::SignArgs),
    /// Verify a captured request (headers + body); exits 1 with the reason when it fails.
    Verify(keys::VerifyArgs),
    /// Send one event to the daemon (prints the event id and how many deliveries it made).
    Emit(client::EmitArgs),
    /// Manage the daemon's webhooks: list, add, show, update, rm, pause, resume,
    /// rotate-secret.
    Webhooks(client::WebhooksArgs),
    /// Inspect and act on deliveries: list, show, retry, replay.
    Deliveries(client::DeliveriesArgs),
    /// Check a WebAssembly plugin, or run it on an event (or a stored delivery).
    #[command(subcommand)]
    Plugin(plugin::PluginCommand),
}

pub(crate) fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::serve(args),
        Command::Demo(args) => demo::demo(args),
        Command::Bench(args) => bench::bench(args),
        Command::Secret(cmd) => keys::secret(cmd),
        Command::Sign(args) => keys::sign(args),
        Command::Verify(args) => keys::verify(args),
        Command::Emit(args) => client::emit(args),
        Command::Webhooks(args) => client::webhooks(args),
        Command::Deliveries(args) => client::deliveries(args),
        Command::Plugin(cmd) => plugin::plugin(cmd),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}
