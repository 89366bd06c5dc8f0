//! What a plugin receives: the [`Event`], its [`Resource`] and the [`Webhook`], plus the
//! origin's typed event data.
//!
//! The typed data ([`SessionEventData`], [`TaskEventData`], [`RunnerEventData`],
//! [`PermissionEventData`]), [`Resource`] and [`category`] / [`action`] are the host's own
//! declarations, from `hookline-contract`: same JSON names, same field order, same
//! `omitempty` behaviour as the origin's Go structs. A value read with [`Event::data`] and
//! written back with `serde_json` gives the same JSON the host would send.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// The resource that triggered an event (the origin's `ResourceInfo`): the host's type.
///
/// Serialises as `{"id","type","labels"?,"annotations"?}`, the maps left out when empty (Go's
/// `omitempty`), keys in byte order (as Go sorts map keys).
pub use hookline_contract::event::ResourceInfo as Resource;
pub use hookline_contract::event::{
    PermissionEventData, RunnerEventData, SessionEventData, TaskEventData, action, category,
};

/// The webhook a delivery goes to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Webhook {
    /// The webhook's id, as configured (`[[webhooks]] id`) or assigned by the API.
    pub id: String,
    /// The URL the delivery goes to unless the plugin names another.
    pub url: String,
}

impl Webhook {
    /// A webhook with this id and URL.
    pub fn new(id: impl Into<String>, url: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            url: url.into(),
        }
    }
}

/// The event being delivered.
///
/// `data` is kept as the JSON text the host handed over; read it typed with [`Event::data`]
/// or [`Event::typed_data`], raw with [`Event::data_json`].
///
/// ```
/// use hookline_guest::{Event, Resource, TaskEventData};
///
/// let event = Event::new("evt_1", "task.completed", "2024-01-02T03:04:05.5Z")
///     .with_resource(Resource::new("t1", "task"))
///     .with_data_json(r#"{"session_id":"s1","status":"completed","duration_seconds":12}"#);
/// assert_eq!((event.category(), event.action()), ("task", "completed"));
/// let data: TaskEventData = event.data().unwrap();
/// assert_eq!(data.duration_seconds, Some(12));
/// assert_eq!(
///     String::from_utf8(event.default_body()).unwrap(),
///     r#"{"event":"task.completed","timestamp":"2024-01-02T03:04:05.5Z","resource":{"id":"t1","type":"task"},"data":{"session_id":"s1","status":"completed","duration_seconds":12}}"#
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The event's id (`evt_…`): stable across retries and replays of this event.
    pub id: String,
    /// The event type, e.g. `task.completed` (`"event"` in the default body).
    pub event_type: String,
    /// When it happened: RFC 3339 in UTC, written as the origin writes it
    /// (`2024-01-02T03:04:05.123456789Z`, trailing fraction zeros trimmed).
    pub timestamp: String,
    /// The resource that triggered the event.
    pub resource: Resource,
    data: String,
}

impl Event {
    /// An event with an empty resource and no data (`null`).
    pub fn new(
        id: impl Into<String>,
        event_type: impl Into<String>,
        timestamp: impl Into<String>,
    ) -> Self {
        Self {
            id: id.into(),
            event_type: event_type.into(),
            timestamp: timestamp.into(),
            resource: Resource::default(),
            data: NULL.to_owned(),
        }
    }

    /// Sets the resource.
    #[must_use]
    pub fn with_resource(mut self, resource: Resource) -> Self {
        self.resource = resource;
        self
    }

    /// Sets the data to this JSON text, kept verbatim. It is not checked here: the host only
    /// ever hands over valid JSON, and [`Event::data`] reports text that is not.
    #[must_use]
    pub fn with_data_json(mut self, json: impl Into<String>) -> Self {
        self.data = json.into();
        self
    }

    /// Sets the data to `data` encoded as JSON, e.g. one of the typed event data structs.
    ///
    /// # Errors
    /// When `data` cannot be encoded as JSON (a map with non-string keys, or a `Serialize`
    /// impl that fails).
    pub fn with_data<T: Serialize + ?Sized>(mut self, data: &T) -> Result<Self, DataError> {
        self.data = serde_json::to_string(data).map_err(|source| DataError {
            event_type: self.event_type.clone(),
            source,
        })?;
        Ok(self)
    }

    /// Reads an event from an origin body, `{"event","timestamp","resource","data"}`, as
    /// receivers get it (e.g. a captured delivery), with the event id the body does not carry.
    /// Handy for tests that share fixtures with `hookline plugin run`.
    ///
    /// # Errors
    /// When `body` is not such a JSON object.
    pub fn from_body_json(id: impl Into<String>, body: &str) -> Result<Self, DataError> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Body<'a> {
            event: String,
            timestamp: String,
            resource: Resource,
            #[serde(default, borrow)]
            data: Option<&'a RawValue>,
        }
        let body: Body<'_> = serde_json::from_str(body).map_err(|source| DataError {
            event_type: String::new(),
            source,
        })?;
        Ok(Self {
            id: id.into(),
            event_type: body.event,
            timestamp: body.timestamp,
            resource: body.resource,
            data: body.data.map_or(NULL, RawValue::get).to_owned(),
        })
    }

    /// The event's data as the JSON text the host handed over; `null` when it has none.
    pub fn data_json(&self) -> &str {
        if self.data.trim().is_empty() {
            NULL
        } else {
            &self.data
        }
    }

    /// Whether the event has no data (`null`).
    pub fn data_is_null(&self) -> bool {
        self.data_json().trim() == NULL
    }

    /// The event's data decoded as `T`: one of the typed event data structs, your own
    /// struct, or a [`serde_json::Value`].
    ///
    /// # Errors
    /// When the data does not match `T`; the error names the event type.
    pub fn data<T: DeserializeOwned>(&self) -> Result<T, DataError> {
        serde_json::from_str(self.data_json()).map_err(|source| DataError {
            event_type: self.event_type.clone(),
            source,
        })
    }

    /// The event's data decoded by its category: [`EventData::Session`] for `session.*`,
    /// [`EventData::Task`] for `task.*`, [`EventData::Runner`] for `runner.*`,
    /// [`EventData::Permission`] for `permission.*`, and [`EventData::Other`] (any JSON,
    /// `null` included) for every other type.
    ///
    /// # Errors
    /// When an event of a known category carries data that does not match its struct.
    pub fn typed_data(&self) -> Result<EventData, DataError> {
        Ok(match self.category() {
            "session" => EventData::Session(self.data()?),
            "task" => EventData::Task(self.data()?),
            "runner" => EventData::Runner(self.data()?),
            "permission" => EventData::Permission(self.data()?),
            _ => EventData::Other(self.data()?),
        })
    }

    /// The part of the event type before its first `.`, or all of it: `task` for
    /// `task.completed`.
    pub fn category(&self) -> &str {
        category(&self.event_type)
    }

    /// The part of the event type after its first `.`, or `""`: `completed` for
    /// `task.completed`.
    pub fn action(&self) -> &str {
        action(&self.event_type)
    }

    /// The body the host sends when there is no plugin: compact JSON
    /// `{"event","timestamp","resource","data"}` in that order, built like the host's
    /// `Payload::to_bytes` (the resource's empty maps left out, `data` embedded verbatim).
    /// Start from it to make small changes, or return it unchanged with
    /// `Outcome::send(Request::new(event.default_body()))`.
    pub fn default_body(&self) -> Vec<u8> {
        #[derive(Serialize)]
        struct Head<'a> {
            event: &'a str,
            timestamp: &'a str,
            resource: &'a Resource,
        }
        let data = self.data_json();
        let labels = |m: &BTreeMap<String, String>| -> usize {
            m.iter().map(|(k, v)| k.len() + v.len() + 6).sum::<usize>() + 16
        };
        let hint = 96
            + self.event_type.len()
            + self.timestamp.len()
            + self.resource.id.len()
            + self.resource.r#type.len()
            + labels(&self.resource.labels)
            + labels(&self.resource.annotations)
            + data.len();
        let mut out = Vec::with_capacity(hint);
        let head = Head {
            event: &self.event_type,
            timestamp: &self.timestamp,
            resource: &self.resource,
        };
        // Writing to a Vec cannot fail and every key is a string: this never errors.
        serde_json::to_writer(&mut out, &head).expect("the body's head always serialises");
        // Replace the head's closing `}` with the data member.
        out.pop();
        out.extend_from_slice(b",\"data\":");
        out.extend_from_slice(data.as_bytes());
        out.push(b'}');
        out
    }

    /// The default body as a JSON value, to edit and serialise again. Serialising it gives
    /// the same JSON value as [`Event::default_body`]; the same bytes too when the SDK's
    /// `preserve-order` feature is on (otherwise object keys come out sorted) and the data
    /// has no escapes or numbers that `serde_json` writes differently.
    ///
    /// # Errors
    /// When the data is not valid JSON.
    pub fn body_value(&self) -> Result<Value, DataError> {
        self.clone().into_body_value()
    }

    /// [`Event::body_value`], consuming the event to avoid copying its strings.
    ///
    /// # Errors
    /// When the data is not valid JSON.
    pub fn into_body_value(self) -> Result<Value, DataError> {
        let data: Value = self.data()?;
        let mut body = Map::new();
        body.insert("event".to_owned(), Value::String(self.event_type));
        body.insert("timestamp".to_owned(), Value::String(self.timestamp));
        let Resource {
            id,
            r#type,
            labels,
            annotations,
        } = self.resource;
        let mut resource = Map::new();
        resource.insert("id".to_owned(), Value::String(id));
        resource.insert("type".to_owned(), Value::String(r#type));
        for (key, map) in [("labels", labels), ("annotations", annotations)] {
            if !map.is_empty() {
                let map = map
                    .into_iter()
                    .map(|(k, v)| (k, Value::String(v)))
                    .collect();
                resource.insert(key.to_owned(), Value::Object(map));
            }
        }
        body.insert("resource".to_owned(), Value::Object(resource));
        body.insert("data".to_owned(), data);
        Ok(Value::Object(body))
    }
}

const NULL: &str = "null";

/// An event's data decoded by its category, from [`Event::typed_data`].
#[derive(Debug, Clone, PartialEq)]
pub enum EventData {
    /// Data of a `session.*` event.
    Session(SessionEventData),
    /// Data of a `task.*` event.
    Task(TaskEventData),
    /// Data of a `runner.*` event.
    Runner(RunnerEventData),
    /// Data of a `permission.*` event.
    Permission(PermissionEventData),
    /// Data of any other event, `null` when it has none.
    Other(Value),
}

/// The event's data could not be read (or an origin body could not be parsed).
#[derive(Debug)]
pub struct DataError {
    event_type: String,
    source: serde_json::Error,
}

impl DataError {
    /// The type of the event whose data was refused (empty for a body that did not parse).
    pub fn event_type(&self) -> &str {
        &self.event_type
    }
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.event_type.is_empty() {
            write!(f, "event body: {}", self.source)
        } else {
            write!(f, "event `{}`: data: {}", self.event_type, self.source)
        }
    }
}

impl std::error::Error for DataError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn task_event() -> Event {
        Event::new("evt_1", "task.completed", "2024-01-02T03:04:05.123456789Z")
            .with_resource(Resource::new("t1", "task").with_label("team", "core"))
            .with_data_json(r#"{"session_id":"s1","status":"completed"}"#)
    }

    /// The host's `payload_golden_bytes` test, seen from the guest.
    #[test]
    fn default_body_matches_the_hosts_golden_bytes() {
        assert_eq!(
            String::from_utf8(task_event().default_body()).unwrap(),
            r#"{"event":"task.completed","timestamp":"2024-01-02T03:04:05.123456789Z","resource":{"id":"t1","type":"task","labels":{"team":"core"}},"data":{"session_id":"s1","status":"completed"}}"#
        );
    }

    #[test]
    fn default_body_without_data_has_data_null() {
        let e = Event::new("evt_2", "runner.connected", "2024-01-02T03:04:05Z")
            .with_resource(Resource::new("r1", "runner"));
        let golden = r#"{"event":"runner.connected","timestamp":"2024-01-02T03:04:05Z","resource":{"id":"r1","type":"runner"},"data":null}"#;
        assert_eq!(String::from_utf8(e.default_body()).unwrap(), golden);
        assert!(e.data_is_null());
        // An empty data string (never sent by the host) reads as `null` too.
        let empty = e.with_data_json("");
        assert_eq!(String::from_utf8(empty.default_body()).unwrap(), golden);
        assert_eq!(empty.data::<Value>().unwrap(), Value::Null);
    }

    #[test]
    fn default_body_embeds_data_verbatim_and_escapes_strings() {
        let e = Event::new("e", "custom.x-y", "2024-01-02T03:04:05.1Z")
            .with_resource(
                Resource::new("a\"b", "custom")
                    .with_annotation("note", "line\nbreak")
                    .with_label("z", "1")
                    .with_label("a", "2"),
            )
            .with_data_json(r#"{"b":1,"a":[true,null],"n":1.50}"#);
        assert_eq!(
            String::from_utf8(e.default_body()).unwrap(),
            r#"{"event":"custom.x-y","timestamp":"2024-01-02T03:04:05.1Z","resource":{"id":"a\"b","type":"custom","labels":{"a":"2","z":"1"},"annotations":{"note":"line\nbreak"}},"data":{"b":1,"a":[true,null],"n":1.50}}"#
        );
    }

    #[test]
    fn body_value_is_the_default_body_as_a_value() {
        let e = task_event();
        let from_bytes: Value = serde_json::from_slice(&e.default_body()).unwrap();
        assert_eq!(e.body_value().unwrap(), from_bytes);
        assert_eq!(e.clone().into_body_value().unwrap(), from_bytes);
        let bad = e.with_data_json("{nope");
        let err = bad.body_value().unwrap_err();
        assert!(
            err.to_string()
                .starts_with("event `task.completed`: data: key must be a string"),
            "{err}"
        );
    }

    #[test]
    fn from_body_json_reads_a_default_body_back() {
        let e = task_event();
        let body = String::from_utf8(e.default_body()).unwrap();
        assert_eq!(Event::from_body_json("evt_1", &body).unwrap(), e);

        let no_data = Event::from_body_json(
            "evt_3",
            r#"{"event":"runner.connected","timestamp":"2024-01-02T03:04:05Z","resource":{"id":"r1","type":"runner","labels":null}}"#,
        )
        .unwrap();
        assert_eq!(no_data.data_json(), "null");
        assert!(no_data.resource.labels.is_empty());

        let err = Event::from_body_json("x", r#"{"event":"a"}"#).unwrap_err();
        assert!(
            err.to_string().starts_with("event body: missing field"),
            "{err}"
        );
        assert_eq!(err.event_type(), "");
    }

    #[test]
    fn category_and_action_split_at_the_first_dot() {
        for (t, cat, act) in [
            ("task.completed", "task", "completed"),
            ("task", "task", ""),
            ("a.b.c", "a", "b.c"),
            ("", "", ""),
        ] {
            let e = Event::new("e", t, "2024-01-02T03:04:05Z");
            assert_eq!((e.category(), e.action()), (cat, act), "{t:?}");
        }
    }

    #[test]
    fn typed_data_follows_the_category() {
        let e = task_event();
        assert_eq!(
            e.typed_data().unwrap(),
            EventData::Task(TaskEventData {
                session_id: "s1".into(),
                status: "completed".into(),
                ..Default::default()
            })
        );
        let p = Event::new("e", "permission.requested", "2024-01-02T03:04:05Z")
            .with_data(&PermissionEventData {
                session_id: "s1".into(),
                task_id: "t1".into(),
                tool: "bash".into(),
                action: "rm".into(),
                risk_level: "high".into(),
                status: "pending".into(),
                ..Default::default()
            })
            .unwrap();
        let EventData::Permission(d) = p.typed_data().unwrap() else {
            panic!("not permission data");
        };
        assert_eq!(d.risk_level, "high");
        let s = Event::new("e", "session.created", "t")
            .with_data_json(r#"{"workspace_id":"w","agent":"a","status":"active"}"#);
        assert!(matches!(s.typed_data().unwrap(), EventData::Session(_)));
        let r = Event::new("e", "runner.connected", "t")
            .with_data_json(r#"{"name":"r","status":"idle"}"#);
        assert!(matches!(r.typed_data().unwrap(), EventData::Runner(_)));
        let other = Event::new("e", "billing.paid", "t").with_data_json(r#"{"x":1}"#);
        assert_eq!(
            other.typed_data().unwrap(),
            EventData::Other(json!({"x": 1}))
        );

        let wrong = Event::new("e", "task.completed", "t").with_data_json(r#"{"x":1}"#);
        let err = wrong.typed_data().unwrap_err();
        assert_eq!(err.event_type(), "task.completed");
        assert!(
            err.to_string()
                .starts_with("event `task.completed`: data: missing field `session_id`"),
            "{err}"
        );
    }

    /// The host's golden JSON for each typed data struct, read and written back unchanged.
    #[test]
    fn typed_data_round_trips_the_hosts_golden_json() {
        fn round_trip<T: Serialize + DeserializeOwned>(json: &str) {
            let v: T = serde_json::from_str(json).unwrap();
            assert_eq!(serde_json::to_string(&v).unwrap(), json);
        }
        round_trip::<SessionEventData>(
            r#"{"workspace_id":"w1","agent":"claude","status":"active"}"#,
        );
        round_trip::<SessionEventData>(
            r#"{"workspace_id":"w1","agent":"claude","status":"active","runner_id":"r1","lifecycle_mode":"ephemeral"}"#,
        );
        round_trip::<TaskEventData>(r#"{"session_id":"s1","status":"completed"}"#);
        round_trip::<TaskEventData>(
            r#"{"session_id":"s1","prompt":"fix the bug","status":"completed","duration_seconds":12,"exit_code":0,"error":"boom","tokens_input":100,"tokens_output":7}"#,
        );
        round_trip::<RunnerEventData>(r#"{"name":"r1","status":"idle"}"#);
        round_trip::<RunnerEventData>(
            r#"{"name":"r1","status":"idle","pool_name":"gpu","session_id":"s1","provider":"docker","sandbox_mode":"strict"}"#,
        );
        round_trip::<PermissionEventData>(
            r#"{"session_id":"s1","task_id":"t1","tool":"bash","action":"rm -rf /tmp/x","risk_level":"high","status":"pending"}"#,
        );
        round_trip::<PermissionEventData>(
            r#"{"session_id":"s1","task_id":"t1","tool":"bash","action":"rm -rf /tmp/x","risk_level":"high","status":"pending","responded_by":"alice","response_reason":"ok"}"#,
        );
    }

    #[test]
    fn resource_omits_empty_maps_like_the_host() {
        let mut r = Resource::new("t1", "task");
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"id":"t1","type":"task"}"#
        );
        assert_eq!(r.to_value(), json!({"id": "t1", "type": "task"}));
        r = r
            .with_label("team", "core")
            .with_label("env", "prod")
            .with_annotation("note", "x");
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(
            json,
            r#"{"id":"t1","type":"task","labels":{"env":"prod","team":"core"},"annotations":{"note":"x"}}"#
        );
        assert_eq!(r.to_value(), serde_json::from_str::<Value>(&json).unwrap());
    }
}
