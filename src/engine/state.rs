//! Token states and the owned snapshots the engine sends to its clients.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::graph::{Expiry, TokenInfo};

/// Where an account's access token stands. Drawn by the dashboard, mapped to exit codes by
/// `check`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum TokenState {
    /// Not inspected yet.
    #[default]
    Unknown,
    Valid,
    /// `expires_at: 0`: no scheduled expiry (still inspected, since Meta can invalidate it).
    NeverExpires,
    /// Inside the refresh window; a refresh is due.
    Expiring,
    Refreshing,
    /// The last refresh failed; the next try is at `retry_at` (unix seconds).
    Backoff {
        retry_at: i64,
    },
    Expired,
    /// Meta says `is_valid:false`.
    Invalid {
        code: Option<i64>,
        subcode: Option<i64>,
    },
    /// Cannot be refreshed any more: a person must mint a new token.
    ReauthRequired {
        reason: String,
    },
    /// The account's task kept panicking and was given up: tokentop no longer inspects or
    /// refreshes this account until it is restarted.
    Failed {
        reason: String,
    },
    /// Meta said by webhook (`account_update`) that the customer took the app's access away
    /// (`event`: `PARTNER_APP_UNINSTALLED`, `PARTNER_REMOVED`, `ACCOUNT_DELETED`, a ban): no
    /// refresh can help; the customer must onboard again.
    Revoked {
        event: String,
    },
}

impl TokenState {
    /// Short lowercase label for lines and tables, e.g. `re-auth required`.
    pub fn label(&self) -> &'static str {
        match self {
            TokenState::Unknown => "unknown",
            TokenState::Valid => "valid",
            TokenState::NeverExpires => "never expires",
            TokenState::Expiring => "expiring",
            TokenState::Refreshing => "refreshing",
            TokenState::Backoff { .. } => "backoff",
            TokenState::Expired => "expired",
            TokenState::Invalid { .. } => "invalid",
            TokenState::ReauthRequired { .. } => "re-auth required",
            TokenState::Failed { .. } => "failed",
            TokenState::Revoked { .. } => "revoked",
        }
    }

    /// True for the states in which sending is down or about to be, whatever the clock says
    /// (`Failed`: nothing refreshes the token any more).
    pub fn is_critical(&self) -> bool {
        matches!(
            self,
            TokenState::Expired
                | TokenState::Invalid { .. }
                | TokenState::ReauthRequired { .. }
                | TokenState::Failed { .. }
                | TokenState::Revoked { .. }
        )
    }
}

/// What one inspection of one token said, kept with when it was said.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Inspection {
    pub checked_at: DateTime<Utc>,
    pub info: TokenInfo,
}

impl Inspection {
    pub fn expiry(&self) -> Expiry {
        self.info.expiry()
    }
}

/// Everything a client needs to draw or report one account. Owned, cheap to clone, no secrets.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccountSnapshot {
    pub name: String,
    pub state: TokenState,
    /// Masked access token (`EAAG…x9Qf`), if one is configured or stored.
    pub access_token_masked: Option<String>,
    /// Masked long-lived token; `None` when the access token is its own long-lived token.
    pub long_lived_token_masked: Option<String>,
    pub access: Option<Inspection>,
    /// Inspection of the separate long-lived token, when there is one. Boxed: most accounts
    /// have none, and an inspection by value is a third of the snapshot.
    pub long_lived: Option<Box<Inspection>>,
    /// Unix seconds of the next scheduled refresh or retry.
    pub next_refresh_at: Option<i64>,
    /// The last failure's one-line description, kept until a success.
    pub last_error: Option<String>,
    /// What the operator must do, when tokentop cannot fix it alone.
    pub action_hint: Option<String>,
    /// WhatsApp scopes the token lacks.
    pub missing_scopes: Vec<String>,
    /// Config problems that keep the account from refreshing (e.g. no app secret).
    pub config_problem: Option<String>,
    pub phone_number_id: Option<String>,
    pub business_account_id: Option<String>,
    pub test_recipient: Option<String>,
    /// Who took the current token after it was published (token endpoint readers, stale
    /// proxied sends).
    pub consumers: crate::engine::consumers::ConsumerView,
    /// Per configured publish target: does it hold the current token, its last failure.
    pub publish: Vec<crate::engine::publish::health::TargetHealth>,
    /// The access token's class, from its last inspection and the account's `token-kind`.
    pub token_class: crate::engine::TokenClass,
    /// What the token is for (`purpose`).
    pub purpose: crate::config::Purpose,
    /// The owner labels of the account (`labels`), sorted by name.
    pub labels: std::collections::BTreeMap<String, String>,
}

impl AccountSnapshot {
    /// The first inspection has finished, whichever way: a result, an error or a config problem.
    pub fn settled(&self) -> bool {
        self.access.is_some() || self.config_problem.is_some() || self.last_error.is_some()
    }

    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_string(),
            state: TokenState::Unknown,
            access_token_masked: None,
            long_lived_token_masked: None,
            access: None,
            long_lived: None,
            next_refresh_at: None,
            last_error: None,
            action_hint: None,
            missing_scopes: Vec::new(),
            config_problem: None,
            phone_number_id: None,
            business_account_id: None,
            test_recipient: None,
            consumers: Default::default(),
            publish: Vec::new(),
            token_class: Default::default(),
            purpose: Default::default(),
            labels: Default::default(),
        }
    }

    /// Unix seconds at which sending stops: the access token's expiry, `None` for never/unknown.
    pub fn access_expires_at(&self) -> Option<i64> {
        expires_at(self.access.as_ref()?)
    }

    /// Unix seconds at which the separate long-lived token lapses, `None` for never/unknown.
    pub fn long_lived_expires_at(&self) -> Option<i64> {
        expires_at(self.long_lived.as_ref()?)
    }
}

fn expires_at(inspection: &Inspection) -> Option<i64> {
    match inspection.expiry() {
        Expiry::At(at) => Some(at),
        Expiry::Never | Expiry::Unknown => None,
    }
}

#[cfg(test)]
mod tests {
    /// Every account keeps one snapshot for as long as it runs (10,000 of them in a large
    /// fleet): what most accounts do not have stays behind a pointer. 672 bytes in a test
    /// build, 936 with the long-lived token's inspection inline.
    #[test]
    fn a_snapshot_stays_small() {
        let size = std::mem::size_of::<super::AccountSnapshot>();
        assert!(size <= 704, "an account snapshot is {size} bytes");
    }
}
