//! Test fixtures: a deterministic daemon state (fixed clock, fixed ids) for the update and
//! snapshot tests.

use std::sync::Arc;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::app::{App, ConnState, Msg, Options};
use crate::clock::ManualClock;
use hookline_contract::{
    AttemptView, DeliveryChange, DeliveryDetail, DeliveryStatus, DeliverySummary, LiveStats,
    Millis, PluginErrorCounts, PluginFigures, Stats, StoreStats, StreamEvent, WebhookHealth,
    WebhookView,
};

/// 2025-01-31 12:00:00 UTC.
pub(crate) const NOW: Millis = 1_738_324_800_000;

pub(crate) fn key(c: char) -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}

pub(crate) fn code(code: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

pub(crate) fn webhook(id: &str, state: &str) -> WebhookView {
    WebhookView {
        id: id.into(),
        url: format!("https://{id}.example.com/hooks"),
        events: vec!["task.*".into()],
        scheme: "marionette".into(),
        secret_prefix: "3f9a".into(),
        timeout_seconds: 10,
        max_attempts: 3,
        retry_schedule_seconds: Some(vec![2, 5, 10]),
        max_concurrency: 4,
        state: state.into(),
        health: WebhookHealth {
            breaker: "closed".into(),
            succeeded: 90,
            failed: 10,
            latency_p50_ms: Some(12),
            latency_p99_ms: Some(240),
            ..WebhookHealth::default()
        },
        ..WebhookView::default()
    }
}

pub(crate) fn change(
    id: &str,
    webhook: &str,
    event: &str,
    status: DeliveryStatus,
    attempts: u32,
    at: Millis,
) -> DeliveryChange {
    DeliveryChange {
        id: id.into(),
        event_id: format!("evt_{}", &id[4..]),
        event_type: event.into(),
        webhook_id: webhook.into(),
        status,
        attempts,
        max_attempts: 3,
        at,
        ..DeliveryChange::default()
    }
}

pub(crate) fn failed(
    mut c: DeliveryChange,
    code: Option<u16>,
    kind: &str,
    error: &str,
) -> DeliveryChange {
    c.status_code = code;
    c.error_kind = Some(kind.into());
    c.error = Some(error.into());
    c
}

pub(crate) fn stats(now: Millis, delivered: u64, attempts: u64) -> Stats {
    Stats {
        now,
        store: StoreStats {
            events: 1200,
            deliveries: [
                ("pending".to_owned(), 42),
                ("in_flight".to_owned(), 3),
                ("delivered".to_owned(), 1100),
                ("failed".to_owned(), 7),
                ("exhausted".to_owned(), 2),
            ]
            .into_iter()
            .collect(),
            retry_waiting: 5,
            oldest_pending_at: Some(now - 185_000),
        },
        live: LiveStats {
            uptime_seconds: 3725,
            events_accepted: 1200,
            deliveries_created: 1250,
            attempts,
            delivered,
            failed: 7,
            exhausted: 2,
            retries_scheduled: 30,
            in_flight: 3,
            in_memory: 45,
            attempt_p50_ms: Some(12),
            attempt_p99_ms: Some(240),
            end_to_end_p50_ms: Some(15),
            end_to_end_p99_ms: Some(900),
        },
        webhooks: Default::default(),
        plugins: vec![PluginFigures {
            plugin: "plugins/redact.wasm".into(),
            sha256: Some("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into()),
            calls: 1104,
            sent: 1100,
            skipped: 1,
            errors: PluginErrorCounts {
                fuel: 2,
                deadline: 1,
                ..PluginErrorCounts::default()
            },
            call_mean_us: Some(21),
            call_p50_us: Some(20),
            call_p99_us: Some(48),
            instantiate_mean_us: Some(7),
            instantiate_p99_us: Some(12),
            fuel_used: 1_325_000,
            fuel_mean: Some(1_200),
            busy_us: 23_184,
            memory_max_bytes: 1_179_648,
        }],
    }
}

/// An app (clock at [`NOW`]) that has received a snapshot, a few seconds of stats and a
/// mix of deliveries: delivered, pending retries, failed, exhausted, plugin failures.
pub(crate) fn busy_app(opts: Options) -> (App, ManualClock) {
    let clock = ManualClock::at(NOW - 10_000);
    let mut app = App::new(opts, Arc::new(clock.clone()));
    app.update(Msg::Connection(ConnState::Live));
    let mut billing = webhook("billing", "active");
    billing.health.failing_since = None;
    let mut audit = webhook("audit", "active");
    audit.events = vec!["*".into()];
    audit.health.latency_p99_ms = Some(9_500);
    audit.health.consecutive_auth_failures = 4;
    let mut security = webhook("security", "paused");
    security.events = vec!["permission.*".into()];
    security.plugin = Some("plugins/redact.wasm".into());
    let mut crm = webhook("legacy-crm", "disabled");
    crm.disabled_reason = Some("receiver answered 410 Gone at 2025-01-31 11:58:00 UTC".into());
    crm.health.failing_since = Some(NOW - 120_000);
    let snapshot = hookline_contract::StreamSnapshot {
        stats: stats(NOW - 10_000, 1000, 1100),
        webhooks: vec![billing, audit, security, crm],
        deliveries: vec![DeliverySummary {
            id: "dlv_0000000000000000000000SNAP".into(),
            event_id: "evt_SNAP".into(),
            event_type: "session.created".into(),
            webhook_id: "audit".into(),
            status: DeliveryStatus::Delivered,
            attempts: 1,
            last_status_code: Some(200),
            created_at: NOW - 60_000,
            updated_at: NOW - 59_000,
            ..DeliverySummary::default()
        }],
    };
    app.update(Msg::Stream(vec![StreamEvent::Snapshot(Box::new(snapshot))]));
    let mut events = Vec::new();
    for s in 1..=10 {
        let t = NOW - 10_000 + s * 1000;
        events.push(StreamEvent::Stats(Box::new(stats(
            t,
            1000 + (s as u64) * 40 + (s as u64 % 3) * 10,
            1100 + (s as u64) * 48 + (s as u64 % 3) * 10,
        ))));
    }
    let d = |n: u32| format!("dlv_00000000000000000000000{n:03}");
    let mut changes = Vec::new();
    for n in 1..=6 {
        let at = NOW - 9_000 + i64::from(n) * 1000;
        changes.push(change(
            &d(n),
            "billing",
            "task.created",
            DeliveryStatus::Pending,
            0,
            at - 500,
        ));
        let mut ok = change(
            &d(n),
            "billing",
            "task.created",
            DeliveryStatus::Delivered,
            1,
            at,
        );
        ok.status_code = Some(200);
        ok.latency_ms = Some(10 + u64::from(n));
        changes.push(ok);
    }
    // A retry waiting at billing.
    changes.push(change(
        &d(10),
        "billing",
        "task.failed",
        DeliveryStatus::Pending,
        0,
        NOW - 8_000,
    ));
    let mut retry = failed(
        change(
            &d(10),
            "billing",
            "task.failed",
            DeliveryStatus::Pending,
            1,
            NOW - 7_000,
        ),
        Some(503),
        "http_status",
        "receiver answered 503 Service Unavailable",
    );
    retry.next_attempt_at = Some(NOW + 12_000);
    retry.latency_ms = Some(31);
    changes.push(retry);
    // A timeout at audit, retry due soon.
    let mut timeout = failed(
        change(
            &d(11),
            "audit",
            "session.created",
            DeliveryStatus::Pending,
            2,
            NOW - 6_000,
        ),
        None,
        "timeout",
        "no answer within 10 s",
    );
    timeout.next_attempt_at = Some(NOW + 3_000);
    timeout.latency_ms = Some(10_000);
    changes.push(timeout);
    // Failed (400) and exhausted (503) at billing.
    changes.push(failed(
        change(
            &d(12),
            "billing",
            "task.completed",
            DeliveryStatus::Failed,
            1,
            NOW - 5_000,
        ),
        Some(400),
        "http_status",
        "receiver answered 400 Bad Request",
    ));
    changes.push(failed(
        change(
            &d(13),
            "billing",
            "task.completed",
            DeliveryStatus::Exhausted,
            3,
            NOW - 4_000,
        ),
        Some(503),
        "http_status",
        "receiver answered 503 Service Unavailable",
    ));
    changes.push(failed(
        change(
            &d(14),
            "billing",
            "task.started",
            DeliveryStatus::Failed,
            1,
            NOW - 3_500,
        ),
        Some(400),
        "http_status",
        "receiver answered 400 Bad Request",
    ));
    // Plugin traps at security.
    changes.push(failed(
        change(
            &d(15),
            "security",
            "permission.requested",
            DeliveryStatus::Failed,
            1,
            NOW - 3_000,
        ),
        None,
        "plugin_trap",
        "wasm trap: unreachable executed",
    ));
    changes.push(failed(
        change(
            &d(16),
            "security",
            "permission.requested",
            DeliveryStatus::Failed,
            1,
            NOW - 2_000,
        ),
        None,
        "plugin_fuel",
        "fuel exhausted after 1000000 instructions",
    ));
    events.extend(changes.into_iter().map(StreamEvent::Delivery));
    clock.set(NOW);
    app.update(Msg::Stream(events));
    app.refresh();
    (app, clock)
}

/// The detail of a delivery with two attempts; the second sent a transformed body.
pub(crate) fn detail_of(id: &str) -> DeliveryDetail {
    DeliveryDetail {
        summary: DeliverySummary {
            id: id.into(),
            event_id: "evt_00000000000000000000000012".into(),
            event_type: "permission.requested".into(),
            webhook_id: "security".into(),
            status: DeliveryStatus::Failed,
            attempts: 2,
            last_status_code: Some(400),
            last_error_kind: Some("http_status".into()),
            last_error: Some("receiver answered 400 Bad Request".into()),
            next_attempt_at: None,
            created_at: NOW - 30_000,
            updated_at: NOW - 5_000,
        },
        payload: serde_json::json!({
            "event": "permission.requested",
            "timestamp": "2025-01-31T11:59:30Z",
            "resource": {"id": "perm-7", "type": "permission"},
            "data": {"session_id": "s1", "tool": "bash", "risk_level": "high", "token": "sk-live-123"}
        }),
        attempts_detail: vec![
            AttemptView {
                attempt: 1,
                started_at: NOW - 29_990,
                duration_ms: 10_000,
                url: "https://security.example.com/hooks".into(),
                status_code: None,
                error_kind: Some("timeout".into()),
                error_message: Some("no answer within 10 s".into()),
                request_headers: vec![
                    ("content-type".into(), "application/json".into()),
                    ("x-webhook-id".into(), id.into()),
                    ("x-webhook-signature".into(), "[redacted]".into()),
                ],
                request_body: None,
                response_excerpt: None,
            },
            AttemptView {
                attempt: 2,
                started_at: NOW - 5_020,
                duration_ms: 20,
                url: "https://security.example.com/hooks".into(),
                status_code: Some(400),
                error_kind: Some("http_status".into()),
                error_message: Some("receiver answered 400 Bad Request".into()),
                request_headers: vec![
                    ("content-type".into(), "application/json".into()),
                    ("x-webhook-id".into(), id.into()),
                    ("x-webhook-signature".into(), "[redacted]".into()),
                ],
                request_body: Some(
                    r#"{"event":"permission.requested","data":{"tool":"bash","risk_level":"high","token":"[redacted]"}}"#
                        .into(),
                ),
                response_excerpt: Some("{\"error\":\"missing field session_id\"}".into()),
            },
        ],
    }
}
