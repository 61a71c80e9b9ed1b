//! Match counts per pattern and per level over rolling windows, plus the latest matches.

use std::collections::VecDeque;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::patterns::Match;
use super::window::MinuteRing;
use crate::config::{PatternLevel, PatternRole};

/// Matching lines kept for display by default.
pub const DEFAULT_RECENT_MATCHES: usize = 500;

/// One remembered matching line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecentMatch {
    pub at: DateTime<Utc>,
    pub source: String,
    pub pattern_index: usize,
    pub pattern: String,
    pub level: PatternLevel,
    pub role: Option<PatternRole>,
    pub text: String,
}

/// Counters for a fixed pattern list; memory does not grow with the number of matches.
#[derive(Debug, Clone)]
pub struct PatternCounts {
    per_pattern: Vec<MinuteRing>,
    /// Indexed by `level_index`.
    per_level: [MinuteRing; 3],
    recent: VecDeque<RecentMatch>,
    recent_capacity: usize,
}

impl PatternCounts {
    /// Counters for `pattern_count` patterns (e.g. `PatternSet::patterns().len()`), keeping
    /// the last [`DEFAULT_RECENT_MATCHES`] matching lines.
    pub fn new(pattern_count: usize) -> Self {
        Self::with_recent_capacity(pattern_count, DEFAULT_RECENT_MATCHES)
    }

    pub fn with_recent_capacity(pattern_count: usize, recent_capacity: usize) -> Self {
        Self {
            per_pattern: vec![MinuteRing::new(); pattern_count],
            per_level: Default::default(),
            recent: VecDeque::with_capacity(recent_capacity.min(DEFAULT_RECENT_MATCHES)),
            recent_capacity,
        }
    }

    /// Counts one matching line received at `at` from `source`.
    pub fn record(&mut self, at: DateTime<Utc>, source: &str, text: &str, m: &Match) {
        if let Some(ring) = self.per_pattern.get_mut(m.index) {
            ring.add(at, 1);
        }
        self.per_level[level_index(m.level)].add(at, 1);
        if self.recent_capacity == 0 {
            return;
        }
        if self.recent.len() == self.recent_capacity {
            self.recent.pop_front();
        }
        self.recent.push_back(RecentMatch {
            at,
            source: source.to_string(),
            pattern_index: m.index,
            pattern: m.name.to_string(),
            level: m.level,
            role: m.role,
            text: text.to_string(),
        });
    }

    /// Matches of one pattern inside `window` at `now` (0 for an unknown index).
    pub fn pattern_count(&self, index: usize, window: Duration, now: DateTime<Utc>) -> u64 {
        self.per_pattern
            .get(index)
            .map_or(0, |ring| ring.sum(window, now))
    }

    /// Matches of all patterns of `level` inside `window` at `now`.
    pub fn level_count(&self, level: PatternLevel, window: Duration, now: DateTime<Utc>) -> u64 {
        self.per_level[level_index(level)].sum(window, now)
    }

    /// Per-span counts of one pattern (oldest first), for a sparkline.
    pub fn pattern_sparkline(
        &self,
        index: usize,
        buckets: usize,
        window: Duration,
        now: DateTime<Utc>,
    ) -> Vec<u64> {
        self.per_pattern
            .get(index)
            .map_or_else(|| vec![0; buckets], |r| r.spans(buckets, window, now))
    }

    /// The latest matching lines, oldest first.
    pub fn recent(&self) -> impl DoubleEndedIterator<Item = &RecentMatch> + ExactSizeIterator {
        self.recent.iter()
    }

    /// Time buckets held by all counters together (constant for a given pattern count).
    pub fn bucket_slots(&self) -> usize {
        self.per_pattern
            .iter()
            .chain(&self.per_level)
            .map(MinuteRing::slots)
            .sum()
    }
}

fn level_index(level: PatternLevel) -> usize {
    match level {
        PatternLevel::Ok => 0,
        PatternLevel::Warn => 1,
        PatternLevel::Error => 2,
    }
}
