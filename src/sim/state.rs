//! The simulator's shared state and [`SimHandle`], the in-process way to drive it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::SimConfig;
use super::faults::Faults;
use super::phone::SimPhone;
use super::token::{Invalidation, MintedToken, TokenKind, TokenRecord, new_token_string};
use super::usage::Usage;
use super::webhooks::Outbox;

/// Request counts per Graph endpoint since the simulator started.
///
/// Keys: `debug_token`, `exchange`, `revoke`, `messages`, `media`, `phone_number`,
/// `analytics`, `batch` (and `unknown` for unserved paths). A batch counts once as `batch` and each item
/// under its own endpoint; `total` counts HTTP requests, so a batch adds one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimStats {
    pub by_endpoint: BTreeMap<String, u64>,
    pub total: u64,
}

/// One send the simulator accepted on `/messages` (marking as read is not a send).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentMessage {
    /// The `messages[0].id` it answered.
    pub wamid: String,
    pub phone_number_id: String,
    /// `to` as sent.
    pub to: String,
    /// The token the send was authenticated with (the simulator's own tokens, test values).
    pub access_token: String,
    /// `text.body` of a text message.
    pub text: Option<String>,
}

/// One file the simulator accepted on `/{phone-number-id}/media`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadedMedia {
    /// The `id` it answered.
    pub id: String,
    pub phone_number_id: String,
    /// The `type` field (a MIME type).
    pub mime_type: String,
    /// The `file` part's length in bytes.
    pub file_len: usize,
    pub access_token: String,
}

/// Everything that changes while the simulator runs.
#[derive(Debug, Default)]
pub(crate) struct SimState {
    pub tokens: HashMap<String, TokenRecord>,
    /// App tokens minted by `grant_type=client_credentials`.
    pub app_tokens: HashSet<String>,
    pub stats: SimStats,
    pub faults: Faults,
    pub phones: HashMap<String, SimPhone>,
    pub usage: Usage,
    /// Accepted sends, in order.
    pub sent: Vec<SentMessage>,
    /// Accepted media uploads, in order.
    pub media: Vec<UploadedMedia>,
    /// Index in `RELEASED_VERSIONS` of the newest version declared dead (older ones are dead
    /// with it); `None` while every version is live.
    pub newest_dead_version: Option<usize>,
    /// Embedded Signup codes and the customers of the business tokens minted from them.
    pub signups: super::signup::Signups,
}

impl SimState {
    pub(crate) fn count(&mut self, endpoint: &str) {
        *self
            .stats
            .by_endpoint
            .entry(endpoint.to_string())
            .or_default() += 1;
    }

    pub(crate) fn insert_token(
        &mut self,
        kind: TokenKind,
        issued_at: i64,
        expires_at: Option<i64>,
    ) -> MintedToken {
        let access_token = new_token_string();
        let record = TokenRecord {
            kind,
            issued_at,
            expires_at,
            invalidation: None,
        };
        self.tokens.insert(access_token.clone(), record);
        MintedToken {
            access_token,
            expires_at,
        }
    }
}

struct Shared {
    config: SimConfig,
    state: Mutex<SimState>,
    webhooks: Arc<Outbox>,
}

/// A cheap-to-clone handle on a simulator's state: mint tokens, invalidate them, read stats,
/// inject faults and set phone health without going through HTTP.
#[derive(Clone)]
pub struct SimHandle {
    shared: Arc<Shared>,
}

impl fmt::Debug for SimHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimHandle")
            .field("app_id", &self.shared.config.app_id)
            .finish_non_exhaustive()
    }
}

/// Current wall-clock time in unix seconds.
pub(crate) fn now_unix() -> i64 {
    chrono::Utc::now().timestamp()
}

/// `now + lifetime`, saturating instead of overflowing on absurd lifetimes.
pub(crate) fn expiry_after(now: i64, lifetime: Duration) -> i64 {
    now.saturating_add(i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX))
}

impl SimHandle {
    pub(crate) fn new(config: SimConfig) -> SimHandle {
        let webhooks = Arc::new(Outbox::new(
            config.webhooks.clone(),
            config.app_secret.clone(),
        ));
        SimHandle {
            shared: Arc::new(Shared {
                config,
                state: Mutex::new(SimState::default()),
                webhooks,
            }),
        }
    }

    /// The outgoing webhooks: target, batch, retries and counters.
    pub(crate) fn webhooks(&self) -> &Arc<Outbox> {
        &self.shared.webhooks
    }

    pub(crate) fn config(&self) -> &SimConfig {
        &self.shared.config
    }

    /// Locks the state; a panic elsewhere while locked leaves plain data, so poison is ignored.
    pub(crate) fn lock(&self) -> MutexGuard<'_, SimState> {
        self.shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Mints a token of `kind` issued now; `lifetime` `None` means it never expires.
    pub fn mint_token(&self, kind: TokenKind, lifetime: Option<Duration>) -> MintedToken {
        let now = now_unix();
        let expires_at = lifetime.map(|lifetime| expiry_after(now, lifetime));
        self.lock().insert_token(kind, now, expires_at)
    }

    /// Mints a token of `kind` that expires at `expires_at` (unix seconds), which may be past:
    /// the way to get an already-expired token without waiting.
    pub fn mint_token_expiring_at(&self, kind: TokenKind, expires_at: i64) -> MintedToken {
        let issued_at = now_unix().min(expires_at.saturating_sub(3600));
        self.lock().insert_token(kind, issued_at, Some(expires_at))
    }

    /// Invalidates a token early, as Meta does after a password change; `false` if unknown.
    /// Afterwards `debug_token` reports it with `is_valid:false`, code 190, subcode 460.
    pub fn invalidate(&self, token: &str) -> bool {
        match self.lock().tokens.get_mut(token) {
            Some(record) => {
                record.invalidation = Some(Invalidation::Invalidated);
                true
            }
            None => false,
        }
    }

    /// Makes a token expire now (a second ago), as if its holder's clock had been wrong about
    /// it: Meta answers 190 (subcode 463) from then on. `false` if unknown.
    pub fn expire_now(&self, token: &str) -> bool {
        let now = now_unix();
        match self.lock().tokens.get_mut(token) {
            Some(record) => {
                record.expires_at = Some(now - 1);
                record.issued_at = record.issued_at.min(now - 3600);
                true
            }
            None => false,
        }
    }

    /// Request counts per endpoint so far.
    pub fn stats(&self) -> SimStats {
        self.lock().stats.clone()
    }

    /// Every send accepted on `/messages` so far, in order.
    pub fn sent_messages(&self) -> Vec<SentMessage> {
        self.lock().sent.clone()
    }

    /// Every media upload accepted so far, in order.
    pub fn uploaded_media(&self) -> Vec<UploadedMedia> {
        self.lock().media.clone()
    }

    /// Replaces the injected faults.
    pub fn set_faults(&self, faults: Faults) {
        self.lock().faults = faults;
    }

    /// Stops injecting faults.
    pub fn clear_faults(&self) {
        self.lock().faults = Faults::default();
    }

    /// Sets the health that the phone-number endpoint serves for `phone_number_id`.
    pub fn set_phone(&self, phone_number_id: &str, phone: SimPhone) {
        self.lock()
            .phones
            .insert(phone_number_id.to_string(), phone);
    }

    /// When a token was issued (unix seconds); `None` if unknown.
    pub fn token_issued_at(&self, token: &str) -> Option<i64> {
        self.lock().tokens.get(token).map(|record| record.issued_at)
    }

    /// Expiry of a token: `None` if unknown, `Some(None)` if it never expires.
    pub fn token_expires_at(&self, token: &str) -> Option<Option<i64>> {
        self.lock()
            .tokens
            .get(token)
            .map(|record| record.expires_at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_tokens_are_known_with_their_expiry() {
        let handle = SimHandle::new(SimConfig::default());
        let never = handle.mint_token(TokenKind::SystemUser, None);
        assert_eq!(handle.token_expires_at(&never.access_token), Some(None));
        let hour = handle.mint_token(TokenKind::ShortLivedUser, Some(Duration::from_secs(3600)));
        let expires_at = hour.expires_at.unwrap();
        assert!((expires_at - now_unix() - 3600).abs() <= 2);
        assert_eq!(handle.token_expires_at("EAAGunknown"), None);
    }

    #[test]
    fn invalidate_reports_unknown_tokens() {
        let handle = SimHandle::new(SimConfig::default());
        let token = handle.mint_token(TokenKind::LongLivedUser, None);
        assert!(handle.invalidate(&token.access_token));
        assert!(!handle.invalidate("EAAGunknown"));
    }

    #[test]
    fn expiry_saturates() {
        assert_eq!(expiry_after(10, Duration::from_secs(u64::MAX)), i64::MAX);
    }
}
