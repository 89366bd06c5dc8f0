//! Queue & retries: deliveries waiting for an attempt, soonest first, with the attempt
//! number, a countdown and the last error.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row};

use super::webhooks::countdown;
use super::{Theme, attempts_of, error_of, titled, window_table};
use crate::actions::ViewId;
use crate::app::App;
use crate::format;

pub(super) fn draw(frame: &mut Frame, app: &App, theme: Theme, area: Rect) {
    let [summary, list] = Layout::vertical([Constraint::Length(1), Constraint::Min(3)]).areas(area);
    let line = match &app.shown.stats {
        Some(s) => Line::from(vec![
            Span::styled(" store: ", theme.dim()),
            Span::styled(
                format!("{} pending", format::count(s.stored("pending"))),
                theme.warn(),
            ),
            Span::styled(" · ", theme.dim()),
            Span::styled(
                format!(
                    "{} waiting for a retry",
                    format::count(s.store.retry_waiting)
                ),
                theme.warn(),
            ),
            Span::styled(" · ", theme.dim()),
            Span::styled(
                format!("{} in flight", format::count(s.live.in_flight)),
                theme.info(),
            ),
            Span::styled(" · oldest pending ", theme.dim()),
            Span::styled(
                s.store
                    .oldest_pending_at
                    .map_or_else(|| "-".to_owned(), |t| format::age(s.now - t)),
                theme.strong(),
            ),
        ]),
        None => Line::from(Span::styled(" waiting for figures…", theme.dim())),
    };
    frame.render_widget(Paragraph::new(line), summary);

    let state = app.list(ViewId::Queue);
    let rows = &app.shown.queue;
    let now = app.display_now();
    let block = titled(
        theme,
        format!("Waiting deliveries ({})", rows.len()),
        Some((state, ViewId::Queue)),
    );
    window_table(
        frame,
        app,
        theme,
        list,
        block,
        vec![
            "Next",
            "Delivery",
            "Webhook",
            "Event",
            "Attempt",
            "Code",
            "Last error",
        ],
        &[
            Constraint::Length(12),
            Constraint::Length(30),
            Constraint::Length(14),
            Constraint::Length(20),
            Constraint::Length(8),
            Constraint::Length(5),
            Constraint::Min(10),
        ],
        rows,
        state,
        Some(state.selected),
        |r| {
            let next = match (r.attempts, r.next_attempt_at) {
                (0, _) => "first try".to_owned(),
                (_, Some(t)) => countdown(t - now),
                (_, None) => "due".to_owned(),
            };
            Row::new(vec![
                Cell::from(next).style(theme.warn()),
                Cell::from(r.id.clone()),
                Cell::from(r.webhook_id.to_string()),
                Cell::from(r.event_type.to_string()),
                Cell::from(attempt_next(app, r)),
                Cell::from(r.code.map_or_else(|| "-".to_owned(), |c| c.to_string())),
                Cell::from(error_of(r)).style(theme.dim()),
            ])
        },
    );
}

/// The number of the coming attempt over the budget: `2/3`.
fn attempt_next(app: &App, r: &crate::data::DeliveryRow) -> String {
    let done = attempts_of(app, r);
    match done.split_once('/') {
        Some((_, max)) => format!("{}/{max}", r.attempts + 1),
        None => (r.attempts + 1).to_string(),
    }
}
