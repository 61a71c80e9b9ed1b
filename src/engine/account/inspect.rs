//! What an account actor knows and says: inspection, the refresh plan, re-auth, and the
//! snapshot it sends to clients.

use tokio::time::Instant;

use super::phase::{Action, Credential};
use super::{AccountActor, LOG_NOT_CONFIGURED};
use crate::engine::events::EngineEvent;
use crate::engine::history::cause::{AlertKind, Cause, InspectReason};
use crate::engine::history::{HistoryEntry, HistoryError, Outcome};
use crate::engine::state::Inspection;
use crate::engine::urgency::{self, reauth_before};
use crate::graph::{ErrorClass, Expiry, TokenInfo};
use crate::mask::mask;
use secrecy::SecretString;

impl AccountActor {
    /// Inspects the access token (and the separate long-lived token) and replans.
    pub(super) async fn inspect_and_plan(&mut self, reason: InspectReason) {
        let (Some(app), Some(access)) = (self.app.clone(), self.access.clone()) else {
            self.report_not_configured();
            return;
        };
        let started = Instant::now();
        let long_lived = self.long_lived.clone();
        let inspector = self.shared.inspector.clone();
        let access_job = inspector.inspect(&app, &access);
        let long_lived_job = async {
            match &long_lived {
                Some(token) => Some(inspector.inspect(&app, token).await),
                None => None,
            }
        };
        let (access_result, long_lived_result) = tokio::join!(access_job, long_lived_job);
        let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let now = self.shared.clock.now();
        match access_result {
            Ok(info) => {
                self.record_inspection(reason, &access, &info, latency_ms);
                self.snapshot.missing_scopes = info
                    .missing_whatsapp_scopes()
                    .iter()
                    .map(|s| s.to_string())
                    .collect();
                self.snapshot.access = Some(Inspection {
                    checked_at: now,
                    info,
                });
            }
            Err(err) => {
                let mut entry = self.entry(reason, Outcome::Failed);
                entry.latency_ms = Some(latency_ms);
                entry.token = Some(mask(&access));
                entry.error = Some(Box::new(HistoryError::from(&err)));
                self.shared.record(entry);
                self.snapshot.last_error = Some(format!("inspection failed: {err}"));
            }
        }
        if let Some(Ok(info)) = long_lived_result {
            self.snapshot.long_lived = Some(Inspection {
                checked_at: now,
                info,
            });
        }
        self.plan();
        self.publish_token_view();
        self.emit();
    }

    fn record_inspection(
        &self,
        reason: InspectReason,
        token: &SecretString,
        info: &TokenInfo,
        latency_ms: u64,
    ) {
        let outcome = if info.is_valid {
            Outcome::Ok
        } else {
            Outcome::Failed
        };
        let mut entry = self.entry(reason, outcome);
        entry.latency_ms = Some(latency_ms);
        entry.token = Some(mask(token));
        entry.new_expires_at = Some(info.expiry()).filter(|e| *e != Expiry::Unknown);
        if let Some(err) = &info.error {
            entry.error = Some(Box::new(HistoryError {
                code: err.code,
                subcode: err.subcode,
                class: ErrorClass::TokenDead.label().to_string(),
                message: err.message.clone(),
                fbtrace_id: None,
            }));
        }
        self.shared.record(entry);
    }

    fn report_not_configured(&mut self) {
        let mut missing = Vec::new();
        if self.settings.app_id.is_none() {
            missing.push("app-id");
        }
        if self.settings.app_secret.is_none() {
            missing.push("app-secret");
        }
        if self.access.is_none() {
            missing.push("access-token");
        }
        let problem = format!("missing {}", missing.join(", "));
        if self.snapshot.config_problem.as_deref() != Some(problem.as_str()) {
            tracing::error!(account = %self.settings.name, "{LOG_NOT_CONFIGURED}");
        }
        self.snapshot.config_problem = Some(problem);
        self.snapshot.access_token_masked = self.access.as_ref().map(mask);
        self.emit();
    }

    /// Replans from the latest inspections and performs what the state asks for.
    pub(super) fn plan(&mut self) {
        let now = self.shared.clock.now_unix();
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
                    self.snapshot.action_hint = Some(hint);
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
                    self.snapshot.action_hint = Some(format!("{}: {why}", reauth_before(until)));
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
        self.snapshot.state = self.state.token_state(access, now);
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

    pub(super) fn is_system_user(&self) -> bool {
        let inspection = self
            .snapshot
            .long_lived
            .as_ref()
            .or(self.snapshot.access.as_ref());
        inspection.is_some_and(|i| i.info.is_system_user())
    }

    pub(super) fn entry(&self, cause: impl Into<Cause>, outcome: Outcome) -> HistoryEntry {
        HistoryEntry::new(&self.settings.name, cause, outcome)
    }

    /// Derives the state and sends the snapshot to clients.
    pub(super) fn emit(&mut self) {
        let now = self.shared.clock.now_unix();
        let access = self.snapshot.access.as_ref().map(|i| &i.info);
        self.snapshot.state = self.state.token_state(access, now);
        self.snapshot.access_token_masked = self.access.as_ref().map(mask);
        self.snapshot.long_lived_token_masked = self.long_lived.as_ref().map(mask);
        self.snapshot.next_refresh_at = self.state.next_refresh_at(self.shared.auto_refresh);
        if !self.state.needs_person() {
            self.snapshot.action_hint = None;
        }
        let _ = self
            .shared
            .events
            .send(EngineEvent::Account(Box::new(self.snapshot.clone())));
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
