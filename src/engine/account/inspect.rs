//! What an account actor knows and says: inspection, the refresh plan, re-auth, and the
//! snapshot it sends to clients.

use tokio::time::Instant;

use super::{AccountActor, LOG_NOT_CONFIGURED, MIN_REFRESH_GAP_SECS};
use crate::engine::events::EngineEvent;
use crate::engine::history::{HistoryEntry, HistoryError, HistoryEvent, Outcome};
use crate::engine::schedule::{RefreshPlan, plan_refresh};
use crate::engine::state::{Inspection, TokenState};
use crate::graph::{ErrorClass, Expiry, TokenInfo};
use crate::mask::mask;
use secrecy::SecretString;

impl AccountActor {
    /// Inspects the access token (and the separate long-lived token) and replans.
    pub async fn inspect_and_plan(&mut self, trigger: &str) {
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
                self.record_inspection(trigger, &access, &info, latency_ms);
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
                let mut entry = self.entry(HistoryEvent::Inspect, trigger, Outcome::Failed);
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
        trigger: &str,
        token: &SecretString,
        info: &TokenInfo,
        latency_ms: u64,
    ) {
        let outcome = if info.is_valid {
            Outcome::Ok
        } else {
            Outcome::Failed
        };
        let mut entry = self.entry(HistoryEvent::Inspect, trigger, outcome);
        entry.latency_ms = Some(latency_ms);
        entry.token = Some(mask(token));
        entry.new_expires_at = info.expires_at;
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

    /// Decides when to refresh, and whether only a person can help now.
    pub fn plan(&mut self) {
        let now = self.shared.clock.now_unix();
        let credential_info = match (&self.long_lived, &self.snapshot.long_lived) {
            (Some(_), Some(inspection)) => Some(&inspection.info),
            (Some(_), None) => None,
            (None, _) => self.snapshot.access.as_ref().map(|i| &i.info),
        };
        if let Some(reason) = credential_info.and_then(|info| dead_reason(info, now)) {
            let which = if self.long_lived.is_some() {
                "long-lived"
            } else {
                "access"
            };
            self.require_reauth(format!("the {which} token {reason}"));
            return;
        }
        if let Some(until) = self.capped_until.filter(|until| *until > now) {
            self.refresh_at = None;
            self.announce_capped(until);
            return;
        }
        let Some(access) = self.snapshot.access.as_ref().map(|i| i.info.clone()) else {
            self.refresh_at = None;
            return;
        };
        let dead_access = dead_reason(&access, now).is_some();
        self.refresh_at = match plan_refresh(
            access.expiry(),
            access.issued_at,
            now,
            self.shared.policy.refresh_before,
            self.jitter_secs,
        ) {
            _ if dead_access => Some(now),
            RefreshPlan::At(at) => Some(at),
            RefreshPlan::TooLate => Some(now),
            RefreshPlan::Never | RefreshPlan::InspectFirst => None,
        };
        // A refresh-before longer than the lifetime would refresh back to back: keep a gap,
        // but never let the gap push the refresh past the token's expiry.
        if let (Some(at), Some(last)) = (self.refresh_at, self.last_refresh_unix) {
            let spaced = at.max(last.saturating_add(MIN_REFRESH_GAP_SECS));
            let latest = self
                .snapshot
                .access_expires_at()
                .map_or(spaced, |exp| exp.saturating_sub(1));
            self.refresh_at = Some(spaced.min(latest).max(at));
        }
    }

    /// Says once per episode that only re-auth helps now, and until when the token works.
    fn announce_capped(&mut self, until: i64) {
        if self.snapshot.action_hint.is_some() {
            return;
        }
        let hint = format!(
            "re-auth needed before {}: exchanges cannot extend the token past its long-lived token's expiry. {}",
            super::refresh::format_unix(until),
            reauth_hint(&self.settings.name, self.is_system_user())
        );
        tracing::warn!(account = %self.settings.name, "{hint}");
        let mut entry = self.entry(HistoryEvent::Alert, "re-auth", Outcome::Failed);
        entry.detail = Some(hint.clone());
        self.shared.record(entry);
        let _ = self.shared.events.send(EngineEvent::Alert {
            account: self.settings.name.clone(),
            message: hint.clone(),
        });
        self.snapshot.action_hint = Some(hint);
    }

    pub fn require_reauth(&mut self, reason: String) {
        self.refresh_at = None;
        self.retry_at = None;
        // One alert per episode: Meta's messages embed the current time, so the reason text
        // differs at every inspection and comparing it would alert on every check.
        if self.reauth_reason.is_some() {
            self.reauth_reason = Some(reason);
            return;
        }
        let hint = reauth_hint(&self.settings.name, self.is_system_user());
        let message = format!("re-auth required: {}. {hint}", reason.trim_end_matches('.'));
        tracing::error!(account = %self.settings.name, "{message}");
        let mut entry = self.entry(HistoryEvent::Alert, "re-auth", Outcome::Failed);
        entry.detail = Some(message.clone());
        self.shared.record(entry);
        let _ = self.shared.events.send(EngineEvent::Alert {
            account: self.settings.name.clone(),
            message,
        });
        self.snapshot.action_hint = Some(hint);
        self.reauth_reason = Some(reason);
    }

    pub fn is_system_user(&self) -> bool {
        let inspection = self
            .snapshot
            .long_lived
            .as_ref()
            .or(self.snapshot.access.as_ref());
        inspection.is_some_and(|i| i.info.is_system_user())
    }

    pub fn entry(&self, event: HistoryEvent, trigger: &str, outcome: Outcome) -> HistoryEntry {
        HistoryEntry::new(&self.settings.name, event, trigger, outcome)
    }

    /// Derives the state and sends the snapshot to clients.
    pub fn emit(&mut self) {
        let now = self.shared.clock.now_unix();
        self.snapshot.state = self.derive_state(now);
        self.snapshot.access_token_masked = self.access.as_ref().map(mask);
        self.snapshot.long_lived_token_masked = self.long_lived.as_ref().map(mask);
        self.snapshot.next_refresh_at = if self.shared.auto_refresh && !self.hold_until_recheck {
            self.retry_at
                .or(self.refresh_at)
                .filter(|_| self.reauth_reason.is_none())
        } else {
            None
        };
        if self.reauth_reason.is_none() && self.capped_until.is_none() {
            self.snapshot.action_hint = None;
        }
        let _ = self
            .shared
            .events
            .send(EngineEvent::Account(Box::new(self.snapshot.clone())));
    }

    fn derive_state(&self, now: i64) -> TokenState {
        if let Some(reason) = &self.reauth_reason {
            // Meta invalidated the token early (password change, security reset): say so;
            // the action hint is the same as for re-auth.
            let invalidated = self.snapshot.access.as_ref().and_then(|i| {
                let err = i.info.error.as_ref().filter(|_| !i.info.is_valid)?;
                (err.subcode != Some(463)).then_some((err.code, err.subcode))
            });
            return match invalidated {
                Some((code, subcode)) => TokenState::Invalid { code, subcode },
                None => TokenState::ReauthRequired {
                    reason: reason.clone(),
                },
            };
        }
        if self.refreshing {
            return TokenState::Refreshing;
        }
        if let Some(retry_at) = self.retry_at {
            return TokenState::Backoff { retry_at };
        }
        let Some(info) = self.snapshot.access.as_ref().map(|i| &i.info) else {
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

/// Why a token can no longer be used or exchanged, if it can't.
fn dead_reason(info: &TokenInfo, now: i64) -> Option<String> {
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
