//! `tokentop send-test [ACCOUNT] [--to NUMBER]`: send the test message through the send guard.

use std::process::ExitCode;
use std::time::Duration;

use super::common::{
    load_settings, one_shot_options, pick_account, require_accounts, shutdown, start_engine,
};
use crate::cli::{GlobalArgs, SendTestArgs};
use crate::engine::{EngineCommand, EngineEvent};
use crate::logging::{Console, init};

pub async fn run(global: &GlobalArgs, args: &SendTestArgs) -> anyhow::Result<ExitCode> {
    let settings = load_settings(global)?;
    require_accounts(&settings)?;
    let account = pick_account(&settings, args.account.as_deref())?;
    let _guard = init(&settings.data_dir, Console::Stderr { verbose: true });
    let (handle, mut events) = start_engine(&settings, one_shot_options())?;
    handle.send(EngineCommand::SendTest {
        account: account.clone(),
        to: args.to.clone(),
        request_id: 1,
    });
    let limit = settings.graph.request_timeout * 4 + Duration::from_secs(90);
    let deadline = tokio::time::Instant::now() + limit;
    let mut accepted = false;
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(EngineEvent::SendFinished { report, .. })) => {
                accepted = report.accepted;
                let to = report.to.as_deref().unwrap_or("?");
                if report.accepted {
                    say(format_args!(
                        "{account}: accepted - {} to {to} ({}, {} ms{})",
                        report.message_id.as_deref().unwrap_or("no message id"),
                        report.message_status.as_deref().unwrap_or("accepted"),
                        report.latency_ms,
                        if report.refreshed {
                            ", token refreshed first"
                        } else {
                            ""
                        }
                    ));
                } else {
                    say(format_args!(
                        "{account}: FAILED - to {to}: {}",
                        report.error.as_deref().unwrap_or("unknown error")
                    ));
                }
                break;
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => {
                say(format_args!(
                    "{account}: FAILED - no result within {}s",
                    limit.as_secs()
                ));
                break;
            }
        }
    }
    shutdown(&handle, &mut events).await;
    Ok(if accepted {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// One line of the report on stdout. A closed stdout (`| head`) is ignored: the command still
/// finishes its work and its exit status still tells the outcome.
fn say(line: std::fmt::Arguments<'_>) {
    let _ = super::stdout::line(line);
}
