//! The pure state of one account: its [`Phase`], the refresh plan, and what must be announced.
//!
//! No I/O, no clock, no randomness: the actor passes `now`, jitter and token facts in, and
//! performs the [`Action`]s that come out (alerts, history rows, the remedy on screen). So
//! whole lifecycles are unit-tested here without a runtime.

use std::time::Duration;

use crate::config::RefreshBefore;
use crate::engine::schedule::{RefreshPlan, backoff_delay, plan_refresh};
use crate::engine::state::TokenState;
use crate::engine::token_class::Renewal;
use crate::graph::{ErrorClass, Expiry, TokenInfo};

use super::{MIN_REFRESH_GAP_SECS, Trigger};

/// Where an account is in its refresh lifecycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Phase {
    /// Nothing in flight; a refresh may be planned.
    Idle,
    /// A refresh is running; `from` is the phase it interrupted (where a failure returns to).
    Refreshing { from: Box<Phase> },
    /// `attempt` refreshes in a row failed transiently; the next try is at `retry_at`.
    Backoff { attempt: u32, retry_at: i64 },
    /// Meta refused for lack of permission: no automatic retry until the next inspection.
    Held { attempt: u32 },
    /// Only a person can help: the credential is dead.
    Reauth { reason: String },
}

/// What the actor must do for the state (the state itself does no I/O).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Action {
    /// A re-auth episode began: alert once, record it, show the remedy.
    ReauthNeeded { reason: String },
    /// Meta said the customer took the app's access away (`event`): alert once, record it,
    /// show the remedy.
    Revoked { event: String },
    /// Exchanges cannot extend the expiry past this unix second: alert once, show the remedy.
    RefreshCapped { until: i64 },
    /// Meta refused the refresh for lack of permission: alert.
    PermissionHeld,
    /// The token's class has no renewal (a 60-day business token): only a person can keep it
    /// past this unix second. Alert once per deadline, show the remedy from day one.
    NoRenewal { until: i64 },
}

/// Which token the exchange is made with, as last inspected.
#[derive(Debug, Clone, Copy)]
pub(super) enum Credential<'a> {
    /// The access token is its own credential.
    Access,
    /// A separate long-lived token, not inspected yet.
    SeparateUninspected,
    /// A separate long-lived token and its inspection.
    Separate(&'a TokenInfo),
}

/// The pure state of one account. Token values and inspections stay with the actor.
#[derive(Debug, Clone)]
pub(super) struct AccountState {
    phase: Phase,
    /// When the next scheduled refresh is due (unix seconds), if one is.
    refresh_at: Option<i64>,
    /// Seconds the schedule moves this account's refresh earlier, so accounts spread out.
    jitter_secs: i64,
    last_refresh_unix: Option<i64>,
    /// The last exchange could not extend the expiry past the credential's (this second).
    capped_until: Option<i64>,
    capped_announced: bool,
    /// Meta's `account_update` event that took the app's access away, until it is given back.
    revoked: Option<String>,
    /// How the token's class is kept alive (`token_class::renewal`).
    renewal: Renewal,
    /// The no-renewal deadline last announced, so each deadline alerts once.
    deadline_announced: Option<i64>,
}

impl AccountState {
    pub(super) fn new(jitter_secs: i64) -> Self {
        Self {
            phase: Phase::Idle,
            refresh_at: None,
            jitter_secs,
            last_refresh_unix: None,
            capped_until: None,
            capped_announced: false,
            revoked: None,
            renewal: Renewal::Exchange,
            deadline_announced: None,
        }
    }

    /// The token's class decides how it is kept alive; set before each [`Self::plan`].
    pub(super) fn set_renewal(&mut self, renewal: Renewal) {
        self.renewal = renewal;
    }

    #[cfg(test)]
    pub(super) fn phase(&self) -> &Phase {
        &self.phase
    }

    /// In (or refreshing out of) a re-auth episode.
    pub(super) fn reauth_reason(&self) -> Option<&str> {
        match &self.phase {
            Phase::Reauth { reason } => Some(reason),
            Phase::Refreshing { from } => match from.as_ref() {
                Phase::Reauth { reason } => Some(reason),
                _ => None,
            },
            _ => None,
        }
    }

    /// Whether a remedy must stay on screen (re-auth, re-auth needed before a date, or the
    /// customer's access to give back).
    pub(super) fn needs_person(&self) -> bool {
        self.reauth_reason().is_some() || self.capped_until.is_some() || self.revoked.is_some()
    }

    /// Automatic refreshes may run (not in re-auth, not held after a permission error, not
    /// revoked).
    fn may_refresh_automatically(&self) -> bool {
        self.reauth_reason().is_none()
            && !matches!(self.phase, Phase::Held { .. })
            && self.revoked.is_none()
    }

    /// The `account_update` event that revoked the app's access, while it stands.
    pub(super) fn revoked(&self) -> Option<&str> {
        self.revoked.as_deref()
    }

    /// Meta said the customer took the app's access away: no refresh until it is given back.
    /// Announces only the first event of an episode.
    pub(super) fn revoke(&mut self, event: &str) -> Vec<Action> {
        self.refresh_at = None;
        let announce = self.revoked.is_none();
        self.revoked = Some(event.to_string());
        if announce {
            vec![Action::Revoked {
                event: event.to_string(),
            }]
        } else {
            Vec::new()
        }
    }

    /// Access was given back and the token inspected valid: refreshes are planned again.
    /// True when the account was revoked.
    pub(super) fn reinstate(&mut self) -> bool {
        self.revoked.take().is_some()
    }

    fn retry_at(&self) -> Option<i64> {
        match self.phase {
            Phase::Backoff { retry_at, .. } => Some(retry_at),
            _ => None,
        }
    }

    /// Decides when to refresh, and whether only a person can help now.
    pub(super) fn plan(
        &mut self,
        access: Option<&TokenInfo>,
        credential: Credential<'_>,
        now: i64,
        refresh_before: RefreshBefore,
    ) -> Vec<Action> {
        if self.revoked.is_some() {
            self.refresh_at = None;
            return Vec::new();
        }
        let (credential_info, which) = match credential {
            Credential::Access => (access, "access"),
            Credential::Separate(info) => (Some(info), "long-lived"),
            Credential::SeparateUninspected => (None, "long-lived"),
        };
        if let Some(reason) = credential_info.and_then(|info| dead_reason(info, now)) {
            return self.require_reauth(format!("the {which} token {reason}"));
        }
        let access_dead = access.is_some_and(|info| dead_reason(info, now).is_some());
        if !self.renewal.may_exchange() && !access_dead {
            // Never exchanged: inspected at every check interval, watched for revocation.
            self.refresh_at = None;
            return self.announce_deadline(access);
        }
        if let Some(until) = self.capped_until.filter(|until| *until > now) {
            self.refresh_at = None;
            if self.capped_announced {
                return Vec::new();
            }
            self.capped_announced = true;
            return vec![Action::RefreshCapped { until }];
        }
        let Some(access) = access else {
            self.refresh_at = None;
            return Vec::new();
        };
        self.refresh_at = self.planned_refresh(access, now, refresh_before);
        Vec::new()
    }

    /// A class without renewal says its deadline up front, once per deadline.
    fn announce_deadline(&mut self, access: Option<&TokenInfo>) -> Vec<Action> {
        let until = match access.map(TokenInfo::expiry) {
            Some(Expiry::At(until)) if self.renewal == Renewal::PersonBefore => until,
            _ => return Vec::new(),
        };
        if self.deadline_announced == Some(until) {
            return Vec::new();
        }
        self.deadline_announced = Some(until);
        vec![Action::NoRenewal { until }]
    }

    fn planned_refresh(
        &self,
        access: &TokenInfo,
        now: i64,
        refresh_before: RefreshBefore,
    ) -> Option<i64> {
        let planned = if dead_reason(access, now).is_some() {
            Some(now)
        } else {
            let plan = plan_refresh(
                access.expiry(),
                access.issued_at,
                now,
                refresh_before,
                self.jitter_secs,
            );
            match plan {
                RefreshPlan::At(at) => Some(at),
                RefreshPlan::TooLate => Some(now),
                RefreshPlan::Never | RefreshPlan::InspectFirst => None,
            }
        };
        // A refresh-before longer than the lifetime would refresh back to back: keep a gap,
        // but never let the gap push the refresh past the token's expiry.
        match (planned, self.last_refresh_unix) {
            (Some(at), Some(last)) => {
                let spaced = at.max(last.saturating_add(MIN_REFRESH_GAP_SECS));
                let latest = match access.expiry() {
                    Expiry::At(exp) => exp.saturating_sub(1),
                    _ => spaced,
                };
                Some(spaced.min(latest).max(at))
            }
            (planned, _) => planned,
        }
    }

    /// Enters re-auth; announces only the start of an episode (Meta's messages embed the
    /// current time, so comparing reason texts would alert at every inspection).
    pub(super) fn require_reauth(&mut self, reason: String) -> Vec<Action> {
        self.refresh_at = None;
        let announce = self.reauth_reason().is_none();
        self.phase = match std::mem::replace(&mut self.phase, Phase::Idle) {
            Phase::Refreshing { .. } => Phase::Refreshing {
                from: Box::new(Phase::Reauth {
                    reason: reason.clone(),
                }),
            },
            _ => Phase::Reauth {
                reason: reason.clone(),
            },
        };
        if announce {
            vec![Action::ReauthNeeded { reason }]
        } else {
            Vec::new()
        }
    }

    /// What is due now, if anything (`None` with automatic refreshes off).
    pub(super) fn due(&self, now: i64, auto_refresh: bool) -> Option<Trigger> {
        if !auto_refresh || !self.may_refresh_automatically() {
            return None;
        }
        match (self.retry_at(), self.refresh_at) {
            (Some(retry_at), _) if retry_at <= now => Some(Trigger::Retry),
            (None, Some(at)) if at <= now => Some(Trigger::Scheduled),
            _ => None,
        }
    }

    /// The next moment something is due: a retry, a scheduled refresh, or an expiry (so the
    /// state turns Expired on time).
    pub(super) fn next_wake(
        &self,
        expiries: &[Option<i64>],
        now: i64,
        auto_refresh: bool,
    ) -> Option<i64> {
        let expiry = expiries
            .iter()
            .flatten()
            .copied()
            .filter(|at| *at > now)
            .min();
        let refresh = self.next_refresh_at(auto_refresh);
        [expiry, refresh].into_iter().flatten().min()
    }

    /// When the next automatic refresh or retry happens, as shown to people.
    pub(super) fn next_refresh_at(&self, auto_refresh: bool) -> Option<i64> {
        (auto_refresh && self.may_refresh_automatically())
            .then(|| self.retry_at().or(self.refresh_at))
            .flatten()
    }

    pub(super) fn refresh_started(&mut self) {
        let from = std::mem::replace(&mut self.phase, Phase::Idle);
        self.phase = Phase::Refreshing {
            from: Box::new(from),
        };
    }

    /// The refresh procedure ended: a phase still `Refreshing` (no outcome was recorded, as
    /// when another process's token was adopted) goes back to where it came from.
    pub(super) fn refresh_finished(&mut self) {
        if let Phase::Refreshing { from } = &mut self.phase {
            let from = std::mem::replace(from.as_mut(), Phase::Idle);
            self.phase = from;
        }
    }

    /// A refresh worked: back to Idle. `capped_until` is set when the new token could not
    /// outlive the credential it was exchanged from.
    pub(super) fn refresh_succeeded(
        &mut self,
        now: i64,
        capped_until: Option<i64>,
        jitter_secs: i64,
    ) {
        self.phase = Phase::Idle;
        self.last_refresh_unix = Some(now);
        self.capped_until = capped_until;
        self.capped_announced = false;
        self.jitter_secs = jitter_secs;
    }

    /// A refresh failed with `class`: re-auth for a dead credential, held for a permission
    /// error, else a retry after `backoff_delay` (never past `secs_to_expiry`).
    pub(super) fn refresh_failed(&mut self, failure: Failure<'_>, now: i64) -> Vec<Action> {
        let from = match std::mem::replace(&mut self.phase, Phase::Idle) {
            Phase::Refreshing { from } => *from,
            other => other,
        };
        let attempt = match from {
            Phase::Backoff { attempt, .. } | Phase::Held { attempt } => attempt,
            _ => 0,
        };
        match failure.class {
            ErrorClass::TokenDead => {
                self.phase = from;
                return self.require_reauth(failure.reauth_reason.to_string());
            }
            _ if matches!(from, Phase::Reauth { .. }) => self.phase = from,
            ErrorClass::Permission => {
                self.phase = Phase::Held { attempt };
                return vec![Action::PermissionHeld];
            }
            _ => {
                let delay = backoff_delay(
                    attempt,
                    failure.jitter_fraction,
                    failure.retry_after,
                    failure.secs_to_expiry,
                );
                let delay_secs = i64::try_from(delay.as_secs()).unwrap_or(300).max(1);
                self.phase = Phase::Backoff {
                    attempt: attempt.saturating_add(1),
                    retry_at: now.saturating_add(delay_secs),
                };
            }
        }
        Vec::new()
    }

    /// An inspection on demand lifts a permission hold.
    pub(super) fn rechecked(&mut self) {
        if matches!(self.phase, Phase::Held { .. }) {
            self.phase = Phase::Idle;
        }
    }

    /// Another process stored a newer token: start over from it.
    pub(super) fn store_adopted(&mut self, jitter_secs: i64) {
        self.phase = Phase::Idle;
        self.capped_until = None;
        self.capped_announced = false;
        self.jitter_secs = jitter_secs;
    }

    /// The state people see, from the phase and the access token's last inspection.
    pub(super) fn token_state(&self, access: Option<&TokenInfo>, now: i64) -> TokenState {
        if let Some(event) = &self.revoked {
            return TokenState::Revoked {
                event: event.clone(),
            };
        }
        if let Some(reason) = self.reauth_reason() {
            // Meta invalidated the token early (password change, security reset): say so.
            let invalidated = access.and_then(|info| {
                let err = info.error.as_ref().filter(|_| !info.is_valid)?;
                (err.subcode != Some(463)).then_some((err.code, err.subcode))
            });
            return match invalidated {
                Some((code, subcode)) => TokenState::Invalid { code, subcode },
                None => TokenState::ReauthRequired {
                    reason: reason.to_string(),
                },
            };
        }
        match self.phase {
            Phase::Refreshing { .. } => return TokenState::Refreshing,
            Phase::Backoff { retry_at, .. } => return TokenState::Backoff { retry_at },
            _ => {}
        }
        let Some(info) = access else {
            return TokenState::Unknown;
        };
        if !info.is_valid {
            return match &info.error {
                Some(err) if err.subcode == Some(463) => TokenState::Expired,
                Some(err) => TokenState::Invalid {
                    code: err.code,
                    subcode: err.subcode,
                },
                None => TokenState::Invalid {
                    code: None,
                    subcode: None,
                },
            };
        }
        match info.expiry() {
            Expiry::Never => TokenState::NeverExpires,
            Expiry::At(at) if at <= now => TokenState::Expired,
            _ if self.refresh_at.is_some_and(|at| at <= now) => TokenState::Expiring,
            _ => TokenState::Valid,
        }
    }
}

/// Facts about a failed refresh that decide what happens next.
#[derive(Debug, Clone, Copy)]
pub(super) struct Failure<'a> {
    pub(super) class: ErrorClass,
    /// Why re-auth is needed, if the class says the credential is dead.
    pub(super) reauth_reason: &'a str,
    /// Meta's hint (`estimated_time_to_regain_access`, `Retry-After`).
    pub(super) retry_after: Option<Duration>,
    /// Seconds until whatever still works expires; retries never go past it.
    pub(super) secs_to_expiry: Option<i64>,
    /// 0..=1, for the retry jitter.
    pub(super) jitter_fraction: f64,
}

/// Why a token can no longer be used or exchanged, if it can't.
pub(super) fn dead_reason(info: &TokenInfo, now: i64) -> Option<String> {
    if !info.is_valid {
        return Some(match &info.error {
            Some(err) => format!(
                "is no longer valid (code {}{}): {}",
                err.code.map_or("?".to_string(), |c| c.to_string()),
                err.subcode.map_or(String::new(), |s| format!("/{s}")),
                err.message
            ),
            None => "is no longer valid".to_string(),
        });
    }
    match info.expiry() {
        Expiry::At(at) if at <= now => Some("has expired".to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;
    const SHARE: RefreshBefore = RefreshBefore::ShareOfLifetime(33);

    fn info(json: serde_json::Value) -> TokenInfo {
        serde_json::from_value(json).unwrap()
    }

    /// A valid token issued at NOW that lives `lifetime` seconds.
    fn valid(lifetime: i64) -> TokenInfo {
        info(serde_json::json!({
            "is_valid": true, "issued_at": NOW, "expires_at": NOW + lifetime
        }))
    }

    fn dead(subcode: i64) -> TokenInfo {
        info(serde_json::json!({
            "is_valid": false, "expires_at": NOW,
            "error": {"code": 190, "subcode": subcode, "message": "dead"}
        }))
    }

    fn failure(class: ErrorClass) -> Failure<'static> {
        Failure {
            class,
            reauth_reason: "the exchange was refused: dead",
            retry_after: None,
            secs_to_expiry: None,
            jitter_fraction: 0.0,
        }
    }

    #[test]
    fn a_revoked_account_never_refreshes_until_reinstated_and_announces_once() {
        let mut state = AccountState::new(0);
        let token = valid(3000);
        state.plan(Some(&token), Credential::Access, NOW, SHARE);
        assert!(state.due(NOW + 2900, true).is_some());
        let actions = state.revoke("PARTNER_APP_UNINSTALLED");
        assert_eq!(
            actions,
            vec![Action::Revoked {
                event: "PARTNER_APP_UNINSTALLED".into()
            }]
        );
        // A second event of the same episode is not announced again.
        assert!(state.revoke("PARTNER_REMOVED").is_empty());
        assert!(
            state
                .plan(Some(&token), Credential::Access, NOW, SHARE)
                .is_empty()
        );
        assert_eq!(state.due(NOW + 2900, true), None);
        assert_eq!(state.next_refresh_at(true), None);
        assert!(state.needs_person());
        assert_eq!(
            state.token_state(Some(&token), NOW),
            TokenState::Revoked {
                event: "PARTNER_REMOVED".into()
            }
        );
        // Even a dead token reads as revoked: the remedy is the customer's, not a new token.
        assert!(matches!(
            state.token_state(Some(&dead(460)), NOW),
            TokenState::Revoked { .. }
        ));
        assert!(state.reinstate());
        assert!(!state.reinstate());
        state.plan(Some(&token), Credential::Access, NOW, SHARE);
        assert!(state.due(NOW + 2900, true).is_some());
        assert_eq!(state.token_state(Some(&token), NOW), TokenState::Valid);
    }

    #[test]
    fn a_scheduled_refresh_runs_at_two_thirds_of_the_lifetime_and_returns_to_idle() {
        let mut state = AccountState::new(0);
        let token = valid(3000);
        assert!(
            state
                .plan(Some(&token), Credential::Access, NOW, SHARE)
                .is_empty()
        );
        assert_eq!(state.next_refresh_at(true), Some(NOW + 2010));
        assert_eq!(
            state.next_refresh_at(false),
            None,
            "one-shot commands never refresh"
        );
        assert_eq!(state.due(NOW + 2009, true), None);
        assert_eq!(state.token_state(Some(&token), NOW), TokenState::Valid);
        assert_eq!(state.due(NOW + 2010, true), Some(Trigger::Scheduled));
        assert_eq!(state.due(NOW + 2010, false), None);
        assert_eq!(
            state.token_state(Some(&token), NOW + 2010),
            TokenState::Expiring
        );
        state.refresh_started();
        assert_eq!(
            state.token_state(Some(&token), NOW + 2010),
            TokenState::Refreshing
        );
        state.refresh_succeeded(NOW + 2010, None, 0);
        assert_eq!(state.phase(), &Phase::Idle);
        // The next expiry is the wake-up when nothing is planned sooner.
        assert_eq!(
            state.next_wake(&[Some(NOW + 2500)], NOW + 2010, false),
            Some(NOW + 2500)
        );
    }

    #[test]
    fn transient_failures_back_off_doubling_and_retry_when_due() {
        let mut state = AccountState::new(0);
        let token = valid(100_000);
        state.plan(Some(&token), Credential::Access, NOW, SHARE);
        let mut now = NOW;
        for expected_delay in [10, 20, 40, 80, 160, 300, 300] {
            state.refresh_started();
            assert!(
                state
                    .refresh_failed(failure(ErrorClass::Transient), now)
                    .is_empty()
            );
            let Phase::Backoff { retry_at, .. } = *state.phase() else {
                panic!("{:?}", state.phase());
            };
            assert_eq!(retry_at - now, expected_delay);
            assert_eq!(state.next_refresh_at(true), Some(retry_at));
            assert_eq!(
                state.token_state(Some(&token), now),
                TokenState::Backoff { retry_at }
            );
            assert_eq!(state.due(retry_at - 1, true), None);
            assert_eq!(state.due(retry_at, true), Some(Trigger::Retry));
            now = retry_at;
        }
        state.refresh_started();
        state.refresh_succeeded(now, None, 0);
        assert_eq!(state.phase(), &Phase::Idle, "success resets the backoff");
    }

    #[test]
    fn a_permission_error_holds_until_the_next_inspection() {
        let mut state = AccountState::new(0);
        let token = valid(3000);
        state.plan(Some(&token), Credential::Access, NOW, SHARE);
        state.refresh_started();
        let actions = state.refresh_failed(failure(ErrorClass::Permission), NOW + 2010);
        assert_eq!(actions, vec![Action::PermissionHeld]);
        assert_eq!(state.due(NOW + 2900, true), None, "no retry loop");
        assert_eq!(state.next_refresh_at(true), None);
        state.rechecked();
        assert_eq!(state.phase(), &Phase::Idle);
        assert_eq!(state.due(NOW + 2900, true), Some(Trigger::Scheduled));
    }

    #[test]
    fn a_dead_credential_announces_reauth_once_per_episode() {
        let mut state = AccountState::new(0);
        let actions = state.plan(Some(&dead(460)), Credential::Access, NOW, SHARE);
        assert!(
            matches!(&actions[..], [Action::ReauthNeeded { reason }] if reason.starts_with("the access token is no longer valid (code 190/460)"))
        );
        assert!(
            state
                .plan(Some(&dead(460)), Credential::Access, NOW + 60, SHARE)
                .is_empty()
        );
        assert_eq!(state.due(NOW + 60, true), None);
        // Meta invalidated it early: shown as Invalid, not a plain re-auth.
        assert_eq!(
            state.token_state(Some(&dead(460)), NOW),
            TokenState::Invalid {
                code: Some(190),
                subcode: Some(460)
            }
        );
        // A forced refresh that fails transiently stays in the episode, silently.
        state.refresh_started();
        assert!(
            state
                .refresh_failed(failure(ErrorClass::Transient), NOW)
                .is_empty()
        );
        assert!(state.reauth_reason().is_some());
        // So does one refused as dead again.
        state.refresh_started();
        assert!(
            state
                .refresh_failed(failure(ErrorClass::TokenDead), NOW)
                .is_empty()
        );
        // A token adopted from another process ends the episode.
        state.store_adopted(0);
        assert_eq!(state.phase(), &Phase::Idle);
        assert!(!state.needs_person());
    }

    #[test]
    fn a_refused_exchange_enters_reauth_with_its_reason() {
        let mut state = AccountState::new(0);
        state.refresh_started();
        let actions = state.refresh_failed(failure(ErrorClass::TokenDead), NOW);
        assert_eq!(
            actions,
            vec![Action::ReauthNeeded {
                reason: "the exchange was refused: dead".into()
            }]
        );
        assert_eq!(
            state.token_state(Some(&valid(100)), NOW),
            TokenState::ReauthRequired {
                reason: "the exchange was refused: dead".into()
            }
        );
    }

    #[test]
    fn a_separate_long_lived_token_is_the_credential_that_decides_reauth() {
        let mut state = AccountState::new(0);
        let access = valid(3000);
        let long_lived_expired = info(serde_json::json!({"is_valid": true, "expires_at": NOW - 1}));
        let actions = state.plan(
            Some(&access),
            Credential::Separate(&long_lived_expired),
            NOW,
            SHARE,
        );
        assert!(
            matches!(&actions[..], [Action::ReauthNeeded { reason }] if reason == "the long-lived token has expired")
        );
        // Not inspected yet: nothing to decide about it.
        let mut state = AccountState::new(0);
        assert!(
            state
                .plan(Some(&access), Credential::SeparateUninspected, NOW, SHARE)
                .is_empty()
        );
        assert!(state.next_refresh_at(true).is_some());
    }

    #[test]
    fn a_capped_exchange_stops_scheduled_refreshes_and_says_so_once() {
        let mut state = AccountState::new(0);
        let token = valid(1000);
        state.refresh_started();
        state.refresh_succeeded(NOW, Some(NOW + 1000), 0);
        let actions = state.plan(Some(&token), Credential::Access, NOW, SHARE);
        assert_eq!(actions, vec![Action::RefreshCapped { until: NOW + 1000 }]);
        assert!(
            state
                .plan(Some(&token), Credential::Access, NOW + 500, SHARE)
                .is_empty()
        );
        assert_eq!(state.next_refresh_at(true), None);
        assert_eq!(state.due(NOW + 999, true), None);
        assert!(state.needs_person());
        assert_eq!(
            state.token_state(Some(&token), NOW + 500),
            TokenState::Valid
        );
        // Once the credential runs out, the episode is a plain re-auth.
        let expired = info(serde_json::json!({"is_valid": true, "expires_at": NOW + 1000}));
        let actions = state.plan(Some(&expired), Credential::Access, NOW + 1000, SHARE);
        assert!(matches!(&actions[..], [Action::ReauthNeeded { .. }]));
    }

    #[test]
    fn refreshes_stay_at_least_the_minimum_gap_apart_but_before_expiry() {
        let mut state = AccountState::new(0);
        // A lifetime of 12 s with refresh-before 100%: due at once, but 10 s after the last.
        state.refresh_started();
        state.refresh_succeeded(NOW, None, 0);
        let token = valid(12);
        state.plan(
            Some(&token),
            Credential::Access,
            NOW,
            RefreshBefore::ShareOfLifetime(100),
        );
        assert_eq!(
            state.next_refresh_at(true),
            Some(NOW + MIN_REFRESH_GAP_SECS)
        );
        let short = valid(5);
        state.plan(
            Some(&short),
            Credential::Access,
            NOW,
            RefreshBefore::ShareOfLifetime(100),
        );
        assert_eq!(
            state.next_refresh_at(true),
            Some(NOW + 4),
            "a second before expiry at the latest"
        );
    }

    #[test]
    fn a_class_without_renewal_plans_no_refresh_and_says_its_deadline_once() {
        let token = valid(60 * 86_400);
        let mut state = AccountState::new(0);
        state.set_renewal(Renewal::PersonBefore);
        let actions = state.plan(Some(&token), Credential::Access, NOW, SHARE);
        let until = NOW + 60 * 86_400;
        assert_eq!(actions, vec![Action::NoRenewal { until }]);
        assert_eq!(state.next_refresh_at(true), None);
        assert_eq!(state.due(until - 1, true), None);
        assert!(
            state
                .plan(Some(&token), Credential::Access, NOW + 10, SHARE)
                .is_empty()
        );
        // A dead token is still a re-auth, whatever its class.
        let actions = state.plan(Some(&dead(463)), Credential::Access, NOW, SHARE);
        assert!(matches!(actions[..], [Action::ReauthNeeded { .. }]));
    }

    #[test]
    fn inspect_only_and_refused_classes_are_never_exchanged() {
        for renewal in [Renewal::InspectOnly, Renewal::Refused] {
            let mut state = AccountState::new(0);
            state.set_renewal(renewal);
            let token = valid(3000);
            assert!(
                state
                    .plan(Some(&token), Credential::Access, NOW, SHARE)
                    .is_empty()
            );
            assert_eq!(state.next_refresh_at(true), None, "{renewal:?}");
            assert_eq!(state.due(NOW + 2999, true), None, "{renewal:?}");
        }
    }

    #[test]
    fn sixty_day_classes_are_planned_like_any_expiring_token() {
        let mut state = AccountState::new(0);
        state.set_renewal(Renewal::ExchangeSixtyDays);
        let token = valid(60 * 86_400);
        assert!(
            state
                .plan(Some(&token), Credential::Access, NOW, SHARE)
                .is_empty()
        );
        let at = state.next_refresh_at(true).unwrap();
        assert!(at > NOW && at < NOW + 60 * 86_400);
    }
}
