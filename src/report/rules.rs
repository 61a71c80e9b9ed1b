//! The rules of the `check` report: each account's status and why.
//!
//! Pure functions of what the engine found, so every rule is unit-tested without a network.

use super::model::{
    AccountReport, ExpiryReport, Extras, HeadroomReport, PhoneReport, Status, UndeliveredReport,
};
use crate::config::RefreshPolicy;
use crate::engine::AccountSnapshot;
use crate::engine::telemetry_types::PhoneSnapshot;
use crate::engine::urgency::{Remedy, Windows, remedy, urgency};
use crate::graph::Expiry;

/// Rate-limit usage at or above this percentage is a WARNING.
pub const HEADROOM_WARN_PERCENT: u32 = 80;

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
    publish_verdict(&mut verdict, snapshot, reauth_or_down);
    if let Some(undelivered) = extras.proxy_undelivered.as_ref().filter(|u| u.last_1h > 0) {
        verdict.raise(Status::Warning, undelivered_reason(undelivered));
    }
    let info = snapshot.access.as_ref().map(|i| &i.info);
    AccountReport {
        name: snapshot.name.clone(),
        status: verdict.status,
        state: snapshot.state.label().to_string(),
        reasons: verdict.reasons,
        token_type: info.and_then(|i| i.token_type.clone()),
        token_class: snapshot.token_class,
        purpose: snapshot.purpose,
        labels: snapshot.labels.clone(),
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
        publish: snapshot.publish.clone(),
        consumers: snapshot.consumers.clone(),
        proxy_undelivered: extras.proxy_undelivered.clone(),
        webhooks: extras.webhooks.clone(),
    }
}

/// "3 proxied sends accepted by Meta not delivered within 10m in the last hour".
fn undelivered_reason(undelivered: &UndeliveredReport) -> String {
    let count = undelivered.last_1h;
    let sends = if count == 1 { "send" } else { "sends" };
    let within =
        crate::format::within(i64::try_from(undelivered.undelivered_after_secs).unwrap_or(0));
    format!(
        "{count} proxied {sends} accepted by Meta not delivered within {within} in the last hour"
    )
}

/// A publish target without the current token is a WARNING naming it and its last failure:
/// the application may still run on the old token (no news once the token itself is down).
fn publish_verdict(verdict: &mut Verdict, snapshot: &AccountSnapshot, token_down: bool) {
    if token_down || snapshot.access_token_masked.is_none() {
        return;
    }
    for target in snapshot.publish.iter().filter(|t| !t.current) {
        let reason = match &target.last_failure {
            Some(failure) => format!(
                "{} does not hold the current token: {}",
                target.target, failure.message
            ),
            None => format!("{} does not hold the current token", target.target),
        };
        verdict.raise(Status::Warning, reason);
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
    // Meta's webhook since the last poll says the limit first.
    let told_limit = phone.webhook.as_ref().and_then(|n| n.current_limit.clone());
    let Some(health) = &phone.health else {
        return PhoneReport {
            error: phone.error.clone(),
            messaging_limit: told_limit,
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
        messaging_limit: told_limit.or_else(|| health.messaging_limit.clone()),
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

#[cfg(test)]
mod tests {
    use super::super::fixtures::{NOW, snapshot};
    use super::super::text::account_line;
    use super::*;
    use crate::engine::TokenState;
    use crate::graph::Usage;
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
                s.long_lived = s.access.clone().map(Box::new);
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
            webhook: None,
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

    #[test]
    fn undelivered_proxied_sends_in_the_last_hour_are_a_warning_that_says_how_many() {
        let report = |last_1h: u64| {
            let extras = Extras {
                proxy_undelivered: Some(UndeliveredReport {
                    undelivered_after_secs: 600,
                    last_1h,
                    total: last_1h + 4,
                    overdue: 1,
                }),
                ..Extras::default()
            };
            account_report(
                &snapshot(NOW + 30 * 86_400, true),
                &RefreshPolicy::default(),
                NOW,
                &extras,
            )
        };
        let quiet = report(0);
        assert_eq!(quiet.status, Status::Ok, "older ones are history, not news");
        assert_eq!(quiet.proxy_undelivered.as_ref().map(|u| u.total), Some(4));
        let three = report(3);
        assert_eq!(three.status, Status::Warning);
        assert!(
            three.reasons.iter().any(|r| r
                == "3 proxied sends accepted by Meta not delivered within 10m in the last hour"),
            "{:?}",
            three.reasons
        );
        let json = serde_json::to_value(&three).unwrap();
        assert_eq!(json["proxy_undelivered"]["last_1h"], 3);
        let without = account_report(
            &snapshot(NOW + 30 * 86_400, true),
            &RefreshPolicy::default(),
            NOW,
            &Extras::default(),
        );
        let json = serde_json::to_value(&without).unwrap();
        assert!(json.get("proxy_undelivered").is_none(), "{json}");
    }
}
