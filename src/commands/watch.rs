//! `tokentop` / `tokentop watch`: the dashboard on the configured accounts. Also the shared
//! dashboard runner that `tokentop demo` uses.

use std::process::ExitCode;

use anyhow::Context;
use chrono::Utc;
use crossterm::event::EventStream;
use futures_util::{StreamExt, future, stream};
use tokio::sync::mpsc::UnboundedReceiver;

use super::common::stop_signal;
use super::common::{load_settings, require_accounts, shutdown, start_engine_served};
use crate::cli::{GlobalArgs, WatchArgs};
use crate::config::{Settings, Theme};
use crate::engine::history::HistoryEntry;
use crate::engine::{EngineEvent, EngineHandle, EngineOptions};
use crate::logging::{Console, current_log_file, init};
use crate::tui::{App, Msg, terminal::TerminalGuard};

pub async fn run(global: &GlobalArgs, args: &WatchArgs) -> anyhow::Result<ExitCode> {
    // Every config problem is printed before the terminal is touched.
    let settings = load_settings(global)?;
    require_accounts(&settings)?;
    let _log_guard = init(&settings.data_dir, Console::None);
    let history = match super::history_source::load(&settings).await {
        Ok((rows, _)) => rows,
        Err(err) => {
            tracing::warn!("cannot read the history: {err:#}");
            Vec::new()
        }
    };
    let (handle, events) =
        start_engine_served(&settings, EngineOptions::default(), &args.serve).await?;
    super::reloader::spawn(super::common::overrides(global), &settings, handle.clone()).await;
    dashboard(&settings, handle, events, history).await
}

/// Runs the dashboard on a started engine until the operator quits (or SIGTERM), restores
/// the terminal, then stops the engine and waits (bounded) for it to persist.
pub async fn dashboard(
    settings: &Settings,
    handle: EngineHandle,
    mut events: UnboundedReceiver<EngineEvent>,
    history: Vec<HistoryEntry>,
) -> anyhow::Result<ExitCode> {
    let mut app = App::new(settings, current_log_file(&settings.data_dir), Utc::now());
    if crate::config::EnvSnapshot::from_process()
        .get("NO_COLOR")
        .is_some()
    {
        app.theme = Theme::Mono;
    }
    app.load_history(history);
    let mut guard =
        TerminalGuard::enter(settings.ui.mouse).context("cannot set up the terminal")?;
    let keys = EventStream::new()
        .filter_map(|event| future::ready(event.ok().and_then(Msg::from_terminal)));
    let sigterm = stream::once(stop_signal()).map(|_| Msg::Quit);
    let input = Box::pin(stream::select(keys, sigterm));
    let result = crate::tui::run(&mut guard.terminal, &mut app, input, &handle, &mut events).await;
    drop(guard);
    tracing::info!("dashboard closed; stopping the engine");
    shutdown(&handle, &mut events).await;
    result?;
    Ok(ExitCode::SUCCESS)
}
