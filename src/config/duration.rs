//! Human durations ("90s", "15m", "1h30m") as written in the config file and on flags.

use std::time::Duration;

/// The forms [`parse_duration`] accepts, for error messages.
pub(crate) const DURATION_FORMS: &str =
    "a number with a unit ms, s, m, h, d or w, e.g. \"90s\", \"15m\", \"7d\", \"1h30m\"";

const UNITS_MS: [(&str, u64); 6] = [
    ("ms", 1),
    ("s", 1_000),
    ("m", 60_000),
    ("h", 3_600_000),
    ("d", 86_400_000),
    ("w", 604_800_000),
];

/// Parses "90s", "15m", "2h", "7d", "1w", "500ms" and sums like "1h30m".
///
/// The error names what was wrong and the allowed forms.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    parse_parts(text).map_err(|problem| format!("{problem}; expected {DURATION_FORMS}"))
}

/// Like [`parse_duration`] but the error is only the problem, without the allowed forms.
pub(crate) fn parse_parts(text: &str) -> Result<Duration, String> {
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err("empty duration".to_string());
    }
    let mut total_ms: u64 = 0;
    while !rest.is_empty() {
        let digits_len = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits_len == 0 {
            return Err(format!("expected a number at {rest:?}"));
        }
        let number: u64 = rest[..digits_len]
            .parse()
            .map_err(|_| "number too large".to_string())?;
        rest = &rest[digits_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        if unit.is_empty() {
            return Err("missing unit".to_string());
        }
        let unit_ms = UNITS_MS
            .iter()
            .find(|(name, _)| *name == unit)
            .map(|(_, ms)| *ms)
            .ok_or_else(|| format!("unknown unit {unit:?}"))?;
        total_ms = number
            .checked_mul(unit_ms)
            .and_then(|part| total_ms.checked_add(part))
            .ok_or_else(|| "duration too large".to_string())?;
        rest = &rest[unit_len..];
    }
    Ok(Duration::from_millis(total_ms))
}

/// Shows a duration in the largest unit that divides it exactly: "7d", "90s", "500ms".
pub(crate) fn format_duration(duration: Duration) -> String {
    let total_ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
    if total_ms == 0 {
        return "0s".to_string();
    }
    // Weeks are skipped: "7d" reads better than "1w" in limits.
    for (name, unit_ms) in UNITS_MS.iter().rev().filter(|(name, _)| *name != "w") {
        if total_ms % unit_ms == 0 {
            return format!("{}{name}", total_ms / unit_ms);
        }
    }
    format!("{total_ms}ms")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_unit_and_sums() {
        let cases = [
            ("90s", 90_000),
            ("15m", 900_000),
            ("2h", 7_200_000),
            ("7d", 604_800_000),
            ("1w", 604_800_000),
            ("1h30m", 5_400_000),
            ("500ms", 500),
            (" 0s ", 0),
        ];
        for (text, ms) in cases {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_millis(ms)),
                "{text}"
            );
        }
    }

    #[test]
    fn rejects_bad_forms_naming_the_allowed_ones() {
        for text in [
            "",
            "5x",
            "15",
            "m",
            "1.5h",
            "-1s",
            "99999999999999999999s",
            "1h 30m",
        ] {
            let err = parse_duration(text).expect_err(text);
            assert!(err.contains("\"90s\""), "{text}: {err}");
        }
    }

    #[test]
    fn formats_in_largest_exact_unit() {
        assert_eq!(format_duration(Duration::from_secs(7 * 86_400)), "7d");
        assert_eq!(format_duration(Duration::from_secs(90)), "90s");
        assert_eq!(format_duration(Duration::from_millis(100)), "100ms");
        assert_eq!(format_duration(Duration::ZERO), "0s");
    }
}
