//! Failures in bulk: an account whose messages fail by the dozen in one minute (Meta's status
//! webhooks) gets one history row for the burst, not one per message, and at most one row per
//! [`ROW_GAP_SECS`].
//!
//! Minutes are the receiving clock's (when the relay heard of the failures), so a burst is
//! closed when its minute has passed; every call takes the time, nothing here reads a clock.

use std::collections::HashMap;

use super::logs::StatusError;

/// An account's burst rows are at least this far apart; bursts in between are folded into the
/// next row's count.
pub const ROW_GAP_SECS: i64 = 10 * 60;
/// Error codes told apart within one minute of one account; more fold into the last one.
const CODES_PER_MINUTE: usize = 16;
const MINUTE_SECS: i64 = 60;

/// One burst of failed messages, for the account's history row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureBurst {
    pub account: String,
    /// Unix seconds at the start of the minute the failures came in.
    pub minute_start: i64,
    pub failed: u64,
    /// The most frequent error of the minute, with its title and count.
    pub top_code: Option<i64>,
    pub top_title: Option<String>,
    pub top_count: u64,
    /// Failures of earlier bursts that got no row of their own (within [`ROW_GAP_SECS`] of
    /// the previous row).
    pub folded: u64,
}

impl FailureBurst {
    /// The row's detail: `412 messages failed in one minute (12:03 UTC, Meta's status
    /// webhooks); most with 131047 Re-engagement message (400)`.
    pub fn describe(&self) -> String {
        let minute = chrono::DateTime::from_timestamp(self.minute_start, 0)
            .map(|t| t.format("%H:%M UTC").to_string())
            .unwrap_or_default();
        let mut text = format!(
            "{} messages failed in one minute ({minute}, Meta's status webhooks)",
            self.failed
        );
        if let Some(code) = self.top_code {
            let title = self.top_title.as_deref().filter(|t| !t.is_empty());
            text.push_str(&match title {
                Some(title) => format!("; most with {code} {title} ({})", self.top_count),
                None => format!("; most with {code} ({})", self.top_count),
            });
        }
        if self.folded > 0 {
            text.push_str(&format!(
                "; {} more failed in bursts since the last such row",
                self.folded
            ));
        }
        text
    }
}

#[derive(Debug, Default)]
struct Minute {
    minute: i64,
    failed: u64,
    /// (code, title, count), in the order first seen.
    codes: Vec<(i64, Option<String>, u64)>,
}

#[derive(Debug, Default)]
struct AccountWatch {
    current: Option<Minute>,
    last_row_at: Option<i64>,
    folded: u64,
}

/// Failures per account and minute, turned into [`FailureBurst`]s.
#[derive(Debug)]
pub(crate) struct BurstWatch {
    /// 0: no burst rows.
    threshold: u64,
    accounts: HashMap<String, AccountWatch>,
}

impl BurstWatch {
    pub fn new(threshold: u64) -> Self {
        Self {
            threshold,
            accounts: HashMap::new(),
        }
    }

    /// One failed message of `account` heard of at `now_unix`; a minute of the account that
    /// ended is closed first (its burst, if any, is returned).
    pub fn failed(
        &mut self,
        account: &str,
        errors: &[StatusError],
        now_unix: i64,
    ) -> Option<FailureBurst> {
        if self.threshold == 0 {
            return None;
        }
        let minute = now_unix.div_euclid(MINUTE_SECS);
        let threshold = self.threshold;
        let watch = match self.accounts.get_mut(account) {
            Some(watch) => watch,
            None => self.accounts.entry(account.to_string()).or_default(),
        };
        let closed = match &watch.current {
            Some(current) if current.minute < minute => close(account, watch, threshold, now_unix),
            _ => None,
        };
        let current = watch.current.get_or_insert_with(|| Minute {
            minute,
            ..Minute::default()
        });
        current.failed += 1;
        let error = errors.first();
        let code = error.map_or(0, |e| e.code);
        let full = current.codes.len() >= CODES_PER_MINUTE;
        match current.codes.iter().position(|(c, _, _)| *c == code) {
            Some(index) => current.codes[index].2 += 1,
            None if !full => current
                .codes
                .push((code, error.and_then(|e| e.title.clone()), 1)),
            None => {
                if let Some(last) = current.codes.last_mut() {
                    last.2 += 1;
                }
            }
        }
        closed
    }

    /// Closes every minute that has ended by `now_unix`; returns the bursts among them.
    pub fn tick(&mut self, now_unix: i64) -> Vec<FailureBurst> {
        let minute = now_unix.div_euclid(MINUTE_SECS);
        let threshold = self.threshold;
        let mut bursts = Vec::new();
        for (account, watch) in &mut self.accounts {
            if watch.current.as_ref().is_some_and(|m| m.minute < minute)
                && let Some(burst) = close(account, watch, threshold, now_unix)
            {
                bursts.push(burst);
            }
        }
        bursts.sort_by(|a, b| a.account.cmp(&b.account));
        bursts
    }
}

/// Ends the account's current minute: a burst when it reached the threshold and no row was
/// written in the last [`ROW_GAP_SECS`], else its failures fold into the next row.
fn close(
    account: &str,
    watch: &mut AccountWatch,
    threshold: u64,
    now_unix: i64,
) -> Option<FailureBurst> {
    let minute = watch.current.take()?;
    if minute.failed < threshold {
        return None;
    }
    if watch
        .last_row_at
        .is_some_and(|at| now_unix - at < ROW_GAP_SECS)
    {
        watch.folded = watch.folded.saturating_add(minute.failed);
        return None;
    }
    watch.last_row_at = Some(now_unix);
    let top = minute
        .codes
        .into_iter()
        .reduce(|best, next| if next.2 > best.2 { next } else { best });
    let (top_code, top_title, top_count) = match top {
        Some((code, title, count)) => (Some(code), title, count),
        None => (None, None, 0),
    };
    Some(FailureBurst {
        account: account.to_string(),
        minute_start: minute.minute * MINUTE_SECS,
        failed: minute.failed,
        top_code,
        top_title,
        top_count,
        folded: std::mem::take(&mut watch.folded),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_796_375_700; // a whole minute
    const RE_ENGAGEMENT: i64 = 131_047;

    fn error(code: i64, title: &str) -> Vec<StatusError> {
        vec![StatusError {
            code,
            title: Some(title.to_string()),
            message: None,
            details: None,
        }]
    }

    /// `n` failures of `account` at `at`, mostly 131047, a few 131026.
    fn fail(watch: &mut BurstWatch, account: &str, n: u64, at: i64) -> Vec<FailureBurst> {
        let mut closed = Vec::new();
        for i in 0..n {
            let errors = if i % 5 == 4 {
                error(131_026, "Message undeliverable")
            } else {
                error(RE_ENGAGEMENT, "Re-engagement message")
            };
            closed.extend(watch.failed(account, &errors, at));
        }
        closed
    }

    #[test]
    fn a_minute_over_the_threshold_is_one_burst_with_its_count_and_top_error() {
        assert_eq!(T0 % 60, 0);
        let mut watch = BurstWatch::new(10);
        assert!(fail(&mut watch, "shop", 25, T0 + 5).is_empty());
        assert!(fail(&mut watch, "other", 9, T0 + 10).is_empty());
        // Still inside the minute: nothing closes.
        assert!(watch.tick(T0 + 59).is_empty());
        let bursts = watch.tick(T0 + 61);
        assert_eq!(bursts.len(), 1, "{bursts:?}");
        let burst = &bursts[0];
        assert_eq!(burst.account, "shop");
        assert_eq!((burst.failed, burst.minute_start), (25, T0));
        assert_eq!(burst.top_code, Some(RE_ENGAGEMENT));
        assert_eq!(burst.top_count, 20);
        assert_eq!(
            burst.describe(),
            format!(
                "25 messages failed in one minute ({}, Meta's status webhooks); most with 131047 Re-engagement message (20)",
                chrono::DateTime::from_timestamp(T0, 0)
                    .unwrap()
                    .format("%H:%M UTC")
            )
        );
        assert!(watch.tick(T0 + 120).is_empty(), "closed once");
    }

    #[test]
    fn bursts_within_ten_minutes_fold_into_the_next_row() {
        let mut watch = BurstWatch::new(10);
        fail(&mut watch, "shop", 12, T0);
        assert_eq!(watch.tick(T0 + 60).len(), 1);
        // Two more bursts within ten minutes of that row: no rows, counted.
        fail(&mut watch, "shop", 30, T0 + 120);
        // A failure in a later minute closes the earlier one on the way.
        assert!(fail(&mut watch, "shop", 15, T0 + 300).is_empty());
        assert!(watch.tick(T0 + 360).is_empty());
        // Past the gap, the next burst's row carries them.
        fail(&mut watch, "shop", 11, T0 + 60 + ROW_GAP_SECS);
        let bursts = watch.tick(T0 + 120 + ROW_GAP_SECS);
        assert_eq!(bursts.len(), 1);
        assert_eq!((bursts[0].failed, bursts[0].folded), (11, 45));
        assert!(
            bursts[0]
                .describe()
                .ends_with("; 45 more failed in bursts since the last such row")
        );
    }

    #[test]
    fn a_later_failure_closes_the_earlier_minute_and_zero_turns_it_off() {
        let mut watch = BurstWatch::new(3);
        fail(&mut watch, "shop", 3, T0);
        let closed = watch.failed("shop", &[], T0 + 65);
        assert_eq!(closed.map(|b| b.failed), Some(3));
        let mut off = BurstWatch::new(0);
        assert!(fail(&mut off, "shop", 100, T0).is_empty());
        assert!(off.tick(T0 + 600).is_empty());
    }
}
