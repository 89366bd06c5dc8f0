//! Webhooks: state, breaker, success, latency, in flight, waiting, next retry, warnings; the
//! selected one's settings and warnings in full below.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Wrap};

use super::{Theme, kv, titled, window_table};
use crate::actions::ViewId;
use crate::app::App;
use crate::format;
use crate::lines::WebhookLine;

pub(super) fn draw(frame: &mut Frame, app: &App, theme: Theme, area: Rect) {
    let shown = &app.shown.webhooks;
    let table_height = (shown.len() as u16 + 3).clamp(5, area.height.saturating_sub(12).max(5));
    let [table, details] =
        Layout::vertical([Constraint::Length(table_height), Constraint::Min(0)]).areas(area);
    let state = app.list(ViewId::Webhooks);
    let now = app.display_now();
    let block = titled(
        theme,
        format!("Webhooks ({})", shown.len()),
        Some((state, ViewId::Webhooks)),
    );
    window_table(
        frame,
        app,
        theme,
        table,
        block,
        vec![
            "Webhook",
            "State",
            "Breaker",
            "Success",
            "p50",
            "p99",
            "In flight",
            "Waiting",
            "Next retry",
            "Last 60s",
            "Warnings",
        ],
        &[
            Constraint::Length(16),
            Constraint::Length(9),
            Constraint::Length(9),
            Constraint::Length(7),
            Constraint::Length(7),
            Constraint::Length(7),
            Constraint::Length(9),
            Constraint::Length(7),
            Constraint::Length(10),
            Constraint::Length(12),
            Constraint::Min(10),
        ],
        shown,
        state,
        Some(state.selected),
        |line| row(theme, line, now),
    );
    if let Some(line) = shown.get(state.selected) {
        draw_details(frame, theme, line, now, details);
    } else {
        let text = if app.data.webhooks.is_empty() {
            "No webhooks yet. Create one with `hookline webhooks add`."
        } else {
            "No webhook matches the filter."
        };
        frame.render_widget(
            Paragraph::new(Span::styled(text, theme.dim())).block(titled(
                theme,
                "Webhook".into(),
                None,
            )),
            details,
        );
    }
}

fn row(theme: Theme, line: &WebhookLine, now: i64) -> Row<'static> {
    let w = &line.webhook;
    let h = &w.health;
    let breaker_style = match h.breaker.as_str() {
        "closed" => theme.ok(),
        "half_open" => theme.warn(),
        _ => theme.bad(),
    };
    let next = line
        .next_retry
        .map_or_else(|| "-".to_owned(), |t| countdown(t - now));
    let warnings: Vec<String> = line.warnings.iter().map(|w| w.short()).collect();
    Row::new(vec![
        Cell::from(w.id.clone()).style(theme.strong()),
        Cell::from(w.state.as_str()).style(theme.state(w.state.as_str())),
        Cell::from(h.breaker.as_str()).style(breaker_style),
        Cell::from(
            line.success
                .map_or_else(|| "-".to_owned(), |s| format!("{:.1}%", s * 100.0)),
        ),
        Cell::from(format::latency(h.latency_p50_ms)),
        Cell::from(format::latency(h.latency_p99_ms)),
        Cell::from(h.in_flight.to_string()),
        Cell::from(format::count(line.waiting)),
        Cell::from(next),
        Cell::from(format!(
            "{}✓ {}✗",
            format::count(line.recent.ok),
            format::count(line.recent.failed)
        )),
        Cell::from(warnings.join(", ")).style(theme.warn()),
    ])
}

/// `in 12s`, or `due` when the time has come.
pub(super) fn countdown(ms: i64) -> String {
    if ms <= 0 {
        "due".to_owned()
    } else {
        format!("in {}", format::age(ms + 999))
    }
}

fn draw_details(frame: &mut Frame, theme: Theme, line: &WebhookLine, now: i64, area: Rect) {
    let w = &line.webhook;
    let h = &w.health;
    let mut left = vec![
        kv(theme, "url", w.url.clone(), theme.strong()),
        kv(theme, "events", w.events.join(", "), theme.strong()),
        kv(
            theme,
            "scheme / secret",
            format!("{} / {}…", w.scheme, w.secret_prefix),
            theme.dim(),
        ),
        kv(
            theme,
            "timeout / attempts",
            format!("{}s / {}", w.timeout_seconds, w.max_attempts),
            theme.dim(),
        ),
        kv(
            theme,
            "retry schedule",
            w.retry_schedule_seconds.as_ref().map_or_else(
                || "default (exponential)".to_owned(),
                |s| {
                    s.iter()
                        .map(|d| format::age(*d as i64 * 1000))
                        .collect::<Vec<_>>()
                        .join(", ")
                },
            ),
            theme.dim(),
        ),
        kv(
            theme,
            "concurrency / rate",
            format!(
                "{} / {}",
                w.max_concurrency,
                w.rate_limit_per_second
                    .map_or_else(|| "unlimited".to_owned(), |r| format!("{r}/s"))
            ),
            theme.dim(),
        ),
        kv(
            theme,
            "plugin",
            w.plugin.clone().unwrap_or_else(|| "-".to_owned()),
            theme.dim(),
        ),
    ];
    if !w.description.is_empty() {
        left.push(kv(theme, "description", w.description.clone(), theme.dim()));
    }
    let mut right = vec![
        kv(
            theme,
            "state",
            match &w.disabled_reason {
                Some(reason) => format!("{}: {reason}", w.state),
                None => w.state.to_string(),
            },
            theme.state(w.state.as_str()),
        ),
        kv(
            theme,
            "attempts ok / failed",
            format!("{} / {} since the daemon started", h.succeeded, h.failed),
            theme.dim(),
        ),
        kv(
            theme,
            "consecutive failures",
            match h.failing_since {
                Some(since) => format!(
                    "{} (failing for {})",
                    h.consecutive_failures,
                    format::age(now - since)
                ),
                None => h.consecutive_failures.to_string(),
            },
            theme.dim(),
        ),
        kv(
            theme,
            "401/403 in a row",
            h.consecutive_auth_failures.to_string(),
            theme.dim(),
        ),
    ];
    if line.warnings.is_empty() {
        right.push(Line::from(Span::styled("no warnings", theme.ok())));
    }
    for warning in &line.warnings {
        right.push(Line::from(Span::styled(
            format!("⚠ {}", warning.long()),
            theme.warn(),
        )));
    }
    let [a, b] =
        Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(area);
    frame.render_widget(
        Paragraph::new(left)
            .wrap(Wrap { trim: false })
            .block(titled(theme, format!("Webhook {}", w.id), None)),
        a,
    );
    frame.render_widget(
        Paragraph::new(right)
            .wrap(Wrap { trim: false })
            .block(titled(theme, "Health & warnings".into(), None)),
        b,
    );
}
