//! What a loan carries, made once per token and shared by every request that borrows it: the
//! token, its `appsecret_proof`, its fingerprint and its ready `Authorization` header. A loan
//! is one `Arc` clone; it was three `String`s copied (and a header formatted) per request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use axum::http::HeaderValue;
use secrecy::{ExposeSecret, SecretString};

use super::super::account::AccountLink;
use super::super::store::fingerprint;
use crate::graph::appsecret_proof;

/// A token lent for one request (and its one retry). Its fields are the shared [`Lent`]'s.
pub struct TokenLoan {
    lent: Arc<Lent>,
    /// The send guard refreshed the token before lending it.
    pub refreshed: bool,
}

impl std::ops::Deref for TokenLoan {
    type Target = Lent;
    fn deref(&self) -> &Lent {
        &self.lent
    }
}

/// One token as it is lent, derived once.
pub struct Lent {
    pub token: SecretString,
    /// `appsecret_proof` of the token, when the account has an app secret.
    pub appsecret_proof: Option<String>,
    /// `Bearer <token>`, marked sensitive (never printed by `Debug`); `None` when the token is
    /// no header value (never for a token Meta issued).
    pub bearer: Option<HeaderValue>,
    pub(super) fingerprint: String,
    /// The settings the proof was made with: a reload may change the app secret.
    settings: Arc<crate::config::AccountSettings>,
}

/// Per account: the token lent last, derived, which changes only with the token.
#[derive(Default)]
pub(super) struct LentCache {
    by_account: Mutex<HashMap<String, Arc<Lent>>>,
}

impl LentCache {
    /// Lends `token` (the account's current one), derived again only when it or the
    /// account's settings changed.
    pub(super) fn loan(
        &self,
        link: &AccountLink,
        token: &SecretString,
        refreshed: bool,
    ) -> TokenLoan {
        let mut cache = self
            .by_account
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let account = &link.settings.name;
        let known = cache.get(account.as_str()).filter(|lent| {
            lent.token.expose_secret() == token.expose_secret()
                && Arc::ptr_eq(&lent.settings, &link.settings)
        });
        let lent = match known {
            Some(lent) => lent.clone(),
            None => {
                let lent = Arc::new(derive(link, token));
                cache.insert(account.clone(), lent.clone());
                lent
            }
        };
        TokenLoan { lent, refreshed }
    }
}

fn derive(link: &AccountLink, token: &SecretString) -> Lent {
    let bearer = HeaderValue::try_from(format!("Bearer {}", token.expose_secret()))
        .ok()
        .map(|mut value| {
            value.set_sensitive(true);
            value
        });
    Lent {
        token: token.clone(),
        appsecret_proof: link
            .app
            .as_ref()
            .map(|app| appsecret_proof(&app.app_secret, token)),
        bearer,
        fingerprint: fingerprint(token),
        settings: link.settings.clone(),
    }
}
