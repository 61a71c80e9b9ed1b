//! The refresh procedure of one account: lock, reload, exchange, inspect, persist, publish.

use secrecy::SecretString;
use tokio::time::Instant;

use super::phase::Failure;
use super::{AccountActor, RefreshOutcome, Refreshed, Trigger};
use crate::config::ExpiringSystemUser;
use crate::engine::events::RefreshError;
use crate::engine::history::{HistoryError, HistoryEvent, Outcome};
use crate::engine::new_token::{new_token_expiry, vet_new_token};
use crate::engine::state::Inspection;
use crate::engine::store::StoredTokens;
use crate::engine::token_write;
use crate::format::format_unix;
use crate::graph::{ErrorClass, Expiry, GraphError, TokenInfo};
use crate::mask::mask;

/// The log lines existing WhatsApp backends and their alerts use; keep verbatim.
pub const LOG_REFRESHED: &str = "WhatsApp access token refreshed successfully";
pub const LOG_REFRESH_FAILED: &str = "Failed to refresh WhatsApp token";

impl AccountActor {
    /// One refresh attempt, with every outcome recorded and the state updated.
    pub(super) async fn refresh(&mut self, trigger: Trigger) -> RefreshOutcome {
        let (Some(app), Some(credential)) = (self.app.clone(), self.credential().cloned()) else {
            self.report_missing_for_refresh();
            return Err(RefreshError::local(
                super::LOG_NOT_CONFIGURED,
                &format!(
                    "set app-id, app-secret and access-token for {} (`tokentop config check`)",
                    self.settings.name
                ),
            ));
        };
        self.state.refresh_started();
        self.emit();
        let result = self.refresh_locked(trigger, &app, &credential).await;
        self.state.refresh_finished();
        self.emit();
        result
    }

    fn report_missing_for_refresh(&mut self) {
        tracing::error!(account = %self.settings.name, "{}", super::LOG_NOT_CONFIGURED);
        self.snapshot.last_error = Some(super::LOG_NOT_CONFIGURED.to_string());
        self.emit();
    }

    async fn refresh_locked(
        &mut self,
        trigger: Trigger,
        app: &crate::graph::AppCredentials,
        credential: &SecretString,
    ) -> RefreshOutcome {
        let name = self.settings.name.clone();
        // The storage path's steps 1 and 2 (lock, re-read); the exchange runs under the lock.
        let _lock = match token_write::lock_account(&self.shared.data_dir, &name).await {
            Ok(lock) => lock,
            Err(err) => return self.fail_without_exchange(trigger, err.to_string()),
        };
        // Another process may have refreshed while we waited: use its token, skip the exchange.
        if self.adopt_newer_store(trigger.label()) {
            return Ok(self.record_skip(trigger).await);
        }
        let started = Instant::now();
        let sixty_days = self.wants_sixty_days();
        let exchanged = self
            .shared
            .source
            .exchange(app, credential, sixty_days)
            .await;
        let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let vetted = match exchanged {
            Ok(new) => {
                let inspected = self.shared.inspector.inspect(app, &new.access_token).await;
                vet_new_token(&app.app_id, &new.access_token, inspected).map(|info| (new, info))
            }
            Err(err) => Err(err),
        };
        match vetted {
            Ok((new, info)) => Ok(self
                .accept_new_token(
                    trigger,
                    new.access_token,
                    info,
                    new.expires_in_secs,
                    latency_ms,
                )
                .await),
            Err(err) => Err(self.on_failure(trigger, &err, latency_ms)),
        }
        // The lock is released here, after the new token was persisted.
    }

    async fn record_skip(&mut self, trigger: Trigger) -> Refreshed {
        let mut entry = self.entry(HistoryEvent::Refresh, trigger.label(), Outcome::Skipped);
        entry.detail = Some("another tokentop process had just refreshed".to_string());
        entry.token = self.access.as_ref().map(mask);
        self.shared.record(entry);
        self.inspect_and_plan("after-refresh").await;
        Refreshed {
            token: self
                .access
                .clone()
                .unwrap_or_else(|| SecretString::from(String::new())),
            expires_at: self.snapshot.access_expires_at(),
            message: "skipped: another tokentop process had just refreshed".to_string(),
            problems: Vec::new(),
        }
    }

    /// When the credential the exchange is made with expires, as last inspected.
    fn credential_expiry(&self) -> Option<i64> {
        if self.long_lived.is_some() {
            self.snapshot.long_lived_expires_at()
        } else {
            self.snapshot.access_expires_at()
        }
    }

    /// Auto: system-user tokens that expire are renewed for another 60 days.
    fn wants_sixty_days(&self) -> bool {
        match self.shared.policy.expiring_system_user {
            ExpiringSystemUser::Yes => true,
            ExpiringSystemUser::No => false,
            ExpiringSystemUser::Auto => {
                let inspection = self
                    .snapshot
                    .long_lived
                    .as_ref()
                    .or(self.snapshot.access.as_ref());
                inspection.is_some_and(|i| {
                    i.info.is_system_user() && matches!(i.info.expiry(), Expiry::At(_))
                })
            }
        }
    }

    async fn accept_new_token(
        &mut self,
        trigger: Trigger,
        token: SecretString,
        info: TokenInfo,
        expires_in_secs: Option<u64>,
        latency_ms: u64,
    ) -> Refreshed {
        let now = self.shared.clock.now_unix();
        let expires_at = new_token_expiry(&info, expires_in_secs, now);
        let rolling = self.wants_sixty_days();
        let credential_expiry = self.credential_expiry();
        // Rolling renewal replaces a system-user credential by its renewed self; a long-lived
        // user token that outlives the configured one becomes the credential, so it is used
        // for the next exchange instead of letting the old one run out.
        let outlives_credential = match (expires_at, credential_expiry) {
            (Some(new), Some(old)) => new > old,
            (None, _) => matches!(info.expiry(), Expiry::Never),
            (Some(_), None) => false,
        };
        if self.long_lived.is_some() && (rolling || outlives_credential) {
            self.long_lived = Some(token.clone());
            self.snapshot.long_lived = Some(Inspection {
                checked_at: self.shared.clock.now(),
                info: info.clone(),
            });
        }
        // An exchange that could not move the expiry past the credential's own will never do
        // better: refreshing again only brings ever smaller gains, so stop until re-auth.
        let capped_until = match (expires_at, credential_expiry) {
            (Some(new), Some(old)) if !rolling && new <= old => Some(old),
            _ => None,
        };
        self.access = Some(token.clone());
        let mut problems: Vec<String> = self.persist(now, expires_at).into_iter().collect();
        let mut entry =
            token_write::refreshed_row(&self.settings.name, trigger.label(), expires_at, &token);
        entry.latency_ms = Some(latency_ms);
        self.shared.record(entry);
        tracing::info!(account = %self.settings.name, "{LOG_REFRESHED}");
        self.state
            .refresh_succeeded(now, capped_until, super::actor::new_jitter());
        self.snapshot.last_error = None;
        self.snapshot.access = Some(Inspection {
            checked_at: self.shared.clock.now(),
            info,
        });
        self.plan();
        self.publish_token_view();
        problems.extend(self.publish().await);
        let mut message = match expires_at {
            Some(at) => format!("refreshed; new token expires at {}", format_unix(at)),
            None => "refreshed; new token does not expire".to_string(),
        };
        if !problems.is_empty() {
            message.push_str("; but ");
            message.push_str(&problems.join("; and "));
        }
        Refreshed {
            token,
            expires_at,
            message,
            problems,
        }
    }

    /// Stores the current tokens (the storage path's step 3); returns the problem when the
    /// store write failed.
    fn persist(&mut self, now: i64, expires_at: Option<i64>) -> Option<String> {
        let access = self.access.clone()?;
        let mut tokens = StoredTokens {
            access_token: access,
            long_lived_token: self.long_lived.clone(),
            expires_at,
            refreshed_at: now,
            origin_fingerprint: self.origin_fingerprint.clone(),
        };
        let name = &self.settings.name;
        let stored = token_write::persist(
            &self.shared.store,
            name,
            &mut tokens,
            self.seen_store_refreshed_at,
        );
        match stored {
            Ok(()) => {
                self.seen_store_refreshed_at = tokens.refreshed_at;
                None
            }
            Err(err) => {
                // The token stays in memory and is published; the next refresh retries the write.
                tracing::error!(account = %self.settings.name, "{err}");
                let problem = format!("storing the new token failed: {err}");
                self.alert("store", problem.clone());
                Some(problem)
            }
        }
    }

    fn fail_without_exchange(&mut self, trigger: Trigger, message: String) -> RefreshOutcome {
        let err = crate::engine::source::local_error(&message);
        Err(self.on_failure(trigger, &err, 0))
    }

    /// Records a failed refresh and decides what happens next, by error class.
    fn on_failure(&mut self, trigger: Trigger, err: &GraphError, latency_ms: u64) -> RefreshError {
        tracing::error!(account = %self.settings.name, "{LOG_REFRESH_FAILED}: {err}");
        let mut entry = self.entry(HistoryEvent::Refresh, trigger.label(), Outcome::Failed);
        entry.latency_ms = Some(latency_ms);
        entry.error = Some(Box::new(HistoryError::from(err)));
        entry.token = self.credential().map(mask);
        self.shared.record(entry);
        self.snapshot.last_error = Some(err.to_string());
        let reauth_reason = format!("the exchange was refused: {}", err.message);
        let failure = Failure {
            class: err.class,
            reauth_reason: &reauth_reason,
            retry_after: err.retry_after,
            secs_to_expiry: self.secs_to_expiry(),
            jitter_fraction: rand::random::<f64>(),
        };
        let now = self.shared.clock.now_unix();
        let actions = self.state.refresh_failed(failure, now);
        self.perform(actions);
        RefreshError {
            message: err.to_string(),
            class: err.class,
            code: err.code,
            subcode: err.subcode,
            remedy: self.remedy_for(err.class),
        }
    }

    /// What the operator should do after a failed refresh of this class.
    fn remedy_for(&self, class: ErrorClass) -> String {
        let name = &self.settings.name;
        match class {
            ErrorClass::TokenDead => self
                .snapshot
                .action_hint
                .clone()
                .unwrap_or_else(|| super::reauth_hint(name, self.is_system_user())),
            ErrorClass::Local => format!(
                "a problem on this machine, not at Meta: check the data dir (permissions, disk space, another tokentop process holding {name}'s lock)"
            ),
            ErrorClass::Permission => format!(
                "check {name}'s app-id, app-secret and the token's scopes in Meta Business Settings"
            ),
            _ => match self.state.next_refresh_at(self.shared.auto_refresh) {
                Some(at) => format!(
                    "nothing yet: tokentop retries at {} (`tokentop history --account {name}` shows the attempts)",
                    format_unix(at)
                ),
                None => format!(
                    "check connectivity to the Graph API and retry; `tokentop history --account {name}` shows earlier attempts"
                ),
            },
        }
    }

    /// Seconds until whatever still works (access or long-lived token) expires.
    fn secs_to_expiry(&self) -> Option<i64> {
        let now = self.shared.clock.now_unix();
        [
            self.snapshot.access_expires_at(),
            self.snapshot.long_lived_expires_at(),
        ]
        .into_iter()
        .flatten()
        .filter(|at| *at > now)
        .min()
        .map(|at| at.saturating_sub(now))
    }
}
