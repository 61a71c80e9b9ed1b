//! The account actor: the task that owns one account's tokens and does its I/O (inspection,
//! exchange, store, publish, timers).

use std::sync::Arc;

use secrecy::SecretString;
use tokio::sync::watch;
use tokio::time::Instant;

use super::phase::AccountState;
use super::publishing::{Targets, configured_targets};
use super::{
    AccountMsg, RefreshOutcome, RefreshRequest, Refreshed, Shared, TokenView, Trigger,
    blank_snapshot,
};
use crate::config::AccountSettings;
use crate::engine::consumers::{Consumed, Consumers};
use crate::engine::coordinator::Versioned;
use crate::engine::events::RefreshError;
use crate::engine::history::cause::{AlertKind, Cause, InspectReason};
use crate::engine::publish::health::PublishHealth;
use crate::engine::state::AccountSnapshot;
use crate::engine::store::fingerprint;
use crate::engine::store::new_token::vet_new_token;
use crate::graph::AppCredentials;

/// The actor's state. Fields are private to the account module: `inspect.rs`, `perform.rs`,
/// `emit.rs`, `publishing.rs` and `refresh.rs` implement the rest of the actor; nothing outside
/// `account/` reaches in.
pub(super) struct AccountActor {
    pub(super) shared: Arc<Shared>,
    pub(super) settings: Arc<AccountSettings>,
    pub(super) app: Option<AppCredentials>,
    pub(super) access: Option<SecretString>,
    /// A separate long-lived token; `None` when the access token is its own credential.
    pub(super) long_lived: Option<SecretString>,
    pub(super) origin_fingerprint: String,
    /// The coordinator's version of the stored tokens as this process last saw it (how it
    /// notices other processes' refreshes, and what its own writes compare-and-set against).
    pub(super) seen_version: i64,
    /// What clients see, shared with them: the daemon's `/status` keeps the one it was sent,
    /// so at rest each account's snapshot exists once (issue 23: 10,000 of them).
    /// Changed through [`Self::snapshot_mut`], which copies it when a client still holds it.
    pub(super) snapshot: Arc<AccountSnapshot>,
    /// The pure lifecycle state: phase, refresh plan, what to announce.
    pub(super) state: AccountState,
    /// The publish targets whose last publish failed: retried at the next check.
    pub(super) pending_publish: Targets,
    last_refresh_finished: Option<Instant>,
    last_result: Option<RefreshOutcome>,
    token_tx: watch::Sender<TokenView>,
    /// Who took the current token after it was published.
    pub(super) consumers: Consumers,
    /// Per configured publish target: does it hold the current token, its last failure.
    pub(super) publish_health: PublishHealth,
}

pub(super) fn new_jitter() -> i64 {
    rand::random_range(0..=60)
}

impl AccountActor {
    /// A fresh actor from the account's settings (at start, and after a panic).
    pub(super) fn new(
        shared: Arc<Shared>,
        settings: Arc<AccountSettings>,
        app: Option<AppCredentials>,
        token_tx: watch::Sender<TokenView>,
    ) -> Self {
        let settings_readers = shared.token_readers_of(&settings.name);
        let publish_health = PublishHealth::new(configured_targets(&settings));
        Self {
            shared,
            access: settings.access_token.clone(),
            long_lived: settings.long_lived_token.clone(),
            snapshot: Arc::new(blank_snapshot(&settings)),
            settings,
            app,
            origin_fingerprint: String::new(),
            seen_version: 0,
            state: AccountState::new(new_jitter()),
            pending_publish: Targets::default(),
            last_refresh_finished: None,
            last_result: None,
            token_tx,
            consumers: Consumers::new(settings_readers),
            publish_health,
        }
    }

    /// The snapshot to change; a copy when clients still hold the one sent last.
    pub(super) fn snapshot_mut(&mut self) -> &mut AccountSnapshot {
        Arc::make_mut(&mut self.snapshot)
    }

    /// Runs until Shutdown. Borrows the mailbox so that a restarted actor keeps it (and every
    /// link to the account stays valid).
    ///
    /// Start-up, each message and each timer are handled in a boxed future, allocated only
    /// while it runs: awaited inline, the largest of them (a refresh: lock, exchange, store,
    /// publish) would size every idle account's task, about 16 KB each (issue 21: 15 MB of the
    /// daemon's heap at 1,000 accounts).
    ///
    /// The actor comes boxed: an async fn keeps its arguments apart from its locals, so an
    /// actor passed by value would be held twice by every account's task.
    pub(super) async fn run(mut self: Box<Self>, rx: &mut super::mailbox::Inbox<AccountMsg>) {
        Box::pin(self.start()).await;
        loop {
            let wake = self.next_wake();
            let clock = self.shared.clock.clone();
            let timer = async move {
                match wake {
                    Some(at) => tokio::time::sleep_until(clock.instant_at(at)).await,
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                msg = rx.recv() => match msg {
                    None | Some(AccountMsg::Shutdown) => break,
                    Some(msg) => Box::pin(self.handle(msg)).await,
                },
                () = timer => Box::pin(self.on_timer()).await,
            }
        }
    }

    pub(super) async fn start(&mut self) {
        self.resume_revocation();
        self.adopt_store_at_start().await;
        self.inspect_and_plan(InspectReason::Startup).await;
        self.republish_if_stale().await;
    }

    /// One message from the mailbox; `run` answers Shutdown itself.
    async fn handle(&mut self, msg: AccountMsg) {
        match msg {
            AccountMsg::Shutdown => {}
            AccountMsg::Recheck => self.recheck().await,
            AccountMsg::Access(change) => self.on_access_change(change).await,
            AccountMsg::StoreChanged => self.on_store_changed().await,
            AccountMsg::Consumed(consumed) => self.on_consumed(consumed),
            AccountMsg::FailureBurst(burst) => self.on_failure_burst(&burst),
            AccountMsg::Refresh(request) => {
                let RefreshRequest {
                    trigger,
                    requested_at,
                    stale,
                    reply,
                } = *request;
                let result = self
                    .refresh_single_flight(trigger, requested_at, stale)
                    .await;
                if let Some(reply) = reply {
                    let _ = reply.send(result);
                }
            }
        }
    }

    /// The next moment something is due: a retry, a scheduled refresh, or the expiry itself
    /// (so the state turns Expired on time).
    fn next_wake(&self) -> Option<i64> {
        let now = self.shared.clock.now_unix();
        self.state.next_wake(
            &[
                self.snapshot.access_expires_at(),
                self.snapshot.long_lived_expires_at(),
            ],
            now,
            self.shared.auto_refresh,
        )
    }

    async fn on_timer(&mut self) {
        // Time alone can kill a credential (expiry): replan before deciding.
        self.plan();
        let now = self.shared.clock.now_unix();
        match self.state.due(now, self.shared.auto_refresh) {
            Some(trigger) => self.refresh_and_remember(trigger).await,
            None => self.emit(),
        }
    }

    async fn refresh_and_remember(&mut self, trigger: Trigger) {
        let result = self.refresh(trigger).await;
        self.last_refresh_finished = Some(Instant::now());
        self.last_result = Some(result);
    }

    async fn refresh_single_flight(
        &mut self,
        trigger: Trigger,
        requested_at: Instant,
        stale: Option<String>,
    ) -> RefreshOutcome {
        let current = self.access.as_ref().map(fingerprint);
        let replaced_since = stale.is_some() && stale != current;
        let finished_since = self
            .last_refresh_finished
            .is_some_and(|done| done >= requested_at);
        if replaced_since || finished_since {
            if let Some(result) = self.last_result.clone() {
                return result;
            }
            if let Some(token) = self.access.clone() {
                return Ok(Refreshed {
                    token,
                    expires_at: self.snapshot.access_expires_at(),
                    message: "already refreshed".to_string(),
                    problems: Vec::new(),
                });
            }
        }
        self.refresh_and_remember(trigger).await;
        self.last_result.clone().unwrap_or_else(|| {
            Err(RefreshError::local(
                "refresh produced no result",
                "retry; if it keeps failing, see tokentop's log file",
            ))
        })
    }

    pub(super) async fn recheck(&mut self) {
        self.adopt_newer_store(InspectReason::Check.into()).await;
        self.state.rechecked();
        self.inspect_and_plan(InspectReason::Check).await;
        self.retry_pending_publish().await;
    }

    /// Another process stored a token (announced by a shared coordinator): take it over,
    /// inspect it (its expiry sets the next refresh), and hand it to this host's env-file and
    /// token file.
    async fn on_store_changed(&mut self) {
        if self.adopt_newer_store(InspectReason::Cluster.into()).await {
            self.inspect_and_plan(InspectReason::Cluster).await;
            self.republish_if_stale().await;
        }
    }

    /// Start: a stored token newer than the configured one wins (the configured value is the
    /// stale original after the first refresh), unless the operator configured a new token.
    async fn adopt_store_at_start(&mut self) {
        let configured = self.long_lived.clone().or_else(|| self.access.clone());
        self.origin_fingerprint = configured.as_ref().map(fingerprint).unwrap_or_default();
        let loaded = self.shared.coordinator.load(&self.settings.name).await;
        let stored = match loaded {
            Ok(Some(stored)) => stored,
            Ok(None) => return self.publish_token_view(),
            Err(err) => {
                tracing::error!(account = %self.settings.name, "{err}");
                self.snapshot_mut().last_error = Some(err.to_string());
                return self.publish_token_view();
            }
        };
        let configured_fps: Vec<String> = [&self.access, &self.long_lived]
            .into_iter()
            .flatten()
            .map(fingerprint)
            .collect();
        let stored_wins = configured_fps.is_empty()
            || configured_fps.contains(&stored.tokens.origin_fingerprint)
            || configured_fps.contains(&fingerprint(&stored.tokens.access_token));
        if stored_wins {
            self.adopt(stored);
        } else {
            // The stored token is older than the configured one: only a refresh stored after
            // now may replace it (else the next refresh would mistake it for a newer one).
            self.seen_version = stored.version;
            tracing::info!(account = %self.settings.name, "configured token differs from the stored one: using the configured token");
        }
        self.publish_token_view();
    }

    /// Takes over tokens another process stored after we last looked (re-read without the
    /// lease: a refresh re-reads under it, in `TokenWrite::begin`). Returns true if it did.
    pub(super) async fn adopt_newer_store(&mut self, why: Cause) -> bool {
        let loaded = self.shared.coordinator.load(&self.settings.name).await;
        let Ok(Some(stored)) = loaded else {
            return false;
        };
        self.take_over_if_newer(stored, &why).await
    }

    /// Takes over `stored` if another process stored it after we last looked and Meta vouches
    /// for it; else notes its version as seen. Returns true if it took it over.
    pub(super) async fn take_over_if_newer(&mut self, stored: Versioned, why: &Cause) -> bool {
        let differs =
            self.access.as_ref().map(fingerprint) != Some(fingerprint(&stored.tokens.access_token));
        if stored.version <= self.seen_version || !differs {
            self.seen_version = self.seen_version.max(stored.version);
            return false;
        }
        let writer = stored
            .writer
            .clone()
            .unwrap_or_else(|| "another tokentop process".to_string());
        if let Err(refused) = self.vet_stored(&stored, &writer).await {
            // Seen, so the same record is not inspected again at every check; a newer one is.
            self.seen_version = self.seen_version.max(stored.version);
            tracing::error!(account = %self.settings.name, "{refused}");
            self.alert(AlertKind::Store, refused);
            return false;
        }
        tracing::info!(account = %self.settings.name, trigger = why.word(), writer = %writer, "picked up a token refreshed by another tokentop process");
        self.adopt(stored);
        self.publish_token_view();
        true
    }

    /// A token another process stored passes the rule an exchanged one does before it replaces
    /// the working token: well-formed, and valid for this app by its own inspection. Without
    /// app credentials nothing can be inspected (nor refreshed): it is taken as stored.
    pub(super) async fn vet_stored(&self, stored: &Versioned, writer: &str) -> Result<(), String> {
        let Some(app) = &self.app else {
            return Ok(());
        };
        let token = &stored.tokens.access_token;
        let inspected = self.shared.inspector.inspect(app, token).await;
        vet_new_token(&app.app_id, token, inspected).map(|_| ()).map_err(|err| {
            format!(
                "refused the token {writer} stored (version {}): {}; keeping the working token and publishing nothing",
                stored.version, err.message
            )
        })
    }

    pub(super) fn adopt(&mut self, stored: Versioned) {
        self.state.store_adopted(new_jitter());
        self.seen_version = stored.version;
        let tokens = stored.tokens;
        self.access = Some(tokens.access_token);
        if tokens.long_lived_token.is_some() {
            self.long_lived = tokens.long_lived_token;
        }
        self.origin_fingerprint = tokens.origin_fingerprint;
    }

    /// Lets senders see the current access token.
    pub(super) fn publish_token_view(&self) {
        let view = TokenView {
            token: self.access.clone(),
            fingerprint: self.access.as_ref().map(fingerprint),
            expires_at: self.snapshot.access_expires_at(),
            // Every WhatsApp scope the token lacks, whatever the purpose: the health polls
            // skip what the token cannot read.
            missing_scopes: self.snapshot.access.as_ref().map(|access| {
                let missing = access.info.missing_whatsapp_scopes();
                missing.into_iter().map(str::to_string).collect()
            }),
            settled: self.snapshot.settled(),
            state: self.snapshot.state.clone(),
            version: self.seen_version,
            previous_fingerprint: None,
        };
        self.token_tx.send_modify(|old| {
            let previous_fingerprint = if old.fingerprint != view.fingerprint {
                old.fingerprint.clone()
            } else {
                old.previous_fingerprint.clone()
            };
            *old = TokenView {
                previous_fingerprint,
                ..view
            };
        });
    }

    /// A consumer read the token or sent with an old one: shown at once.
    fn on_consumed(&mut self, consumed: Consumed) {
        let stale = consumed == Consumed::StaleSend;
        if self
            .consumers
            .record(consumed, self.shared.clock.now_unix())
            && stale
        {
            tracing::warn!(account = %self.settings.name, "an application sent the previous token through the proxy after the rotation: it has not picked up the new token (the proxy used the current one)");
        }
        self.emit();
    }

    /// The credential the exchange is made with.
    pub(super) fn credential(&self) -> Option<&SecretString> {
        self.long_lived.as_ref().or(self.access.as_ref())
    }
}
