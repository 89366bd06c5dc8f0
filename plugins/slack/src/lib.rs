//! # slack: Hookline events as Slack messages
//!
//! Turns each event into a [Slack incoming-webhook] message built from [Block Kit] blocks,
//! so a webhook pointed at a Slack incoming-webhook URL posts a readable summary:
//!
//! - `text`: a one-line fallback for notifications (`task.completed: task t1 (completed)`);
//! - a header block with the event type;
//! - a section with the resource and the event's key fields, by category:
//!   - `task.*`: status, duration, exit code, tokens, session; the prompt and the error
//!     quoted below;
//!   - `permission.*`: tool, risk level (with a coloured dot), status, who answered,
//!     session, task; the action and the reason quoted below;
//!   - `session.*`: status, agent, workspace, runner, lifecycle mode;
//!   - `runner.*`: name, status, pool, provider, session, sandbox mode;
//!   - any other event: the first ten scalar members of its data, in their order;
//! - a context line with the event id, the time and the resource's labels.
//!
//! Configuration (`plugin_config`), every key optional; the legacy `channel`, `username`
//! and `icon_emoji` overrides apply only where Slack still honours them for the app:
//!
//! ```toml
//! [[webhooks]]
//! id = "ops-slack"
//! url = "https://hooks.slack.com/services/T000/B000/XXXX"
//! events = ["task.failed", "permission.requested"]
//! plugin = "plugins/slack.wasm"
//! plugin_config = { channel = "#ops", username = "Hookline", icon_emoji = ":hook:" }
//! ```
//!
//! Text from the event is escaped for Slack (`&`, `<`, `>`) so it cannot ping channels or
//! forge links, and cut to Block Kit's length limits.
//!
//! [Slack incoming-webhook]: https://api.slack.com/messaging/webhooks
//! [Block Kit]: https://api.slack.com/block-kit

use std::fmt::Write as _;

use hookline_guest::serde::Deserialize;
use hookline_guest::serde_json::{Map, Value, json};
use hookline_guest::{
    Event, EventData, Outcome, PermissionEventData, Plugin, Request, RunnerEventData,
    SessionEventData, TaskEventData, Webhook, log,
};

/// The plugin's configuration.
#[derive(Debug, Default, Deserialize)]
#[serde(crate = "hookline_guest::serde", default, deny_unknown_fields)]
pub struct Config {
    /// Channel override, e.g. `#ops`.
    pub channel: Option<String>,
    /// Sender name override.
    pub username: Option<String>,
    /// Sender icon override, e.g. `:hook:`.
    pub icon_emoji: Option<String>,
}

/// The Slack plugin.
#[derive(Debug)]
pub struct Slack;

impl Plugin for Slack {
    fn transform(event: Event, _webhook: Webhook, config: &str) -> Outcome {
        match hookline_guest::config::<Config>(config) {
            Ok(cfg) => Outcome::send(Request::json(&message(&event, &cfg))),
            Err(e) => Outcome::fail(e),
        }
    }

    fn check_config(config: &str) -> Result<(), String> {
        hookline_guest::config::<Config>(config)
            .map(drop)
            .map_err(|e| e.to_string())
    }
}

hookline_guest::export_plugin!(Slack);

/// Block Kit limits, in characters.
const HEADER_MAX: usize = 150;
const FIELD_MAX: usize = 2000;
const SECTION_MAX: usize = 3000;
const CONTEXT_MAX: usize = 2000;
const FIELDS_MAX: usize = 10;

/// The event's summary: short `(label, value)` fields, and longer quoted texts.
#[derive(Debug, Default)]
struct Summary {
    /// The status, for the fallback text.
    status: Option<String>,
    fields: Vec<(String, String)>,
    quotes: Vec<(String, String)>,
}

impl Summary {
    fn field(&mut self, label: &str, value: impl Into<String>) {
        let value = value.into();
        if !value.is_empty() && self.fields.len() < FIELDS_MAX {
            self.fields.push((label.to_owned(), value));
        }
    }

    fn field_opt(&mut self, label: &str, value: Option<impl Into<String>>) {
        if let Some(value) = value {
            self.field(label, value);
        }
    }

    fn quote(&mut self, label: &str, text: &str) {
        if !text.is_empty() {
            self.quotes.push((label.to_owned(), text.to_owned()));
        }
    }
}

/// The Slack message for `event`.
pub fn message(event: &Event, cfg: &Config) -> Value {
    let summary = summarise(event);

    let resource = &event.resource;
    let mut fallback = event.event_type.clone();
    if !resource.id.is_empty() {
        let _ = write!(fallback, ": {} {}", resource.r#type, resource.id);
    }
    if let Some(status) = &summary.status {
        let _ = write!(fallback, " ({status})");
    }

    let mut blocks = vec![json!({
        "type": "header",
        "text": {"type": "plain_text", "text": cut(&event.event_type, HEADER_MAX), "emoji": true},
    })];

    let mut section = Map::new();
    section.insert("type".into(), json!("section"));
    let headline = if resource.id.is_empty() {
        format!("*{}*", escape(&event.event_type))
    } else {
        format!("*{}* `{}`", escape(&resource.r#type), escape(&resource.id))
    };
    section.insert("text".into(), mrkdwn(&headline, SECTION_MAX));
    if !summary.fields.is_empty() {
        let fields = summary
            .fields
            .iter()
            .map(|(label, value)| mrkdwn(&format!("*{label}*\n{}", escape(value)), FIELD_MAX))
            .collect();
        section.insert("fields".into(), Value::Array(fields));
    }
    blocks.push(Value::Object(section));

    for (label, text) in &summary.quotes {
        let quoted = escape(text).replace('\n', "\n>");
        blocks.push(json!({
            "type": "section",
            "text": mrkdwn(&format!("*{label}*\n>{quoted}"), SECTION_MAX),
        }));
    }

    let mut context = format!("{} · {}", escape(&event.id), escape(&event.timestamp));
    for (k, v) in &resource.labels {
        let _ = write!(context, " · {}={}", escape(k), escape(v));
    }
    blocks.push(json!({
        "type": "context",
        "elements": [mrkdwn(&context, CONTEXT_MAX)],
    }));

    let mut msg = Map::new();
    if let Some(channel) = &cfg.channel {
        msg.insert("channel".into(), json!(channel));
    }
    if let Some(username) = &cfg.username {
        msg.insert("username".into(), json!(username));
    }
    if let Some(icon) = &cfg.icon_emoji {
        msg.insert("icon_emoji".into(), json!(icon));
    }
    msg.insert("text".into(), json!(escape(&fallback)));
    msg.insert("blocks".into(), Value::Array(blocks));
    Value::Object(msg)
}

fn summarise(event: &Event) -> Summary {
    match event.typed_data() {
        Ok(EventData::Task(d)) => task(d),
        Ok(EventData::Permission(d)) => permission(d),
        Ok(EventData::Session(d)) => session(d),
        Ok(EventData::Runner(d)) => runner(d),
        Ok(EventData::Other(v)) => generic(&v),
        Err(e) => {
            // A summary should not fail a delivery: show what is there.
            log::warn(format!("{e}; summarising the data as is"));
            generic(&event.data().unwrap_or(Value::Null))
        }
    }
}

fn task(d: TaskEventData) -> Summary {
    let mut s = Summary::default();
    s.field("Status", d.status.clone());
    s.field_opt("Duration", d.duration_seconds.map(duration));
    s.field_opt("Exit code", d.exit_code.map(|c| c.to_string()));
    let tokens = match (d.tokens_input, d.tokens_output) {
        (Some(i), Some(o)) => Some(format!("{i} in / {o} out")),
        (Some(i), None) => Some(format!("{i} in")),
        (None, Some(o)) => Some(format!("{o} out")),
        (None, None) => None,
    };
    s.field_opt("Tokens", tokens);
    s.field("Session", d.session_id);
    s.quote("Prompt", &d.prompt);
    s.quote("Error", d.error.as_deref().unwrap_or_default());
    s.status = Some(d.status);
    s
}

fn permission(d: PermissionEventData) -> Summary {
    let mut s = Summary::default();
    s.field("Tool", d.tool);
    let dot = match d.risk_level.as_str() {
        "low" => ":large_green_circle: ",
        "medium" => ":large_yellow_circle: ",
        "high" => ":large_orange_circle: ",
        "critical" => ":red_circle: ",
        _ => "",
    };
    s.field("Risk level", format!("{dot}{}", d.risk_level));
    s.field("Status", d.status.clone());
    s.field_opt("Responded by", d.responded_by);
    s.field("Session", d.session_id);
    s.field("Task", d.task_id);
    s.quote("Action", &d.action);
    s.quote("Reason", d.response_reason.as_deref().unwrap_or_default());
    s.status = Some(d.status);
    s
}

fn session(d: SessionEventData) -> Summary {
    let mut s = Summary::default();
    s.field("Status", d.status.clone());
    s.field("Agent", d.agent);
    s.field("Workspace", d.workspace_id);
    s.field_opt("Runner", d.runner_id);
    s.field("Lifecycle", d.lifecycle_mode);
    s.status = Some(d.status);
    s
}

fn runner(d: RunnerEventData) -> Summary {
    let mut s = Summary::default();
    s.field("Name", d.name);
    s.field("Status", d.status.clone());
    s.field_opt("Pool", d.pool_name);
    s.field_opt("Provider", d.provider);
    s.field_opt("Session", d.session_id);
    s.field("Sandbox", d.sandbox_mode);
    s.status = Some(d.status);
    s
}

/// The first scalar members of an object: strings, numbers and booleans.
fn generic(data: &Value) -> Summary {
    let mut s = Summary::default();
    if let Value::Object(map) = data {
        for (key, value) in map {
            match value {
                Value::String(text) => s.field(key, text.clone()),
                Value::Number(n) => s.field(key, n.to_string()),
                Value::Bool(b) => s.field(key, b.to_string()),
                Value::Null | Value::Array(_) | Value::Object(_) => {}
            }
        }
        if let Some(Value::String(status)) = map.get("status") {
            s.status = Some(status.clone());
        }
    }
    s
}

/// `75` → `1m 15s`; `3600` → `1h 0m 0s`.
fn duration(seconds: i64) -> String {
    if seconds < 0 {
        return format!("{seconds}s");
    }
    let (h, m, s) = (seconds / 3600, seconds % 3600 / 60, seconds % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m {s}s"),
        _ => format!("{h}h {m}m {s}s"),
    }
}

fn mrkdwn(text: &str, max: usize) -> Value {
    json!({"type": "mrkdwn", "text": cut(text, max)})
}

/// Escapes the three characters Slack's markup gives a meaning to.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// `text` cut to at most `max` characters, ending with `…` when cut.
fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_owned(),
        Some(_) => {
            let mut out: String = text.chars().take(max - 1).collect();
            out.push('…');
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hookline_guest::Resource;

    fn run(event: Event, config: &str) -> Outcome {
        Slack::transform(
            event,
            Webhook::new("w", "https://hooks.slack.test/x"),
            config,
        )
    }

    fn body(event: Event, config: &str) -> Value {
        run(event, config)
            .request()
            .expect("a request")
            .body_json()
            .expect("JSON")
    }

    fn texts(v: &Value) -> Vec<String> {
        v["blocks"][1]["fields"]
            .as_array()
            .map(|f| {
                f.iter()
                    .map(|x| x["text"].as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn task_events_show_status_duration_and_prompt() {
        let e = Event::new("evt_1", "task.failed", "2024-01-02T03:04:05Z")
            .with_resource(Resource::new("t1", "task").with_label("team", "core"))
            .with_data_json(
                r#"{"session_id":"s1","prompt":"fix <the> bug\nnow","status":"failed","duration_seconds":75,"exit_code":2,"error":"boom","tokens_input":100,"tokens_output":7}"#,
            );
        let v = body(e, r##"{"channel":"#ops","username":"Hookline"}"##);
        assert_eq!(v["channel"], "#ops");
        assert_eq!(v["username"], "Hookline");
        assert!(v.get("icon_emoji").is_none());
        assert_eq!(v["text"], "task.failed: task t1 (failed)");
        assert_eq!(
            v["blocks"][0],
            json!({"type": "header", "text": {"type": "plain_text", "text": "task.failed", "emoji": true}})
        );
        assert_eq!(v["blocks"][1]["text"]["text"], "*task* `t1`");
        assert_eq!(
            texts(&v),
            [
                "*Status*\nfailed",
                "*Duration*\n1m 15s",
                "*Exit code*\n2",
                "*Tokens*\n100 in / 7 out",
                "*Session*\ns1"
            ]
        );
        assert_eq!(
            v["blocks"][2]["text"]["text"],
            "*Prompt*\n>fix &lt;the&gt; bug\n>now"
        );
        assert_eq!(v["blocks"][3]["text"]["text"], "*Error*\n>boom");
        assert_eq!(
            v["blocks"][4],
            json!({"type": "context", "elements": [{"type": "mrkdwn", "text": "evt_1 · 2024-01-02T03:04:05Z · team=core"}]})
        );
    }

    #[test]
    fn permission_events_show_tool_and_risk() {
        let e = Event::new("evt_2", "permission.requested", "2024-01-02T03:04:05Z")
            .with_resource(Resource::new("p1", "permission_request"))
            .with_data_json(
                r#"{"session_id":"s1","task_id":"t1","tool":"bash","action":"rm -rf /tmp/x","risk_level":"high","status":"pending"}"#,
            );
        let v = body(e, "{}");
        assert_eq!(
            texts(&v),
            [
                "*Tool*\nbash",
                "*Risk level*\n:large_orange_circle: high",
                "*Status*\npending",
                "*Session*\ns1",
                "*Task*\nt1"
            ]
        );
        assert_eq!(v["blocks"][2]["text"]["text"], "*Action*\n>rm -rf /tmp/x");
        assert_eq!(
            v["text"],
            "permission.requested: permission_request p1 (pending)"
        );
    }

    #[test]
    fn session_runner_and_other_events() {
        let s = Event::new("e", "session.created", "t").with_data_json(
            r#"{"workspace_id":"w","agent":"claude","status":"active","runner_id":"r1"}"#,
        );
        assert_eq!(
            texts(&body(s, "{}")),
            [
                "*Status*\nactive",
                "*Agent*\nclaude",
                "*Workspace*\nw",
                "*Runner*\nr1"
            ]
        );
        let r = Event::new("e", "runner.connected", "t")
            .with_data_json(r#"{"name":"r1","status":"idle","pool_name":"gpu"}"#);
        assert_eq!(
            texts(&body(r, "{}")),
            ["*Name*\nr1", "*Status*\nidle", "*Pool*\ngpu"]
        );
        let o = Event::new("e", "billing.paid", "t").with_data_json(
            r#"{"amount":12.5,"ok":true,"who":"<!channel>","nested":{"x":1},"status":"paid"}"#,
        );
        let v = body(o, "{}");
        // In the data's order (the plugin enables the SDK's `preserve-order`).
        assert_eq!(
            texts(&v),
            [
                "*amount*\n12.5",
                "*ok*\ntrue",
                "*who*\n&lt;!channel&gt;",
                "*status*\npaid"
            ]
        );
        assert_eq!(v["text"], "billing.paid (paid)");
        assert_eq!(v["blocks"][1]["text"]["text"], "*billing.paid*");
    }

    #[test]
    fn mismatched_data_is_summarised_as_is_with_a_warning() {
        let e = Event::new("e", "task.created", "t").with_data_json(r#"{"weird":"shape"}"#);
        let v = body(e, "{}");
        assert_eq!(texts(&v), ["*weird*\nshape"]);
        let logged = log::take_captured();
        assert_eq!(logged.len(), 1);
        assert!(
            logged[0].1.contains("missing field `session_id`"),
            "{logged:?}"
        );
    }

    #[test]
    fn long_texts_are_cut_to_block_kit_limits() {
        let long = "x".repeat(200);
        let e = Event::new("e", format!("custom.{long}"), "t")
            .with_data_json(format!(r#"{{"a":"{}"}}"#, "é".repeat(5000)));
        let v = body(e, "{}");
        let header = v["blocks"][0]["text"]["text"].as_str().unwrap();
        assert_eq!(header.chars().count(), HEADER_MAX);
        assert!(header.ends_with('…'));
        let field = v["blocks"][1]["fields"][0]["text"].as_str().unwrap();
        assert_eq!(field.chars().count(), FIELD_MAX);
    }

    #[test]
    fn bad_config_fails() {
        let out = run(Event::new("e", "x", "t"), r#"{"chan": "x"}"#);
        assert!(
            out.fail_message()
                .unwrap()
                .starts_with("plugin_config: unknown field `chan`")
        );
    }

    #[test]
    fn durations_read_naturally() {
        for (s, want) in [
            (0, "0s"),
            (59, "59s"),
            (60, "1m 0s"),
            (3725, "1h 2m 5s"),
            (-3, "-3s"),
        ] {
            assert_eq!(duration(s), want);
        }
    }
}
