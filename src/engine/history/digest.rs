//! The monthly-review digest of one account's history rows (`tokentop history --summary`):
//! refreshes and their success rate, re-auth events, sends, and the most frequent failure
//! codes. Pure: the caller gives the rows, the span and the clock.
//!
//! Re-auth events are the re-auth alerts (the engine found the token can no longer be
//! refreshed, or that refreshes cannot pass the long-lived token's expiry) and the exchanges a
//! person made by running `tokentop exchange`. Sends are the `send` rows: every test message,
//! and of the proxy's sends only the failures and those after a refresh, because a routine
//! successful proxy send writes no row.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::engine::history::cause::{AlertKind, Cause, SendChannel};
use crate::engine::history::refresh_stats::WindowStats;
use crate::engine::history::{HistoryEntry, Outcome};

/// Failure codes listed per account, most frequent first.
pub const TOP_FAILURES: usize = 5;

/// Re-auth events in the span.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ReauthDigest {
    /// Re-auth alerts (`alert` rows with trigger `re-auth`).
    pub alerts: u32,
    pub last_alert_at: Option<DateTime<Utc>>,
    /// Tokens a person exchanged with `tokentop exchange`.
    pub exchanges: u32,
    pub last_exchange_at: Option<DateTime<Utc>>,
}

/// Sends in the span, from the `send` rows.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SendsDigest {
    pub test_sent: u32,
    /// Test messages Meta accepted.
    pub test_accepted: u32,
    /// 100 × accepted / sent; `null` when none was sent.
    pub test_success_percent: Option<f64>,
    /// Proxy sends that failed (successful routine proxy sends are not in history).
    pub proxy_failed: u32,
}

/// One Graph error code and how often it was met.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FailureCode {
    pub code: Option<i64>,
    pub subcode: Option<i64>,
    pub class: String,
    /// The message of its newest row.
    pub title: String,
    pub count: u32,
    pub last_at: DateTime<Utc>,
}

impl FailureCode {
    /// `190/463`, `1`, or the class when Meta gave no code (a timeout, a local failure).
    pub fn label(&self) -> String {
        match (self.code, self.subcode) {
            (Some(code), Some(sub)) => format!("{code}/{sub}"),
            (Some(code), None) => code.to_string(),
            _ => "-".to_string(),
        }
    }
}

/// One account's digest over a span ending now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccountDigest {
    pub account: String,
    pub refreshes: WindowStats,
    pub reauth: ReauthDigest,
    pub sends: SendsDigest,
    /// At most [`TOP_FAILURES`], most frequent first (then the newest first).
    pub top_failures: Vec<FailureCode>,
}

/// The digest of `account` over the `span_secs` before `now` (`span` is its label, e.g. `30d`);
/// rows dated after `now` are left out.
pub fn digest<'a>(
    history: impl IntoIterator<Item = &'a HistoryEntry>,
    account: &str,
    span: &str,
    span_secs: i64,
    now: DateTime<Utc>,
) -> AccountDigest {
    let now_secs = now.timestamp();
    let oldest = now_secs.saturating_sub(span_secs);
    let mut out = AccountDigest {
        account: account.to_string(),
        refreshes: WindowStats::new(span, span_secs),
        reauth: ReauthDigest::default(),
        sends: SendsDigest::default(),
        top_failures: Vec::new(),
    };
    let mut failures: HashMap<(Option<i64>, Option<i64>, String), FailureCode> = HashMap::new();
    for entry in history.into_iter().filter(|e| e.account == account) {
        let at = entry.time.timestamp();
        if at > now_secs || at < oldest {
            continue;
        }
        out.refreshes.count(entry, now_secs);
        count_reauth(&mut out.reauth, entry);
        count_send(&mut out.sends, entry);
        count_failure(&mut failures, entry);
    }
    out.sends.test_success_percent = (out.sends.test_sent > 0)
        .then(|| f64::from(out.sends.test_accepted) * 100.0 / f64::from(out.sends.test_sent));
    out.top_failures = failures.into_values().collect();
    out.top_failures
        .sort_by(|a, b| b.count.cmp(&a.count).then(b.last_at.cmp(&a.last_at)));
    out.top_failures.truncate(TOP_FAILURES);
    out
}

fn count_reauth(reauth: &mut ReauthDigest, entry: &HistoryEntry) {
    let latest = |seen: Option<DateTime<Utc>>| Some(seen.map_or(entry.time, |t| t.max(entry.time)));
    match entry.cause {
        Cause::Alert(AlertKind::ReAuth) => {
            reauth.alerts += 1;
            reauth.last_alert_at = latest(reauth.last_alert_at);
        }
        Cause::Exchange if entry.outcome == Outcome::Ok => {
            reauth.exchanges += 1;
            reauth.last_exchange_at = latest(reauth.last_exchange_at);
        }
        _ => {}
    }
}

fn count_send(sends: &mut SendsDigest, entry: &HistoryEntry) {
    match entry.cause {
        Cause::Send(SendChannel::Test) => {
            sends.test_sent += 1;
            if entry.outcome == Outcome::Ok {
                sends.test_accepted += 1;
            }
        }
        Cause::Send(SendChannel::Proxy) if entry.outcome == Outcome::Failed => {
            sends.proxy_failed += 1
        }
        _ => {}
    }
}

fn count_failure(
    failures: &mut HashMap<(Option<i64>, Option<i64>, String), FailureCode>,
    entry: &HistoryEntry,
) {
    let Some(error) = entry.error.as_deref() else {
        return;
    };
    let key = (error.code, error.subcode, error.class.clone());
    let code = failures.entry(key).or_insert_with(|| FailureCode {
        code: error.code,
        subcode: error.subcode,
        class: error.class.clone(),
        title: error.message.clone(),
        count: 0,
        last_at: entry.time,
    });
    code.count += 1;
    if entry.time >= code.last_at {
        code.last_at = entry.time;
        code.title = error.message.clone();
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::engine::history::cause::Trigger;
    use crate::engine::history::{HistoryError, HistoryEvent};

    const DAY: i64 = 86_400;

    fn now() -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000, 0).unwrap()
    }

    fn row(cause: impl Into<Cause>, outcome: Outcome, secs_ago: i64) -> HistoryEntry {
        let mut entry = HistoryEntry::new("a", cause, outcome);
        entry.time = now() - chrono::Duration::seconds(secs_ago);
        entry
    }

    fn failed(event: HistoryEvent, code: i64, message: &str, secs_ago: i64) -> HistoryEntry {
        // The word of a scheduled refresh, under every event.
        let mut entry = row(Cause::parse(event, "scheduled"), Outcome::Failed, secs_ago);
        entry.error = Some(Box::new(HistoryError {
            code: Some(code),
            subcode: (code == 190).then_some(463),
            class: if code == 190 {
                "token dead"
            } else {
                "transient"
            }
            .to_string(),
            message: message.to_string(),
            fbtrace_id: None,
        }));
        entry
    }

    #[test]
    fn counts_refreshes_reauth_and_sends_inside_the_span_only() {
        use SendChannel::{Proxy, Test};
        use Trigger::Scheduled;
        let history = [
            row(Scheduled, Outcome::Ok, DAY),
            row(Scheduled, Outcome::Skipped, DAY),
            row(Cause::Exchange, Outcome::Ok, 2 * DAY),
            row(AlertKind::ReAuth, Outcome::Failed, 3 * DAY),
            row(AlertKind::RateLimit, Outcome::Failed, 3 * DAY),
            row(Test, Outcome::Ok, DAY),
            row(Test, Outcome::Failed, DAY),
            row(Test, Outcome::Ok, DAY),
            row(Proxy, Outcome::Failed, DAY),
            row(Proxy, Outcome::Ok, DAY),
            row(Scheduled, Outcome::Ok, 8 * DAY),
            row(Test, Outcome::Ok, -DAY),
        ];
        let d = digest(&history, "a", "7d", 7 * DAY, now());
        assert_eq!((d.refreshes.succeeded, d.refreshes.attempted), (1, 1));
        assert_eq!(d.refreshes.skipped, 1);
        assert_eq!((d.reauth.alerts, d.reauth.exchanges), (1, 1));
        assert_eq!(d.reauth.last_exchange_at, Some(history[2].time));
        assert_eq!((d.sends.test_sent, d.sends.test_accepted), (3, 2));
        assert_eq!(d.sends.proxy_failed, 1);
        let percent = d.sends.test_success_percent.unwrap();
        assert!((percent - 66.666).abs() < 0.01, "{percent}");
        assert!(d.top_failures.is_empty());
    }

    #[test]
    fn top_failures_are_grouped_by_code_most_frequent_first_with_the_newest_title() {
        use HistoryEvent::*;
        let mut history = vec![
            failed(Refresh, 190, "Session has expired on Sunday", 5 * DAY),
            failed(Inspect, 190, "Session has expired on Monday", 4 * DAY),
            failed(Send, 1, "An unknown error occurred", DAY),
        ];
        for code in 2..10 {
            history.push(failed(Refresh, code, "other", DAY));
        }
        let d = digest(&history, "a", "30d", 30 * DAY, now());
        assert_eq!(d.top_failures.len(), TOP_FAILURES);
        let first = &d.top_failures[0];
        assert_eq!((first.label(), first.count), ("190/463".to_string(), 2));
        assert_eq!(first.title, "Session has expired on Monday");
        assert_eq!(first.class, "token dead");
        assert_eq!(d.refreshes.failures["token dead"], 1);
        assert_eq!(d.refreshes.attempted, 9);
    }

    #[test]
    fn an_empty_history_has_no_rates() {
        let d = digest(&[], "a", "30d", 30 * DAY, now());
        assert_eq!(d.refreshes.describe(true), "no refreshes");
        assert_eq!(d.sends.test_success_percent, None);
        assert_eq!(d.reauth, ReauthDigest::default());
    }
}
