//! `tokentop daemon`: refresh forever without a screen, until SIGINT or SIGTERM.

use std::process::ExitCode;

use super::common::{load_settings, require_accounts, shutdown, start_engine_served, stop_signal};
use crate::cli::{DaemonArgs, GlobalArgs};
use crate::engine::{EngineEvent, EngineOptions};
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
    let (handle, mut events) =
        start_engine_served(&settings, EngineOptions::default(), &args.serve).await?;
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Some(EngineEvent::Alert { account, message }) => {
                    tracing::warn!(account = %account, "ALERT: {message}");
                }
                // A source that is missing, rotated or refused (a FIFO, a device).
                Some(EngineEvent::SourceNotice { source, message }) => {
                    tracing::info!(source = %source, "{message}");
                }
                Some(EngineEvent::Stopped) | None => break,
                Some(_) => {}
            },
            signal = &mut stop => {
                tracing::info!("{signal}: finishing in-flight refreshes, then exiting");
                shutdown(&handle, &mut events).await;
                break;
            }
        }
    }
    tracing::info!("tokentop daemon stopped");
    Ok(ExitCode::SUCCESS)
}
