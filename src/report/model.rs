//! The shape of the `check` report (also `/status`): statuses, exit codes, each account.

use serde::Serialize;

use super::cluster::ClusterReport;
use crate::engine::delivery::RateSummary;
use crate::engine::history::refresh_stats::RefreshRates;
use crate::engine::telemetry_types::{PhoneSnapshot, WebhookRates};

/// Monitoring-plugin status of one account or of the whole check: the engine's one urgency
/// rule, so `check` and the dashboard always agree.
pub use crate::engine::urgency::Level as Status;

/// The monitoring-plugin exit code of a status.
pub fn exit_code(status: Status) -> u8 {
    match status {
        Status::Ok => 0,
        Status::Warning => 1,
        Status::Critical => 2,
        Status::Unknown => 3,
    }
}

/// One token's expiry in the JSON report.
#[derive(Debug, Clone, Serialize)]
pub struct ExpiryReport {
    /// Unix seconds; `null` when it never expires or is unknown.
    pub expires_at: Option<i64>,
    pub never: bool,
    pub seconds_left: Option<i64>,
}

/// Phone-number health in the JSON report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PhoneReport {
    pub quality_rating: Option<String>,
    pub status: Option<String>,
    /// AVAILABLE | LIMITED | BLOCKED (the worst entity).
    pub can_send_message: Option<String>,
    pub messaging_limit: Option<String>,
    pub throughput: Option<String>,
    pub error: Option<String>,
}

/// Rate-limit headroom in the JSON report.
#[derive(Debug, Clone, Serialize)]
pub struct HeadroomReport {
    /// Highest usage percentage of any limit (100 = throttled).
    pub max_percent: Option<u32>,
    pub regain_access_secs: Option<u64>,
}

/// Delivery success over the last hour, per source.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DeliveryReport {
    /// From the app's logs (shared by every account).
    pub logs: Option<RateSummary>,
    pub test_sends: Option<RateSummary>,
    pub analytics: Option<RateSummary>,
    /// Meta's status webhooks through the relay (`[webhook]`): the truth when present.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhooks: Option<RateSummary>,
    /// Why a source has no number (no running daemon, no WABA id, ...).
    pub notes: Vec<String>,
}

/// Sends through the proxy that Meta accepted and never delivered in time, joined with the
/// relay's status webhooks by wamid (only while both the proxy and the relay run).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UndeliveredReport {
    /// `[webhook] undelivered-after`.
    pub undelivered_after_secs: u64,
    /// Sends whose deadline passed in the last hour without `delivered`, `read` or `failed`.
    pub last_1h: u64,
    /// Every such send since the daemon started.
    pub total: u64,
    /// Those still without a status now.
    pub overdue: u64,
}

/// One account in the JSON report.
#[derive(Debug, Clone, Serialize)]
pub struct AccountReport {
    pub name: String,
    pub status: Status,
    pub state: String,
    pub reasons: Vec<String>,
    pub token_type: Option<String>,
    /// The token's class (`user-short` ... `business-60d`, `app`, `unknown`).
    pub token_class: crate::engine::TokenClass,
    /// `messaging`, `management` or `both`.
    pub purpose: crate::config::Purpose,
    /// The account's owner labels; absent when it has none.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub labels: std::collections::BTreeMap<String, String>,
    pub access_token: Option<String>,
    pub access_expiry: Option<ExpiryReport>,
    /// `null` when the access token is its own long-lived token.
    pub long_lived_token: Option<String>,
    pub long_lived_expiry: Option<ExpiryReport>,
    pub data_access_expiry: Option<ExpiryReport>,
    pub missing_scopes: Vec<String>,
    pub action_hint: Option<String>,
    pub phone: Option<PhoneReport>,
    pub headroom: Option<HeadroomReport>,
    pub delivery_1h: DeliveryReport,
    /// Refresh success over 24 h, 7 d and 30 d from the history file; absent when the
    /// reporter keeps no refresh history.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_rate: Option<RefreshRates>,
    /// Per configured publish target: whether it holds the current token, when it last took
    /// one, its last failure.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub publish: Vec<crate::engine::publish::health::TargetHealth>,
    /// Who took the current token since it was published (token endpoint readers, stale
    /// proxied sends); absent when nobody read it and no stale send was seen.
    #[serde(skip_serializing_if = "crate::engine::consumers::ConsumerView::is_quiet")]
    pub consumers: crate::engine::consumers::ConsumerView,
    /// Proxied sends not delivered in time; absent unless the proxy and the relay both run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy_undelivered: Option<UndeliveredReport>,
    /// This account's messages by Meta's status webhooks (the relay's): delivered, read and
    /// failed over 15 min, 1 h and 24 h with their rates, and pricing categories; absent
    /// when the relay saw no status of its phone number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhooks: Option<WebhookRates>,
}

/// The whole JSON report.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub status: Status,
    pub exit_code: u8,
    pub checked_at: i64,
    pub accounts: Vec<AccountReport>,
    /// With `[cluster]` only: Redis, its members and leases.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterReport>,
    /// The configured Graph API version and the day Meta stops serving it; absent when no
    /// date is known for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub graph_version: Option<super::GraphVersionReport>,
    /// Account files of `[accounts] dir` skipped for their problems, a WARNING each; absent
    /// when there are none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub invalid_account_files: Vec<super::InvalidFileReport>,
}

/// What `check` knows about one account besides the token snapshot.
#[derive(Debug, Clone, Default)]
pub struct Extras {
    pub refresh_failing: bool,
    pub phone: Option<PhoneSnapshot>,
    pub delivery: DeliveryReport,
    pub refresh_rate: Option<RefreshRates>,
    pub proxy_undelivered: Option<UndeliveredReport>,
    pub webhooks: Option<WebhookRates>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_monitoring_convention() {
        let codes = [
            Status::Ok,
            Status::Warning,
            Status::Critical,
            Status::Unknown,
        ]
        .map(exit_code);
        assert_eq!(codes, [0, 1, 2, 3]);
    }

    #[test]
    fn overall_order_is_critical_unknown_warning_ok() {
        assert!(Status::Critical > Status::Unknown);
        assert!(Status::Unknown > Status::Warning);
        assert!(Status::Warning > Status::Ok);
    }
}
