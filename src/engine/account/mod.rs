//! One account: its actor (the task that owns its tokens and does its I/O) around a pure
//! lifecycle state, and the link clients use to reach it.
//!
//! Every refresh of an account goes through this one task, which is what makes refreshes
//! single-flight within a process: callers that ask while one is running share its result.
//!
//! ```text
//!            plan(): refresh due                       success
//!   ┌──────┐ ─────────────────────▶ ┌────────────┐ ─────────────────▶ ┌──────┐
//!   │ Idle │   forced / send-guard  │ Refreshing │                    │ Idle │
//!   └──────┘ ─────────────────────▶ └────────────┘                    └──────┘
//!      ▲  ▲                            │      │ │  transient / rate limit
//!      │  │ retry due                  │      │ └───────────▶ Backoff { attempt, retry_at }
//!      │  └────────────────────────────┼──────┼───────────────────────┘   (10 s doubling, 5 min)
//!      │   next inspection             │      │ permission
//!      └───────────────────── Held ◀───┘      │
//!                                             │ token dead (190), or plan() finds the
//!   store adopted from another process        ▼ credential expired / invalid
//!   ────────────────────────────▶ Idle   Reauth { reason }   (one alert per episode)
//! ```
//!
//! Files: `phase.rs` the pure state ([`phase::AccountState`]: `plan`, `refresh_*`, `due`,
//! `token_state`, returning `Action`s) and `rotation.rs` the pure credential-rotation rule;
//! `actor.rs` the run loop, timers and store adoption; `inspect.rs` inspections; `perform.rs`
//! planning and performing `Action`s (alerts, the remedy); `emit.rs` the snapshot and history
//! rows; `refresh.rs` the refresh procedure top to bottom (lock, take over or exchange, vet,
//! commit, publish; the storage protocol is `engine::store::token_write`'s, shared with
//! `tokentop exchange`); `publishing.rs` the publish targets; `supervise.rs` restarts after a
//! panic; `mailbox.rs` the actor's mailbox.

use std::path::PathBuf;
use std::sync::Arc;

use secrecy::SecretString;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use super::clock::Clock;
use super::coordinator::Coordinator;
use super::events::{EngineEvent, RefreshError};
use super::history::cause::Trigger;
use super::history::{HistoryEntry, HistoryLog};
use super::inspector::Inspector;
use super::source::TokenSource;
use super::state::AccountSnapshot;
use crate::config::{AccountSettings, RefreshPolicy};
use crate::graph::AppCredentials;

/// Automatic refreshes of one account are at least this far apart.
pub(super) const MIN_REFRESH_GAP_SECS: i64 = 10;

/// The log line existing WhatsApp backends and their alerts use; keep verbatim.
pub const LOG_NOT_CONFIGURED: &str = "Refresh token or App ID not configured";

/// What every account actor shares.
pub(crate) struct Shared {
    pub source: Arc<dyn TokenSource>,
    pub inspector: Inspector,
    pub policy: RefreshPolicy,
    pub clock: Clock,
    /// Leases and the token store: the data dir, or a store shared by many hosts.
    pub coordinator: Arc<dyn Coordinator>,
    pub history: HistoryLog,
    pub data_dir: PathBuf,
    pub events: mpsc::UnboundedSender<EngineEvent>,
    pub telemetry: mpsc::UnboundedSender<super::telemetry::TelemetryInput>,
    /// Bounds concurrent health and analytics polls: 100 accounts must not open 100
    /// connections at once (their buffers would stay resident).
    pub poll_permits: Arc<tokio::sync::Semaphore>,
    /// False for one-shot commands (`check`): inspect only, refresh only when asked.
    pub auto_refresh: bool,
    /// Accounts Meta said were revoked, kept across restarts.
    pub revocations: crate::engine::revocations::Revocations,
    /// `[serve]`: which of the token endpoint's readers (`[[serve.token-reader]]`) may read
    /// an account's token, also for accounts added by a reload.
    pub serve: crate::config::ServeSettings,
}

impl Shared {
    /// The named readers of the token endpoint that may read `account`'s token.
    pub fn token_readers_of(&self, account: &str) -> Vec<String> {
        self.serve.token_readers_of(account)
    }

    /// Appends to history and tells clients; a history write failure is logged, not fatal.
    pub fn record(&self, mut entry: HistoryEntry) {
        entry.time = self.clock.now();
        entry.host = self.coordinator.member().map(str::to_string);
        self.coordinator.record(&entry);
        if let Err(err) = self.history.append(&entry) {
            tracing::warn!(account = %entry.account, "cannot append to history: {err}");
        }
        let _ = self.events.send(EngineEvent::History(Box::new(entry)));
    }
}

/// A refresh that worked (or was shared with one that had just worked).
#[derive(Debug, Clone)]
pub struct Refreshed {
    pub token: SecretString,
    pub expires_at: Option<i64>,
    pub message: String,
    /// Steps after the exchange that failed (storing, publishing); the new token is in use
    /// but has not reached everywhere, so a caller reports failure.
    pub problems: Vec<String>,
}

pub type RefreshOutcome = Result<Refreshed, RefreshError>;

/// Messages to an account actor.
///
/// Kept small (the refresh request is boxed): a mailbox keeps the room its messages took
/// until a burst drains (`mailbox.rs`), and every account has one.
pub(crate) enum AccountMsg {
    Refresh(Box<RefreshRequest>),
    Recheck,
    /// Meta's word on the app's access to this account (the webhook relay's).
    Access(crate::engine::events::AccessChange),
    /// Many of the account's messages failed in one minute: one history row for them.
    FailureBurst(Box<crate::engine::telemetry::failure_bursts::FailureBurst>),
    /// The shared coordinator says another process stored a new token.
    StoreChanged,
    /// A consumer read the token or sent with an old one (the token endpoint, the proxy).
    Consumed(crate::engine::consumers::Consumed),
    Shutdown,
}

/// A refresh asked of an account actor.
pub(crate) struct RefreshRequest {
    pub trigger: Trigger,
    pub requested_at: Instant,
    /// Fingerprint of the token the caller found dead; if it was already replaced, the caller
    /// gets the new one without another exchange.
    pub stale: Option<String>,
    pub reply: Option<oneshot::Sender<RefreshOutcome>>,
}

/// The access token as senders see it.
#[derive(Debug, Clone, Default)]
pub struct TokenView {
    pub token: Option<SecretString>,
    pub fingerprint: Option<String>,
    pub expires_at: Option<i64>,
    /// WhatsApp scopes the token lacks; `None` until it was inspected.
    pub missing_scopes: Option<Vec<String>>,
    /// The account knows where it stands: inspected, or failed to be (Meta unreachable, a
    /// config problem). Waiting for the first inspection ends here, well or not.
    pub settled: bool,
    /// The account's state, so that a reader can refuse a token that must not be handed out.
    pub state: crate::engine::TokenState,
    /// The store's version of the token (a unix-second stamp of when it was stored); 0 for a
    /// configured token never refreshed here.
    pub version: i64,
    /// Fingerprint of the token before the current one: a client still sending it missed the
    /// rotation.
    pub previous_fingerprint: Option<String>,
}

/// A cloneable link to one account actor.
#[derive(Clone)]
pub(crate) struct AccountLink {
    pub settings: Arc<AccountSettings>,
    pub app: Option<AppCredentials>,
    pub tx: mailbox::Mailbox<AccountMsg>,
    pub token: watch::Receiver<TokenView>,
}

impl AccountLink {
    /// Asks for a refresh and waits for its (possibly shared) result.
    pub async fn refresh(&self, trigger: Trigger, stale: Option<String>) -> RefreshOutcome {
        let (reply, result) = oneshot::channel();
        let msg = AccountMsg::Refresh(Box::new(RefreshRequest {
            trigger,
            requested_at: Instant::now(),
            stale,
            reply: Some(reply),
        }));
        let stopped =
            |why: &str| RefreshError::local(why, "restart tokentop if it is not shutting down");
        if self.tx.send(msg).is_err() {
            return Err(stopped("tokentop is shutting down"));
        }
        result.await.unwrap_or_else(|_| {
            Err(stopped(
                "the account's task stopped before answering (shutdown, or a panic: see the alert)",
            ))
        })
    }
}

/// What clients see of an account before anything is known about its tokens.
fn blank_snapshot(settings: &AccountSettings) -> AccountSnapshot {
    let mut snapshot = AccountSnapshot::new(&settings.name);
    snapshot.phone_number_id = settings.phone_number_id.clone();
    snapshot.business_account_id = settings.business_account_id.clone();
    snapshot.test_recipient = settings.test_message.to.clone();
    snapshot.purpose = settings.profile.purpose;
    snapshot.labels = settings.profile.labels.clone();
    snapshot
}

mod actor;
mod emit;
mod inspect;
mod mailbox;
mod perform;
mod phase;
mod publishing;
mod refresh;
mod revocation;
mod rotation;
mod supervise;

use actor::AccountActor;
#[cfg(test)]
pub(crate) use mailbox::mailbox;
pub use perform::reauth_hint;
pub use refresh::{LOG_REFRESH_FAILED, LOG_REFRESHED};
pub(crate) use supervise::{panic_text, spawn_account};
