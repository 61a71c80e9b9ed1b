//! `tokentop refresh [ACCOUNT]`: force a refresh now; exit 0 when every refresh worked.

use std::collections::HashSet;
use std::process::ExitCode;
use std::time::Duration;

use super::common::{
    load_settings, one_shot_options, pick_account, require_accounts, shutdown, start_engine,
};
use crate::cli::{GlobalArgs, RefreshArgs};
use crate::engine::{EngineCommand, EngineEvent, RefreshReport};
use crate::logging::{Console, init};

pub async fn run(global: &GlobalArgs, args: &RefreshArgs) -> anyhow::Result<ExitCode> {
    let settings = load_settings(global)?;
    require_accounts(&settings)?;
    let targets: Vec<String> = match &args.account {
        Some(name) => vec![pick_account(&settings, Some(name))?],
        None => settings.accounts.iter().map(|a| a.name.clone()).collect(),
    };
    let _guard = init(&settings.data_dir, Console::Stderr { verbose: true });
    let (handle, mut events) = start_engine(&settings, one_shot_options())?;
    handle.send(EngineCommand::ForceRefresh {
        account: args.account.clone(),
        request_id: 1,
    });
    let mut pending: HashSet<String> = targets.into_iter().collect();
    let mut all_ok = true;
    // A refresh may wait up to a minute for another process's lock, then one exchange.
    let limit = settings.graph.request_timeout * 3 + Duration::from_secs(90);
    let deadline = tokio::time::Instant::now() + limit;
    while !pending.is_empty() {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(EngineEvent::RefreshFinished { report, .. })) => {
                pending.remove(&report.account);
                all_ok &= report.ok;
                let verdict = if report.ok { "ok" } else { "FAILED" };
                say(format_args!(
                    "{}: {verdict} - {}",
                    report.account, report.message
                ));
                if !report.ok {
                    print_hint(&report);
                }
            }
            Ok(Some(EngineEvent::Alert { account, message })) => {
                eprintln!("{account}: {message}");
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => {
                for name in &pending {
                    say(format_args!(
                        "{name}: FAILED - no result within {}s",
                        limit.as_secs()
                    ));
                }
                all_ok = false;
                break;
            }
        }
    }
    shutdown(&handle, &mut events).await;
    Ok(if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn print_hint(report: &RefreshReport) {
    let advice = match (&report.error, report.failed_steps.is_empty()) {
        (Some(error), _) => error.remedy.clone(),
        // Meta gave a new token, but a step after the exchange failed.
        (None, false) => "the new token is in use by tokentop but did not reach everywhere: fix the failed step above (disk space, permissions, the env-file or the on-refresh command); tokentop retries the step at the next check".to_string(),
        (None, true) => return,
    };
    eprintln!("  what to do: {advice}");
}

/// One line of the report on stdout. A closed stdout (`| head`) is ignored: the command still
/// finishes its work and its exit status still tells the outcome.
fn say(line: std::fmt::Arguments<'_>) {
    let _ = super::stdout::line(line);
}
