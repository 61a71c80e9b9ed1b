//! Handing the current token to the application: the env-file, the token file and the
//! on-refresh command, each recorded in history; a failed target is retried at the next check.
//!
//! A failed publish never loses the token: it is already in the store.

use super::AccountActor;
use crate::engine::events::EngineEvent;
use crate::engine::history::{HistoryEvent, Outcome};
use crate::engine::publish::token_file::{token_file_is_current, write_token_file};
use crate::engine::publish::{env_file_is_stale, run_on_refresh, write_env_file};
use crate::mask::mask;

/// The publish targets a publish goes to, or that failed and wait for the next check.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Targets {
    env_file: bool,
    token_file: bool,
    on_refresh: bool,
}

impl Targets {
    pub(super) const ALL: Self = Self {
        env_file: true,
        token_file: true,
        on_refresh: true,
    };
    const TOKEN_FILE: Self = Self {
        env_file: false,
        token_file: true,
        on_refresh: false,
    };

    pub(super) fn any(self) -> bool {
        self.env_file || self.token_file || self.on_refresh
    }
}

impl AccountActor {
    /// At start: an env-file holding another token than the current one (a publish failed or
    /// was cut short before a restart) publishes everything again; a token file that does not
    /// hold the current token (or not with the configured mode) is written. A one-shot command
    /// (no auto refresh) writes nothing.
    pub(super) async fn republish_if_stale(&mut self) {
        let Some(token) = self.access.clone() else {
            return;
        };
        if !self.shared.auto_refresh {
            return;
        }
        let settings = self.settings.clone();
        if settings
            .env_file
            .as_ref()
            .is_some_and(|path| env_file_is_stale(path, &token))
        {
            tracing::info!(account = %settings.name, "the env-file holds an older token; publishing the current one");
            let _ = self.publish().await;
        } else if settings
            .token_file
            .as_ref()
            .is_some_and(|path| !token_file_is_current(path, &token, settings.token_file_mode))
        {
            tracing::info!(account = %settings.name, "the token file does not hold the current token; writing it");
            let _ = self.publish_to(Targets::TOKEN_FILE).await;
        }
    }

    /// Publishes again to the targets whose last publish failed.
    pub(super) async fn retry_pending_publish(&mut self) {
        if self.pending_publish.any() {
            let _ = self.publish_to(self.pending_publish).await;
        }
    }

    /// Publishes the current token to every configured target; returns what failed, one line
    /// per target.
    pub(super) async fn publish(&mut self) -> Vec<String> {
        self.publish_to(Targets::ALL).await
    }

    /// Publishes the current token to the configured ones among `targets`; returns what
    /// failed, one line per target. Those failed wait for the next check.
    async fn publish_to(&mut self, targets: Targets) -> Vec<String> {
        let Some(token) = self.access.clone() else {
            return Vec::new();
        };
        let settings = self.settings.clone();
        let mut problems = Vec::new();
        let mut failed = Targets::default();
        if let (true, Some(path)) = (targets.env_file, &settings.env_file) {
            let result = write_env_file(path, &token, self.long_lived.as_ref())
                .map_err(|err| format!("cannot write env-file {}: {err}", path.display()));
            failed.env_file = result.is_err();
            problems.extend(self.record_publish("env-file", result));
        }
        if let (true, Some(path)) = (targets.token_file, &settings.token_file) {
            let result = write_token_file(path, &token, settings.token_file_mode)
                .map_err(|err| format!("cannot write token-file {}: {err}", path.display()));
            failed.token_file = result.is_err();
            problems.extend(self.record_publish("token-file", result));
        }
        if let (true, Some(argv)) = (targets.on_refresh, &settings.on_refresh) {
            let result = run_on_refresh(
                argv,
                &settings.name,
                &token,
                self.snapshot.access_expires_at(),
                settings.on_refresh_timeout,
                &settings.on_refresh_env,
            )
            .await;
            failed.on_refresh = result.is_err();
            problems.extend(self.record_publish("on-refresh", result));
        }
        // What was attempted now is pending only if it failed; other pending targets stay.
        let pending = self.pending_publish;
        self.pending_publish = Targets {
            env_file: failed.env_file || (pending.env_file && !targets.env_file),
            token_file: failed.token_file || (pending.token_file && !targets.token_file),
            on_refresh: failed.on_refresh || (pending.on_refresh && !targets.on_refresh),
        };
        problems
    }

    /// Records one publish; returns the problem when it failed.
    fn record_publish(&mut self, target: &str, result: Result<(), String>) -> Option<String> {
        let outcome = if result.is_ok() {
            Outcome::Ok
        } else {
            Outcome::Failed
        };
        let mut entry = self.entry(HistoryEvent::Publish, target, outcome);
        entry.token = self.access.as_ref().map(mask);
        if let Err(reason) = &result {
            tracing::error!(account = %self.settings.name, "publish to {target} failed, will retry at the next check: {reason}");
            entry.detail = Some(reason.clone());
            let _ = self.shared.events.send(EngineEvent::Alert {
                account: self.settings.name.clone(),
                message: format!(
                    "publish to {target} failed (retrying at the next check): {reason}"
                ),
            });
        }
        self.shared.record(entry);
        result
            .err()
            .map(|reason| format!("publishing to {target} failed: {reason}"))
    }
}
