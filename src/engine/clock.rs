//! The engine's clock: wall time for real runs, tokio's (pausable) clock for tests.
//!
//! Token expiries are unix seconds, but tests run under tokio's paused clock where the wall
//! clock stands still; a virtual clock derives unix time from tokio's `Instant` instead.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

/// What [`Clock::instant_at`] waits for an instant too far away to represent (30 years).
const FAR_FUTURE: Duration = Duration::from_secs(30 * 365 * 86_400);

#[derive(Debug, Clone)]
pub enum Clock {
    /// Real wall time (`Utc::now`).
    System,
    /// Unix time = `base_unix` + tokio time elapsed since `base_instant`.
    Virtual {
        base_unix: i64,
        base_instant: Instant,
    },
}

impl Clock {
    /// A virtual clock starting at `base_unix` now.
    pub fn virtual_at(base_unix: i64) -> Self {
        Clock::Virtual {
            base_unix,
            base_instant: Instant::now(),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Clock::System => Utc::now(),
            Clock::Virtual {
                base_unix,
                base_instant,
            } => {
                let elapsed = base_instant.elapsed();
                let millis = i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX);
                DateTime::from_timestamp_millis(
                    base_unix.saturating_mul(1000).saturating_add(millis),
                )
                .unwrap_or_default()
            }
        }
    }

    pub fn now_unix(&self) -> i64 {
        self.now().timestamp()
    }

    /// The tokio instant at which unix second `unix` arrives (now, if it is in the past).
    pub fn instant_at(&self, unix: i64) -> Instant {
        let now = self.now();
        let wait_millis = unix
            .saturating_mul(1000)
            .saturating_sub(now.timestamp_millis());
        let wait = Duration::from_millis(u64::try_from(wait_millis).unwrap_or(0));
        // An expiry centuries away (Meta may say i64::MAX) cannot be an Instant: wait "forever".
        let start = Instant::now();
        start
            .checked_add(wait)
            .unwrap_or_else(|| start + FAR_FUTURE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn virtual_clock_follows_paused_tokio_time() {
        let clock = Clock::virtual_at(1_000);
        assert_eq!(clock.now_unix(), 1_000);
        tokio::time::sleep(Duration::from_secs(90)).await;
        assert_eq!(clock.now_unix(), 1_090);
        let at = clock.instant_at(1_100);
        assert_eq!(at - Instant::now(), Duration::from_secs(10));
        assert!(clock.instant_at(0) <= Instant::now());
    }

    #[tokio::test(start_paused = true)]
    async fn instants_of_extreme_unix_seconds_do_not_overflow() {
        let clock = Clock::virtual_at(1_000);
        assert!(clock.instant_at(i64::MIN) <= Instant::now());
        assert!(clock.instant_at(i64::MAX) >= Instant::now() + FAR_FUTURE);
        let clock = Clock::virtual_at(i64::MIN);
        let _ = clock.now_unix();
        let _ = clock.instant_at(i64::MAX);
    }
}
