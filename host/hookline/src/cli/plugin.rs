//! `hookline plugin check` and `hookline plugin run`: try a plugin before deploying it.
//!
//! - `check FILE.wasm` compiles the file and links it against the `hookline:plugin` world:
//!   valid or not (and why), its imports (which the sandbox grants, which trap), exports,
//!   size and compile time. Exit code 0 when valid, 1 when not.
//! - `run FILE.wasm --event EVENT.json` transforms one event the way a delivery would and
//!   prints the request that would be sent (URL, content type, headers, body, pretty when it
//!   is JSON), the fuel used and the time. The event file is an ingest body
//!   (`{"type", "id"?, "resource", "data"}`) or a stored payload
//!   (`{"event", "timestamp", "resource", "data"}`).
//! - `run FILE.wasm --replay DELIVERY_ID` takes the event (and the webhook's URL and plugin
//!   config) of a stored delivery from a running daemon, runs the plugin on it, and prints a
//!   line diff between the body that was sent and the body the plugin returns now.
//!
//! - `new NAME --lang rust|js|python|c` (`plugin_new.rs`) writes a working skeleton.
//!
//! The plugin's own log lines go to stderr. Exit code 1 when the plugin fails (the error
//! kind is printed, as a delivery would record it).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use reqwest::header::AUTHORIZATION;

use super::AtRuntime;
use hookline_contract::endpoint::{Endpoint, EndpointArgs};

use hookline_core::event::format_timestamp;
use hookline_core::ids::new_id;
use hookline_core::model::DeliveryDetail;
use hookline_plugin::{
    ConfigCheckError, PluginError, PluginLimits, PluginRuntime, PluginRuntimeConfig,
    TransformInput, TransformOutput,
};

const DEFAULT_WEBHOOK_URL: &str = "https://receiver.example.com/webhook";

#[derive(Debug, Subcommand)]
pub(super) enum PluginCommand {
    /// Check that a file is a valid plugin: world, imports, exports, size, compile time.
    Check(CheckArgs),
    /// Run a plugin on one event and print the request it produces (or diff it against a
    /// stored delivery with --replay).
    Run(Box<RunArgs>),
    /// Write a working plugin skeleton (Rust, JavaScript, Python or C) into a new folder.
    New(super::plugin_new::NewArgs),
}

#[derive(Debug, Args)]
pub(super) struct CheckArgs {
    /// The plugin (a WebAssembly component built for wasm32-wasip2).
    file: PathBuf,
    /// A webhook's plugin config (JSON text, or @FILE) to check with the plugin's
    /// `check-config` export; the check fails if the plugin refuses it
    #[arg(long, value_name = "JSON")]
    config: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub(super) struct RunArgs {
    /// The plugin (a WebAssembly component built for wasm32-wasip2).
    file: PathBuf,
    /// The event: an ingest body {"type", "id"?, "resource", "data"} or a stored payload
    /// {"event", "timestamp", "resource", "data"}; `-` reads stdin.
    #[arg(long, value_name = "EVENT.json", required_unless_present = "replay")]
    event: Option<PathBuf>,
    /// The webhook's plugin config as JSON text, or @FILE (default `{}`; with --replay, the
    /// webhook's own config).
    #[arg(long, value_name = "JSON")]
    config: Option<String>,
    /// The webhook URL the plugin sees (with --replay, the webhook's own URL).
    #[arg(long, value_name = "URL")]
    webhook_url: Option<String>,
    /// The webhook id the plugin sees.
    #[arg(long, value_name = "ID", default_value = "test")]
    webhook_id: String,
    /// Run on a stored delivery fetched from a running daemon and diff against what was
    /// sent.
    #[arg(long, value_name = "DELIVERY_ID", conflicts_with = "event")]
    replay: Option<String>,
    /// The daemon's API URL, for --replay [env: HOOKLINE_URL] [default:
    /// http://127.0.0.1:8420].
    #[arg(long, value_name = "URL")]
    daemon: Option<String>,
    /// The API bearer token, for --replay [env: HOOKLINE_API_TOKEN] (default: the contents
    /// of ./hookline-data/api-token, when present).
    #[arg(long, value_name = "TOKEN")]
    token: Option<String>,
    /// A file holding the API bearer token, for --replay (instead of --token).
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// Fuel budget of the call.
    #[arg(long, default_value_t = PluginLimits::default().fuel)]
    fuel: u64,
    /// Deadline of the call, in milliseconds.
    #[arg(long, default_value_t = PluginLimits::default().deadline.as_millis() as u64)]
    timeout_ms: u64,
    /// Memory cap of the call, in MiB.
    #[arg(long, default_value_t = (PluginLimits::default().memory_bytes >> 20) as u64)]
    memory_mb: u64,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

pub(super) fn plugin(command: PluginCommand) -> anyhow::Result<ExitCode> {
    match command {
        PluginCommand::Check(args) => check(args),
        PluginCommand::Run(args) => run(*args),
        PluginCommand::New(args) => super::plugin_new::new(args).map(|()| ExitCode::SUCCESS),
    }
}

fn runtime(limits: PluginLimits) -> anyhow::Result<PluginRuntime> {
    // Show the plugin's log lines (and nothing else of the library's) on stderr.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            "warn,hookline::plugin=debug",
        ))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .without_time()
        .try_init();
    PluginRuntime::new(PluginRuntimeConfig {
        max_memory_bytes: limits.memory_bytes,
        limits,
        max_concurrent_calls: 1,
        ..PluginRuntimeConfig::default()
    })
    .context("starting the plugin runtime")
}

/// What the sandbox does with an import, for `check`.
fn describe_import(name: &str) -> &'static str {
    let interface = name.split('@').next().unwrap_or(name);
    match interface {
        "log" => "the host's log",
        "hookline:plugin/types" => "the world's types",
        "wasi:cli/stdout" | "wasi:cli/stderr" => "captured (shown when the plugin traps)",
        "wasi:cli/environment" => "empty environment and arguments",
        "wasi:filesystem/preopens" => "no directories",
        "wasi:random/random" | "wasi:random/insecure" | "wasi:random/insecure-seed" => {
            "bytes derived from the delivery (deterministic, not secret)"
        }
        "wasi:clocks/wall-clock" | "wasi:clocks/monotonic-clock" => {
            "the attempt's time, frozen for the call"
        }
        "wasi:io/streams" | "wasi:io/poll" | "wasi:io/error" => "stdout/stderr only",
        "wasi:cli/terminal-input"
        | "wasi:cli/terminal-output"
        | "wasi:cli/terminal-stdin"
        | "wasi:cli/terminal-stdout"
        | "wasi:cli/terminal-stderr" => "not a terminal",
        _ if interface.starts_with("wasi:") => "denied: traps if called",
        _ => "unknown",
    }
}

fn check(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let runtime = runtime(PluginLimits::default())?;
    let config = args
        .config
        .as_deref()
        .map(|c| read_config(c).and_then(|c| with_script_file(&args.file, c)))
        .transpose()?;
    match runtime.compile_uncached(&args.file) {
        Ok(plugin) => {
            let info = plugin.info();
            let verdict = config
                .as_deref()
                .map(|config| runtime.check_config(&plugin, config));
            let (config_text, config_ok) = match &verdict {
                None if info.checks_config => (
                    "checked before the first delivery (`check-config`; pass --config to try one)"
                        .to_owned(),
                    true,
                ),
                None => (
                    "read at the first delivery (no `check-config`: a plugin of world 0.1.0)"
                        .to_owned(),
                    true,
                ),
                Some(Ok(())) if info.checks_config => ("--config accepted".to_owned(), true),
                Some(Ok(())) => (
                    "--config not checked (no `check-config`: a plugin of world 0.1.0)".to_owned(),
                    true,
                ),
                Some(Err(ConfigCheckError::Refused(message))) => {
                    (format!("--config refused: {message}"), false)
                }
                Some(Err(ConfigCheckError::Plugin(error))) => {
                    (format!("--config could not be checked: {error}"), false)
                }
            };
            if args.json {
                let imports: Vec<_> = info
                    .imports
                    .iter()
                    .map(|n| serde_json::json!({"name": n, "sandbox": describe_import(n)}))
                    .collect();
                let out = serde_json::json!({
                    "file": args.file,
                    "valid": true,
                    "world": info.world,
                    "size_bytes": plugin.size(),
                    "sha256": plugin.sha256_hex(),
                    "compile_ms": plugin.compile_time().as_secs_f64() * 1000.0,
                    "exports": info.exports,
                    "imports": imports,
                    "checks_config": info.checks_config,
                    "config": verdict.as_ref().map(|v| match v {
                        Ok(()) => serde_json::json!({"accepted": true}),
                        Err(e) => serde_json::json!({"accepted": false, "error": e.to_string()}),
                    }),
                });
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                let mut out = String::new();
                writeln!(
                    out,
                    "{}: valid plugin for {}",
                    args.file.display(),
                    info.world
                )?;
                writeln!(
                    out,
                    "size:     {} (sha256 {})",
                    human_size(plugin.size()),
                    plugin.sha256_hex()
                )?;
                writeln!(
                    out,
                    "compiled: in {}",
                    human_duration(plugin.compile_time())
                )?;
                writeln!(out, "exports:  {}", info.exports.join(", "))?;
                writeln!(out, "config:   {config_text}")?;
                writeln!(out, "imports:")?;
                let width = info.imports.iter().map(String::len).max().unwrap_or(0);
                for name in &info.imports {
                    writeln!(out, "  {name:<width$}  {}", describe_import(name))?;
                }
                print!("{out}");
            }
            Ok(if config_ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Err(e) => {
            if args.json {
                let out = serde_json::json!({
                    "file": args.file,
                    "valid": false,
                    "error_kind": e.kind(),
                    "error": e.to_string(),
                });
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                let why = match &e {
                    PluginError::Load { message, .. } => message.clone(),
                    other => other.to_string(),
                };
                println!("{}: invalid: {why}", args.file.display());
            }
            Ok(ExitCode::FAILURE)
        }
    }
}

/// The webhook and delivery a replay starts from.
struct Replay {
    input: TransformInput,
    /// The body that was sent (the transformed one, or the payload).
    sent: Vec<u8>,
}

fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let limits = PluginLimits {
        fuel: args.fuel,
        deadline: Duration::from_millis(args.timeout_ms.max(1)),
        memory_bytes: usize::try_from(args.memory_mb.max(1) << 20).unwrap_or(usize::MAX),
    };
    let config = args
        .config
        .as_deref()
        .map(|c| read_config(c).and_then(|c| with_script_file(&args.file, c)))
        .transpose()?;
    let replay = match &args.replay {
        Some(id) => {
            // The same resolution, precedence and messages as the other clients and the
            // console; a bad flag is a usage error, an unreachable daemon a runtime one.
            let endpoint = Endpoint::from_args(&EndpointArgs {
                daemon: args.daemon.clone(),
                token: args.token.clone(),
                token_file: args.token_file.clone(),
            })?;
            Some(fetch_replay(&args, &endpoint, id, config.as_deref()).at_runtime()?)
        }
        None => None,
    };
    let input = match &replay {
        Some(replay) => replay.input.clone(),
        None => {
            let path = args
                .event
                .as_deref()
                .context("--event EVENT.json is required (or --replay DELIVERY_ID)")?;
            let json = read_input(path)?;
            TransformInput::from_event_json(
                &json,
                &new_id("evt"),
                &format_timestamp(&chrono::Utc::now()),
                &args.webhook_id,
                args.webhook_url.as_deref().unwrap_or(DEFAULT_WEBHOOK_URL),
                config.as_deref().unwrap_or("{}"),
            )
            .map_err(|e| anyhow::anyhow!("--event {}: {e}", path.display()))?
        }
    };
    let webhook_url = input.webhook_url.clone();

    let runtime = runtime(limits)?;
    let plugin = match runtime.load(&args.file) {
        Ok(plugin) => plugin,
        Err(e) => return Ok(report_error(&e, args.json)),
    };
    let output = match runtime.transform(&plugin, input, &limits) {
        Ok(output) => output,
        Err(e) => return Ok(report_error(&e, args.json)),
    };

    if args.json {
        let mut out = match &output {
            TransformOutput::Send {
                body,
                content_type,
                headers,
                url,
                ..
            } => serde_json::json!({
                "outcome": "send",
                "url": url.as_deref().unwrap_or(&webhook_url),
                "content_type": content_type.as_deref().unwrap_or("application/json"),
                "headers": headers,
                "body": String::from_utf8_lossy(body),
            }),
            TransformOutput::Skip { reason, .. } => {
                serde_json::json!({"outcome": "skip", "reason": reason})
            }
        };
        out["fuel_used"] = output.fuel_used().into();
        out["time_ms"] = (output.duration().as_secs_f64() * 1000.0).into();
        out["compile_ms"] = (plugin.compile_time().as_secs_f64() * 1000.0).into();
        if let (Some(replay), TransformOutput::Send { body, .. }) = (&replay, &output) {
            out["sent"] = String::from_utf8_lossy(&replay.sent).into();
            out["changed"] = (pretty(&replay.sent) != pretty(body)).into();
        }
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }

    let mut out = String::new();
    match &output {
        TransformOutput::Send {
            body,
            content_type,
            headers,
            url,
            ..
        } => {
            writeln!(out, "outcome:      send")?;
            match url {
                Some(url) => writeln!(out, "url:          {url} (chosen by the plugin)")?,
                None => writeln!(out, "url:          {webhook_url}")?,
            }
            writeln!(
                out,
                "content-type: {}",
                content_type.as_deref().unwrap_or("application/json")
            )?;
            if headers.is_empty() {
                writeln!(out, "headers:      none added")?;
            } else {
                writeln!(out, "headers:")?;
                for (name, value) in headers {
                    writeln!(out, "  {name}: {value}")?;
                }
            }
            match &replay {
                Some(replay) => {
                    let before = pretty(&replay.sent);
                    let after = pretty(body);
                    if before == after {
                        writeln!(out, "body:         unchanged ({} bytes)", body.len())?;
                    } else {
                        writeln!(out, "body diff (- sent, + now):")?;
                        out.push_str(&diff(&before, &after));
                    }
                }
                None => {
                    writeln!(out, "body ({} bytes):", body.len())?;
                    for line in pretty(body).lines() {
                        writeln!(out, "  {line}")?;
                    }
                }
            }
        }
        TransformOutput::Skip { reason, .. } => {
            writeln!(out, "outcome:      skip")?;
            writeln!(out, "reason:       {reason}")?;
            if replay.is_some() {
                writeln!(out, "(the delivery was sent; the plugin would now skip it)")?;
            }
        }
    }
    writeln!(
        out,
        "fuel used:    {} of {}",
        thousands(output.fuel_used()),
        thousands(limits.fuel)
    )?;
    writeln!(
        out,
        "time:         {} (compile {})",
        human_duration(output.duration()),
        human_duration(plugin.compile_time())
    )?;
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

fn report_error(e: &PluginError, json: bool) -> ExitCode {
    if json {
        let out =
            serde_json::json!({"outcome": "error", "error_kind": e.kind(), "error": e.to_string()});
        println!("{out:#}");
    } else {
        println!("outcome:      error ({})", e.kind());
        println!("error:        {e}");
    }
    ExitCode::FAILURE
}

/// `--config`: JSON text, or `@FILE`; must be a JSON object.
fn read_config(arg: &str) -> anyhow::Result<String> {
    let text = match arg.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path).with_context(|| format!("--config {arg}"))?,
        None => arg.to_owned(),
    };
    let value: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("--config: not JSON: {text}"))?;
    if !value.is_object() {
        bail!("--config must be a JSON object, got {text}");
    }
    Ok(value.to_string())
}

/// `--config` of `builtin:javascript` may name a `script_file` (relative to the current
/// directory): read into `script` here, as the daemon reads it at start.
fn with_script_file(plugin: &Path, config: String) -> anyhow::Result<String> {
    match hookline::config::resolve_script_file(plugin, &config, None) {
        Ok(Some(resolved)) => Ok(resolved),
        Ok(None) => Ok(config),
        Err((key, message)) => bail!("--config{key}: {message}"),
    }
}

fn read_input(path: &Path) -> anyhow::Result<Vec<u8>> {
    if path == Path::new("-") {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf).context("reading stdin")?;
        Ok(buf)
    } else {
        std::fs::read(path).with_context(|| format!("reading {}", path.display()))
    }
}

/// Fetches a stored delivery and its webhook from the daemon.
fn fetch_replay(
    args: &RunArgs,
    endpoint: &Endpoint,
    id: &str,
    config: Option<&str>,
) -> anyhow::Result<Replay> {
    let base = reqwest::Url::parse(&endpoint.url)
        .with_context(|| format!("the daemon URL `{}`", endpoint.url))?;
    let token = endpoint.token.clone();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .build()
            .context("building the HTTP client")?;
        let get = |segments: Vec<String>| {
            let mut url = base.clone();
            if let Ok(mut path) = url.path_segments_mut() {
                path.pop_if_empty().extend(&segments);
            }
            let mut request = http.get(url.clone());
            if let Some(token) = &token {
                request = request.header(AUTHORIZATION, format!("Bearer {token}"));
            }
            async move {
                let response = request
                    .send()
                    .await
                    .with_context(|| format!("GET {url}: daemon unreachable"))?;
                let status = response.status();
                let body = response
                    .bytes()
                    .await
                    .with_context(|| format!("GET {url}"))?;
                if !status.is_success() {
                    bail!("GET {url}: {status}: {}", String::from_utf8_lossy(&body));
                }
                Ok::<_, anyhow::Error>(body)
            }
        };
        let body = get(vec!["v1".into(), "deliveries".into(), id.to_owned()]).await?;
        let detail: DeliveryDetail =
            serde_json::from_slice(&body).context("reading the delivery")?;
        let webhook_id = detail.summary.webhook_id.clone();
        let webhook: serde_json::Value =
            match get(vec!["v1".into(), "webhooks".into(), webhook_id.clone()]).await {
                Ok(body) => serde_json::from_slice(&body).context("reading the webhook")?,
                // Deleted since: replay with what the delivery itself tells.
                Err(_) => serde_json::Value::Null,
            };
        let payload = serde_json::to_vec(&detail.payload)?;
        let sent = detail
            .attempts_detail
            .iter()
            .rev()
            .find_map(|a| a.request_body.clone())
            .map(String::into_bytes)
            .unwrap_or_else(|| payload.clone());
        let url = args
            .webhook_url
            .clone()
            .or_else(|| webhook["url"].as_str().map(str::to_owned))
            .or_else(|| detail.attempts_detail.last().map(|a| a.url.clone()))
            .unwrap_or_else(|| DEFAULT_WEBHOOK_URL.to_owned());
        let stored_config = match &webhook["plugin_config"] {
            serde_json::Value::Null => "{}".to_owned(),
            value => value.to_string(),
        };
        let input = TransformInput::from_payload(
            &detail.summary.event_id,
            &payload,
            &webhook_id,
            &url,
            config.unwrap_or(&stored_config),
        )
        .map_err(|e| anyhow::anyhow!("delivery {id}: {e}"))?;
        Ok(Replay { input, sent })
    })
}

/// JSON pretty-printed; anything else as (lossy) text.
fn pretty(body: &[u8]) -> String {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(value) => serde_json::to_string_pretty(&value).unwrap_or_default(),
        Err(_) => String::from_utf8_lossy(body).into_owned(),
    }
}

/// A line diff (`-` only before, `+` only after, ` ` both), by `similar` (Myers; lines
/// compared as `str::lines` splits them, so a missing final newline is no difference). A
/// diff that takes over a second is given up for a coarser one rather than waited for.
fn diff(before: &str, after: &str) -> String {
    use similar::{ChangeTag, TextDiff};
    let a: Vec<&str> = before.lines().collect();
    let b: Vec<&str> = after.lines().collect();
    let diff = TextDiff::configure()
        .timeout(Duration::from_secs(1))
        .diff_slices(&a, &b);
    let mut out = String::new();
    for change in diff.iter_all_changes() {
        let mark = match change.tag() {
            ChangeTag::Delete => '-',
            ChangeTag::Insert => '+',
            ChangeTag::Equal => ' ',
        };
        let _ = writeln!(out, "{mark} {}", change.value());
    }
    out
}

fn human_size(bytes: u64) -> String {
    if bytes >= 1 << 20 {
        format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
    } else if bytes >= 1 << 10 {
        format!("{:.1} KiB", bytes as f64 / f64::from(1 << 10))
    } else {
        format!("{bytes} B")
    }
}

fn human_duration(d: Duration) -> String {
    if d >= Duration::from_secs(1) {
        format!("{:.2} s", d.as_secs_f64())
    } else if d >= Duration::from_millis(1) {
        format!("{:.2} ms", d.as_secs_f64() * 1e3)
    } else {
        format!("{:.0} µs", d.as_secs_f64() * 1e6)
    }
}

/// `12,345,678`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_marks_removed_and_added_lines() {
        let before = "{\n  \"a\": 1,\n  \"prompt\": \"secret\",\n  \"z\": 2\n}";
        let after = "{\n  \"a\": 1,\n  \"prompt\": \"[redacted]\",\n  \"z\": 2\n}";
        assert_eq!(
            diff(before, after),
            "  {\n    \"a\": 1,\n-   \"prompt\": \"secret\",\n+   \"prompt\": \"[redacted]\",\n    \"z\": 2\n  }\n"
        );
        assert_eq!(diff("x", "x"), "  x\n");
        assert_eq!(diff("", "y"), "+ y\n");
    }

    #[test]
    fn numbers_and_sizes_read_well() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(1234), "1,234");
        assert_eq!(thousands(100_000_000), "100,000,000");
        assert_eq!(human_size(512), "512 B");
        assert_eq!(human_size(97_473), "95.2 KiB");
        assert_eq!(human_duration(Duration::from_micros(42)), "42 µs");
        assert_eq!(human_duration(Duration::from_millis(1500)), "1.50 s");
    }

    #[test]
    fn imports_are_described_by_what_the_sandbox_does() {
        assert_eq!(describe_import("log"), "the host's log");
        assert_eq!(
            describe_import("wasi:cli/stderr@0.2.6"),
            "captured (shown when the plugin traps)"
        );
        assert_eq!(
            describe_import("wasi:clocks/wall-clock@0.2.6"),
            "the attempt's time, frozen for the call"
        );
        assert_eq!(
            describe_import("wasi:filesystem/types@0.2.6"),
            "denied: traps if called"
        );
    }

    #[test]
    fn config_must_be_an_object() {
        assert_eq!(read_config(r#"{"a": 1}"#).unwrap(), r#"{"a":1}"#);
        assert!(read_config("[1]").is_err());
        assert!(read_config("nope").is_err());
    }
}
