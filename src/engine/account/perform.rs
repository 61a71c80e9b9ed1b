//! What the pure state asks for, performed: the refresh plan, re-auth and capped-refresh
//! alerts, and the remedy a person is shown.

use super::AccountActor;
use super::phase::{Action, Credential};
use crate::engine::events::EngineEvent;
use crate::engine::history::Outcome;
use crate::engine::history::cause::AlertKind;
use crate::engine::token_class::{TokenClass, app_token_remedy, business_remedy, renewal};
use crate::engine::urgency::{self, reauth_before};

impl AccountActor {
    /// Replans from the latest inspections and performs what the state asks for.
    pub(super) fn plan(&mut self) {
        let now = self.shared.clock.now_unix();
        let class = self.snapshot.token_class;
        self.state
            .set_renewal(renewal(class, self.shared.policy.renew_business_tokens));
        if class == TokenClass::App {
            self.snapshot_mut().action_hint = Some(app_token_remedy(&self.settings.name));
        }
        let credential = match (&self.long_lived, &self.snapshot.long_lived) {
            (Some(_), Some(inspection)) => Credential::Separate(&inspection.info),
            (Some(_), None) => Credential::SeparateUninspected,
            (None, _) => Credential::Access,
        };
        let access = self.snapshot.access.as_ref().map(|i| &i.info);
        let actions = self
            .state
            .plan(access, credential, now, self.shared.policy.refresh_before);
        self.perform(actions);
    }

    /// The I/O half of [`Action`]s: alerts, history rows, the remedy on screen.
    pub(super) fn perform(&mut self, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::ReauthNeeded { reason } => {
                    let hint = reauth_hint(&self.settings.name, self.is_system_user());
                    let reason = reason.trim_end_matches('.');
                    let message = format!("{}; {reason}. {hint}", self.reauth_deadline(None));
                    tracing::error!(account = %self.settings.name, "{message}");
                    self.alert(AlertKind::ReAuth, message);
                    self.snapshot_mut().action_hint = Some(hint);
                }
                Action::RefreshCapped { until } => {
                    let why = format!(
                        "exchanges cannot extend the token past its long-lived token's expiry. {}",
                        reauth_hint(&self.settings.name, self.is_system_user())
                    );
                    let alert = format!("{}: {why}", self.reauth_deadline(Some(until)));
                    tracing::warn!(account = %self.settings.name, "{alert}");
                    self.alert(AlertKind::ReAuth, alert);
                    // The hint stays on screen: a date, which does not go stale.
                    self.snapshot_mut().action_hint =
                        Some(format!("{}: {why}", reauth_before(until)));
                }
                Action::Revoked { event } => {
                    let hint = revoked_hint(&self.settings.name, &event);
                    let message = format!(
                        "Meta says the app's access to this account was taken away ({event}): refreshing stopped. {hint}"
                    );
                    tracing::error!(account = %self.settings.name, "{message}");
                    self.alert(AlertKind::Revoked, message);
                    self.snapshot_mut().action_hint = Some(hint);
                }
                Action::NoRenewal { until } => {
                    let why = business_remedy(&self.settings.name);
                    let alert = format!("{}: {why}", self.reauth_deadline(Some(until)));
                    tracing::warn!(account = %self.settings.name, "{alert}");
                    self.alert(AlertKind::ReAuth, alert);
                    self.snapshot_mut().action_hint =
                        Some(format!("{}: {why}", reauth_before(until)));
                }
                Action::PermissionHeld => {
                    let detail = self.snapshot.last_error.clone().unwrap_or_default();
                    self.alert(
                        AlertKind::Permission,
                        format!(
                            "refresh refused for lack of permission ({detail}); check the app id, app secret and the token's scopes"
                        ),
                    );
                }
            }
        }
    }

    /// The deadline words of a re-auth alert, as `check` and the dashboard say it: until
    /// sending stops, or until `until` when the engine knows better (a capped refresh).
    fn reauth_deadline(&mut self, until: Option<i64>) -> String {
        let now = self.shared.clock.now_unix();
        let access = self.snapshot.access.as_ref().map(|i| &i.info);
        self.snapshot_mut().state = self.state.token_state(access, now);
        let stops_at = until.or_else(|| urgency::sending_stops_at(&self.snapshot, now));
        urgency::reauth_alert_phrase(stops_at, now)
    }

    /// An alert: in history and to every client.
    pub(super) fn alert(&self, kind: AlertKind, message: String) {
        let mut entry = self.entry(kind, Outcome::Failed);
        entry.detail = Some(message.clone());
        self.shared.record(entry);
        let _ = self.shared.events.send(EngineEvent::Alert {
            account: self.settings.name.clone(),
            message,
        });
    }
}

/// What a person must do after Meta's `account_update` `event` took the app's access away.
pub fn revoked_hint(account: &str, event: &str) -> String {
    match event {
        "ACCOUNT_DELETED" => format!(
            "The customer's WhatsApp Business Account was deleted: onboard their new one, or remove account {account} from the config"
        ),
        "DISABLED_UPDATE" => format!(
            "Meta disabled the customer's WhatsApp Business Account: they can appeal in WhatsApp Manager; account {account} resumes when Meta reinstates it"
        ),
        _ => format!(
            "The customer must onboard again (Embedded Signup) to give the app access back; account {account} resumes when Meta reports PARTNER_APP_INSTALLED and its token inspects valid"
        ),
    }
}

/// What a person must do to bring an account back.
pub fn reauth_hint(account: &str, system_user: bool) -> String {
    if system_user {
        format!(
            "Generate a new system-user token in Meta Business Settings > Users > System users, \
             then run `tokentop exchange --account {account} --system-user` with it"
        )
    } else {
        format!(
            "Get a fresh user token (Graph API Explorer or your login flow), then run \
             `tokentop exchange --account {account}` to turn it into a long-lived one"
        )
    }
}
