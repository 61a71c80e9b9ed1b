//! Cumulative telemetry totals: every log line and delivery outcome since the engine started,
//! for counters that must never go back or miss a burst (the hub forwards only the newest
//! lines of a burst, and its windows forget).
//!
//! Labels are bounded: sources, patterns and accounts come from the configuration, message
//! sources are a closed set, and failure codes are capped per account.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use super::logs::{OutcomeTransition, StatusOutcome};
use super::types::{FailureTotal, LogLineTotal, MessageSource, MessageTotal, TelemetryTotals};
use crate::config::PatternLevel;
use crate::graph::DataPoint;

/// Distinct failure codes kept per account (the fold-in code included).
pub const MAX_FAILURE_CODES_PER_ACCOUNT: usize = 50;
/// Where failures with a code beyond the cap are counted. Webhook errors without a code are
/// already read as 0, so 0 already means "code not told apart"; folding there keeps each
/// account's series bounded while the sum over codes stays exact.
pub const OVERFLOW_FAILURE_CODE: i64 = 0;
/// Analytics point end times remembered per account: four days of half hours, well beyond the
/// 24 h one poll covers, so an overlapping poll never counts a point twice.
pub const ANALYTICS_POINTS_REMEMBERED: usize = 4 * 48;

type LineKey = (Arc<str>, Option<Arc<str>>, Option<PatternLevel>);

/// The running totals; owned by the hub, copied into every snapshot.
#[derive(Debug, Default)]
pub(crate) struct Totals {
    /// Configured accounts by phone-number id, to tie webhook statuses to an account.
    phone_accounts: HashMap<String, String>,
    /// Ordered by its labels, so the snapshot needs no sort.
    log_lines: BTreeMap<LineKey, u64>,
    messages: HashMap<(Option<String>, MessageSource, bool), u64>,
    failures: HashMap<Option<String>, BTreeMap<i64, u64>>,
    /// End times of the analytics points already counted, per account.
    analytics_seen: HashMap<String, BTreeSet<i64>>,
}

impl Totals {
    /// After a reload: statuses of a new account's number count for it from now on.
    pub fn set_phone_accounts(&mut self, phone_accounts: HashMap<String, String>) {
        self.phone_accounts = phone_accounts;
    }

    pub fn new(phone_accounts: HashMap<String, String>) -> Self {
        Self {
            phone_accounts,
            ..Self::default()
        }
    }

    /// One log line, matched or not.
    pub fn record_line(
        &mut self,
        source: &Arc<str>,
        pattern: Option<&Arc<str>>,
        level: Option<PatternLevel>,
    ) {
        *self
            .log_lines
            .entry((source.clone(), pattern.cloned(), level))
            .or_insert(0) += 1;
    }

    /// `count` lines of `source` that matched no pattern, as many `record_line` calls would.
    pub fn record_unmatched_lines(&mut self, source: &Arc<str>, count: u64) {
        if count > 0 {
            *self
                .log_lines
                .entry((source.clone(), None, None))
                .or_insert(0) += count;
        }
    }

    /// `count` outcomes of one kind; zero adds no row.
    pub fn record_messages(
        &mut self,
        account: Option<&str>,
        source: MessageSource,
        delivered: bool,
        count: u64,
    ) {
        if count == 0 {
            return;
        }
        let key = (account.map(str::to_string), source, delivered);
        let total = self.messages.entry(key).or_insert(0);
        *total = total.saturating_add(count);
    }

    /// One failure with its Meta error code.
    pub fn record_failure(&mut self, account: Option<&str>, code: i64) {
        let codes = self
            .failures
            .entry(account.map(str::to_string))
            .or_default();
        let room = codes.len() + usize::from(!codes.contains_key(&OVERFLOW_FAILURE_CODE))
            < MAX_FAILURE_CODES_PER_ACCOUNT;
        let code = if codes.contains_key(&code) || room {
            code
        } else {
            OVERFLOW_FAILURE_CODE
        };
        *codes.entry(code).or_insert(0) += 1;
    }

    /// A log line whose pattern has a delivered/failed role, with the Meta code it quotes.
    pub fn record_log_outcome(&mut self, delivered: bool, code: Option<i64>) {
        self.record_messages(None, MessageSource::Logs, delivered, 1);
        if let Some(code) = code {
            self.record_failure(None, code);
        }
    }

    /// A finished send of `account` (a test send, or one through the proxy).
    pub fn record_send(
        &mut self,
        source: MessageSource,
        account: &str,
        delivered: bool,
        code: Option<i64>,
    ) {
        self.record_messages(Some(account), source, delivered, 1);
        if let Some(code) = code {
            self.record_failure(Some(account), code);
        }
    }

    /// One analytics point not counted before (see [`Self::new_analytics_points`]).
    pub fn record_analytics_point(&mut self, account: &str, delivered: u64, failed: u64) {
        self.record_messages(Some(account), MessageSource::Waba, true, delivered);
        self.record_messages(Some(account), MessageSource::Waba, false, failed);
    }

    /// A webhook status outcome with each of its error codes, under the configured account
    /// of the payload's phone number (none when it is not configured or not given).
    pub fn record_webhook(
        &mut self,
        phone_number_id: Option<&str>,
        transition: &OutcomeTransition,
    ) {
        let account = self.account_of(phone_number_id).map(str::to_string);
        let account = account.as_deref();
        match &transition.outcome {
            StatusOutcome::Delivered => {
                self.record_messages(account, MessageSource::Webhook, true, 1)
            }
            StatusOutcome::Failed(errors) => {
                self.record_messages(account, MessageSource::Webhook, false, 1);
                for error in errors {
                    self.record_failure(account, error.code);
                }
            }
        }
    }

    /// The configured account of a webhook status's phone number.
    pub fn account_of(&self, phone_number_id: Option<&str>) -> Option<&str> {
        phone_number_id
            .and_then(|id| self.phone_accounts.get(id))
            .map(String::as_str)
    }

    /// The points of one analytics poll not counted before (polls overlap), each once.
    pub fn new_analytics_points<'p>(
        &mut self,
        account: &str,
        points: &'p [DataPoint],
    ) -> Vec<&'p DataPoint> {
        let seen = self.analytics_seen.entry(account.to_string()).or_default();
        let mut fresh = Vec::new();
        for point in points {
            // Older than everything remembered while full: counted long ago, then forgotten.
            let forgotten = seen.len() >= ANALYTICS_POINTS_REMEMBERED
                && seen.first().is_some_and(|oldest| point.end <= *oldest);
            if forgotten || !seen.insert(point.end) {
                continue;
            }
            if seen.len() > ANALYTICS_POINTS_REMEMBERED {
                seen.pop_first();
            }
            fresh.push(point);
        }
        fresh
    }

    /// Every total, each vector sorted by its label fields.
    pub fn snapshot(&self) -> TelemetryTotals {
        let log_lines: Vec<LogLineTotal> = self
            .log_lines
            .iter()
            .map(|((source, pattern, level), count)| LogLineTotal {
                source: source.to_string(),
                pattern: pattern.as_deref().map(str::to_string),
                level: *level,
                count: *count,
            })
            .collect();
        let mut messages: Vec<MessageTotal> = self
            .messages
            .iter()
            .map(|((account, source, delivered), count)| MessageTotal {
                account: account.clone(),
                source: *source,
                delivered: *delivered,
                count: *count,
            })
            .collect();
        messages.sort_by(|a, b| {
            (&a.account, a.source, a.delivered).cmp(&(&b.account, b.source, b.delivered))
        });
        let mut failures: Vec<FailureTotal> = self
            .failures
            .iter()
            .flat_map(|(account, codes)| {
                codes.iter().map(move |(code, count)| FailureTotal {
                    account: account.clone(),
                    code: *code,
                    count: *count,
                })
            })
            .collect();
        failures.sort_by(|a, b| (&a.account, a.code).cmp(&(&b.account, b.code)));
        TelemetryTotals {
            log_lines,
            messages,
            failures,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(end: i64, sent: u64, delivered: u64) -> DataPoint {
        DataPoint {
            start: end - 1800,
            end,
            sent,
            delivered,
        }
    }

    #[test]
    fn failure_codes_beyond_the_cap_fold_into_code_zero() {
        let mut totals = Totals::default();
        for code in 1..=200 {
            totals.record_failure(Some("main"), 131_000 + code);
        }
        totals.record_failure(Some("main"), 131_001);
        totals.record_failure(None, 7);
        let failures = totals.snapshot().failures;
        let main: Vec<_> = failures
            .iter()
            .filter(|f| f.account.as_deref() == Some("main"))
            .collect();
        assert_eq!(main.len(), MAX_FAILURE_CODES_PER_ACCOUNT);
        assert_eq!(main.iter().map(|f| f.count).sum::<u64>(), 201);
        let folded = main.iter().find(|f| f.code == OVERFLOW_FAILURE_CODE);
        assert_eq!(folded.map(|f| f.count), Some(200 - 49));
        // A code admitted before the cap keeps counting under its own label.
        assert!(main.iter().any(|f| f.code == 131_001 && f.count == 2));
        // Other accounts have their own room; rows are sorted, no account first.
        assert_eq!(failures[0].account, None);
        assert!(
            failures
                .windows(2)
                .all(|w| (&w[0].account, w[0].code) < (&w[1].account, w[1].code))
        );
    }

    #[test]
    fn analytics_points_seen_twice_count_once() {
        let mut totals = Totals::default();
        let first = [point(1800, 5, 4), point(3600, 3, 3)];
        assert_eq!(totals.new_analytics_points("main", &first).len(), 2);
        let overlapping = [point(3600, 3, 3), point(5400, 2, 1), point(5400, 2, 1)];
        let fresh = totals.new_analytics_points("main", &overlapping);
        assert_eq!(fresh, vec![&overlapping[1]]);
        // Another account's points are its own.
        assert_eq!(totals.new_analytics_points("other", &first).len(), 2);
    }

    #[test]
    fn analytics_memory_is_bounded_and_never_recounts_forgotten_points() {
        let mut totals = Totals::default();
        let points: Vec<_> = (1..=500).map(|i| point(i * 1800, 1, 1)).collect();
        assert_eq!(totals.new_analytics_points("main", &points).len(), 500);
        assert_eq!(
            totals.analytics_seen["main"].len(),
            ANALYTICS_POINTS_REMEMBERED
        );
        assert!(totals.new_analytics_points("main", &points).is_empty());
    }

    #[test]
    fn lines_and_messages_are_sorted_by_label() {
        let mut totals = Totals::default();
        let (b, a): (Arc<str>, Arc<str>) = ("b".into(), "a".into());
        let pattern: Arc<str> = "message-failed".into();
        totals.record_line(&b, None, None);
        totals.record_line(&a, Some(&pattern), Some(PatternLevel::Error));
        totals.record_line(&a, None, None);
        totals.record_line(&a, None, None);
        totals.record_messages(Some("main"), MessageSource::Waba, true, 0);
        totals.record_messages(Some("main"), MessageSource::Test, false, 1);
        totals.record_messages(None, MessageSource::Logs, true, 3);
        let snapshot = totals.snapshot();
        let lines: Vec<_> = snapshot
            .log_lines
            .iter()
            .map(|l| (l.source.as_str(), l.pattern.as_deref(), l.count))
            .collect();
        assert_eq!(
            lines,
            vec![
                ("a", None, 2),
                ("a", Some("message-failed"), 1),
                ("b", None, 1)
            ]
        );
        let messages: Vec<_> = snapshot
            .messages
            .iter()
            .map(|m| (m.account.as_deref(), m.source.label(), m.delivered, m.count))
            .collect();
        assert_eq!(
            messages,
            vec![(None, "logs", true, 3), (Some("main"), "test", false, 1)]
        );
    }
}
