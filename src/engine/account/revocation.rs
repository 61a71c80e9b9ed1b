//! Meta's word that the app's access to an account was taken away or given back
//! (`account_update` webhooks, read by the relay): refreshing stops at once, and resumes only
//! once access is back and the token inspects valid.

use super::AccountActor;
use crate::engine::events::AccessChange;
use crate::engine::history::Outcome;
use crate::engine::history::cause::{AlertKind, InspectReason};

impl AccountActor {
    /// At start: an account revoked before (by this process or the last) stays revoked,
    /// without a second alert.
    pub(super) fn resume_revocation(&mut self) {
        if let Some(event) = self.shared.revocations.get(&self.settings.name) {
            let _already_announced = self.state.revoke(&event);
            self.snapshot_mut().action_hint =
                Some(super::perform::revoked_hint(&self.settings.name, &event));
        }
    }

    pub(super) async fn on_access_change(&mut self, change: AccessChange) {
        match change {
            AccessChange::Revoked { event } => {
                self.shared
                    .revocations
                    .set(&self.settings.name, Some(&event));
                let actions = self.state.revoke(&event);
                self.perform(actions);
                self.emit();
            }
            AccessChange::Restored { event } => self.restore(&event).await,
        }
    }

    /// Access is back by Meta's word: believed once the token inspects valid.
    async fn restore(&mut self, event: &str) {
        if self.state.revoked().is_none() {
            return;
        }
        self.inspect_and_plan(InspectReason::Check).await;
        let valid = self
            .snapshot
            .access
            .as_ref()
            .is_some_and(|inspection| inspection.info.is_valid);
        let name = self.settings.name.clone();
        if valid && self.state.reinstate() {
            self.shared.revocations.set(&name, None);
            let message = format!(
                "access given back ({event}) and the token inspects valid: refreshing again"
            );
            tracing::info!(account = %name, "{message}");
            let mut entry = self.entry(AlertKind::Revoked, Outcome::Ok);
            entry.detail = Some(message);
            self.shared.record(entry);
            self.plan();
        } else {
            tracing::warn!(
                account = %name,
                "{event}, but the account's token does not inspect valid: it stays revoked until it has a working token"
            );
        }
        self.emit();
    }
}
