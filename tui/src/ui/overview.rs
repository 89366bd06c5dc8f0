//! Overview: throughput and failure sparklines, queue depth, success and latency, error
//! kinds, and the most recently changed deliveries.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Sparkline};

use super::{Theme, delivery_cells, kv, titled, window_table};
use crate::actions::ViewId;
use crate::app::App;
use crate::format;

pub(super) fn draw(frame: &mut Frame, app: &App, theme: Theme, area: Rect) {
    let [sparks, boxes, list] = Layout::vertical([
        Constraint::Length(7),
        Constraint::Length(8),
        Constraint::Min(5),
    ])
    .areas(area);
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(sparks);
    let shown = &app.shown;
    sparkline(
        frame,
        theme,
        left,
        "Delivered/s",
        &shown.delivered_rate,
        theme.ok(),
    );
    sparkline(
        frame,
        theme,
        right,
        "Failed attempts/s",
        &shown.failed_rate,
        theme.bad(),
    );

    let [queue, success, kinds] = Layout::horizontal([
        Constraint::Percentage(30),
        Constraint::Percentage(36),
        Constraint::Percentage(34),
    ])
    .areas(boxes);
    draw_queue(frame, app, theme, queue);
    draw_success(frame, app, theme, success);
    draw_kinds(frame, app, theme, kinds);

    let state = app.list(ViewId::Overview);
    let now = app.display_now();
    let block = titled(
        theme,
        format!(
            "Deliveries, latest changes first ({} shown, {} known)",
            shown.overview.len(),
            shown.book_len
        ),
        Some((state, ViewId::Overview)),
    );
    window_table(
        frame,
        app,
        theme,
        list,
        block,
        vec![
            "Changed", "Delivery", "Webhook", "Event", "Status", "Try", "Code", "Latency", "Error",
        ],
        &[
            Constraint::Length(7),
            Constraint::Length(30),
            Constraint::Length(14),
            Constraint::Length(20),
            Constraint::Length(10),
            Constraint::Length(5),
            Constraint::Length(4),
            Constraint::Length(7),
            Constraint::Min(10),
        ],
        &shown.overview,
        state,
        Some(state.selected),
        |r| delivery_cells(theme, app, r, now, true),
    );
}

fn sparkline(
    frame: &mut Frame,
    theme: Theme,
    area: Rect,
    title: &str,
    data: &[u64],
    style: ratatui::style::Style,
) {
    let now = data.last().copied().unwrap_or(0);
    let width = area.width.saturating_sub(2) as usize;
    let visible = &data[data.len().saturating_sub(width)..];
    let max = visible.iter().copied().max().unwrap_or(0);
    let block = Block::bordered().title(Line::from(vec![
        Span::styled(format!(" {title} "), theme.strong()),
        Span::styled(
            format!(
                "now {} · max {} · last {}s ",
                format::rate(now as f64),
                format::count(max),
                visible.len()
            ),
            theme.dim(),
        ),
    ]));
    let spark = Sparkline::default()
        .block(block)
        .data(visible)
        .max(max.max(1))
        .style(style);
    frame.render_widget(spark, area);
}

fn draw_queue(frame: &mut Frame, app: &App, theme: Theme, area: Rect) {
    let mut lines = Vec::new();
    match &app.shown.stats {
        Some(s) => {
            let pending = s.stored("pending");
            lines.push(kv(theme, "pending", format::count(pending), theme.warn()));
            lines.push(kv(
                theme,
                "in flight",
                format::count(s.live.in_flight.max(s.stored("in_flight"))),
                theme.info(),
            ));
            lines.push(kv(
                theme,
                "retry-waiting",
                format::count(s.store.retry_waiting),
                theme.warn(),
            ));
            let oldest = s
                .store
                .oldest_pending_at
                .map_or_else(|| "-".to_owned(), |t| format::age(s.now - t));
            lines.push(kv(theme, "oldest pending", oldest, theme.strong()));
            lines.push(kv(
                theme,
                "events stored",
                format::count(s.store.events),
                theme.dim(),
            ));
            lines.push(kv(
                theme,
                "failed / exhausted",
                format!(
                    "{} / {}",
                    format::count(s.stored("failed")),
                    format::count(s.stored("exhausted"))
                ),
                theme.bad(),
            ));
        }
        None => lines.push(Line::from(Span::styled(
            "waiting for figures…",
            theme.dim(),
        ))),
    }
    frame.render_widget(
        Paragraph::new(lines).block(titled(theme, "Queue (store)".into(), None)),
        area,
    );
}

fn draw_success(frame: &mut Frame, app: &App, theme: Theme, area: Rect) {
    let mut lines = Vec::new();
    let recent = app.shown.recent;
    lines.push(kv(
        theme,
        "attempts ok, last 60s",
        format!(
            "{} ({} ok, {} failed)",
            format::percent(recent.ok, recent.ok + recent.failed),
            format::count(recent.ok),
            format::count(recent.failed)
        ),
        theme.strong(),
    ));
    if let Some(s) = &app.shown.stats {
        let l = &s.live;
        let settled = l.delivered + l.failed + l.exhausted;
        lines.push(kv(
            theme,
            "delivered, since start",
            format!(
                "{} of {}",
                format::percent(l.delivered, settled),
                format::count(settled)
            ),
            theme.ok(),
        ));
        lines.push(kv(
            theme,
            "attempt p50 / p99",
            format!(
                "{} / {}",
                format::latency(l.attempt_p50_ms),
                format::latency(l.attempt_p99_ms)
            ),
            theme.strong(),
        ));
        lines.push(kv(
            theme,
            "end-to-end p50 / p99",
            format!(
                "{} / {}",
                format::latency(l.end_to_end_p50_ms),
                format::latency(l.end_to_end_p99_ms)
            ),
            theme.strong(),
        ));
        lines.push(kv(
            theme,
            "attempts / retries",
            format!(
                "{} / {}",
                format::count(l.attempts),
                format::count(l.retries_scheduled)
            ),
            theme.dim(),
        ));
        lines.push(kv(
            theme,
            "events accepted",
            format::count(l.events_accepted),
            theme.dim(),
        ));
    }
    frame.render_widget(
        Paragraph::new(lines).block(titled(theme, "Success & latency".into(), None)),
        area,
    );
}

fn draw_kinds(frame: &mut Frame, app: &App, theme: Theme, area: Rect) {
    let kinds = &app.shown.error_kinds;
    let total: u64 = kinds.iter().map(|(_, n)| n).sum();
    let inner_width = area.width.saturating_sub(2) as usize;
    let bar_width = inner_width.saturating_sub(18 + 8 + 2);
    let mut lines: Vec<Line> = kinds
        .iter()
        .take(area.height.saturating_sub(2) as usize)
        .map(|(kind, n)| {
            let len = if total == 0 {
                0
            } else {
                ((*n as f64 / total as f64) * bar_width as f64).ceil() as usize
            };
            Line::from(vec![
                Span::styled(format!("{:<18}", format::truncate(kind, 17)), theme.dim()),
                Span::styled(format!("{:>7} ", format::count(*n)), theme.strong()),
                Span::styled("█".repeat(len.min(bar_width)), theme.bad()),
            ])
        })
        .collect();
    if lines.is_empty() {
        lines.push(Line::from(Span::styled(
            "no failed attempts since the console attached",
            theme.dim(),
        )));
    }
    frame.render_widget(
        Paragraph::new(lines).block(titled(
            theme,
            "Failed attempts by error kind (since attach)".into(),
            None,
        )),
        area,
    );
}
