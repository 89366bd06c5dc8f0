//! Plugins: per plugin path, the webhooks using it, calls, declines and errors by kind. The
//! API has no per-plugin timing or fuel figures; the view says so instead of inventing them.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Wrap};

use super::{Theme, titled, window_table};
use crate::actions::ViewId;
use crate::app::App;
use crate::format;

/// Shown above the table: where each figure comes from, and what is missing.
pub(super) const PLUGINS_NOTE: &str = "The daemon's API has no per-plugin figures: mean/p99 call time and fuel used are not exposed (n/a). \
Calls = attempts of the webhooks using the plugin since the daemon started (one call each); \
skipped and errors (trap, fuel, deadline, memory, output, load) are what the stream reported since the console attached.";

pub(super) fn draw(frame: &mut Frame, app: &App, theme: Theme, area: Rect) {
    let [note, table, last] = Layout::vertical([
        Constraint::Length(4),
        Constraint::Min(5),
        Constraint::Length(6),
    ])
    .areas(area);
    frame.render_widget(
        Paragraph::new(Line::from(Span::styled(PLUGINS_NOTE, theme.dim())))
            .wrap(Wrap { trim: true })
            .block(titled(theme, "About these figures".into(), None)),
        note,
    );
    let state = app.list(ViewId::Plugins);
    let plugins = &app.shown.plugins;
    let block = titled(
        theme,
        format!("Plugins in use ({})", plugins.len()),
        Some((state, ViewId::Plugins)),
    );
    window_table(
        frame,
        app,
        theme,
        table,
        block,
        vec![
            "Plugin",
            "Webhooks",
            "Calls",
            "Skipped",
            "Traps",
            "Fuel",
            "Deadline",
            "Memory",
            "Output",
            "Load",
            "Mean",
            "p99",
            "Fuel used",
        ],
        &[
            Constraint::Min(24),
            Constraint::Length(16),
            Constraint::Length(7),
            Constraint::Length(7),
            Constraint::Length(6),
            Constraint::Length(5),
            Constraint::Length(8),
            Constraint::Length(6),
            Constraint::Length(6),
            Constraint::Length(5),
            Constraint::Length(5),
            Constraint::Length(5),
            Constraint::Length(9),
        ],
        plugins,
        state,
        Some(state.selected),
        |p| {
            let n = |kind: &str| {
                let v = p.errors_of(kind);
                Cell::from(v.to_string()).style(if v > 0 { theme.bad() } else { theme.dim() })
            };
            Row::new(vec![
                Cell::from(file_name(&p.plugin)).style(theme.strong()),
                Cell::from(p.webhooks.join(", ")),
                Cell::from(format::count(p.calls)),
                Cell::from(format::count(p.skipped)),
                n("plugin_trap"),
                n("plugin_fuel"),
                n("plugin_deadline"),
                n("plugin_memory"),
                n("plugin_output"),
                n("plugin_load"),
                Cell::from("n/a").style(theme.dim()),
                Cell::from("n/a").style(theme.dim()),
                Cell::from("n/a").style(theme.dim()),
            ])
        },
    );
    let text = match plugins.get(state.selected) {
        Some(p) => vec![
            Line::from(vec![
                Span::styled("path        ", theme.dim()),
                Span::styled(p.plugin.clone(), theme.strong()),
            ]),
            match &p.last_error {
                Some(e) => Line::from(vec![
                    Span::styled("last error  ", theme.dim()),
                    Span::styled(e.clone(), theme.bad()),
                ]),
                None => Line::from(Span::styled(
                    "no plugin error since the console attached",
                    theme.ok(),
                )),
            },
        ],
        None if app.data.webhooks.values().all(|w| w.view.plugin.is_none()) => {
            vec![Line::from(Span::styled(
                "No webhook uses a plugin.",
                theme.dim(),
            ))]
        }
        None => vec![Line::from(Span::styled(
            "No plugin matches the filter.",
            theme.dim(),
        ))],
    };
    frame.render_widget(
        Paragraph::new(text)
            .wrap(Wrap { trim: false })
            .block(titled(theme, "Selected plugin".into(), None)),
        last,
    );
}

/// The file name of a plugin path (the whole path is in the pane below the table).
fn file_name(path: &str) -> String {
    std::path::Path::new(path)
        .file_name()
        .map_or_else(|| path.to_owned(), |n| n.to_string_lossy().into_owned())
}
