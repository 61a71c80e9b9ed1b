//! The refresh procedure of one account, top to bottom: lock (and re-read), take over a newer
//! stored token or exchange, vet, commit, publish. The storage protocol is
//! [`TokenWrite`]'s, shared with `tokentop exchange`; which token becomes the credential is
//! [`rotate`]'s pure rule. Failures are recorded and planned at the bottom.

use secrecy::SecretString;
use tokio::time::Instant;

use super::phase::Failure;
use super::rotation::{NewTokenFacts, Rotation, rotate};
use super::{AccountActor, RefreshOutcome, Refreshed, Trigger};
use crate::config::ExpiringSystemUser;
use crate::engine::coordinator::{CoordError, Versioned, secs_until_leaseless};
use crate::engine::events::RefreshError;
use crate::engine::history::cause::{AlertKind, InspectReason};
use crate::engine::history::{HistoryEntry, HistoryError, Outcome};
use crate::engine::state::Inspection;
use crate::engine::store::new_token::{new_token_expiry, vet_new_token};
use crate::engine::store::token_write::{Committed, NewToken, TokenWrite};
use crate::engine::token_class::exchange_refusal;
use crate::format::format_unix;
use crate::graph::{ErrorClass, ExchangedToken, Expiry, GraphError, TokenInfo};
use crate::mask::mask;

/// The log lines existing WhatsApp backends and their alerts use; keep verbatim.
pub const LOG_REFRESHED: &str = "WhatsApp access token refreshed successfully";
pub const LOG_REFRESH_FAILED: &str = "Failed to refresh WhatsApp token";

impl AccountActor {
    /// One refresh attempt, with every outcome recorded and the state updated.
    pub(super) async fn refresh(&mut self, trigger: Trigger) -> RefreshOutcome {
        if let Some(event) = self.state.revoked() {
            let hint = super::perform::revoked_hint(&self.settings.name, event);
            return Err(RefreshError::local(
                &format!("not refreshed: Meta says the app's access was taken away ({event})"),
                &hint,
            ));
        }
        if let Some(refused) = self.class_refuses_exchange() {
            return Err(refused);
        }
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

    /// Business and app tokens are never exchanged unless their class allows it.
    fn class_refuses_exchange(&self) -> Option<RefreshError> {
        let renew_business = self.shared.policy.renew_business_tokens;
        let (what, hint) = exchange_refusal(
            self.snapshot.token_class,
            renew_business,
            &self.settings.name,
        )?;
        Some(RefreshError::local(&what, &hint))
    }

    fn report_missing_for_refresh(&mut self) {
        tracing::error!(account = %self.settings.name, "{}", super::LOG_NOT_CONFIGURED);
        self.snapshot_mut().last_error = Some(super::LOG_NOT_CONFIGURED.to_string());
        self.emit();
    }

    /// Lock, take over or exchange, vet, commit, publish. The lease is held until `write` is
    /// dropped when this returns: after the new token was stored, recorded and published.
    async fn refresh_locked(
        &mut self,
        trigger: Trigger,
        app: &crate::graph::AppCredentials,
        credential: &SecretString,
    ) -> RefreshOutcome {
        let name = self.settings.name.clone();
        let coordinator = self.shared.coordinator.clone();
        let begun = TokenWrite::begin_or_leaseless(
            coordinator.as_ref(),
            &name,
            self.seen_version,
            self.secs_to_expiry(),
        )
        .await;
        let mut write = match begun {
            Ok(write) => write,
            Err(err) => return self.fail_without_exchange(trigger, &err),
        };
        // Another process may have refreshed while we waited: use its token, skip the exchange.
        if let Some(stored) = write.seen().cloned()
            && self.take_over_if_newer(stored, &trigger.into()).await
        {
            return Ok(self.record_skip(trigger).await);
        }
        let (vetted, latency_ms) = self.exchange_and_vet(app, credential).await;
        match vetted {
            Ok((new, info)) => {
                self.commit(&mut write, trigger, new, info, latency_ms)
                    .await
            }
            Err(err) => Err(self.on_failure(trigger, &err, latency_ms)),
        }
    }

    /// The exchange, timed, and the new token's inspection: it is used only if Meta vouches for it.
    async fn exchange_and_vet(
        &self,
        app: &crate::graph::AppCredentials,
        credential: &SecretString,
    ) -> (Result<(ExchangedToken, TokenInfo), GraphError>, u64) {
        let started = Instant::now();
        let exchanged = self
            .shared
            .source
            .exchange(app, credential, self.wants_sixty_days())
            .await;
        let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let vetted = match exchanged {
            Ok(new) => {
                let inspected = self.shared.inspector.inspect(app, &new.access_token).await;
                vet_new_token(&app.app_id, &new.access_token, inspected).map(|info| (new, info))
            }
            Err(err) => Err(err),
        };
        (vetted, latency_ms)
    }

    /// Stores the vetted new token under the lease and takes it in; or takes over the newer
    /// one stored meanwhile.
    async fn commit(
        &mut self,
        write: &mut TokenWrite<'_>,
        trigger: Trigger,
        new: ExchangedToken,
        info: TokenInfo,
        latency_ms: u64,
    ) -> RefreshOutcome {
        let now = self.shared.clock.now_unix();
        let expires_at = new_token_expiry(&info, new.expires_in_secs, now);
        let rotation = self.rotation(expires_at, &info);
        let new_token = NewToken {
            long_lived: if rotation.replaces_credential {
                Some(new.access_token.clone())
            } else {
                self.long_lived.clone()
            },
            token: new.access_token,
            expires_at,
            exchanged_at: now,
            origin_fingerprint: self.origin_fingerprint.clone(),
        };
        let committed = write
            .commit(new_token.clone(), trigger.into(), Some(latency_ms))
            .await;
        let name = &self.settings.name;
        let (row, problems) = match committed {
            Committed::TakenOver { current } => return self.lost_write(trigger, current).await,
            Committed::Stored { version, row } => {
                self.seen_version = version;
                (row, Vec::new())
            }
            // A daemon stores it when the shared store returns; a one-shot command ends before
            // that, so the caller is told where the only copy is (`refresh` exits 1).
            Committed::Deferred { row } => {
                let problem = format!(
                    "{} is unreachable: the new token is not stored there yet; it is kept in {} on this host and stored when a running tokentop reconnects",
                    self.shared.coordinator.backend(),
                    self.shared.data_dir.join("tokens").display()
                );
                tracing::warn!(account = %name, "{problem}");
                (row, vec![problem])
            }
            // The token is still used and published; the next refresh writes again.
            Committed::Failed { error, row } => {
                tracing::error!(account = %name, "{error}");
                let problem = format!("storing the new token failed: {error}");
                self.alert(AlertKind::Store, problem.clone());
                (row, vec![problem])
            }
        };
        Ok(self.take_in(new_token, info, rotation, row, problems).await)
    }

    async fn record_skip(&mut self, trigger: Trigger) -> Refreshed {
        let mut entry = self.entry(trigger, Outcome::Skipped);
        entry.detail = Some("another tokentop process had just refreshed".to_string());
        entry.token = self.access.as_ref().map(mask);
        self.shared.record(entry);
        self.settle_on_stored("skipped: another tokentop process had just refreshed".to_string())
            .await
    }

    /// After taking over a token another process stored instead of exchanging: inspect it,
    /// hand it to this host's targets, and answer with it. On another host (a cluster member)
    /// the env-file and token file still hold the old token; on the same host they are found
    /// current and nothing is written.
    async fn settle_on_stored(&mut self, message: String) -> Refreshed {
        self.inspect_and_plan(InspectReason::AfterRefresh).await;
        self.republish_if_stale().await;
        Refreshed {
            token: self
                .access
                .clone()
                .unwrap_or_else(|| SecretString::from(String::new())),
            expires_at: self.snapshot.access_expires_at(),
            message,
            problems: Vec::new(),
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
                    .as_deref()
                    .or(self.snapshot.access.as_ref());
                inspection.is_some_and(|i| {
                    i.info.is_system_user() && matches!(i.info.expiry(), Expiry::At(_))
                })
            }
        }
    }

    /// The credential-rotation rule ([`rotate`]) applied to a new token.
    fn rotation(&self, expires_at: Option<i64>, info: &TokenInfo) -> Rotation {
        // When the credential the exchange is made with expires, as last inspected.
        let credential_expires_at = if self.long_lived.is_some() {
            self.snapshot.long_lived_expires_at()
        } else {
            self.snapshot.access_expires_at()
        };
        rotate(NewTokenFacts {
            expires_at,
            never_expires: matches!(info.expiry(), Expiry::Never),
            credential_expires_at,
            separate_credential: self.long_lived.is_some(),
            rolling: self.wants_sixty_days(),
        })
    }

    /// The new token is in use: record it, update the state, publish, and answer.
    async fn take_in(
        &mut self,
        new: NewToken,
        info: TokenInfo,
        rotation: Rotation,
        row: HistoryEntry,
        mut problems: Vec<String>,
    ) -> Refreshed {
        let (token, expires_at) = (new.token, new.expires_at);
        if rotation.replaces_credential {
            self.long_lived = Some(token.clone());
            self.snapshot_mut().long_lived = Some(Box::new(Inspection {
                checked_at: self.shared.clock.now(),
                info: info.clone(),
            }));
        }
        self.access = Some(token.clone());
        self.shared.record(row);
        tracing::info!(account = %self.settings.name, "{LOG_REFRESHED}");
        self.state.refresh_succeeded(
            new.exchanged_at,
            rotation.capped_until,
            super::actor::new_jitter(),
        );
        self.snapshot_mut().last_error = None;
        self.snapshot_mut().access = Some(Inspection {
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

    /// This process lost its lease during the exchange (paused, cut off) and someone stored a
    /// newer token: the version check refused our write. Ours is still valid at Meta but
    /// unused; the stored one is taken over.
    ///
    /// When the stored token cannot be read or Meta does not vouch for it, the working token
    /// stays and the refresh fails (a one-shot `refresh` exits 1), saying so.
    async fn lost_write(&mut self, trigger: Trigger, current: Option<Versioned>) -> RefreshOutcome {
        let writer = current
            .as_ref()
            .and_then(|c| c.writer.clone())
            .unwrap_or_else(|| "another tokentop process".to_string());
        let vetted = match &current {
            Some(stored) => self.vet_stored(stored, &writer).await,
            None => Err(format!(
                "the version check refused this write, and the token {writer} stored cannot be read"
            )),
        };
        let (Some(current), Ok(())) = (current, vetted.as_ref()) else {
            // Nothing usable was stored: re-read (and vet) at the next check.
            let problem = vetted.err().unwrap_or_default();
            self.seen_version = 0;
            self.alert(AlertKind::Store, problem.clone());
            return Err(RefreshError::local(
                &problem,
                "run `tokentop check` to see the stored token; the working token is still in use",
            ));
        };
        let detail = format!(
            "lost the lease during the exchange: the version check refused this write; using the newer token stored by {writer}"
        );
        tracing::warn!(account = %self.settings.name, "{detail}");
        let mut entry = self.entry(trigger, Outcome::Skipped);
        entry.detail = Some(detail.clone());
        entry.token = Some(mask(&current.tokens.access_token));
        self.adopt(current);
        self.shared.record(entry);
        self.publish_token_view();
        Ok(self.settle_on_stored(detail).await)
    }

    /// No exchange without the lease. An unreachable coordinator is transient, retried no later
    /// than the moment the refresh may go ahead without a lease.
    fn fail_without_exchange(&mut self, trigger: Trigger, err: &CoordError) -> RefreshOutcome {
        if err.is_unavailable() {
            let graph_err = GraphError::without_envelope(ErrorClass::Transient, err.to_string());
            let lease_time = self.shared.coordinator.lease_time();
            let deadline = secs_until_leaseless(self.secs_to_expiry(), lease_time);
            return Err(self.on_failure_by(trigger, &graph_err, 0, deadline));
        }
        let graph_err = crate::engine::source::local_error(&err.to_string());
        Err(self.on_failure(trigger, &graph_err, 0))
    }

    /// Records a failed refresh and decides what happens next, by error class.
    fn on_failure(&mut self, trigger: Trigger, err: &GraphError, latency_ms: u64) -> RefreshError {
        let secs_to_expiry = self.secs_to_expiry();
        self.on_failure_by(trigger, err, latency_ms, secs_to_expiry)
    }

    /// [`Self::on_failure`], retrying no later than `deadline_secs` from now.
    fn on_failure_by(
        &mut self,
        trigger: Trigger,
        err: &GraphError,
        latency_ms: u64,
        deadline_secs: Option<i64>,
    ) -> RefreshError {
        tracing::error!(account = %self.settings.name, "{LOG_REFRESH_FAILED}: {err}");
        let mut entry = self.entry(trigger, Outcome::Failed);
        entry.latency_ms = Some(latency_ms);
        entry.error = Some(Box::new(HistoryError::from(err)));
        entry.token = self.credential().map(mask);
        self.shared.record(entry);
        self.snapshot_mut().last_error = Some(err.to_string());
        let reauth_reason = format!("the exchange was refused: {}", err.message);
        let failure = Failure {
            class: err.class,
            reauth_reason: &reauth_reason,
            retry_after: err.retry_after,
            secs_to_expiry: deadline_secs,
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
