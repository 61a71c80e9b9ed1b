//! Which rate-limit usage alerts are out: an app's limit (`X-App-Usage`) or a business's
//! (`X-Business-Use-Case-Usage`) is shared by every account of that app or business, so its
//! crossing is alerted once, by the first account that sees it, not once per account (at
//! 10,000 accounts of one app that was 10,000 warnings, history rows and alerts a crossing).

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};

use crate::graph::Usage;

/// Usage at or above this percentage of a limit alerts (Meta throttles at 100).
pub(super) const USAGE_ALERT_PERCENT: u32 = 80;

/// The limits over [`USAGE_ALERT_PERCENT`] that were alerted, shared by every account's poller.
#[derive(Debug, Default)]
pub(super) struct UsageAlerts {
    over: Mutex<HashSet<String>>,
}

/// A limit newly over the threshold: what to say, and its highest percentage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Crossing {
    pub limit: String,
    pub percent: u32,
}

impl Crossing {
    pub fn message(&self) -> String {
        format!(
            "rate-limit usage at {}% of {} (alert at {USAGE_ALERT_PERCENT}%; shared by every account using it)",
            self.percent, self.limit
        )
    }
}

impl UsageAlerts {
    /// The limits of `usage` (read by an account of app `app_id`) that are over the threshold
    /// and were not already; limits back under it are forgotten, so their next crossing
    /// alerts again.
    pub fn crossings(&self, app_id: &str, usage: &Usage) -> Vec<Crossing> {
        let mut over = self.over.lock().unwrap_or_else(PoisonError::into_inner);
        let mut crossings = Vec::new();
        for (limit, percent) in limits(app_id, usage) {
            if percent < USAGE_ALERT_PERCENT {
                over.remove(&limit);
            } else if !over.contains(&limit) {
                over.insert(limit.clone());
                crossings.push(Crossing { limit, percent });
            }
        }
        crossings
    }
}

/// Each limit of `usage` in words, with its highest percentage.
fn limits(app_id: &str, usage: &Usage) -> Vec<(String, u32)> {
    let app = usage.app.iter().map(|app| {
        let percent = app.call_count.max(app.total_time).max(app.total_cputime);
        (format!("app {app_id}'s Graph API limit"), percent)
    });
    let business = usage.business.iter().map(|business| {
        let percent = (business.call_count)
            .max(business.total_time)
            .max(business.total_cputime);
        let kind = business.usage_type.as_deref().unwrap_or("any");
        (
            format!("business {}'s {kind} limit", business.business_id),
            percent,
        )
    });
    app.chain(business).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{AppUsage, BusinessUsage};

    fn app_usage(percent: u32) -> Usage {
        Usage {
            app: Some(AppUsage {
                call_count: percent,
                total_time: 1,
                total_cputime: 1,
            }),
            business: Vec::new(),
        }
    }

    #[test]
    fn an_apps_limit_alerts_once_for_all_its_accounts_and_again_after_it_fell() {
        let alerts = UsageAlerts::default();
        let first = alerts.crossings("100", &app_usage(95));
        assert_eq!(
            first,
            [Crossing {
                limit: "app 100's Graph API limit".to_string(),
                percent: 95
            }]
        );
        assert!(
            first[0]
                .message()
                .starts_with("rate-limit usage at 95% of app 100's")
        );
        for _ in 0..10_000 {
            assert!(alerts.crossings("100", &app_usage(96)).is_empty());
        }
        assert_eq!(
            alerts.crossings("200", &app_usage(90)).len(),
            1,
            "another app"
        );
        assert!(alerts.crossings("100", &app_usage(40)).is_empty());
        assert_eq!(
            alerts.crossings("100", &app_usage(81)).len(),
            1,
            "crossed again"
        );
    }

    #[test]
    fn each_business_and_use_case_is_its_own_limit() {
        let alerts = UsageAlerts::default();
        let entry = |id: &str, kind: &str, percent: u32| BusinessUsage {
            business_id: id.to_string(),
            usage_type: Some(kind.to_string()),
            call_count: 1,
            total_time: percent,
            total_cputime: 1,
            estimated_time_to_regain_access_minutes: 0,
        };
        let usage = Usage {
            app: None,
            business: vec![
                entry("7", "whatsapp", 99),
                entry("7", "whatsapp_business_management", 10),
                entry("8", "whatsapp", 80),
            ],
        };
        let limits: Vec<String> = (alerts.crossings("100", &usage).into_iter())
            .map(|c| c.limit)
            .collect();
        assert_eq!(
            limits,
            ["business 7's whatsapp limit", "business 8's whatsapp limit"]
        );
        assert!(alerts.crossings("100", &usage).is_empty());
    }
}
