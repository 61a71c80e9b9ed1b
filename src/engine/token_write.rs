//! The one storage path for a new token, used by the engine's refresh procedure and by
//! `tokentop exchange` alike:
//!
//! 1. [`lock_account`]: take the account's cross-process lock and hold it to the end;
//! 2. [`reread`]: re-read the store, since another process may have stored a token meanwhile;
//! 3. [`persist`]: replace the store atomically, stamped later than anything seen in step 2 so
//!    every other process notices the change;
//! 4. [`refreshed_row`]: the history row of the new token, which the caller appends (the engine
//!    through its clock and event channel, `exchange` straight to the file).
//!
//! Which expiry a new token has is decided before, by [`super::new_token`].

use std::path::Path;
use std::time::Duration;

use secrecy::SecretString;

use super::history::{HistoryEntry, HistoryEvent, Outcome};
use super::lock::{self, LockError, RefreshLock};
use super::store::{StoreError, StoredTokens, TokenStore};
use crate::graph::Expiry;
use crate::mask::mask;

/// How long a writer waits for another process that holds the account's lock.
pub const LOCK_WAIT: Duration = Duration::from_secs(60);

/// Step 1: the account's lock, waiting up to [`LOCK_WAIT`] for another holder. Keep the
/// returned guard until [`persist`] returned.
pub async fn lock_account(data_dir: &Path, account: &str) -> Result<RefreshLock, LockError> {
    lock::acquire(data_dir, account, LOCK_WAIT).await
}

/// Step 2: the account's stored tokens as they are now, under the lock.
pub fn reread(store: &TokenStore, account: &str) -> Result<Option<StoredTokens>, StoreError> {
    store.load(account)
}

/// Step 3: stores `tokens` atomically. Their `refreshed_at` is moved past `seen_refreshed_at`
/// (the newest store this process has seen) when needed, so a reader that saw the older store
/// takes this one for newer; `tokens` holds the stamp actually stored.
pub fn persist(
    store: &TokenStore,
    account: &str,
    tokens: &mut StoredTokens,
    seen_refreshed_at: i64,
) -> Result<(), StoreError> {
    tokens.refreshed_at = tokens.refreshed_at.max(seen_refreshed_at.saturating_add(1));
    store.save(account, tokens)
}

/// Step 4: the history row of a stored new token. `expires_at` as derived by
/// [`super::new_token::new_token_expiry`]: `None` is a token that does not expire.
pub fn refreshed_row(
    account: &str,
    trigger: &str,
    expires_at: Option<i64>,
    token: &SecretString,
) -> HistoryEntry {
    let mut entry = HistoryEntry::new(account, HistoryEvent::Refresh, trigger, Outcome::Ok);
    entry.new_expires_at = Some(expires_at.map_or(Expiry::Never, Expiry::At));
    entry.token = Some(mask(token));
    entry
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(value: &str, refreshed_at: i64) -> StoredTokens {
        StoredTokens {
            access_token: SecretString::from(value),
            long_lived_token: None,
            expires_at: Some(2_000),
            refreshed_at,
            origin_fingerprint: String::new(),
        }
    }

    #[test]
    fn a_write_is_stamped_after_the_store_it_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::new(dir.path());
        let mut first = tokens("EAAGfirsttokenvalue1", 100);
        persist(&store, "a", &mut first, 0).unwrap();
        assert_eq!(first.refreshed_at, 100);
        // Same second as the write before it (another process, say): still newer.
        let seen = reread(&store, "a").unwrap().unwrap().refreshed_at;
        let mut second = tokens("EAAGsecondtokenvalue", 100);
        persist(&store, "a", &mut second, seen).unwrap();
        assert_eq!(second.refreshed_at, 101);
        assert_eq!(reread(&store, "a").unwrap().unwrap().refreshed_at, 101);
    }

    #[test]
    fn the_row_says_never_for_a_token_without_expiry_and_masks_the_token() {
        let token = SecretString::from("EAAGm0PX4ZCpsBAKZCZAabcdefghijklmnop1234");
        let never = refreshed_row("a", "exchange", None, &token);
        assert_eq!(never.new_expires_at, Some(Expiry::Never));
        let at = refreshed_row("a", "forced", Some(1_900_000_000), &token);
        assert_eq!(at.new_expires_at, Some(Expiry::At(1_900_000_000)));
        let text = serde_json::to_string(&at).unwrap();
        assert!(!text.contains("abcdefghijklmnop"), "{text}");
    }
}
