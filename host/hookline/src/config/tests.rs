use std::collections::BTreeSet;

use hookline_test_support::tempdir::TempDir;

use super::de::fields_of;
use super::error::closest;
use super::provenance::line_column;
use super::*;

const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn load(text: &str) -> Result<Config, ConfigError> {
    Config::from_toml_str(text, "config.toml", [])
}

fn load_env(text: &str, pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
    Config::from_toml_str(text, "config.toml", env(pairs))
}

fn err(text: &str) -> String {
    load(text).unwrap_err().to_string()
}

fn err_env(text: &str, pairs: &[(&str, &str)]) -> String {
    load_env(text, pairs).unwrap_err().to_string()
}

#[track_caller]
fn assert_has(haystack: &str, needle: &str) {
    assert!(
        haystack.contains(needle),
        "expected {needle:?} in:\n{haystack}"
    );
}

fn webhook(extra: &str) -> String {
    format!(
        "[[webhooks]]\nid = \"billing\"\nurl = \"https://example.com/hook\"\nevents = [\"task.*\"]\n{extra}\n"
    )
}

/// A scratch file in a fresh directory, removed with the directory (kept if the test fails).
fn temp_file(name: &str, contents: &str) -> (TempDir, PathBuf) {
    let dir = TempDir::new("config-test");
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    (dir, path)
}

// --- defaults -----------------------------------------------------------------------

#[test]
fn defaults_match_the_origin() {
    let c = Config::default();
    let d = &c.delivery;
    assert_eq!(d.max_attempts, 3);
    assert_eq!(d.retry_base_delay_seconds, 60);
    assert_eq!(d.retry_schedule_seconds, None);
    assert_eq!(d.timeout(), Duration::from_secs(30));
    assert_eq!(d.max_payload_bytes, 10 * 1024 * 1024);
    // Departs from the origin's 4 workers: requests in flight are cheap tasks, and a
    // webhook's share (a quarter) must leave room for the others.
    assert_eq!(d.workers, 64);
    assert_eq!(d.max_concurrency_per_webhook, 16);
    assert_eq!(d.max_queued_per_webhook, 2_500);
    assert_eq!(
        d.user_agent,
        format!("Hookline/{}", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(d.queue_capacity, 10_000);
    assert_eq!(d.lease(), Duration::from_secs(300));
    assert_eq!(d.breaker_failure_threshold, 10);
    assert_eq!(d.breaker_cooldown(), Duration::from_secs(30));
    assert_eq!(
        d.auto_disable_after(),
        Some(Duration::from_secs(5 * 86_400))
    );
    assert_eq!(d.retention(), Some(Duration::from_secs(168 * 3600)));
    assert_eq!(d.rotation_grace(), Duration::from_secs(86_400));
    // The retry module's own defaults agree with the documented ones.
    assert_eq!(d.retry_policy(), RetryPolicy::default());

    assert_eq!(c.server.listen, "127.0.0.1:8420".parse().unwrap());
    assert_eq!(c.server.token, None);
    assert_eq!(c.server.max_request_bytes, 16 * 1024 * 1024);
    assert_eq!(c.server.data_dir, PathBuf::from("hookline-data"));
    assert_eq!(
        c.server.token_file(),
        Path::new("hookline-data").join("api-token")
    );
    assert_eq!(c.store.kind, StoreKind::Sqlite);
    assert_eq!(c.store.path, Path::new("hookline-data").join("hookline.db"));
    assert_eq!(c.store.url, None);
    assert_eq!(c.store.synchronous, Synchronous::Full);
    assert_eq!(c.security.encryption_key_file, None);
    assert!(!c.security.store_secrets_unsealed);
    assert!(c.security.allowed_networks.is_empty());
    assert_eq!(c.log.level, "info");
    assert_eq!(c.log.format, LogFormat::Text);
    assert!(c.webhooks.is_empty());
    assert!(c.validate().is_ok());
}

#[test]
fn default_is_loading_without_file_or_env() {
    assert_eq!(Config::default(), Config::load(None, []).unwrap());
    assert_eq!(Config::default(), load("").unwrap());
    assert_eq!(Config::default(), load("# only a comment\n").unwrap());
}

#[test]
fn dependent_defaults_follow_their_key() {
    let c = load("[server]\ndata_dir = \"/var/lib/hookline\"\n[delivery]\nworkers = 32\n").unwrap();
    assert_eq!(c.store.path, PathBuf::from("/var/lib/hookline/hookline.db"));
    assert_eq!(
        c.delivery.max_concurrency_per_webhook, 8,
        "a quarter of workers"
    );
    let c = load("[delivery]\nworkers = 2\nqueue_capacity = 100\n").unwrap();
    assert_eq!(c.delivery.max_concurrency_per_webhook, 1, "at least one");
    assert_eq!(
        c.delivery.max_queued_per_webhook, 25,
        "a quarter of queue_capacity"
    );
    let c =
        load("[store]\npath = \"db/x.db\"\n[delivery]\nmax_concurrency_per_webhook = 2\n").unwrap();
    assert_eq!(c.store.path, PathBuf::from("db/x.db"));
    assert_eq!(c.delivery.max_concurrency_per_webhook, 2);
    let c = load("[delivery]\nuser_agent = \"Acme-Hooks/{version} (ops@acme.test)\"\n").unwrap();
    assert_eq!(
        c.delivery.user_agent,
        format!("Acme-Hooks/{} (ops@acme.test)", env!("CARGO_PKG_VERSION"))
    );
    // Set explicitly to nothing: refused rather than silently defaulted.
    assert_has(
        &err("[store]\npath = \"\"\n"),
        "config.toml:2:8: `store.path`: must not be empty",
    );
    assert_has(
        &err("[delivery]\nmax_concurrency_per_webhook = 0\n"),
        "`delivery.max_concurrency_per_webhook`: must be between 1 and 4096, got 0",
    );
}

// --- the contract -------------------------------------------------------------------

fn contract(retry: &str) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:8420"
token = "0123456789abcdef-token"
[store]
kind = "sqlite"
path = "hookline-data/hookline.db"
[security]
encryption_key_file = "/etc/hookline/encryption.key"
allowed_networks = ["127.0.0.0/8", "::1/128"]
[delivery]
workers = 4
timeout_seconds = 30
max_attempts = 3
{retry}
[[webhooks]]
id = "billing"
url = "http://127.0.0.1:9000/hook"
events = ["task.*", "session.created"]
scheme = "standard"
secret = "{WHSEC}"
headers = {{ "X-Team" = "billing" }}
timeout_seconds = 5
max_attempts = 5
"#
    )
}

#[test]
fn the_contract_snippet_parses_with_the_exponential_schedule() {
    let c = load(&contract("retry_base_delay_seconds = 60")).unwrap();
    assert_eq!(
        c.server.token.as_ref().unwrap().expose(),
        "0123456789abcdef-token"
    );
    assert_eq!(
        c.security.encryption_key_file,
        Some(PathBuf::from("/etc/hookline/encryption.key"))
    );
    assert_eq!(
        c.security.allowed_networks,
        vec![
            "127.0.0.0/8".parse::<IpNet>().unwrap(),
            "::1/128".parse().unwrap()
        ]
    );
    assert_eq!(
        c.delivery.schedule(),
        Schedule::Exponential {
            base: Duration::from_secs(60)
        }
    );
    let w = c.webhook("billing").unwrap();
    assert_eq!(w.url, "http://127.0.0.1:9000/hook");
    let events: Vec<&str> = w.events.iter().map(Pattern::as_str).collect();
    assert_eq!(events, ["task.*", "session.created"]);
    assert_eq!(w.scheme, Scheme::Standard);
    assert_eq!(w.secret.as_ref().unwrap().expose(), WHSEC);
    assert_eq!(w.headers.get("X-Team").map(String::as_str), Some("billing"));
    assert_eq!(w.timeout(&c.delivery), Duration::from_secs(5));
    assert!(w.enabled);
    // A quarter of the snippet's 4 workers: one webhook cannot take every slot.
    assert_eq!(w.concurrency(&c.delivery), 1);
    let policy = w.retry_policy(&c.delivery);
    assert_eq!(policy.max_attempts, 5);
    assert_eq!(policy.schedule, c.delivery.schedule());
}

#[test]
fn the_contract_snippet_parses_with_an_explicit_schedule() {
    let c = load(&contract("retry_schedule_seconds = [5, 300, 1800]")).unwrap();
    let expected = Schedule::Explicit(vec![
        Duration::from_secs(5),
        Duration::from_secs(300),
        Duration::from_secs(1800),
    ]);
    assert_eq!(c.delivery.retry_policy().schedule, expected);
    assert_eq!(c.webhooks[0].retry_policy(&c.delivery).schedule, expected);
}

#[test]
fn webhook_defaults_and_overrides() {
    let c = load(&webhook(
        "retry_schedule_seconds = [1, 2]\nrate_limit_per_second = 10\nmax_concurrency = 2\n\
         enabled = false\ndescription = \"d\"",
    ))
    .unwrap();
    let w = &c.webhooks[0];
    assert_eq!(w.scheme, Scheme::Marionette);
    assert_eq!(w.secret, None);
    assert!(w.headers.is_empty());
    assert_eq!(w.timeout(&c.delivery), Duration::from_secs(30));
    assert_eq!(w.concurrency(&c.delivery), 2);
    assert_eq!(w.rate_limit_per_second, Some(10));
    assert!(!w.enabled);
    assert_eq!(w.description, "d");
    let policy = w.retry_policy(&c.delivery);
    assert_eq!(policy.max_attempts, 3);
    assert_eq!(
        policy.schedule,
        Schedule::Explicit(vec![Duration::from_secs(1), Duration::from_secs(2)])
    );
    assert_eq!(policy.jitter, 0.2);
    let plain = load(&webhook("")).unwrap();
    assert!(plain.webhooks[0].enabled);
    assert_eq!(plain.webhooks[0].description, "");
}

#[test]
fn plugin_config_becomes_json_text() {
    let c = load(&webhook(
        "plugin = \"plugins/slack.wasm\"\n\
         plugin_config = { channel = \"#ops\", n = 3, ratio = 1.5, on = true, \
         tags = [\"a\", \"b\"], nested = { at = 1979-05-27T07:32:00Z } }",
    ))
    .unwrap();
    let w = &c.webhooks[0];
    assert_eq!(w.plugin, Some(PathBuf::from("plugins/slack.wasm")));
    let json: serde_json::Value =
        serde_json::from_str(w.plugin_config.as_deref().unwrap()).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "channel": "#ops", "n": 3, "ratio": 1.5, "on": true, "tags": ["a", "b"],
            "nested": { "at": "1979-05-27T07:32:00Z" }
        })
    );
    assert_has(
        &err(&webhook("plugin_config = { a = 1 }")),
        "`webhooks[0].plugin_config`: is set but `plugin` is not",
    );
    assert_has(
        &err(&webhook("plugin = \"p.wasm\"\nplugin_config = { x = nan }")),
        "`webhooks[0].plugin_config`: NaN cannot be represented in JSON",
    );
}

#[test]
fn a_javascript_script_file_is_read_relative_to_the_config_file() {
    let (dir, file) = temp_file(
        "hookline.toml",
        &webhook(
            "plugin = \"builtin:javascript\"\nplugin_config = { script_file = \"transforms/slim.js\" }",
        ),
    );
    std::fs::create_dir_all(dir.join("transforms")).unwrap();
    std::fs::write(
        dir.join("transforms/slim.js"),
        "export default (e) => e.data\n",
    )
    .unwrap();
    let c = Config::load(Some(&file), []).unwrap();
    let got: serde_json::Value =
        serde_json::from_str(c.webhooks[0].plugin_config.as_deref().unwrap()).unwrap();
    assert_eq!(
        got,
        serde_json::json!({
            "script": "export default (e) => e.data\n",
            "script_name": "transforms/slim.js",
        })
    );

    std::fs::remove_file(dir.join("transforms/slim.js")).unwrap();
    let e = Config::load(Some(&file), []).unwrap_err().to_string();
    assert_has(&e, "`webhooks[0].plugin_config.script_file`: cannot read `");
    assert_has(&e, "transforms/slim.js");
    assert_has(
        &err(&webhook(
            "plugin = \"builtin:javascript\"\nplugin_config = { script = \"x\", script_file = \"a.js\" }",
        )),
        "not both",
    );
    // Another plugin's `script_file` is that plugin's business.
    let c = load(&webhook(
        "plugin = \"p.wasm\"\nplugin_config = { script_file = \"a.js\" }",
    ))
    .unwrap();
    assert_has(
        c.webhooks[0].plugin_config.as_deref().unwrap(),
        "script_file",
    );
    assert_has(
        &err(&webhook("plugin = \"builtin:python\"")),
        "`builtin:python` is not a built-in plugin (built-in: builtin:javascript)",
    );
}

#[test]
fn the_example_file_parses_and_validates() {
    let example = include_str!("../../../../hookline.example.toml");
    let c = Config::from_toml_str(example, "hookline.example.toml", []).unwrap();
    assert!(c.validate().is_ok());
    assert_eq!(c.webhooks.len(), 2);
    assert_eq!(c.webhooks[0].id, "billing");
    assert_eq!(c.webhooks[0].scheme, Scheme::Standard);
    assert_eq!(c.webhooks[1].scheme, Scheme::Marionette);
    assert_eq!(c.security.allowed_networks.len(), 2);
    // Apart from what it sets on purpose, the example shows the defaults.
    let mut as_defaults = c.clone();
    as_defaults.webhooks.clear();
    as_defaults.security.allowed_networks.clear();
    assert_eq!(as_defaults, Config::default());
}

// --- environment --------------------------------------------------------------------

#[test]
fn env_overrides_integers_and_beats_the_file() {
    let c = load_env(
        "[delivery]\nworkers = 8\n",
        &[("HOOKLINE_DELIVERY_WORKERS", "16")],
    )
    .unwrap();
    assert_eq!(c.delivery.workers, 16);
    assert_eq!(c.delivery.max_concurrency_per_webhook, 4);
    let c = load_env("", &[("HOOKLINE_SERVER_MAX_REQUEST_BYTES", "1_048_576")]).unwrap();
    assert_eq!(c.server.max_request_bytes, 1 << 20);
}

#[test]
fn env_overrides_floats() {
    let c = load_env("", &[("HOOKLINE_DELIVERY_RETRY_JITTER", "0.5")]).unwrap();
    assert_eq!(c.delivery.retry_jitter, 0.5);
    let c = load_env("", &[("HOOKLINE_DELIVERY_RETRY_JITTER", "1")]).unwrap();
    assert_eq!(c.delivery.retry_jitter, 1.0);
    assert_has(
        &err_env("", &[("HOOKLINE_DELIVERY_RETRY_JITTER", "lots")]),
        "environment variable `HOOKLINE_DELIVERY_RETRY_JITTER`: `delivery.retry_jitter`: invalid type: string \"lots\", expected f64",
    );
}

#[test]
fn env_overrides_strings_and_enums() {
    let c = load_env(
        "",
        &[
            ("HOOKLINE_SERVER_LISTEN", "0.0.0.0:9999"),
            ("HOOKLINE_STORE_PATH", "/data/h.db"),
            ("HOOKLINE_STORE_SYNCHRONOUS", "normal"),
            ("HOOKLINE_LOG_FORMAT", "json"),
            ("HOOKLINE_LOG_LEVEL", "debug"),
        ],
    )
    .unwrap();
    assert_eq!(c.server.listen, "0.0.0.0:9999".parse().unwrap());
    assert_eq!(c.store.path, PathBuf::from("/data/h.db"));
    assert_eq!(c.store.synchronous, Synchronous::Normal);
    assert_eq!(c.log.format, LogFormat::Json);
    assert_eq!(c.log.level, "debug");
    let c = load_env(
        "",
        &[
            ("HOOKLINE_STORE_KIND", "postgres"),
            ("HOOKLINE_STORE_URL", "postgres://h:pw@db/h"),
        ],
    )
    .unwrap();
    assert_eq!(c.store.kind, StoreKind::Postgres);
    assert_eq!(c.store.url.unwrap().expose(), "postgres://h:pw@db/h");
}

#[test]
fn env_overrides_lists() {
    let c = load_env(
        "[security]\nallowed_networks = [\"10.0.0.0/8\"]\n",
        &[
            ("HOOKLINE_DELIVERY_RETRY_SCHEDULE_SECONDS", "5, 300,1800"),
            ("HOOKLINE_SECURITY_ALLOWED_NETWORKS", "127.0.0.0/8,::1/128"),
        ],
    )
    .unwrap();
    assert_eq!(c.delivery.retry_schedule_seconds, Some(vec![5, 300, 1800]));
    assert_eq!(
        c.security.allowed_networks,
        vec![
            "127.0.0.0/8".parse::<IpNet>().unwrap(),
            "::1/128".parse().unwrap()
        ]
    );
    let c = load_env(
        "[security]\nallowed_networks = [\"10.0.0.0/8\"]\n",
        &[("HOOKLINE_SECURITY_ALLOWED_NETWORKS", "")],
    )
    .unwrap();
    assert!(c.security.allowed_networks.is_empty());
    assert_has(
        &err_env(
            "",
            &[("HOOKLINE_DELIVERY_RETRY_SCHEDULE_SECONDS", "5,soon")],
        ),
        "environment variable `HOOKLINE_DELIVERY_RETRY_SCHEDULE_SECONDS`: `delivery.retry_schedule_seconds[1]`: invalid type: string \"soon\", expected u64",
    );
    assert_has(
        &err_env(
            "",
            &[("HOOKLINE_SECURITY_ALLOWED_NETWORKS", "127.0.0.0/8, 10.1/99")],
        ),
        "environment variable `HOOKLINE_SECURITY_ALLOWED_NETWORKS`: `security.allowed_networks[1]`: `10.1/99` is not a network",
    );
}

/// Without a table of kinds, a value is read as the key's type asks: text that looks like a
/// number, a boolean or a date is still text for a string key, a list may be written as TOML,
/// and a quoted string is taken as written.
#[test]
fn env_values_take_the_type_of_their_key() {
    let c = load_env(
        "",
        &[
            ("HOOKLINE_SERVER_TOKEN", "1234567890123456789012"),
            ("HOOKLINE_STORE_PATH", "2026-01-01"),
            ("HOOKLINE_DELIVERY_USER_AGENT", "true"),
            ("HOOKLINE_LOG_LEVEL", "info,hookline_engine=debug"),
            ("HOOKLINE_DELIVERY_RETRY_SCHEDULE_SECONDS", "[5, 60]"),
            ("HOOKLINE_SECURITY_ALLOWED_NETWORKS", "10.0.0.0/8"),
        ],
    )
    .unwrap();
    assert_eq!(c.server.token.unwrap().expose(), "1234567890123456789012");
    assert_eq!(c.store.path, PathBuf::from("2026-01-01"));
    assert_eq!(c.delivery.user_agent, "true");
    assert_eq!(c.log.level, "info,hookline_engine=debug");
    assert_eq!(c.delivery.retry_schedule_seconds, Some(vec![5, 60]));
    assert_eq!(
        c.security.allowed_networks,
        vec!["10.0.0.0/8".parse::<IpNet>().unwrap()]
    );
    let c = load_env(
        "",
        &[
            ("HOOKLINE_API_TOKEN", "\"quoted-0123456789\""),
            ("HOOKLINE_DELIVERY_RETRY_SCHEDULE_SECONDS", "5"),
        ],
    )
    .unwrap();
    assert_eq!(c.server.token.unwrap().expose(), "\"quoted-0123456789\"");
    assert_eq!(c.delivery.retry_schedule_seconds, Some(vec![5]));
}

#[test]
fn api_token_env_sets_the_server_token() {
    let c = load_env("", &[("HOOKLINE_API_TOKEN", "tok-0123456789abcdef")]).unwrap();
    assert_eq!(c.server.token.unwrap().expose(), "tok-0123456789abcdef");
    let c = load_env(
        "[server]\ntoken = \"file-token-0123456789\"\n",
        &[("HOOKLINE_SERVER_TOKEN", "env-token-0123456789")],
    )
    .unwrap();
    assert_eq!(c.server.token.unwrap().expose(), "env-token-0123456789");
    let e = err_env(
        "",
        &[
            ("HOOKLINE_API_TOKEN", "tok-0123456789abcdef"),
            ("HOOKLINE_SERVER_TOKEN", "other-0123456789abcdef"),
        ],
    );
    assert_has(
        &e,
        "environment variable `HOOKLINE_API_TOKEN`: differs from HOOKLINE_SERVER_TOKEN",
    );
    assert!(!e.contains("tok-0123456789abcdef"));
    let e = err_env("", &[("HOOKLINE_API_TOKEN", "short")]);
    assert_has(
        &e,
        "environment variable `HOOKLINE_API_TOKEN`: `server.token`: must be at least 16 characters long, got 5",
    );
}

#[test]
fn unrelated_env_is_ignored() {
    let c = load_env(
        "",
        &[
            ("HOOKLINE_ENCRYPTION_KEY", "not even hex"),
            ("HOOKLINE_LOG", "trace"),
            ("HOOKLINE_CONFIG", "/etc/hookline.toml"),
            ("HOOKLINE_URL", "http://127.0.0.1:8420"),
            ("PATH", "/usr/bin"),
            ("DELIVERY_WORKERS", "0"),
        ],
    )
    .unwrap();
    assert_eq!(c, Config::default());
}

#[test]
fn env_errors_name_the_variable() {
    let e = err_env("", &[("HOOKLINE_DELIVERY_WROKERS", "8")]);
    assert_has(
        &e,
        "environment variable `HOOKLINE_DELIVERY_WROKERS`: unknown key `delivery.wrokers`",
    );
    assert_has(&e, "did you mean HOOKLINE_DELIVERY_WORKERS?");
    assert_has(
        &err_env("", &[("HOOKLINE_DELIVERY_WORKERS", "lots")]),
        "environment variable `HOOKLINE_DELIVERY_WORKERS`: `delivery.workers`: invalid type: string \"lots\", expected u32",
    );
    assert_has(
        &err_env("", &[("HOOKLINE_DELIVERY_WORKERS", "0")]),
        "environment variable `HOOKLINE_DELIVERY_WORKERS`: `delivery.workers`: must be between 1 and 4096, got 0",
    );
    assert_has(
        &err_env("", &[("HOOKLINE_DELIVERY_WORKERS", "-1")]),
        "environment variable `HOOKLINE_DELIVERY_WORKERS`: `delivery.workers`: invalid value: integer `-1`, expected u32",
    );
    assert_has(
        &err_env("", &[("HOOKLINE_SERVER_LISTEN", "localhost")]),
        "environment variable `HOOKLINE_SERVER_LISTEN`: `server.listen`: invalid socket address syntax",
    );
    assert_has(
        &err_env("", &[("HOOKLINE_WEBHOOKS_0_ID", "x")]),
        "environment variable `HOOKLINE_WEBHOOKS_0_ID`: webhooks cannot be configured through the environment",
    );
    let e = err_env(
        "",
        &[("HOOKLINE_SECURITY_ENCRYPTION_KEY", &"ab".repeat(32))],
    );
    assert_has(&e, "the key itself goes in HOOKLINE_ENCRYPTION_KEY");
    assert!(!e.contains(&"ab".repeat(32)));
}

// --- errors from the file -------------------------------------------------------------

#[test]
fn unknown_keys_are_named_with_their_line() {
    let text = "[server]\nlisten = \"127.0.0.1:8420\"\n\n[delivery]\nworkers = 4\nwrokers = 5\n";
    let e = load(text).unwrap_err();
    let ConfigError::UnknownKey {
        origin,
        key,
        expected,
        hint,
    } = &e
    else {
        panic!("{e:?}");
    };
    assert_eq!(key, "delivery.wrokers");
    assert_eq!(
        origin,
        &Some(Origin::File {
            file: "config.toml".to_owned(),
            line: 6,
            column: 1
        })
    );
    assert!(expected.iter().any(|k| k == "workers"));
    assert_eq!(hint.as_deref(), Some("did you mean `workers`?"));
    let e = e.to_string();
    assert!(
        e.starts_with("config.toml:6:1: unknown key `delivery.wrokers` (expected one of `workers`, `timeout_seconds`"),
        "{e}"
    );
    assert_has(&e, "did you mean `workers`?");

    assert_has(
        &err("[deliveri]\nworkers = 4\n"),
        "config.toml:1:2: unknown key `deliveri` (expected one of `server`, `store`, `security`, `delivery`, `plugins`, `log`, `webhooks`); did you mean `delivery`?",
    );
    let mut two = webhook("");
    two.push_str("\n[[webhooks]]\nid = \"b\"\nurl = \"https://b.example\"\nevents = [\"*\"]\nevnets = [\"x\"]\n");
    assert_has(
        &err(&two),
        "config.toml:11:1: unknown key `webhooks[1].evnets`",
    );
    let e = err(&format!(
        "[security]\nencryption_key = \"{}\"\n",
        "ab".repeat(32)
    ));
    assert_has(&e, "config.toml:2:1: unknown key `security.encryption_key`");
    assert_has(
        &e,
        "use `security.encryption_key_file` or HOOKLINE_ENCRYPTION_KEY",
    );
}

#[test]
fn bad_toml_names_file_line_and_column() {
    let e = load("[server]\nlisten = \"127.0.0.1:8420\"\n[delivery]\nworkers = \n").unwrap_err();
    let ConfigError::Syntax { origin, .. } = &e else {
        panic!("{e:?}");
    };
    assert_eq!(
        origin,
        &Origin::File {
            file: "config.toml".to_owned(),
            line: 4,
            column: 11
        }
    );
    assert_has(&e.to_string(), "config.toml:4:11: invalid TOML: ");
    assert_has(&err("[server\n"), "config.toml:1:");
    assert_has(
        &err("[delivery]\nworkers = 4\nworkers = 5\n"),
        "config.toml:3:1: invalid TOML: ",
    );
}

#[test]
fn type_errors_name_the_key_path_and_line() {
    assert_has(
        &err("[delivery]\nworkers = \"many\"\n"),
        "config.toml:2:11: `delivery.workers`: invalid type: string \"many\", expected u32",
    );
    assert_has(
        &err(&webhook("scheme = \"hmac\"")),
        "config.toml:5:10: `webhooks[0].scheme`: unknown variant `hmac`, expected `marionette` or `standard`",
    );
    assert_has(
        &err(&webhook("max_attempts = -1")),
        "config.toml:5:16: `webhooks[0].max_attempts`: invalid value: integer `-1`, expected u32",
    );
    assert_has(
        &err("[server]\nlisten = \"localhost\"\n"),
        "config.toml:2:10: `server.listen`: invalid socket address syntax",
    );
    assert_has(
        &err("[store]\nkind = \"mysql\"\n"),
        "`store.kind`: unknown variant `mysql`, expected `sqlite` or `postgres`",
    );
    assert_has(
        &err("delivery = 5\n"),
        "config.toml:1:12: `delivery`: invalid type: integer `5`",
    );
}

#[test]
fn missing_required_webhook_keys_are_named() {
    let mut text = webhook("");
    text.push_str("\n[[webhooks]]\nid = \"second\"\nevents = [\"*\"]\n");
    assert_has(
        &err(&text),
        "config.toml:7:1: `webhooks[1].url`: required key is missing",
    );
}

// --- validation ---------------------------------------------------------------------

#[test]
fn bad_patterns_are_refused_with_their_reason() {
    let mut text = webhook("");
    text.push_str(
        "\n[[webhooks]]\nid = \"b\"\nurl = \"https://b.example\"\nevents = [\"task*\"]\n",
    );
    assert_has(
        &err(&text),
        "config.toml:10:11: `webhooks[1].events[0]`: pattern `task*`: `*` must follow a `.`",
    );
    assert_has(
        &err(&webhook("").replace("[\"task.*\"]", "[]")),
        "`webhooks[0].events`: must list at least one pattern",
    );
}

#[test]
fn duplicate_webhook_ids_are_refused() {
    let text = format!(
        "{}\n{}\n{}",
        webhook(""),
        webhook("").replace("\"billing\"", "\"other\""),
        webhook(""),
    );
    let e = err(&text);
    assert_has(
        &e,
        "config.toml:14:6: `webhooks[2].id`: duplicate webhook id `billing` (also webhooks[0])",
    );
}

#[test]
fn bad_ids_and_urls_are_refused() {
    let bad_url = |url: &str| err(&webhook("").replace("https://example.com/hook", url));
    assert_has(
        &bad_url("ftp://example.com/x"),
        "config.toml:3:7: `webhooks[0].url`: `ftp://example.com/x`: only http and https URLs are allowed",
    );
    assert_has(
        &bad_url("example.com/hook"),
        "`webhooks[0].url`: `example.com/hook` is not a valid URL",
    );
    assert_has(
        &bad_url("https://example.com/#frag"),
        "`webhooks[0].url`: `https://example.com/#frag` has a fragment",
    );
    assert!(
        load(&webhook("").replace("https://example.com/hook", "http://[::1]:9000/h?x=1")).is_ok()
    );
    assert_has(
        &err(&webhook("").replace("\"billing\"", "\"bill ing\"")),
        "`webhooks[0].id`: webhook id `bill ing` has the character ' '",
    );
    assert_has(
        &err(&webhook("").replace("\"billing\"", &format!("\"{}\"", "x".repeat(65)))),
        "`webhooks[0].id`: webhook id must be 1 to 64 characters long, got 65",
    );
    assert!(check_webhook_id("Billing_v2.eu-1").is_ok());
}

#[test]
fn bad_networks_are_refused() {
    assert_has(
        &err("[security]\nallowed_networks = [\"127.0.0.0/8\", \"10.0.0.0/33\"]\n"),
        "config.toml:2:36: `security.allowed_networks[1]`: `10.0.0.0/33` is not a network in CIDR notation",
    );
    let c =
        load("[security]\nallowed_networks = [\"192.168.1.7\", \"10.1.2.3/8\", \"fd00::/8\"]\n")
            .unwrap();
    assert_eq!(
        c.security.allowed_networks,
        vec![
            "192.168.1.7/32".parse::<IpNet>().unwrap(),
            "10.0.0.0/8".parse().unwrap(),
            "fd00::/8".parse().unwrap()
        ]
    );
}

#[test]
fn reserved_headers_are_refused_case_insensitively() {
    for name in [
        "X-Webhook-Signature",
        "x-webhook-id",
        "webhook-signature",
        "WEBHOOK-TIMESTAMP",
        "content-type",
    ] {
        let e = err(&webhook(&format!("headers = {{ \"{name}\" = \"x\" }}")));
        assert_has(
            &e,
            &format!(
                "`webhooks[0].headers.{name}`: header `{name}` is set by Hookline on every \
                 delivery and cannot be overridden"
            ),
        );
        assert_has(&e, "config.toml:5:");
    }
    for name in ["Host", "Expect", "te", "Keep-Alive"] {
        let e = err(&webhook(&format!("headers = {{ \"{name}\" = \"x\" }}")));
        assert_has(
            &e,
            &format!(
                "`webhooks[0].headers.{name}`: header `{name}` is managed by the HTTP \
                 client and cannot be set"
            ),
        );
        assert_has(&e, "config.toml:5:");
    }
    assert_has(
        &err(&webhook("headers = { \"X-Bad\" = \"a\\nb\" }")),
        "`webhooks[0].headers.X-Bad`: header `X-Bad`: the value contains characters not allowed",
    );
    assert_has(
        &err(&webhook("headers = { \"Bad Name\" = \"x\" }")),
        "`webhooks[0].headers.\"Bad Name\"`: header `Bad Name`: not a valid HTTP header name",
    );
    let c = load(&webhook(
        "headers = { \"User-Agent\" = \"x\", \"X-Team\" = \"billing\" }",
    ))
    .unwrap();
    assert_eq!(c.webhooks[0].headers.len(), 2);
}

/// Regression: an `Expect` header passed config validation and then failed at start
/// without a file:line; the config and the API now share one header rule.
#[test]
fn config_and_api_refuse_a_header_with_the_same_words() {
    let e = err(&webhook("headers = { \"Expect\" = \"100-continue\" }"));
    let rule = hookline_core::rules::validate_custom_header("Expect", "100-continue").unwrap_err();
    assert_has(
        &e,
        &format!("config.toml:5:24: `webhooks[0].headers.Expect`: {rule}"),
    );
}

#[test]
fn secrets_are_checked_against_the_scheme() {
    assert!(
        load(&webhook(&format!(
            "scheme = \"standard\"\nsecret = \"{WHSEC}\""
        )))
        .is_ok()
    );
    assert!(load(&webhook("secret = \"any non-empty string\"")).is_ok());
    let e = err(&webhook(
        "scheme = \"standard\"\nsecret = \"whsec_!!!not-base64\"",
    ));
    assert_has(&e, "`webhooks[0].secret`: not a usable `standard` secret: ");
    assert!(!e.contains("!!!not-base64"));
    assert_has(
        &err(&webhook("secret = \"\"")),
        "`webhooks[0].secret`: not a usable `marionette` secret: secret is empty",
    );
}

#[test]
fn both_retry_keys_set_explicitly_is_an_error() {
    let both = "[delivery]\nretry_base_delay_seconds = 30\nretry_schedule_seconds = [5, 60]\n";
    let e = err(both);
    assert_has(
        &e,
        "config.toml:3:26: `delivery.retry_schedule_seconds`: conflicts with `delivery.retry_base_delay_seconds` (set at config.toml:2:28)",
    );
    // One from the file, one from the environment: still both explicit.
    assert_has(
        &err_env(
            "[delivery]\nretry_base_delay_seconds = 30\n",
            &[("HOOKLINE_DELIVERY_RETRY_SCHEDULE_SECONDS", "5")],
        ),
        "environment variable `HOOKLINE_DELIVERY_RETRY_SCHEDULE_SECONDS`: `delivery.retry_schedule_seconds`: conflicts with `delivery.retry_base_delay_seconds`",
    );
    assert_has(
        &err_env(
            "[delivery]\nretry_schedule_seconds = [5]\n",
            &[("HOOKLINE_DELIVERY_RETRY_BASE_DELAY_SECONDS", "5")],
        ),
        "`delivery.retry_schedule_seconds`: conflicts with `delivery.retry_base_delay_seconds` (set at environment variable `HOOKLINE_DELIVERY_RETRY_BASE_DELAY_SECONDS`)",
    );
    // The default base delay next to a schedule of the user's is fine.
    let c = load("[delivery]\nretry_schedule_seconds = [5]\n").unwrap();
    assert_eq!(
        c.delivery.schedule(),
        Schedule::Explicit(vec![Duration::from_secs(5)])
    );
    assert_has(
        &err("[delivery]\nretry_schedule_seconds = []\n"),
        "`delivery.retry_schedule_seconds`: must list at least one delay",
    );
    assert_has(
        &err("[delivery]\nretry_schedule_seconds = [5, 100000]\n"),
        "`delivery.retry_schedule_seconds[1]`: must be between 0 and 86400, got 100000",
    );
}

#[test]
fn ranges_and_relations_are_checked() {
    assert_has(
        &err("[delivery]\nworkers = 0\n"),
        "config.toml:2:11: `delivery.workers`: must be between 1 and 4096, got 0",
    );
    assert_has(
        &err("[delivery]\nworkers = 5000\n"),
        "`delivery.workers`: must be between 1 and 4096, got 5000",
    );
    assert!(load("[delivery]\nworkers = 4096\n").is_ok());
    assert_has(
        &err("[delivery]\nretry_jitter = 1.5\n"),
        "`delivery.retry_jitter`: must be between 0.0 and 1.0, got 1.5",
    );
    assert_has(
        &err("[delivery]\nmax_attempts = 0\n"),
        "`delivery.max_attempts`: must be between 1 and 100, got 0",
    );
    assert_has(
        &err("[delivery]\ntimeout_seconds = 600\n"),
        "`delivery.lease_seconds`: must exceed `delivery.timeout_seconds` (600), got 300",
    );
    assert_has(
        &err(&webhook("timeout_seconds = 300")),
        "`webhooks[0].timeout_seconds`: must be less than `delivery.lease_seconds` (300), got 300",
    );
    assert_has(
        &err("[delivery]\nretry_after_min_seconds = 10\nretry_after_max_seconds = 5\n"),
        "`delivery.retry_after_min_seconds`: must not exceed `delivery.retry_after_max_seconds` (5), got 10",
    );
    assert_has(
        &err("[log]\nlevel = \"loud\"\n"),
        "`log.level`: `loud` is not a level",
    );
    assert!(load("[log]\nlevel = \"info,hookline_engine=debug\"\n").is_ok());
    assert_has(
        &err("[server]\ntoken = \"has spaces in it, 16+\"\n"),
        "`server.token`: may contain only visible ASCII characters",
    );
    assert_has(
        &err("[store]\nkind = \"postgres\"\n"),
        "config.toml:2:8: `store.url`: required when `store.kind` is \"postgres\"",
    );
    let e = err("[store]\nkind = \"postgres\"\nurl = \"mysql://u:hunter2@db/x\"\n");
    assert_has(
        &e,
        "`store.url`: must be a `postgres://` or `postgresql://` URL",
    );
    assert!(!e.contains("hunter2"));
    assert!(load("[delivery]\nbreaker_failure_threshold = 0\nauto_disable_after_seconds = 0\nretention_hours = 0\n")
        .map(|c| c.delivery.auto_disable_after().is_none() && c.delivery.retention().is_none())
        .unwrap());
}

#[test]
fn every_problem_is_reported_at_once() {
    let e = load("[delivery]\nworkers = 0\nmax_attempts = 0\n").unwrap_err();
    assert_eq!(e.errors().len(), 2);
    let text = e.to_string();
    assert!(
        text.starts_with("2 problems in the configuration:"),
        "{text}"
    );
    assert_has(&text, "\n  - config.toml:2:11: `delivery.workers`");
    assert_has(&text, "\n  - config.toml:3:16: `delivery.max_attempts`");
}

#[test]
fn validate_checks_configs_built_in_code() {
    let mut c = Config::default();
    c.delivery.workers = 0;
    c.webhooks
        .push(load(&webhook("")).unwrap().webhooks.remove(0));
    c.webhooks.push(c.webhooks[0].clone());
    let e = c.validate().unwrap_err().to_string();
    assert_has(
        &e,
        "  - `delivery.workers`: must be between 1 and 4096, got 0",
    );
    assert_has(
        &e,
        "  - `webhooks[1].id`: duplicate webhook id `billing` (also webhooks[0])",
    );
}

// --- the encryption key -------------------------------------------------------------

#[test]
fn encryption_key_from_env_or_file() {
    let hex_key = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    let mut expected = [0u8; 32];
    hex::decode_to_slice(hex_key, &mut expected).unwrap();

    let none = SecurityConfig {
        encryption_key_file: None,
        allowed_networks: vec![],
        store_secrets_unsealed: false,
    };
    assert_eq!(none.load_encryption_key([]).unwrap(), None);
    assert_eq!(
        none.load_encryption_key(env(&[("HOOKLINE_ENCRYPTION_KEY", hex_key)]))
            .unwrap(),
        Some(expected)
    );

    let (_dir, file) = temp_file("key", &format!("{hex_key}\n"));
    let from_file = SecurityConfig {
        encryption_key_file: Some(file.clone()),
        allowed_networks: vec![],
        store_secrets_unsealed: false,
    };
    assert_eq!(from_file.load_encryption_key([]).unwrap(), Some(expected));
    assert_eq!(
        from_file
            .load_encryption_key(env(&[("HOOKLINE_ENCRYPTION_KEY", &hex_key.to_uppercase())]))
            .unwrap(),
        Some(expected)
    );
    let other = "ff".repeat(32);
    let e = from_file
        .load_encryption_key(env(&[("HOOKLINE_ENCRYPTION_KEY", &other)]))
        .unwrap_err()
        .to_string();
    assert_has(&e, "hold different keys");
    assert!(!e.contains(hex_key) && !e.contains(&other));
}

#[test]
fn bad_encryption_keys_name_their_source_never_the_key() {
    let none = SecurityConfig {
        encryption_key_file: None,
        allowed_networks: vec![],
        store_secrets_unsealed: false,
    };
    let short = "abcdef0123";
    let e = none
        .load_encryption_key(env(&[("HOOKLINE_ENCRYPTION_KEY", short)]))
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "encryption key from environment variable `HOOKLINE_ENCRYPTION_KEY`: must be 64 hex characters (32 bytes), got 10"
    );
    let not_hex = format!("{}zz", "a".repeat(62));
    let e = none
        .load_encryption_key(env(&[("HOOKLINE_ENCRYPTION_KEY", &not_hex)]))
        .unwrap_err()
        .to_string();
    assert_has(&e, "character 63 is not a hex digit");
    assert!(!e.contains(&not_hex));
    assert_has(
        &none
            .load_encryption_key(env(&[("HOOKLINE_ENCRYPTION_KEY", "")]))
            .unwrap_err()
            .to_string(),
        "`HOOKLINE_ENCRYPTION_KEY`: is empty",
    );

    let (_dir, file) = temp_file("badkey", &"ab".repeat(31));
    let from_file = SecurityConfig {
        encryption_key_file: Some(file.clone()),
        allowed_networks: vec![],
        store_secrets_unsealed: false,
    };
    let e = from_file.load_encryption_key([]).unwrap_err().to_string();
    assert_has(
        &e,
        &format!(
            "encryption key from file `{}` (security.encryption_key_file): must be 64 hex characters (32 bytes), got 62",
            file.display()
        ),
    );
    let missing = SecurityConfig {
        encryption_key_file: Some(PathBuf::from("/nonexistent/hookline.key")),
        allowed_networks: vec![],
        store_secrets_unsealed: false,
    };
    assert_has(
        &missing.load_encryption_key([]).unwrap_err().to_string(),
        "encryption key from file `/nonexistent/hookline.key` (security.encryption_key_file): cannot read it",
    );
}

// --- files, secrets in Debug --------------------------------------------------------

#[test]
fn load_reads_the_file_and_names_it_in_errors() {
    let (_dir, file) = temp_file("config.toml", "[delivery]\nworkers = 7\n");
    let c = Config::load(Some(&file), []).unwrap();
    assert_eq!(c.delivery.workers, 7);
    let (_bad_dir, bad) = temp_file("bad.toml", "\n[delivery]\nworkerz = 7\n");
    let e = Config::load(Some(&bad), []).unwrap_err().to_string();
    assert!(
        e.starts_with(&format!(
            "{}:3:1: unknown key `delivery.workerz`",
            bad.display()
        )),
        "{e}"
    );
    let e = Config::load(Some(Path::new("/nonexistent/hookline.toml")), []).unwrap_err();
    assert!(matches!(e, ConfigError::Read { .. }));
    assert_has(
        &e.to_string(),
        "cannot read config file `/nonexistent/hookline.toml`",
    );
}

#[test]
fn debug_never_shows_tokens_or_secrets() {
    let c = load_env(
        &format!(
            "[server]\ntoken = \"TOKEN-0123456789abcdef\"\n[store]\nurl = \"postgres://u:PGPASSWORD@db/h\"\n{}",
            webhook(&format!("scheme = \"standard\"\nsecret = \"{WHSEC}\""))
        ),
        &[],
    )
    .unwrap();
    let debug = format!("{c:?} {c:#?}");
    for secret in [
        "TOKEN-0123456789abcdef",
        "PGPASSWORD",
        WHSEC,
        "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    ] {
        assert!(!debug.contains(secret), "{secret} leaked");
    }
    assert_has(&debug, "<redacted>");
    assert_eq!(format!("{:?}", Redacted::new("x")), "<redacted>");
}

// --- the schema stays in step with the structs and the documentation ----------------

/// The field names serde's derive knows for `T` (its `deserialize_struct` `fields`).
fn section_fields() -> Vec<(&'static str, &'static [&'static str])> {
    vec![
        ("server", fields_of::<ServerConfig>()),
        ("store", fields_of::<StoreConfig>()),
        ("security", fields_of::<SecurityConfig>()),
        ("delivery", fields_of::<DeliveryConfig>()),
        ("plugins", fields_of::<PluginsConfig>()),
        ("log", fields_of::<LogConfig>()),
    ]
}

#[test]
fn every_section_key_can_be_set_from_the_env() {
    let defaults: toml::Table = DEFAULT_CONFIG.parse().unwrap();
    let sections: BTreeSet<&str> = fields_of::<Config>().iter().copied().collect();
    let mut expected: BTreeSet<&str> = section_fields().iter().map(|(s, _)| *s).collect();
    expected.insert("webhooks");
    assert_eq!(sections, expected, "a section with no env override?");
    for (section, keys) in section_fields() {
        for key in keys {
            let value = match defaults[section].get(*key) {
                Some(toml::Value::String(s)) => s.clone(),
                Some(toml::Value::Array(a)) => a
                    .iter()
                    .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                    .collect::<Vec<_>>()
                    .join(","),
                Some(other) => other.to_string(),
                None => match *key {
                    "token" => "0123456789abcdef0123".to_owned(),
                    "path" => "x.db".to_owned(),
                    "url" => "postgres://localhost/h".to_owned(),
                    "encryption_key_file" => "/etc/key".to_owned(),
                    "retry_schedule_seconds" => "5,300".to_owned(),
                    "max_queued_per_webhook" => "100".to_owned(),
                    "max_concurrency_per_webhook" => "2".to_owned(),
                    "cache_dir" => "/var/cache/hookline/plugins".to_owned(),
                    other => panic!("no sample value for {section}.{other}"),
                },
            };
            let var = format!("HOOKLINE_{section}_{key}").to_ascii_uppercase();
            let result = load_env("", &[(&var, &value)]);
            assert!(result.is_ok(), "{var}={value}: {}", result.unwrap_err());
        }
    }
}

#[test]
fn every_key_is_documented_in_the_defaults_and_the_example() {
    let example = include_str!("../../../../hookline.example.toml");
    let documented = |text: &str, key: &str| {
        text.lines().any(|line| {
            let line = line.trim_start();
            let line = line.strip_prefix("# ").unwrap_or(line);
            line.starts_with(&format!("{key} = "))
        })
    };
    let mut keys: Vec<&str> = section_fields()
        .into_iter()
        .flat_map(|(_, f)| f.iter().copied())
        .collect();
    keys.extend(fields_of::<WebhookConfig>());
    assert!(keys.len() > 40);
    for key in keys {
        assert!(
            documented(DEFAULT_CONFIG, key),
            "`{key}` is not in config.default.toml"
        );
        assert!(
            documented(example, key),
            "`{key}` is not in hookline.example.toml"
        );
    }
}

#[test]
fn suggestions_and_line_columns() {
    assert_eq!(
        closest("timeout", ["timeout_seconds", "workers"].into_iter()),
        None
    );
    assert_eq!(
        closest("evnets", ["events", "url"].into_iter()),
        Some("events")
    );
    assert_eq!(line_column("ab\ncdé\nx", 7), (2, 4));
    assert_eq!(line_column("ab", 99), (1, 3));
}
