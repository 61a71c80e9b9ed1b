//! Words for times and levels shared by the dashboard and the headless commands: countdowns, clock times, durations.

use chrono::{DateTime, Utc};

use crate::config::PatternLevel;

const DAY: i64 = 86_400;

/// `41d 03:12:45` or `03:12:45`.
pub fn span(secs: i64) -> String {
    let secs = secs.max(0);
    let days = secs / DAY;
    let rest = secs % DAY;
    let clock = format!(
        "{:02}:{:02}:{:02}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    );
    if days > 0 {
        format!("{days}d {clock}")
    } else {
        clock
    }
}

/// Time left, or `expired 00:02:10 ago`.
pub fn left(secs: i64) -> String {
    if secs < 0 {
        format!("expired {} ago", span(secs.saturating_neg()))
    } else {
        span(secs)
    }
}

/// `59d`, `3h`, `45m`, `30s`: a duration in its largest whole unit, rounded down so a
/// deadline said this way is never later than the real one; negative counts as `0s`.
pub fn within(secs: i64) -> String {
    let secs = secs.max(0);
    match secs {
        s if s >= DAY => format!("{}d", s / DAY),
        s if s >= 3600 => format!("{}h", s / 3600),
        s if s >= 60 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// `+60d`, `+3h`, `+45m`, `+30s`: how far past `from` an expiry lies, to the nearest unit (a
/// 60-day token recorded a second after it was minted still shows `+60d`).
pub fn ahead(expires_at: i64, from: i64) -> String {
    if expires_at == 0 {
        return "never".to_string();
    }
    let secs = expires_at.saturating_sub(from);
    let sign = if secs < 0 { "-" } else { "+" };
    // `unsigned_abs` keeps i64::MIN representable; the amount then fits back into i64 unless
    // it is exactly 2^63, which saturates by one second.
    let amount = i64::try_from(secs.unsigned_abs()).unwrap_or(i64::MAX);
    format!("{sign}{}", nearest(amount))
}

/// Like [`within`], but rounded to the nearest whole unit instead of down.
fn nearest(secs: i64) -> String {
    let round = |unit: i64| secs.saturating_add(unit / 2) / unit;
    match secs {
        s if s >= DAY - DAY / 48 => format!("{}d", round(DAY)),
        s if s >= 3600 - 30 => format!("{}h", round(3600)),
        s if s >= 60 => format!("{}m", round(60)),
        s => format!("{s}s"),
    }
}

/// `2026-11-28 14:03:12 UTC` for people.
pub fn format_unix(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| unix.to_string())
}

/// `14:03:12` (UTC).
pub fn hms(at: DateTime<Utc>) -> String {
    at.format("%H:%M:%S").to_string()
}

/// `312ms` or `1.2s`.
pub fn latency(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms}ms")
    } else {
        format!("{:.1}s", ms as f64 / 1000.0)
    }
}

/// The level as a word, so it never depends on colour.
pub fn level_word(level: Option<PatternLevel>) -> &'static str {
    match level {
        Some(PatternLevel::Ok) => "ok",
        Some(PatternLevel::Warn) => "warn",
        Some(PatternLevel::Error) => "error",
        None => "-",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn countdowns_read_like_the_design() {
        assert_eq!(span(41 * 86_400 + 3 * 3600 + 12 * 60 + 45), "41d 03:12:45");
        assert_eq!(left(-130), "expired 00:02:10 ago");
        assert_eq!(ahead(1_000 + 60 * 86_400, 1_000), "+60d");
        assert_eq!(
            ahead(60 * 86_400 - 1, 0),
            "+60d",
            "a second short is still 60 days"
        );
        assert_eq!(ahead(36 * 3600, 0), "+2d");
        assert_eq!(ahead(3599, 0), "+1h");
        assert_eq!(ahead(89, 0), "+1m");
        assert_eq!(ahead(0, 1_000), "never");
        assert_eq!(latency(1234), "1.2s");
    }

    #[test]
    fn within_rounds_down_to_the_largest_unit() {
        assert_eq!(within(59 * 86_400), "59d");
        assert_eq!(within(60 * 86_400 - 1), "59d");
        assert_eq!(within(86_399), "23h");
        assert_eq!(within(3599), "59m");
        assert_eq!(within(59), "59s");
        assert_eq!(within(-5), "0s");
        assert_eq!(within(i64::MIN), "0s");
        assert_eq!(within(i64::MAX), "106751991167300d");
    }

    #[test]
    fn countdowns_saturate_at_the_ends_of_time() {
        assert_eq!(left(i64::MIN), format!("expired {} ago", span(i64::MAX)));
        assert!(left(i64::MAX).starts_with("106751991167300d "));
        assert_eq!(ahead(i64::MIN, i64::MAX), "-106751991167300d");
        assert_eq!(ahead(i64::MAX, i64::MIN), "+106751991167300d");
        assert_eq!(ahead(i64::MIN, 0), "-106751991167300d");
        assert_eq!(ahead(-1, 0), "-1s");
    }
}
