//! The origin's event catalog, typed event data and [`Payload`], the JSON body every receiver
//! gets.
//!
//! The catalogue itself is declared in `hookline-contract` (shared with the console and the
//! plugin SDK) and re-exported here, so `hookline_core::event::TASK_COMPLETED` and the rest keep
//! working:
//!
//! - [`KNOWN_EVENT_TYPES`]: the 17 event types of the origin, in its order. Custom types are
//!   allowed too; [`validate_event_type`] is the rule every ingested type must pass (it lives
//!   here, with the other ingest rules).
//! - [`category`] and [`action`] split a type at its first `.`.
//! - [`ResourceInfo`] and the typed data ([`SessionEventData`], [`TaskEventData`],
//!   [`RunnerEventData`], [`PermissionEventData`]) serialise exactly as the origin's Go structs:
//!   same names, same field order, same `omitempty` behaviour.
//! - [`Payload`] is `{"event", "timestamp", "resource", "data"}` in that order, with the
//!   timestamp written the way Go writes a `time.Time` ([`format_timestamp`]).
//!
//! One deliberate difference from Go's `encoding/json`: Go escapes `<`, `>`, `&`, U+2028 and
//! U+2029 inside strings (`\u003c`…); `serde_json` writes them as they are. Both are the same
//! JSON value, and the signature always covers the bytes actually sent, so receivers are
//! unaffected.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Datelike, Timelike, Utc};
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;

pub use hookline_contract::event::*;

/// The longest event type accepted, in bytes.
pub const MAX_EVENT_TYPE_LEN: usize = 128;

/// Where an empty segment sits in a dotted name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmptySegmentAt {
    /// The name is empty or starts with `.`.
    Start,
    /// The name ends with `.`.
    End,
    /// The name has `..`.
    Middle,
}

impl fmt::Display for EmptySegmentAt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Start => "empty segment before the first `.`",
            Self::End => "empty segment after the last `.`",
            Self::Middle => "empty segment between two `.`",
        })
    }
}

/// Why an event type was refused by [`validate_event_type`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventTypeError {
    /// The type is the empty string.
    #[error("event type is empty")]
    Empty,
    /// The type is longer than [`MAX_EVENT_TYPE_LEN`] bytes.
    #[error(
        "event type `{}…`: {len} bytes long, at most {MAX_EVENT_TYPE_LEN} are allowed",
        .head.escape_debug()
    )]
    TooLong {
        /// The type's first 32 characters.
        head: String,
        /// The type's length in bytes.
        len: usize,
    },
    /// The type has a character outside `[A-Za-z0-9._-]`.
    #[error(
        "event type `{}`: character {ch:?} at byte {index} is not allowed \
         (only ASCII letters, digits, `.`, `_` and `-`)",
        .event_type.escape_debug()
    )]
    InvalidChar {
        /// The refused type.
        event_type: String,
        /// The first offending character.
        ch: char,
        /// Its byte offset.
        index: usize,
    },
    /// The type has a leading, trailing or doubled `.`.
    #[error("event type `{}`: {at}", .event_type.escape_debug())]
    EmptySegment {
        /// The refused type.
        event_type: String,
        /// Where the empty segment is.
        at: EmptySegmentAt,
    },
}

/// Checks an event type for ingest: non-empty, at most [`MAX_EVENT_TYPE_LEN`] bytes, only
/// `[A-Za-z0-9._-]`, and no empty segment (no leading, trailing or doubled `.`). Types beyond
/// [`KNOWN_EVENT_TYPES`] are allowed.
pub fn validate_event_type(t: &str) -> Result<(), EventTypeError> {
    if t.is_empty() {
        return Err(EventTypeError::Empty);
    }
    if t.len() > MAX_EVENT_TYPE_LEN {
        return Err(EventTypeError::TooLong {
            head: head(t),
            len: t.len(),
        });
    }
    if let Some((index, ch)) = t.char_indices().find(|&(_, c)| !is_name_char(c)) {
        return Err(EventTypeError::InvalidChar {
            event_type: t.to_owned(),
            ch,
            index,
        });
    }
    match empty_segment(t) {
        Some(at) => Err(EventTypeError::EmptySegment {
            event_type: t.to_owned(),
            at,
        }),
        None => Ok(()),
    }
}

/// Whether `c` may appear in an event type (and in a pattern, besides its final `*`).
pub(crate) fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

/// The first empty segment of a dotted name (`""` has one at the start).
pub(crate) fn empty_segment(name: &str) -> Option<EmptySegmentAt> {
    if name.is_empty() || name.starts_with('.') {
        Some(EmptySegmentAt::Start)
    } else if name.ends_with('.') {
        Some(EmptySegmentAt::End)
    } else if name.contains("..") {
        Some(EmptySegmentAt::Middle)
    } else {
        None
    }
}

/// The first 32 characters of an over-long input, for error messages.
pub(crate) fn head(s: &str) -> String {
    s.chars().take(32).collect()
}

/// Why a [`Payload`] could not be built.
#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    /// The event type is invalid.
    #[error(transparent)]
    EventType(#[from] EventTypeError),
    /// The data could not be encoded as JSON.
    #[error("event `{event}`: data cannot be encoded as JSON: {source}")]
    Data {
        /// The event type.
        event: String,
        /// The encoder's error.
        source: serde_json::Error,
    },
    /// The timestamp falls outside the years RFC 3339 can write (0 to 9999).
    #[error("event `{event}`: timestamp {timestamp:?} is outside the years 0 to 9999")]
    Timestamp {
        /// The event type.
        event: String,
        /// The refused timestamp.
        timestamp: DateTime<Utc>,
    },
}

/// The JSON body every receiver gets (the origin's `Payload`).
///
/// Serialises as `{"event":…,"timestamp":…,"resource":…,"data":…}`, keys in that order,
/// compact; `timestamp` as [`format_timestamp`] writes it; `data` is `null` when absent and is
/// otherwise embedded verbatim, never re-encoded.
///
/// Deserialise it from JSON text (`serde_json::from_slice` and the like): `data` is kept as
/// raw JSON, which a `serde_json::Value` cannot hand over.
///
/// Invariants, checked by every constructor and by deserialisation: the event type passes
/// [`validate_event_type`] and the timestamp lies in the years 0 to 9999. They make
/// [`Payload::to_bytes`] infallible.
///
/// ```
/// use hookline_core::event::{Payload, ResourceInfo, TaskEventData};
///
/// let ts = "2024-01-02T03:04:05.5Z".parse().unwrap();
/// let data = TaskEventData::new("s1", "running");
/// let payload =
///     Payload::build("task.started", ResourceInfo::new("t1", "task"), Some(&data), ts).unwrap();
/// assert_eq!(
///     String::from_utf8(payload.to_bytes()).unwrap(),
///     r#"{"event":"task.started","timestamp":"2024-01-02T03:04:05.5Z","resource":{"id":"t1","type":"task"},"data":{"session_id":"s1","status":"running"}}"#
/// );
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Payload {
    #[serde(deserialize_with = "de_event_type")]
    event: String,
    #[serde(serialize_with = "ser_timestamp", deserialize_with = "de_timestamp")]
    timestamp: DateTime<Utc>,
    resource: ResourceInfo,
    #[serde(default)]
    data: Option<Box<RawValue>>,
}

impl Payload {
    /// A payload whose data is `data` encoded as JSON (`BuildPayload`), or `null` for `None`.
    ///
    /// Data that encodes to `null` is the same as `None`. For no data, [`Payload::new`] with
    /// `None` avoids naming a type for `T`.
    pub fn build<T: Serialize + ?Sized>(
        event_type: impl Into<String>,
        resource: ResourceInfo,
        data: Option<&T>,
        timestamp: DateTime<Utc>,
    ) -> Result<Self, PayloadError> {
        let event = event_type.into();
        let data = match data {
            Some(data) => match serde_json::value::to_raw_value(data) {
                Ok(raw) => Some(raw),
                Err(source) => return Err(PayloadError::Data { event, source }),
            },
            None => None,
        };
        Self::new(event, resource, data, timestamp)
    }

    /// A payload with already encoded data, embedded verbatim: the hot path for data that
    /// arrived as JSON (e.g. an ingested event's body), which is never re-encoded.
    pub fn new(
        event_type: impl Into<String>,
        resource: ResourceInfo,
        data: Option<Box<RawValue>>,
        timestamp: DateTime<Utc>,
    ) -> Result<Self, PayloadError> {
        let event = event_type.into();
        validate_event_type(&event)?;
        if !year_in_range(&timestamp) {
            return Err(PayloadError::Timestamp { event, timestamp });
        }
        Ok(Self {
            event,
            timestamp,
            resource,
            data: data.filter(|raw| raw.get() != "null"),
        })
    }

    /// The event type.
    pub fn event(&self) -> &str {
        &self.event
    }

    /// When the event happened.
    pub fn timestamp(&self) -> DateTime<Utc> {
        self.timestamp
    }

    /// The resource that triggered the event.
    pub fn resource(&self) -> &ResourceInfo {
        &self.resource
    }

    /// The event's data as JSON, if any.
    pub fn data(&self) -> Option<&RawValue> {
        self.data.as_deref()
    }

    /// The exact body bytes sent to receivers (compact JSON, see [`Payload`]).
    pub fn to_bytes(&self) -> Vec<u8> {
        let labels = |m: &BTreeMap<String, String>| -> usize {
            m.iter().map(|(k, v)| k.len() + v.len() + 6).sum::<usize>() + 16
        };
        let hint = 96
            + self.event.len()
            + self.resource.id.len()
            + self.resource.r#type.len()
            + labels(&self.resource.labels)
            + labels(&self.resource.annotations)
            + self.data.as_ref().map_or(4, |raw| raw.get().len());
        let mut out = Vec::with_capacity(hint);
        // Writing to a Vec cannot fail, every map key is a string and `ser_timestamp` never
        // errors: nothing here can fail.
        serde_json::to_writer(&mut out, self).expect("a Payload always serialises");
        out
    }
}

impl PartialEq for Payload {
    fn eq(&self, other: &Self) -> bool {
        self.event == other.event
            && self.timestamp == other.timestamp
            && self.resource == other.resource
            && self.data().map(RawValue::get) == other.data().map(RawValue::get)
    }
}

fn year_in_range(ts: &DateTime<Utc>) -> bool {
    (0..=9999).contains(&ts.year())
}

/// Formats a timestamp as Go marshals a UTC `time.Time`: RFC 3339 with up to nine fraction
/// digits, trailing zeros trimmed (no fraction at all when it is zero), and `Z`, e.g.
/// `2024-01-02T03:04:05.123456789Z`, `2024-01-02T03:04:05.1Z`, `2024-01-02T03:04:05Z`.
///
/// Years outside 0 to 9999 (which [`Payload`] refuses) are clamped into that range. A chrono
/// leap second (`:59` with a fraction of one second or more), which Go cannot represent, is
/// written as `:59.999999999`.
pub fn format_timestamp(ts: &DateTime<Utc>) -> String {
    GoTime::new(ts).as_str().to_owned()
}

/// A timestamp in Go's RFC 3339 form, on the stack (at most 30 bytes).
struct GoTime {
    buf: [u8; 30],
    len: usize,
}

impl GoTime {
    fn new(ts: &DateTime<Utc>) -> Self {
        fn put(out: &mut [u8], mut v: u32) {
            for b in out.iter_mut().rev() {
                *b = b'0' + (v % 10) as u8;
                v /= 10;
            }
        }
        let mut buf = *b"0000-00-00T00:00:00.000000000Z";
        put(&mut buf[0..4], ts.year().clamp(0, 9999).unsigned_abs());
        put(&mut buf[5..7], ts.month());
        put(&mut buf[8..10], ts.day());
        put(&mut buf[11..13], ts.hour());
        put(&mut buf[14..16], ts.minute());
        put(&mut buf[17..19], ts.second());
        let nanos = ts.nanosecond().min(999_999_999);
        let len = if nanos == 0 {
            19
        } else {
            put(&mut buf[20..29], nanos);
            let mut end = 29;
            while buf[end - 1] == b'0' {
                end -= 1;
            }
            end
        };
        buf[len] = b'Z';
        Self { buf, len: len + 1 }
    }

    fn as_str(&self) -> &str {
        // Only ASCII digits and punctuation were written.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default()
    }
}

fn ser_timestamp<S: Serializer>(ts: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(GoTime::new(ts).as_str())
}

fn de_timestamp<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    struct Visitor;
    impl de::Visitor<'_> for Visitor {
        type Value = DateTime<Utc>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an RFC 3339 timestamp")
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            let ts = DateTime::parse_from_rfc3339(v)
                .map_err(|e| E::custom(format_args!("timestamp `{}`: {e}", v.escape_debug())))?
                .with_timezone(&Utc);
            if year_in_range(&ts) {
                Ok(ts)
            } else {
                Err(E::custom(format_args!(
                    "timestamp `{}`: outside the years 0 to 9999 in UTC",
                    v.escape_debug()
                )))
            }
        }
    }
    d.deserialize_str(Visitor)
}

fn de_event_type<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let event = String::deserialize(d)?;
    validate_event_type(&event).map_err(de::Error::custom)?;
    Ok(event)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn ts(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn catalog_has_the_origins_17_types_in_order() {
        assert_eq!(KNOWN_EVENT_TYPES.len(), 17);
        assert_eq!(
            known_event_types(),
            [
                "session.created",
                "session.suspended",
                "session.resumed",
                "session.terminated",
                "task.created",
                "task.started",
                "task.completed",
                "task.failed",
                "task.canceled",
                "runner.connected",
                "runner.disconnected",
                "runner.assigned",
                "runner.released",
                "permission.requested",
                "permission.approved",
                "permission.denied",
                "permission.canceled",
            ]
        );
        for t in KNOWN_EVENT_TYPES {
            assert!(is_known(t), "{t}");
            assert_eq!(validate_event_type(t), Ok(()), "{t}");
        }
        for t in ["task", "task.*", "Task.created", "task.created.v2", ""] {
            assert!(!is_known(t), "{t}");
        }
    }

    #[test]
    fn event_type_validation() {
        for ok in ["task.created", "task", "a.b.c", "A-b_9.x", &"a".repeat(128)] {
            assert_eq!(validate_event_type(ok), Ok(()), "{ok}");
        }
        let cases = [
            ("", "event type is empty"),
            (
                "task.cre ated",
                "event type `task.cre ated`: character ' ' at byte 8 is not allowed \
                 (only ASCII letters, digits, `.`, `_` and `-`)",
            ),
            (
                "task.*",
                "event type `task.*`: character '*' at byte 5 is not allowed \
                 (only ASCII letters, digits, `.`, `_` and `-`)",
            ),
            (
                "tâche",
                "event type `tâche`: character 'â' at byte 1 is not allowed \
                 (only ASCII letters, digits, `.`, `_` and `-`)",
            ),
            (
                "a\nb",
                "event type `a\\nb`: character '\\n' at byte 1 is not allowed \
                 (only ASCII letters, digits, `.`, `_` and `-`)",
            ),
            (
                ".task",
                "event type `.task`: empty segment before the first `.`",
            ),
            (".", "event type `.`: empty segment before the first `.`"),
            (
                "task.",
                "event type `task.`: empty segment after the last `.`",
            ),
            (
                "task..created",
                "event type `task..created`: empty segment between two `.`",
            ),
        ];
        for (t, msg) in cases {
            let err = validate_event_type(t).unwrap_err();
            assert_eq!(err.to_string(), msg, "{t:?}");
        }
        let long = "a".repeat(129);
        assert_eq!(
            validate_event_type(&long).unwrap_err(),
            EventTypeError::TooLong {
                head: "a".repeat(32),
                len: 129
            }
        );
        assert_eq!(
            validate_event_type(&long).unwrap_err().to_string(),
            format!(
                "event type `{}…`: 129 bytes long, at most 128 are allowed",
                "a".repeat(32)
            )
        );
    }

    #[test]
    fn timestamps_are_formatted_like_go() {
        let base = Utc.with_ymd_and_hms(2024, 1, 2, 3, 4, 5).unwrap();
        let with = |nanos: u32| base + chrono::Duration::nanoseconds(i64::from(nanos));
        for (t, want) in [
            (with(123_456_789), "2024-01-02T03:04:05.123456789Z"),
            (with(100_000_000), "2024-01-02T03:04:05.1Z"),
            (with(0), "2024-01-02T03:04:05Z"),
            (with(120_000), "2024-01-02T03:04:05.00012Z"),
            (with(1), "2024-01-02T03:04:05.000000001Z"),
            (with(500_000_000), "2024-01-02T03:04:05.5Z"),
            (
                Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap(),
                "9999-12-31T23:59:59Z",
            ),
            (
                Utc.with_ymd_and_hms(5, 6, 7, 8, 9, 10).unwrap(),
                "0005-06-07T08:09:10Z",
            ),
        ] {
            assert_eq!(format_timestamp(&t), want);
            assert_eq!(ts(want), t, "round trip of {want}");
        }
        let leap = ts("2016-12-31T23:59:60.5Z");
        assert_eq!(format_timestamp(&leap), "2016-12-31T23:59:59.999999999Z");
    }

    fn sample() -> Payload {
        let mut resource = ResourceInfo::new("t1", RESOURCE_TASK);
        resource.labels.insert("team".into(), "core".into());
        let data = TaskEventData::new("s1", "completed");
        Payload::build(
            TASK_COMPLETED,
            resource,
            Some(&data),
            ts("2024-01-02T03:04:05.123456789Z"),
        )
        .unwrap()
    }

    #[test]
    fn payload_golden_bytes() {
        let p = sample();
        assert_eq!(
            std::str::from_utf8(&p.to_bytes()).unwrap(),
            r#"{"event":"task.completed","timestamp":"2024-01-02T03:04:05.123456789Z","resource":{"id":"t1","type":"task","labels":{"team":"core"}},"data":{"session_id":"s1","status":"completed"}}"#
        );
        assert_eq!(serde_json::to_vec(&p).unwrap(), p.to_bytes());
    }

    #[test]
    fn payload_without_data_has_data_null() {
        let at = ts("2024-01-02T03:04:05Z");
        let none = Payload::new(
            "runner.connected",
            ResourceInfo::new("r1", "runner"),
            None,
            at,
        )
        .unwrap();
        let golden = r#"{"event":"runner.connected","timestamp":"2024-01-02T03:04:05Z","resource":{"id":"r1","type":"runner"},"data":null}"#;
        assert_eq!(std::str::from_utf8(&none.to_bytes()).unwrap(), golden);
        let null = Payload::build(
            "runner.connected",
            ResourceInfo::new("r1", "runner"),
            Some(&json!(null)),
            at,
        )
        .unwrap();
        assert_eq!(null, none);
        assert!(null.data().is_none());
        let missing: Payload = serde_json::from_str(
            r#"{"event":"runner.connected","timestamp":"2024-01-02T03:04:05Z","resource":{"id":"r1","type":"runner"}}"#,
        )
        .unwrap();
        assert_eq!(missing, none);
    }

    #[test]
    fn payload_embeds_raw_data_verbatim_and_round_trips() {
        let raw = RawValue::from_string(r#"{"b":1,"a":[true,null]}"#.to_owned()).unwrap();
        let p = Payload::new(
            "custom.thing-happened",
            ResourceInfo::new("x", "custom"),
            Some(raw),
            ts("2024-01-02T03:04:05.1Z"),
        )
        .unwrap();
        let bytes = p.to_bytes();
        assert_eq!(
            std::str::from_utf8(&bytes).unwrap(),
            r#"{"event":"custom.thing-happened","timestamp":"2024-01-02T03:04:05.1Z","resource":{"id":"x","type":"custom"},"data":{"b":1,"a":[true,null]}}"#
        );
        let back: Payload = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(back, p);
        assert_eq!(back.to_bytes(), bytes);
        assert_eq!(back.event(), "custom.thing-happened");
        assert_eq!(back.resource().id, "x");
        assert_eq!(back.timestamp(), ts("2024-01-02T03:04:05.1Z"));

        let sample = sample();
        let back: Payload = serde_json::from_slice(&sample.to_bytes()).unwrap();
        assert_eq!(back, sample);
    }

    #[test]
    fn payload_deserialisation_accepts_offsets_and_checks_invariants() {
        let p: Payload = serde_json::from_str(
            r#"{"event":"task.created","timestamp":"2024-01-02T05:04:05.5+02:00","resource":{"id":"t","type":"task"},"data":null}"#,
        )
        .unwrap();
        assert_eq!(p.timestamp(), ts("2024-01-02T03:04:05.5Z"));

        let bad_event = serde_json::from_str::<Payload>(
            r#"{"event":"task..created","timestamp":"2024-01-02T03:04:05Z","resource":{"id":"t","type":"task"},"data":null}"#,
        )
        .unwrap_err();
        assert!(
            bad_event.to_string().contains("event type `task..created`"),
            "{bad_event}"
        );

        let bad_time = serde_json::from_str::<Payload>(
            r#"{"event":"task.created","timestamp":"yesterday","resource":{"id":"t","type":"task"},"data":null}"#,
        )
        .unwrap_err();
        assert!(
            bad_time.to_string().contains("timestamp `yesterday`"),
            "{bad_time}"
        );

        let past_9999 = serde_json::from_str::<Payload>(
            r#"{"event":"task.created","timestamp":"9999-12-31T23:00:00-05:00","resource":{"id":"t","type":"task"},"data":null}"#,
        )
        .unwrap_err();
        assert!(
            past_9999.to_string().contains("outside the years"),
            "{past_9999}"
        );
    }

    #[test]
    fn payload_constructors_refuse_bad_input() {
        let at = ts("2024-01-02T03:04:05Z");
        let r = ResourceInfo::new("t", "task");
        let err = Payload::new("task*", r.clone(), None, at).unwrap_err();
        assert!(matches!(
            err,
            PayloadError::EventType(EventTypeError::InvalidChar { .. })
        ));
        let far = Utc.with_ymd_and_hms(10000, 1, 1, 0, 0, 0).unwrap();
        let err = Payload::new("task.created", r.clone(), None, far).unwrap_err();
        assert_eq!(
            err.to_string(),
            "event `task.created`: timestamp +10000-01-01T00:00:00Z is outside the years 0 to 9999"
        );
        let unencodable: BTreeMap<(u8, u8), u8> = [((1, 2), 3)].into();
        let err = Payload::build("task.created", r, Some(&unencodable), at).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("event `task.created`: data cannot be encoded as JSON: "),
            "{err}"
        );
    }
}
