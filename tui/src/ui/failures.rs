//! Failures: failed, exhausted and plugin-failed deliveries grouped by error kind and
//! webhook; Enter lists a group's deliveries, Enter again opens one.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Cell, Paragraph, Row};

use super::{Theme, attempts_of, titled, window_table};
use crate::actions::ViewId;
use crate::app::{App, FailuresFocus};
use crate::format;

pub(super) fn draw(frame: &mut Frame, app: &App, theme: Theme, area: Rect) {
    let groups = &app.shown.failures;
    let state = app.list(ViewId::Failures);
    let now = app.display_now();
    let groups_height = (groups.len() as u16 + 3).min((area.height / 2).max(3));
    let [top, bottom] =
        Layout::vertical([Constraint::Length(groups_height), Constraint::Min(3)]).areas(area);
    let focus = app.failures_focus;
    let total: usize = groups.iter().map(|g| g.rows.len()).sum();
    let block = titled(
        theme,
        format!("Failures by error kind and webhook ({total} deliveries)"),
        Some((state, ViewId::Failures)),
    );
    window_table(
        frame,
        app,
        theme,
        top,
        block,
        vec![
            "Error kind",
            "Webhook",
            "Count",
            "Failed",
            "Exhausted",
            "Pending",
            "Last seen",
            "Latest error",
        ],
        &[
            Constraint::Length(18),
            Constraint::Length(16),
            Constraint::Length(6),
            Constraint::Length(7),
            Constraint::Length(9),
            Constraint::Length(7),
            Constraint::Length(9),
            Constraint::Min(10),
        ],
        groups,
        state,
        Some(state.selected),
        |g| {
            Row::new(vec![
                Cell::from(g.kind.to_string()).style(theme.bad()),
                Cell::from(g.webhook.to_string()).style(theme.strong()),
                Cell::from(g.rows.len().to_string()),
                Cell::from(g.failed.to_string()),
                Cell::from(g.exhausted.to_string()),
                Cell::from(g.pending.to_string()),
                Cell::from(format::age(now - g.last_at)),
                Cell::from(g.last_error.clone().unwrap_or_else(|| "-".to_owned()))
                    .style(theme.dim()),
            ])
        },
    );

    let Some(group) = groups.get(state.selected) else {
        let text = if state.filter.is_some() {
            "No failure matches the filter."
        } else {
            "No failed, exhausted or plugin-failed deliveries known."
        };
        frame.render_widget(
            Paragraph::new(Span::styled(text, theme.ok())).block(titled(
                theme,
                "Deliveries".into(),
                None,
            )),
            bottom,
        );
        return;
    };
    let hint = match focus {
        FailuresFocus::Groups => "Enter to select",
        FailuresFocus::Deliveries => "Enter opens · Esc back to groups",
    };
    let block = titled(
        theme,
        format!(
            "{} × {} ({}) · {hint}",
            group.kind,
            group.webhook,
            group.rows.len()
        ),
        None,
    );
    let selected = (focus == FailuresFocus::Deliveries).then_some(app.failure_rows.selected);
    window_table(
        frame,
        app,
        theme,
        bottom,
        block,
        vec![
            "Changed", "Delivery", "Event", "Status", "Try", "Code", "Error",
        ],
        &[
            Constraint::Length(7),
            Constraint::Length(30),
            Constraint::Length(20),
            Constraint::Length(10),
            Constraint::Length(5),
            Constraint::Length(4),
            Constraint::Min(10),
        ],
        &group.rows,
        &app.failure_rows,
        selected,
        |r| {
            Row::new(vec![
                Cell::from(format::age(now - r.changed_at)),
                Cell::from(r.id.clone()),
                Cell::from(r.event_type.to_string()),
                Cell::from(r.status.as_str()).style(theme.status(r.status)),
                Cell::from(attempts_of(app, r)),
                Cell::from(r.code.map_or_else(|| "-".to_owned(), |c| c.to_string())),
                Cell::from(r.error.clone().unwrap_or_else(|| "-".to_owned())).style(theme.dim()),
            ])
        },
    );
}
