//! The fleet view's state: which view is shown, the sort key, the name filter, and the pure
//! rules for ordering the accounts and moving the selection. The selection is `App::selected`,
//! the same account the account view shows, so Enter and Esc keep it.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use super::app::App;
use super::fleet_filter::{Subject, passes};
use super::fleet_index::FleetTable;
use crate::config::Purpose;
use crate::engine::urgency::{self, Level, Windows};
use crate::engine::{TokenClass, TokenState};

/// Above this many accounts the dashboard opens on the fleet view.
pub const FLEET_DEFAULT_ABOVE: usize = 6;
/// Rows of the screen that are not fleet rows: the two borders and the column header.
const FLEET_CHROME_ROWS: u16 = 3;

/// Which screen the dashboard shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// One account: countdowns, history, delivery, logs.
    Account,
    /// All accounts in one table.
    Fleet,
}

/// The order of the fleet table; `s` goes to the next one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SortKey {
    /// Urgency level (critical first), then the least time left.
    #[default]
    Worst,
    Name,
    /// Least time until sending stops first; never / unknown last.
    TimeLeft,
    /// Down states first, then backoff, refreshing, expiring, unknown, valid, never.
    State,
}

impl SortKey {
    pub fn next(self) -> Self {
        match self {
            SortKey::Worst => SortKey::Name,
            SortKey::Name => SortKey::TimeLeft,
            SortKey::TimeLeft => SortKey::State,
            SortKey::State => SortKey::Worst,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            SortKey::Worst => "worst",
            SortKey::Name => "name",
            SortKey::TimeLeft => "time left",
            SortKey::State => "state",
        }
    }
}

/// What the fleet view remembers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fleet {
    pub sort: SortKey,
    /// The filter words ([`super::fleet_filter`]): a name part, `class=`, `purpose=` or a
    /// `label=value`; empty lists all.
    pub filter: String,
    /// The `/` prompt is open: typed characters go to the filter.
    pub editing: bool,
    /// The fleet has been on screen: Esc in the account view goes back to it.
    pub shown: bool,
    /// The operator chose the selection; until then the cursor is on the top (worst) row.
    pub picked: bool,
}

/// What an account is sorted and filtered by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowKey<'a> {
    pub name: &'a str,
    pub level: Level,
    /// Seconds until sending stops (0 once dead); `None` when never or not known.
    pub secs_left: Option<i64>,
    /// [`state_rank`] of the state.
    pub state_rank: u8,
    /// What the filter reads besides the name.
    pub class: TokenClass,
    pub purpose: Purpose,
    pub labels: &'a BTreeMap<String, String>,
}

impl<'a> RowKey<'a> {
    /// What the fleet filter reads of this account.
    pub fn subject(&self) -> Subject<'a> {
        Subject {
            name: self.name,
            class: self.class,
            purpose: self.purpose,
            labels: self.labels,
        }
    }
}

/// A selection move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Move {
    Up,
    Down,
    PageUp,
    PageDown,
    Home,
    End,
}

/// Worst state first: the ones where sending is down or nobody refreshes any more.
pub fn state_rank(state: &TokenState) -> u8 {
    match state {
        TokenState::Expired
        | TokenState::Invalid { .. }
        | TokenState::Failed { .. }
        | TokenState::Revoked { .. } => 0,
        TokenState::ReauthRequired { .. } => 1,
        TokenState::Backoff { .. } => 2,
        TokenState::Refreshing => 3,
        TokenState::Expiring => 4,
        TokenState::Unknown => 5,
        TokenState::Valid => 6,
        TokenState::NeverExpires => 7,
    }
}

fn by_time(a: &RowKey, b: &RowKey) -> Ordering {
    let secs = |k: &RowKey| k.secs_left.unwrap_or(i64::MAX);
    secs(a).cmp(&secs(b))
}

/// Names in any case (`Foxtrot` between `echo` and `golf`), ties by the exact spelling.
fn by_name(a: &str, b: &str) -> Ordering {
    folded(a).cmp(folded(b)).then_with(|| a.cmp(b))
}

fn folded(name: &str) -> impl Iterator<Item = char> + '_ {
    name.chars().flat_map(char::to_lowercase)
}

/// The table order of two accounts; names are compared only on a tie (most of a sort's work
/// in a fleet of equally healthy accounts).
pub(super) fn compare(a: &RowKey, b: &RowKey, sort: SortKey) -> Ordering {
    let worse = b.level.cmp(&a.level);
    let name = || by_name(a.name, b.name);
    match sort {
        SortKey::Worst => worse.then_with(|| by_time(a, b)).then_with(name),
        SortKey::Name => name(),
        SortKey::TimeLeft => by_time(a, b).then(worse).then_with(name),
        SortKey::State => a
            .state_rank
            .cmp(&b.state_rank)
            .then(worse)
            .then_with(|| by_time(a, b))
            .then_with(name),
    }
}

/// True when `name` passes a name filter: it contains `filter`, in any case (the whole
/// filter, with class and label words, is [`passes`]).
pub fn matches(name: &str, filter: &str) -> bool {
    filter.is_empty() || name.to_lowercase().contains(&filter.to_lowercase())
}

/// Indices into `keys` of the rows to list, in table order.
pub fn order(keys: &[RowKey], sort: SortKey, filter: &str) -> Vec<usize> {
    let mut rows: Vec<usize> = (0..keys.len())
        .filter(|&i| passes(&keys[i].subject(), filter))
        .collect();
    rows.sort_by(|&a, &b| compare(&keys[a], &keys[b], sort));
    rows
}

/// The account selected after `step` from `selected` in `rows` (table order); the first row
/// when `selected` is not listed, `None` when nothing is.
pub fn moved(rows: &[usize], selected: usize, step: Move, page: usize) -> Option<usize> {
    let last = rows.len().checked_sub(1)?;
    let position = rows.iter().position(|&r| r == selected);
    let target = match (step, position) {
        (Move::Home, _) | (_, None) => 0,
        (Move::End, _) => last,
        (Move::Up, Some(p)) => p.saturating_sub(1),
        (Move::Down, Some(p)) => (p + 1).min(last),
        (Move::PageUp, Some(p)) => p.saturating_sub(page.max(1)),
        (Move::PageDown, Some(p)) => p.saturating_add(page.max(1)).min(last),
    };
    rows.get(target).copied()
}

/// `selected` when it is listed, else the first listed account.
pub fn kept(rows: &[usize], selected: usize) -> Option<usize> {
    if rows.contains(&selected) {
        Some(selected)
    } else {
        rows.first().copied()
    }
}

/// Fleet rows that fit on a screen `height` rows high (at least one).
pub fn page_rows(height: u16) -> usize {
    usize::from(height.saturating_sub(FLEET_CHROME_ROWS).max(1))
}

impl App {
    /// The dashboard's `[refresh]` warn and critical windows.
    pub fn windows(&self) -> Windows {
        Windows {
            warn_before: self.warn_before,
            critical_before: self.critical_before,
        }
    }

    /// The account's urgency now, by the one rule `check` uses.
    pub fn urgency_of(&self, index: usize) -> Option<urgency::Urgency> {
        let view = self.accounts.get(index)?;
        Some(urgency::urgency(
            &view.snapshot,
            &self.windows(),
            self.now.timestamp(),
        ))
    }

    /// Sort and filter keys of every account, in `accounts` order.
    pub fn fleet_keys(&self) -> Vec<RowKey<'_>> {
        let windows = self.windows();
        let now = self.now.timestamp();
        self.accounts
            .iter()
            .map(|view| {
                let urgency = urgency::urgency(&view.snapshot, &windows, now);
                RowKey {
                    name: view.name(),
                    level: urgency.level,
                    secs_left: urgency.sending_stops_in,
                    state_rank: state_rank(&view.snapshot.state),
                    class: view.snapshot.token_class,
                    purpose: view.snapshot.purpose,
                    labels: &view.snapshot.labels,
                }
            })
            .collect()
    }

    /// The accounts the fleet table lists, in its order (indices into `accounts`).
    pub fn fleet_rows(&self) -> Vec<usize> {
        self.fleet_table().rows.to_vec()
    }

    /// The fleet table now: the listed rows in order, and counts over all accounts. Kept
    /// between calls ([`super::fleet_index`]): the same as [`order`] of [`Self::fleet_keys`],
    /// without grading every account on every call.
    pub fn fleet_table(&self) -> FleetTable {
        self.fleet_index.borrow_mut().table(
            &self.accounts,
            self.windows(),
            self.now.timestamp(),
            self.fleet.sort,
            &self.fleet.filter,
        )
    }

    /// Accounts graded for the fleet's order since the dashboard started (a test counts them).
    pub fn fleet_keys_made(&self) -> u64 {
        self.fleet_index.borrow().keys_made()
    }

    /// The account the fleet's cursor is on among `rows`: the top row until the operator
    /// picks one, then the selected account while it is listed, else the top row.
    pub fn fleet_cursor(&self, rows: &[usize]) -> Option<usize> {
        if self.fleet.picked {
            kept(rows, self.selected)
        } else {
            rows.first().copied()
        }
    }

    /// The fleet key and Esc-to-fleet are worth showing: many accounts, or the fleet was used.
    pub fn fleet_offered(&self) -> bool {
        self.accounts.len() > FLEET_DEFAULT_ABOVE || self.fleet.shown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static NO_LABELS: BTreeMap<String, String> = BTreeMap::new();

    fn key(name: &str, level: Level, secs_left: Option<i64>, state_rank: u8) -> RowKey<'_> {
        RowKey {
            name,
            level,
            secs_left,
            state_rank,
            class: TokenClass::Unknown,
            purpose: Purpose::Both,
            labels: &NO_LABELS,
        }
    }

    fn names(keys: &[RowKey], sort: SortKey, filter: &str) -> Vec<String> {
        order(keys, sort, filter)
            .into_iter()
            .map(|i| keys[i].name.to_string())
            .collect()
    }

    fn sample() -> Vec<RowKey<'static>> {
        vec![
            key("alpha", Level::Ok, Some(40 * 86_400), 6),
            key("bravo", Level::Critical, Some(0), 1),
            key("charlie", Level::Warning, Some(3 * 86_400), 4),
            key("delta", Level::Critical, Some(3600), 4),
            key("echo", Level::Unknown, None, 5),
            key("Foxtrot", Level::Ok, None, 7),
            key("golf", Level::Warning, Some(30 * 86_400), 2),
        ]
    }

    #[test]
    fn worst_first_is_level_then_time_left_then_name() {
        assert_eq!(
            names(&sample(), SortKey::Worst, ""),
            [
                "bravo", "delta", "echo", "charlie", "golf", "alpha", "Foxtrot"
            ]
        );
    }

    #[test]
    fn the_other_sort_keys() {
        let keys = sample();
        assert_eq!(
            names(&keys, SortKey::Name, ""),
            [
                "alpha", "bravo", "charlie", "delta", "echo", "Foxtrot", "golf"
            ]
        );
        assert_eq!(
            names(&keys, SortKey::TimeLeft, ""),
            [
                "bravo", "delta", "charlie", "golf", "alpha", "echo", "Foxtrot"
            ],
            "never / unknown last, the worse of those first"
        );
        assert_eq!(
            names(&keys, SortKey::State, ""),
            [
                "bravo", "golf", "delta", "charlie", "echo", "alpha", "Foxtrot"
            ]
        );
    }

    #[test]
    fn sort_keys_cycle_back_to_worst() {
        let mut sort = SortKey::default();
        let mut seen = Vec::new();
        for _ in 0..4 {
            seen.push(sort.label());
            sort = sort.next();
        }
        assert_eq!(seen, ["worst", "name", "time left", "state"]);
        assert_eq!(sort, SortKey::Worst);
    }

    #[test]
    fn the_filter_narrows_by_name_in_any_case() {
        let keys = sample();
        assert_eq!(
            names(&keys, SortKey::Name, "O"),
            ["bravo", "echo", "Foxtrot", "golf"]
        );
        assert_eq!(names(&keys, SortKey::Worst, "fox"), ["Foxtrot"]);
        assert!(names(&keys, SortKey::Worst, "zulu").is_empty());
        assert!(matches("Production-EU", "on-e"));
        assert!(matches("anything", ""));
        assert!(!matches("staging", "prod"));
    }

    #[test]
    fn the_selection_moves_within_the_listed_rows() {
        let rows = [4, 2, 7, 0, 9];
        assert_eq!(moved(&rows, 2, Move::Down, 10), Some(7));
        assert_eq!(moved(&rows, 2, Move::Up, 10), Some(4));
        assert_eq!(moved(&rows, 4, Move::Up, 10), Some(4), "stops at the top");
        assert_eq!(moved(&rows, 9, Move::Down, 10), Some(9), "stops at the end");
        assert_eq!(moved(&rows, 4, Move::PageDown, 2), Some(7));
        assert_eq!(moved(&rows, 7, Move::PageDown, 10), Some(9));
        assert_eq!(moved(&rows, 0, Move::PageUp, 2), Some(2));
        assert_eq!(
            moved(&rows, 0, Move::PageUp, 0),
            Some(7),
            "a page is a row at least"
        );
        assert_eq!(moved(&rows, 0, Move::Home, 10), Some(4));
        assert_eq!(moved(&rows, 4, Move::End, 10), Some(9));
        assert_eq!(
            moved(&rows, 5, Move::Down, 10),
            Some(4),
            "unlisted: the first row"
        );
        assert_eq!(moved(&[], 0, Move::Down, 10), None);
    }

    #[test]
    fn a_filtered_out_selection_falls_to_the_first_row() {
        assert_eq!(kept(&[3, 1], 1), Some(1));
        assert_eq!(kept(&[3, 1], 2), Some(3));
        assert_eq!(kept(&[], 2), None);
    }

    #[test]
    fn pages_leave_room_for_borders_and_header() {
        assert_eq!(page_rows(24), 21);
        assert_eq!(page_rows(2), 1);
    }
}
