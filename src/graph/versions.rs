//! Graph API versions and the dates Meta stops serving them (REFERENCE.md section 15): a call
//! to a dead version is not refused but silently served by the oldest live one, so the
//! configured version is watched against its published end date.

use std::collections::BTreeMap;

use chrono::NaiveDate;

/// The newest version Meta has released, named in every warning as the one to move to.
pub const NEWEST_VERSION: &str = "v27.0";

/// The versions Meta released from the oldest in its published table on, oldest first
/// (REFERENCE.md section 15); the simulator serves dead ones' calls as the next live one.
pub const RELEASED_VERSIONS: [&str; 8] = [
    "v20.0",
    "v21.0",
    "v22.0",
    "v23.0",
    "v24.0",
    "v25.0",
    "v26.0",
    NEWEST_VERSION,
];

/// Each version's last usable day as Meta published it (not "successor + 2 years": the
/// published dates differ). Newer versions have no date yet; `[graph] sunsets` adds them.
const PUBLISHED_SUNSETS: [(&str, (i32, u32, u32)); 6] = [
    ("v20.0", (2026, 9, 24)),
    ("v21.0", (2027, 1, 21)),
    ("v22.0", (2027, 5, 20)),
    ("v23.0", (2027, 10, 8)),
    ("v24.0", (2028, 2, 18)),
    ("v25.0", (2028, 7, 29)),
];

/// Within this many days of the end date: WARNING.
pub const WARN_DAYS: i64 = 90;
/// Within this many days (or past it): CRITICAL.
pub const CRITICAL_DAYS: i64 = 14;

/// How close the configured version is to its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SunsetLevel {
    Fine,
    Warning,
    Critical,
}

/// `v22.0` as `(22, 0)`: how the client, the header watch and the simulator read a Graph API
/// version, for checking and ordering; `None` when it is no version. (`config` checks the
/// same shape in `values::graph_version`: it may not import `graph`.)
pub fn version_number(version: &str) -> Option<(u32, u32)> {
    let (major, minor) = version.strip_prefix('v')?.split_once('.')?;
    let number = |s: &str| {
        let digits = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        digits.then(|| s.parse::<u32>().ok()).flatten()
    };
    Some((number(major)?, number(minor)?))
}

/// `version`'s end date: the operator's `[graph] sunsets` first, then Meta's published table;
/// `None` when none is known.
pub fn sunset_of(version: &str, configured: &BTreeMap<String, NaiveDate>) -> Option<NaiveDate> {
    configured.get(version).copied().or_else(|| {
        PUBLISHED_SUNSETS
            .iter()
            .find(|(known, _)| *known == version)
            .and_then(|(_, (y, m, d))| NaiveDate::from_ymd_opt(*y, *m, *d))
    })
}

/// Days from `today` to `sunset` (negative once past) and what they mean.
pub fn level(sunset: NaiveDate, today: NaiveDate) -> (i64, SunsetLevel) {
    let days = sunset.signed_duration_since(today).num_days();
    let level = if days <= CRITICAL_DAYS {
        SunsetLevel::Critical
    } else if days <= WARN_DAYS {
        SunsetLevel::Warning
    } else {
        SunsetLevel::Fine
    };
    (days, level)
}

/// What to say about `version` ending on `sunset`, `days` from today.
pub fn sunset_words(version: &str, sunset: NaiveDate, days: i64) -> String {
    let when = if days < 0 {
        format!(
            "stopped on {sunset} ({} days ago): Meta serves its calls as a newer version without saying so",
            -days
        )
    } else {
        format!(
            "stops on {sunset} (in {days} days), after which Meta serves its calls as a newer version without saying so"
        )
    };
    format!(
        "Graph API {version} {when}; set [graph] version = \"{NEWEST_VERSION}\" (the newest) after checking the changelog"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn published_dates_are_used_and_configured_ones_win() {
        let none = BTreeMap::new();
        assert_eq!(sunset_of("v21.0", &none), Some(day(2027, 1, 21)));
        assert_eq!(sunset_of("v27.0", &none), None);
        let configured = BTreeMap::from([
            ("v27.0".to_string(), day(2029, 3, 1)),
            ("v21.0".to_string(), day(2027, 2, 1)),
        ]);
        assert_eq!(sunset_of("v27.0", &configured), Some(day(2029, 3, 1)));
        assert_eq!(sunset_of("v21.0", &configured), Some(day(2027, 2, 1)));
    }

    #[test]
    fn the_released_list_holds_the_table_and_ends_with_the_newest() {
        assert_eq!(RELEASED_VERSIONS.last(), Some(&NEWEST_VERSION));
        for (version, _) in PUBLISHED_SUNSETS {
            assert!(RELEASED_VERSIONS.contains(&version), "{version}");
        }
        let majors: Vec<u32> = RELEASED_VERSIONS
            .iter()
            .map(|v| v[1..v.len() - 2].parse().unwrap())
            .collect();
        assert!(
            majors.windows(2).all(|pair| pair[0] < pair[1]),
            "{majors:?}"
        );
    }

    #[test]
    fn ninety_days_warn_fourteen_are_critical_and_past_is_critical() {
        let sunset = day(2027, 1, 21);
        assert_eq!(level(sunset, day(2026, 10, 1)).1, SunsetLevel::Fine);
        assert_eq!(level(sunset, day(2026, 12, 7)), (45, SunsetLevel::Warning));
        assert_eq!(level(sunset, day(2027, 1, 7)), (14, SunsetLevel::Critical));
        assert_eq!(level(sunset, day(2027, 2, 1)), (-11, SunsetLevel::Critical));
        let words = sunset_words("v21.0", sunset, 45);
        assert!(
            words.contains("2027-01-21") && words.contains(NEWEST_VERSION),
            "{words}"
        );
        assert!(sunset_words("v21.0", sunset, -11).contains("11 days ago"));
    }
}
