//! The origin's event catalogue and typed event data: what every event type is called, how a
//! type splits into category and action, the [`ResourceInfo`] that triggered it and the data
//! each category carries.
//!
//! The structs serialise exactly as the origin's Go structs: same names, same field order,
//! same `omitempty` behaviour. The host builds receivers' bodies from them
//! (`hookline_core::event::Payload`), and the plugin SDK reads them back, so both sides use
//! these very declarations.

use std::collections::BTreeMap;

use serde::de::Deserializer;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `session.created`
pub const SESSION_CREATED: &str = "session.created";
/// `session.suspended`
pub const SESSION_SUSPENDED: &str = "session.suspended";
/// `session.resumed`
pub const SESSION_RESUMED: &str = "session.resumed";
/// `session.terminated`
pub const SESSION_TERMINATED: &str = "session.terminated";
/// `task.created`
pub const TASK_CREATED: &str = "task.created";
/// `task.started`
pub const TASK_STARTED: &str = "task.started";
/// `task.completed`
pub const TASK_COMPLETED: &str = "task.completed";
/// `task.failed`
pub const TASK_FAILED: &str = "task.failed";
/// `task.canceled`
pub const TASK_CANCELED: &str = "task.canceled";
/// `runner.connected`
pub const RUNNER_CONNECTED: &str = "runner.connected";
/// `runner.disconnected`
pub const RUNNER_DISCONNECTED: &str = "runner.disconnected";
/// `runner.assigned`
pub const RUNNER_ASSIGNED: &str = "runner.assigned";
/// `runner.released`
pub const RUNNER_RELEASED: &str = "runner.released";
/// `permission.requested`
pub const PERMISSION_REQUESTED: &str = "permission.requested";
/// `permission.approved`
pub const PERMISSION_APPROVED: &str = "permission.approved";
/// `permission.denied`
pub const PERMISSION_DENIED: &str = "permission.denied";
/// `permission.canceled`
pub const PERMISSION_CANCELED: &str = "permission.canceled";

/// The origin's 17 event types, in the origin's order (`KnownEventTypes`).
pub const KNOWN_EVENT_TYPES: [&str; 17] = [
    SESSION_CREATED,
    SESSION_SUSPENDED,
    SESSION_RESUMED,
    SESSION_TERMINATED,
    TASK_CREATED,
    TASK_STARTED,
    TASK_COMPLETED,
    TASK_FAILED,
    TASK_CANCELED,
    RUNNER_CONNECTED,
    RUNNER_DISCONNECTED,
    RUNNER_ASSIGNED,
    RUNNER_RELEASED,
    PERMISSION_REQUESTED,
    PERMISSION_APPROVED,
    PERMISSION_DENIED,
    PERMISSION_CANCELED,
];

/// [`KNOWN_EVENT_TYPES`] as a slice.
pub fn known_event_types() -> &'static [&'static str] {
    &KNOWN_EVENT_TYPES
}

/// Whether `t` is one of the origin's 17 event types (exact, case-sensitive).
pub fn is_known(t: &str) -> bool {
    matches!(
        t,
        SESSION_CREATED
            | SESSION_SUSPENDED
            | SESSION_RESUMED
            | SESSION_TERMINATED
            | TASK_CREATED
            | TASK_STARTED
            | TASK_COMPLETED
            | TASK_FAILED
            | TASK_CANCELED
            | RUNNER_CONNECTED
            | RUNNER_DISCONNECTED
            | RUNNER_ASSIGNED
            | RUNNER_RELEASED
            | PERMISSION_REQUESTED
            | PERMISSION_APPROVED
            | PERMISSION_DENIED
            | PERMISSION_CANCELED
    )
}

/// The part of `t` before its first `.`, or all of `t` (`ParseEventCategory`).
pub fn category(t: &str) -> &str {
    t.split_once('.').map_or(t, |(category, _)| category)
}

/// The part of `t` after its first `.`, or `""` (`ParseEventAction`).
pub fn action(t: &str) -> &str {
    t.split_once('.').map_or("", |(_, action)| action)
}

/// Resource type of a session.
pub const RESOURCE_SESSION: &str = "session";
/// Resource type of a task.
pub const RESOURCE_TASK: &str = "task";
/// Resource type of a runner.
pub const RESOURCE_RUNNER: &str = "runner";
/// Resource type of a permission request.
pub const RESOURCE_PERMISSION_REQUEST: &str = "permission_request";

/// The resource that triggered an event (the origin's `ResourceInfo`).
///
/// `labels` and `annotations` are left out of the JSON when empty, as Go's `omitempty` does
/// for maps; an absent or `null` map reads as empty. Keys are written in byte order, as Go
/// sorts map keys.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ResourceInfo {
    /// The resource's id.
    pub id: String,
    /// The resource's type, e.g. [`RESOURCE_TASK`]; `"type"` in JSON.
    #[serde(rename = "type")]
    pub r#type: String,
    /// Labels, e.g. for filtering.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "null_as_empty"
    )]
    pub labels: BTreeMap<String, String>,
    /// Annotations: free-form metadata.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "null_as_empty"
    )]
    pub annotations: BTreeMap<String, String>,
}

impl ResourceInfo {
    /// A resource with no labels or annotations.
    pub fn new(id: impl Into<String>, r#type: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            r#type: r#type.into(),
            ..Self::default()
        }
    }

    /// Adds a label.
    #[must_use]
    pub fn with_label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.insert(key.into(), value.into());
        self
    }

    /// Adds an annotation.
    #[must_use]
    pub fn with_annotation(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.annotations.insert(key.into(), value.into());
        self
    }

    /// The resource as a JSON object, as it appears in a payload (empty maps left out).
    pub fn to_value(&self) -> Value {
        let mut map = Map::new();
        map.insert("id".to_owned(), Value::String(self.id.clone()));
        map.insert("type".to_owned(), Value::String(self.r#type.clone()));
        if !self.labels.is_empty() {
            map.insert("labels".to_owned(), string_map(&self.labels));
        }
        if !self.annotations.is_empty() {
            map.insert("annotations".to_owned(), string_map(&self.annotations));
        }
        Value::Object(map)
    }
}

fn string_map(m: &BTreeMap<String, String>) -> Value {
    Value::Object(
        m.iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

fn null_as_empty<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    Ok(Option::deserialize(d)?.unwrap_or_default())
}

/// Data of `session.*` events (the origin's `SessionEventData`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionEventData {
    /// The session's workspace.
    pub workspace_id: String,
    /// The agent running in the session.
    pub agent: String,
    /// The session's status.
    pub status: String,
    /// The runner hosting the session, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runner_id: Option<String>,
    /// The lifecycle mode; omitted when empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub lifecycle_mode: String,
}

/// Data of `task.*` events (the origin's `TaskEventData`).
///
/// Go's `int` is 64-bit, so every integer here is an `i64`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TaskEventData {
    /// The task's session.
    pub session_id: String,
    /// The task's prompt, truncated for privacy (see [`TaskEventData::with_prompt`]); omitted
    /// when empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub prompt: String,
    /// The task's status.
    pub status: String,
    /// How long the task ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<i64>,
    /// The task's exit code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    /// Why the task failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Input tokens used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_input: Option<i64>,
    /// Output tokens used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_output: Option<i64>,
}

impl TaskEventData {
    /// Task data with the given session and status, and nothing else.
    pub fn new(session_id: impl Into<String>, status: impl Into<String>) -> Self {
        Self {
            session_id: session_id.into(),
            status: status.into(),
            ..Self::default()
        }
    }

    /// Sets the prompt, passed through [`truncate_prompt`].
    #[must_use]
    pub fn with_prompt(mut self, prompt: &str) -> Self {
        self.prompt = truncate_prompt(prompt);
        self
    }
}

/// Data of `runner.*` events (the origin's `RunnerEventData`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunnerEventData {
    /// The runner's name.
    pub name: String,
    /// The runner's status.
    pub status: String,
    /// The runner's pool, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool_name: Option<String>,
    /// The session assigned to the runner, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// The runner's provider, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// The sandbox mode; omitted when empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sandbox_mode: String,
}

/// Data of `permission.*` events (the origin's `PermissionEventData`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PermissionEventData {
    /// The session asking.
    pub session_id: String,
    /// The task asking.
    pub task_id: String,
    /// The tool the permission is for.
    pub tool: String,
    /// The action the tool would take.
    pub action: String,
    /// The assessed risk.
    pub risk_level: String,
    /// The request's status.
    pub status: String,
    /// Who answered, once answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub responded_by: Option<String>,
    /// Why, once answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_reason: Option<String>,
}

/// The most prompt bytes kept by [`truncate_prompt`], before the marker.
pub const PROMPT_MAX_BYTES: usize = 100;

/// Appended by [`truncate_prompt`] to a prompt it cut.
pub const PROMPT_TRUNCATION_MARKER: &str = "...";

/// Truncates a prompt for privacy.
///
/// A prompt of at most [`PROMPT_MAX_BYTES`] bytes is kept whole. A longer one is cut to at most
/// [`PROMPT_MAX_BYTES`] bytes on a character boundary (the origin cut at exactly 100 bytes and
/// could split a UTF-8 character) and [`PROMPT_TRUNCATION_MARKER`] is appended, so the result is
/// at most 103 bytes and always ends with `...` when something was cut.
pub fn truncate_prompt(s: &str) -> String {
    if s.len() <= PROMPT_MAX_BYTES {
        return s.to_owned();
    }
    let kept = &s[..s.floor_char_boundary(PROMPT_MAX_BYTES)];
    let mut out = String::with_capacity(kept.len() + PROMPT_TRUNCATION_MARKER.len());
    out.push_str(kept);
    out.push_str(PROMPT_TRUNCATION_MARKER);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn category_and_action_split_at_the_first_dot() {
        for (t, cat, act) in [
            ("task.created", "task", "created"),
            ("task", "task", ""),
            ("a.b.c", "a", "b.c"),
            ("", "", ""),
            (".x", "", "x"),
            ("x.", "x", ""),
        ] {
            assert_eq!((category(t), action(t)), (cat, act), "{t:?}");
        }
    }

    #[test]
    fn resource_info_omits_empty_maps() {
        let mut r = ResourceInfo::new("t1", RESOURCE_TASK);
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"id":"t1","type":"task"}"#
        );
        r.labels.insert("team".into(), "core".into());
        r.labels.insert("env".into(), "prod".into());
        r.annotations.insert("note".into(), "x".into());
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(
            json,
            r#"{"id":"t1","type":"task","labels":{"env":"prod","team":"core"},"annotations":{"note":"x"}}"#
        );
        assert_eq!(serde_json::from_str::<ResourceInfo>(&json).unwrap(), r);
        let nulls: ResourceInfo =
            serde_json::from_str(r#"{"id":"t1","type":"task","labels":null,"annotations":{}}"#)
                .unwrap();
        assert_eq!(nulls, ResourceInfo::new("t1", "task"));
    }

    #[test]
    fn session_data_golden() {
        let mut d = SessionEventData {
            workspace_id: "w1".into(),
            agent: "claude".into(),
            status: "active".into(),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&d).unwrap(),
            r#"{"workspace_id":"w1","agent":"claude","status":"active"}"#
        );
        d.runner_id = Some("r1".into());
        d.lifecycle_mode = "ephemeral".into();
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(
            json,
            r#"{"workspace_id":"w1","agent":"claude","status":"active","runner_id":"r1","lifecycle_mode":"ephemeral"}"#
        );
        assert_eq!(serde_json::from_str::<SessionEventData>(&json).unwrap(), d);
    }

    #[test]
    fn task_data_golden() {
        let mut d = TaskEventData::new("s1", "completed");
        assert_eq!(
            serde_json::to_string(&d).unwrap(),
            r#"{"session_id":"s1","status":"completed"}"#
        );
        d = d.with_prompt("fix the bug");
        d.duration_seconds = Some(12);
        d.exit_code = Some(0);
        d.error = Some("boom".into());
        d.tokens_input = Some(100);
        d.tokens_output = Some(7);
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(
            json,
            r#"{"session_id":"s1","prompt":"fix the bug","status":"completed","duration_seconds":12,"exit_code":0,"error":"boom","tokens_input":100,"tokens_output":7}"#
        );
        assert_eq!(serde_json::from_str::<TaskEventData>(&json).unwrap(), d);
    }

    #[test]
    fn runner_data_golden() {
        let mut d = RunnerEventData {
            name: "r1".into(),
            status: "idle".into(),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&d).unwrap(),
            r#"{"name":"r1","status":"idle"}"#
        );
        d.pool_name = Some("gpu".into());
        d.session_id = Some("s1".into());
        d.provider = Some("docker".into());
        d.sandbox_mode = "strict".into();
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(
            json,
            r#"{"name":"r1","status":"idle","pool_name":"gpu","session_id":"s1","provider":"docker","sandbox_mode":"strict"}"#
        );
        assert_eq!(serde_json::from_str::<RunnerEventData>(&json).unwrap(), d);
    }

    #[test]
    fn permission_data_golden() {
        let mut d = PermissionEventData {
            session_id: "s1".into(),
            task_id: "t1".into(),
            tool: "bash".into(),
            action: "rm -rf /tmp/x".into(),
            risk_level: "high".into(),
            status: "pending".into(),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&d).unwrap(),
            r#"{"session_id":"s1","task_id":"t1","tool":"bash","action":"rm -rf /tmp/x","risk_level":"high","status":"pending"}"#
        );
        d.responded_by = Some("alice".into());
        d.response_reason = Some("ok".into());
        let json = serde_json::to_string(&d).unwrap();
        assert!(
            json.ends_with(r#""status":"pending","responded_by":"alice","response_reason":"ok"}"#)
        );
        assert_eq!(
            serde_json::from_str::<PermissionEventData>(&json).unwrap(),
            d
        );
    }

    #[test]
    fn prompt_truncation_keeps_whole_characters() {
        let short = "a".repeat(100);
        assert_eq!(truncate_prompt(&short), short);
        assert_eq!(truncate_prompt(""), "");

        let cut = truncate_prompt(&"a".repeat(101));
        assert_eq!(cut, format!("{}...", "a".repeat(100)));

        // 99 ASCII + "é" (2 bytes) = 101 bytes: "é" would straddle byte 100.
        let s = format!("{}é", "a".repeat(99));
        assert_eq!(truncate_prompt(&s), format!("{}...", "a".repeat(99)));

        // A 4-byte emoji starting at byte 98.
        let s = format!("{}🦀tail", "a".repeat(98));
        assert_eq!(truncate_prompt(&s), format!("{}...", "a".repeat(98)));

        // A prompt of multibyte characters only: 34 × 3 bytes = 102 > 100.
        let s = "€".repeat(34);
        let out = truncate_prompt(&s);
        assert_eq!(out, format!("{}...", "€".repeat(33)));
        assert!(out.len() - PROMPT_TRUNCATION_MARKER.len() <= PROMPT_MAX_BYTES);

        let d = TaskEventData::new("s", "x").with_prompt(&"z".repeat(500));
        assert_eq!(d.prompt.len(), 103);
    }
}
