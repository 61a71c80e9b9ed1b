//! What an account actor learns from Meta about its tokens: the inspections, their history
//! rows, and the missing configuration that rules them out.

use secrecy::SecretString;
use tokio::time::Instant;

use super::{AccountActor, LOG_NOT_CONFIGURED};
use crate::engine::history::cause::InspectReason;
use crate::engine::history::{HistoryError, Outcome};
use crate::engine::state::Inspection;
use crate::engine::token_class::{classify, missing_scopes};
use crate::graph::{ErrorClass, Expiry, TokenInfo};
use crate::mask::mask;

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
                self.snapshot_mut().missing_scopes =
                    missing_scopes(&info, self.settings.profile.purpose);
                self.snapshot_mut().token_class =
                    classify(Some(&info), self.settings.profile.token_kind);
                self.snapshot_mut().access = Some(Inspection {
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
                self.snapshot_mut().last_error = Some(format!("inspection failed: {err}"));
            }
        }
        if let Some(Ok(info)) = long_lived_result {
            self.snapshot_mut().long_lived = Some(Box::new(Inspection {
                checked_at: now,
                info,
            }));
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
        self.snapshot_mut().config_problem = Some(problem);
        self.snapshot_mut().access_token_masked = self.access.as_ref().map(mask);
        self.emit();
    }

    pub(super) fn is_system_user(&self) -> bool {
        let inspection = self
            .snapshot
            .long_lived
            .as_deref()
            .or(self.snapshot.access.as_ref());
        inspection.is_some_and(|i| i.info.is_system_user())
    }
}
