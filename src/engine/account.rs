//! One account's actor: owns its tokens and state, inspects, plans and runs refreshes.
//!
//! Every refresh of an account goes through this one task, which is what makes refreshes
//! single-flight within a process: callers that ask while one is running share its result.

use std::path::PathBuf;
use std::sync::Arc;

use secrecy::SecretString;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use super::clock::Clock;
use super::events::EngineEvent;
use super::history::{HistoryEntry, HistoryError, HistoryEvent, HistoryLog, Outcome};
use super::inspector::Inspector;
use super::schedule::{RefreshPlan, plan_refresh};
use super::source::TokenSource;
use super::state::{AccountSnapshot, Inspection, TokenState};
use super::store::{StoredTokens, TokenStore, fingerprint};
use crate::config::{AccountSettings, RefreshPolicy};
use crate::graph::{AppCredentials, ErrorClass, Expiry, TokenInfo};
use crate::mask::mask;

/// Automatic refreshes of one account are at least this far apart.
const MIN_REFRESH_GAP_SECS: i64 = 10;

/// The log line existing WhatsApp backends and their alerts use; keep verbatim.
pub const LOG_NOT_CONFIGURED: &str = "Refresh token or App ID not configured";

/// What every account actor shares.
pub(crate) struct Shared {
    pub source: Arc<dyn TokenSource>,
    pub inspector: Inspector,
    pub policy: RefreshPolicy,
    pub clock: Clock,
    pub store: TokenStore,
    pub history: HistoryLog,
    pub data_dir: PathBuf,
    pub events: mpsc::UnboundedSender<EngineEvent>,
    pub telemetry: mpsc::UnboundedSender<super::telemetry::TelemetryInput>,
    /// Bounds concurrent health and analytics polls: 100 accounts must not open 100
    /// connections at once (their buffers would stay resident).
    pub poll_permits: Arc<tokio::sync::Semaphore>,
    /// False for one-shot commands (`check`): inspect only, refresh only when asked.
    pub auto_refresh: bool,
}

impl Shared {
    /// Appends to history and tells clients; a history write failure is logged, not fatal.
    pub fn record(&self, mut entry: HistoryEntry) {
        entry.time = self.clock.now();
        if let Err(err) = self.history.append(&entry) {
            tracing::warn!(account = %entry.account, "cannot append to history: {err}");
        }
        let _ = self.events.send(EngineEvent::History(Box::new(entry)));
    }
}

/// Why a refresh was started; shown in history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Scheduled,
    Retry,
    Forced,
    SendGuard,
    AuthError,
}

impl Trigger {
    pub fn label(self) -> &'static str {
        match self {
            Trigger::Scheduled => "scheduled",
            Trigger::Retry => "retry",
            Trigger::Forced => "forced",
            Trigger::SendGuard => "send-guard",
            Trigger::AuthError => "auth-error",
        }
    }
}

/// A refresh that worked (or was shared with one that had just worked).
#[derive(Debug, Clone)]
pub struct RefreshOk {
    pub token: SecretString,
    pub expires_at: Option<i64>,
    pub message: String,
}

/// A refresh that failed.
#[derive(Debug, Clone)]
pub struct RefreshFailure {
    pub message: String,
}

pub type RefreshResult = Result<RefreshOk, RefreshFailure>;

/// Messages to an account actor.
pub(crate) enum AccountMsg {
    Refresh {
        trigger: Trigger,
        requested_at: Instant,
        /// Fingerprint of the token the caller found dead; if it was already replaced, the
        /// caller gets the new one without another exchange.
        stale: Option<String>,
        reply: Option<oneshot::Sender<RefreshResult>>,
    },
    Recheck,
    Shutdown,
}

/// The access token as senders see it.
#[derive(Debug, Clone, Default)]
pub struct TokenView {
    pub token: Option<SecretString>,
    pub fingerprint: Option<String>,
    pub expires_at: Option<i64>,
    /// WhatsApp scopes the token lacks; `None` until it was inspected.
    pub missing_scopes: Option<Vec<String>>,
}

/// A cloneable link to one account actor.
#[derive(Clone)]
pub(crate) struct AccountLink {
    pub settings: Arc<AccountSettings>,
    pub app: Option<AppCredentials>,
    pub tx: mpsc::UnboundedSender<AccountMsg>,
    pub token: watch::Receiver<TokenView>,
}

impl AccountLink {
    /// Asks for a refresh and waits for its (possibly shared) result.
    pub async fn refresh(&self, trigger: Trigger, stale: Option<String>) -> RefreshResult {
        let (reply, result) = oneshot::channel();
        let msg = AccountMsg::Refresh {
            trigger,
            requested_at: Instant::now(),
            stale,
            reply: Some(reply),
        };
        let stopped = || RefreshFailure {
            message: "tokentop is shutting down".to_string(),
        };
        if self.tx.send(msg).is_err() {
            return Err(stopped());
        }
        result.await.unwrap_or_else(|_| Err(stopped()))
    }
}

/// The actor's state. Fields are shared with `refresh.rs`, which holds the refresh procedure.
pub(crate) struct AccountActor {
    pub shared: Arc<Shared>,
    pub settings: Arc<AccountSettings>,
    pub app: Option<AppCredentials>,
    pub access: Option<SecretString>,
    /// A separate long-lived token; `None` when the access token is its own credential.
    pub long_lived: Option<SecretString>,
    pub origin_fingerprint: String,
    /// `refreshed_at` of the store as this process last saw it (cross-process detection).
    pub seen_store_refreshed_at: i64,
    pub snapshot: AccountSnapshot,
    pub refresh_at: Option<i64>,
    pub retry_at: Option<i64>,
    pub backoff_attempt: u32,
    pub reauth_reason: Option<String>,
    pub refreshing: bool,
    /// Set after a permission error: no automatic retries until the next inspection.
    pub hold_until_recheck: bool,
    pub pending_publish: bool,
    pub jitter_secs: i64,
    pub last_refresh_finished: Option<Instant>,
    pub last_result: Option<RefreshResult>,
    /// Unix second of the last successful refresh (spacing of automatic refreshes).
    pub last_refresh_unix: Option<i64>,
    pub token_tx: watch::Sender<TokenView>,
}

/// Starts an account actor and returns the link to it.
pub(crate) fn spawn_account(
    shared: Arc<Shared>,
    settings: AccountSettings,
) -> (AccountLink, tokio::task::JoinHandle<()>) {
    let settings = Arc::new(settings);
    let app = match (&settings.app_id, &settings.app_secret) {
        (Some(app_id), Some(app_secret)) => Some(AppCredentials {
            app_id: app_id.clone(),
            app_secret: app_secret.clone(),
        }),
        _ => None,
    };
    let (tx, rx) = mpsc::unbounded_channel();
    let (token_tx, token_rx) = watch::channel(TokenView::default());
    let mut snapshot = AccountSnapshot::new(&settings.name);
    snapshot.phone_number_id = settings.phone_number_id.clone();
    snapshot.business_account_id = settings.business_account_id.clone();
    snapshot.test_recipient = settings.test_message.to.clone();
    let actor = AccountActor {
        shared,
        settings: settings.clone(),
        app: app.clone(),
        access: settings.access_token.clone(),
        long_lived: settings.long_lived_token.clone(),
        origin_fingerprint: String::new(),
        seen_store_refreshed_at: 0,
        snapshot,
        refresh_at: None,
        retry_at: None,
        backoff_attempt: 0,
        reauth_reason: None,
        refreshing: false,
        hold_until_recheck: false,
        pending_publish: false,
        jitter_secs: new_jitter(),
        last_refresh_finished: None,
        last_result: None,
        last_refresh_unix: None,
        token_tx,
    };
    let task = tokio::spawn(actor.run(rx));
    let link = AccountLink {
        settings,
        app,
        tx,
        token: token_rx,
    };
    (link, task)
}

fn new_jitter() -> i64 {
    rand::random_range(0..=60)
}

impl AccountActor {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<AccountMsg>) {
        self.adopt_store_at_start();
        self.inspect_and_plan("startup").await;
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
                    Some(AccountMsg::Recheck) => self.recheck().await,
                    Some(AccountMsg::Refresh { trigger, requested_at, stale, reply }) => {
                        let result = self.refresh_single_flight(trigger, requested_at, stale).await;
                        if let Some(reply) = reply {
                            let _ = reply.send(result);
                        }
                    }
                },
                () = timer => self.on_timer().await,
            }
        }
    }

    /// The next moment something is due: a retry, a scheduled refresh, or the expiry itself
    /// (so the state turns Expired on time).
    fn next_wake(&self) -> Option<i64> {
        let now = self.shared.clock.now_unix();
        let long_lived_expiry = self
            .snapshot
            .long_lived
            .as_ref()
            .and_then(|i| match i.expiry() {
                Expiry::At(at) => Some(at),
                _ => None,
            });
        let expiry = [self.snapshot.access_expires_at(), long_lived_expiry]
            .into_iter()
            .flatten()
            .filter(|at| *at > now)
            .min();
        let refresh =
            if !self.shared.auto_refresh || self.reauth_reason.is_some() || self.hold_until_recheck
            {
                None
            } else {
                self.retry_at.or(self.refresh_at)
            };
        [expiry, refresh].into_iter().flatten().min()
    }

    async fn on_timer(&mut self) {
        // Time alone can kill a credential (expiry): replan before deciding.
        self.plan();
        let now = self.shared.clock.now_unix();
        let due = |at: Option<i64>| at.is_some_and(|at| at <= now);
        if self.shared.auto_refresh && self.reauth_reason.is_none() && !self.hold_until_recheck {
            if due(self.retry_at) {
                self.refresh_and_remember(Trigger::Retry).await;
                return;
            }
            if self.retry_at.is_none() && due(self.refresh_at) {
                self.refresh_and_remember(Trigger::Scheduled).await;
                return;
            }
        }
        self.emit();
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
    ) -> RefreshResult {
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
                return Ok(RefreshOk {
                    token,
                    expires_at: self.snapshot.access_expires_at(),
                    message: "already refreshed".to_string(),
                });
            }
        }
        self.refresh_and_remember(trigger).await;
        self.last_result.clone().unwrap_or_else(|| {
            Err(RefreshFailure {
                message: "refresh produced no result".to_string(),
            })
        })
    }

    async fn recheck(&mut self) {
        self.adopt_newer_store("check");
        self.hold_until_recheck = false;
        self.inspect_and_plan("check").await;
        if self.pending_publish {
            self.publish().await;
        }
    }

    /// Start: a stored token newer than the configured one wins (the configured value is the
    /// stale original after the first refresh), unless the operator configured a new token.
    fn adopt_store_at_start(&mut self) {
        let configured = self.long_lived.clone().or_else(|| self.access.clone());
        self.origin_fingerprint = configured.as_ref().map(fingerprint).unwrap_or_default();
        let stored = match self.shared.store.load(&self.settings.name) {
            Ok(Some(stored)) => stored,
            Ok(None) => return self.publish_token_view(),
            Err(err) => {
                tracing::error!(account = %self.settings.name, "{err}");
                self.snapshot.last_error = Some(err.to_string());
                return self.publish_token_view();
            }
        };
        let configured_fps: Vec<String> = [&self.access, &self.long_lived]
            .into_iter()
            .flatten()
            .map(fingerprint)
            .collect();
        let stored_wins = configured_fps.is_empty()
            || configured_fps.contains(&stored.origin_fingerprint)
            || configured_fps.contains(&fingerprint(&stored.access_token));
        if stored_wins {
            self.adopt(stored);
        } else {
            // The stored token is older than the configured one: only a refresh stored after
            // now may replace it (else the next refresh would mistake it for a newer one).
            self.seen_store_refreshed_at = stored.refreshed_at;
            tracing::info!(account = %self.settings.name, "configured token differs from the stored one: using the configured token");
        }
        self.publish_token_view();
    }

    /// Takes over tokens another process stored after we last looked. Returns true if it did.
    pub fn adopt_newer_store(&mut self, trigger: &str) -> bool {
        let Ok(Some(stored)) = self.shared.store.load(&self.settings.name) else {
            return false;
        };
        let differs =
            self.access.as_ref().map(fingerprint) != Some(fingerprint(&stored.access_token));
        if stored.refreshed_at <= self.seen_store_refreshed_at || !differs {
            self.seen_store_refreshed_at = self.seen_store_refreshed_at.max(stored.refreshed_at);
            return false;
        }
        tracing::info!(account = %self.settings.name, trigger, "picked up a token refreshed by another tokentop process");
        self.adopt(stored);
        self.reauth_reason = None;
        self.retry_at = None;
        self.backoff_attempt = 0;
        self.publish_token_view();
        true
    }

    fn adopt(&mut self, stored: StoredTokens) {
        self.access = Some(stored.access_token);
        if stored.long_lived_token.is_some() {
            self.long_lived = stored.long_lived_token;
        }
        self.origin_fingerprint = stored.origin_fingerprint;
        self.seen_store_refreshed_at = stored.refreshed_at;
        self.jitter_secs = new_jitter();
    }

    /// Lets senders see the current access token.
    pub fn publish_token_view(&self) {
        let view = TokenView {
            token: self.access.clone(),
            fingerprint: self.access.as_ref().map(fingerprint),
            expires_at: self.snapshot.access_expires_at(),
            missing_scopes: self
                .snapshot
                .access
                .as_ref()
                .map(|_| self.snapshot.missing_scopes.clone()),
        };
        self.token_tx.send_replace(view);
    }

    /// The credential the exchange is made with.
    pub fn credential(&self) -> Option<&SecretString> {
        self.long_lived.as_ref().or(self.access.as_ref())
    }

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
            let spaced = at.max(last + MIN_REFRESH_GAP_SECS);
            let latest = self
                .snapshot
                .access_expires_at()
                .map_or(spaced, |exp| exp - 1);
            self.refresh_at = Some(spaced.min(latest).max(at));
        }
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
        if self.reauth_reason.is_none() {
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
