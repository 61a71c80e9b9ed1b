//! Per-account polling of phone-number health, WABA analytics and rate-limit usage.
//!
//! Health is read every `check-interval`; analytics at most every 15 minutes (they count
//! against the WABA's 200-per-hour management budget), also across processes: the last poll
//! is cached in the data dir, and a fresh cache answers instead of Meta.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::account::{AccountLink, Shared};
use super::atomic_file::write_atomic;
use super::events::EngineEvent;
use super::history::{HistoryEntry, HistoryEvent, Outcome};
use super::source::AnalyticsWindow;
use super::telemetry::TelemetryInput;
use super::telemetry_types::PhoneSnapshot;
use crate::graph::{DataPoint, Granularity, Usage};

/// Analytics are polled no more often than this.
pub const ANALYTICS_MIN_INTERVAL: Duration = Duration::from_secs(15 * 60);
/// Health polls running at once, across all accounts.
pub const CONCURRENT_POLLS: usize = 4;
/// An alert is raised when any usage percentage reaches this.
pub const USAGE_ALERT_PERCENT: u32 = 80;
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

pub fn load_analytics_cache(data_dir: &Path, account: &str) -> Option<AnalyticsCache> {
    let text = std::fs::read_to_string(analytics_cache_path(data_dir, account)).ok()?;
    serde_json::from_str(&text).ok()
}

/// Polls one account until the engine stops; `once` for one-shot commands.
pub(crate) async fn poll_account(
    link: AccountLink,
    shared: Arc<Shared>,
    telemetry: mpsc::UnboundedSender<TelemetryInput>,
    interval: Duration,
    once: bool,
) {
    let mut poller = Poller {
        link,
        shared,
        telemetry,
        usage_alerted: false,
        usage: Usage::default(),
    };
    // Let the first inspection land, so the token and its scopes are known.
    let mut token_rx = poller.link.token.clone();
    let _ = tokio::time::timeout(
        Duration::from_secs(30),
        token_rx.wait_for(|v| v.missing_scopes.is_some()),
    )
    .await;
    loop {
        let snapshot = {
            // A closed semaphore never happens (it lives as long as the engine); poll anyway.
            let _permit = poller.shared.poll_permits.clone().acquire_owned().await;
            poller.poll_once().await
        };
        if poller
            .shared
            .events
            .send(EngineEvent::Phone(Box::new(snapshot)))
            .is_err()
            || once
        {
            return;
        }
        tokio::time::sleep(interval.mul_f64(rand::random_range(0.9..=1.1))).await;
    }
}

struct Poller {
    link: AccountLink,
    shared: Arc<Shared>,
    telemetry: mpsc::UnboundedSender<TelemetryInput>,
    usage_alerted: bool,
    usage: Usage,
}

impl Poller {
    async fn poll_once(&mut self) -> PhoneSnapshot {
        let name = self.link.settings.name.clone();
        let mut snapshot = PhoneSnapshot {
            account: name.clone(),
            checked_at: self.shared.clock.now(),
            health: None,
            usage: Usage::default(),
            error: None,
            analytics_note: None,
        };
        let view = self.link.token.borrow().clone();
        let (Some(app), Some(token)) = (self.link.app.clone(), view.token.clone()) else {
            snapshot.error = Some("no app credentials or token".to_string());
            return snapshot;
        };
        match &self.link.settings.phone_number_id {
            Some(phone) => match self.shared.source.phone_health(&app, &token, phone).await {
                Ok(answer) => {
                    self.note_usage(answer.usage);
                    snapshot.health = Some(answer.value);
                }
                Err(err) => snapshot.error = Some(err.to_string()),
            },
            None => snapshot.error = Some("no phone-number-id configured".to_string()),
        }
        snapshot.analytics_note = self
            .poll_analytics(&app, &token, view.missing_scopes.as_deref())
            .await;
        snapshot.usage = self.usage.clone();
        snapshot
    }

    /// Polls analytics when due; returns a note when they are skipped or failed.
    async fn poll_analytics(
        &mut self,
        app: &crate::graph::AppCredentials,
        token: &secrecy::SecretString,
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
        let min_secs = i64::try_from(ANALYTICS_MIN_INTERVAL.as_secs()).unwrap_or(900);
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
        let result = self
            .shared
            .source
            .analytics(app, token, &waba, window)
            .await;
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

    /// Keeps the latest usage and alerts once each time it crosses the threshold.
    fn note_usage(&mut self, usage: Usage) {
        if usage.is_empty() {
            return;
        }
        let percent = usage.max_percent().unwrap_or(0);
        let name = self.link.settings.name.clone();
        if percent >= USAGE_ALERT_PERCENT && !self.usage_alerted {
            self.usage_alerted = true;
            let message = format!(
                "rate-limit usage at {percent}% of a Graph API limit (alert at {USAGE_ALERT_PERCENT}%)"
            );
            tracing::warn!(account = %name, "{message}");
            let mut entry =
                HistoryEntry::new(&name, HistoryEvent::Alert, "rate-limit", Outcome::Failed);
            entry.detail = Some(message.clone());
            self.shared.record(entry);
            let _ = self.shared.events.send(EngineEvent::Alert {
                account: name,
                message,
            });
        } else if percent < USAGE_ALERT_PERCENT {
            self.usage_alerted = false;
        }
        self.usage = usage;
    }
}
