//! US Pacific time for Meta's expiry messages ("Thursday, 06-Oct-22 00:00:00 PDT"), with the
//! daylight-saving rule computed here rather than pulling in a time-zone database.

use chrono::{DateTime, Datelike, NaiveDate, Weekday};

const HOUR_SECS: i64 = 3600;
/// PST is UTC-8, PDT is UTC-7.
const PST_OFFSET_SECS: i64 = -8 * HOUR_SECS;
const PDT_OFFSET_SECS: i64 = -7 * HOUR_SECS;

/// Whether US Pacific daylight time is in force at `unix_secs`.
///
/// The US rule since 2007: from the second Sunday of March at 02:00 PST (10:00 UTC) to the
/// first Sunday of November at 02:00 PDT (09:00 UTC). Earlier years used other dates; the
/// simulator never shows them.
pub(crate) fn is_daylight(unix_secs: i64) -> bool {
    let Some(utc) = DateTime::from_timestamp(unix_secs, 0) else {
        return false;
    };
    let year = utc.year();
    let start = utc_instant(year, 3, 2, 10);
    let end = utc_instant(year, 11, 1, 9);
    match (start, end) {
        (Some(start), Some(end)) => unix_secs >= start && unix_secs < end,
        _ => false,
    }
}

/// Unix seconds of the `nth` Sunday of `month` at `hour_utc`:00 UTC.
fn utc_instant(year: i32, month: u32, nth: u8, hour_utc: u32) -> Option<i64> {
    let day = NaiveDate::from_weekday_of_month_opt(year, month, Weekday::Sun, nth)?;
    Some(day.and_hms_opt(hour_utc, 0, 0)?.and_utc().timestamp())
}

/// Formats unix seconds as Meta's messages do: `Thursday, 06-Oct-22 00:00:00 PDT`.
pub(crate) fn meta_time(unix_secs: i64) -> String {
    let (offset, zone) = if is_daylight(unix_secs) {
        (PDT_OFFSET_SECS, "PDT")
    } else {
        (PST_OFFSET_SECS, "PST")
    };
    match DateTime::from_timestamp(unix_secs.saturating_add(offset), 0) {
        Some(local) => format!("{} {zone}", local.format("%A, %d-%b-%y %H:%M:%S")),
        None => unix_secs.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unix(text: &str) -> i64 {
        DateTime::parse_from_rfc3339(text).unwrap().timestamp()
    }

    #[test]
    fn matches_the_captured_messages() {
        // fixtures/error_access_token_session_expired.json: 06-Oct-22 00:00:00 PDT is 07:00 UTC.
        assert_eq!(
            meta_time(unix("2022-10-06T07:00:00Z")),
            "Thursday, 06-Oct-22 00:00:00 PDT"
        );
        assert_eq!(
            meta_time(unix("2022-11-23T03:54:40Z")),
            "Tuesday, 22-Nov-22 19:54:40 PST"
        );
        // fixtures/debug_token_user_expired_463.json: expires_at 1668613551.
        assert_eq!(
            meta_time(1_668_613_551),
            "Wednesday, 16-Nov-22 07:45:51 PST"
        );
    }

    #[test]
    fn switches_at_two_in_the_morning_local() {
        // 2024: DST from Sunday 10 March to Sunday 3 November.
        assert!(!is_daylight(unix("2024-03-10T09:59:59Z")));
        assert!(is_daylight(unix("2024-03-10T10:00:00Z")));
        assert_eq!(
            meta_time(unix("2024-03-10T10:00:00Z")),
            "Sunday, 10-Mar-24 03:00:00 PDT"
        );
        assert!(is_daylight(unix("2024-11-03T08:59:59Z")));
        assert!(!is_daylight(unix("2024-11-03T09:00:00Z")));
        assert_eq!(
            meta_time(unix("2024-11-03T09:00:00Z")),
            "Sunday, 03-Nov-24 01:00:00 PST"
        );
        // Winter and summer of another year, and an absurd instant.
        assert!(!is_daylight(unix("2026-01-15T12:00:00Z")));
        assert!(is_daylight(unix("2026-07-15T12:00:00Z")));
        assert_eq!(meta_time(i64::MAX), i64::MAX.to_string());
    }
}
