//! The `check` report: monitoring status of each account and why, as pure functions of what
//! the engine found, so every rule is unit-tested without a network.

use serde::Serialize;

use crate::config::RefreshPolicy;
use crate::engine::AccountSnapshot;
use crate::engine::delivery::RateSummary;
use crate::engine::history::refresh_stats::RefreshRates;
use crate::engine::telemetry_types::PhoneSnapshot;
use crate::engine::urgency::{Remedy, Windows, remedy, urgency};
use crate::format::left as format_left;
use crate::graph::Expiry;

/// Rate-limit usage at or above this percentage is a WARNING.
pub const HEADROOM_WARN_PERCENT: u32 = 80;

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
    /// Why a source has no number (no running daemon, no WABA id, ...).
    pub notes: Vec<String>,
}

/// One account in the JSON report.
#[derive(Debug, Clone, Serialize)]
pub struct AccountReport {
    pub name: String,
    pub status: Status,
    pub state: String,
    pub reasons: Vec<String>,
    pub token_type: Option<String>,
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
    pub cluster: Option<super::check_cluster::ClusterReport>,
}

/// What `check` knows about one account besides the token snapshot.
#[derive(Debug, Clone, Default)]
pub struct Extras {
    pub refresh_failing: bool,
    pub phone: Option<PhoneSnapshot>,
    pub delivery: DeliveryReport,
    pub refresh_rate: Option<RefreshRates>,
}

fn expiry_report(expiry: Expiry, now: i64) -> ExpiryReport {
    match expiry {
        Expiry::Never => ExpiryReport {
            expires_at: None,
            never: true,
            seconds_left: None,
        },
        Expiry::Unknown => ExpiryReport {
            expires_at: None,
            never: false,
            seconds_left: None,
        },
        Expiry::At(at) => ExpiryReport {
            expires_at: Some(at),
            never: false,
            seconds_left: Some(at.saturating_sub(now)),
        },
    }
}

/// Collects the worst status and every reason for it.
#[derive(Default)]
struct Verdict {
    status: Status,
    reasons: Vec<String>,
}

impl Verdict {
    fn raise(&mut self, to: Status, reason: String) {
        self.status = self.status.max(to);
        self.reasons.push(reason);
    }
}

/// Status of one account and why.
pub fn account_report(
    snapshot: &AccountSnapshot,
    policy: &RefreshPolicy,
    now: i64,
    extras: &Extras,
) -> AccountReport {
    let token = urgency(snapshot, &Windows::from(policy), now);
    let action_hint = remedy(snapshot, &token).map(|r| what_to_do(&snapshot.name, r));
    // Once only a person can help, a failed refresh is no news.
    let reauth_or_down = token.reauth_needed || token.level == Status::Critical;
    let mut verdict = Verdict {
        status: token.level,
        reasons: token.reasons,
    };
    if extras.refresh_failing && !reauth_or_down {
        verdict.raise(Status::Warning, "last refresh failed".to_string());
    }
    let phone = extras.phone.as_ref().map(phone_report);
    if let Some(phone) = &phone {
        phone_verdict(&mut verdict, phone);
    }
    let headroom = extras
        .phone
        .as_ref()
        .filter(|p| !p.usage.is_empty())
        .map(|p| HeadroomReport {
            max_percent: p.usage.max_percent(),
            regain_access_secs: p.usage.regain_access_after().map(|d| d.as_secs()),
        });
    if let Some(percent) = headroom.as_ref().and_then(|h| h.max_percent)
        && percent >= HEADROOM_WARN_PERCENT
    {
        verdict.raise(Status::Warning, format!("rate-limit usage at {percent}%"));
    }
    let info = snapshot.access.as_ref().map(|i| &i.info);
    AccountReport {
        name: snapshot.name.clone(),
        status: verdict.status,
        state: snapshot.state.label().to_string(),
        reasons: verdict.reasons,
        token_type: info.and_then(|i| i.token_type.clone()),
        access_token: snapshot.access_token_masked.clone(),
        access_expiry: info.map(|i| expiry_report(i.expiry(), now)),
        long_lived_token: snapshot.long_lived_token_masked.clone(),
        long_lived_expiry: snapshot
            .long_lived
            .as_ref()
            .map(|i| expiry_report(i.expiry(), now)),
        data_access_expiry: info.map(|i| expiry_report(i.data_access_expiry(), now)),
        missing_scopes: snapshot.missing_scopes.clone(),
        action_hint,
        phone,
        headroom,
        delivery_1h: extras.delivery.clone(),
        refresh_rate: extras.refresh_rate.clone(),
    }
}

/// The remedy in words for a terminal or a monitoring system.
fn what_to_do(account: &str, remedy: Remedy) -> String {
    if remedy.refresh_first {
        format!(
            "run `tokentop refresh {account}`. If that fails: {}",
            remedy.text
        )
    } else {
        remedy.text
    }
}

fn phone_report(phone: &PhoneSnapshot) -> PhoneReport {
    let Some(health) = &phone.health else {
        return PhoneReport {
            error: phone.error.clone(),
            ..PhoneReport::default()
        };
    };
    PhoneReport {
        quality_rating: health.quality_rating.clone(),
        status: health.status.clone(),
        can_send_message: health
            .health
            .as_ref()
            .and_then(|h| h.can_send_message.clone()),
        messaging_limit: health.messaging_limit.clone(),
        throughput: health.throughput_level.clone(),
        error: phone.error.clone(),
    }
}

/// BLOCKED or RED: CRITICAL. LIMITED or YELLOW: WARNING.
fn phone_verdict(verdict: &mut Verdict, phone: &PhoneReport) {
    match phone.can_send_message.as_deref() {
        Some("BLOCKED") => verdict.raise(Status::Critical, "phone health BLOCKED".to_string()),
        Some("LIMITED") => verdict.raise(Status::Warning, "phone health LIMITED".to_string()),
        _ => {}
    }
    match phone.quality_rating.as_deref() {
        Some("RED") => verdict.raise(Status::Critical, "phone quality RED".to_string()),
        Some("YELLOW") => verdict.raise(Status::Warning, "phone quality YELLOW".to_string()),
        _ => {}
    }
}

fn describe(expiry: &Option<ExpiryReport>) -> String {
    match expiry {
        Some(ExpiryReport { never: true, .. }) => "never".to_string(),
        Some(ExpiryReport {
            seconds_left: Some(left),
            ..
        }) => format_left(*left),
        _ => "unknown".to_string(),
    }
}

fn describe_rate(rate: Option<RateSummary>) -> String {
    match rate {
        Some(r) => format!(
            "{:.1}% ({}/{})",
            r.percent,
            r.delivered,
            r.delivered + r.failed
        ),
        None => "-".to_string(),
    }
}

/// `production: OK - valid; access 41d 03:12:45 (SYSTEM_USER EAAG…x9Qf); ...; phone GREEN CONNECTED AVAILABLE; ...`
pub fn account_line(report: &AccountReport) -> String {
    let long_lived = match &report.long_lived_token {
        None => "same token".to_string(),
        Some(_) => describe(&report.long_lived_expiry),
    };
    let scopes = if report.missing_scopes.is_empty() {
        "ok".to_string()
    } else {
        format!("missing {}", report.missing_scopes.join(", "))
    };
    let mut line = format!(
        "{}: {} - {}; access {} ({} {}); long-lived {}; data access {}; scopes {}",
        report.name,
        report.status.label(),
        report.state,
        describe(&report.access_expiry),
        report.token_type.as_deref().unwrap_or("type unknown"),
        report.access_token.as_deref().unwrap_or("no token"),
        long_lived,
        describe(&report.data_access_expiry),
        scopes
    );
    if let Some(phone) = &report.phone {
        let field = |v: &Option<String>| v.clone().unwrap_or_else(|| "?".to_string());
        match &phone.error {
            Some(err) if phone.quality_rating.is_none() => {
                line.push_str(&format!("; phone unknown ({err})"))
            }
            _ => line.push_str(&format!(
                "; phone {} {} {}",
                field(&phone.quality_rating),
                field(&phone.status),
                field(&phone.can_send_message)
            )),
        }
    }
    if let Some(percent) = report.headroom.as_ref().and_then(|h| h.max_percent) {
        line.push_str(&format!("; rate-limit usage {percent}%"));
    }
    let d = &report.delivery_1h;
    line.push_str(&format!(
        "; delivery 1h logs {} test {} waba {}",
        describe_rate(d.logs),
        describe_rate(d.test_sends),
        describe_rate(d.analytics)
    ));
    match report.refresh_rate.as_ref().map(|r| (r, r.windows.last())) {
        Some((_, Some(longest))) if longest.attempted == 0 => {
            line.push_str(&format!("; no refreshes in {}", longest.window));
        }
        Some((rates, _)) => line.push_str(&format!("; refresh ok {}", rates.describe(true))),
        None => {}
    }
    if !report.reasons.is_empty() {
        line.push_str(&format!(" [{}]", report.reasons.join("; ")));
    }
    if let Some(hint) = &report.action_hint {
        line.push_str(&format!("\n  what to do: {hint}"));
    }
    line
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::telemetry_types::PhoneSnapshot;
    use crate::engine::{Inspection, TokenState};
    use crate::graph::TokenInfo;
    use crate::graph::Usage;

    const NOW: i64 = 1_800_000_000;

    fn snapshot(expires_at: i64, valid: bool) -> AccountSnapshot {
        let info: TokenInfo = serde_json::from_value(serde_json::json!({
            "is_valid": valid, "type": "SYSTEM_USER", "expires_at": expires_at,
            "scopes": ["whatsapp_business_management", "whatsapp_business_messaging"]
        }))
        .unwrap();
        let mut s = AccountSnapshot::new("a");
        s.access = Some(Inspection {
            checked_at: chrono::Utc::now(),
            info,
        });
        s.state = if valid {
            TokenState::Valid
        } else {
            TokenState::Expired
        };
        s
    }

    fn status(s: &AccountSnapshot, failing: bool) -> Status {
        let extras = Extras {
            refresh_failing: failing,
            ..Extras::default()
        };
        account_report(s, &RefreshPolicy::default(), NOW, &extras).status
    }

    #[test]
    fn far_expiry_is_ok_and_never_is_ok() {
        assert_eq!(
            status(&snapshot(NOW + 30 * 86_400, true), false),
            Status::Ok
        );
        assert_eq!(status(&snapshot(0, true), false), Status::Ok);
    }

    #[test]
    fn inside_warn_before_is_warning_inside_critical_before_is_critical() {
        assert_eq!(
            status(&snapshot(NOW + 3 * 86_400, true), false),
            Status::Warning
        );
        assert_eq!(status(&snapshot(NOW + 3600, true), false), Status::Critical);
    }

    #[test]
    fn a_dead_access_token_or_a_failed_account_is_critical() {
        assert_eq!(status(&snapshot(NOW - 10, false), false), Status::Critical);
        let mut s = snapshot(NOW - 10, false);
        s.state = TokenState::ReauthRequired { reason: "x".into() };
        assert_eq!(status(&s, false), Status::Critical);
        // Its task kept panicking: nothing watches or refreshes the token any more.
        let mut s = snapshot(NOW + 30 * 86_400, true);
        s.state = TokenState::Failed {
            reason: "panicked".into(),
        };
        assert_eq!(status(&s, false), Status::Critical);
    }

    /// Issue 10: severity follows the time until sending stops, not the refresh credential.
    #[test]
    fn reauth_while_the_access_token_has_time_is_a_warning_with_the_remedy() {
        let mut s = snapshot(NOW + 30 * 86_400, true);
        s.state = TokenState::ReauthRequired { reason: "x".into() };
        let report = account_report(&s, &RefreshPolicy::default(), NOW, &Extras::default());
        assert_eq!(report.status, Status::Warning);
        assert_eq!(report.reasons, ["re-auth needed within 30d"]);
        assert_eq!(
            report.action_hint.as_deref(),
            Some(crate::engine::reauth_hint("a", true).as_str())
        );
        // The failed exchange that found it adds nothing: only a person can help now.
        assert_eq!(status(&s, true), Status::Warning);
        let line = account_line(&report);
        assert!(line.starts_with("a: WARNING - re-auth required;"), "{line}");
        assert!(line.contains("[re-auth needed within 30d]"), "{line}");
    }

    #[test]
    fn an_expired_token_says_to_refresh_first() {
        let report = account_report(
            &snapshot(NOW - 10, true),
            &RefreshPolicy::default(),
            NOW,
            &Extras::default(),
        );
        let hint = report.action_hint.unwrap_or_default();
        assert!(
            hint.starts_with("run `tokentop refresh a`. If that fails: "),
            "{hint}"
        );
        assert!(
            hint.ends_with(&crate::engine::reauth_hint("a", true)),
            "{hint}"
        );
    }

    #[test]
    fn the_line_says_the_refresh_rate_or_that_there_were_no_refreshes() {
        use crate::engine::history::cause::Trigger;
        use crate::engine::history::refresh_stats::{RefreshRates, account_rates};
        use crate::engine::history::{HistoryEntry, Outcome};
        let s = snapshot(NOW + 30 * 86_400, true);
        let line = |rates: RefreshRates| {
            let extras = Extras {
                refresh_rate: Some(rates),
                ..Extras::default()
            };
            account_line(&account_report(&s, &RefreshPolicy::default(), NOW, &extras))
        };
        let none = line(RefreshRates::default());
        assert!(none.contains("; no refreshes in 30d"), "{none}");
        let now = chrono::DateTime::from_timestamp(NOW, 0).unwrap();
        let mut entry = HistoryEntry::new("a", Trigger::Scheduled, Outcome::Ok);
        entry.time = now - chrono::Duration::days(2);
        let some = line(account_rates([&entry], "a", now));
        assert!(
            some.contains("; refresh ok 24h no refreshes · 7d 1/1 · 30d 1/1"),
            "{some}"
        );
        let without = account_line(&account_report(
            &s,
            &RefreshPolicy::default(),
            NOW,
            &Extras::default(),
        ));
        assert!(!without.contains("refresh"), "{without}");
    }

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
    fn failing_refresh_is_warning() {
        assert_eq!(
            status(&snapshot(NOW + 30 * 86_400, true), true),
            Status::Warning
        );
    }

    #[test]
    fn uninspectable_account_is_unknown() {
        let mut s = AccountSnapshot::new("a");
        s.last_error = Some("connection refused".into());
        assert_eq!(status(&s, false), Status::Unknown);
        let mut s = AccountSnapshot::new("a");
        s.config_problem = Some("missing app-secret".into());
        assert_eq!(status(&s, false), Status::Unknown);
    }

    #[test]
    fn overall_order_is_critical_unknown_warning_ok() {
        assert!(Status::Critical > Status::Unknown);
        assert!(Status::Unknown > Status::Warning);
        assert!(Status::Warning > Status::Ok);
    }

    /// Meta's answer may hold any i64; none of them may panic `check` (issue 8 item 6).
    #[test]
    fn extreme_expiry_values_give_a_report_without_panicking() {
        let extremes = [i64::MIN, i64::MIN + 1, -1, 0, 1, i64::MAX - 1, i64::MAX];
        for access in extremes {
            for data_access in extremes {
                let mut s = snapshot(access, true);
                if let Some(inspection) = s.access.as_mut() {
                    inspection.info.data_access_expires_at = Some(data_access);
                }
                s.long_lived = s.access.clone();
                s.long_lived_token_masked = Some("EAAG…x9Qf".into());
                for now in [i64::MIN, 0, NOW, i64::MAX] {
                    let report =
                        account_report(&s, &RefreshPolicy::default(), now, &Extras::default());
                    let line = account_line(&report);
                    assert!(line.starts_with("a: "), "{line}");
                    serde_json::to_string(&report).unwrap();
                }
            }
        }
    }

    #[test]
    fn extreme_expiries_are_graded_by_saturated_time_left() {
        let report = |at: i64| {
            account_report(
                &snapshot(at, true),
                &RefreshPolicy::default(),
                NOW,
                &Extras::default(),
            )
        };
        let far = report(i64::MAX);
        assert_eq!(far.status, Status::Ok);
        assert_eq!(
            far.access_expiry.as_ref().and_then(|e| e.seconds_left),
            Some(i64::MAX - NOW)
        );
        let past = report(i64::MIN);
        assert_eq!(past.status, Status::Critical);
        assert_eq!(
            past.access_expiry.as_ref().and_then(|e| e.seconds_left),
            Some(i64::MIN)
        );
        assert!(
            past.reasons.iter().any(|r| r.contains("expired")),
            "{past:?}"
        );
        assert_eq!(report(-1).status, Status::Critical);
        // 0 is Meta's "never".
        let never = report(0);
        assert_eq!(never.status, Status::Ok);
        assert!(never.access_expiry.is_some_and(|e| e.never));
    }

    fn with_phone(body: &str) -> Status {
        let health = crate::graph::parse_phone_health(body).unwrap();
        let phone = PhoneSnapshot {
            account: "a".into(),
            checked_at: chrono::Utc::now(),
            health: Some(health),
            usage: Usage::default(),
            error: None,
            analytics_note: None,
        };
        let extras = Extras {
            phone: Some(phone),
            ..Extras::default()
        };
        account_report(
            &snapshot(NOW + 30 * 86_400, true),
            &RefreshPolicy::default(),
            NOW,
            &extras,
        )
        .status
    }

    #[test]
    fn phone_health_blocked_or_red_is_critical_limited_or_yellow_warning() {
        assert_eq!(
            with_phone(
                r#"{"quality_rating":"GREEN","health_status":{"can_send_message":"AVAILABLE"}}"#
            ),
            Status::Ok
        );
        assert_eq!(
            with_phone(
                r#"{"quality_rating":"GREEN","health_status":{"can_send_message":"BLOCKED"}}"#
            ),
            Status::Critical
        );
        assert_eq!(with_phone(r#"{"quality_rating":"RED"}"#), Status::Critical);
        assert_eq!(
            with_phone(
                r#"{"quality_rating":"GREEN","health_status":{"can_send_message":"LIMITED"}}"#
            ),
            Status::Warning
        );
        assert_eq!(
            with_phone(r#"{"quality_rating":"YELLOW"}"#),
            Status::Warning
        );
    }
}
