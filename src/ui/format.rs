//! Text formats shared by the panels: countdowns, clock times, bars and sparklines.

use chrono::{DateTime, Utc};

use crate::config::PatternLevel;

/// `41d 03:12:45` or `03:12:45`.
pub fn span(secs: i64) -> String {
    let secs = secs.max(0);
    let days = secs / 86_400;
    let rest = secs % 86_400;
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

/// `+60d`, `+3h`, `+45m`, `+30s`: how far past `from` an expiry lies.
pub fn ahead(expires_at: i64, from: i64) -> String {
    if expires_at == 0 {
        return "never".to_string();
    }
    let secs = expires_at.saturating_sub(from);
    let sign = if secs < 0 { "-" } else { "+" };
    let secs = secs.unsigned_abs();
    let amount = match secs {
        s if s >= 86_400 => format!("{}d", s / 86_400),
        s if s >= 3600 => format!("{}h", s / 3600),
        s if s >= 60 => format!("{}m", s / 60),
        s => format!("{s}s"),
    };
    format!("{sign}{amount}")
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

/// A bar of `width` cells, `fraction` (0..=1) of them full.
pub fn bar(fraction: f64, width: usize) -> String {
    let fraction = if fraction.is_finite() {
        fraction.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let full = ((fraction * width as f64).round() as usize).min(width);
    format!("{}{}", "█".repeat(full), "░".repeat(width - full))
}

/// One block character per value, scaled to the largest.
pub fn sparkline(values: &[u64]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let max = values.iter().copied().max().unwrap_or(0);
    values
        .iter()
        .map(|&v| {
            if max == 0 {
                BARS[0]
            } else {
                let index = (v * 7).div_ceil(max) as usize;
                BARS[index.min(7)]
            }
        })
        .collect()
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

/// Pads or cuts `text` to exactly `width` characters.
pub fn fit(text: &str, width: usize) -> String {
    let count = text.chars().count();
    if count <= width {
        format!("{text}{}", " ".repeat(width - count))
    } else if width == 0 {
        String::new()
    } else {
        let mut cut: String = text.chars().take(width - 1).collect();
        cut.push('…');
        cut
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
        assert_eq!(ahead(0, 1_000), "never");
        assert_eq!(latency(1234), "1.2s");
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

    #[test]
    fn bars_and_sparklines_stay_in_range() {
        assert_eq!(bar(0.5, 4), "██░░");
        assert_eq!(bar(f64::NAN, 2), "░░");
        assert_eq!(bar(7.0, 3), "███");
        assert_eq!(sparkline(&[0, 1, 8]), "▁▂█");
        assert_eq!(sparkline(&[0, 0]), "▁▁");
        assert_eq!(fit("abcdef", 4), "abc…");
    }
}
