//! `tokentop` / `tokentop watch`: the dashboard on the configured accounts. Also the shared
//! dashboard runner that `tokentop demo` uses.

use std::process::ExitCode;

use anyhow::Context;
use chrono::Utc;
use crossterm::event::EventStream;
use futures_util::{StreamExt, future, stream};
use tokio::sync::mpsc::UnboundedReceiver;

use super::common::stop_signal_from_now;
use super::common::{
    load_first_settings, load_settings, require_accounts, shutdown, start_engine_served,
};
use crate::cli::{GlobalArgs, WatchArgs};
use crate::config::{Settings, Theme};
use crate::engine::history::HistoryEntry;
use crate::engine::{EngineEvent, EngineHandle, EngineOptions};
use crate::logging::{Console, current_log_file, init};
use crate::tui::{App, Msg, terminal::TerminalGuard};

/// The account files read before the first frame: more than a terminal has rows, so the
/// fleet's first screen is complete (every account's state is unknown until the engine
/// starts, so the first screen is the first names).
const FIRST_FRAME_ACCOUNT_FILES: usize = 256;

pub async fn run(global: &GlobalArgs, args: &WatchArgs) -> anyhow::Result<ExitCode> {
    // Every problem of the config file is printed before the terminal is touched; of a large
    // `[accounts] dir`, only a screenful of files is read before it (at 10,000 files reading
    // them all would hold the first frame back by more than 100 ms).
    let first = load_first_settings(global, FIRST_FRAME_ACCOUNT_FILES)?;
    if first.account_files.unread == 0 {
        require_accounts(&first)?;
    }
    let _log_guard = init(&first.data_dir, Console::None);
    let mut app = new_app(&first);
    let stop = stop_signal_from_now();
    let mut guard = enter_terminal(&first)?;
    // The fleet is on screen (every account, state unknown) before the engine starts: at
    // 10,000 accounts its start-up (each account reading its token store on the workers)
    // would otherwise hold the first frame back by most of a second.
    crate::tui::draw_first(&mut guard.terminal, &mut app)?;
    let settings = if first.account_files.unread == 0 {
        first
    } else {
        match read_every_file(global).await {
            Ok(settings) => {
                app = new_app(&settings);
                crate::tui::draw_first(&mut guard.terminal, &mut app)?;
                settings
            }
            Err(err) => {
                // Restored first, so the error is printed on the shell's screen.
                drop(guard);
                return Err(err);
            }
        }
    };
    app.load_history(load_history(&settings).await);
    let started = start_engine_served(&settings, EngineOptions::default(), &args.serve).await;
    let (handle, events) = match started {
        Ok(started) => started,
        Err(err) => {
            drop(guard);
            return Err(err);
        }
    };
    super::reloader::spawn(super::common::overrides(global), &settings, handle.clone()).await;
    run_dashboard(guard, app, (handle, events), stop).await
}

/// The settings with every account file read (on a blocking thread: 10,000 files take a
/// core for a tenth of a second), and at least one account.
async fn read_every_file(global: &GlobalArgs) -> anyhow::Result<Settings> {
    let global = global.clone();
    let settings = tokio::task::spawn_blocking(move || load_settings(&global))
        .await
        .context("reading the account files stopped")??;
    require_accounts(&settings)?;
    Ok(settings)
}

/// Runs the dashboard on a started engine until the operator quits (or SIGTERM), restores
/// the terminal, then stops the engine and waits (bounded) for it to persist.
pub async fn dashboard(
    settings: &Settings,
    handle: EngineHandle,
    events: UnboundedReceiver<EngineEvent>,
    history: Vec<HistoryEntry>,
) -> anyhow::Result<ExitCode> {
    let mut app = new_app(settings);
    app.load_history(history);
    let stop = stop_signal_from_now();
    let guard = enter_terminal(settings)?;
    run_dashboard(guard, app, (handle, events), stop).await
}

/// The dashboard's state for `settings`, before any engine event.
fn new_app(settings: &Settings) -> App {
    let mut app = App::new(settings, current_log_file(&settings.data_dir), Utc::now());
    if crate::config::EnvSnapshot::from_process()
        .get("NO_COLOR")
        .is_some()
    {
        app.theme = Theme::Mono;
    }
    app
}

fn enter_terminal(settings: &Settings) -> anyhow::Result<TerminalGuard> {
    TerminalGuard::enter(settings.ui.mouse).context("cannot set up the terminal")
}

/// The history rows the panels start with; an unreadable history is logged, not fatal.
async fn load_history(settings: &Settings) -> Vec<HistoryEntry> {
    match super::history_source::load(settings).await {
        Ok((rows, _)) => rows,
        Err(err) => {
            tracing::warn!("cannot read the history: {err:#}");
            Vec::new()
        }
    }
}

/// The loop on the entered terminal until quit (or `stop`, SIGTERM); then the terminal is
/// restored and the engine stopped.
async fn run_dashboard(
    mut guard: TerminalGuard,
    mut app: App,
    (handle, mut events): (EngineHandle, UnboundedReceiver<EngineEvent>),
    stop: impl Future<Output = &'static str>,
) -> anyhow::Result<ExitCode> {
    let keys = EventStream::new()
        .filter_map(|event| future::ready(event.ok().and_then(Msg::from_terminal)));
    let sigterm = stream::once(stop).map(|_| Msg::Quit);
    let input = Box::pin(stream::select(keys, sigterm));
    let result = crate::tui::run(&mut guard.terminal, &mut app, input, &handle, &mut events).await;
    drop(guard);
    tracing::info!("dashboard closed; stopping the engine");
    shutdown(&handle, &mut events).await;
    result?;
    Ok(ExitCode::SUCCESS)
}
