//! Drawing: the frame around every view (header, tabs, status line, footer, help, prompts)
//! and one module per view. Drawing reads [`App::shown`] and the view states only; it does
//! no aggregation.

mod detail;
mod failures;
mod overview;
mod plugins;
mod queue;
mod webhooks;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Clear, Paragraph, Row, Table, TableState, Tabs, Wrap};

use crate::actions::{self, ViewId};
use crate::app::{App, ConnState, ListState, Mode, sort_columns};
use crate::data::DeliveryRow;
use crate::format;
use hookline_contract::{DeliveryStatus, Millis};

/// Styles, or none at all under `NO_COLOR` (modifiers such as bold and reverse stay: they
/// are not colour).
#[derive(Debug, Clone, Copy)]
pub struct Theme {
    color: bool,
}

impl Theme {
    /// With or without colours.
    pub fn new(color: bool) -> Theme {
        Theme { color }
    }

    fn fg(self, c: Color) -> Style {
        if self.color {
            Style::new().fg(c)
        } else {
            Style::new()
        }
    }

    /// Good news.
    pub fn ok(self) -> Style {
        self.fg(Color::Green)
    }

    /// Bad news.
    pub fn bad(self) -> Style {
        self.fg(Color::Red)
    }

    /// Needs a look.
    pub fn warn(self) -> Style {
        self.fg(Color::Yellow)
    }

    /// In progress.
    pub fn info(self) -> Style {
        self.fg(Color::Cyan)
    }

    /// Less important.
    pub fn dim(self) -> Style {
        self.fg(Color::DarkGray)
    }

    /// Titles and headers.
    pub fn strong(self) -> Style {
        Style::new().add_modifier(Modifier::BOLD)
    }

    /// The selected row.
    pub fn selected(self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }

    /// A delivery status.
    pub fn status(self, s: DeliveryStatus) -> Style {
        match s {
            DeliveryStatus::Delivered => self.ok(),
            DeliveryStatus::Failed | DeliveryStatus::Exhausted => self.bad(),
            DeliveryStatus::Pending => self.warn(),
            DeliveryStatus::InFlight => self.info(),
            // Canceled, skipped, and whatever a newer daemon may add.
            _ => self.dim(),
        }
    }

    /// A webhook state.
    pub fn state(self, state: &str) -> Style {
        match state {
            "active" => self.ok(),
            "paused" => self.warn(),
            _ => self.bad(),
        }
    }
}

/// Draws the whole console.
pub fn draw(frame: &mut Frame, app: &App) {
    let theme = Theme::new(app.opts.color);
    let [header, tabs, body, status, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    draw_header(frame, app, theme, header);
    draw_tabs(frame, app, theme, tabs);
    match app.view {
        ViewId::Overview => overview::draw(frame, app, theme, body),
        ViewId::Webhooks => webhooks::draw(frame, app, theme, body),
        ViewId::Queue => queue::draw(frame, app, theme, body),
        ViewId::Failures => failures::draw(frame, app, theme, body),
        ViewId::Plugins => plugins::draw(frame, app, theme, body),
        ViewId::Detail => detail::draw(frame, app, theme, body),
    }
    draw_status(frame, app, theme, status);
    draw_footer(frame, app, theme, footer);
    if app.mode == Mode::Help {
        draw_help(frame, app, theme, body);
    }
}

fn draw_header(frame: &mut Frame, app: &App, theme: Theme, area: Rect) {
    let (dot, conn, style) = match &app.conn {
        ConnState::Connecting => ("◌", "connecting…".to_owned(), theme.warn()),
        ConnState::Live => ("●", "live".to_owned(), theme.ok()),
        ConnState::Unreachable(e) => ("✖", format!("unreachable: {e} (retrying)"), theme.bad()),
        ConnState::Unauthorized(e) => ("✖", format!("unauthorized: {e}"), theme.bad()),
    };
    let mut spans = vec![
        Span::styled(" Hookline console ", theme.strong()),
        Span::styled(app.opts.url.clone(), theme.dim()),
        Span::raw("  "),
        Span::styled(format!("{dot} {conn}"), style),
    ];
    if let Some(stats) = &app.shown.stats {
        spans.push(Span::styled(
            format!(
                "  up {}",
                format::age(stats.live.uptime_seconds as i64 * 1000)
            ),
            theme.dim(),
        ));
    }
    if app.frozen {
        spans.push(Span::styled(
            "  [FROZEN]",
            theme.warn().add_modifier(Modifier::BOLD),
        ));
    }
    if app.opts.read_only {
        let tag = match app.opts.read_only_reason {
            Some(_) => "  [read-only: token scope]",
            None => "  [read-only]",
        };
        spans.push(Span::styled(tag, theme.info()));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn draw_tabs(frame: &mut Frame, app: &App, theme: Theme, area: Rect) {
    let titles = ViewId::ALL
        .iter()
        .enumerate()
        .map(|(i, v)| format!("{} {}", i + 1, v.title()));
    let tabs = Tabs::new(titles)
        .select(app.view.index())
        .highlight_style(theme.selected().add_modifier(Modifier::BOLD))
        .divider("│");
    frame.render_widget(tabs, area);
}

fn draw_status(frame: &mut Frame, app: &App, theme: Theme, area: Rect) {
    let line = match &app.mode {
        Mode::Filter { input, error, .. } => {
            let mut spans = vec![
                Span::styled(" filter / ", theme.strong()),
                Span::raw(input.clone()),
                Span::styled("▏", theme.info()),
            ];
            match error {
                Some(e) => spans.push(Span::styled(format!("  {e}"), theme.bad())),
                None => spans.push(Span::styled(
                    "  Enter keep · Esc undo · e.g. status>=500 and webhook=billing",
                    theme.dim(),
                )),
            }
            Line::from(spans)
        }
        Mode::Confirm { question, .. } => Line::from(vec![
            Span::styled(
                format!(" {question} "),
                theme.warn().add_modifier(Modifier::BOLD),
            ),
            Span::styled("[y/N]", theme.strong()),
        ]),
        _ => match &app.status {
            Some(s) => Line::from(Span::styled(
                format!(" {}", s.text),
                if s.error { theme.bad() } else { theme.info() },
            )),
            None => Line::default(),
        },
    };
    frame.render_widget(Paragraph::new(line), area);
}

fn draw_footer(frame: &mut Frame, app: &App, theme: Theme, area: Rect) {
    let mut spans = Vec::new();
    for (key, label) in actions::footer_hints(app.view, app.opts.read_only) {
        spans.push(Span::styled(format!(" {key}"), theme.strong()));
        spans.push(Span::styled(format!(" {label} "), theme.dim()));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn draw_help(frame: &mut Frame, app: &App, theme: Theme, body: Rect) {
    let rows: Vec<Row> = actions::help_rows(app.opts.read_only)
        .into_iter()
        .map(|b| {
            Row::new(vec![
                Cell::from(b.key_label).style(theme.strong()),
                Cell::from(b.label),
                Cell::from(b.scope.describe()),
                Cell::from(if b.mutates { "changes the daemon" } else { "" }),
            ])
        })
        .collect();
    let mut notes = vec![
        Line::from(Span::styled("Filter language (/):", theme.strong())),
        Line::from(
            "  status>=500 and webhook=billing   event=task.*   status=failed   kind=timeout",
        ),
        Line::from(
            "  fields: status code webhook event kind id attempts error state breaker plugin",
        ),
        Line::from(
            "  = != (globs with *)  ~ (contains)  > >= < <= (numbers)  and or not ( )  bare words search",
        ),
    ];
    if app.opts.read_only {
        let note = match &app.opts.read_only_reason {
            Some(why) => format!("read-only ({why}): retry, replay and pause/resume are hidden."),
            None => "--read-only: retry, replay and pause/resume are hidden.".to_owned(),
        };
        notes.push(Line::from(Span::styled(note, theme.info())));
    }
    let height = (rows.len() + notes.len() + 5) as u16;
    let area = centered(body, 110, height);
    frame.render_widget(Clear, area);
    let block = Block::bordered().title(Line::from(Span::styled(
        " Keys (? or Esc closes) ",
        theme.strong(),
    )));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [table_area, notes_area] = Layout::vertical([
        Constraint::Length(rows.len() as u16 + 1),
        Constraint::Min(0),
    ])
    .areas(inner);
    let table = Table::new(
        rows,
        [
            Constraint::Length(7),
            Constraint::Length(15),
            Constraint::Min(20),
            Constraint::Length(19),
        ],
    )
    .header(Row::new(vec!["Keys", "Action", "Where", ""]).style(theme.strong()));
    frame.render_widget(table, table_area);
    frame.render_widget(Paragraph::new(notes).wrap(Wrap { trim: false }), notes_area);
}

/// A rectangle of at most `width` × `height` in the middle of `area`.
fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(area.width);
    let h = height.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

/// A block with a title; the filter and sort of `list` are shown in it when given.
fn titled<'a>(theme: Theme, title: String, list: Option<(&ListState, ViewId)>) -> Block<'a> {
    let mut spans = vec![Span::styled(format!(" {title} "), theme.strong())];
    if let Some((list, view)) = list {
        if let Some(f) = &list.filter {
            spans.push(Span::styled(format!("filter: {} ", f.text), theme.info()));
        }
        if let Some(c) = sort_columns(view).get(list.sort) {
            let arrow = if list.descending { "▼" } else { "▲" };
            spans.push(Span::styled(
                format!("sort: {} {arrow} ", c.name),
                theme.dim(),
            ));
        }
    }
    Block::bordered().title(Line::from(spans))
}

/// Keeps `selected` visible in `height` rows; returns the first row to show.
fn scroll_offset(list: &ListState, selected: usize, len: usize, height: usize) -> usize {
    let mut offset = list.offset.get();
    if height == 0 {
        return 0;
    }
    if selected < offset {
        offset = selected;
    } else if selected >= offset + height {
        offset = selected + 1 - height;
    }
    offset = offset.min(len.saturating_sub(height));
    list.offset.set(offset);
    offset
}

/// Renders the visible window of a long table: only the rows on screen are built.
#[allow(clippy::too_many_arguments)]
fn window_table<T>(
    frame: &mut Frame,
    app: &App,
    theme: Theme,
    area: Rect,
    block: Block,
    header: Vec<&'static str>,
    widths: &[Constraint],
    items: &[T],
    list: &ListState,
    selected: Option<usize>,
    row: impl Fn(&T) -> Row<'static>,
) {
    let inner_height = area.height.saturating_sub(3) as usize; // borders + header
    app.page_rows.set(inner_height.max(1));
    let sel = selected.unwrap_or(0).min(items.len().saturating_sub(1));
    let offset = scroll_offset(list, sel, items.len(), inner_height);
    let end = (offset + inner_height).min(items.len());
    let rows: Vec<Row> = items[offset..end].iter().map(row).collect();
    let mut state = TableState::default();
    if selected.is_some() && !items.is_empty() {
        state.select(Some(sel - offset));
    }
    let table = Table::new(rows, widths.to_vec())
        .header(Row::new(header).style(theme.strong()))
        .block(block)
        .row_highlight_style(theme.selected())
        .highlight_symbol("›");
    frame.render_stateful_widget(table, area, &mut state);
}

/// The cells of a delivery in a list: changed, id, webhook, event, status, try, code,
/// latency, error.
fn delivery_cells(
    theme: Theme,
    app: &App,
    r: &Arc<DeliveryRow>,
    now: Millis,
    with_webhook: bool,
) -> Row<'static> {
    let mut cells = vec![
        Cell::from(format::age(now - r.changed_at)),
        Cell::from(r.id.clone()),
    ];
    if with_webhook {
        cells.push(Cell::from(r.webhook_id.to_string()));
    }
    cells.extend([
        Cell::from(r.event_type.to_string()),
        Cell::from(r.status.as_str()).style(theme.status(r.status)),
        Cell::from(attempts_of(app, r)),
        Cell::from(r.code.map_or_else(|| "-".to_owned(), |c| c.to_string())),
        Cell::from(format::latency(r.latency_ms)),
        Cell::from(error_of(r)).style(theme.dim()),
    ]);
    Row::new(cells)
}

/// `n/N`, with N from the change or the webhook.
fn attempts_of(app: &App, r: &DeliveryRow) -> String {
    let max = r.max_attempts.or_else(|| {
        app.data
            .webhooks
            .get(&*r.webhook_id)
            .map(|w| w.view.max_attempts)
            .filter(|m| *m > 0)
    });
    match max {
        Some(m) => format!("{}/{m}", r.attempts),
        None => r.attempts.to_string(),
    }
}

/// `kind: message`, or `-`.
fn error_of(r: &DeliveryRow) -> String {
    match (&r.error_kind, &r.error) {
        (Some(k), Some(e)) => format!("{k}: {e}"),
        (Some(k), None) => k.to_string(),
        (None, Some(e)) => e.clone(),
        (None, None) => "-".to_owned(),
    }
}

/// A line of `label  value` pairs for summary boxes.
fn kv(theme: Theme, label: &str, value: String, style: Style) -> Line<'static> {
    Line::from(vec![
        Span::styled(format!("{label:<22} "), theme.dim()),
        Span::styled(value, style),
    ])
}
