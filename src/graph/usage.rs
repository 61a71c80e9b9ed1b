//! Rate-limit usage headers `X-App-Usage` and `X-Business-Use-Case-Usage` (REFERENCE.md section 6).

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue};
use serde::Serialize;
use serde_json::Value;

pub(crate) const APP_USAGE_HEADER: &str = "x-app-usage";
pub(crate) const BUSINESS_USAGE_HEADER: &str = "x-business-use-case-usage";

/// Rate-limit headroom reported by Meta; both parts are absent until enough calls were made.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    pub app: Option<AppUsage>,
    pub business: Vec<BusinessUsage>,
}

/// `X-App-Usage`: percentages of the app's limits (throttled at 100).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct AppUsage {
    pub call_count: u32,
    pub total_time: u32,
    pub total_cputime: u32,
}

/// One entry of `X-Business-Use-Case-Usage`: percentages for one business and use case.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BusinessUsage {
    pub business_id: String,
    /// e.g. `whatsapp_business_management`, `whatsapp`.
    pub usage_type: Option<String>,
    pub call_count: u32,
    pub total_time: u32,
    pub total_cputime: u32,
    /// Minutes until throttling lifts; 0 when not throttled.
    pub estimated_time_to_regain_access_minutes: u32,
}

impl Usage {
    /// True when neither header was present (or both were malformed).
    pub fn is_empty(&self) -> bool {
        self.app.is_none() && self.business.is_empty()
    }

    /// The highest percentage of any limit, app or business; `None` without usage headers.
    pub fn max_percent(&self) -> Option<u32> {
        let app = self
            .app
            .iter()
            .flat_map(|a| [a.call_count, a.total_time, a.total_cputime]);
        let business = self
            .business
            .iter()
            .flat_map(|b| [b.call_count, b.total_time, b.total_cputime]);
        app.chain(business).max()
    }

    /// The longest `estimated_time_to_regain_access` among business entries, when above zero.
    pub fn regain_access_after(&self) -> Option<Duration> {
        self.business
            .iter()
            .map(|b| b.estimated_time_to_regain_access_minutes)
            .max()
            .filter(|minutes| *minutes > 0)
            .map(|minutes| Duration::from_secs(u64::from(minutes) * 60))
    }
}

/// Reads both usage headers; a missing or malformed header is left out, never an error,
/// because the headers are advisory and Meta only sends them once usage is noticeable.
pub fn parse_usage(headers: &HeaderMap) -> Usage {
    UsageHeaders::of(headers).parse()
}

/// Both usage headers of one answer as they came, parsed only when read: the proxy keeps the
/// latest per account for the health poller, which reads them once a round, so a proxied
/// request costs two header clones instead of two JSON parses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsageHeaders {
    app: Option<HeaderValue>,
    business: Option<HeaderValue>,
}

impl UsageHeaders {
    pub fn of(headers: &HeaderMap) -> Self {
        Self {
            app: headers.get(APP_USAGE_HEADER).cloned(),
            business: headers.get(BUSINESS_USAGE_HEADER).cloned(),
        }
    }

    /// Neither header came.
    pub fn is_empty(&self) -> bool {
        self.app.is_none() && self.business.is_none()
    }

    pub fn parse(&self) -> Usage {
        Usage {
            app: header_json(self.app.as_ref()).and_then(|v| parse_app_usage(&v)),
            business: header_json(self.business.as_ref())
                .map(|v| parse_business_usage(&v))
                .unwrap_or_default(),
        }
    }
}

fn header_json(value: Option<&HeaderValue>) -> Option<Value> {
    serde_json::from_str(value?.to_str().ok()?).ok()
}

fn parse_app_usage(value: &Value) -> Option<AppUsage> {
    let object = value.as_object()?;
    let app = AppUsage {
        call_count: percent(object.get("call_count"))?,
        total_time: percent(object.get("total_time")).unwrap_or(0),
        total_cputime: percent(object.get("total_cputime")).unwrap_or(0),
    };
    Some(app)
}

fn parse_business_usage(value: &Value) -> Vec<BusinessUsage> {
    let Some(object) = value.as_object() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (business_id, entries) in object {
        let Some(entries) = entries.as_array() else {
            continue;
        };
        out.extend(
            entries
                .iter()
                .filter_map(|entry| parse_business_entry(business_id, entry)),
        );
    }
    out
}

fn parse_business_entry(business_id: &str, entry: &Value) -> Option<BusinessUsage> {
    let object = entry.as_object()?;
    Some(BusinessUsage {
        business_id: business_id.to_string(),
        usage_type: object
            .get("type")
            .and_then(Value::as_str)
            .map(str::to_string),
        call_count: percent(object.get("call_count"))?,
        total_time: percent(object.get("total_time")).unwrap_or(0),
        total_cputime: percent(object.get("total_cputime")).unwrap_or(0),
        estimated_time_to_regain_access_minutes: percent(
            object.get("estimated_time_to_regain_access"),
        )
        .unwrap_or(0),
    })
}

/// A non-negative whole number; fractional values are rounded up so that 99.5% never reads as
/// headroom that is not there.
fn percent(value: Option<&Value>) -> Option<u32> {
    let value = value?;
    if let Some(n) = value.as_u64() {
        return Some(u32::try_from(n).unwrap_or(u32::MAX));
    }
    let f = value.as_f64().filter(|f| f.is_finite() && *f >= 0.0)?;
    // Saturating float-to-int conversion is exactly what is wanted here.
    Some(f.ceil().min(f64::from(u32::MAX)) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn parses_reference_headers() {
        let usage = parse_usage(&headers(&[
            (
                "x-app-usage",
                r#"{"call_count":28,"total_time":25,"total_cputime":25}"#,
            ),
            (
                "x-business-use-case-usage",
                r#"{"102290129340398":[{"type":"whatsapp_business_management","call_count":1,"total_cputime":1,"total_time":1,"estimated_time_to_regain_access":0},{"type":"whatsapp","call_count":96,"total_cputime":1,"total_time":1,"estimated_time_to_regain_access":7}]}"#,
            ),
        ]));
        assert_eq!(usage.app.map(|a| a.call_count), Some(28));
        assert_eq!(usage.business.len(), 2);
        assert_eq!(usage.business[1].usage_type.as_deref(), Some("whatsapp"));
        assert_eq!(usage.max_percent(), Some(96));
        assert_eq!(usage.regain_access_after(), Some(Duration::from_secs(420)));
    }

    #[test]
    fn malformed_headers_are_ignored() {
        let usage = parse_usage(&headers(&[
            ("x-app-usage", "not json"),
            (
                "x-business-use-case-usage",
                r#"{"1":"nope","2":[{"call_count":-3}]}"#,
            ),
        ]));
        assert!(usage.is_empty());
        assert_eq!(usage.max_percent(), None);
        assert_eq!(usage.regain_access_after(), None);
    }
}
