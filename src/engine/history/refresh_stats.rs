//! The refresh success rate (succeeded / attempted, failures by class) per account over 24 h,
//! 7 d and 30 d, from history rows. Pure: the caller gives the rows and the clock.
//!
//! What counts as an attempt: a `refresh` row that tokentop's engine wrote with outcome `ok` or
//! `failed`. Not counted: `skipped` rows (another tokentop process had just refreshed, so this
//! one asked Meta nothing; they are reported apart as `skipped`), and rows with the trigger
//! `exchange` (a person ran `tokentop exchange`: a re-auth, not a refresh). Rows dated more
//! than 5 s after `now` (another process with a clock ahead) are in no window. A window without an attempt has
//! no rate (`None`, shown as "no refreshes"), never 0 % or NaN.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::engine::history::cause::Cause;
use crate::engine::history::{HistoryEntry, HistoryEvent, Outcome};

/// Rows stamped up to this far after `now` still count as now.
const FUTURE_TOLERANCE_SECS: i64 = 5;

/// The windows of the rate, shortest first: (label, seconds).
pub const WINDOWS: [(&str, i64); 3] = [("24h", 86_400), ("7d", 7 * 86_400), ("30d", 30 * 86_400)];

/// The longest window: rows older than this never count.
pub const LONGEST_WINDOW_SECS: i64 = WINDOWS[WINDOWS.len() - 1].1;

/// One account's refreshes over one window.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct WindowStats {
    /// `24h`, `7d`, `30d`, or the `--since` span of `history --summary`.
    pub window: String,
    pub window_secs: i64,
    pub attempted: u32,
    pub succeeded: u32,
    /// Not attempted: another process had just refreshed.
    pub skipped: u32,
    /// 100 × succeeded / attempted; `null` when nothing was attempted.
    pub success_percent: Option<f64>,
    /// Failed attempts by error class (`transient`, `token dead`, ...; `unknown` when the row
    /// names none).
    pub failures: BTreeMap<String, u32>,
}

impl WindowStats {
    pub fn new(window: &str, window_secs: i64) -> Self {
        Self {
            window: window.to_string(),
            window_secs,
            ..Self::default()
        }
    }

    /// Counts `entry` when it is an attempt (or a skip) inside this window ending at `now`.
    pub fn count(&mut self, entry: &HistoryEntry, now: i64) {
        let at = entry.time.timestamp();
        // A row a moment ahead of `now` is this moment's (the dashboard's clock ticks once a
        // second behind the engine's rows); one further ahead is a wrong clock, in no window.
        let latest = now.saturating_add(FUTURE_TOLERANCE_SECS);
        if at > latest || at < now.saturating_sub(self.window_secs) {
            return;
        }
        match attempt(entry) {
            Some(Outcome::Ok) => self.succeeded += 1,
            Some(Outcome::Failed) => {
                let class = entry.error.as_ref().map_or("unknown", |e| e.class.as_str());
                *self.failures.entry(class.to_string()).or_default() += 1;
            }
            Some(Outcome::Skipped) => {
                self.skipped += 1;
                return;
            }
            None => return,
        }
        self.attempted += 1;
        self.success_percent = Some(percent(self.succeeded, self.attempted));
    }

    /// `12/12`, `83/84 (1 transient)`, `no refreshes`.
    pub fn describe(&self, with_failures: bool) -> String {
        if self.attempted == 0 {
            return "no refreshes".to_string();
        }
        let mut text = format!("{}/{}", self.succeeded, self.attempted);
        if with_failures && !self.failures.is_empty() {
            text.push_str(&format!(" ({})", self.failure_words()));
        }
        text
    }

    /// `2 transient, 1 token dead`, most frequent first.
    pub fn failure_words(&self) -> String {
        let mut classes: Vec<(&String, &u32)> = self.failures.iter().collect();
        classes.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let words: Vec<String> = classes
            .into_iter()
            .map(|(class, count)| format!("{count} {class}"))
            .collect();
        words.join(", ")
    }
}

/// The outcome of a refresh row that concerns the rate: `None` for other rows and for
/// exchanges.
fn attempt(entry: &HistoryEntry) -> Option<Outcome> {
    (entry.event() == HistoryEvent::Refresh && entry.cause != Cause::Exchange)
        .then_some(entry.outcome)
}

fn percent(part: u32, whole: u32) -> f64 {
    if whole == 0 {
        return 0.0;
    }
    f64::from(part) * 100.0 / f64::from(whole)
}

/// One account's refresh success rate over [`WINDOWS`], shortest first; in JSON the list of
/// windows.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct RefreshRates {
    pub windows: Vec<WindowStats>,
}

impl Default for RefreshRates {
    fn default() -> Self {
        Self {
            windows: WINDOWS
                .iter()
                .map(|(label, secs)| WindowStats::new(label, *secs))
                .collect(),
        }
    }
}

impl RefreshRates {
    fn count(&mut self, entry: &HistoryEntry, now: i64) {
        for window in &mut self.windows {
            window.count(entry, now);
        }
    }

    /// `24h 12/12 · 7d 83/84 (1 transient) · 30d no refreshes`; failures named only when
    /// `with_failures`.
    pub fn describe(&self, with_failures: bool) -> String {
        self.describe_where(|_| with_failures)
    }

    /// `24h 12/12 · 7d 83/84 · 30d 300/302 (2 transient)`: failures named for the longest
    /// window only, which holds those of the shorter ones.
    pub fn describe_longest_failures(&self) -> String {
        let last = self.windows.len().saturating_sub(1);
        self.describe_where(|i| i == last)
    }

    fn describe_where(&self, with_failures: impl Fn(usize) -> bool) -> String {
        let parts: Vec<String> = self
            .windows
            .iter()
            .enumerate()
            .map(|(i, w)| format!("{} {}", w.window, w.describe(with_failures(i))))
            .collect();
        parts.join(" · ")
    }
}

/// The rates of `account` alone at `now`.
pub fn account_rates<'a>(
    history: impl IntoIterator<Item = &'a HistoryEntry>,
    account: &str,
    now: DateTime<Utc>,
) -> RefreshRates {
    let mut rates = RefreshRates::default();
    let now = now.timestamp();
    for entry in history.into_iter().filter(|e| e.account == account) {
        rates.count(entry, now);
    }
    rates
}

/// The rates of every account that has a row in `history`, in one pass; an account without
/// rows is absent (its rates are [`RefreshRates::default`]).
pub fn rates_by_account<'a>(
    history: impl IntoIterator<Item = &'a HistoryEntry>,
    now: DateTime<Utc>,
) -> HashMap<String, RefreshRates> {
    let now = now.timestamp();
    let mut by_account: HashMap<String, RefreshRates> = HashMap::new();
    for entry in history {
        if attempt(entry).is_none() {
            continue;
        }
        match by_account.get_mut(&entry.account) {
            Some(rates) => rates.count(entry, now),
            None => {
                let mut rates = RefreshRates::default();
                rates.count(entry, now);
                by_account.insert(entry.account.clone(), rates);
            }
        }
    }
    by_account
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::engine::history::HistoryError;
    use crate::engine::history::cause::Trigger;

    const DAY: i64 = 86_400;

    fn now() -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000, 0).unwrap()
    }

    fn row(account: &str, secs_ago: i64, outcome: Outcome, class: Option<&str>) -> HistoryEntry {
        let mut entry = HistoryEntry::new(account, Trigger::Scheduled, outcome);
        entry.time = now() - chrono::Duration::seconds(secs_ago);
        entry.error = class.map(|class| {
            Box::new(HistoryError {
                code: Some(1),
                subcode: None,
                class: class.to_string(),
                message: "An unknown error occurred".to_string(),
                fbtrace_id: None,
            })
        });
        entry
    }

    fn counts(rates: &RefreshRates) -> Vec<(u32, u32)> {
        rates
            .windows
            .iter()
            .map(|w| (w.succeeded, w.attempted))
            .collect()
    }

    #[test]
    fn no_attempts_is_no_refreshes_not_zero_percent() {
        let rates = account_rates(&[], "a", now());
        assert!(rates.windows.iter().all(|w| w.success_percent.is_none()));
        assert_eq!(
            rates.describe(true),
            "24h no refreshes · 7d no refreshes · 30d no refreshes"
        );
        let json = serde_json::to_value(&rates).unwrap();
        assert!(json[0]["success_percent"].is_null(), "{json}");
        assert_eq!(json[2]["window"], "30d", "{json}");
    }

    #[test]
    fn windows_include_their_boundary_and_exclude_older_rows() {
        let history = [
            row("a", 0, Outcome::Ok, None),
            row("a", DAY, Outcome::Ok, None),
            row("a", DAY + 1, Outcome::Failed, Some("transient")),
            row("a", 7 * DAY, Outcome::Ok, None),
            row("a", 7 * DAY + 1, Outcome::Ok, None),
            row("a", 30 * DAY, Outcome::Failed, Some("token dead")),
            row("a", 30 * DAY + 1, Outcome::Failed, Some("token dead")),
        ];
        let rates = account_rates(&history, "a", now());
        assert_eq!(counts(&rates), [(2, 2), (3, 4), (4, 6)]);
        assert_eq!(
            rates.describe(true),
            "24h 2/2 · 7d 3/4 (1 transient) · 30d 4/6 (1 token dead, 1 transient)"
        );
        assert_eq!(rates.windows[1].success_percent, Some(75.0));
        assert_eq!(
            rates.describe_longest_failures(),
            "24h 2/2 · 7d 3/4 · 30d 4/6 (1 token dead, 1 transient)"
        );
    }

    #[test]
    fn skipped_rows_and_exchanges_are_not_attempts() {
        let mut exchange = row("a", 10, Outcome::Ok, None);
        exchange.cause = Cause::Exchange;
        let mut inspect = row("a", 10, Outcome::Failed, Some("transient"));
        // An inspect row with the word of a scheduled refresh.
        inspect.cause = Cause::parse(HistoryEvent::Inspect, "scheduled");
        let history = [
            row("a", 20, Outcome::Skipped, None),
            exchange,
            inspect,
            row("a", 30, Outcome::Failed, None),
        ];
        let rates = account_rates(&history, "a", now());
        let day = &rates.windows[0];
        assert_eq!((day.succeeded, day.attempted, day.skipped), (0, 1, 1));
        assert_eq!(day.success_percent, Some(0.0));
        assert_eq!(day.describe(true), "0/1 (1 unknown)");
    }

    #[test]
    fn rows_dated_after_now_are_in_no_window() {
        let history = [
            row("a", -60, Outcome::Failed, Some("transient")),
            row("a", -40 * DAY, Outcome::Ok, None),
            row("a", 5, Outcome::Ok, None),
        ];
        assert_eq!(
            counts(&account_rates(&history, "a", now())),
            [(1, 1), (1, 1), (1, 1)]
        );
    }

    #[test]
    fn a_row_a_moment_ahead_of_the_dashboards_tick_counts() {
        // The dashboard ticks once a second; the engine stamps rows as they happen.
        let history = [row("a", -1, Outcome::Ok, None)];
        assert_eq!(counts(&account_rates(&history, "a", now()))[0], (1, 1));
    }

    #[test]
    fn many_accounts_are_counted_apart_in_one_pass() {
        let mut history = Vec::new();
        for i in 0..300_i64 {
            let account = format!("acct{}", i % 100);
            let failed = i % 3 == 0;
            let outcome = if failed { Outcome::Failed } else { Outcome::Ok };
            history.push(row(
                &account,
                i * 3600,
                outcome,
                failed.then_some("rate limited"),
            ));
        }
        let by_account = rates_by_account(&history, now());
        assert_eq!(by_account.len(), 100);
        for (name, rates) in &by_account {
            assert_eq!(*rates, account_rates(&history, name, now()), "{name}");
            assert_eq!(rates.windows[2].attempted, 3, "{name}");
        }
        // acct0 has rows 0 (failed: a multiple of 3), 100 and 200 hours ago.
        let acct0 = &by_account["acct0"];
        assert_eq!(counts(acct0), [(0, 1), (1, 2), (2, 3)]);
        assert_eq!(acct0.windows[2].failures["rate limited"], 1);
        assert!(!by_account.contains_key("nobody"));
    }

    #[test]
    fn extreme_clocks_do_not_overflow() {
        let mut rates = WindowStats::new("30d", LONGEST_WINDOW_SECS);
        rates.count(&row("a", 0, Outcome::Ok, None), i64::MIN);
        rates.count(&row("a", 0, Outcome::Ok, None), i64::MAX);
        assert_eq!(rates.attempted, 0);
    }
}
