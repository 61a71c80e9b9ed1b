//! Handing the current token to the application: the env-file, the token file and the
//! on-refresh command, each recorded in history; a failed target is retried at the next check.
//!
//! A failed publish never loses the token: it is already in the store.

use secrecy::SecretString;

use super::AccountActor;
use crate::engine::events::EngineEvent;
use crate::engine::history::cause::PublishTarget;
use crate::engine::history::{HistoryError, Outcome};
use crate::engine::publish::health::{FailReason, PublishError};
use crate::engine::publish::notify::{restart_unit, send_signal};
use crate::engine::publish::token_file::{token_file_is_current, write_token_file};
use crate::engine::publish::{EnvFileToken, env_file_token, run_on_refresh, write_env_file};
use crate::engine::store::fingerprint;
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

/// Which publish files already hold the current token, read once at start or takeover.
#[derive(Debug, Clone, Copy)]
struct FilesHolding {
    env_file: bool,
    token_file: bool,
}

impl AccountActor {
    /// At start and after taking over another process's token: an env-file holding another
    /// token than the current one (a publish failed or was cut short before a restart)
    /// publishes everything again; a token file that does not hold the current token (or not
    /// with the configured mode) is written. A one-shot command (no auto refresh) writes
    /// nothing, but still notes which targets hold the token.
    pub(super) async fn republish_if_stale(&mut self) {
        let Some(token) = self.access.clone() else {
            return;
        };
        let settings = self.settings.clone();
        // Each file is read once: what it holds decides both its health and the republish.
        let env_file = settings
            .env_file
            .as_ref()
            .map(|path| env_file_token(path, &token));
        let token_file_current = settings
            .token_file
            .as_ref()
            .map(|path| token_file_is_current(path, &token, settings.token_file_mode));
        let files_holding = FilesHolding {
            env_file: env_file == Some(EnvFileToken::Current),
            token_file: token_file_current == Some(true),
        };
        self.note_targets_holding(&token, files_holding);
        if !self.shared.auto_refresh {
            return;
        }
        if env_file == Some(EnvFileToken::Older) {
            tracing::info!(account = %settings.name, "the env-file holds an older token; publishing the current one");
            let _ = self.publish().await;
        } else if token_file_current == Some(false) {
            tracing::info!(account = %settings.name, "the token file does not hold the current token; writing it");
            let _ = self
                .publish_to(Targets::only(PublishTarget::TokenFile))
                .await;
        }
    }

    /// Marks the targets that already hold `token` as current: the files that hold it, and
    /// the on-refresh command, which ran where the token was made (this process before a
    /// restart, or the cluster member that refreshed).
    fn note_targets_holding(&mut self, token: &SecretString, files: FilesHolding) {
        let fingerprint = fingerprint(token);
        for target in configured_targets(&self.settings) {
            let holds = match target {
                PublishTarget::EnvFile => files.env_file,
                PublishTarget::TokenFile => files.token_file,
                // Commands ran where the token was made.
                PublishTarget::OnRefresh | PublishTarget::Signal | PublishTarget::Restart => true,
            };
            if holds {
                self.publish_health.holds(target, &fingerprint);
            }
        }
    }

    /// Publishes again to the targets whose last publish failed.
    pub(super) async fn retry_pending_publish(&mut self) {
        if self.pending_publish.any() {
            let _ = self.publish_to(self.pending_publish).await;
            self.emit();
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
            // The signal and the restart come only once every other target holds the token:
            // until then they wait with the failed ones, for the next check.
            let others_behind = failed.any() || self.pending_publish.without(targets).any();
            if target.tells_the_consumer() && others_behind {
                if self.publish_health.configures(target) {
                    failed = failed.with(target);
                }
                continue;
            }
            // Boxed, like the actor's handlers: inline, a publish (files, a hook, a signal)
            // would size the start-up and check futures that every account runs at once,
            // though few of them publish anything.
            let Some(result) = Box::pin(self.publish_one(target, &token)).await else {
                continue;
            };
            if result.is_err() {
                failed = failed.with(target);
            }
            problems.extend(self.record_publish(target, &token, result));
        }
        // What was attempted now is pending only if it failed; other pending targets stay.
        self.pending_publish = failed.union(self.pending_publish.without(targets));
        if !self.pending_publish.any() {
            self.consumers.published(self.shared.clock.now_unix());
        }
        problems
    }

    /// Publishes `token` to `target`; `None` when the account configures no such target.
    async fn publish_one(
        &self,
        target: PublishTarget,
        token: &SecretString,
    ) -> Option<Result<Option<String>, PublishError>> {
        let settings = &self.settings;
        let file_error = |what: &str, path: &std::path::Path, err: std::io::Error| {
            let message = format!("cannot write {what} {}: {err}", path.display());
            PublishError::new(FailReason::of_io(&err), message)
        };
        Some(match target {
            PublishTarget::EnvFile => {
                let path = settings.env_file.as_ref()?;
                write_env_file(path, token, self.long_lived.as_ref())
                    .map(|()| None)
                    .map_err(|err| file_error("env-file", path, err))
            }
            PublishTarget::TokenFile => {
                let path = settings.token_file.as_ref()?;
                write_token_file(path, token, settings.token_file_mode)
                    .map(|()| None)
                    .map_err(|err| file_error("token-file", path, err))
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
                .map(|()| None)
            }
            PublishTarget::Signal => {
                let spec = settings.on_publish.signal.as_ref()?;
                send_signal(spec, settings.on_publish.timeout)
                    .await
                    .map(Some)
            }
            PublishTarget::Restart => {
                let spec = settings.on_publish.restart.as_ref()?;
                restart_unit(spec, settings.on_publish.timeout)
                    .await
                    .map(Some)
            }
        })
    }

    /// Records one publish (history, per-target health); returns the problem when it failed.
    fn record_publish(
        &mut self,
        target: PublishTarget,
        token: &SecretString,
        result: Result<Option<String>, PublishError>,
    ) -> Option<String> {
        let now = self.shared.clock.now_unix();
        let outcome = if result.is_ok() {
            Outcome::Ok
        } else {
            Outcome::Failed
        };
        let mut entry = self.entry(target, outcome);
        entry.token = Some(mask(token));
        match &result {
            Ok(done) => {
                self.publish_health
                    .succeeded(target, &fingerprint(token), now);
                entry.detail = done.clone();
            }
            Err(error) => {
                let reason = &error.message;
                tracing::error!(account = %self.settings.name, "publish to {target} failed, will retry at the next check: {reason}");
                self.publish_health.failed(target, error, now);
                entry.detail = Some(reason.clone());
                entry.error = Some(Box::new(HistoryError {
                    code: None,
                    subcode: None,
                    class: error.reason.label().to_string(),
                    message: reason.clone(),
                    fbtrace_id: None,
                }));
                let _ = self.shared.events.send(EngineEvent::Alert {
                    account: self.settings.name.clone(),
                    message: format!(
                        "publish to {target} failed (retrying at the next check): {reason}"
                    ),
                });
            }
        }
        self.shared.record(entry);
        result
            .err()
            .map(|error| format!("publishing to {target} failed: {}", error.message))
    }
}

/// The publish targets `settings` configures, in declaration order.
pub(super) fn configured_targets(settings: &crate::config::AccountSettings) -> Vec<PublishTarget> {
    PublishTarget::ALL
        .iter()
        .copied()
        .filter(|target| match target {
            PublishTarget::EnvFile => settings.env_file.is_some(),
            PublishTarget::TokenFile => settings.token_file.is_some(),
            PublishTarget::OnRefresh => settings.on_refresh.is_some(),
            PublishTarget::Signal => settings.on_publish.signal.is_some(),
            PublishTarget::Restart => settings.on_publish.restart.is_some(),
        })
        .collect()
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
