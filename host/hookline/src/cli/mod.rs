//! Command-line front end of the `hookline` binary.
//!
//! Exit codes, the same for every subcommand and for `hookline-console`:
//!
//! | code | meaning |
//! |------|---------|
//! | 0 | done |
//! | 1 | failed while running: an unreachable daemon, an API error, a failed verification, the daemon stopping on an error, an unbalanced bench ledger |
//! | 2 | usage or configuration error: a bad flag (clap), URL, token file, input file or config file; nothing was done |
//!
//! A command returns its own [`ExitCode`] for the outcomes it reports itself; an `Err` is a
//! usage error (2) unless it is a [`RuntimeFailure`] (1), see [`AtRuntime`].

mod bench;
mod client;
mod demo;
mod keys;
mod plugin;
mod plugin_new;
mod serve;

use std::fmt;
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
    /// Manage the key sealing webhook secrets at rest: rotate.
    #[command(subcommand)]
    Keys(serve::KeysCommand),
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
    /// Manage the daemon's API tokens and their scopes: create, list, revoke.
    Tokens(client::TokensArgs),
    /// Check a WebAssembly plugin, or run it on an event (or a stored delivery).
    #[command(subcommand)]
    Plugin(plugin::PluginCommand),
}

/// Exit code of a failure while running.
pub(super) const EXIT_RUNTIME: u8 = 1;
/// Exit code of a usage or configuration error (clap's own usage errors exit 2 as well).
pub(super) const EXIT_USAGE: u8 = 2;

/// An error that happened while running, not because of the command line: exits
/// [`EXIT_RUNTIME`].
#[derive(Debug)]
pub(super) struct RuntimeFailure(anyhow::Error);

impl fmt::Display for RuntimeFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#}", self.0)
    }
}

impl std::error::Error for RuntimeFailure {}

/// Marks a result's error as a [`RuntimeFailure`].
pub(super) trait AtRuntime<T> {
    /// The error, if any, exits 1 rather than 2.
    fn at_runtime(self) -> anyhow::Result<T>;
}

impl<T, E: Into<anyhow::Error>> AtRuntime<T> for Result<T, E> {
    fn at_runtime(self) -> anyhow::Result<T> {
        self.map_err(|e| RuntimeFailure(e.into()).into())
    }
}

/// The exit code for a command's error: 1 for a [`RuntimeFailure`], else 2.
fn exit_code_of(err: &anyhow::Error) -> u8 {
    match err.is::<RuntimeFailure>() {
        true => EXIT_RUNTIME,
        false => EXIT_USAGE,
    }
}

pub(crate) fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::serve(args),
        Command::Demo(args) => demo::demo(args),
        Command::Bench(args) => bench::bench(args),
        Command::Keys(cmd) => serve::keys(cmd),
        Command::Secret(cmd) => keys::secret(cmd),
        Command::Sign(args) => keys::sign(args),
        Command::Verify(args) => keys::verify(args),
        Command::Emit(args) => client::emit(args),
        Command::Webhooks(args) => client::webhooks(args),
        Command::Deliveries(args) => client::deliveries(args),
        Command::Tokens(args) => client::tokens(args),
        Command::Plugin(cmd) => plugin::plugin(cmd),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(exit_code_of(&err))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_failures_exit_1_and_everything_else_2() {
        let usage = anyhow::anyhow!("--header `x`: expected `Name: value`");
        assert_eq!(exit_code_of(&usage), EXIT_USAGE);
        let runtime = Err::<(), _>(std::io::Error::other("disk on fire"))
            .at_runtime()
            .unwrap_err();
        assert_eq!(exit_code_of(&runtime), EXIT_RUNTIME);
        // Context added on top keeps the classification, and the message.
        let wrapped = runtime.context("running the benchmark");
        assert_eq!(exit_code_of(&wrapped), EXIT_RUNTIME);
        assert_eq!(
            format!("{wrapped:#}"),
            "running the benchmark: disk on fire"
        );
    }

    #[test]
    fn clap_usage_errors_exit_2_like_ours() {
        use clap::Parser as _;
        let err = Cli::try_parse_from(["hookline", "webhooks", "list", "--bogus"]).unwrap_err();
        assert_eq!(err.exit_code(), i32::from(EXIT_USAGE));
        // `--url` after `webhooks` is the webhook's (on add/update) and nothing else.
        let err = Cli::try_parse_from(["hookline", "webhooks", "--url", "x", "list"]).unwrap_err();
        assert_eq!(err.exit_code(), i32::from(EXIT_USAGE));
        let cli = Cli::try_parse_from([
            "hookline",
            "webhooks",
            "add",
            "--url",
            "https://hook",
            "--events",
            "*",
            "--daemon",
            "http://api:1",
        ]);
        assert!(cli.is_ok(), "{cli:?}");
    }
}
