//! `hookline.example.toml` is generated from `host/hookline/config.default.toml`, the one
//! place defaults and their documentation live, so the two cannot contradict each other.
//!
//! The example is the defaults file, word for word, with three changes: its own opening
//! paragraph ([`INTRO`]), loopback allowed for the local receiver ([`EXAMPLE_NETWORKS`]), and
//! two concrete webhooks after the commented reference entry ([`EXAMPLE_WEBHOOKS`]).
//!
//! When this test fails, edit `config.default.toml` (or the pieces below) and regenerate:
//!
//! ```sh
//! HOOKLINE_BLESS=1 cargo test -p hookline --test it example
//! ```

use std::path::PathBuf;

/// Replaces the defaults' first paragraph (up to its first `#` line).
const INTRO: &str = "\
# Hookline example configuration: every key, its default and what it means, plus two
# example webhooks.
#
#   cp hookline.example.toml hookline.toml && hookline serve --config hookline.toml
#
# Generated from host/hookline/config.default.toml (the defaults compiled into the binary)
# and the example parts in host/hookline/tests/it/example_config.rs: edit those, not this
# file (a test fails when they disagree). A key you leave out of your file keeps its
# default; this example changes only `security.allowed_networks` and adds two webhooks.
";

/// The defaults' line this example changes ...
const DEFAULT_NETWORKS: &str = "allowed_networks = []\n";
/// ... and what it says instead.
const EXAMPLE_NETWORKS: &str = "\
# This example: loopback, for the local receiver of the `billing` webhook below.
allowed_networks = [\"127.0.0.0/8\", \"::1/128\"]
";

/// Appended after the defaults' commented `[[webhooks]]` reference.
const EXAMPLE_WEBHOOKS: &str = r##"
# Two examples.

[[webhooks]]
id = "billing"
# A local receiver (allowed above by `security.allowed_networks`).
url = "http://127.0.0.1:9000/hook"
events = ["task.*", "session.created"]
# Standard Webhooks: webhook-id, webhook-timestamp, webhook-signature.
scheme = "standard"
# Left out, the secret is generated on first start (`hookline webhooks show billing` tells
# its prefix; `hookline webhooks rotate-secret billing` shows a new one once).
# secret = "whsec_..."
headers = { "X-Team" = "billing" }
timeout_seconds = 5
max_attempts = 5
retry_schedule_seconds = [5, 300, 1800]
# At most 50 requests per second, 2 at a time.
rate_limit_per_second = 50
max_concurrency = 2
enabled = true
description = "Invoices: task results and new sessions"

[[webhooks]]
id = "audit"
url = "https://audit.example.com/hookline"
# Every event, signed the origin's way (scheme left at its default, "marionette").
events = ["*"]
# A WebAssembly plugin may rewrite each request (body, headers) or skip the event;
# `hookline plugin check FILE --config JSON` validates a plugin and a configuration for it.
# A plugin exporting `check-config` (all the examples) checks `plugin_config` at start, on
# API create/update and when its file is replaced: a refused one stops the start here.
# plugin = "plugins/redact.wasm"
# plugin_config = { remove = ["data.prompt"], mask = ["resource.labels.email"] }
description = "Compliance archive"
"##;

fn repo_file(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

/// The example, computed from the defaults.
fn generate(defaults: &str) -> Result<String, String> {
    let (_, rest) = defaults
        .split_once("\n#\n")
        .ok_or("config.default.toml: no `#` line ends its first paragraph")?;
    if defaults.matches(DEFAULT_NETWORKS).count() != 1 {
        return Err(format!(
            "config.default.toml: expected exactly one line `{}`",
            DEFAULT_NETWORKS.trim_end()
        ));
    }
    let body = rest.replace(DEFAULT_NETWORKS, EXAMPLE_NETWORKS);
    Ok(format!("{INTRO}#\n{body}{EXAMPLE_WEBHOOKS}"))
}

#[test]
fn the_example_config_is_generated_from_the_defaults() {
    let defaults_path = repo_file("host/hookline/config.default.toml");
    let example_path = repo_file("hookline.example.toml");
    let defaults = std::fs::read_to_string(&defaults_path).expect("read config.default.toml");
    let expected = generate(&defaults).unwrap_or_else(|e| panic!("{e}"));
    if std::env::var_os("HOOKLINE_BLESS").is_some_and(|v| !v.is_empty()) {
        std::fs::write(&example_path, &expected).expect("write hookline.example.toml");
        return;
    }
    let actual = std::fs::read_to_string(&example_path).expect("read hookline.example.toml");
    if actual != expected {
        let first = actual
            .lines()
            .zip(expected.lines())
            .position(|(a, e)| a != e)
            .unwrap_or_else(|| actual.lines().count().min(expected.lines().count()));
        panic!(
            "hookline.example.toml disagrees with host/hookline/config.default.toml from line \
             {}:\n  example:  {:?}\n  expected: {:?}\nRegenerate it: HOOKLINE_BLESS=1 cargo test \
             -p hookline --test it example",
            first + 1,
            actual.lines().nth(first).unwrap_or("<end of file>"),
            expected.lines().nth(first).unwrap_or("<end of file>"),
        );
    }
}

#[test]
fn the_example_keeps_every_default_line() {
    // What the generator promises: apart from its intro, networks and webhooks, the example
    // is the defaults, so a default documented in one is documented the same in the other.
    let defaults = std::fs::read_to_string(repo_file("host/hookline/config.default.toml"))
        .expect("read config.default.toml");
    let example = generate(&defaults).unwrap_or_else(|e| panic!("{e}"));
    let from_server = |text: &str| text[text.find("[server]").expect("[server]")..].to_owned();
    let restored = from_server(&example)
        .replace(EXAMPLE_NETWORKS, DEFAULT_NETWORKS)
        .replace(EXAMPLE_WEBHOOKS, "");
    assert_eq!(restored, from_server(&defaults));
}
