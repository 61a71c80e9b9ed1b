//! What is known about the accounts when a report is made, and the report built from it.
//!
//! `check` knows it from one run of the engine, a running daemon's `/status` from the engine's
//! events; both build the same document here, so the two always agree.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};

use super::cluster::cluster_report;
use super::model::{
    AccountReport, CheckReport, DeliveryReport, Extras, Status, UndeliveredReport, exit_code,
};
use super::rules::account_report;
use crate::config::Settings;
use crate::engine::AccountSnapshot;
use crate::engine::coordinator::ClusterStatus;
use crate::engine::delivery::{DeliverySource, RateSummary};
use crate::engine::health::load_analytics_cache;
use crate::engine::history::refresh_stats::RefreshRates;
use crate::engine::history::{HistoryEntry, HistoryEvent, Outcome};
use crate::engine::telemetry::wamid_join::ProxyUndelivered;
use crate::engine::telemetry_types::{PhoneSnapshot, TelemetrySnapshot, WebhookRates};
use crate::graph::ServedVersions;

/// A daemon's or dashboard's telemetry summary older than this is not used.
const SUMMARY_FRESH_SECS: i64 = 120;
const HOUR_SECS: i64 = 3600;

/// What is known about the accounts when a report is made, by `check` or by a running
/// daemon's `/status`.
pub struct Known<'a> {
    pub latest: &'a HashMap<String, Box<AccountSnapshot>>,
    pub phones: &'a HashMap<String, PhoneSnapshot>,
    /// Refresh and send rows: the last refresh of each account, and the last hour's sends.
    pub history: &'a [HistoryEntry],
    /// The logs' 1 h delivery rate, or why there is none.
    pub logs_rate: Result<Option<RateSummary>, String>,
    /// The 1 h rate of Meta's status webhooks through the relay, when it has some.
    pub webhooks_rate: Option<RateSummary>,
    /// Each account's statuses from the relay ([`webhook_accounts_of`]); empty leaves
    /// `webhooks` out of every account.
    pub webhook_accounts: BTreeMap<String, WebhookRates>,
    /// Each account's refresh success rate ([`rates_by_account`] of the last 30 days' rows);
    /// `None` leaves `refresh_rate` out of the report.
    ///
    /// [`rates_by_account`]: crate::engine::history::refresh_stats::rates_by_account
    pub refresh_rates: Option<HashMap<String, RefreshRates>>,
    /// The coordinator's last status, with `[cluster]`.
    pub cluster: Option<&'a ClusterStatus>,
    /// The Graph client's record of calls Meta answered as another version; `None` when the
    /// reporter made no Graph calls of its own.
    pub served_versions: Option<&'a ServedVersions>,
    /// The wamid join's counts ([`proxy_undelivered_of`]), while the proxy and relay run.
    pub proxy_undelivered: Option<ProxyUndelivered>,
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
                .map(|snapshot| (**snapshot).clone())
                .unwrap_or_else(|| AccountSnapshot::new(name));
            let extras = Extras {
                refresh_failing: last_refresh_failed(known.history, name),
                phone: known.phones.get(name).cloned(),
                delivery: delivery(settings, name, known, now),
                refresh_rate: known
                    .refresh_rates
                    .as_ref()
                    .map(|rates| rates.get(name).cloned().unwrap_or_default()),
                proxy_undelivered: known
                    .proxy_undelivered
                    .as_ref()
                    .map(|counts| undelivered_report(counts, name, now)),
                webhooks: known.webhook_accounts.get(name).cloned(),
            };
            account_report(&snapshot, &settings.refresh, now.timestamp(), &extras)
        })
        .collect();
    let cluster = settings
        .cluster
        .redis_url
        .is_some()
        .then(|| cluster_report(known.cluster));
    let served_as = known
        .served_versions
        .and_then(|served| served.served_as(&settings.graph.version));
    let graph_version = super::graph_version_report(&settings.graph, served_as.as_deref(), now);
    let invalid_account_files = super::invalid_file_reports(&settings.account_files.invalid);
    let status = accounts
        .iter()
        .map(|a| a.status)
        .chain(cluster.as_ref().map(|c| c.status))
        .chain(graph_version.as_ref().map(|g| g.status))
        .chain(invalid_account_files.iter().map(|f| f.status))
        .max()
        .unwrap_or(Status::Unknown);
    CheckReport {
        status,
        exit_code: exit_code(status),
        checked_at: now.timestamp(),
        accounts,
        cluster,
        graph_version,
        invalid_account_files,
    }
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

/// The 1 h rate of the relay's status webhooks in a telemetry snapshot no older than 2 min;
/// `None` without `[webhook]` or without statuses.
pub fn webhooks_rate_of(
    settings: &Settings,
    summary: Option<&TelemetrySnapshot>,
    now: DateTime<Utc>,
) -> Option<RateSummary> {
    settings.webhook.listen.as_ref()?;
    summary
        .filter(|s| now.timestamp() - s.at.timestamp() <= SUMMARY_FRESH_SECS)?
        .delivery
        .iter()
        .find(|row| row.source == DeliverySource::Webhooks && row.window_secs == 3600)
        .and_then(|row| row.rate)
}

/// The wamid join's counts in a telemetry snapshot no older than 2 min; `None` unless the
/// proxy and the relay both ran.
pub fn proxy_undelivered_of(
    summary: Option<&TelemetrySnapshot>,
    now: DateTime<Utc>,
) -> Option<ProxyUndelivered> {
    summary
        .filter(|s| now.timestamp() - s.at.timestamp() <= SUMMARY_FRESH_SECS)?
        .proxy_undelivered
        .clone()
}

/// One account's part of the join's counts (zeros for an account that sent nothing).
fn undelivered_report(
    counts: &ProxyUndelivered,
    account: &str,
    now: DateTime<Utc>,
) -> UndeliveredReport {
    let mut report = UndeliveredReport {
        undelivered_after_secs: counts.undelivered_after_secs,
        ..UndeliveredReport::default()
    };
    if let Some(row) = counts.accounts.iter().find(|r| r.account == account) {
        report.last_1h = row.in_last_hour(now.timestamp_millis());
        report.total = row.undelivered_total;
        report.overdue = row.overdue;
    }
    report
}

/// Each account's statuses from the relay in a telemetry snapshot no older than 2 min; empty
/// without `[webhook]`.
pub fn webhook_accounts_of(
    settings: &Settings,
    summary: Option<&TelemetrySnapshot>,
    now: DateTime<Utc>,
) -> BTreeMap<String, WebhookRates> {
    match summary {
        Some(s)
            if settings.webhook.listen.is_some()
                && now.timestamp() - s.at.timestamp() <= SUMMARY_FRESH_SECS =>
        {
            s.webhook_accounts.clone()
        }
        _ => BTreeMap::new(),
    }
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
    known: &Known<'_>,
    now: DateTime<Utc>,
) -> DeliveryReport {
    let history = known.history;
    let mut report = DeliveryReport {
        webhooks: known.webhooks_rate,
        ..DeliveryReport::default()
    };
    match &known.logs_rate {
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
