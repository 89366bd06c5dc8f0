//! The update logic, without a terminal: keys and messages in, state and effects out.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::*;
use crate::fixtures::{NOW, busy_app, change, code, detail_of, key, webhook};
use hookline_contract::{DeliveryStatus, Page, StreamEvent};

fn app() -> (App, crate::clock::ManualClock) {
    busy_app(Options::default())
}

fn type_text(app: &mut App, text: &str) {
    for c in text.chars() {
        app.update(key(c));
    }
}

fn status_text(app: &App) -> String {
    app.status
        .as_ref()
        .map(|s| s.text.clone())
        .unwrap_or_default()
}

#[test]
fn the_overview_lists_the_latest_changes_first() {
    let (app, _) = app();
    let ids: Vec<&str> = app.shown.overview.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids[0], "dlv_00000000000000000000000016");
    assert_eq!(ids.last().copied(), Some("dlv_0000000000000000000000SNAP"));
    assert_eq!(app.shown.overview.len(), 14);
    assert_eq!(app.shown.delivered_rate.len(), 10);
}

#[test]
fn views_switch_with_tab_and_digits_and_keep_their_own_filter() {
    let (mut app, _) = app();
    app.update(code(KeyCode::Tab));
    assert_eq!(app.view, ViewId::Webhooks);
    app.update(Msg::Key(KeyEvent::new(
        KeyCode::BackTab,
        KeyModifiers::SHIFT,
    )));
    assert_eq!(app.view, ViewId::Overview);
    app.update(key('/'));
    type_text(&mut app, "webhook=audit");
    app.update(code(KeyCode::Enter));
    assert_eq!(app.mode, Mode::Normal);
    assert!(app.shown.overview.iter().all(|r| &*r.webhook_id == "audit"));
    app.update(key('3'));
    assert_eq!(app.view, ViewId::Queue);
    assert!(app.list(ViewId::Queue).filter.is_none());
    assert_eq!(
        app.shown.queue.len(),
        2,
        "both waiting deliveries, unfiltered"
    );
    app.update(key('1'));
    assert_eq!(
        app.list(ViewId::Overview)
            .filter
            .as_ref()
            .map(|f| f.text.as_str()),
        Some("webhook=audit")
    );
}

#[test]
fn the_filter_applies_as_typed_reports_errors_and_esc_undoes() {
    let (mut app, _) = app();
    app.update(key('/'));
    type_text(&mut app, "status>=500");
    assert!(
        app.shown
            .overview
            .iter()
            .all(|r| r.code.unwrap_or(0) >= 500)
    );
    assert_eq!(app.shown.overview.len(), 2);
    type_text(&mut app, " and");
    let Mode::Filter { error, .. } = &app.mode else {
        panic!("the prompt is open")
    };
    assert!(
        error
            .as_deref()
            .unwrap_or("")
            .contains("expected a condition"),
        "{error:?}"
    );
    assert_eq!(app.shown.overview.len(), 2, "the last good filter stays");
    // Enter with an error keeps the prompt open.
    app.update(code(KeyCode::Enter));
    assert!(matches!(app.mode, Mode::Filter { .. }));
    app.update(code(KeyCode::Esc));
    assert_eq!(app.mode, Mode::Normal);
    assert!(
        app.list(ViewId::Overview).filter.is_none(),
        "Esc restores no filter"
    );
    assert_eq!(app.shown.overview.len(), 14);
    // A field the view lacks.
    app.update(key('2'));
    app.update(key('/'));
    type_text(&mut app, "code=500");
    let Mode::Filter { error, .. } = &app.mode else {
        panic!("the prompt is open")
    };
    assert!(
        error.as_deref().unwrap_or("").contains("no `code`"),
        "{error:?}"
    );
    app.update(code(KeyCode::Esc));
    app.update(key('/'));
    type_text(&mut app, "state=paused");
    app.update(code(KeyCode::Enter));
    let ids: Vec<&str> = app
        .shown
        .webhooks
        .iter()
        .map(|w| w.webhook.id.as_str())
        .collect();
    assert_eq!(ids, ["security"]);
}

#[test]
fn sort_cycles_columns_and_reverses() {
    let (mut app, _) = app();
    app.update(key('3'));
    let next: Vec<Option<i64>> = app.shown.queue.iter().map(|r| r.next_attempt_at).collect();
    assert_eq!(
        next,
        [Some(NOW + 3_000), Some(NOW + 12_000)],
        "soonest first"
    );
    app.update(key('S'));
    let next: Vec<Option<i64>> = app.shown.queue.iter().map(|r| r.next_attempt_at).collect();
    assert_eq!(next, [Some(NOW + 12_000), Some(NOW + 3_000)]);
    app.update(key('s'));
    assert_eq!(QUEUE_SORT[app.list(ViewId::Queue).sort].name, "delivery");
    assert!(app.list(ViewId::Queue).descending);
    app.update(key('4'));
    let counts: Vec<usize> = app.shown.failures.iter().map(|g| g.rows.len()).collect();
    assert_eq!(counts, [3, 1, 1], "biggest group first");
}

#[test]
fn moving_and_following_the_selection() {
    let (mut app, clock) = app();
    app.update(key('j'));
    app.update(key('j'));
    let selected = app.shown.overview[2].id.clone();
    assert_eq!(app.list(ViewId::Overview).selected, 2);
    // New deliveries arrive: the selection stays on the same delivery.
    clock.advance(1_000);
    app.update(Msg::Stream(vec![StreamEvent::Delivery(change(
        "dlv_00000000000000000000000099",
        "billing",
        "task.created",
        DeliveryStatus::Pending,
        0,
        NOW + 1_000,
    ))]));
    assert_eq!(
        app.shown.overview[app.list(ViewId::Overview).selected].id,
        selected
    );
    app.update(key('G'));
    assert_eq!(
        app.list(ViewId::Overview).selected,
        app.shown.overview.len() - 1
    );
    app.update(key('g'));
    assert_eq!(app.list(ViewId::Overview).selected, 0);
    app.update(key('k'));
    assert_eq!(
        app.list(ViewId::Overview).selected,
        0,
        "no move above the top"
    );
}

#[test]
fn retry_from_failures_drills_in_and_asks_the_daemon() {
    let (mut app, _) = app();
    app.update(key('4'));
    // On the groups, there is no delivery to retry yet.
    assert!(app.update(key('r')).is_empty());
    assert!(status_text(&app).contains("select a delivery"));
    app.update(code(KeyCode::Enter));
    assert_eq!(app.failures_focus, FailuresFocus::Deliveries);
    let id = app.shown.failures[0].rows[0].id.clone();
    let fx = app.update(key('r'));
    assert_eq!(fx, vec![Effect::Retry(id.clone())]);
    // The daemon answers: the delivery is pending again.
    let summary = DeliverySummary {
        id: id.clone(),
        webhook_id: "billing".into(),
        event_type: "task.started".into(),
        status: DeliveryStatus::Pending,
        attempts: 1,
        updated_at: NOW + 1,
        created_at: NOW - 9_000,
        ..DeliverySummary::default()
    };
    app.update(Msg::Done(
        Effect::Retry(id.clone()),
        Ok(Done::Delivery(summary)),
    ));
    assert!(
        status_text(&app).contains("now pending"),
        "{}",
        status_text(&app)
    );
    assert_eq!(
        app.data.book.get(&id).map(|r| r.status),
        Some(DeliveryStatus::Pending)
    );
    // Esc goes back to the groups.
    app.update(code(KeyCode::Esc));
    assert_eq!(app.failures_focus, FailuresFocus::Groups);
}

#[test]
fn retry_is_refused_with_a_reason_for_a_delivered_delivery() {
    let (mut app, _) = app();
    app.update(key('G')); // the snapshot's delivered delivery
    let fx = app.update(key('r'));
    assert!(fx.is_empty());
    assert!(
        status_text(&app).contains("is delivered"),
        "{}",
        status_text(&app)
    );
}

#[test]
fn replay_asks_for_confirmation() {
    let (mut app, _) = app();
    let id = app.shown.overview[0].id.clone();
    assert!(app.update(key('R')).is_empty());
    assert!(matches!(&app.mode, Mode::Confirm { question, .. } if question.contains(&id)));
    assert!(app.update(key('n')).is_empty());
    assert_eq!(status_text(&app), "canceled");
    app.update(key('R'));
    assert_eq!(app.update(key('y')), vec![Effect::Replay(id)]);
    assert_eq!(app.mode, Mode::Normal);
}

#[test]
fn pause_confirms_resume_does_not_and_re_enable_confirms() {
    let (mut app, _) = app();
    app.update(key('2'));
    let ids: Vec<&str> = app
        .shown
        .webhooks
        .iter()
        .map(|w| w.webhook.id.as_str())
        .collect();
    assert_eq!(ids, ["audit", "billing", "legacy-crm", "security"]);
    // audit is active: pause asks first.
    assert!(app.update(key('p')).is_empty());
    assert_eq!(app.update(key('y')), vec![Effect::Pause("audit".into())]);
    let mut paused = webhook("audit", "paused");
    paused.events = vec!["*".into()];
    app.update(Msg::Done(
        Effect::Pause("audit".into()),
        Ok(Done::Webhook(Box::new(paused))),
    ));
    assert!(status_text(&app).contains("audit is now paused"));
    // legacy-crm is disabled: re-enabling asks, naming the reason.
    app.update(key('j'));
    app.update(key('j'));
    app.update(key('p'));
    assert!(matches!(&app.mode, Mode::Confirm { question, .. } if question.contains("410 Gone")));
    assert_eq!(
        app.update(key('y')),
        vec![Effect::Resume("legacy-crm".into())]
    );
    // security is paused: resume at once.
    app.update(key('j'));
    assert_eq!(
        app.update(key('p')),
        vec![Effect::Resume("security".into())]
    );
}

#[test]
fn read_only_refuses_and_says_why() {
    let (mut app, _) = busy_app(Options {
        read_only: true,
        ..Options::default()
    });
    app.update(key('4'));
    app.update(code(KeyCode::Enter));
    assert!(app.update(key('r')).is_empty());
    assert!(
        status_text(&app).contains("--read-only"),
        "{}",
        status_text(&app)
    );
    app.update(key('2'));
    assert!(app.update(key('p')).is_empty());
    assert!(status_text(&app).contains("--read-only"));
    // Reading is fine.
    app.update(key('4'));
    assert!(matches!(app.update(key('y')).as_slice(), [Effect::Copy(_)]));
}

#[test]
fn a_key_of_another_view_says_where_it_works() {
    let (mut app, _) = app();
    assert!(app.update(key('p')).is_empty());
    assert!(
        status_text(&app).contains("works in: Webhooks"),
        "{}",
        status_text(&app)
    );
}

#[test]
fn enter_opens_the_detail_and_esc_comes_back() {
    let (mut app, clock) = app();
    app.update(key('j'));
    let id = app.shown.overview[1].id.clone();
    let fx = app.update(code(KeyCode::Enter));
    assert_eq!(fx, vec![Effect::FetchDetail(id.clone())]);
    assert_eq!(app.view, ViewId::Detail);
    assert!(app.detail.loading);
    app.update(Msg::Detail(id.clone(), Ok(detail_of(&id))));
    assert_eq!(app.detail.attempt, 1, "the last attempt is selected");
    assert!(app.detail.payload_text.contains("\"risk_level\": \"high\""));
    assert!(
        app.detail.bodies[1]
            .as_deref()
            .unwrap_or("")
            .contains("[redacted]")
    );
    app.update(key('k'));
    assert_eq!(app.detail.attempt, 0);
    // A change of this delivery on the stream: fetched again, at most once a second.
    app.update(Msg::Stream(vec![StreamEvent::Delivery(change(
        &id,
        "security",
        "permission.requested",
        DeliveryStatus::Pending,
        2,
        NOW + 10,
    ))]));
    clock.advance(400);
    assert!(
        !app.update(Msg::Tick)
            .contains(&Effect::FetchDetail(id.clone()))
    );
    clock.advance(700);
    assert!(
        app.update(Msg::Tick)
            .contains(&Effect::FetchDetail(id.clone()))
    );
    app.update(code(KeyCode::Esc));
    assert_eq!(app.view, ViewId::Overview);
    // 6 comes back to the last opened delivery.
    app.update(key('6'));
    assert_eq!(app.detail.id.as_deref(), Some(id.as_str()));
}

#[test]
fn enter_on_a_webhook_lists_its_deliveries() {
    let (mut app, _) = app();
    app.update(key('2'));
    app.update(key('j')); // billing
    app.update(code(KeyCode::Enter));
    assert_eq!(app.view, ViewId::Overview);
    assert!(
        app.shown
            .overview
            .iter()
            .all(|r| &*r.webhook_id == "billing")
    );
    assert!(!app.shown.overview.is_empty());
    app.update(code(KeyCode::Esc));
    assert_eq!(app.view, ViewId::Webhooks);
}

#[test]
fn freeze_holds_the_view_still() {
    let (mut app, clock) = app();
    let before = app.shown.overview.len();
    app.update(key(' '));
    assert!(app.frozen);
    clock.advance(2_000);
    app.update(Msg::Stream(vec![StreamEvent::Delivery(change(
        "dlv_00000000000000000000000077",
        "audit",
        "session.created",
        DeliveryStatus::Pending,
        0,
        NOW + 2_000,
    ))]));
    app.update(Msg::Tick);
    assert_eq!(app.shown.overview.len(), before);
    assert_eq!(app.display_now(), NOW, "ages stand still");
    app.update(key(' '));
    assert!(!app.frozen);
    assert_eq!(app.shown.overview.len(), before + 1);
}

#[test]
fn ticks_poll_the_api_on_schedule_while_live() {
    let (mut app, clock) = app();
    let fx = app.update(Msg::Tick);
    assert!(fx.contains(&Effect::FetchWebhooks));
    assert!(fx.contains(&Effect::FetchDeliveries(Poll::Waiting)));
    assert!(fx.contains(&Effect::FetchDeliveries(Poll::Failures)));
    // Nothing again while the answers are awaited, nor too soon.
    clock.advance(2_500);
    assert!(app.update(Msg::Tick).is_empty());
    app.update(Msg::Webhooks(Ok(vec![webhook("billing", "active")])));
    assert_eq!(app.data.webhooks.len(), 1);
    assert_eq!(app.update(Msg::Tick), vec![Effect::FetchWebhooks]);
    // Not connected: no polling.
    app.update(Msg::Connection(ConnState::Unreachable(
        "connection refused".into(),
    )));
    clock.advance(10_000);
    app.update(Msg::Webhooks(Ok(vec![])));
    assert!(app.update(Msg::Tick).is_empty());
}

#[test]
fn a_complete_pending_list_forgets_what_finished_unseen() {
    let (mut app, clock) = app();
    clock.advance(20_000);
    app.update(Msg::Tick); // starts the polls
    let keep = "dlv_00000000000000000000000011";
    let listed = DeliverySummary {
        id: keep.into(),
        webhook_id: "audit".into(),
        status: DeliveryStatus::Pending,
        attempts: 2,
        updated_at: NOW - 6_000,
        ..DeliverySummary::default()
    };
    app.update(Msg::Deliveries(
        Poll::Waiting,
        Ok(Page {
            items: vec![listed],
            next_cursor: None,
        }),
    ));
    assert!(app.data.book.get(keep).is_some());
    assert!(
        app.data
            .book
            .get("dlv_00000000000000000000000010")
            .is_none(),
        "pending in the console, not in the store: gone"
    );
}

#[test]
fn stats_set_the_server_clock_and_unknown_webhooks_are_fetched() {
    let (mut app, _) = app();
    app.update(Msg::Stream(vec![StreamEvent::Stats(Box::new(
        crate::fixtures::stats(NOW + 5_000, 2000, 2200),
    ))]));
    assert_eq!(app.server_now(), NOW + 5_000);
    let fx = app.update(Msg::Stream(vec![StreamEvent::Delivery(change(
        "dlv_00000000000000000000000088",
        "brand-new",
        "task.created",
        DeliveryStatus::Pending,
        0,
        NOW,
    ))]));
    assert_eq!(fx, vec![Effect::FetchWebhooks]);
}

#[test]
fn failures_group_by_kind_and_webhook() {
    let (mut app, _) = app();
    app.update(key('4'));
    let groups: Vec<(String, String, usize, u64, u64)> = app
        .shown
        .failures
        .iter()
        .map(|g| {
            (
                g.kind.to_string(),
                g.webhook.to_string(),
                g.rows.len(),
                g.failed,
                g.exhausted,
            )
        })
        .collect();
    assert_eq!(
        groups,
        [
            ("http_status".into(), "billing".into(), 3, 2, 1),
            ("plugin_fuel".into(), "security".into(), 1, 1, 0),
            ("plugin_trap".into(), "security".into(), 1, 1, 0),
        ]
    );
}

#[test]
fn webhooks_carry_warnings() {
    let (mut app, _) = app();
    app.update(key('2'));
    let audit = &app.shown.webhooks[0];
    assert_eq!(audit.webhook.id, "audit");
    let shorts: Vec<String> = audit.warnings.iter().map(|w| w.short()).collect();
    assert!(shorts.contains(&"p99≈timeout".to_owned()), "{shorts:?}");
    assert!(shorts.contains(&"401/403 ×4".to_owned()), "{shorts:?}");
    let security = &app.shown.webhooks[3];
    assert!(
        security
            .warnings
            .iter()
            .any(|w| w.short() == "plugin traps 2"),
        "{:?}",
        security.warnings
    );
    let billing = &app.shown.webhooks[1];
    assert_eq!(billing.waiting, 1);
    assert_eq!(billing.next_retry, Some(NOW + 12_000));
}

#[test]
fn near_auto_disable_warns_with_the_configured_window() {
    let (mut app, _) = busy_app(Options {
        auto_disable_after_seconds: 100,
        ..Options::default()
    });
    let mut w = webhook("billing", "active");
    w.health.failing_since = Some(NOW - 90_000);
    app.update(Msg::Webhooks(Ok(vec![w])));
    app.refresh();
    let shorts: Vec<String> = app.shown.webhooks[0]
        .warnings
        .iter()
        .map(|w| w.short())
        .collect();
    assert!(
        shorts.contains(&"auto-disable in 10s".to_owned()),
        "{shorts:?}"
    );
}

#[test]
fn help_opens_and_closes_and_q_quits() {
    let (mut app, _) = app();
    app.update(key('?'));
    assert_eq!(app.mode, Mode::Help);
    app.update(key('j'));
    assert_eq!(app.mode, Mode::Help, "other keys leave the help open");
    app.update(code(KeyCode::Esc));
    assert_eq!(app.mode, Mode::Normal);
    assert!(!app.should_quit());
    app.update(Msg::Key(KeyEvent::new(
        KeyCode::Char('c'),
        KeyModifiers::CONTROL,
    )));
    assert!(app.should_quit());
}

#[test]
fn action_errors_show_in_the_status_line() {
    let (mut app, _) = app();
    app.update(Msg::Done(
        Effect::Retry("dlv_x".into()),
        Err("HTTP 409 invalid_state: delivery is delivered".into()),
    ));
    let s = app.status.clone().expect("a status");
    assert!(s.error);
    assert!(
        s.text.contains("retry of dlv_x failed: HTTP 409"),
        "{}",
        s.text
    );
}

#[test]
fn redraws_only_when_something_shown_changed() {
    let (mut app, clock) = app();
    app.take_dirty();
    // Same second, nothing new: no redraw.
    clock.advance(100);
    app.update(Msg::Connection(ConnState::Live));
    assert!(!app.take_dirty());
    // A new second: ages and countdowns change.
    clock.advance(1_000);
    app.update(Msg::Tick);
    assert!(app.take_dirty());
}

#[test]
fn a_flood_of_deliveries_stays_bounded() {
    let (mut app, clock) = app();
    for batch in 0..40 {
        clock.advance(100);
        let events: Vec<StreamEvent> = (0..1000)
            .map(|i| {
                let n = batch * 1000 + i;
                let mut c = change(
                    &format!("dlv_F{n:025}"),
                    "billing",
                    "task.completed",
                    DeliveryStatus::Delivered,
                    1,
                    NOW + i64::from(n),
                );
                c.status_code = Some(200);
                StreamEvent::Delivery(c)
            })
            .collect();
        app.update(Msg::Stream(events));
    }
    assert!(app.data.book.len() <= 2 * crate::data::BOOK_CAPACITY);
    assert!(app.shown.overview.len() <= crate::data::BOOK_CAPACITY);
    // The failures are still known.
    app.update(key('4'));
    assert_eq!(
        app.shown
            .failures
            .iter()
            .map(|g| g.rows.len())
            .sum::<usize>(),
        5
    );
}

#[test]
fn a_read_token_disables_actions_saying_why_and_an_ingest_token_is_refused() {
    use crate::run::apply_scope;
    use hookline_contract::{TokenScope, WhoAmI};
    let who = |scope| WhoAmI {
        id: "tok_1".into(),
        name: "console".into(),
        scope,
    };
    let mut opts = Options::default();
    apply_scope(&mut opts, &who(TokenScope::Admin)).unwrap();
    assert!(!opts.read_only);
    let err = apply_scope(&mut opts, &who(TokenScope::Ingest)).unwrap_err();
    assert!(err.to_string().contains("`ingest` scope"), "{err}");
    assert!(err.to_string().contains("--scope read"), "{err}");
    apply_scope(&mut opts, &who(TokenScope::Read)).unwrap();
    assert!(opts.read_only);

    let (mut app, _) = busy_app(opts);
    app.update(key('4'));
    app.update(code(KeyCode::Enter));
    assert!(app.update(key('r')).is_empty());
    let status = status_text(&app);
    assert!(
        status.contains("disabled: the token `console` has the `read` scope"),
        "{status}"
    );
    app.update(key('2'));
    assert!(app.update(key('p')).is_empty());
    assert!(status_text(&app).contains("`read` scope"));
}
