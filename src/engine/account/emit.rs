//! What an account actor tells others: the snapshot clients see, and its history rows.

use super::AccountActor;
use crate::engine::events::EngineEvent;
use crate::engine::history::cause::{AlertKind, Cause};
use crate::engine::history::{HistoryEntry, Outcome};
use crate::engine::store::fingerprint;
use crate::engine::telemetry::failure_bursts::FailureBurst;
use crate::mask::mask;

impl AccountActor {
    /// Derives the state and sends the snapshot to clients.
    pub(super) fn emit(&mut self) {
        let now = self.shared.clock.now_unix();
        let access = self.snapshot.access.as_ref().map(|i| &i.info);
        self.snapshot_mut().state = self.state.token_state(access, now);
        self.snapshot_mut().access_token_masked = self.access.as_ref().map(mask);
        self.snapshot_mut().long_lived_token_masked = self.long_lived.as_ref().map(mask);
        self.snapshot_mut().next_refresh_at = self.state.next_refresh_at(self.shared.auto_refresh);
        let current = self.access.as_ref().map(fingerprint);
        self.snapshot_mut().publish = self.publish_health.view(current.as_deref());
        self.snapshot_mut().consumers = self.consumers.view();
        if !self.state.needs_person() {
            self.snapshot_mut().action_hint = None;
        }
        let _ = self
            .shared
            .events
            .send(EngineEvent::Account(self.snapshot.clone()));
    }

    /// Many of the account's messages failed in one minute (Meta's status webhooks, counted
    /// by the telemetry hub): one row for the burst, and a warning in the log.
    pub(super) fn on_failure_burst(&self, burst: &FailureBurst) {
        let detail = burst.describe();
        tracing::warn!(account = %self.settings.name, "{detail}");
        let mut entry = self.entry(AlertKind::FailureBurst, Outcome::Failed);
        entry.detail = Some(detail);
        self.shared.record(entry);
    }

    /// A history row about this account, recorded with [`super::Shared::record`].
    pub(super) fn entry(&self, cause: impl Into<Cause>, outcome: Outcome) -> HistoryEntry {
        HistoryEntry::new(&self.settings.name, cause, outcome)
    }
}
