//! The refresh schedule and the retry backoff: pure functions of (token facts, now, policy).
//!
//! No clock and no randomness inside: callers pass `now` and a jitter value, so every branch
//! is unit-tested on its own.

use std::time::Duration;

use crate::config::RefreshBefore;
use crate::graph::Expiry;

/// First retry delay after a failed refresh.
pub const BACKOFF_FIRST: Duration = Duration::from_secs(10);
/// Retries never wait longer than this (before honouring a rate-limit hint).
pub const BACKOFF_CAP: Duration = Duration::from_secs(5 * 60);
/// A retry is placed at least this long before the token's expiry, so it can still work.
const RETRY_BEFORE_EXPIRY_SECS: i64 = 5;
/// The schedule jitter never exceeds this share of the lead time (and never 60 s).
const MAX_JITTER_SECS: i64 = 60;

/// What the schedule says about one token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshPlan {
    /// No scheduled expiry: nothing to refresh (the token is still inspected).
    Never,
    /// Expiry unknown (not inspected, or Meta left it out): inspect before deciding.
    InspectFirst,
    /// Refresh at this unix second.
    At(i64),
    /// Already past expiry: only a person can mint a new token.
    TooLate,
}

/// How long before expiry the refresh happens, for a token issued at `issued_at`.
pub fn refresh_lead_secs(
    expires_at: i64,
    issued_at: Option<i64>,
    now: i64,
    policy: RefreshBefore,
) -> i64 {
    match policy {
        RefreshBefore::Fixed(lead) => i64::try_from(lead.as_secs()).unwrap_or(i64::MAX),
        RefreshBefore::ShareOfLifetime(percent) => {
            // Without issued_at the lifetime is counted from now: a conservative (early) choice.
            // i128: Meta's answer may hold any i64 (i64::MIN..i64::MAX span overflows i64).
            let start = issued_at.unwrap_or(now).min(expires_at);
            let lifetime = i128::from(expires_at) - i128::from(start);
            i64::try_from(lifetime * i128::from(percent) / 100).unwrap_or(i64::MAX)
        }
    }
}

/// The largest jitter that may be applied to a refresh with this lead time.
pub fn max_jitter_secs(lead_secs: i64) -> i64 {
    (lead_secs / 10).clamp(0, MAX_JITTER_SECS)
}

/// When to refresh a token: `expires_at - lead`, moved earlier by `jitter_secs` (clamped to
/// [`max_jitter_secs`]) so that many accounts do not refresh in the same second. Jitter only
/// ever moves the refresh earlier, never past expiry.
pub fn plan_refresh(
    expiry: Expiry,
    issued_at: Option<i64>,
    now: i64,
    policy: RefreshBefore,
    jitter_secs: i64,
) -> RefreshPlan {
    let expires_at = match expiry {
        Expiry::Never => return RefreshPlan::Never,
        Expiry::Unknown => return RefreshPlan::InspectFirst,
        Expiry::At(at) => at,
    };
    if expires_at <= now {
        return RefreshPlan::TooLate;
    }
    let lead = refresh_lead_secs(expires_at, issued_at, now, policy);
    let jitter = jitter_secs.clamp(0, max_jitter_secs(lead));
    RefreshPlan::At(expires_at.saturating_sub(lead).saturating_sub(jitter))
}

/// Delay before retry number `attempt` (0 for the first retry): 10 s doubling to 5 min, plus
/// up to 20% jitter (`jitter_fraction` in 0..=1), at least the rate-limit hint, and never so
/// late that the token expires first (`secs_to_expiry`).
pub fn backoff_delay(
    attempt: u32,
    jitter_fraction: f64,
    retry_hint: Option<Duration>,
    secs_to_expiry: Option<i64>,
) -> Duration {
    let doubled = BACKOFF_FIRST
        .checked_mul(1u32.checked_shl(attempt.min(16)).unwrap_or(u32::MAX))
        .unwrap_or(BACKOFF_CAP)
        .min(BACKOFF_CAP);
    let jitter = doubled.mul_f64(jitter_fraction.clamp(0.0, 1.0) * 0.2);
    let mut delay = (doubled + jitter).min(BACKOFF_CAP);
    if let Some(hint) = retry_hint {
        delay = delay.max(hint);
    }
    if let Some(left) = secs_to_expiry {
        let latest = u64::try_from(left.saturating_sub(RETRY_BEFORE_EXPIRY_SECS)).unwrap_or(0);
        delay = delay.min(Duration::from_secs(latest.max(1)));
    }
    delay
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 24 * 3600;

    #[test]
    fn never_expiring_token_is_never_refreshed() {
        let plan = plan_refresh(
            Expiry::Never,
            None,
            1000,
            RefreshBefore::ShareOfLifetime(33),
            0,
        );
        assert_eq!(plan, RefreshPlan::Never);
    }

    #[test]
    fn unknown_expiry_asks_for_inspection() {
        let plan = plan_refresh(
            Expiry::Unknown,
            None,
            0,
            RefreshBefore::ShareOfLifetime(33),
            0,
        );
        assert_eq!(plan, RefreshPlan::InspectFirst);
    }

    #[test]
    fn share_of_lifetime_counts_from_issue_time() {
        // 60-day token issued at 0: 33% of 60 days = 19.8 days before expiry.
        let expires = 60 * DAY;
        let plan = plan_refresh(
            Expiry::At(expires),
            Some(0),
            DAY,
            RefreshBefore::ShareOfLifetime(33),
            0,
        );
        assert_eq!(plan, RefreshPlan::At(expires - 60 * DAY * 33 / 100));
    }

    #[test]
    fn share_without_issue_time_counts_from_now() {
        let plan = plan_refresh(
            Expiry::At(1000),
            None,
            0,
            RefreshBefore::ShareOfLifetime(50),
            0,
        );
        assert_eq!(plan, RefreshPlan::At(500));
    }

    #[test]
    fn fixed_lead_is_subtracted() {
        let lead = Duration::from_secs(3600);
        let plan = plan_refresh(
            Expiry::At(10_000),
            Some(0),
            0,
            RefreshBefore::Fixed(lead),
            0,
        );
        assert_eq!(plan, RefreshPlan::At(6_400));
    }

    #[test]
    fn refresh_time_in_the_past_means_refresh_now() {
        // Inside the window already: the plan lies in the past, callers refresh at once.
        let plan = plan_refresh(
            Expiry::At(100),
            Some(0),
            90,
            RefreshBefore::ShareOfLifetime(33),
            0,
        );
        assert!(matches!(plan, RefreshPlan::At(at) if at <= 90));
    }

    #[test]
    fn expired_token_is_too_late() {
        let plan = plan_refresh(
            Expiry::At(100),
            Some(0),
            100,
            RefreshBefore::ShareOfLifetime(33),
            0,
        );
        assert_eq!(plan, RefreshPlan::TooLate);
    }

    #[test]
    fn jitter_moves_earlier_and_is_bounded() {
        let plan = plan_refresh(
            Expiry::At(1000),
            Some(0),
            0,
            RefreshBefore::ShareOfLifetime(10),
            5,
        );
        assert_eq!(plan, RefreshPlan::At(1000 - 100 - 5));
        // lead 100 s allows at most 10 s of jitter
        let plan = plan_refresh(
            Expiry::At(1000),
            Some(0),
            0,
            RefreshBefore::ShareOfLifetime(10),
            500,
        );
        assert_eq!(plan, RefreshPlan::At(1000 - 100 - 10));
        // negative jitter is ignored: never later than the lead says
        let plan = plan_refresh(
            Expiry::At(1000),
            Some(0),
            0,
            RefreshBefore::ShareOfLifetime(10),
            -50,
        );
        assert_eq!(plan, RefreshPlan::At(900));
    }

    #[test]
    fn jitter_is_capped_at_a_minute_for_long_leads() {
        assert_eq!(max_jitter_secs(20 * DAY), 60);
        assert_eq!(max_jitter_secs(30), 3);
        assert_eq!(max_jitter_secs(-5), 0);
    }

    #[test]
    fn extreme_expiry_and_issue_times_plan_without_overflow() {
        let share = RefreshBefore::ShareOfLifetime(33);
        let fixed = RefreshBefore::Fixed(Duration::from_secs(u64::MAX));
        let values = [i64::MIN, -1, 0, 1, DAY, i64::MAX];
        for expires_at in values {
            for issued_at in values.map(Some).into_iter().chain([None]) {
                for now in values {
                    for policy in [share, fixed] {
                        let plan = plan_refresh(Expiry::At(expires_at), issued_at, now, policy, 60);
                        if let RefreshPlan::At(at) = plan {
                            assert!(at <= expires_at, "{plan:?} for {expires_at}");
                        }
                    }
                }
            }
        }
        // A token "expiring" at i64::MAX issued now: a third of that lifetime before expiry.
        let plan = plan_refresh(Expiry::At(i64::MAX), Some(0), 0, share, 0);
        assert_eq!(plan, RefreshPlan::At(6_179_659_264_692_699_791));
        let plan = plan_refresh(Expiry::At(i64::MAX), Some(i64::MIN), 0, share, 0);
        // The lifetime from i64::MIN to i64::MAX does not fit an i64; a third of it does.
        assert_eq!(plan, RefreshPlan::At(i64::MAX - 6_087_425_544_324_152_032));
        assert_eq!(
            plan_refresh(Expiry::At(i64::MIN), None, 0, share, 0),
            RefreshPlan::TooLate
        );
    }

    #[test]
    fn backoff_with_extreme_time_to_expiry() {
        assert_eq!(
            backoff_delay(0, 0.0, None, Some(i64::MIN)),
            Duration::from_secs(1)
        );
        assert_eq!(backoff_delay(0, 0.0, None, Some(i64::MAX)), BACKOFF_FIRST);
    }

    #[test]
    fn backoff_doubles_from_ten_seconds_to_five_minutes() {
        let delays: Vec<u64> = (0..8)
            .map(|n| backoff_delay(n, 0.0, None, None).as_secs())
            .collect();
        assert_eq!(delays, vec![10, 20, 40, 80, 160, 300, 300, 300]);
        assert_eq!(backoff_delay(1000, 0.0, None, None), BACKOFF_CAP);
    }

    #[test]
    fn backoff_jitter_adds_at_most_a_fifth_and_respects_the_cap() {
        assert_eq!(backoff_delay(0, 1.0, None, None), Duration::from_secs(12));
        assert_eq!(backoff_delay(0, 0.5, None, None), Duration::from_secs(11));
        assert_eq!(backoff_delay(5, 1.0, None, None), BACKOFF_CAP);
        assert_eq!(backoff_delay(0, 7.0, None, None), Duration::from_secs(12));
    }

    #[test]
    fn backoff_honours_rate_limit_hint() {
        let hint = Duration::from_secs(15 * 60);
        assert_eq!(backoff_delay(0, 0.0, Some(hint), None), hint);
    }

    #[test]
    fn backoff_never_passes_expiry() {
        assert_eq!(
            backoff_delay(4, 0.0, None, Some(65)),
            Duration::from_secs(60)
        );
        let hint = Duration::from_secs(3600);
        assert_eq!(
            backoff_delay(0, 0.0, Some(hint), Some(125)),
            Duration::from_secs(120)
        );
        assert_eq!(backoff_delay(0, 0.0, None, Some(2)), Duration::from_secs(1));
    }
}
