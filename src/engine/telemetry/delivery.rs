//! Delivery success rates over rolling 15 min / 1 h / 24 h windows, per source, in fixed memory.
//!
//! Every call takes the time explicitly (`at` or `now`): nothing here reads the clock, so the
//! windows are tested with an injected clock. Counts live in one-minute buckets (see
//! `MinuteRing`); windows longer than 24 h are clamped to 24 h.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::engine::logs::window::MinuteRing;
use crate::engine::logs::{OutcomeTransition, StatusOutcome};

/// Distinct failure codes remembered; the one seen longest ago makes room for a new one.
pub const MAX_FAILURE_CODES: usize = 32;

/// Where a delivery outcome was learned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeliverySource {
    /// The app's logs: patterns with a delivered/failed role, and status webhooks.
    Logs,
    /// tokentop's own test sends.
    TestSends,
    /// The WABA's `analytics` (sent vs delivered).
    Analytics,
    /// Message sends through the Graph API proxy (`[proxy]`): accepted or refused by Meta.
    Proxy,
    /// Meta's status webhooks received by the relay (`[webhook]`): the truth when present.
    Webhooks,
}

impl DeliverySource {
    pub const ALL: [DeliverySource; 5] = [
        Self::Logs,
        Self::TestSends,
        Self::Analytics,
        Self::Proxy,
        Self::Webhooks,
    ];

    fn index(self) -> usize {
        match self {
            Self::Logs => 0,
            Self::TestSends => 1,
            Self::Analytics => 2,
            Self::Proxy => 3,
            Self::Webhooks => 4,
        }
    }
}

/// Outcomes inside one window.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RateSummary {
    pub delivered: u64,
    pub failed: u64,
    /// `delivered / (delivered + failed) * 100`.
    pub percent: f64,
}

impl RateSummary {
    /// The rate of these counts; `None` when there were none.
    pub fn from_counts(delivered: u64, failed: u64) -> Option<Self> {
        let total = delivered.saturating_add(failed);
        (total > 0).then(|| RateSummary {
            delivered,
            failed,
            percent: delivered as f64 * 100.0 / total as f64,
        })
    }
}

#[derive(Debug, Clone, Default)]
struct SourceRings {
    delivered: MinuteRing,
    failed: MinuteRing,
}

#[derive(Debug, Clone)]
struct FailureCode {
    code: i64,
    title: Option<String>,
    last_seen: DateTime<Utc>,
    ring: MinuteRing,
}

/// Rolling delivery counts per source plus failure codes.
#[derive(Debug, Clone, Default)]
pub struct DeliveryWindows {
    sources: [SourceRings; 5],
    failure_codes: Vec<FailureCode>,
}

impl DeliveryWindows {
    pub fn new() -> Self {
        Self::default()
    }

    /// One outcome at `at`.
    pub fn record(&mut self, source: DeliverySource, at: DateTime<Utc>, delivered: bool) {
        let (d, f) = if delivered { (1, 0) } else { (0, 1) };
        self.record_many(source, at, d, f);
    }

    /// Many outcomes at once (an analytics data point of `sent` vs `delivered`).
    pub fn record_many(
        &mut self,
        source: DeliverySource,
        at: DateTime<Utc>,
        delivered: u64,
        failed: u64,
    ) {
        let rings = &mut self.sources[source.index()];
        if delivered > 0 {
            rings.delivered.add(at, delivered);
        }
        if failed > 0 {
            rings.failed.add(at, failed);
        }
    }

    /// One failure with its Graph error code; a later non-empty title replaces the stored one.
    pub fn record_failure_code(&mut self, at: DateTime<Utc>, code: i64, title: Option<String>) {
        let index = match self.failure_codes.iter().position(|c| c.code == code) {
            Some(i) => i,
            None => self.make_room_for_code(code, at),
        };
        let entry = &mut self.failure_codes[index];
        if title.is_some() {
            entry.title = title;
        }
        entry.last_seen = entry.last_seen.max(at);
        entry.ring.add(at, 1);
    }

    /// Records a webhook outcome under `source`, with each of its error codes.
    pub fn record_outcome(&mut self, source: DeliverySource, transition: &OutcomeTransition) {
        match &transition.outcome {
            StatusOutcome::Delivered => self.record(source, transition.at, true),
            StatusOutcome::Failed(errors) => {
                self.record(source, transition.at, false);
                for e in errors {
                    self.record_failure_code(transition.at, e.code, e.title.clone());
                }
            }
        }
    }

    /// Delivered and failed inside `window` at `now`; `None` when there were none.
    pub fn rate(
        &self,
        source: DeliverySource,
        window: Duration,
        now: DateTime<Utc>,
    ) -> Option<RateSummary> {
        let rings = &self.sources[source.index()];
        let delivered = rings.delivered.sum(window, now);
        let failed = rings.failed.sum(window, now);
        RateSummary::from_counts(delivered, failed)
    }

    /// The `n` most frequent failure codes inside `window` (most first, then lowest code).
    pub fn top_failure_codes(
        &self,
        window: Duration,
        now: DateTime<Utc>,
        n: usize,
    ) -> Vec<(i64, Option<String>, u64)> {
        let mut codes: Vec<_> = self
            .failure_codes
            .iter()
            .map(|c| (c.code, c.title.clone(), c.ring.sum(window, now)))
            .filter(|(_, _, count)| *count > 0)
            .collect();
        codes.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)));
        codes.truncate(n);
        codes
    }

    /// Outcomes (delivered + failed) of `source` in `buckets` equal spans of `window`,
    /// oldest first; the spans add up to the window's total.
    pub fn sparkline(
        &self,
        source: DeliverySource,
        buckets: usize,
        window: Duration,
        now: DateTime<Utc>,
    ) -> Vec<u64> {
        let rings = &self.sources[source.index()];
        let delivered = rings.delivered.spans(buckets, window, now);
        let failed = rings.failed.spans(buckets, window, now);
        delivered.iter().zip(&failed).map(|(d, f)| d + f).collect()
    }

    /// The success rate (percent) of `sources` together in `buckets` equal spans of `window`,
    /// oldest first; `None` for a span without outcomes, so a chart leaves a gap there
    /// instead of drawing a quiet hour as a failing one.
    pub fn rate_series(
        &self,
        sources: &[DeliverySource],
        buckets: usize,
        window: Duration,
        now: DateTime<Utc>,
    ) -> Vec<Option<f64>> {
        let mut delivered = vec![0u64; buckets];
        let mut failed = vec![0u64; buckets];
        for source in sources {
            let rings = &self.sources[source.index()];
            let spans = rings.delivered.spans(buckets, window, now);
            let fails = rings.failed.spans(buckets, window, now);
            for (sum, n) in delivered.iter_mut().zip(spans) {
                *sum = sum.saturating_add(n);
            }
            for (sum, n) in failed.iter_mut().zip(fails) {
                *sum = sum.saturating_add(n);
            }
        }
        delivered
            .into_iter()
            .zip(failed)
            .map(|(d, f)| RateSummary::from_counts(d, f).map(|r| r.percent))
            .collect()
    }

    /// Time buckets held in total; bounded by the source count and [`MAX_FAILURE_CODES`].
    pub fn bucket_slots(&self) -> usize {
        let sources: usize = self
            .sources
            .iter()
            .map(|r| r.delivered.slots() + r.failed.slots())
            .sum();
        sources
            + self
                .failure_codes
                .iter()
                .map(|c| c.ring.slots())
                .sum::<usize>()
    }

    fn make_room_for_code(&mut self, code: i64, at: DateTime<Utc>) -> usize {
        let entry = FailureCode {
            code,
            title: None,
            last_seen: at,
            ring: MinuteRing::new(),
        };
        if self.failure_codes.len() < MAX_FAILURE_CODES {
            self.failure_codes.push(entry);
            return self.failure_codes.len() - 1;
        }
        let stalest = self
            .failure_codes
            .iter()
            .enumerate()
            .min_by_key(|(_, c)| c.last_seen)
            .map_or(0, |(i, _)| i);
        self.failure_codes[stalest] = entry;
        stalest
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap()
    }

    #[test]
    fn the_rate_line_has_one_point_per_hour_and_gaps_where_nothing_was_sent() {
        let mut windows = DeliveryWindows::new();
        let now = at(24 * 3600);
        // Three hours ago: logs 9 of 10, the proxy 1 of 2 → 10 of 12 together.
        windows.record_many(DeliverySource::Logs, now - chrono::Duration::hours(3), 9, 1);
        windows.record_many(
            DeliverySource::Proxy,
            now - chrono::Duration::hours(3),
            1,
            1,
        );
        // The last minutes: all delivered; test sends are not part of the line.
        windows.record_many(
            DeliverySource::Logs,
            now - chrono::Duration::minutes(5),
            4,
            0,
        );
        windows.record(DeliverySource::TestSends, now, false);
        let sources = [DeliverySource::Logs, DeliverySource::Proxy];
        let line = windows.rate_series(&sources, 24, Duration::from_secs(24 * 3600), now);
        assert_eq!(line.len(), 24);
        assert_eq!(line[23], Some(100.0));
        let expected = 10.0 * 100.0 / 12.0;
        assert!(
            line[20].is_some_and(|r| (r - expected).abs() < 1e-9),
            "{line:?}"
        );
        let gaps = line.iter().filter(|r| r.is_none()).count();
        assert_eq!(gaps, 22, "{line:?}");
        assert!(
            windows
                .rate_series(&sources, 0, Duration::from_secs(3600), now)
                .is_empty()
        );
    }
}
