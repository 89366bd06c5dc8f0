//! # redact: remove or mask fields before they leave
//!
//! Sends the usual body, `{"event","timestamp","resource","data"}`, with configured fields
//! removed or replaced by a mask, so a receiver never sees them (the signature covers the
//! redacted body).
//!
//! ```toml
//! [[webhooks]]
//! id = "analytics"
//! url = "https://analytics.example.com/hook"
//! events = ["task.*"]
//! plugin = "plugins/redact.wasm"
//! plugin_config = { remove = ["data.prompt"], mask = ["resource.labels.email", "data.error"], mask_with = "***" }
//! ```
//!
//! - `remove` (list of paths): members taken out of the body;
//! - `mask` (list of paths): values replaced by `mask_with` (whatever their type);
//! - `mask_with` (string, default `"***"`).
//!
//! Paths are rooted at the body, so each starts with `event`, `timestamp`, `resource` or
//! `data`: `data.prompt`, `resource.labels.email`, `data.items.*.token` (`*` is every
//! member or element), `data.items.0` (an array index), and keys with dots in brackets:
//! `resource.labels["app.kubernetes.io/owner"]` (see `hookline_guest::path`). A path that
//! reaches nothing in an event is ignored; a malformed one fails the delivery, naming it.
//! Removal happens before masking. Everything else keeps its order and value.
//!
//! Cost: the configuration is read once per call. The body is written once, in one pass
//! (`sparse`): only the objects and arrays a path goes into are split into their members,
//! with no tree, no hashing and no allocation per value; everything else is copied verbatim
//! (numbers and escapes keep their exact bytes). Without any path the body is the host's
//! default body, byte for byte.

mod sparse;

use hookline_guest::path::{BODY_MEMBERS, FieldPath, Segment};
use hookline_guest::serde::Deserialize;
use hookline_guest::serde_json;
use hookline_guest::{Event, Outcome, Plugin, Request, Webhook};
use sparse::{Action, Fate, Rule};

/// The mask used when the configuration names none.
pub const DEFAULT_MASK: &str = "***";

/// The plugin's configuration, as written.
#[derive(Debug, Deserialize)]
#[serde(crate = "hookline_guest::serde", default, deny_unknown_fields)]
pub struct Config {
    /// Paths to remove.
    pub remove: Vec<String>,
    /// Paths to mask.
    pub mask: Vec<String>,
    /// What masked values become.
    pub mask_with: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            remove: Vec::new(),
            mask: Vec::new(),
            mask_with: DEFAULT_MASK.to_owned(),
        }
    }
}

/// The configuration with its paths parsed.
#[derive(Debug)]
pub struct Rules {
    remove: Vec<FieldPath>,
    mask: Vec<FieldPath>,
    mask_with: String,
}

impl Rules {
    /// Reads and checks the configuration.
    ///
    /// # Errors
    /// A message naming the bad key or path, e.g.
    /// ``plugin_config: remove[0]: path `prompt`: must start with …``.
    pub fn from_config(config: &str) -> Result<Self, String> {
        let cfg: Config = hookline_guest::config(config).map_err(|e| e.to_string())?;
        let parse = |key: &str, paths: &[String]| -> Result<Vec<FieldPath>, String> {
            paths
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    FieldPath::body(p).map_err(|e| format!("plugin_config: {key}[{i}]: {e}"))
                })
                .collect()
        };
        Ok(Self {
            remove: parse("remove", &cfg.remove)?,
            mask: parse("mask", &cfg.mask)?,
            mask_with: cfg.mask_with,
        })
    }

    fn paths(&self) -> impl Iterator<Item = &FieldPath> {
        self.remove.iter().chain(&self.mask)
    }

    /// The rules from the body down: removals first, then masks.
    fn rules(&self) -> Vec<Rule<'_>> {
        let removals = self.remove.iter().map(|p| (p, Action::Remove));
        let masks = self.mask.iter().map(|p| (p, Action::Mask));
        removals
            .chain(masks)
            .map(|(p, action)| Rule {
                rest: p.segments(),
                action,
            })
            .collect()
    }

    /// The redacted body for `event`.
    ///
    /// # Errors
    /// When the event data is not valid JSON where a path goes into it (the host never
    /// sends such data).
    pub fn redact(&self, event: Event) -> Result<Vec<u8>, String> {
        if self.paths().next().is_none() {
            return Ok(event.default_body());
        }
        let mask = serde_json::to_string(&self.mask_with).map_err(|e| e.to_string())?;
        let rules = self.rules();
        let bad_data = |e: serde_json::Error| format!("event `{}`: data: {e}", event.event_type);
        if sparse::needs_one_pass_per_rule(&rules) {
            // A removal by index shifts what later rules see: one rule at a time.
            let mut body = event.default_body();
            let mut out = Vec::with_capacity(body.len());
            for rule in &rules {
                out.clear();
                let text = std::str::from_utf8(&body).map_err(|e| e.to_string())?;
                sparse::edit(text, std::slice::from_ref(rule), &mask, &mut out)
                    .map_err(bad_data)?;
                std::mem::swap(&mut body, &mut out);
            }
            return Ok(body);
        }
        // The body's members one by one: only what a path reaches is parsed (`resource`
        // serialised first when one does); the rest is written as the default body has it.
        let data = event.data_json();
        let mut out = Vec::with_capacity(128 + data.len() + event.timestamp.len());
        out.push(b'{');
        let mut first = true;
        for name in BODY_MEMBERS {
            let fate = sparse::fate(&rules, |s| matches!(s, Segment::Key(k) if k == name));
            if matches!(fate, Fate::Remove) {
                continue;
            }
            if !first {
                out.push(b',');
            }
            first = false;
            out.push(b'"');
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b"\":");
            let text = match (name, &fate) {
                (_, Fate::Mask) => Ok(String::new()),
                ("event", _) => serde_json::to_string(&event.event_type),
                ("timestamp", _) => serde_json::to_string(&event.timestamp),
                ("resource", _) => serde_json::to_string(&event.resource),
                _ => {
                    sparse::write_child(data, fate, &mask, &mut out).map_err(bad_data)?;
                    continue;
                }
            }
            .map_err(|e| e.to_string())?;
            sparse::write_child(&text, fate, &mask, &mut out).map_err(|e| e.to_string())?;
        }
        out.push(b'}');
        Ok(out)
    }
}

/// The redact plugin.
#[derive(Debug)]
pub struct Redact;

impl Plugin for Redact {
    fn check_config(config: &str) -> Result<(), String> {
        Rules::from_config(config).map(drop)
    }

    fn transform(event: Event, _webhook: Webhook, config: &str) -> Outcome {
        let rules = match Rules::from_config(config) {
            Ok(rules) => rules,
            Err(e) => return Outcome::fail(e),
        };
        match rules.redact(event) {
            Ok(body) => Outcome::send(Request::new(body)),
            Err(e) => Outcome::fail(e),
        }
    }
}

hookline_guest::export_plugin!(Redact);

#[cfg(test)]
mod tests {
    use super::*;
    use hookline_guest::Resource;
    use hookline_guest::serde_json::{Value, json};

    fn event() -> Event {
        Event::new("evt_1", "task.completed", "2024-01-02T03:04:05.5Z")
            .with_resource(
                Resource::new("t1", "task")
                    .with_label("email", "a@example.com")
                    .with_label("team", "core"),
            )
            .with_data_json(
                r#"{"session_id":"s1","prompt":"my password is hunter2","status":"completed","error":"x","tokens_input":10}"#,
            )
    }

    fn run(event: Event, config: &Value) -> Outcome {
        Redact::transform(
            event,
            Webhook::new("w", "https://example.com/hook"),
            &config.to_string(),
        )
    }

    fn body_text(out: &Outcome) -> String {
        out.request()
            .expect("a request")
            .body_text()
            .expect("UTF-8")
            .to_owned()
    }

    #[test]
    fn the_documented_example() {
        let out = run(
            event(),
            &json!({"remove": ["data.prompt"], "mask": ["resource.labels.email"], "mask_with": "***"}),
        );
        let req = out.request().unwrap();
        assert_eq!(req.content_type, None);
        // Key order is the origin's, inside `data` too.
        assert_eq!(
            body_text(&out),
            r#"{"event":"task.completed","timestamp":"2024-01-02T03:04:05.5Z","resource":{"id":"t1","type":"task","labels":{"email":"***","team":"core"}},"data":{"session_id":"s1","status":"completed","error":"x","tokens_input":10}}"#
        );
    }

    #[test]
    fn no_paths_send_the_default_body_unchanged() {
        let e = event();
        let want = String::from_utf8(e.default_body()).unwrap();
        assert_eq!(body_text(&run(e, &json!({}))), want);
    }

    #[test]
    fn head_only_rules_copy_the_data_verbatim() {
        let e = event().with_data_json(r#"{"n":1.50,"s":"\u00e9"}"#);
        let out = run(
            e,
            &json!({"mask": ["resource.labels.*"], "remove": ["timestamp"]}),
        );
        assert_eq!(
            body_text(&out),
            r#"{"event":"task.completed","resource":{"id":"t1","type":"task","labels":{"email":"***","team":"***"}},"data":{"n":1.50,"s":"\u00e9"}}"#
        );
        let all = run(
            event(),
            &json!({"remove": ["event", "timestamp", "resource"]}),
        );
        assert!(body_text(&all).starts_with(r#"{"data":{"session_id":"s1""#));
        let none = Event::new("e", "runner.connected", "2024-01-02T03:04:05Z");
        assert_eq!(
            body_text(&run(none, &json!({"remove": ["resource"]}))),
            r#"{"event":"runner.connected","timestamp":"2024-01-02T03:04:05Z","data":null}"#
        );
    }

    #[test]
    fn masks_any_type_and_ignores_absent_paths() {
        let out = run(
            event(),
            &json!({"mask": ["data.tokens_input", "data.nope", "data.prompt.deeper"], "mask_with": "[redacted]"}),
        );
        let body: Value = out.request().unwrap().body_json().unwrap();
        assert_eq!(body["data"]["tokens_input"], "[redacted]");
        assert_eq!(body["data"]["prompt"], "my password is hunter2");
        assert!(body["data"].get("nope").is_none());
    }

    #[test]
    fn remove_comes_before_mask_and_wildcards_reach_arrays() {
        let e = event().with_data_json(
            r#"{"items":[{"token":"a","keep":1},{"token":"b","keep":2}],"prompt":"p"}"#,
        );
        let out = run(
            e,
            &json!({"remove": ["data.items.*.token", "data.prompt"], "mask": ["data.prompt", "data.items[1].keep"]}),
        );
        let body: Value = out.request().unwrap().body_json().unwrap();
        assert_eq!(
            body["data"],
            json!({"items": [{"keep": 1}, {"keep": "***"}]})
        );
    }

    #[test]
    fn removing_data_leaves_the_rest() {
        let out = run(event(), &json!({"remove": ["data"]}));
        assert_eq!(
            body_text(&out),
            r#"{"event":"task.completed","timestamp":"2024-01-02T03:04:05.5Z","resource":{"id":"t1","type":"task","labels":{"email":"a@example.com","team":"core"}}}"#
        );
    }

    #[test]
    fn bad_configs_name_the_key_and_the_path() {
        let msg = |config: Value| run(event(), &config).fail_message().map(str::to_owned);
        assert_eq!(
            msg(json!({"remove": ["data.ok", "prompt"]})).unwrap(),
            "plugin_config: remove[1]: path `prompt`: must start with `event`, `timestamp`, \
             `resource` or `data` (paths are rooted at the body)"
        );
        assert_eq!(
            msg(json!({"mask": ["data..x"]})).unwrap(),
            "plugin_config: mask[0]: path `data..x`: empty segment after the `.` at byte 4"
        );
        assert!(
            msg(json!({"remove": "data.prompt"}))
                .unwrap()
                .starts_with("plugin_config: invalid type: string")
        );
        assert!(
            msg(json!({"mask_width": "x"}))
                .unwrap()
                .starts_with("plugin_config: unknown field `mask_width`")
        );
    }

    #[test]
    fn check_config_refuses_what_transform_would_fail_on() {
        let refused = Redact::check_config(r#"{"paths":["data.prompt"]}"#).unwrap_err();
        assert!(refused.contains("unknown field `paths`"), "{refused}");
        assert!(Redact::check_config(r#"{"remove":["prompt"]}"#).is_err());
        assert_eq!(
            Redact::check_config(r#"{"remove":["data.prompt"]}"#),
            Ok(())
        );
        assert_eq!(Redact::check_config("{}"), Ok(()));
    }

    #[test]
    fn invalid_data_fails_instead_of_sending_garbage() {
        let e = event().with_data_json("{broken");
        let out = run(e, &json!({"remove": ["data.prompt"]}));
        assert!(
            out.fail_message()
                .unwrap()
                .starts_with("event `task.completed`: data: "),
            "{out:?}"
        );
    }
}
