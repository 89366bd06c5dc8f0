//! The plugin SDK's `Event::default_body` is byte for byte the host's `Payload::to_bytes`:
//! both build on `hookline-contract`'s `ResourceInfo`, and this keeps the two encoders of the
//! envelope in step.

use chrono::{DateTime, Utc};
use hookline_core::event::{
    Payload, RESOURCE_PERMISSION_REQUEST, RESOURCE_TASK, ResourceInfo, TASK_COMPLETED,
    TaskEventData, format_timestamp,
};
use serde_json::value::RawValue;

fn ts(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn guest_body(event_id: &str, p: &Payload, resource: &ResourceInfo, data: Option<&str>) -> Vec<u8> {
    let mut event =
        hookline_guest::Event::new(event_id, p.event(), format_timestamp(&p.timestamp()))
            .with_resource(resource.clone());
    if let Some(data) = data {
        event = event.with_data_json(data);
    }
    event.default_body()
}

#[test]
fn the_guest_default_body_is_the_host_payload() {
    let labelled = ResourceInfo::new("t1", RESOURCE_TASK)
        .with_label("team", "core")
        .with_label("env", "prod")
        .with_annotation("note", "a \"quoted\" <value> & more");
    let typed =
        serde_json::to_string(&TaskEventData::new("s1", "completed").with_prompt(&"é".repeat(80)))
            .unwrap();
    let cases: [(&str, ResourceInfo, Option<&str>, &str); 4] = [
        (
            TASK_COMPLETED,
            labelled,
            Some(typed.as_str()),
            "2024-01-02T03:04:05.123456789Z",
        ),
        (
            "runner.connected",
            ResourceInfo::new("r1", "runner"),
            None,
            "2024-01-02T03:04:05Z",
        ),
        (
            "permission.requested",
            ResourceInfo::new("p1", RESOURCE_PERMISSION_REQUEST),
            Some(r#"{"b":1,"a":[true,null],"s":"\u00e9\n"}"#),
            "2024-01-02T03:04:05.5Z",
        ),
        (
            "custom.thing-happened",
            ResourceInfo::default(),
            Some("[1,2.50,3e2]"),
            "0005-06-07T08:09:10.00012Z",
        ),
    ];
    for (event_type, resource, data, at) in cases {
        let raw = data.map(|d| RawValue::from_string(d.to_owned()).unwrap());
        let payload = Payload::new(event_type, resource.clone(), raw, ts(at)).unwrap();
        let host = payload.to_bytes();
        let guest = guest_body("evt_1", &payload, &resource, data);
        assert_eq!(
            String::from_utf8(guest).unwrap(),
            String::from_utf8(host).unwrap(),
            "{event_type}"
        );
    }
}
