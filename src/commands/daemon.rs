//! `tokentop daemon`: refresh forever without a screen, until SIGINT or SIGTERM.

use std::pin::Pin;
use std::process::ExitCode;

use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::Interval;

use super::common::{
    load_settings, overrides, require_accounts, shutdown, start_engine_served, stop_signal,
};
use super::reload_record::{PidFile, ReloadRecord};
use super::reloader;
use super::service::{ServiceLink, next_tick};
use crate::cli::{DaemonArgs, GlobalArgs};
use crate::config::EnvSnapshot;
use crate::engine::{EngineEvent, EngineHandle, EngineOptions};
use crate::logging::{Console, init_with};

pub async fn run(global: &GlobalArgs, args: &DaemonArgs) -> anyhow::Result<ExitCode> {
    let settings = load_settings(global)?;
    require_accounts(&settings)?;
    let _guard = init_with(
        &settings.data_dir,
        Console::Stderr { verbose: true },
        args.log_format,
    );
    let stop = stop_signal();
    tokio::pin!(stop);
    // Polled once so the SIGTERM/SIGINT handlers exist before "started" is logged: a stop
    // sent right after start then shuts down cleanly instead of killing the process.
    let early = tokio::select! {
        biased;
        signal = &mut stop => Some(signal),
        () = std::future::ready(()) => None,
    };
    if let Some(signal) = early {
        tracing::info!("{signal} before start: exiting");
        return Ok(ExitCode::SUCCESS);
    }
    tracing::info!(
        accounts = settings.accounts.len(),
        data_dir = %settings.data_dir.display(),
        "tokentop daemon started"
    );
    // systemd's $NOTIFY_SOCKET and $WATCHDOG_USEC, read once.
    let mut service = ServiceLink::new(&EnvSnapshot::from_process(), &settings);
    service.starting();
    let (handle, mut events) =
        start_engine_served(&settings, EngineOptions::default(), &args.serve).await?;
    reloader::spawn(overrides(global), &settings, handle.clone()).await;
    // After SIGHUP has its handler: `tokentop reload` finds the daemon by this file.
    let _pid_file = PidFile::create(&settings.data_dir)
        .inspect_err(|err| tracing::warn!("cannot write the pid file for `tokentop reload`: {err}"))
        .ok();
    follow(&handle, &mut events, &mut service, stop, &settings.data_dir).await;
    tracing::info!("tokentop daemon stopped");
    Ok(ExitCode::SUCCESS)
}

/// Logs and reports the engine's events until `stop` or the engine's end; pings the
/// watchdog on the way.
async fn follow(
    handle: &EngineHandle,
    events: &mut UnboundedReceiver<EngineEvent>,
    service: &mut ServiceLink,
    mut stop: Pin<&mut impl Future<Output = &'static str>>,
    data_dir: &std::path::Path,
) {
    let mut watchdog = service.watchdog_timer();
    loop {
        tokio::select! {
            event = events.recv() => {
                let Some(event) = event.filter(|e| !matches!(e, EngineEvent::Stopped)) else {
                    service.stopping("the engine stopped");
                    return;
                };
                service.observe(&event);
                log_event(event, data_dir);
            },
            () = next_tick(&mut watchdog) => service.tick(handle),
            signal = &mut stop => {
                service.stopping(signal);
                tracing::info!("{signal}: finishing in-flight refreshes, then exiting");
                shut_down(handle, events, service, &mut watchdog).await;
                return;
            }
        }
    }
}

/// [`shutdown`] (bounded at 120 s) with the watchdog fed: systemd keeps it armed while the
/// service stops, and the engine answers no ping once it is shutting down.
async fn shut_down(
    handle: &EngineHandle,
    events: &mut UnboundedReceiver<EngineEvent>,
    service: &ServiceLink,
    watchdog: &mut Option<Interval>,
) {
    let stopped = shutdown(handle, events);
    tokio::pin!(stopped);
    loop {
        tokio::select! {
            () = &mut stopped => return,
            () = next_tick(watchdog) => service.still_stopping(),
        }
    }
}

/// The events a person reading the daemon's log must see; a reload's result is also left in
/// the data dir for `tokentop reload`.
fn log_event(event: EngineEvent, data_dir: &std::path::Path) {
    match event {
        EngineEvent::AccountsChanged(change) => {
            if change.refused.is_some() {
                tracing::error!("{}", change.summary());
            } else {
                tracing::info!("{}", change.summary());
            }
            for issue in change.invalid_files.iter().flat_map(|f| &f.issues) {
                tracing::warn!("account file skipped: {issue}");
            }
            let at_ms = chrono::Utc::now().timestamp_millis();
            let record = ReloadRecord::from_change(&change, at_ms);
            if let Err(err) = super::reload_record::write(data_dir, &record) {
                tracing::warn!("cannot write {}: {err}", super::reload_record::RELOAD_FILE);
            }
        }
        EngineEvent::Alert { account, message } => {
            tracing::warn!(account = %account, "ALERT: {message}");
        }
        // A source that is missing, rotated or refused (a FIFO, a device).
        EngineEvent::SourceNotice { source, message } => {
            tracing::info!(source = %source, "{message}");
        }
        _ => {}
    }
}
