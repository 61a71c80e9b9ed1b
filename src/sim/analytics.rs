//! `GET /{v}/{waba-id}?fields=analytics.start(S).end(E).granularity(G)` (section 9), with
//! synthetic but deterministic counts.

use axum::http::Method;
use chrono::{DateTime, Months};
use serde_json::{Value, json};

use super::envelope::{GraphError, GraphResponse};
use super::node_auth::authorize;
use super::phone::SimPhone;
use super::request::GraphRequest;
use super::state::SimHandle;

/// Most data points one response carries, so a huge range cannot exhaust memory.
pub(crate) const MAX_DATA_POINTS: usize = 1000;
const HALF_HOUR_SECS: i64 = 1800;
const DAY_SECS: i64 = 86_400;

/// A parsed `analytics.start(..).end(..).granularity(..)` expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AnalyticsQuery {
    pub start: i64,
    pub end: i64,
    pub granularity: String,
}

pub(crate) fn analytics(
    sim: &SimHandle,
    request: &GraphRequest,
    id: &str,
    now: i64,
) -> GraphResponse {
    if request.method != Method::GET {
        return GraphError::unsupported(request.method.as_str(), id).response();
    }
    if let Err(error) = authorize(sim, request, now) {
        return error.response();
    }
    let query = match parse(request.param("fields").unwrap_or_default()) {
        Ok(query) => query,
        Err(message) => return GraphError::invalid_param(format!("(#100) {message}")).response(),
    };
    let mut phone_numbers: Vec<String> = sim
        .lock()
        .phones
        .values()
        .map(|phone| phone.display_phone_number.clone())
        .collect();
    if phone_numbers.is_empty() {
        phone_numbers.push(SimPhone::default().display_phone_number);
    }
    phone_numbers.sort();
    let body = json!({
        "analytics": {
            "phone_numbers": phone_numbers,
            "granularity": query.granularity,
            "data_points": data_points(&query),
        },
        "id": id,
    });
    GraphResponse::ok(&body)
}

/// Parses the `fields` expression; the error says what is wrong and what is allowed.
pub(crate) fn parse(fields: &str) -> Result<AnalyticsQuery, String> {
    const FORM: &str = "expected analytics.start(UNIX).end(UNIX).granularity(HALF_HOUR|DAY|MONTH)";
    let fields = fields.trim();
    let fields = fields.strip_suffix(",id").unwrap_or(fields);
    let mut rest = fields
        .strip_prefix("analytics")
        .ok_or_else(|| format!("fields must start with analytics; {FORM}"))?;
    let (mut start, mut end, mut granularity) = (None, None, None);
    while !rest.is_empty() {
        let modifier = rest
            .strip_prefix('.')
            .ok_or_else(|| format!("unexpected \"{rest}\"; {FORM}"))?;
        let (name, after_name) = modifier
            .split_once('(')
            .ok_or_else(|| format!("\"{modifier}\" lacks its (argument); {FORM}"))?;
        let (argument, after) = after_name
            .split_once(')')
            .ok_or_else(|| format!("analytics.{name}( is not closed; {FORM}"))?;
        match name {
            "start" => start = Some(unix_seconds("start", argument)?),
            "end" => end = Some(unix_seconds("end", argument)?),
            "granularity" => granularity = Some(argument.trim().to_string()),
            // Filters Meta accepts; the simulator's numbers do not depend on them.
            "phone_numbers" | "country_codes" | "product_types" => {}
            other => return Err(format!("unknown analytics parameter \"{other}\"; {FORM}")),
        }
        rest = after;
    }
    let (Some(start), Some(end), Some(granularity)) = (start, end, granularity) else {
        return Err(format!(
            "start, end and granularity are all required; {FORM}"
        ));
    };
    if !matches!(granularity.as_str(), "HALF_HOUR" | "DAY" | "MONTH") {
        return Err(format!(
            "granularity \"{granularity}\" is not one of HALF_HOUR, DAY, MONTH"
        ));
    }
    if end <= start {
        return Err(format!("end ({end}) must be after start ({start})"));
    }
    Ok(AnalyticsQuery {
        start,
        end,
        granularity,
    })
}

fn unix_seconds(name: &str, argument: &str) -> Result<i64, String> {
    argument
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|value| *value >= 0)
        .ok_or_else(|| format!("{name}({argument}) must be unix seconds"))
}

/// The start of the step after `start`; `None` past chrono's range.
fn next_step(start: i64, granularity: &str) -> Option<i64> {
    match granularity {
        "HALF_HOUR" => start.checked_add(HALF_HOUR_SECS),
        "DAY" => start.checked_add(DAY_SECS),
        _ => DateTime::from_timestamp(start, 0)?
            .checked_add_months(Months::new(1))
            .map(|time| time.timestamp()),
    }
}

/// One point per step from start until end, at most [`MAX_DATA_POINTS`].
pub(crate) fn data_points(query: &AnalyticsQuery) -> Vec<Value> {
    let mut points = Vec::new();
    let mut start = query.start;
    while start < query.end && points.len() < MAX_DATA_POINTS {
        let Some(end) = next_step(start, &query.granularity) else {
            break;
        };
        let (sent, delivered) = counts(start, end);
        points.push(json!({"start": start, "end": end, "sent": sent, "delivered": delivered}));
        start = end;
    }
    points
}

/// Deterministic counts for a step: sent scales with its length, 97-99.9% delivered.
fn counts(start: i64, end: i64) -> (u64, u64) {
    let hash = splitmix64(start as u64);
    let half_hours = ((end - start) / HALF_HOUR_SECS).max(1) as u64;
    let sent = (100 + hash % 400) * half_hours;
    let delivered_per_mille = 970 + (hash >> 32) % 30;
    (sent, (sent * delivered_per_mille + 500) / 1000)
}

fn splitmix64(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_form() {
        let query =
            parse("analytics.start(1732780800).end(1732784400).granularity(HALF_HOUR)").unwrap();
        assert_eq!(query.start, 1_732_780_800);
        assert_eq!(data_points(&query).len(), 2);
    }

    #[test]
    fn malformed_expressions_say_what_is_allowed() {
        for bad in [
            "analytics.start(1).end(2)",
            "analytics.start(x).end(2).granularity(DAY)",
            "analytics.start(1).end(2).granularity(WEEK)",
            "analytics.start(5).end(2).granularity(DAY)",
            "analytics.start(1.end(2).granularity(DAY)",
            "analytics.bogus(1)",
            "status",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn months_follow_the_calendar_and_counts_are_capped() {
        // 2024-01-01 to 2024-04-01: 31 + 29 + 31 days.
        let query = AnalyticsQuery {
            start: 1_704_067_200,
            end: 1_711_929_600,
            granularity: "MONTH".into(),
        };
        let points = data_points(&query);
        assert_eq!(points.len(), 3);
        assert_eq!(
            points[1]["end"].as_i64().unwrap() - points[1]["start"].as_i64().unwrap(),
            29 * DAY_SECS
        );
        let huge = AnalyticsQuery {
            start: 0,
            end: i64::from(u32::MAX),
            granularity: "HALF_HOUR".into(),
        };
        assert_eq!(data_points(&huge).len(), MAX_DATA_POINTS);
    }

    #[test]
    fn delivered_is_most_of_sent() {
        for start in 0..100 {
            let (sent, delivered) = counts(start * 1800, start * 1800 + 1800);
            assert!(
                delivered <= sent && delivered * 100 >= sent * 96,
                "{sent} {delivered}"
            );
        }
    }
}
