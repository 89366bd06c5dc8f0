//! Detail of one delivery: summary, attempt timeline, the selected attempt's request headers
//! (already redacted by the daemon) and response, and the payload before and after the
//! plugin's transform.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Cell, Paragraph, Row, Table, TableState, Wrap};

use super::webhooks::countdown;
use super::{Theme, kv, titled};
use crate::app::App;
use crate::format;
use hookline_contract::{DeliveryStatus, ErrorKind};

pub(super) fn draw(frame: &mut Frame, app: &App, theme: Theme, area: Rect) {
    let d = &app.detail;
    let Some(id) = &d.id else {
        frame.render_widget(
            Paragraph::new(Span::styled(
                "No delivery open: select one in Overview, Queue or Failures and press Enter.",
                theme.dim(),
            ))
            .block(titled(theme, "Delivery".into(), None)),
            area,
        );
        return;
    };
    let Some(detail) = &d.detail else {
        let text = match &d.error {
            Some(e) => Span::styled(format!("Could not load {id}: {e}"), theme.bad()),
            None => Span::styled(format!("Loading {id}…"), theme.dim()),
        };
        frame.render_widget(
            Paragraph::new(text).block(titled(theme, format!("Delivery {id}"), None)),
            area,
        );
        return;
    };
    let s = &detail.summary;
    let now = app.display_now();
    let attempts = &detail.attempts_detail;
    let timeline_height = (attempts.len() as u16 + 3).clamp(4, 10);
    let [summary, timeline, lower] = Layout::vertical([
        Constraint::Length(6),
        Constraint::Length(timeline_height),
        Constraint::Min(6),
    ])
    .areas(area);

    // Summary.
    let max = app
        .data
        .webhooks
        .get(&s.webhook_id)
        .map(|w| w.view.max_attempts)
        .filter(|m| *m > 0);
    let next = match (s.status, s.next_attempt_at) {
        (DeliveryStatus::Pending, Some(t)) => countdown(t - now),
        _ => "-".to_owned(),
    };
    let mut lines = vec![
        Line::from(vec![
            Span::styled(format!("{:<22} ", "status"), theme.dim()),
            Span::styled(
                s.status.as_str(),
                theme
                    .status(s.status)
                    .add_modifier(ratatui::style::Modifier::BOLD),
            ),
            Span::styled(
                format!(
                    "   attempts {}{}   next attempt {next}",
                    s.attempts,
                    max.map(|m| format!("/{m}")).unwrap_or_default()
                ),
                theme.strong(),
            ),
        ]),
        kv(
            theme,
            "webhook / event",
            format!("{} / {} ({})", s.webhook_id, s.event_type, s.event_id),
            theme.strong(),
        ),
        kv(
            theme,
            "created / updated",
            format!(
                "{} / {} (UTC)",
                format::timestamp(s.created_at),
                format::timestamp(s.updated_at)
            ),
            theme.dim(),
        ),
    ];
    if s.last_error_kind.is_some() || s.last_error.is_some() {
        lines.push(kv(
            theme,
            "last error",
            format!(
                "{}{}",
                s.last_error_kind
                    .map(|k| format!("{k}: "))
                    .unwrap_or_default(),
                s.last_error.as_deref().unwrap_or("")
            ),
            theme.bad(),
        ));
    }
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(titled(theme, format!("Delivery {}", s.id), None)),
        summary,
    );

    // Timeline.
    let rows: Vec<Row> = attempts
        .iter()
        .map(|a| {
            let (result, style) = match (a.status_code, &a.error_kind) {
                (Some(code), None) => (format!("{code}"), theme.ok()),
                (Some(code), Some(_)) => (format!("{code}"), theme.bad()),
                (None, Some(_)) => ("no answer".to_owned(), theme.bad()),
                (None, None) => ("-".to_owned(), theme.dim()),
            };
            Row::new(vec![
                Cell::from(format!("#{}", a.attempt)),
                Cell::from(format::timestamp(a.started_at)),
                Cell::from(format!("+{}", format::age(a.started_at - s.created_at))),
                Cell::from(format::duration_ms(a.duration_ms)),
                Cell::from(result).style(style),
                Cell::from(a.error_kind.map_or("-", ErrorKind::as_str)),
                Cell::from(a.error_message.clone().unwrap_or_default()).style(theme.dim()),
            ])
        })
        .collect();
    let mut state = TableState::default();
    if !attempts.is_empty() {
        state.select(Some(d.attempt.min(attempts.len() - 1)));
    }
    let table = Table::new(
        rows,
        [
            Constraint::Length(4),
            Constraint::Length(23),
            Constraint::Length(8),
            Constraint::Length(8),
            Constraint::Length(9),
            Constraint::Length(16),
            Constraint::Min(10),
        ],
    )
    .header(
        Row::new(vec![
            "#",
            "Started (UTC)",
            "After",
            "Took",
            "Result",
            "Error kind",
            "Message",
        ])
        .style(theme.strong()),
    )
    .block(titled(
        theme,
        format!("Attempts ({}) · j/k select", attempts.len()),
        None,
    ))
    .row_highlight_style(theme.selected())
    .highlight_symbol("›");
    frame.render_stateful_widget(table, timeline, &mut state);

    // The selected attempt, and the payload before and after the transform.
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(45), Constraint::Percentage(55)]).areas(lower);
    let attempt = attempts.get(d.attempt);
    let [headers_area, response_area] =
        Layout::vertical([Constraint::Percentage(60), Constraint::Percentage(40)]).areas(left);
    let header_lines: Vec<Line> = match attempt {
        Some(a) if !a.request_headers.is_empty() => a
            .request_headers
            .iter()
            .map(|(k, v)| {
                Line::from(vec![
                    Span::styled(format!("{k}: "), theme.dim()),
                    Span::raw(v.clone()),
                ])
            })
            .collect(),
        Some(_) => vec![Line::from(Span::styled("no headers recorded", theme.dim()))],
        None => vec![Line::from(Span::styled("no attempt yet", theme.dim()))],
    };
    let attempt_no = attempt.map_or(0, |a| a.attempt);
    frame.render_widget(
        Paragraph::new(header_lines)
            .wrap(Wrap { trim: false })
            .block(titled(
                theme,
                format!("Request headers, attempt #{attempt_no}"),
                None,
            )),
        headers_area,
    );
    let response: Vec<Line> = match attempt {
        Some(a) => {
            let mut v = vec![Line::from(vec![
                Span::styled("status ", theme.dim()),
                Span::styled(
                    a.status_code
                        .map_or_else(|| "none".to_owned(), |c| c.to_string()),
                    theme.strong(),
                ),
                Span::styled(format!("  to {}", a.url), theme.dim()),
            ])];
            match &a.response_excerpt {
                Some(body) if !body.is_empty() => {
                    v.extend(body.lines().map(|l| Line::from(l.to_owned())));
                }
                _ => v.push(Line::from(Span::styled("(empty body)", theme.dim()))),
            }
            v
        }
        None => vec![Line::from(Span::styled("no attempt yet", theme.dim()))],
    };
    frame.render_widget(
        Paragraph::new(response)
            .wrap(Wrap { trim: false })
            .block(titled(theme, "Response excerpt".into(), None)),
        response_area,
    );

    let [before, after] =
        Layout::vertical([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(right);
    frame.render_widget(
        Paragraph::new(d.payload_text.as_str())
            .scroll((d.scroll, 0))
            .block(titled(
                theme,
                "Payload (the stored event) · PgUp/PgDn".into(),
                None,
            )),
        before,
    );
    let (text, style) = match d.bodies.get(d.attempt) {
        Some(Some(body)) => (body.as_str(), theme.strong()),
        Some(None) => (
            "Same as the payload: no plugin transformed it.",
            theme.dim(),
        ),
        None => ("No attempt yet.", theme.dim()),
    };
    frame.render_widget(
        Paragraph::new(Text::styled(text, style))
            .scroll((d.scroll, 0))
            .block(titled(
                theme,
                format!("Sent by attempt #{attempt_no} (after the transform)"),
                None,
            )),
        after,
    );
}
