//! The rate-limit usage headers of the latest answer, parsed again only when they change:
//! Meta sends both with every answer and their percentages move slowly, while parsing them
//! (two JSON documents) was a twentieth of the proxy's CPU per request.

use std::sync::{Mutex, PoisonError};

use axum::http::{HeaderMap, HeaderValue};

use crate::graph::{APP_USAGE_HEADER, BUSINESS_USAGE_HEADER, Usage, parse_usage};

/// The headers last parsed and what they said.
struct Seen {
    app: Option<HeaderValue>,
    business: Option<HeaderValue>,
    usage: Usage,
}

#[derive(Default)]
pub struct UsageMemo {
    last: Mutex<Option<Seen>>,
}

impl UsageMemo {
    /// What [`parse_usage`] makes of `headers`.
    pub fn parse(&self, headers: &HeaderMap) -> Usage {
        let app = headers.get(APP_USAGE_HEADER);
        let business = headers.get(BUSINESS_USAGE_HEADER);
        if app.is_none() && business.is_none() {
            return Usage::default();
        }
        // Plain data: a panic elsewhere while it was held leaves nothing half-written.
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(seen) = last
            .as_ref()
            .filter(|seen| seen.app.as_ref() == app && seen.business.as_ref() == business)
        {
            return seen.usage.clone();
        }
        let usage = parse_usage(headers);
        *last = Some(Seen {
            app: app.cloned(),
            business: business.cloned(),
            usage: usage.clone(),
        });
        usage
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(app: &str, business: Option<&str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(APP_USAGE_HEADER, app.parse().unwrap());
        if let Some(business) = business {
            headers.insert(BUSINESS_USAGE_HEADER, business.parse().unwrap());
        }
        headers
    }

    #[test]
    fn gives_what_parsing_gives_as_the_headers_change() {
        let memo = UsageMemo::default();
        let business = r#"{"106540352242922":[{"call_count":7,"total_cputime":1,"total_time":1,"type":"whatsapp","estimated_time_to_regain_access":0}]}"#;
        let answers = [
            headers(r#"{"call_count":5,"total_cputime":1,"total_time":1}"#, None),
            headers(r#"{"call_count":5,"total_cputime":1,"total_time":1}"#, None),
            headers(
                r#"{"call_count":5,"total_cputime":1,"total_time":1}"#,
                Some(business),
            ),
            headers(r#"{"call_count":9,"total_cputime":1,"total_time":1}"#, None),
            headers("not json", None),
            HeaderMap::new(),
            headers(r#"{"call_count":9,"total_cputime":1,"total_time":1}"#, None),
        ];
        for answer in &answers {
            assert_eq!(memo.parse(answer), parse_usage(answer), "{answer:?}");
        }
        assert_eq!(memo.parse(&answers[2]).business.len(), 1);
    }
}
