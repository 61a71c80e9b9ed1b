//! A fixed-size ring of one-minute counters covering the last 24 hours.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// Width of one bucket.
pub const BUCKET_SECS: i64 = 60;
/// Longest window that can be asked for; longer windows are clamped to it.
pub const RETENTION: Duration = Duration::from_secs(24 * 3600);
/// One more bucket than 24 h holds, so that a 24 h window at a minute boundary is complete.
const SLOTS: usize = (24 * 3600 / BUCKET_SECS) as usize + 1;

/// Event counts per minute for the last 24 h, in constant memory.
///
/// A window `W` at `now` sums the buckets whose whole minute starts at or after `now - W`
/// (plus the current, partial minute). An event older than `W` is therefore never counted;
/// one up to a minute younger than `W` may already have dropped out.
#[derive(Debug, Clone)]
pub struct MinuteRing {
    counts: Box<[u32]>,
    /// Newest minute (Unix minutes) that was written; slots older than SLOTS minutes before it
    /// have been cleared.
    head_minute: Option<i64>,
}

impl Default for MinuteRing {
    fn default() -> Self {
        Self::new()
    }
}

impl MinuteRing {
    pub fn new() -> Self {
        Self {
            counts: vec![0; SLOTS].into_boxed_slice(),
            head_minute: None,
        }
    }

    /// Number of buckets held (constant).
    pub fn slots(&self) -> usize {
        self.counts.len()
    }

    /// Adds `n` events at `at`; events older than the retention are ignored.
    pub fn add(&mut self, at: DateTime<Utc>, n: u64) {
        let minute = at.timestamp().div_euclid(BUCKET_SECS);
        let head = *self.head_minute.get_or_insert(minute);
        if minute > head {
            let stale = (minute - head).min(SLOTS as i64);
            for m in (minute - stale + 1)..=minute {
                self.counts[slot(m)] = 0;
            }
            self.head_minute = Some(minute);
        } else if minute <= head - SLOTS as i64 {
            return;
        }
        let cell = &mut self.counts[slot(minute)];
        *cell = cell.saturating_add(u32::try_from(n).unwrap_or(u32::MAX));
    }

    /// Events inside `window` at `now`.
    pub fn sum(&self, window: Duration, now: DateTime<Utc>) -> u64 {
        self.minutes(window, now)
            .map(|m| u64::from(self.counts[slot(m)]))
            .sum()
    }

    /// `window` split into `buckets` equal spans (oldest first), each with its event count.
    /// The spans add up to [`MinuteRing::sum`].
    pub fn spans(&self, buckets: usize, window: Duration, now: DateTime<Utc>) -> Vec<u64> {
        let mut out = vec![0; buckets];
        if buckets == 0 {
            return out;
        }
        let (first, last) = window_minutes(window, now);
        let span_minutes = (last - first + 1).max(1) as u128;
        for m in self.minutes(window, now) {
            let index = (m - first) as u128 * buckets as u128 / span_minutes;
            let index = usize::try_from(index)
                .unwrap_or(buckets - 1)
                .min(buckets - 1);
            out[index] += u64::from(self.counts[slot(m)]);
        }
        out
    }

    /// The stored minutes that fall inside the window.
    fn minutes(&self, window: Duration, now: DateTime<Utc>) -> std::ops::RangeInclusive<i64> {
        let Some(head) = self.head_minute else {
            #[allow(clippy::reversed_empty_ranges)]
            return 1..=0;
        };
        let (first, last) = window_minutes(window, now);
        first.max(head - SLOTS as i64 + 1)..=last.min(head)
    }
}

/// First and last minute of a window: minutes starting at or after `now - window`, up to the
/// minute holding `now`.
fn window_minutes(window: Duration, now: DateTime<Utc>) -> (i64, i64) {
    let window_secs = window.min(RETENTION).as_secs() as i64;
    let now_secs = now.timestamp();
    let first = (now_secs - window_secs + BUCKET_SECS - 1).div_euclid(BUCKET_SECS);
    (first, now_secs.div_euclid(BUCKET_SECS))
}

fn slot(minute: i64) -> usize {
    minute.rem_euclid(SLOTS as i64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).unwrap()
    }

    #[test]
    fn window_edges_at_minute_boundary() {
        let now = 1_700_000_040; // a whole minute
        assert_eq!(now % 60, 0);
        let mut ring = MinuteRing::new();
        ring.add(at(now - 900), 1);
        ring.add(at(now - 901), 10);
        assert_eq!(ring.sum(Duration::from_secs(900), at(now)), 1);
        assert_eq!(ring.sum(Duration::from_secs(3600), at(now)), 11);
    }

    #[test]
    fn old_and_stale_slots_are_not_counted() {
        let mut ring = MinuteRing::new();
        ring.add(at(0), 5);
        ring.add(at(2 * 86_400), 1);
        ring.add(at(0), 5);
        assert_eq!(ring.sum(RETENTION, at(2 * 86_400)), 1);
        assert_eq!(ring.sum(RETENTION, at(4 * 86_400)), 0);
    }

    #[test]
    fn full_day_window_keeps_every_minute() {
        let now = 86_400 * 10;
        let mut ring = MinuteRing::new();
        for m in 0..=1440 {
            ring.add(at(now - m * 60), 1);
        }
        assert_eq!(ring.sum(RETENTION, at(now)), 1441);
        assert_eq!(ring.spans(24, RETENTION, at(now)).iter().sum::<u64>(), 1441);
    }
}
