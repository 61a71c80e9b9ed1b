//! The fleet table's order kept between frames, so a tick costs what the screen shows and not
//! what the fleet holds: an account's sort key is recomputed only when its snapshot changed or
//! the clock reached a time at which its urgency can change, and the previous order is sorted
//! again (nearly sorted already, so in about one pass) only when a key moved.

use std::fmt;
use std::sync::Arc;

use super::app::AccountView;
use super::fleet::{RowKey, SortKey, compare, state_rank};
use super::fleet_filter::{Subject, passes};
use crate::engine::AccountSnapshot;
use crate::engine::TokenClass;
use crate::engine::urgency::{self, Level, Windows};
use crate::graph::Expiry;

/// When sending stops, in a form that does not change as the clock runs: while an account
/// keeps its key, the order of `At` deadlines is the order of the seconds left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// Sending is down: no time left.
    Dead,
    /// Sending stops at this unix second (always after the clock the key was made at).
    At(i64),
    /// Never, or not known.
    Never,
}

/// What an account is sorted and counted by, apart from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Key {
    level: Level,
    stop: Stop,
    state_rank: u8,
    publishes: bool,
    /// The class is a filter word: a change must forget the filtered rows.
    class: TokenClass,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    key: Key,
    /// The key holds until this unix second (exclusive).
    valid_until: i64,
}

/// The listed accounts in table order, with counts over the whole fleet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetTable {
    /// Indices into `App::accounts`, filtered by name.
    pub rows: Arc<[usize]>,
    /// All accounts, listed or not.
    pub total: usize,
    /// Accounts per urgency level, indexed by [`level_slot`].
    counts: [usize; 4],
    /// Some account publishes its token somewhere (the publish column is drawn).
    pub publishing: bool,
    /// Some account's token class is known: the fleet shows the class column.
    pub classified: bool,
}

impl FleetTable {
    /// How many accounts (listed or not) are at `level`.
    pub fn count(&self, level: Level) -> usize {
        self.counts[level_slot(level)]
    }
}

fn level_slot(level: Level) -> usize {
    match level {
        Level::Ok => 0,
        Level::Warning => 1,
        Level::Unknown => 2,
        Level::Critical => 3,
    }
}

/// The cache behind [`FleetTable`]; see the module doc.
#[derive(Clone, Default)]
pub struct FleetIndex {
    entries: Vec<Entry>,
    /// Accounts whose snapshot changed since their key was made.
    touched: Vec<usize>,
    windows: Option<Windows>,
    /// The clock of the last refresh: a clock that goes back remakes every key.
    at: i64,
    /// The earliest `valid_until` of the entries.
    next_change: i64,
    /// Every account in the order of the sort key; `None` once a key moved.
    sorted: Option<(SortKey, Arc<[usize]>)>,
    /// The listed rows for a filter.
    listed: Option<(String, Arc<[usize]>)>,
    counts: [usize; 4],
    publishing: usize,
    /// Accounts whose class is known.
    classified: usize,
    /// Keys made since the index was created: tests count them.
    keys_made: u64,
}

impl fmt::Debug for FleetIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FleetIndex")
            .field("accounts", &self.entries.len())
            .field("next_change", &self.next_change)
            .field("keys_made", &self.keys_made)
            .finish_non_exhaustive()
    }
}

/// `Windows` in whole seconds, as `urgency` compares them.
fn secs(duration: std::time::Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}

/// The first second after `now` at which `urgency` can grade `snapshot` differently: a token
/// entering a window or dying. `i64::MAX` when nothing there depends on the clock.
fn next_change(snapshot: &AccountSnapshot, windows: &Windows, now: i64) -> i64 {
    let (critical, warn) = (secs(windows.critical_before), secs(windows.warn_before));
    [snapshot.access.as_ref(), snapshot.long_lived.as_deref()]
        .into_iter()
        .flatten()
        .filter_map(|inspection| match inspection.expiry() {
            Expiry::At(at) => Some(at),
            Expiry::Never | Expiry::Unknown => None,
        })
        .flat_map(|at| [at.saturating_sub(critical), at.saturating_sub(warn), at])
        .filter(|&at| at > now)
        .min()
        .unwrap_or(i64::MAX)
}

fn subject(view: &AccountView) -> Subject<'_> {
    Subject {
        name: view.name(),
        class: view.snapshot.token_class,
        purpose: view.snapshot.purpose,
        labels: &view.snapshot.labels,
    }
}

fn entry(view: &AccountView, windows: &Windows, now: i64) -> Entry {
    let snapshot = &view.snapshot;
    let urgency = urgency::urgency(snapshot, windows, now);
    let stop = match urgency.sending_stops_in {
        Some(secs) if secs > 0 => Stop::At(now.saturating_add(secs)),
        Some(_) => Stop::Dead,
        None => Stop::Never,
    };
    Entry {
        key: Key {
            level: urgency.level,
            stop,
            state_rank: state_rank(&snapshot.state),
            publishes: !snapshot.publish.is_empty(),
            class: snapshot.token_class,
        },
        valid_until: next_change(snapshot, windows, now),
    }
}

impl FleetIndex {
    /// `account`'s snapshot changed: its key is remade before the next table. Marks are
    /// bounded while no table is asked for (the account view): past one per account, the
    /// next table grades them all again instead.
    pub fn touch(&mut self, account: usize) {
        if self.touched.len() < self.entries.len() {
            self.touched.push(account);
        } else {
            self.entries.clear();
            self.touched.clear();
        }
    }

    /// The accounts changed under the index (a reload removed or added some): every key is
    /// made again for the next table.
    pub fn forget(&mut self) {
        self.entries.clear();
        self.touched.clear();
        self.sorted = None;
        self.listed = None;
    }

    /// An account's filter words (purpose, labels) changed: the filtered rows are made again.
    pub fn forget_filtered(&mut self) {
        self.listed = None;
    }

    /// Keys made so far (each costs an urgency grading).
    pub fn keys_made(&self) -> u64 {
        self.keys_made
    }

    /// The table of `accounts` at `now`, sorted by `sort` and filtered by `filter`.
    pub fn table(
        &mut self,
        accounts: &[AccountView],
        windows: Windows,
        now: i64,
        sort: SortKey,
        filter: &str,
    ) -> FleetTable {
        self.refresh(accounts, windows, now);
        let sorted = self.sorted(accounts, now, sort);
        let rows = self.listed(accounts, sorted, filter);
        FleetTable {
            rows,
            total: accounts.len(),
            counts: self.counts,
            publishing: self.publishing > 0,
            classified: self.classified > 0,
        }
    }

    /// Remakes the keys that may have changed; forgets the order when one did.
    fn refresh(&mut self, accounts: &[AccountView], windows: Windows, now: i64) {
        if self.windows != Some(windows) || now < self.at || self.entries.len() != accounts.len() {
            self.rebuild(accounts, windows, now);
            return;
        }
        self.at = now;
        let mut moved = false;
        let touched = std::mem::take(&mut self.touched);
        for account in touched {
            moved |= self.remake(accounts, account, &windows, now);
        }
        if now >= self.next_change {
            for account in 0..self.entries.len() {
                if now >= self.entries[account].valid_until {
                    moved |= self.remake(accounts, account, &windows, now);
                }
            }
            self.next_change = self
                .entries
                .iter()
                .map(|e| e.valid_until)
                .min()
                .unwrap_or(i64::MAX);
        }
        if moved {
            self.listed = None;
            if let Some((sort, _)) = &self.sorted {
                let sort = *sort;
                self.resort(accounts, now, sort);
            }
        }
    }

    fn rebuild(&mut self, accounts: &[AccountView], windows: Windows, now: i64) {
        self.entries = accounts
            .iter()
            .map(|view| entry(view, &windows, now))
            .collect();
        self.keys_made += accounts.len() as u64;
        self.touched.clear();
        self.windows = Some(windows);
        self.at = now;
        self.next_change = self
            .entries
            .iter()
            .map(|e| e.valid_until)
            .min()
            .unwrap_or(i64::MAX);
        self.counts = [0; 4];
        self.publishing = 0;
        self.classified = 0;
        for e in &self.entries {
            self.counts[level_slot(e.key.level)] += 1;
            self.publishing += usize::from(e.key.publishes);
            self.classified += usize::from(e.key.class != TokenClass::Unknown);
        }
        self.sorted = None;
        self.listed = None;
    }

    /// Remakes one key; true when it changed.
    fn remake(
        &mut self,
        accounts: &[AccountView],
        account: usize,
        windows: &Windows,
        now: i64,
    ) -> bool {
        let (Some(view), Some(old)) = (accounts.get(account), self.entries.get(account).copied())
        else {
            return false;
        };
        let new = entry(view, windows, now);
        self.keys_made += 1;
        self.next_change = self.next_change.min(new.valid_until);
        self.entries[account] = new;
        if new.key == old.key {
            return false;
        }
        self.counts[level_slot(old.key.level)] -= 1;
        self.counts[level_slot(new.key.level)] += 1;
        self.publishing =
            self.publishing + usize::from(new.key.publishes) - usize::from(old.key.publishes);
        let known = |key: &Key| usize::from(key.class != TokenClass::Unknown);
        self.classified = self.classified + known(&new.key) - known(&old.key);
        true
    }

    fn row_key<'a>(&self, accounts: &'a [AccountView], account: usize, now: i64) -> RowKey<'a> {
        let key = self.entries[account].key;
        RowKey {
            name: accounts[account].name(),
            level: key.level,
            secs_left: match key.stop {
                Stop::Dead => Some(0),
                Stop::At(at) => Some(at.saturating_sub(now)),
                Stop::Never => None,
            },
            state_rank: key.state_rank,
            class: key.class,
            purpose: accounts[account].snapshot.purpose,
            labels: &accounts[account].snapshot.labels,
        }
    }

    /// Sorts the previous order (or the accounts' own) again: with few keys moved the input is
    /// nearly sorted, which the standard library's merge sort takes in about one pass. Ties
    /// keep the accounts' own order, as sorting them afresh would.
    fn resort(&mut self, accounts: &[AccountView], now: i64, sort: SortKey) {
        let mut order: Vec<usize> = match &self.sorted {
            Some((_, order)) if order.len() == accounts.len() => order.to_vec(),
            _ => (0..accounts.len()).collect(),
        };
        order.sort_by(|&a, &b| {
            compare(
                &self.row_key(accounts, a, now),
                &self.row_key(accounts, b, now),
                sort,
            )
            .then(a.cmp(&b))
        });
        self.sorted = Some((sort, order.into()));
        self.listed = None;
    }

    fn sorted(&mut self, accounts: &[AccountView], now: i64, sort: SortKey) -> Arc<[usize]> {
        match &self.sorted {
            Some((was, order)) if *was == sort => Arc::clone(order),
            _ => {
                self.resort(accounts, now, sort);
                self.sorted
                    .as_ref()
                    .map_or_else(|| Arc::from([]), |(_, order)| Arc::clone(order))
            }
        }
    }

    fn listed(
        &mut self,
        accounts: &[AccountView],
        sorted: Arc<[usize]>,
        filter: &str,
    ) -> Arc<[usize]> {
        if filter.is_empty() {
            return sorted;
        }
        if let Some((was, rows)) = &self.listed
            && was == filter
        {
            return Arc::clone(rows);
        }
        let rows: Arc<[usize]> = sorted
            .iter()
            .copied()
            .filter(|&i| passes(&subject(&accounts[i]), filter))
            .collect();
        self.listed = Some((filter.to_string(), Arc::clone(&rows)));
        rows
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn accounts(count: usize) -> Vec<AccountView> {
        (0..count)
            .map(|i| AccountView::new(AccountSnapshot::new(&format!("acct{i}"))))
            .collect()
    }

    const WINDOWS: Windows = Windows {
        warn_before: Duration::from_secs(7 * 86_400),
        critical_before: Duration::from_secs(86_400),
    };

    #[test]
    fn marks_stay_bounded_while_no_table_is_asked_for() {
        let accounts = accounts(3);
        let mut index = FleetIndex::default();
        for _ in 0..10 {
            index.touch(1);
        }
        assert!(
            index.touched.is_empty(),
            "nothing to mark before a first table"
        );
        let table = index.table(&accounts, WINDOWS, 0, SortKey::Name, "");
        assert_eq!(*table.rows, [0, 1, 2]);
        assert_eq!(index.keys_made(), 3);
        for _ in 0..1_000 {
            index.touch(1);
        }
        assert!(index.touched.len() <= 3, "{}", index.touched.len());
        index.table(&accounts, WINDOWS, 0, SortKey::Name, "");
        assert!(
            index.keys_made() <= 3 + 3,
            "at most the whole fleet graded again: {}",
            index.keys_made()
        );
    }

    #[test]
    fn urgency_changes_at_the_windows_and_the_expiry_of_either_token() {
        let mut snapshot = AccountSnapshot::new("a");
        let inspection = |expires_at| crate::engine::Inspection {
            checked_at: chrono::DateTime::default(),
            info: crate::graph::TokenInfo {
                is_valid: true,
                expires_at: Some(expires_at),
                ..Default::default()
            },
        };
        snapshot.access = Some(inspection(10 * 86_400));
        snapshot.long_lived = Some(Box::new(inspection(20 * 86_400)));
        let at = |now| next_change(&snapshot, &WINDOWS, now);
        assert_eq!(at(0), 3 * 86_400, "the access token enters the warn window");
        assert_eq!(at(3 * 86_400), 9 * 86_400, "then the critical one");
        assert_eq!(at(9 * 86_400), 10 * 86_400, "then it dies");
        assert_eq!(
            at(10 * 86_400),
            13 * 86_400,
            "the long-lived token's windows"
        );
        assert_eq!(at(20 * 86_400), i64::MAX, "nothing left to change");
    }
}
