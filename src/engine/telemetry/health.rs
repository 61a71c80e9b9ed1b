//! Polling of phone-number health, WABA analytics and rate-limit usage, for all accounts.
//!
//! Health is read in rounds, their phone reads grouped by app and batched 50 per request
//! (`phone_reads.rs`), so 1,000 accounts cost 20 requests rather than 1,000 (each read still
//! counts against its WABA's limits, and each account keeps its own usage headers). The first
//! round waits for the accounts' first inspections (`health_rounds.rs`); after it, one slice
//! of the accounts is read each minute, each account once per `check-interval`
//! (`health_slices.rs`). Analytics at most every 15 minutes
//! (they count against the WABA's 200-per-hour management budget), also across processes: the
//! last poll is cached in the data dir, and a fresh cache answers instead of Meta.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::join_all;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::health_rounds::Arrivals;
use super::hub::TelemetryInput;
use super::phone_reads::{PhoneAsk, read_phones};
use super::types::PhoneSnapshot;
use crate::engine::account::{AccountLink, Shared};
use crate::engine::directory::{DirectoryEntry, DirectoryWatch};
use crate::engine::events::EngineEvent;
use crate::engine::fs::atomic_file::write_atomic;
use crate::engine::history::cause::AlertKind;
use crate::engine::history::{HistoryEntry, Outcome};
use crate::engine::source::AnalyticsWindow;
use crate::graph::{
    Analytics, AppCredentials, DataPoint, Granularity, GraphError, PhoneHealthResult, PhoneRead,
    Usage, WithUsage,
};

/// Analytics are polled no more often than this.
pub const ANALYTICS_MIN_INTERVAL: Duration = Duration::from_secs(15 * 60);
/// An account's slice comes round every `check-interval` (15 min by default), give or take
/// the time its slice's earlier calls took: a poll this early still counts as due, or every
/// other round would be skipped and analytics read every 30 minutes.
const ANALYTICS_EARLY_SECS: i64 = 30;
/// Analytics calls running at once, across all accounts (phone reads share batch requests).
pub const CONCURRENT_POLLS: usize = 4;
use super::usage_alerts::UsageAlerts;
const ANALYTICS_SPAN_SECS: i64 = 24 * 3600;
const MANAGEMENT_SCOPE: &str = "whatsapp_business_management";

/// The last analytics poll of an account, shared by every tokentop process on a data dir.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AnalyticsCache {
    pub polled_at: i64,
    pub points: Vec<DataPoint>,
}

pub fn analytics_cache_path(data_dir: &Path, account: &str) -> PathBuf {
    data_dir.join("analytics").join(format!("{account}.json"))
}

/// A cached analytics answer is a few kilobytes; a larger file is not one.
const ANALYTICS_CACHE_MAX_BYTES: u64 = 1024 * 1024;

/// The last analytics poll of any tokentop process on this data dir (read without following
/// a symlink, capped); anything unreadable counts as no cache.
pub fn load_analytics_cache(data_dir: &Path, account: &str) -> Option<AnalyticsCache> {
    let path = analytics_cache_path(data_dir, account);
    let text =
        crate::engine::fs::private_fs::read_capped_no_follow(&path, ANALYTICS_CACHE_MAX_BYTES)
            .ok()?;
    serde_json::from_str(&text).ok()
}

/// Polls every account until the engine stops; `once` for one-shot commands. Follows the
/// directory: a reload's new accounts join their slice, removed ones leave it.
pub(crate) async fn poll_accounts(
    mut directory: DirectoryWatch,
    shared: Arc<Shared>,
    telemetry: mpsc::UnboundedSender<TelemetryInput>,
    interval: Duration,
    once: bool,
) {
    let current = directory.borrow_and_update().clone();
    let mut arrivals = Arrivals::new(
        current
            .links()
            .map(|link| (link.app.is_some(), link.token.clone()))
            .collect(),
    );
    let usage_alerts = Arc::new(UsageAlerts::default());
    let new_poller = |entry: &Arc<DirectoryEntry>| Poller {
        entry: entry.clone(),
        link: entry.link.clone(),
        shared: shared.clone(),
        telemetry: telemetry.clone(),
        usage_alerts: usage_alerts.clone(),
        usage: Usage::default(),
    };
    let mut pollers: Vec<Poller> = current.entries().iter().map(new_poller).collect();
    loop {
        let group = arrivals.next_group().await;
        if group.is_empty() {
            break;
        }
        if !poll_round(&shared, &mut pollers, &group).await {
            return;
        }
    }
    if once {
        return;
    }
    let steady = super::health_slices::Steady {
        directory,
        current,
        pollers,
        interval,
    };
    steady.run(&shared, new_poller).await;
}

/// What one account's poll in a round works with.
pub(super) enum Plan {
    /// Nothing can be read without both.
    NoCredentials,
    Poll {
        app: AppCredentials,
        token: SecretString,
        missing_scopes: Option<Vec<String>>,
    },
}

/// Polls the accounts at `group` (indices into `pollers`): their phones in shared batch
/// requests, then each one's analytics and snapshot. False once the engine stopped listening.
pub(super) async fn poll_round(shared: &Shared, pollers: &mut [Poller], group: &[usize]) -> bool {
    let mut plans: HashMap<usize, Plan> = HashMap::with_capacity(group.len());
    let mut asks = Vec::new();
    let mut asked_by = Vec::new();
    for &index in group {
        let Some(poller) = pollers.get(index) else {
            continue;
        };
        let plan = poller.plan();
        if let (Plan::Poll { app, token, .. }, Some(phone)) =
            (&plan, &poller.link.settings.phone_number_id)
        {
            asks.push(PhoneAsk {
                app: app.clone(),
                read: PhoneRead {
                    token: token.clone(),
                    phone_number_id: phone.clone(),
                },
            });
            asked_by.push(index);
        }
        plans.insert(index, plan);
    }
    let answers = read_phones(shared.source.as_ref(), asks).await;
    let mut phones: HashMap<usize, PhoneHealthResult> = asked_by.into_iter().zip(answers).collect();
    let polls = pollers
        .iter_mut()
        .enumerate()
        .filter_map(|(index, poller)| {
            let plan = plans.remove(&index)?;
            Some(poller.finish(plan, phones.remove(&index)))
        });
    join_all(polls).await.into_iter().all(|sent| sent)
}

pub(super) struct Poller {
    /// The directory's entry this poller is for (its identity across reloads).
    pub(super) entry: Arc<DirectoryEntry>,
    link: AccountLink,
    shared: Arc<Shared>,
    telemetry: mpsc::UnboundedSender<TelemetryInput>,
    /// Shared by every account's poller: a limit of the app or business alerts once.
    usage_alerts: Arc<UsageAlerts>,
    usage: Usage,
}

impl Poller {
    fn plan(&self) -> Plan {
        // Only the two fields a poll needs are copied out of the view (not its fingerprints).
        let view = self.link.token.borrow();
        match (&self.link.app, &view.token) {
            (Some(app), Some(token)) => Plan::Poll {
                app: app.clone(),
                token: token.clone(),
                missing_scopes: view.missing_scopes.clone(),
            },
            _ => Plan::NoCredentials,
        }
    }

    /// Takes in the account's phone answer (`None`: not asked, no phone-number id), polls
    /// analytics when due and sends the snapshot; false once nobody listens.
    async fn finish(&mut self, plan: Plan, phone: Option<PhoneHealthResult>) -> bool {
        let snapshot = self.snapshot(plan, phone).await;
        self.shared
            .events
            .send(EngineEvent::Phone(Box::new(snapshot)))
            .is_ok()
    }

    async fn snapshot(&mut self, plan: Plan, phone: Option<PhoneHealthResult>) -> PhoneSnapshot {
        let mut snapshot = PhoneSnapshot {
            account: self.link.settings.name.clone(),
            checked_at: self.shared.clock.now(),
            health: None,
            usage: Usage::default(),
            error: None,
            analytics_note: None,
            webhook: None,
        };
        let Plan::Poll {
            app,
            token,
            missing_scopes,
        } = plan
        else {
            snapshot.error = Some("no app credentials or token".to_string());
            return snapshot;
        };
        // The proxy's latest headers first: the poll's own answer, when there is one, is newer.
        if let Some(headers) = self.entry.take_proxy_usage() {
            self.note_usage(headers.parse());
        }
        match phone {
            Some(Ok(answer)) => {
                self.note_usage(answer.usage);
                snapshot.health = Some(answer.value);
            }
            Some(Err(err)) => snapshot.error = Some(err.to_string()),
            None => snapshot.error = Some("no phone-number-id configured".to_string()),
        }
        snapshot.analytics_note = self
            .poll_analytics(&app, &token, missing_scopes.as_deref())
            .await;
        snapshot.usage = self.usage.clone();
        snapshot
    }

    /// Polls analytics when due; returns a note when they are skipped or failed.
    async fn poll_analytics(
        &mut self,
        app: &AppCredentials,
        token: &SecretString,
        missing_scopes: Option<&[String]>,
    ) -> Option<String> {
        let Some(waba) = self.link.settings.business_account_id.clone() else {
            return Some("analytics skipped: no business-account-id configured".to_string());
        };
        if missing_scopes.is_some_and(|m| m.iter().any(|s| s == MANAGEMENT_SCOPE)) {
            return Some(format!(
                "analytics skipped: the token lacks {MANAGEMENT_SCOPE}"
            ));
        }
        let name = self.link.settings.name.clone();
        let now = self.shared.clock.now_unix();
        let data_dir = self.shared.data_dir.clone();
        let min_secs =
            i64::try_from(ANALYTICS_MIN_INTERVAL.as_secs()).unwrap_or(900) - ANALYTICS_EARLY_SECS;
        if let Some(cache) = load_analytics_cache(&data_dir, &name)
            && now.saturating_sub(cache.polled_at) < min_secs
        {
            self.forward_points(&name, cache.points, now);
            return None;
        }
        let window = AnalyticsWindow {
            start_unix: now.saturating_sub(ANALYTICS_SPAN_SECS),
            end_unix: now,
            granularity: Granularity::HalfHour,
        };
        // Written before the call, so a failing call also waits the full interval.
        let mut cache = AnalyticsCache {
            polled_at: now,
            points: Vec::new(),
        };
        let result = self.fetch_analytics(app, token, &waba, window).await;
        let note = match result {
            Ok(answer) => {
                self.note_usage(answer.usage);
                cache.points = answer.value.data_points;
                None
            }
            Err(err) => Some(format!("analytics failed: {err}")),
        };
        if let Ok(text) = serde_json::to_vec(&cache) {
            let _ = write_atomic(&analytics_cache_path(&data_dir, &name), &text);
        }
        self.forward_points(&name, cache.points, now);
        note
    }

    /// One analytics call, at most [`CONCURRENT_POLLS`] at once across accounts; a panicking
    /// source becomes this account's error instead of ending polling for every account.
    async fn fetch_analytics(
        &self,
        app: &AppCredentials,
        token: &SecretString,
        waba: &str,
        window: AnalyticsWindow,
    ) -> Result<WithUsage<Analytics>, GraphError> {
        // A closed semaphore never happens (it lives as long as the engine); call anyway.
        let _permit = self.shared.poll_permits.clone().acquire_owned().await;
        let call = self.shared.source.analytics(app, token, waba, window);
        AssertUnwindSafe(call)
            .catch_unwind()
            .await
            .unwrap_or_else(|payload| {
                let what = crate::engine::account::panic_text(payload.as_ref(), &[token, &app.app_secret]);
                tracing::error!(account = %self.link.settings.name, "analytics poll panicked: {what}");
                Err(crate::engine::source::local_error(&format!(
                    "analytics poll panicked: {what}"
                )))
            })
    }

    fn forward_points(&self, account: &str, points: Vec<DataPoint>, now: i64) {
        // Only complete half hours: the current one still grows.
        let complete: Vec<DataPoint> = points.into_iter().filter(|p| p.end <= now).collect();
        if !complete.is_empty() {
            let _ = self.telemetry.send(TelemetryInput::Analytics {
                account: account.to_string(),
                points: complete,
            });
        }
    }

    /// Keeps the latest usage and alerts once each time a limit crosses the threshold (once
    /// for all the accounts sharing the limit: the first to see it names itself).
    fn note_usage(&mut self, usage: Usage) {
        if usage.is_empty() {
            return;
        }
        let app_id = self.link.app.as_ref().map_or("", |app| app.app_id.as_str());
        for crossing in self.usage_alerts.crossings(app_id, &usage) {
            let name = self.link.settings.name.clone();
            let message = crossing.message();
            tracing::warn!(account = %name, "{message}");
            let mut entry = HistoryEntry::new(&name, AlertKind::RateLimit, Outcome::Failed);
            entry.detail = Some(message.clone());
            self.shared.record(entry);
            let _ = self.shared.events.send(EngineEvent::Alert {
                account: name,
                message,
            });
        }
        self.usage = usage;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_planted_symlink_or_a_huge_file_is_no_analytics_cache() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("analytics")).unwrap();
        let elsewhere = dir.path().join("elsewhere.json");
        std::fs::write(&elsewhere, r#"{"polled_at": 1, "points": []}"#).unwrap();
        let path = analytics_cache_path(dir.path(), "a");
        std::fs::copy(&elsewhere, &path).unwrap();
        assert!(
            load_analytics_cache(dir.path(), "a").is_some(),
            "a real cache is read"
        );
        std::fs::remove_file(&path).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &path).unwrap();
        assert!(load_analytics_cache(dir.path(), "a").is_none());
        std::fs::remove_file(&path).unwrap();
        let huge = std::fs::File::create(&path).unwrap();
        huge.set_len(ANALYTICS_CACHE_MAX_BYTES + 1).unwrap();
        assert!(load_analytics_cache(dir.path(), "a").is_none());
    }
}
