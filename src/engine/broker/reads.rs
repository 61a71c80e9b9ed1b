//! The token as its consumers take it: the token endpoint's reads (refused while the token
//! must not be handed out, so a consumer keeps its last good copy) and the proxy's check of a
//! credential an application still sends of its own.

use secrecy::SecretString;

use super::{LoanError, TokenBroker};
use crate::engine::TokenState;
use crate::engine::account::AccountMsg;
use crate::engine::consumers::Consumed;
use crate::engine::store::fingerprint;

/// The current token with what a consumer needs to decide whether to take it.
pub struct TokenReading {
    pub token: SecretString,
    /// Unix seconds; `None` when it never expires (or was not inspected to say).
    pub expires_at: Option<i64>,
    /// The store's version: grows with every new token.
    pub version: i64,
    /// Unix seconds at which it was stored; `None` for a configured token never refreshed.
    pub refreshed_at: Option<i64>,
}

impl TokenBroker {
    /// `account`'s current token for the reader named `reader`, noted as read; refused (with
    /// the reason) while there is none, it was not inspected yet, or it is expired, invalid or
    /// revoked.
    pub fn read_current(&self, account: &str, reader: &str) -> Result<TokenReading, LoanError> {
        let entry = self.entry(account)?;
        let link = &entry.link;
        let view = link.token.borrow().clone();
        let refuse = |why: String| {
            Err(LoanError {
                message: format!("account {account}: {why}"),
            })
        };
        let Some(token) = view.token else {
            return refuse(
                "has no token (configure access-token or run `tokentop exchange`)".into(),
            );
        };
        if !view.settled {
            return refuse("its token was not inspected yet; ask again in a moment".into());
        }
        let now = self.shared.clock.now_unix();
        if view.expires_at.is_some_and(|at| at <= now) {
            return refuse("its token has expired".into());
        }
        match &view.state {
            TokenState::Expired => return refuse("its token has expired".into()),
            TokenState::Invalid { .. } => {
                return refuse("Meta says its token is invalid".into());
            }
            TokenState::Revoked { event } => {
                return refuse(format!("Meta revoked the app's access ({event})"));
            }
            TokenState::Failed { reason } => return refuse(reason.clone()),
            _ => {}
        }
        let _ = link.tx.send(AccountMsg::Consumed(Consumed::Read {
            reader: reader.to_string(),
        }));
        Ok(TokenReading {
            token,
            expires_at: view.expires_at,
            version: view.version,
            refreshed_at: (view.version > 0).then_some(view.version),
        })
    }

    /// A request through the proxy carried `credential` of its own (the proxy sends the
    /// current token instead): when it is the account's previous token, the application missed
    /// the rotation, and that is counted.
    pub fn note_client_credential(&self, account: &str, credential: &str) {
        let Ok(entry) = self.entry(account) else {
            return;
        };
        let link = &entry.link;
        let stale = {
            let view = link.token.borrow();
            view.previous_fingerprint.as_ref().is_some_and(|previous| {
                let carried = fingerprint(&SecretString::from(credential.to_string()));
                carried == *previous && view.fingerprint.as_ref() != Some(&carried)
            })
        };
        if stale {
            let _ = link.tx.send(AccountMsg::Consumed(Consumed::StaleSend));
        }
    }
}
