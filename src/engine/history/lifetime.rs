//! The token lifetime series: time left on an account's access token over time, folded from its history rows.
//!
//! Between two rows that learned an expiry the time left falls one second per second, so the
//! fold keeps only the moments the expiry changed (a refresh, an exchange, an inspection that
//! saw a different token) and the failed refreshes; [`Lifetime::window`] turns them into the
//! points of a sawtooth over a span ending at `now`. Pure: every time is passed in, all
//! arithmetic saturates, and rows out of order or in the future cannot make a line run
//! backwards or past `now`.

use std::collections::VecDeque;

use crate::engine::history::{HistoryEntry, HistoryEvent, Outcome};
use crate::graph::Expiry;

/// Expiry changes and failures kept per account: far more than a chart has columns, and a
/// bound on memory with 10k history rows of 100 accounts.
pub const MAX_POINTS: usize = 2048;

/// The spans a chart picks from: the shortest that holds all the history, at most 90 days
/// (the short ones for short-lived tokens, like the demo's one-minute ones).
pub const SPANS_SECS: [i64; 9] = [
    5 * 60,
    15 * 60,
    3600,
    6 * 3600,
    24 * 3600,
    3 * 86_400,
    7 * 86_400,
    30 * 86_400,
    90 * 86_400,
];

/// When the token in use lapses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lapse {
    /// Unix seconds.
    At(i64),
    Never,
}

impl Lapse {
    /// The lapse of a known expiry; `None` for an unknown one.
    pub fn of(expiry: Expiry) -> Option<Self> {
        match expiry {
            Expiry::At(at) => Some(Self::At(at)),
            Expiry::Never => Some(Self::Never),
            Expiry::Unknown => None,
        }
    }

    /// Seconds left at `at`, never below zero; `None` when it never lapses.
    fn left_at(self, at: i64) -> Option<i64> {
        match self {
            Self::At(expires) => Some(expires.saturating_sub(at).max(0)),
            Self::Never => None,
        }
    }
}

/// From `at` on, the token in use lapses at `lapse`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    pub at: i64,
    pub lapse: Lapse,
}

/// One account's expiry changes and failed refreshes, oldest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Lifetime {
    changes: VecDeque<Change>,
    failures: VecDeque<i64>,
}

/// What a chart of one span draws; times are unix seconds, values seconds left.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LifetimeWindow {
    pub from: i64,
    pub now: i64,
    /// Continuous polylines of `(time, seconds left)`; a refresh is a vertical step inside
    /// one, a stretch with a never-expiring token ends one.
    pub lines: Vec<Vec<(i64, i64)>>,
    /// Failed refreshes at `(time, seconds left then)`; a never-expiring token's at the top.
    pub failures: Vec<(i64, i64)>,
    /// Times the expiry moved later inside the span (refreshes and exchanges that worked).
    pub renewals: usize,
    /// The most seconds left anywhere in the span (at least 1, for the axis).
    pub max_left: i64,
    /// The token in use at `now` never expires.
    pub never: bool,
}

impl Lifetime {
    /// The series of history rows (any order; rows of other accounts must be left out).
    pub fn from_history<'a>(entries: impl IntoIterator<Item = &'a HistoryEntry>) -> Self {
        let mut lifetime = Self::default();
        for entry in entries {
            lifetime.push(entry);
        }
        lifetime
    }

    /// Folds in one row: refreshes and inspections that learned an expiry, failed refreshes.
    pub fn push(&mut self, entry: &HistoryEntry) {
        let at = entry.time.timestamp();
        match (entry.event(), entry.outcome) {
            (HistoryEvent::Refresh, Outcome::Failed) => {
                let index = self.failures.partition_point(|f| *f <= at);
                self.failures.insert(index, at);
                if self.failures.len() > MAX_POINTS {
                    self.failures.pop_front();
                }
            }
            (HistoryEvent::Refresh | HistoryEvent::Inspect, Outcome::Ok) => {
                if let Some(lapse) = entry.new_expires_at.and_then(Lapse::of) {
                    self.change(at, lapse);
                }
            }
            _ => {}
        }
    }

    /// Rows usually arrive in time order; one that does not is put where it belongs.
    fn change(&mut self, at: i64, lapse: Lapse) {
        let index = self.changes.partition_point(|c| c.at <= at);
        if index > 0 && self.changes[index - 1].lapse == lapse {
            return;
        }
        self.changes.insert(index, Change { at, lapse });
        if self.changes.len() > MAX_POINTS {
            self.changes.pop_front();
        }
    }

    pub fn is_empty(&self) -> bool {
        self.changes.is_empty() && self.failures.is_empty()
    }

    /// The shortest of [`SPANS_SECS`] that reaches back to the oldest point, else the longest.
    pub fn span_secs(&self, now: i64) -> i64 {
        let oldest = [
            self.changes.front().map(|c| c.at),
            self.failures.front().copied(),
        ]
        .into_iter()
        .flatten()
        .min();
        let age = oldest.map_or(0, |at| now.saturating_sub(at));
        SPANS_SECS
            .into_iter()
            .find(|span| *span >= age)
            .unwrap_or(SPANS_SECS[SPANS_SECS.len() - 1])
    }

    /// The sawtooth over the `span_secs` before `now`, ending in `current` (the expiry the
    /// latest inspection saw) when it is known. Points later than `now` are drawn at `now`.
    pub fn window(&self, span_secs: i64, now: i64, current: Option<Expiry>) -> LifetimeWindow {
        let from = now.saturating_sub(span_secs.max(1));
        let runs = self.runs(from, now, current.and_then(Lapse::of));
        let mut window = LifetimeWindow {
            from,
            now,
            never: runs.last().is_some_and(|(_, lapse)| *lapse == Lapse::Never),
            renewals: renewals(&runs),
            ..LifetimeWindow::default()
        };
        window.lines = polylines(&runs, now);
        window.max_left = window
            .lines
            .iter()
            .flatten()
            .map(|(_, left)| *left)
            .max()
            .unwrap_or(0)
            .max(1);
        window.failures = self
            .failures
            .iter()
            .filter(|at| **at >= from)
            .map(|at| {
                let at = (*at).min(now);
                (at, left_at(&runs, at, window.max_left))
            })
            .collect();
        window
    }

    /// `(start, lapse)` of each stretch inside `[from, now]`: the one already running at
    /// `from`, every change after it, and `current` when it differs from the last.
    fn runs(&self, from: i64, now: i64, current: Option<Lapse>) -> Vec<(i64, Lapse)> {
        let first_inside = self.changes.partition_point(|c| c.at <= from);
        let mut runs = Vec::new();
        if first_inside > 0 {
            runs.push((from, self.changes[first_inside - 1].lapse));
        }
        runs.extend(
            self.changes
                .range(first_inside..)
                .map(|c| (c.at.min(now), c.lapse)),
        );
        if let Some(current) = current
            && runs.last().map(|(_, lapse)| *lapse) != Some(current)
        {
            runs.push((now, current));
        }
        runs
    }
}

/// Stretches whose lapse is later than the one before.
fn renewals(runs: &[(i64, Lapse)]) -> usize {
    runs.windows(2)
        .filter(|pair| match (pair[0].1, pair[1].1) {
            (Lapse::At(old), Lapse::At(new)) => new > old,
            (Lapse::At(_), Lapse::Never) => true,
            (Lapse::Never, _) => false,
        })
        .count()
}

/// The falling lines of the runs, joined by the vertical steps between them; a run that
/// never lapses has no line and breaks the polyline.
fn polylines(runs: &[(i64, Lapse)], now: i64) -> Vec<Vec<(i64, i64)>> {
    let mut lines = Vec::new();
    let mut line: Vec<(i64, i64)> = Vec::new();
    for (index, (start, lapse)) in runs.iter().enumerate() {
        let end = runs.get(index + 1).map_or(now, |(next, _)| *next);
        match lapse {
            Lapse::Never => {
                if !line.is_empty() {
                    lines.push(std::mem::take(&mut line));
                }
            }
            Lapse::At(expires) => {
                line.push((*start, expires.saturating_sub(*start).max(0)));
                // The line reaches zero where the token expired and stays there.
                if *expires > *start && *expires < end {
                    line.push((*expires, 0));
                }
                line.push((end, expires.saturating_sub(end).max(0)));
            }
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// Seconds left at `at` by the run in force then: 0 before the first run (nothing known),
/// `top` while the token never expires.
fn left_at(runs: &[(i64, Lapse)], at: i64, top: i64) -> i64 {
    let index = runs.partition_point(|(start, _)| *start <= at);
    match index.checked_sub(1).and_then(|i| runs.get(i)) {
        None => 0,
        Some((_, lapse)) => lapse.left_at(at).unwrap_or(top),
    }
}

#[cfg(test)]
#[path = "lifetime_tests.rs"]
mod tests;
