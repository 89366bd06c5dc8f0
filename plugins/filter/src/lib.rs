//! # filter: deliver or skip events by rules on their fields
//!
//! Webhook `events` patterns choose events by type; this plugin chooses by content. Each
//! rule tests one field of the body; the mode says what a match means:
//!
//! - `mode = "allow"` (the default): deliver only events that match at least one rule, skip
//!   the rest;
//! - `mode = "deny"`: skip events that match any rule, deliver the rest.
//!
//! A delivered event gets the host's default body, unchanged. A skipped one is recorded as
//! `skipped` with a reason that names the rule, e.g.
//! ``rule `risky` matched (mode deny): data.risk_level in ["high","critical"]``.
//!
//! ```toml
//! [[webhooks]]
//! id = "security"
//! url = "https://security.example.com/hook"
//! events = ["permission.*"]
//! plugin = "plugins/filter.wasm"
//! plugin_config = { mode = "allow", rules = [
//!     { name = "risky", field = "data.risk_level", in = ["high", "critical"] },
//!     { field = "data.responded_by", exists = true },
//! ] }
//! ```
//!
//! A rule has a `field` (a path rooted at the body: `event`, `timestamp`, `resource.…` or
//! `data.…`, with the syntax of `hookline_guest::path`), an optional `name` (else it is
//! called `#1`, `#2`, … in order), and exactly one test:
//!
//! - `equals = <JSON value>`: the field equals it (numbers compare by value: `1` equals
//!   `1.0`);
//! - `in = [<JSON values>]`: the field equals one of them;
//! - `exists = true | false`: the field is present and not `null` (or, with `false`,
//!   absent or `null`).
//!
//! With `*` in the path a rule matches when any value it reaches passes the test.

use std::fmt;

use hookline_guest::path::FieldPath;
use hookline_guest::serde::{Deserialize, Deserializer};
use hookline_guest::serde_json::Value;
use hookline_guest::{Event, Outcome, Plugin, Request, Webhook, log};

/// What a matching rule means.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(crate = "hookline_guest::serde", rename_all = "lowercase")]
pub enum Mode {
    /// Deliver only events matching a rule.
    #[default]
    Allow,
    /// Skip events matching a rule.
    Deny,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Allow => "allow",
            Self::Deny => "deny",
        })
    }
}

/// The plugin's configuration, as written.
#[derive(Debug, Deserialize)]
#[serde(crate = "hookline_guest::serde", deny_unknown_fields)]
pub struct Config {
    /// The rules, at least one.
    pub rules: Vec<RuleConfig>,
    /// What a match means.
    #[serde(default)]
    pub mode: Mode,
}

/// One rule, as written.
#[derive(Debug, Deserialize)]
#[serde(crate = "hookline_guest::serde", deny_unknown_fields)]
pub struct RuleConfig {
    /// A name for skip reasons and logs.
    #[serde(default)]
    pub name: Option<String>,
    /// The path of the field tested.
    pub field: String,
    /// Matches a field equal to this value (`null` included).
    #[serde(default, deserialize_with = "present")]
    pub equals: Option<Value>,
    /// Matches a field equal to one of these values.
    #[serde(default, rename = "in")]
    pub one_of: Option<Vec<Value>>,
    /// Matches a field that is present and not `null` (`true`), or one that is not (`false`).
    #[serde(default)]
    pub exists: Option<bool>,
}

/// `Some` for a present value, `null` included (plain `Option` reads `null` as `None`).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// The test of a [`Rule`].
#[derive(Debug, Clone, PartialEq)]
pub enum Test {
    /// The field equals this value.
    Equals(Value),
    /// The field equals one of these values.
    In(Vec<Value>),
    /// The field is present and not `null` (`true`) or not (`false`).
    Exists(bool),
}

/// A checked rule.
#[derive(Debug, Clone)]
pub struct Rule {
    name: String,
    field: FieldPath,
    test: Test,
}

impl Rule {
    /// Whether `body` (the default body as JSON) matches the rule.
    pub fn matches(&self, body: &Value) -> bool {
        let mut any = false;
        match &self.test {
            Test::Equals(want) => self.field.for_each(body, |v| any |= json_eq(v, want)),
            Test::In(wants) => self
                .field
                .for_each(body, |v| any |= wants.iter().any(|w| json_eq(v, w))),
            Test::Exists(want) => {
                let mut found = false;
                self.field.for_each(body, |v| found |= !v.is_null());
                any = found == *want;
            }
        }
        any
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let field = &self.field;
        match &self.test {
            Test::Equals(v) => write!(f, "{field} equals {v}"),
            Test::In(vs) => write!(f, "{field} in {}", Value::Array(vs.clone())),
            Test::Exists(true) => write!(f, "{field} exists"),
            Test::Exists(false) => write!(f, "{field} does not exist"),
        }
    }
}

/// JSON equality, numbers compared by value (`1 == 1.0`).
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x == y,
            _ => match (x.as_u64(), y.as_u64()) {
                (Some(x), Some(y)) => x == y,
                _ => x.as_f64() == y.as_f64(),
            },
        },
        _ => a == b,
    }
}

/// The checked configuration.
#[derive(Debug)]
pub struct Filter {
    rules: Vec<Rule>,
    mode: Mode,
}

/// What the filter decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Deliver; the reason is for the log.
    Deliver(String),
    /// Skip, for this reason.
    Skip(String),
}

impl Filter {
    /// Reads and checks the configuration.
    ///
    /// # Errors
    /// A message naming the bad key, rule or path.
    pub fn from_config(config: &str) -> Result<Self, String> {
        let cfg: Config = hookline_guest::config(config).map_err(|e| e.to_string())?;
        if cfg.rules.is_empty() {
            return Err("plugin_config: `rules` must have at least one rule".to_owned());
        }
        let rules = cfg
            .rules
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                let at = |msg: String| format!("plugin_config: rules[{i}]: {msg}");
                let field = FieldPath::body(&r.field).map_err(|e| at(e.to_string()))?;
                let test = match (r.equals, r.one_of, r.exists) {
                    (Some(v), None, None) => Test::Equals(v),
                    (None, Some(vs), None) => Test::In(vs),
                    (None, None, Some(b)) => Test::Exists(b),
                    _ => {
                        return Err(at(
                            "give exactly one of `equals`, `in` and `exists`".to_owned()
                        ));
                    }
                };
                let name = r.name.unwrap_or_else(|| format!("#{}", i + 1));
                Ok(Rule { name, field, test })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            rules,
            mode: cfg.mode,
        })
    }

    /// Decides for `body`, the default body as JSON.
    pub fn decide(&self, body: &Value) -> Decision {
        let hit = self.rules.iter().find(|r| r.matches(body));
        let mode = self.mode;
        match (mode, hit) {
            (Mode::Allow, Some(r)) => {
                Decision::Deliver(format!("rule `{}` matched (mode {mode}): {r}", r.name))
            }
            (Mode::Allow, None) => Decision::Skip(format!(
                "no rule matched (mode {mode}, {} rule{})",
                self.rules.len(),
                if self.rules.len() == 1 { "" } else { "s" }
            )),
            (Mode::Deny, Some(r)) => {
                Decision::Skip(format!("rule `{}` matched (mode {mode}): {r}", r.name))
            }
            (Mode::Deny, None) => Decision::Deliver(format!("no rule matched (mode {mode})")),
        }
    }
}

/// The filter plugin.
#[derive(Debug)]
pub struct FilterPlugin;

impl Plugin for FilterPlugin {
    fn check_config(config: &str) -> Result<(), String> {
        Filter::from_config(config).map(drop)
    }

    fn transform(event: Event, _webhook: Webhook, config: &str) -> Outcome {
        let filter = match Filter::from_config(config) {
            Ok(filter) => filter,
            Err(e) => return Outcome::fail(e),
        };
        let body = match event.body_value() {
            Ok(body) => body,
            Err(e) => return Outcome::fail(e),
        };
        match filter.decide(&body) {
            Decision::Deliver(why) => {
                log::debug(format!("delivering: {why}"));
                Outcome::send(Request::new(event.default_body()))
            }
            Decision::Skip(why) => Outcome::skip(why),
        }
    }
}

hookline_guest::export_plugin!(FilterPlugin);

#[cfg(test)]
mod tests {
    use super::*;
    use hookline_guest::Resource;
    use hookline_guest::serde_json::json;

    fn permission(risk: &str) -> Event {
        Event::new("evt_1", "permission.requested", "2024-01-02T03:04:05Z")
            .with_resource(Resource::new("p1", "permission_request").with_label("env", "prod"))
            .with_data_json(format!(
                r#"{{"session_id":"s1","task_id":"t1","tool":"bash","action":"ls","risk_level":"{risk}","status":"pending","exit_code":0}}"#
            ))
    }

    fn run(event: Event, config: &Value) -> Outcome {
        FilterPlugin::transform(
            event,
            Webhook::new("w", "https://example.com/hook"),
            &config.to_string(),
        )
    }

    #[test]
    fn allow_mode_delivers_matches_unchanged_and_skips_the_rest() {
        let cfg = json!({"rules": [{"field": "data.risk_level", "in": ["high", "critical"]}], "mode": "allow"});
        let e = permission("critical");
        let want = e.default_body();
        let out = run(e, &cfg);
        assert_eq!(out.request().unwrap().body, want);
        assert_eq!(
            log::take_captured()[0].1,
            r#"delivering: rule `#1` matched (mode allow): data.risk_level in ["high","critical"]"#
        );
        assert_eq!(
            run(permission("low"), &cfg).skip_reason(),
            Some("no rule matched (mode allow, 1 rule)")
        );
    }

    #[test]
    fn deny_mode_skips_matches_naming_the_rule() {
        let cfg = json!({"mode": "deny", "rules": [
            {"field": "resource.labels.env", "equals": "staging"},
            {"name": "risky", "field": "data.risk_level", "in": ["high", "critical"]},
        ]});
        assert_eq!(
            run(permission("high"), &cfg).skip_reason(),
            Some(r#"rule `risky` matched (mode deny): data.risk_level in ["high","critical"]"#)
        );
        assert!(run(permission("low"), &cfg).request().is_some());
    }

    #[test]
    fn mode_defaults_to_allow() {
        let cfg = json!({"rules": [{"field": "event", "equals": "permission.requested"}]});
        assert!(run(permission("low"), &cfg).request().is_some());
        let other = Event::new("e", "task.created", "t");
        assert_eq!(
            run(other, &cfg).skip_reason(),
            Some("no rule matched (mode allow, 1 rule)")
        );
    }

    #[test]
    fn equals_compares_numbers_by_value_and_matches_null() {
        let body = permission("low").body_value().unwrap();
        let decide = |rule: Value| {
            Filter::from_config(&json!({"rules": [rule]}).to_string())
                .unwrap()
                .decide(&body)
        };
        assert!(matches!(
            decide(json!({"field": "data.exit_code", "equals": 0.0})),
            Decision::Deliver(_)
        ));
        assert!(matches!(
            decide(json!({"field": "data.exit_code", "equals": 1})),
            Decision::Skip(_)
        ));
        assert!(matches!(
            decide(json!({"field": "data.exit_code", "equals": "0"})),
            Decision::Skip(_)
        ));
        assert!(matches!(
            decide(json!({"field": "data.nope", "equals": null})),
            Decision::Skip(_)
        ));
        let with_null = json!({"data": {"x": null}});
        let f = Filter::from_config(r#"{"rules":[{"field":"data.x","equals":null}]}"#).unwrap();
        assert!(matches!(f.decide(&with_null), Decision::Deliver(_)));
    }

    #[test]
    fn exists_treats_null_as_absent() {
        let body = json!({"data": {"a": 1, "n": null, "items": [{"e": null}, {"e": 2}]}});
        let decide = |field: &str, exists: bool| {
            let cfg = json!({"rules": [{"field": field, "exists": exists}]});
            Filter::from_config(&cfg.to_string()).unwrap().decide(&body)
        };
        for (field, exists, deliver) in [
            ("data.a", true, true),
            ("data.a", false, false),
            ("data.n", true, false),
            ("data.n", false, true),
            ("data.missing", false, true),
            ("data.items.*.e", true, true),
            ("data.items.0.e", true, false),
        ] {
            assert_eq!(
                matches!(decide(field, exists), Decision::Deliver(_)),
                deliver,
                "{field} exists={exists}"
            );
        }
        let f =
            Filter::from_config(r#"{"rules":[{"field":"data.n","exists":false}],"mode":"deny"}"#)
                .unwrap();
        assert_eq!(
            f.decide(&body),
            Decision::Skip("rule `#1` matched (mode deny): data.n does not exist".into())
        );
    }

    #[test]
    fn bad_configs_say_what_is_wrong() {
        let msg = |cfg: Value| {
            run(permission("low"), &cfg)
                .fail_message()
                .map(str::to_owned)
        };
        assert_eq!(
            msg(json!({"rules": []})).unwrap(),
            "plugin_config: `rules` must have at least one rule"
        );
        assert!(
            msg(json!({}))
                .unwrap()
                .starts_with("plugin_config: missing field `rules`")
        );
        assert_eq!(
            msg(json!({"rules": [{"field": "data.a", "equals": 1, "exists": true}]})).unwrap(),
            "plugin_config: rules[0]: give exactly one of `equals`, `in` and `exists`"
        );
        assert_eq!(
            msg(json!({"rules": [{"field": "data.a", "equals": 1}, {"field": "risk_level", "exists": true}]})).unwrap(),
            "plugin_config: rules[1]: path `risk_level`: must start with `event`, `timestamp`, \
             `resource` or `data` (paths are rooted at the body)"
        );
        assert!(
            msg(json!({"rules": [{"field": "data.a", "exists": true}], "mode": "block"}))
                .unwrap()
                .starts_with("plugin_config: unknown variant `block`, expected `allow` or `deny`")
        );
    }
}
