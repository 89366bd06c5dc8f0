//! The runtime: one `tokio::select!` loop over terminal input, the daemon's stream and a
//! tick; it feeds [`App::update`], carries out the effects, and redraws only when something
//! shown changed, at most [`FRAME`] apart.
//!
//! Terminal input is read by crossterm on a blocking thread and sent into the same channel
//! as the stream (lighter than crossterm's `event-stream` feature, which needs `futures`).

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use crossterm::event::{self, Event, KeyEventKind};
use tokio::sync::mpsc;

use crate::api::Api;
use crate::app::{App, Done, Effect, Msg, Options};
use crate::clock::SystemClock;
use crate::perf::PerfStats;
use hookline_contract::{TokenScope, WhoAmI};

/// Shortest time between two frames (about 30 per second).
pub const FRAME: Duration = Duration::from_millis(33);
/// How often time-driven updates happen (countdowns, polls).
pub const TICK: Duration = Duration::from_millis(250);
/// Messages applied in a row before the loop looks at the frame timer again.
const DRAIN: usize = 512;

/// Everything [`run`] needs.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The app's options.
    pub app: Options,
    /// The API token, if any.
    pub token: Option<String>,
    /// Where to write frame timings on exit (`HOOKLINE_CONSOLE_STATS`).
    pub stats_path: Option<PathBuf>,
}

/// Why the console stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// The terminal could not be set up or written.
    #[error("terminal: {0}")]
    Terminal(#[from] std::io::Error),
    /// The HTTP client could not be built.
    #[error("{0}")]
    Api(#[from] crate::api::ApiError),
    /// The token cannot drive a console (an `ingest` token).
    #[error("{0}")]
    Token(String),
}

/// What the token's scope makes of the console's options: a `read` token (or a scope this
/// build does not know) makes it read-only, saying why; an `ingest` token cannot read
/// anything, so the console refuses to start. An `admin` token changes nothing.
pub fn apply_scope(opts: &mut Options, who: &WhoAmI) -> Result<(), ConsoleError> {
    match who.scope {
        TokenScope::Admin => Ok(()),
        TokenScope::Ingest => Err(ConsoleError::Token(format!(
            "the token `{}` ({}) has the `ingest` scope: it can only post events, and the \
             console needs a `read` or `admin` token (`hookline tokens create --scope read`)",
            who.name, who.id
        ))),
        _ => {
            opts.read_only = true;
            opts.read_only_reason = Some(format!(
                "the token `{}` has the `{}` scope",
                who.name, who.scope
            ));
            Ok(())
        }
    }
}

/// Asks the daemon which token this is and applies its scope ([`apply_scope`]). A daemon
/// that cannot say (older, or not reachable yet) leaves the options as they are: the
/// console shows the connection's state, and the daemon still refuses what the token may
/// not do.
async fn check_token(api: &Api, opts: &mut Options) -> Result<(), ConsoleError> {
    match api.whoami().await {
        Ok(who) => apply_scope(opts, &who),
        Err(_) => Ok(()),
    }
}

/// Runs the console until `q`, then restores the terminal.
pub async fn run(opts: RunOptions) -> Result<(), ConsoleError> {
    let api = Api::new(&opts.app.url, opts.token.clone())?;
    let mut app_opts = opts.app.clone();
    check_token(&api, &mut app_opts).await?;
    let (tx, mut rx) = mpsc::channel::<Msg>(1024);
    let mut app = App::new(app_opts, Arc::new(SystemClock));
    let mut perf = PerfStats::new();

    // `try_init` also installs a panic hook that restores the terminal before the message.
    let mut terminal = ratatui::try_init()?;
    let stop_input = Arc::new(AtomicBool::new(false));
    let input = spawn_input(tx.clone(), stop_input.clone());
    let stream = tokio::spawn(crate::stream::run(api.clone(), tx.clone()));
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut signals = Signals::new();

    let mut last_draw = Instant::now() - FRAME;
    let mut pending_draw = true;
    let result = loop {
        let next_frame = tokio::time::Instant::from_std(last_draw + FRAME);
        tokio::select! {
            msg = rx.recv() => {
                let Some(msg) = msg else { break Ok(()) };
                apply(&mut app, &mut perf, &api, &tx, msg);
                for _ in 0..DRAIN {
                    match rx.try_recv() {
                        Ok(msg) => apply(&mut app, &mut perf, &api, &tx, msg),
                        Err(_) => break,
                    }
                }
            }
            _ = tick.tick() => apply(&mut app, &mut perf, &api, &tx, Msg::Tick),
            () = tokio::time::sleep_until(next_frame), if pending_draw => {}
            () = signals.recv() => break Ok(()),
        }
        if app.should_quit() {
            break Ok(());
        }
        pending_draw |= app.take_dirty();
        if pending_draw && last_draw.elapsed() >= FRAME {
            let started = Instant::now();
            if let Err(e) = terminal.draw(|frame| crate::ui::draw(frame, &app)) {
                break Err(ConsoleError::Terminal(e));
            }
            perf.frame(started.elapsed());
            last_draw = Instant::now();
            pending_draw = false;
        }
    };

    stream.abort();
    stop_input.store(true, Ordering::Relaxed);
    let _ = terminal.show_cursor();
    ratatui::restore();
    let _ = input.join();
    if let Some(path) = &opts.stats_path
        && let Err(e) = perf.write(path)
    {
        eprintln!(
            "hookline-console: could not write stats to {}: {e}",
            path.display()
        );
    }
    result
}

/// Applies one message and starts its effects.
fn apply(app: &mut App, perf: &mut PerfStats, api: &Api, tx: &mpsc::Sender<Msg>, msg: Msg) {
    let events = match &msg {
        Msg::Stream(events) => events.len(),
        _ => 0,
    };
    let started = Instant::now();
    let effects = app.update(msg);
    perf.update(started.elapsed(), events);
    for effect in effects {
        execute(effect, api, tx);
    }
}

/// Starts one effect; its answer comes back as a message.
fn execute(effect: Effect, api: &Api, tx: &mpsc::Sender<Msg>) {
    if let Effect::Copy(text) = &effect {
        copy_osc52(text);
        return;
    }
    let api = api.clone();
    let tx = tx.clone();
    tokio::spawn(async move {
        let err = |e: crate::api::ApiError| e.to_string();
        let msg = match effect {
            Effect::FetchWebhooks => Msg::Webhooks(api.webhooks().await.map_err(err)),
            Effect::FetchDeliveries(poll) => {
                Msg::Deliveries(poll, api.deliveries(&poll.query()).await.map_err(err))
            }
            Effect::FetchDetail(id) => {
                let result = api.delivery(&id).await.map_err(err);
                Msg::Detail(id, result)
            }
            Effect::Retry(ref id) => {
                let result = api.retry(id).await.map(Done::Delivery).map_err(err);
                Msg::Done(effect, result)
            }
            Effect::Replay(ref id) => {
                let result = api.replay(id).await.map(Done::Delivery).map_err(err);
                Msg::Done(effect, result)
            }
            Effect::Pause(ref id) => {
                let result = api
                    .pause(id)
                    .await
                    .map(|w| Done::Webhook(Box::new(w)))
                    .map_err(err);
                Msg::Done(effect, result)
            }
            Effect::Resume(ref id) => {
                let result = api
                    .resume(id)
                    .await
                    .map(|w| Done::Webhook(Box::new(w)))
                    .map_err(err);
                Msg::Done(effect, result)
            }
            Effect::Copy(_) => return,
        };
        let _ = tx.send(msg).await;
    });
}

/// Puts `text` on the clipboard of the terminal (and of tmux, with `set-clipboard on`)
/// through the OSC 52 escape sequence.
fn copy_osc52(text: &str) {
    let encoded = base64::engine::general_purpose::STANDARD.encode(text);
    let mut out = std::io::stdout();
    let _ = write!(out, "\x1b]52;c;{encoded}\x07");
    let _ = out.flush();
}

/// Reads terminal events on a blocking thread until `stop` is set or the app is gone.
fn spawn_input(tx: mpsc::Sender<Msg>, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            match event::poll(Duration::from_millis(100)) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    let _ = tx.blocking_send(Msg::Notice(format!("terminal input failed: {e}")));
                    return;
                }
            }
            let msg = match event::read() {
                Ok(Event::Key(key)) if key.kind != KeyEventKind::Release => Msg::Key(key),
                Ok(Event::Resize(..)) => Msg::Resize,
                Ok(_) => continue,
                Err(e) => Msg::Notice(format!("terminal input failed: {e}")),
            };
            if tx.blocking_send(msg).is_err() {
                return;
            }
        }
    })
}

/// SIGTERM and SIGHUP end the console as `q` does (the terminal is restored).
struct Signals {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    hup: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn new() -> Signals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Signals {
                term: signal(SignalKind::terminate()).ok(),
                hup: signal(SignalKind::hangup()).ok(),
            }
        }
        #[cfg(not(unix))]
        Signals {}
    }

    async fn recv(&mut self) {
        #[cfg(unix)]
        {
            let term = async {
                match &mut self.term {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending().await,
                }
            };
            let hup = async {
                match &mut self.hup {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = term => {}
                () = hup => {}
            }
        }
        #[cfg(not(unix))]
        std::future::pending::<()>().await
    }
}
