//! What is known about the accounts when a report is made, and the report built from it.
//!
//! `check` knows it from one run of the engine, a running daemon's `/status` from the engine's
//! events; both build the same document here, so the two always agree.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

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
use crate::engine::telemetry::wamid_join::{ProxyUndelivered, UndeliveredRow};
use crate::engine::telemetry_types::{PhoneSnapshot, TelemetrySnapshot, WebhookRates};
use crate::graph::ServedVersions;

/// A daemon's or dashboard's telemetry summary older than this is not used.
const SUMMARY_FRESH_SECS: i64 = 120;
const HOUR_SECS: i64 = 3600;

/// What is known about the accounts when a report is made, by `check` or by a running
/// daemon's `/status`.
pub struct Known<'a> {
    pub latest: &'a HashMap<String, Arc<AccountSnapshot>>,
    /// Boxed for the same reason as `latest`: a table slot of a snapshot by value costs its
    /// whole size, full or empty (480 bytes; 16,384 slots at 10,000 accounts).
    pub phones: &'a HashMap<String, Box<PhoneSnapshot>>,
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
    // One pass over the rows and the join's counts, then a lookup per account: scanning them
    // per account was quadratic (10,000 accounts and their 40,000 rows took 4 s).
    let rows = rows_by_account(known.history, now);
    let undelivered: HashMap<&str, &UndeliveredRow> = known
        .proxy_undelivered
        .iter()
        .flat_map(|counts| counts.accounts.iter())
        .map(|row| (row.account.as_str(), row))
        .collect();
    let accounts: Vec<AccountReport> = settings
        .accounts
        .iter()
        .map(|account| {
            let name = &account.name;
            let account_rows = rows.get(name.as_str()).copied().unwrap_or_default();
            let snapshot = known
                .latest
                .get(name)
                .map(|snapshot| (**snapshot).clone())
                .unwrap_or_else(|| AccountSnapshot::new(name));
            let extras = Extras {
                refresh_failing: account_rows.last_refresh_failed,
                phone: known.phones.get(name).map(|phone| (**phone).clone()),
                delivery: delivery(settings, name, known, account_rows, now),
                refresh_rate: known
                    .refresh_rates
                    .as_ref()
                    .map(|rates| rates.get(name).cloned().unwrap_or_default()),
                proxy_undelivered: known
                    .proxy_undelivered
                    .as_ref()
                    .map(|counts| undelivered_report(counts, undelivered.get(name.as_str()), now)),
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

/// What one account's history rows say in a report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct AccountRows {
    /// Its last refresh that was not skipped failed.
    last_refresh_failed: bool,
    /// Its test sends in the last hour.
    sends_ok: u64,
    sends_failed: u64,
}

/// Every account's [`AccountRows`], in one pass over the rows (oldest first).
fn rows_by_account(history: &[HistoryEntry], now: DateTime<Utc>) -> HashMap<&str, AccountRows> {
    let since = now.timestamp() - HOUR_SECS;
    let mut by_account: HashMap<&str, AccountRows> = HashMap::new();
    for entry in history {
        match entry.event() {
            HistoryEvent::Refresh if entry.outcome != Outcome::Skipped => {
                by_account
                    .entry(entry.account.as_str())
                    .or_default()
                    .last_refresh_failed = entry.outcome == Outcome::Failed;
            }
            HistoryEvent::Send if entry.time.timestamp() >= since => {
                let rows = by_account.entry(entry.account.as_str()).or_default();
                if entry.outcome == Outcome::Ok {
                    rows.sends_ok += 1;
                } else {
                    rows.sends_failed += 1;
                }
            }
            _ => {}
        }
    }
    by_account
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
    row: Option<&&UndeliveredRow>,
    now: DateTime<Utc>,
) -> UndeliveredReport {
    let mut report = UndeliveredReport {
        undelivered_after_secs: counts.undelivered_after_secs,
        ..UndeliveredReport::default()
    };
    if let Some(row) = row {
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
    rows: AccountRows,
    now: DateTime<Utc>,
) -> DeliveryReport {
    let mut report = DeliveryReport {
        webhooks: known.webhooks_rate,
        ..DeliveryReport::default()
    };
    match &known.logs_rate {
        Ok(rate) => report.logs = *rate,
        Err(note) => report.notes.push(note.clone()),
    }
    let since = now.timestamp() - HOUR_SECS;
    report.test_sends = RateSummary::from_counts(rows.sends_ok, rows.sends_failed);
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
