//! `tokentop history [--json] [--account A] [--limit N]`: print the history, newest last;
//! `--chart` draws it instead (`history_chart.rs`).

use std::process::ExitCode;

use super::common::{format_left, load_settings};
use super::stdout;
use crate::cli::{GlobalArgs, HistoryArgs};
use crate::engine::history::{HistoryEntry, Outcome};
use crate::graph::Expiry;

pub async fn run(global: &GlobalArgs, args: &HistoryArgs) -> anyhow::Result<ExitCode> {
    if args.summary {
        return super::history_summary::run(global, args).await;
    }
    let settings = load_settings(global)?;
    if args.chart {
        let (entries, where_from) = super::history_source::load(&settings).await?;
        if entries.is_empty() {
            eprintln!("no history yet in {where_from}");
            return Ok(ExitCode::SUCCESS);
        }
        let account = args.account.as_deref();
        return super::history_chart::print(&entries, account, args.width, settings.ui.theme);
    }
    let account = args.account.as_deref();
    let (selected, where_from) =
        super::history_source::load_newest(&settings, account, args.limit).await?;
    for entry in &selected {
        if args.json {
            stdout::line(serde_json::to_string(entry)?)?;
        } else {
            stdout::line(history_line(entry))?;
        }
    }
    if selected.is_empty() && !args.json {
        eprintln!("no history yet in {where_from}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `2026-11-28 14:01:02  production  refresh  forced     ok      312ms  expires in 59d 23:59:59  EAAG…x9Qf`
pub fn history_line(entry: &HistoryEntry) -> String {
    let outcome = match entry.outcome {
        Outcome::Ok => "ok",
        Outcome::Failed => "FAIL",
        Outcome::Skipped => "skipped",
    };
    let event = serde_json::to_value(entry.event())
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let mut line = format!(
        "{}  {:<12} {:<8} {:<11} {:<7}",
        entry.time.format("%Y-%m-%d %H:%M:%S"),
        entry.account,
        event,
        entry.cause.word(),
        outcome
    );
    if let Some(ms) = entry.latency_ms {
        line.push_str(&format!(" {ms:>5}ms"));
    }
    match entry.new_expires_at {
        Some(Expiry::Never) => line.push_str("  never expires"),
        Some(Expiry::At(at)) => line.push_str(&format!(
            "  expires in {}",
            format_left(at.saturating_sub(entry.time.timestamp()))
        )),
        Some(Expiry::Unknown) | None => {}
    }
    if let Some(err) = &entry.error {
        let code = match (err.code, err.subcode) {
            (Some(c), Some(s)) => format!("{c}/{s} "),
            (Some(c), None) => format!("{c} "),
            _ => String::new(),
        };
        line.push_str(&format!("  {code}{}: {}", err.class, err.message));
        if let Some(trace) = &err.fbtrace_id {
            line.push_str(&format!(" [fbtrace_id {trace}]"));
        }
    }
    if let Some(host) = &entry.host {
        line.push_str(&format!("  on {host}"));
    }
    if let Some(detail) = &entry.detail {
        line.push_str(&format!("  {detail}"));
    }
    if let Some(token) = &entry.token {
        line.push_str(&format!("  {token}"));
    }
    line
}
