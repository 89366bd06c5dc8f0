//! Plugins: per plugin path, the webhooks using it, calls, declines and errors by kind, call
//! time and fuel, from the daemon's per-plugin figures (`stats.plugins`). An older daemon
//! sends none; the view then counts what the stream reports and says so.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Wrap};

use super::{Theme, titled, window_table};
use crate::actions::ViewId;
use crate::app::App;
use crate::format;
use crate::lines::{PLUGIN_ERROR_KINDS, PluginLine};

/// Shown above the table: where each figure comes from.
pub(super) const PLUGINS_NOTE: &str = "Figures from the daemon's plugin runtime since it started: calls, skipped, \
errors by kind (trap, fuel, deadline, memory, output, load), mean and p99 call time (a fresh instance per call, \
instantiation included) and mean fuel per call.";

/// Shown instead when the daemon sends no per-plugin figures (an older daemon).
pub(super) const PLUGINS_NOTE_OLD_DAEMON: &str = "This daemon sends no per-plugin figures: mean/p99 call time and fuel are not known (-). \
Calls = attempts of the webhooks using the plugin since the daemon started (one call each); \
skipped and errors are what the stream reported since the console attached.";

pub(super) fn draw(frame: &mut Frame, app: &App, theme: Theme, area: Rect) {
    let [note, table, last] = Layout::vertical([
        Constraint::Length(4),
        Constraint::Min(5),
        Constraint::Length(6),
    ])
    .areas(area);
    let plugins = &app.shown.plugins;
    let old_daemon = !plugins.is_empty() && plugins.iter().all(|p| p.figures.is_none());
    let note_text = if old_daemon {
        PLUGINS_NOTE_OLD_DAEMON
    } else {
        PLUGINS_NOTE
    };
    frame.render_widget(
        Paragraph::new(Line::from(Span::styled(note_text, theme.dim())))
            .wrap(Wrap { trim: true })
            .block(titled(theme, "About these figures".into(), None)),
        note,
    );
    let state = app.list(ViewId::Plugins);
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
            "Fuel/call",
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
            Constraint::Length(7),
            Constraint::Length(7),
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
            let fuel = p.figures.as_ref().and_then(|f| f.fuel_mean);
            let mut cells = vec![
                Cell::from(file_name(&p.plugin)).style(theme.strong()),
                Cell::from(p.webhooks.join(", ")),
                Cell::from(format::count(p.calls)),
                Cell::from(format::count(p.skipped)),
            ];
            cells.extend(PLUGIN_ERROR_KINDS.iter().map(|k| n(k)));
            cells.extend([
                Cell::from(format::micros(p.mean_us())),
                Cell::from(format::micros(p.p99_us())),
                Cell::from(fuel.map_or_else(|| "-".to_owned(), format::count)),
            ]);
            Row::new(cells)
        },
    );
    let text = match plugins.get(state.selected) {
        Some(p) => vec![
            Line::from(vec![
                Span::styled("path        ", theme.dim()),
                Span::styled(p.plugin.clone(), theme.strong()),
            ]),
            figures_line(p, theme),
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

/// The selected plugin's version, instantiation time and fuel, when the daemon reports them.
fn figures_line(p: &PluginLine, theme: Theme) -> Line<'static> {
    let Some(f) = &p.figures else {
        return Line::from(Span::styled(
            "no figures from the daemon for this plugin yet",
            theme.dim(),
        ));
    };
    let version = f.sha256.as_deref().map_or_else(
        || "none loaded".to_owned(),
        |h| format!("sha256 {}", &h[..h.len().min(12)]),
    );
    Line::from(vec![
        Span::styled("runtime     ", theme.dim()),
        Span::raw(format!(
            "{version} · instantiate mean {} p99 {} · p50 call {} · fuel {} in all · busy {} · memory up to {:.1} MiB",
            format::micros(f.instantiate_mean_us),
            format::micros(f.instantiate_p99_us),
            format::micros(f.call_p50_us),
            format::count(f.fuel_used),
            format::micros(Some(f.busy_us)),
            f.memory_max_bytes as f64 / (1024.0 * 1024.0),
        )),
    ])
}

/// The file name of a plugin path (the whole path is in the pane below the table).
fn file_name(path: &str) -> String {
    std::path::Path::new(path)
        .file_name()
        .map_or_else(|| path.to_owned(), |n| n.to_string_lossy().into_owned())
}
