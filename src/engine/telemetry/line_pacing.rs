//! When the hub forwards classified lines: a line after a quiet spell at once, the lines behind
//! it together at most every [`LINE_BATCH_DELAY`], so a single appended line reaches the
//! dashboard and `tokentop tail` without waiting, a steady trickle within 40 ms, and a bursting
//! log wakes them 25 times a second.

use std::time::Duration;

use tokio::time::Instant;

/// Line batches are forwarded at most this often (each wakes a dashboard redraw); also the
/// longest a line waits (issue 21: 50 ms at p99 from the append to the screen).
pub const LINE_BATCH_DELAY: Duration = Duration::from_millis(40);

/// The pacing of line batches: pure, given the time.
#[derive(Debug, Clone, Copy)]
pub struct LinePacing {
    last_flush: Option<Instant>,
    due: Option<Instant>,
}

impl LinePacing {
    pub fn new() -> Self {
        Self {
            last_flush: None,
            due: None,
        }
    }

    /// Lines arrived at `now`: true when they go out now; otherwise at [`Self::due`].
    pub fn lines_arrived(&mut self, now: Instant) -> bool {
        let due = *self.due.get_or_insert_with(|| {
            self.last_flush
                .map_or(now, |last| (last + LINE_BATCH_DELAY).max(now))
        });
        due <= now
    }

    /// When the waiting lines go out, if any wait.
    pub fn due(&self) -> Option<Instant> {
        self.due
    }

    /// The waiting lines went out at `now` (`sent`: there were some).
    pub fn flushed(&mut self, now: Instant, sent: bool) {
        self.due = None;
        if sent {
            self.last_flush = Some(now);
        }
    }
}

impl Default for LinePacing {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_after_a_quiet_spell_goes_at_once_and_a_burst_behind_it_waits_for_the_interval() {
        let start = Instant::now();
        let mut pacing = LinePacing::new();
        assert!(pacing.lines_arrived(start), "the first line goes at once");
        pacing.flushed(start, true);

        let soon = start + LINE_BATCH_DELAY / 4;
        assert!(!pacing.lines_arrived(soon), "a line right behind it waits");
        assert_eq!(pacing.due(), Some(start + LINE_BATCH_DELAY));
        let later = soon + LINE_BATCH_DELAY / 2;
        assert!(!pacing.lines_arrived(later), "and so do the ones after it");
        assert_eq!(
            pacing.due(),
            Some(start + LINE_BATCH_DELAY),
            "the deadline holds"
        );
        pacing.flushed(start + LINE_BATCH_DELAY, true);
        assert_eq!(pacing.due(), None);

        let quiet = start + LINE_BATCH_DELAY * 5;
        assert!(
            pacing.lines_arrived(quiet),
            "after a quiet spell, at once again"
        );
    }

    #[test]
    fn batches_of_a_steady_stream_are_a_full_interval_apart() {
        let start = Instant::now();
        let mut pacing = LinePacing::new();
        let mut sent_at = Vec::new();
        for ms in (0..1000u64).step_by(7) {
            let now = start + Duration::from_millis(ms);
            if pacing.due().is_some_and(|due| due <= now) {
                pacing.flushed(now, true);
                sent_at.push(ms);
            }
            if pacing.lines_arrived(now) {
                pacing.flushed(now, true);
                sent_at.push(ms);
            }
        }
        let interval = LINE_BATCH_DELAY.as_millis() as u64;
        assert!(
            sent_at.windows(2).all(|w| w[1] - w[0] >= interval),
            "{sent_at:?}"
        );
        // Every 7 ms a line: a batch each interval, rounded up to the next line.
        assert!(sent_at.len() as u64 >= 1000 / (interval + 7), "{sent_at:?}");
        assert!(
            sent_at.windows(2).all(|w| w[1] - w[0] < interval + 7),
            "no line waits longer than the interval: {sent_at:?}"
        );
    }

    #[test]
    fn an_empty_flush_does_not_hold_back_the_next_line() {
        let start = Instant::now();
        let mut pacing = LinePacing::new();
        pacing.flushed(start, false);
        assert!(pacing.lines_arrived(start + Duration::from_millis(1)));
    }
}
