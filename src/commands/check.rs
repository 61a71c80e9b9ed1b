//! `tokentop check [--json]`: one inspection of every account, monitoring-plugin exit codes.
//!
//! Exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN. Overall status is the worst account's, in the
//! order CRITICAL > UNKNOWN > WARNING > OK. The `--json` shape is documented in docs/json.md.
//! The report itself (its rules, its words) lives in [`crate::report`]; this is the command:
//! run the engine once, print, exit.

use std::collections::{HashMap, HashSet};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use tokio::sync::mpsc::UnboundedReceiver;

use super::common::{
    EXIT_UNKNOWN, load_settings, one_shot_options, require_accounts, shutdown, start_engine_on,
};
use super::stdout;
use crate::cli::{CheckArgs, GlobalArgs};
use crate::config::Settings;
use crate::engine::coordinator::ClusterStatus;
use crate::engine::history::refresh_stats::rates_by_account;
use crate::engine::telemetry_types::{PhoneSnapshot, TelemetrySnapshot};
use crate::engine::{
    AccountSnapshot, EngineEvent, EngineOptions, HealthPolling, TELEMETRY_SUMMARY_FILE,
};
use crate::report::{
    CheckReport, Known, account_line, build_report, cluster_line, graph_version_line, logs_rate_of,
    webhook_accounts_of, webhooks_rate_of,
};

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
    for file in &report.invalid_account_files {
        stdout::line(crate::report::invalid_file_line(file))?;
    }
    // Said only when something is to be done: a version months from its end is not news.
    if let Some(graph) = report
        .graph_version
        .as_ref()
        .filter(|g| g.action_hint.is_some())
    {
        stdout::line(graph_version_line(graph))?;
    }
    Ok(())
}

/// Inspects every account once (token, phone health, analytics within the polling budget).
pub async fn inspect_all(settings: &Settings) -> anyhow::Result<CheckReport> {
    let options = EngineOptions {
        health: HealthPolling::Once,
        ..one_shot_options()
    };
    let client = crate::graph::GraphClient::new(&settings.graph)
        .context("cannot set up the Graph API client")?;
    // Read after the run: which of its calls Meta answered as another version.
    let served_versions = client.served_versions();
    let (handle, mut events) = start_engine_on(settings, client, options)?;
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
    let summary = telemetry_summary(settings);
    let known = Known {
        latest: &latest,
        phones: &phones,
        history: &history,
        logs_rate: logs_rate_of(settings, summary.as_ref(), now),
        webhooks_rate: webhooks_rate_of(settings, summary.as_ref(), now),
        webhook_accounts: webhook_accounts_of(settings, summary.as_ref(), now),
        refresh_rates: Some(rates_by_account(&history, now)),
        cluster: cluster.as_ref(),
        served_versions: Some(&served_versions),
        proxy_undelivered: crate::report::proxy_undelivered_of(summary.as_ref(), now),
    };
    Ok(build_report(settings, &known, now))
}

type Collected = (
    HashMap<String, Arc<AccountSnapshot>>,
    HashMap<String, Box<PhoneSnapshot>>,
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
    let mut latest: HashMap<String, Arc<AccountSnapshot>> = HashMap::with_capacity(names.len());
    let mut phones: HashMap<String, Box<PhoneSnapshot>> = HashMap::with_capacity(names.len());
    let mut cluster: Option<ClusterStatus> = None;
    let mut deadline = tokio::time::Instant::now() + limit;
    // Accounts not settled or not polled yet: each event updates one of them, so the wait is
    // linear in the accounts (checking them all per event was quadratic at 10,000).
    let known: HashSet<&str> = names.iter().map(String::as_str).collect();
    let mut unsettled = known.clone();
    let mut unpolled = known.clone();
    let mut graced = false;
    loop {
        if unsettled.is_empty() && unpolled.is_empty() {
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
                if snapshot.settled() {
                    unsettled.remove(snapshot.name.as_str());
                } else if let Some(name) = known.get(snapshot.name.as_str()) {
                    unsettled.insert(name);
                }
                latest.insert(snapshot.name.clone(), snapshot);
            }
            Ok(Some(EngineEvent::Phone(phone))) => {
                unpolled.remove(phone.account.as_str());
                phones.insert(phone.account.clone(), phone);
            }
            Ok(Some(EngineEvent::Cluster(status))) => cluster = Some(*status),
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    (latest, phones, cluster)
}

/// A running daemon's or dashboard's telemetry summary (the logs' and webhooks' rates).
fn telemetry_summary(settings: &Settings) -> Option<TelemetrySnapshot> {
    let path = settings.data_dir.join(TELEMETRY_SUMMARY_FILE);
    crate::engine::telemetry::summary_file::read_summary(&path, SUMMARY_MAX_BYTES)
}
