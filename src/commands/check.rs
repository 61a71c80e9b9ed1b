//! `tokentop check [--json]`: one inspection of every account, monitoring-plugin exit codes.
//!
//! Exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN. Overall status is the worst account's, in the
//! order CRITICAL > UNKNOWN > WARNING > OK. The `--json` shape is documented in the README.

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc::UnboundedReceiver;

use super::check_cluster::{cluster_line, cluster_report};
use super::check_report::{
    AccountReport, CheckReport, DeliveryReport, Extras, Status, account_report, exit_code,
};
use super::common::{
    EXIT_UNKNOWN, load_settings, one_shot_options, require_accounts, shutdown, start_engine,
};
use super::stdout;
use crate::cli::{CheckArgs, GlobalArgs};
use crate::config::Settings;
use crate::engine::coordinator::ClusterStatus;
use crate::engine::delivery::{DeliverySource, RateSummary};
use crate::engine::fs::private_fs::read_capped_no_follow;
use crate::engine::health::load_analytics_cache;
use crate::engine::history::refresh_stats::{RefreshRates, rates_by_account};
use crate::engine::history::{HistoryEntry, HistoryEvent, Outcome};
use crate::engine::telemetry_types::{PhoneSnapshot, TelemetrySnapshot};
use crate::engine::{
    AccountSnapshot, EngineEvent, EngineOptions, HealthPolling, TELEMETRY_SUMMARY_FILE,
};

pub use super::check_report::account_line;

/// A daemon's or dashboard's telemetry summary older than this is not used.
const SUMMARY_FRESH_SECS: i64 = 120;
const HOUR_SECS: i64 = 3600;
/// The telemetry summary is a few kilobytes; a larger file is not one.
const SUMMARY_MAX_BYTES: u64 = 4 * 1024 * 1024;
/// With `[cluster]`, how long after the accounts are done `check` still waits for the
/// coordinator's first status (sent at start; a down Redis answers within its 2 s connect
/// timeout).
const CLUSTER_GRACE: Duration = Duration::from_secs(5);

pub async fn run(global: &GlobalArgs, args: &CheckArgs) -> anyhow::Result<ExitCode> {
    let settings = match load_settings(global).and_then(|s| require_accounts(&s).map(|()| s)) {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("tokentop check: UNKNOWN - {err:#}");
            return Ok(ExitCode::from(EXIT_UNKNOWN));
        }
    };
    let _guard = crate::logging::init(
        &settings.data_dir,
        crate::logging::Console::Stderr { verbose: false },
    );
    // Whatever keeps the check from running (the Graph client cannot be set up, say) is
    // UNKNOWN to a monitoring system, never a plain failure.
    let report = match inspect_all(&settings).await {
        Ok(report) => report,
        Err(err) => {
            eprintln!("tokentop check: UNKNOWN - {err:#}");
            return Ok(ExitCode::from(EXIT_UNKNOWN));
        }
    };
    match print_report(&report, args.json) {
        // Whoever reads the exit code still gets the status, even with the output cut off.
        Err(err) if stdout::is_closed(&err) => {}
        other => other?,
    }
    Ok(ExitCode::from(report.exit_code))
}

fn print_report(report: &CheckReport, json: bool) -> anyhow::Result<()> {
    if json {
        return stdout::line(serde_json::to_string_pretty(report)?);
    }
    for account in &report.accounts {
        stdout::line(account_line(account))?;
    }
    if let Some(cluster) = &report.cluster {
        stdout::line(cluster_line(cluster))?;
    }
    Ok(())
}

/// Inspects every account once (token, phone health, analytics within the polling budget).
pub async fn inspect_all(settings: &Settings) -> anyhow::Result<CheckReport> {
    let options = EngineOptions {
        health: HealthPolling::Once,
        ..one_shot_options()
    };
    let (handle, mut events) = start_engine(settings, options)?;
    let names: Vec<String> = settings.accounts.iter().map(|a| a.name.clone()).collect();
    let limit = settings.graph.request_timeout * 2 + Duration::from_secs(5);
    let wait_for_cluster = settings.cluster.redis_url.is_some();
    let (latest, phones, cluster) = collect(&mut events, &names, wait_for_cluster, limit).await;
    shutdown(&handle, &mut events).await;
    // Bounded: the history file is compacted past 8 MiB (`DEFAULT_SIZE_CAP_BYTES`).
    let history = super::history_source::load(settings)
        .await
        .map(|(rows, _)| rows)
        .unwrap_or_default();
    let now = Utc::now();
    let known = Known {
        latest: &latest,
        phones: &phones,
        history: &history,
        logs_rate: logs_rate(settings, now),
        refresh_rates: Some(rates_by_account(&history, now)),
        cluster: cluster.as_ref(),
    };
    Ok(build_report(settings, &known, now))
}

/// What is known about the accounts when a report is made, by `check` or by a running
/// daemon's `/status`.
pub struct Known<'a> {
    pub latest: &'a HashMap<String, AccountSnapshot>,
    pub phones: &'a HashMap<String, PhoneSnapshot>,
    /// Refresh and send rows: the last refresh of each account, and the last hour's sends.
    pub history: &'a [HistoryEntry],
    /// The logs' 1 h delivery rate, or why there is none.
    pub logs_rate: Result<Option<RateSummary>, String>,
    /// Each account's refresh success rate ([`rates_by_account`] of the last 30 days' rows);
    /// `None` leaves `refresh_rate` out of the report.
    pub refresh_rates: Option<HashMap<String, RefreshRates>>,
    /// The coordinator's last status, with `[cluster]`.
    pub cluster: Option<&'a ClusterStatus>,
}

/// The report on every configured account, in config order.
pub fn build_report(settings: &Settings, known: &Known<'_>, now: DateTime<Utc>) -> CheckReport {
    let accounts: Vec<AccountReport> = settings
        .accounts
        .iter()
        .map(|account| {
            let name = &account.name;
            let snapshot = known
                .latest
                .get(name)
                .cloned()
                .unwrap_or_else(|| AccountSnapshot::new(name));
            let extras = Extras {
                refresh_failing: last_refresh_failed(known.history, name),
                phone: known.phones.get(name).cloned(),
                delivery: delivery(settings, name, known.history, &known.logs_rate, now),
                refresh_rate: known
                    .refresh_rates
                    .as_ref()
                    .map(|rates| rates.get(name).cloned().unwrap_or_default()),
            };
            account_report(&snapshot, &settings.refresh, now.timestamp(), &extras)
        })
        .collect();
    let cluster = settings
        .cluster
        .redis_url
        .is_some()
        .then(|| cluster_report(known.cluster));
    let status = accounts
        .iter()
        .map(|a| a.status)
        .chain(cluster.as_ref().map(|c| c.status))
        .max()
        .unwrap_or(Status::Unknown);
    CheckReport {
        status,
        exit_code: exit_code(status),
        checked_at: now.timestamp(),
        accounts,
        cluster,
    }
}

type Collected = (
    HashMap<String, AccountSnapshot>,
    HashMap<String, PhoneSnapshot>,
    Option<ClusterStatus>,
);

/// Waits (bounded) until every account was inspected and its phone health polled, and with
/// `wait_for_cluster` until the coordinator's first status came too (at most
/// [`CLUSTER_GRACE`] longer than the accounts).
async fn collect(
    events: &mut UnboundedReceiver<EngineEvent>,
    names: &[String],
    wait_for_cluster: bool,
    limit: Duration,
) -> Collected {
    let mut latest: HashMap<String, AccountSnapshot> = HashMap::new();
    let mut phones: HashMap<String, PhoneSnapshot> = HashMap::new();
    let mut cluster: Option<ClusterStatus> = None;
    let mut deadline = tokio::time::Instant::now() + limit;
    let accounts_done = |latest: &HashMap<String, AccountSnapshot>,
                         phones: &HashMap<String, PhoneSnapshot>| {
        names
            .iter()
            .all(|n| latest.get(n).is_some_and(AccountSnapshot::settled) && phones.contains_key(n))
    };
    let mut graced = false;
    loop {
        if accounts_done(&latest, &phones) {
            if !wait_for_cluster || cluster.is_some() {
                break;
            }
            if !graced {
                graced = true;
                deadline = deadline.min(tokio::time::Instant::now() + CLUSTER_GRACE);
            }
        }
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(EngineEvent::Account(snapshot))) => {
                latest.insert(snapshot.name.clone(), *snapshot);
            }
            Ok(Some(EngineEvent::Phone(phone))) => {
                phones.insert(phone.account.clone(), *phone);
            }
            Ok(Some(EngineEvent::Cluster(status))) => cluster = Some(*status),
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    (latest, phones, cluster)
}

fn last_refresh_failed(history: &[HistoryEntry], account: &str) -> bool {
    history
        .iter()
        .rev()
        .find(|e| {
            e.account == account
                && e.event() == HistoryEvent::Refresh
                && e.outcome != Outcome::Skipped
        })
        .is_some_and(|e| e.outcome == Outcome::Failed)
}

/// The logs' 1 h rate from a running daemon's or dashboard's summary, or why there is none.
fn logs_rate(settings: &Settings, now: DateTime<Utc>) -> Result<Option<RateSummary>, String> {
    let path = settings.data_dir.join(TELEMETRY_SUMMARY_FILE);
    let summary: Option<TelemetrySnapshot> = read_capped_no_follow(&path, SUMMARY_MAX_BYTES)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok());
    logs_rate_of(settings, summary.as_ref(), now)
}

/// The logs' 1 h rate in a telemetry snapshot no older than 2 min, or why there is none.
pub fn logs_rate_of(
    settings: &Settings,
    summary: Option<&TelemetrySnapshot>,
    now: DateTime<Utc>,
) -> Result<Option<RateSummary>, String> {
    if settings.logs.is_empty() {
        return Err("logs: no [[log]] source configured".to_string());
    }
    match summary {
        Some(s) if now.timestamp() - s.at.timestamp() <= SUMMARY_FRESH_SECS => Ok(s
            .delivery
            .iter()
            .find(|row| row.source == DeliverySource::Logs && row.window_secs == 3600)
            .and_then(|row| row.rate)),
        _ => Err(
            "logs: no running `tokentop daemon` or dashboard has summarised them in the last 2 min"
                .to_string(),
        ),
    }
}

fn delivery(
    settings: &Settings,
    account: &str,
    history: &[HistoryEntry],
    logs: &Result<Option<RateSummary>, String>,
    now: DateTime<Utc>,
) -> DeliveryReport {
    let mut report = DeliveryReport::default();
    match logs {
        Ok(rate) => report.logs = *rate,
        Err(note) => report.notes.push(note.clone()),
    }
    let since = now.timestamp() - HOUR_SECS;
    let sends = history.iter().filter(|e| {
        e.account == account && e.event() == HistoryEvent::Send && e.time.timestamp() >= since
    });
    let (mut delivered, mut failed) = (0, 0);
    for entry in sends {
        if entry.outcome == Outcome::Ok {
            delivered += 1
        } else {
            failed += 1
        }
    }
    report.test_sends = RateSummary::from_counts(delivered, failed);
    match load_analytics_cache(&settings.data_dir, account) {
        Some(cache) => {
            let (sent, ok) = cache
                .points
                .iter()
                .filter(|p| p.end > since && p.end <= now.timestamp())
                .fold((0, 0), |(s, d), p| (s + p.sent, d + p.delivered));
            report.analytics = RateSummary::from_counts(ok, sent.saturating_sub(ok));
        }
        None => report
            .notes
            .push("analytics: not polled (no business-account-id or scope)".to_string()),
    }
    report
}
