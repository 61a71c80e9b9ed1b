//! Lends an account's current access token to a sender outside the engine (the Graph API
//! proxy): through the send guard, and renewed once when Meta rejects it, with the same
//! single-flight refresh the engine's own sends use. The token goes straight into the
//! borrower's request; it never travels in an [`super::EngineEvent`].

use std::sync::Arc;

use secrecy::SecretString;
use tokio::sync::watch;

use super::account::{AccountLink, Shared, Trigger};
use super::history::{HistoryEntry, HistoryEvent, Outcome};
use super::sends::guarded_token;
use super::store::fingerprint;
use super::telemetry::TelemetryInput;
use crate::graph::{Usage, appsecret_proof};

/// A token lent for one request (and its one retry).
pub struct Lease {
    pub token: SecretString,
    /// `appsecret_proof` of the token, when the account has an app secret.
    pub appsecret_proof: Option<String>,
    /// The send guard refreshed the token before lending it.
    pub refreshed: bool,
    fingerprint: String,
}

/// Why no token can be lent; says what to do.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct LeaseError {
    pub message: String,
}

/// How a message send through the borrower ended, for the delivery counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendOutcome {
    accepted: bool,
    code: Option<i64>,
    title: Option<String>,
}

impl SendOutcome {
    pub fn accepted() -> Self {
        Self {
            accepted: true,
            code: None,
            title: None,
        }
    }

    pub fn failed(code: Option<i64>, title: Option<String>) -> Self {
        Self {
            accepted: false,
            code,
            title,
        }
    }
}

/// Cheap to clone; one per engine.
#[derive(Clone)]
pub struct TokenBroker {
    links: Arc<Vec<AccountLink>>,
    /// One per link: the usage headers of the borrower's latest call, for the health poller.
    usage: Arc<Vec<watch::Sender<Usage>>>,
    shared: Arc<Shared>,
}

impl TokenBroker {
    pub(crate) fn new(
        links: Vec<AccountLink>,
        usage: Vec<watch::Sender<Usage>>,
        shared: Arc<Shared>,
    ) -> Self {
        Self {
            links: Arc::new(links),
            usage: Arc::new(usage),
            shared,
        }
    }

    fn position(&self, account: &str) -> Result<usize, LeaseError> {
        self.links
            .iter()
            .position(|l| l.settings.name == account)
            .ok_or_else(|| LeaseError {
                message: format!("no account named {account}"),
            })
    }

    fn link(&self, account: &str) -> Result<&AccountLink, LeaseError> {
        let index = self.position(account)?;
        self.links.get(index).ok_or_else(|| LeaseError {
            message: format!("no account named {account}"),
        })
    }

    /// Keeps the usage headers of a call: the account's rate-limit headroom (dashboard, `check`,
    /// metrics, the 80% alert) counts the borrower's calls from the next health round on.
    pub fn report_usage(&self, account: &str, usage: Usage) {
        if usage.is_empty() {
            return;
        }
        if let Some(sender) = self
            .position(account)
            .ok()
            .and_then(|index| self.usage.get(index))
        {
            sender.send_replace(usage);
        }
    }

    /// The account's token, refreshed first when it expires within the send guard.
    pub async fn lease(&self, account: &str) -> Result<Lease, LeaseError> {
        let link = self.link(account)?;
        let (token, refreshed) = guarded_token(link, &self.shared.policy, &self.shared.clock)
            .await
            .map_err(|err| LeaseError {
                message: err.message,
            })?;
        Ok(lease(link, token, refreshed))
    }

    /// After Meta rejected `rejected` (190): a new token from the single-flight refresh (or
    /// the one another caller's refresh already produced).
    pub async fn renew(&self, account: &str, rejected: &Lease) -> Result<Lease, LeaseError> {
        let link = self.link(account)?;
        let stale = Some(rejected.fingerprint.clone());
        match link.refresh(Trigger::AuthError, stale).await {
            Ok(fresh) => Ok(lease(link, fresh.token, true)),
            Err(err) => Err(LeaseError {
                message: format!("{} ({})", err.message, err.remedy),
            }),
        }
    }

    /// Counts a message send for the delivery panel and the metrics; failed sends and sends
    /// that needed a refresh also get a history row (every accepted one would drown the
    /// refresh history at production rates).
    pub fn report_send(&self, account: &str, outcome: SendOutcome, refreshed: bool) {
        let _ = self.shared.telemetry.send(TelemetryInput::ProxySend {
            account: account.to_string(),
            at: self.shared.clock.now(),
            delivered: outcome.accepted,
            failure_code: outcome.code,
            failure_title: outcome.title.clone(),
        });
        if outcome.accepted && !refreshed {
            return;
        }
        let result = if outcome.accepted {
            Outcome::Ok
        } else {
            Outcome::Failed
        };
        let mut entry = HistoryEntry::new(account, HistoryEvent::Send, "proxy", result);
        entry.detail = Some(match (&outcome.code, refreshed) {
            (Some(code), _) => format!(
                "through the proxy: failed with {code} {}",
                outcome.title.as_deref().unwrap_or("")
            ),
            (None, true) => "through the proxy, after a token refresh".to_string(),
            (None, false) => "through the proxy".to_string(),
        });
        self.shared.record(entry);
    }
}

fn lease(link: &AccountLink, token: SecretString, refreshed: bool) -> Lease {
    Lease {
        appsecret_proof: link
            .app
            .as_ref()
            .map(|app| appsecret_proof(&app.app_secret, &token)),
        fingerprint: fingerprint(&token),
        token,
        refreshed,
    }
}
