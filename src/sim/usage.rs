//! Rate-limit usage headers (`X-App-Usage`, `X-Business-Use-Case-Usage`) from request counts.

use std::collections::{HashMap, VecDeque};

use serde_json::json;

pub(crate) const APP_USAGE_HEADER: &str = "x-app-usage";
pub(crate) const BUSINESS_USAGE_HEADER: &str = "x-business-use-case-usage";

/// Notional app budget: calls per hour that make `X-App-Usage` reach 100 percent.
const APP_CALLS_PER_HOUR: u64 = 1000;
/// Business management calls per hour on one WABA or phone (REFERENCE.md section 6).
const MANAGEMENT_CALLS_PER_HOUR: u64 = 200;
/// Notional messaging budget per phone per hour.
const MESSAGING_CALLS_PER_HOUR: u64 = 1000;
const WINDOW_SECS: i64 = 3600;
/// Minutes until access returns when a rate limit is injected.
const THROTTLED_REGAIN_MINUTES: u64 = 5;

/// Which use-case budget a business call draws on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum UseCase {
    /// `whatsapp_business_management`: phone fields, analytics.
    Management,
    /// `whatsapp`: sending messages.
    Messaging,
}

/// Call times within the last hour, for the usage percentages.
#[derive(Debug, Default)]
pub(crate) struct Usage {
    app_calls: VecDeque<i64>,
    business_calls: HashMap<(String, UseCase), VecDeque<i64>>,
}

impl Usage {
    pub(crate) fn record_app_call(&mut self, now: i64) {
        self.app_calls.push_back(now);
        prune(&mut self.app_calls, now);
    }

    pub(crate) fn record_business_call(&mut self, now: i64, id: &str, use_case: UseCase) {
        let calls = self
            .business_calls
            .entry((id.to_string(), use_case))
            .or_default();
        calls.push_back(now);
        prune(calls, now);
    }

    /// `X-App-Usage`: `{"call_count":N,"total_time":N,"total_cputime":N}` in percent.
    pub(crate) fn app_header(&mut self, now: i64, throttled: bool) -> String {
        prune(&mut self.app_calls, now);
        let mut percent = percent_of(self.app_calls.len(), APP_CALLS_PER_HOUR);
        if throttled {
            percent = percent.max(100);
        }
        json!({"call_count": percent, "total_time": percent, "total_cputime": percent}).to_string()
    }

    /// `X-Business-Use-Case-Usage` for one business object, shaped as REFERENCE.md section 6.
    pub(crate) fn business_header(&mut self, now: i64, id: &str, throttled: bool) -> String {
        let entries: Vec<_> = [
            (
                "whatsapp_business_management",
                UseCase::Management,
                MANAGEMENT_CALLS_PER_HOUR,
            ),
            ("whatsapp", UseCase::Messaging, MESSAGING_CALLS_PER_HOUR),
        ]
        .into_iter()
        .map(|(name, use_case, budget)| {
            let count = match self.business_calls.get_mut(&(id.to_string(), use_case)) {
                Some(calls) => {
                    prune(calls, now);
                    calls.len()
                }
                None => 0,
            };
            let mut percent = percent_of(count, budget);
            let mut regain_minutes = 0;
            if throttled {
                percent = percent.max(100);
                regain_minutes = THROTTLED_REGAIN_MINUTES;
            }
            json!({"type": name, "call_count": percent, "total_cputime": percent,
                   "total_time": percent, "estimated_time_to_regain_access": regain_minutes})
        })
        .collect();
        json!({ id: entries }).to_string()
    }
}

/// Rounds up so that any call at all shows as at least 1 percent.
fn percent_of(count: usize, budget: u64) -> u64 {
    (count as u64 * 100).div_ceil(budget)
}

fn prune(calls: &mut VecDeque<i64>, now: i64) {
    while calls.front().is_some_and(|&time| time <= now - WINDOW_SECS) {
        calls.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn app_usage_grows_and_forgets_after_an_hour() {
        let mut usage = Usage::default();
        for _ in 0..20 {
            usage.record_app_call(1000);
        }
        let header: Value = serde_json::from_str(&usage.app_header(1000, false)).unwrap();
        assert_eq!(header["call_count"], 2);
        let later: Value = serde_json::from_str(&usage.app_header(1000 + 3600, false)).unwrap();
        assert_eq!(later["call_count"], 0);
    }

    #[test]
    fn business_usage_counts_per_use_case() {
        let mut usage = Usage::default();
        usage.record_business_call(5, "42", UseCase::Management);
        usage.record_business_call(5, "42", UseCase::Management);
        let header: Value = serde_json::from_str(&usage.business_header(5, "42", false)).unwrap();
        assert_eq!(header["42"][0]["type"], "whatsapp_business_management");
        assert_eq!(header["42"][0]["call_count"], 1);
        assert_eq!(header["42"][1]["call_count"], 0);
        let throttled: Value = serde_json::from_str(&usage.business_header(5, "42", true)).unwrap();
        assert_eq!(throttled["42"][0]["call_count"], 100);
        assert_eq!(throttled["42"][1]["estimated_time_to_regain_access"], 5);
    }
}
