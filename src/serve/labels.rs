//! The label values of the metrics: every one from a fixed set, so a series never appears
//! for an arbitrary string Meta or a log line sent.

use crate::config::PatternLevel;
use crate::engine::TokenState;
use crate::engine::history::Outcome;
use crate::engine::history::cause::{Cause, PublishTarget, Trigger};
use crate::graph::Usage;

/// Every value of `tokentop_token_state{state}`; all are exported, 1 for the current one.
pub const TOKEN_STATES: [&str; 11] = [
    "unknown",
    "valid",
    "never_expires",
    "expiring",
    "refreshing",
    "backoff",
    "expired",
    "invalid",
    "reauth_required",
    "failed",
    "revoked",
];

/// Meta's quality ratings, and UNKNOWN before the first read.
pub const PHONE_QUALITIES: [&str; 5] = ["GREEN", "YELLOW", "RED", "NA", "UNKNOWN"];

/// Meta's phone-number statuses tokentop names; anything else is OTHER.
pub const PHONE_STATUSES: [&str; 8] = [
    "CONNECTED",
    "DISCONNECTED",
    "FLAGGED",
    "RESTRICTED",
    "PENDING",
    "UNVERIFIED",
    "OTHER",
    "UNKNOWN",
];

pub fn state_label(state: &TokenState) -> &'static str {
    match state {
        TokenState::Unknown => "unknown",
        TokenState::Valid => "valid",
        TokenState::NeverExpires => "never_expires",
        TokenState::Expiring => "expiring",
        TokenState::Refreshing => "refreshing",
        TokenState::Backoff { .. } => "backoff",
        TokenState::Expired => "expired",
        TokenState::Invalid { .. } => "invalid",
        TokenState::ReauthRequired { .. } => "reauth_required",
        TokenState::Failed { .. } => "failed",
        TokenState::Revoked { .. } => "revoked",
    }
}

/// A refresh row's trigger in metric spelling; an exchange or an unknown word is `other`.
pub fn trigger_label(cause: &Cause) -> &'static str {
    match cause {
        Cause::Refresh(Trigger::Scheduled) => "scheduled",
        Cause::Refresh(Trigger::Retry) => "retry",
        Cause::Refresh(Trigger::Forced) => "forced",
        Cause::Refresh(Trigger::SendGuard) => "send_guard",
        Cause::Refresh(Trigger::AuthError) => "auth_error",
        _ => "other",
    }
}

pub fn outcome_label(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Ok => "ok",
        Outcome::Failed => "failed",
        Outcome::Skipped => "skipped",
    }
}

/// Every publish target in metric spelling.
pub const PUBLISH_TARGETS: [&str; 6] = [
    "env_file",
    "token_file",
    "on_refresh",
    "signal",
    "restart",
    "other",
];

/// A publish row's target in metric spelling; an unknown word is `other`.
pub fn publish_target_label(cause: &Cause) -> &'static str {
    match cause {
        Cause::Publish(PublishTarget::EnvFile) => "env_file",
        Cause::Publish(PublishTarget::TokenFile) => "token_file",
        Cause::Publish(PublishTarget::OnRefresh) => "on_refresh",
        Cause::Publish(PublishTarget::Signal) => "signal",
        Cause::Publish(PublishTarget::Restart) => "restart",
        _ => "other",
    }
}

pub fn quality_label(rating: Option<&str>) -> &'static str {
    let rating = rating.map(str::to_ascii_uppercase);
    PHONE_QUALITIES
        .into_iter()
        .find(|known| rating.as_deref() == Some(*known))
        .unwrap_or("UNKNOWN")
}

pub fn status_label(status: Option<&str>) -> &'static str {
    let Some(status) = status.map(str::to_ascii_uppercase) else {
        return "UNKNOWN";
    };
    PHONE_STATUSES
        .into_iter()
        .find(|known| status == *known)
        .unwrap_or("OTHER")
}

pub fn level_label(level: Option<PatternLevel>) -> &'static str {
    match level {
        Some(PatternLevel::Ok) => "ok",
        Some(PatternLevel::Warn) => "warn",
        Some(PatternLevel::Error) => "error",
        None => "none",
    }
}

/// `(header, metric, percent)` for each limit in the usage headers. Business entries (one per
/// business and use case) are folded into their highest value per metric: the label set stays
/// bounded and the alert fires on whichever is closest to throttling.
pub fn usage_percents(usage: &Usage) -> Vec<(&'static str, &'static str, u32)> {
    let mut out = Vec::new();
    if let Some(app) = &usage.app {
        out.push(("app", "call_count", app.call_count));
        out.push(("app", "total_time", app.total_time));
        out.push(("app", "total_cputime", app.total_cputime));
    }
    if !usage.business.is_empty() {
        let max = |f: fn(&crate::graph::BusinessUsage) -> u32| {
            usage.business.iter().map(f).max().unwrap_or(0)
        };
        out.push(("business_use_case", "call_count", max(|b| b.call_count)));
        out.push(("business_use_case", "total_time", max(|b| b.total_time)));
        out.push((
            "business_use_case",
            "total_cputime",
            max(|b| b.total_cputime),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_words_fold_into_bounded_labels() {
        use crate::engine::history::HistoryEvent;
        assert_eq!(trigger_label(&Trigger::SendGuard.into()), "send_guard");
        let unknown = Cause::parse(HistoryEvent::Refresh, "anything at all");
        assert_eq!(trigger_label(&unknown), "other");
        assert_eq!(trigger_label(&Cause::Exchange), "other");
        assert_eq!(
            publish_target_label(&PublishTarget::OnRefresh.into()),
            "on_refresh"
        );
        let unknown = Cause::parse(HistoryEvent::Publish, "webhook");
        assert_eq!(publish_target_label(&unknown), "other");
        assert_eq!(quality_label(Some("red")), "RED");
        assert_eq!(quality_label(Some("PURPLE")), "UNKNOWN");
        assert_eq!(quality_label(None), "UNKNOWN");
        assert_eq!(status_label(Some("CONNECTED")), "CONNECTED");
        assert_eq!(status_label(Some("BANNED_FOREVER")), "OTHER");
        assert_eq!(status_label(None), "UNKNOWN");
    }

    #[test]
    fn every_state_has_a_listed_label() {
        let states = [
            TokenState::Unknown,
            TokenState::Valid,
            TokenState::NeverExpires,
            TokenState::Expiring,
            TokenState::Refreshing,
            TokenState::Backoff { retry_at: 0 },
            TokenState::Expired,
            TokenState::Invalid {
                code: None,
                subcode: None,
            },
            TokenState::ReauthRequired {
                reason: String::new(),
            },
            TokenState::Failed {
                reason: String::new(),
            },
            TokenState::Revoked {
                event: String::new(),
            },
        ];
        let labels: Vec<&str> = states.iter().map(state_label).collect();
        assert_eq!(labels, TOKEN_STATES);
    }
}
