//! Handing the current token to the application: the env-file, the token file and the
//! on-refresh command, each recorded in history; a failed target is retried at the next check.
//!
//! A failed publish never loses the token: it is already in the store.

use secrecy::SecretString;

use super::AccountActor;
use crate::engine::events::EngineEvent;
use crate::engine::history::Outcome;
use crate::engine::history::cause::PublishTarget;
use crate::engine::publish::token_file::{token_file_is_current, write_token_file};
use crate::engine::publish::{env_file_is_stale, run_on_refresh, write_env_file};
use crate::mask::mask;

/// A set of publish targets: those a publish goes to, or those that failed and wait for the
/// next check. Bit `n` is the target declared `n`th (`PublishTarget::ALL[n]`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Targets(u8);

impl Targets {
    pub(super) const ALL: Self = Self((1 << PublishTarget::ALL.len()) - 1);

    fn only(target: PublishTarget) -> Self {
        Self(1 << target as u8)
    }

    fn contains(self, target: PublishTarget) -> bool {
        self.0 & Self::only(target).0 != 0
    }

    fn with(self, target: PublishTarget) -> Self {
        Self(self.0 | Self::only(target).0)
    }

    fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    fn without(self, other: Self) -> Self {
        Self(self.0 & !other.0)
    }

    pub(super) fn any(self) -> bool {
        self.0 != 0
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
            let _ = self
                .publish_to(Targets::only(PublishTarget::TokenFile))
                .await;
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
        let mut problems = Vec::new();
        let mut failed = Targets::default();
        for &target in PublishTarget::ALL {
            if !targets.contains(target) {
                continue;
            }
            let Some(result) = self.publish_one(target, &token).await else {
                continue;
            };
            if result.is_err() {
                failed = failed.with(target);
            }
            problems.extend(self.record_publish(target, result));
        }
        // What was attempted now is pending only if it failed; other pending targets stay.
        self.pending_publish = failed.union(self.pending_publish.without(targets));
        problems
    }

    /// Publishes `token` to `target`; `None` when the account configures no such target.
    async fn publish_one(
        &self,
        target: PublishTarget,
        token: &SecretString,
    ) -> Option<Result<(), String>> {
        let settings = &self.settings;
        Some(match target {
            PublishTarget::EnvFile => {
                let path = settings.env_file.as_ref()?;
                write_env_file(path, token, self.long_lived.as_ref())
                    .map_err(|err| format!("cannot write env-file {}: {err}", path.display()))
            }
            PublishTarget::TokenFile => {
                let path = settings.token_file.as_ref()?;
                write_token_file(path, token, settings.token_file_mode)
                    .map_err(|err| format!("cannot write token-file {}: {err}", path.display()))
            }
            PublishTarget::OnRefresh => {
                let argv = settings.on_refresh.as_ref()?;
                run_on_refresh(
                    argv,
                    &settings.name,
                    token,
                    self.snapshot.access_expires_at(),
                    settings.on_refresh_timeout,
                    &settings.on_refresh_env,
                )
                .await
            }
        })
    }

    /// Records one publish; returns the problem when it failed.
    fn record_publish(
        &mut self,
        target: PublishTarget,
        result: Result<(), String>,
    ) -> Option<String> {
        let outcome = if result.is_ok() {
            Outcome::Ok
        } else {
            Outcome::Failed
        };
        let mut entry = self.entry(target, outcome);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_holds_exactly_the_targets_put_in_it() {
        for &target in PublishTarget::ALL {
            assert!(Targets::ALL.contains(target));
            let only = Targets::only(target);
            let others = PublishTarget::ALL.iter().filter(|t| **t != target);
            assert!(only.contains(target) && others.clone().all(|t| !only.contains(*t)));
            assert_eq!(Targets::ALL.without(only).union(only), Targets::ALL);
            assert!(!Targets::ALL.without(only).contains(target));
        }
        assert!(!Targets::default().any());
        let two = Targets::default()
            .with(PublishTarget::EnvFile)
            .with(PublishTarget::OnRefresh);
        assert!(two.any() && !two.contains(PublishTarget::TokenFile));
    }
}
