//! Lends an account's current access token to a sender outside the engine (the Graph API
//! proxy): through the send guard, and renewed once when Meta rejects it, with the same
//! single-flight refresh the engine's own sends use. The token goes straight into the
//! borrower's request; it never travels in an [`super::EngineEvent`].
//!
//! A renewal that failed is remembered for the token it failed for: while that token is still
//! the account's, later requests do not each ask Meta again (an application sending a thousand
//! messages a second to an account that needs re-auth would otherwise make a thousand refresh
//! attempts a second). A token that Meta refused for good (re-auth needed) is not renewed
//! again until the account has another token; any other failure holds renewals off for
//! [`RENEW_HOLD_OFF_SECS`].

mod loan;
mod reads;
mod send_batch;

pub use loan::{Lent, TokenLoan};
pub use reads::TokenReading;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use tokio::sync::mpsc;

use super::account::{AccountLink, Shared};
use super::directory::{DirectoryEntry, DirectoryWatch};
use super::history::cause::{SendChannel, Trigger};
use super::history::{HistoryEntry, Outcome};
use super::send_rows::{SendRow, SendRowLimiter};
use super::sends::guarded_token;
use super::telemetry::TelemetryInput;
use super::telemetry::wamid_join::{self, JoinInput};
use crate::graph::{ErrorClass, UsageHeaders};

/// How long a renewal that failed for a passing reason (network, rate limit) holds off the
/// next one for the same token.
pub const RENEW_HOLD_OFF_SECS: i64 = 30;

/// The last renewal of an account that failed.
struct FailedRenewal {
    /// The settings it failed under: a reload that changed them (a new app secret) lifts it.
    settings: Arc<crate::config::AccountSettings>,
    fingerprint: String,
    at: i64,
    /// Meta refused the refresh for good (dead token, permission): only a new token helps.
    for_good: bool,
    message: String,
}

/// Why no token can be lent; says what to do.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct LoanError {
    pub message: String,
}

/// How a message send through the borrower ended, for the delivery counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendOutcome {
    accepted: bool,
    code: Option<i64>,
    title: Option<String>,
    /// Meta's id of the accepted message (`messages[0].id`), joined with status webhooks.
    wamid: Option<String>,
}

impl SendOutcome {
    pub fn accepted() -> Self {
        Self {
            accepted: true,
            code: None,
            title: None,
            wamid: None,
        }
    }

    /// Accepted, with the message id Meta answered.
    pub fn accepted_as(wamid: Option<String>) -> Self {
        Self {
            wamid,
            ..Self::accepted()
        }
    }

    pub fn failed(code: Option<i64>, title: Option<String>) -> Self {
        Self {
            accepted: false,
            code,
            title,
            wamid: None,
        }
    }
}

/// Cheap to clone; one per engine.
#[derive(Clone)]
pub struct TokenBroker {
    /// The running accounts, with the usage headers of the borrower's latest call per
    /// account (for the health poller); replaced when accounts are reloaded.
    directory: DirectoryWatch,
    shared: Arc<Shared>,
    failed: Arc<Mutex<HashMap<String, FailedRenewal>>>,
    /// Per account: the token Meta's inspection last found valid after a 190, and when. A
    /// 190 about such a token was about something else; renewing it would only burn tokens.
    found_valid: Arc<Mutex<HashMap<String, (String, i64)>>>,
    /// Failed sends get one history row per account, code and minute.
    send_rows: Arc<Mutex<SendRowLimiter>>,
    /// Into the wamid join, once it runs ([`Self::start_wamid_join`]).
    wamids: Arc<OnceLock<mpsc::UnboundedSender<JoinInput>>>,
    /// Per account: the token lent last with its proof, fingerprint and header, which change
    /// only with the token (an HMAC and a SHA-256 per request otherwise).
    lent: Arc<loan::LentCache>,
    /// Sends on their way to the telemetry hub.
    send_batch: send_batch::SendBatch,
}

impl TokenBroker {
    pub(crate) fn new(directory: DirectoryWatch, shared: Arc<Shared>) -> Self {
        Self {
            directory,
            shared,
            failed: Arc::default(),
            found_valid: Arc::default(),
            send_rows: Arc::default(),
            wamids: Arc::default(),
            lent: Arc::default(),
            send_batch: send_batch::SendBatch::default(),
        }
    }

    /// Starts joining accepted sends with Meta's status webhooks by wamid (when the proxy and
    /// the relay both run); a second call changes nothing.
    pub(crate) fn start_wamid_join(&self, undelivered_after: std::time::Duration) {
        let (feed, inputs) = mpsc::unbounded_channel();
        if self.wamids.set(feed).is_ok() {
            tokio::spawn(wamid_join::run(
                wamid_join::WamidJoin::new(undelivered_after),
                self.shared.clock.clone(),
                inputs,
                self.shared.telemetry.clone(),
            ));
        }
    }

    /// The wamid join's input, while it runs.
    pub(crate) fn wamid_feed(&self) -> Option<&mpsc::UnboundedSender<JoinInput>> {
        self.wamids.get()
    }

    /// The failures map; a panic elsewhere while it was held leaves plain data, so poison is
    /// ignored.
    fn failures(&self) -> std::sync::MutexGuard<'_, HashMap<String, FailedRenewal>> {
        self.failed.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Why renewing `fingerprint` is not tried again now, if it is held off.
    fn held_off(&self, link: &AccountLink, fingerprint: &str) -> Option<String> {
        let now = self.shared.clock.now_unix();
        self.failures().get(&link.settings.name).and_then(|failed| {
            let holds = failed.fingerprint == fingerprint
                && Arc::ptr_eq(&failed.settings, &link.settings)
                && (failed.for_good || now.saturating_sub(failed.at) < RENEW_HOLD_OFF_SECS);
            holds.then(|| failed.message.clone())
        })
    }

    fn remember_failure(
        &self,
        link: &AccountLink,
        fingerprint: &str,
        for_good: bool,
        message: String,
    ) {
        let account = &link.settings.name;
        let failed = FailedRenewal {
            settings: link.settings.clone(),
            fingerprint: fingerprint.to_string(),
            at: self.shared.clock.now_unix(),
            for_good,
            message,
        };
        self.failures().insert(account.to_string(), failed);
    }

    /// The running accounts, replaced on every reload (the proxy routes by them).
    pub(crate) fn accounts(&self) -> DirectoryWatch {
        self.directory.clone()
    }

    /// The account's entry in the directory as it is now (a reload may replace it).
    fn entry(&self, account: &str) -> Result<Arc<DirectoryEntry>, LoanError> {
        self.directory
            .borrow()
            .get(account)
            .cloned()
            .ok_or_else(|| LoanError {
                message: format!("no account named {account}"),
            })
    }

    /// Keeps the usage headers of a call: the account's rate-limit headroom (dashboard, `check`,
    /// metrics, the 80% alert) counts the borrower's calls from the next health round on.
    pub fn report_usage(&self, account: &str, usage: UsageHeaders) {
        if usage.is_empty() {
            return;
        }
        if let Ok(entry) = self.entry(account) {
            entry.note_proxy_usage(usage);
        }
    }

    /// The account's token, refreshed first when it expires within the send guard.
    /// While a renewal of the current token is held off, the token is lent as it is.
    pub async fn lend(&self, account: &str) -> Result<TokenLoan, LoanError> {
        let entry = self.entry(account)?;
        let link = &entry.link;
        let guard_secs = i64::try_from(self.shared.policy.send_guard.as_secs()).unwrap_or(i64::MAX);
        // The usual case, a token not due for the send guard, is lent as it is: no copy of the
        // account's whole view or of the token per request (what follows would lend it
        // unchanged too).
        {
            let view = link.token.borrow();
            let expiring = view
                .expires_at
                .is_some_and(|at| at.saturating_sub(self.shared.clock.now_unix()) <= guard_secs);
            if let Some(token) = view.token.as_ref().filter(|_| !expiring) {
                return Ok(self.lent.loan(link, token, false));
            }
        }
        let view = link.token.borrow().clone();
        if let (Some(token), Some(fingerprint)) = (&view.token, &view.fingerprint)
            && self.held_off(link, fingerprint).is_some()
        {
            return Ok(self.lent.loan(link, token, false));
        }
        let expiring = view
            .expires_at
            .is_some_and(|at| at.saturating_sub(self.shared.clock.now_unix()) <= guard_secs);
        let (token, refreshed) = guarded_token(link, &self.shared.policy, &self.shared.clock)
            .await
            .map_err(|err| LoanError {
                message: err.message,
            })?;
        if expiring
            && !refreshed
            && let Some(fingerprint) = &view.fingerprint
        {
            let message = "the send guard's refresh failed (see the log)".to_string();
            self.remember_failure(link, fingerprint, false, message);
        }
        Ok(self.lent.loan(link, &token, refreshed))
    }

    /// After Meta rejected `rejected` (190): a new token from the single-flight refresh (or
    /// the one another caller's refresh already produced).
    /// Not tried while a failed renewal of the same token is held off.
    ///
    /// Only a token shown dead is renewed: a 190 says the credential the request carried was
    /// refused, which a client can provoke at will, so Meta's own inspection of the lent token
    /// must say it is invalid first (a token found valid is not inspected again for
    /// [`RENEW_HOLD_OFF_SECS`]).
    pub async fn renew(&self, account: &str, rejected: &TokenLoan) -> Result<TokenLoan, LoanError> {
        let entry = self.entry(account)?;
        let link = &entry.link;
        if let Some(message) = self.held_off(link, &rejected.fingerprint) {
            return Err(LoanError { message });
        }
        self.shown_dead(link, account, rejected).await?;
        tracing::warn!(account = %account, "{}", super::LOG_EXPIRED_ATTEMPTING);
        let stale = Some(rejected.fingerprint.clone());
        match link.refresh(Trigger::AuthError, stale).await {
            Ok(fresh) => Ok(self.lent.loan(link, &fresh.token, true)),
            Err(err) => {
                let message = format!("{} ({})", err.message, err.remedy);
                let for_good = matches!(err.class, ErrorClass::TokenDead | ErrorClass::Permission);
                self.remember_failure(link, &rejected.fingerprint, for_good, message.clone());
                Err(LoanError { message })
            }
        }
    }

    /// `Ok` when Meta's inspection says the lent token is invalid; otherwise why it is not
    /// renewed.
    async fn shown_dead(
        &self,
        link: &AccountLink,
        account: &str,
        rejected: &TokenLoan,
    ) -> Result<(), LoanError> {
        let now = self.shared.clock.now_unix();
        let valid_lately = |found: &HashMap<String, (String, i64)>| {
            found.get(account).is_some_and(|(fingerprint, at)| {
                *fingerprint == rejected.fingerprint
                    && now.saturating_sub(*at) < RENEW_HOLD_OFF_SECS
            })
        };
        let not_renewed = |why: &str| LoanError {
            message: format!("the token was not renewed: {why}"),
        };
        if valid_lately(
            &self
                .found_valid
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        ) {
            return Err(not_renewed("Meta's inspection found it valid moments ago"));
        }
        let Some(app) = &link.app else {
            return Err(not_renewed(
                "the account has no app-id and app-secret to inspect it with",
            ));
        };
        match self.shared.inspector.inspect(app, &rejected.token).await {
            Ok(info) if !info.is_valid => Ok(()),
            Ok(_) => {
                tracing::warn!(account = %account, "Meta answered 190 but its inspection says the token is valid: not renewing it (was the request's own credential refused?)");
                self.found_valid
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(account.to_string(), (rejected.fingerprint.clone(), now));
                Err(not_renewed("Meta's inspection says it is valid"))
            }
            Err(err) => Err(not_renewed(&format!("it could not be inspected ({err})"))),
        }
    }

    /// Counts a message send for the delivery panel and the metrics; failed sends and sends
    /// that needed a refresh also get a history row (every accepted one would drown the
    /// refresh history at production rates).
    pub fn report_send(&self, account: &str, outcome: SendOutcome, refreshed: bool) {
        if let (Some(wamid), Some(feed)) = (&outcome.wamid, self.wamid_feed()) {
            let _ = feed.send(JoinInput::Accepted {
                wamid: wamid.clone(),
                account: account.to_string(),
                at_ms: self.shared.clock.now().timestamp_millis(),
            });
        }
        let send = TelemetryInput::Send {
            via: super::telemetry::SentVia::Proxy,
            account: account.to_string(),
            at: self.shared.clock.now(),
            delivered: outcome.accepted,
            failure_code: outcome.code,
            failure_title: outcome.title.clone(),
        };
        self.send_batch.push(send, &self.shared.telemetry);
        if outcome.accepted && !refreshed {
            return;
        }
        let (result, folded) = if outcome.accepted {
            (Outcome::Ok, 0)
        } else {
            let now = self.shared.clock.now_unix();
            let decided = self
                .send_rows
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .failed(account, outcome.code, now);
            match decided {
                SendRow::Fold => return,
                SendRow::Write { folded } => (Outcome::Failed, folded),
            }
        };
        let mut entry = HistoryEntry::new(account, SendChannel::Proxy, result);
        let mut detail = match (&outcome.code, refreshed) {
            (Some(code), _) => match outcome.title.as_deref().filter(|t| !t.is_empty()) {
                Some(title) => format!("through the proxy: failed with {code} {title}"),
                None => format!("through the proxy: failed with {code}"),
            },
            (None, true) => "through the proxy, after a token refresh".to_string(),
            (None, false) => "through the proxy".to_string(),
        };
        if folded > 0 {
            detail.push_str(&format!(
                " ({folded} more like it in its last minute with failures, counted but not written)"
            ));
        }
        entry.detail = Some(detail);
        self.shared.record(entry);
    }
}
