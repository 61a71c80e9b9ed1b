//! What `/status` and `/readyz` answer from: the latest engine events, kept without asking
//! Meta anything. `/status` is the `tokentop check --json` document of the running engine.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, Duration as ChronoDuration, Utc};

use crate::config::Settings;
use crate::engine::coordinator::ClusterStatus;
use crate::engine::history::refresh_stats::{LONGEST_WINDOW_SECS, rates_by_account};
use crate::engine::history::{HistoryEntry, HistoryEvent};
use crate::engine::telemetry_types::{PhoneSnapshot, TelemetrySnapshot};
use crate::engine::{AccountSnapshot, EngineEvent};
use crate::graph::ServedVersions;
use crate::report::{
    CheckReport, Known, build_report, logs_rate_of, proxy_undelivered_of, webhook_accounts_of,
    webhooks_rate_of,
};

/// Send rows older than this do not count in the report's 1 h delivery.
const SEND_WINDOW_SECS: i64 = 3600;
/// At most this many send rows are kept, whatever the rate.
const MAX_SENDS: usize = 10_000;
/// At most this many refresh rows of the last 30 days are kept for the success rate (an
/// hourly refresh of 60 accounts for 30 days is 43,200); the oldest go first.
const MAX_REFRESHES: usize = 50_000;

/// The engine's state as its events told it.
pub struct LiveStatus {
    settings: Settings,
    /// Shared with the account's actor, which sent it (so it is held once), and behind a
    /// pointer: a table of 1,000 accounts has 2,048 slots, and an empty slot of a snapshot by
    /// value costs its whole size.
    latest: HashMap<String, Arc<AccountSnapshot>>,
    /// Boxed, for the same reason (480 bytes a snapshot).
    phones: HashMap<String, Box<PhoneSnapshot>>,
    /// Each account's last refresh row, so a failing refresh shows as WARNING.
    last_refresh: HashMap<String, HistoryEntry>,
    /// The last 30 days' refresh rows, oldest first, for the refresh success rate.
    refreshes: VecDeque<HistoryEntry>,
    /// The last hour's send rows, oldest first.
    sends: VecDeque<HistoryEntry>,
    telemetry: Option<TelemetrySnapshot>,
    /// The coordinator's last status, with `[cluster]`.
    cluster: Option<ClusterStatus>,
    /// The engine's Graph client's record of calls Meta answered as another version.
    served_versions: Option<ServedVersions>,
}

impl LiveStatus {
    /// Starts from the history file's rows, so a refresh that failed before a restart still
    /// counts.
    pub fn new(settings: Settings, history: Vec<HistoryEntry>) -> Self {
        let mut status = Self {
            settings,
            latest: HashMap::new(),
            phones: HashMap::new(),
            last_refresh: HashMap::new(),
            refreshes: VecDeque::new(),
            sends: VecDeque::new(),
            telemetry: None,
            cluster: None,
            served_versions: None,
        };
        for entry in history {
            status.history(entry);
        }
        status
    }

    /// Reports the upgraded calls `served` records (it is the engine's Graph client's record,
    /// read at each report: upgrades are not engine events).
    pub fn watch_served_versions(&mut self, served: ServedVersions) {
        self.served_versions = Some(served);
    }

    pub fn observe(&mut self, event: &EngineEvent) {
        match event {
            EngineEvent::Account(snapshot) => {
                self.latest.insert(snapshot.name.clone(), snapshot.clone());
            }
            EngineEvent::Phone(phone) => {
                self.phones.insert(phone.account.clone(), phone.clone());
            }
            EngineEvent::PhoneNews(news) => {
                let mut slot = self.phones.remove(&news.account).map(|phone| *phone);
                PhoneSnapshot::take_news(&mut slot, (**news).clone());
                if let Some(phone) = slot {
                    self.phones.insert(news.account.clone(), Box::new(phone));
                }
            }
            EngineEvent::History(entry) => self.history((**entry).clone()),
            EngineEvent::Telemetry(snapshot) => self.telemetry = Some((**snapshot).clone()),
            EngineEvent::Cluster(status) => self.cluster = Some((**status).clone()),
            // A reload: the report and readiness cover the accounts running now.
            EngineEvent::AccountsChanged(change) if change.refused.is_none() => {
                self.settings.accounts = change.accounts.clone();
                self.settings.account_files.invalid = change.invalid_files.clone();
            }
            _ => {}
        }
    }

    fn history(&mut self, entry: HistoryEntry) {
        match entry.event() {
            HistoryEvent::Refresh => {
                self.refreshes.push_back(entry.clone());
                if self.refreshes.len() > MAX_REFRESHES {
                    self.refreshes.pop_front();
                }
                self.last_refresh.insert(entry.account.clone(), entry);
            }
            HistoryEvent::Send => {
                self.sends.push_back(entry);
                if self.sends.len() > MAX_SENDS {
                    self.sends.pop_front();
                }
            }
            _ => {}
        }
    }

    /// True once every account's first inspection has finished (with a result or an error).
    pub fn ready(&self) -> bool {
        self.settings
            .accounts
            .iter()
            .all(|a| self.latest.get(&a.name).is_some_and(|s| s.settled()))
    }

    /// The accounts whose first inspection is still running, for `/readyz`'s answer.
    pub fn waiting_for(&self) -> Vec<&str> {
        self.settings
            .accounts
            .iter()
            .filter(|a| !self.latest.get(&a.name).is_some_and(|s| s.settled()))
            .map(|a| a.name.as_str())
            .collect()
    }

    /// The `check --json` document as of `now`.
    pub fn report(&mut self, now: DateTime<Utc>) -> CheckReport {
        let since = now - ChronoDuration::seconds(SEND_WINDOW_SECS);
        while self.sends.front().is_some_and(|e| e.time < since) {
            self.sends.pop_front();
        }
        let oldest = now - ChronoDuration::seconds(LONGEST_WINDOW_SECS);
        while self.refreshes.front().is_some_and(|e| e.time < oldest) {
            self.refreshes.pop_front();
        }
        let mut history: Vec<HistoryEntry> = self.last_refresh.values().cloned().collect();
        history.extend(self.sends.iter().cloned());
        let known = Known {
            latest: &self.latest,
            phones: &self.phones,
            history: &history,
            logs_rate: logs_rate_of(&self.settings, self.telemetry.as_ref(), now),
            webhooks_rate: webhooks_rate_of(&self.settings, self.telemetry.as_ref(), now),
            webhook_accounts: webhook_accounts_of(&self.settings, self.telemetry.as_ref(), now),
            refresh_rates: Some(rates_by_account(&self.refreshes, now)),
            cluster: self.cluster.as_ref(),
            served_versions: self.served_versions.as_ref(),
            proxy_undelivered: proxy_undelivered_of(self.telemetry.as_ref(), now),
        };
        build_report(&self.settings, &known, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::coordinator::ClusterStatus;
    use crate::engine::urgency::Level;

    fn settings(redis: bool) -> Settings {
        let mut cluster = crate::config::ClusterSettings::default();
        if redis {
            cluster.redis_url = Some(secrecy::SecretString::from("redis://127.0.0.1:6379"));
        }
        Settings {
            data_dir: std::path::PathBuf::from("/nonexistent"),
            cluster,
            ..Settings::default()
        }
    }

    fn down() -> ClusterStatus {
        ClusterStatus {
            backend: "redis".to_string(),
            endpoint: "redis://127.0.0.1:6379".to_string(),
            member: "web-1".to_string(),
            reachable: false,
            unreachable_since: Some(Utc::now()),
            last_error: Some("Connection refused".to_string()),
            latency_ms: None,
            members: Vec::new(),
            leases: Vec::new(),
            checked_at: Utc::now(),
        }
    }

    #[test]
    fn status_carries_the_last_cluster_status_and_an_unreachable_redis_warns() {
        let mut live = LiveStatus::new(settings(true), Vec::new());
        live.observe(&EngineEvent::Cluster(Box::new(down())));
        let report = live.report(Utc::now());
        assert_eq!(report.status, Level::Warning);
        let json = serde_json::to_value(&report).unwrap_or_default();
        assert_eq!(json["cluster"]["reachable"], false);
        assert_eq!(json["cluster"]["status"], "WARNING");

        let mut up = down();
        up.reachable = true;
        up.unreachable_since = None;
        live.observe(&EngineEvent::Cluster(Box::new(up)));
        let json = serde_json::to_value(live.report(Utc::now())).unwrap_or_default();
        assert_eq!(json["cluster"]["status"], "OK");
    }

    #[test]
    fn a_reload_changes_the_accounts_reported_and_awaited() {
        use crate::engine::accounts_diff::test_account;
        let mut live = LiveStatus::new(settings(false), Vec::new());
        assert!(live.ready());
        let skipped = crate::config::InvalidAccountFile {
            path: "/etc/tokentop/accounts.d/bad.toml".into(),
            issues: Vec::new(),
        };
        let change = crate::engine::reload::AccountsChange {
            accounts: vec![std::sync::Arc::new(test_account("shop", "s"))],
            invalid_files: vec![skipped],
            ..Default::default()
        };
        live.observe(&EngineEvent::AccountsChanged(Box::new(change)));
        assert_eq!(live.waiting_for(), ["shop"]);
        let json = serde_json::to_value(live.report(Utc::now())).unwrap_or_default();
        assert_eq!(json["accounts"][0]["name"], "shop");
        let file = &json["invalid_account_files"][0];
        assert_eq!(file["file"], "/etc/tokentop/accounts.d/bad.toml");
        assert_eq!(file["status"], "WARNING");
    }

    #[test]
    fn without_cluster_the_report_has_no_cluster_key() {
        let mut live = LiveStatus::new(settings(false), Vec::new());
        let json = serde_json::to_value(live.report(Utc::now())).unwrap_or_default();
        assert!(json.is_object());
        assert!(json.get("cluster").is_none(), "{json}");
    }
}
