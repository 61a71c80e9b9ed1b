//! Failed sends through the proxy, folded to at most one history row per account, error code
//! and minute: an application failing a thousand sends a second must not push the refresh
//! rows out of a history that is compacted by size. Every send is still counted in the
//! delivery panel and `/metrics`; only the rows are folded. Pure.

use std::collections::HashMap;

/// Distinct (account, code) pairs remembered at most; past it the memory starts over (a row
/// too many, never an unbounded map).
const MAX_KEYS: usize = 4096;

/// Whether a failed send gets its own history row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendRow {
    /// Write a row; `folded` failures like it were not written in its previous minute.
    Write { folded: u64 },
    /// Another row of this account and code was written this minute: count it, write nothing.
    Fold,
}

#[derive(Debug, Clone, Copy)]
struct Minute {
    index: i64,
    folded: u64,
}

/// The rows written per (account, code) in the current minute.
#[derive(Debug, Default)]
pub struct SendRowLimiter {
    minutes: HashMap<(String, Option<i64>), Minute>,
}

impl SendRowLimiter {
    /// Decides for a failed send of `account` with Meta's `code` at `now_unix`.
    pub fn failed(&mut self, account: &str, code: Option<i64>, now_unix: i64) -> SendRow {
        let index = now_unix.div_euclid(60);
        let key = (account.to_string(), code);
        if let Some(minute) = self.minutes.get_mut(&key) {
            if minute.index == index {
                minute.folded = minute.folded.saturating_add(1);
                return SendRow::Fold;
            }
            let folded = minute.folded;
            *minute = Minute { index, folded: 0 };
            return SendRow::Write { folded };
        }
        if self.minutes.len() >= MAX_KEYS {
            self.minutes.clear();
        }
        self.minutes.insert(key, Minute { index, folded: 0 });
        SendRow::Write { folded: 0 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_900_000_020;

    #[test]
    fn one_row_per_account_code_and_minute_with_the_fold_count_on_the_next() {
        let mut rows = SendRowLimiter::default();
        assert_eq!(
            rows.failed("a", Some(131026), T),
            SendRow::Write { folded: 0 }
        );
        for _ in 0..999 {
            assert_eq!(rows.failed("a", Some(131026), T + 1), SendRow::Fold);
        }
        // Another code, another account: rows of their own.
        assert_eq!(
            rows.failed("a", Some(130429), T),
            SendRow::Write { folded: 0 }
        );
        assert_eq!(
            rows.failed("b", Some(131026), T),
            SendRow::Write { folded: 0 }
        );
        assert_eq!(
            rows.failed("a", Some(131026), T + 60),
            SendRow::Write { folded: 999 }
        );
        assert_eq!(rows.failed("a", Some(131026), T + 61), SendRow::Fold);
    }

    #[test]
    fn memory_stays_bounded_whatever_the_codes() {
        let mut rows = SendRowLimiter::default();
        for code in 0..(3 * MAX_KEYS as i64) {
            rows.failed("a", Some(code), T);
        }
        assert!(rows.minutes.len() <= MAX_KEYS);
    }
}
