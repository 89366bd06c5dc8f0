//! Snapshot tests of every view, drawn on ratatui's `TestBackend` from a deterministic state
//! (fixed clock, fixed ids: see `crate::fixtures`).

use crossterm::event::KeyCode;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::Color;

use crate::app::{App, ConnState, Msg, Options};
use crate::fixtures::{busy_app, code, detail_of, key};

fn render(app: &App, width: u16, height: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("a test terminal");
    terminal
        .draw(|frame| super::draw(frame, app))
        .expect("drawing succeeds");
    terminal
}

fn screen(app: &App) -> String {
    render(app, 160, 48).backend().to_string()
}

fn busy() -> App {
    busy_app(Options::default()).0
}

#[test]
fn overview() {
    insta::assert_snapshot!(screen(&busy()));
}

#[test]
fn overview_filtered_and_frozen() {
    let mut app = busy();
    app.update(key('/'));
    for c in "status>=500".chars() {
        app.update(key(c));
    }
    app.update(code(KeyCode::Enter));
    app.update(key(' '));
    insta::assert_snapshot!(screen(&app));
}

#[test]
fn overview_before_anything_arrived() {
    let app = App::new(
        Options::default(),
        std::sync::Arc::new(crate::clock::ManualClock::at(crate::fixtures::NOW)),
    );
    insta::assert_snapshot!(render(&app, 120, 30).backend().to_string());
}

#[test]
fn webhooks() {
    let mut app = busy();
    app.update(key('2'));
    insta::assert_snapshot!(screen(&app));
}

#[test]
fn webhooks_pause_confirmation() {
    let mut app = busy();
    app.update(key('2'));
    app.update(key('j'));
    app.update(key('p'));
    insta::assert_snapshot!(screen(&app));
}

#[test]
fn queue() {
    let mut app = busy();
    app.update(key('3'));
    insta::assert_snapshot!(screen(&app));
}

#[test]
fn failures_groups() {
    let mut app = busy();
    app.update(key('4'));
    insta::assert_snapshot!(screen(&app));
}

#[test]
fn failures_deliveries_of_a_group() {
    let mut app = busy();
    app.update(key('4'));
    app.update(code(KeyCode::Enter));
    app.update(key('j'));
    insta::assert_snapshot!(screen(&app));
}

#[test]
fn plugins() {
    let mut app = busy();
    app.update(key('5'));
    insta::assert_snapshot!(screen(&app));
}

#[test]
fn plugins_of_a_daemon_without_per_plugin_figures() {
    let mut app = busy();
    let mut older = crate::fixtures::stats(crate::fixtures::NOW, 1000, 1100);
    older.plugins.clear();
    app.update(Msg::Stream(vec![hookline_contract::StreamEvent::Stats(
        Box::new(older),
    )]));
    app.update(key('5'));
    let text = screen(&app);
    assert!(
        text.contains("This daemon sends no per-plugin figures"),
        "{text}"
    );
    let row = text
        .lines()
        .find(|l| l.contains("redact.wasm") && l.contains("security"))
        .expect("the redact row");
    // Counted from the stream instead: no call time or fuel, shown as `-`.
    assert!(!row.contains("µs"), "{row}");
    assert!(
        row.trim_end_matches(['│', '"', ' ']).ends_with('-'),
        "{row}"
    );
}

#[test]
fn detail() {
    let mut app = busy();
    app.update(key('4'));
    app.update(key('j'));
    app.update(code(KeyCode::Enter));
    app.update(code(KeyCode::Enter));
    let id = app.detail.id.clone().expect("a delivery is open");
    app.update(Msg::Detail(id.clone(), Ok(detail_of(&id))));
    insta::assert_snapshot!(screen(&app));
}

#[test]
fn detail_empty_and_loading() {
    let mut app = busy();
    app.update(key('6'));
    let empty = render(&app, 100, 12).backend().to_string();
    app.update(key('1'));
    app.update(code(KeyCode::Enter));
    let loading = render(&app, 100, 12).backend().to_string();
    insta::assert_snapshot!(format!("{empty}\n{loading}"));
}

#[test]
fn help() {
    let mut app = busy();
    app.update(key('?'));
    insta::assert_snapshot!(screen(&app));
}

#[test]
fn help_and_footer_read_only() {
    let mut app = busy_app(Options {
        read_only: true,
        ..Options::default()
    })
    .0;
    app.update(key('4'));
    app.update(key('?'));
    insta::assert_snapshot!(screen(&app));
}

#[test]
fn connection_states_in_the_header() {
    let mut app = busy();
    let mut out = String::new();
    for state in [
        ConnState::Connecting,
        ConnState::Unreachable(
            "error sending request: client error (Connect): tcp connect error: Connection refused"
                .into(),
        ),
        ConnState::Unauthorized(
            "the daemon refused the API token (401): missing or invalid bearer token".into(),
        ),
    ] {
        app.update(Msg::Connection(state));
        let terminal = render(&app, 160, 48);
        let text = terminal.backend().to_string();
        out.push_str(text.lines().next().unwrap_or(""));
        out.push('\n');
    }
    insta::assert_snapshot!(out);
}

#[test]
fn a_small_terminal_does_not_break_drawing() {
    let mut app = busy();
    for view in ['1', '2', '3', '4', '5', '6'] {
        app.update(key(view));
        for (w, h) in [(40, 10), (20, 5), (1, 1)] {
            render(&app, w, h);
        }
    }
}

#[test]
fn no_color_draws_without_colours() {
    let app = busy_app(Options {
        color: false,
        ..Options::default()
    })
    .0;
    let terminal = render(&app, 160, 48);
    let buffer = terminal.backend().buffer();
    assert!(
        buffer
            .content()
            .iter()
            .all(|c| c.fg == Color::Reset && c.bg == Color::Reset),
        "NO_COLOR: no cell has a colour"
    );
    let colored = render(&busy(), 160, 48);
    assert!(
        colored
            .backend()
            .buffer()
            .content()
            .iter()
            .any(|c| c.fg != Color::Reset),
        "with colours, some cells have one"
    );
}

#[test]
fn a_read_token_hides_actions_and_the_help_says_why() {
    let mut app = busy_app(Options {
        read_only: true,
        read_only_reason: Some("the token `console` has the `read` scope".into()),
        ..Options::default()
    })
    .0;
    app.update(key('4'));
    let text = render(&app, 160, 48).backend().to_string();
    assert!(text.contains("[read-only: token scope]"), "{text}");
    assert!(!text.contains(" r retry "), "{text}");
    app.update(key('?'));
    let text = render(&app, 160, 48).backend().to_string();
    assert!(
        text.contains("read-only (the token `console` has the `read` scope)"),
        "{text}"
    );
}
