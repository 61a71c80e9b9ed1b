//! The one storage path for a new token, used by the engine's refresh procedure and by
//! `tokentop exchange` alike, through the [`Coordinator`] (the local data dir, or a store
//! shared by many hosts):
//!
//! 1. [`lock_account`]: take the account's lease (a lock file locally) and hold it to the end;
//! 2. [`reread`]: re-read the stored tokens, since another process may have stored some;
//! 3. [`persist`]: store by compare-and-set on the version seen in step 2, stamped later than
//!    it so every other process notices the change;
//! 4. [`refreshed_row`]: the history row of the new token, which the caller appends (the engine
//!    through its clock and event channel, `exchange` straight to the file).
//!
//! Which expiry a new token has is decided before, by [`crate::engine::store::new_token`].

use std::time::Duration;

use secrecy::SecretString;

use crate::engine::coordinator::{CoordError, Coordinator, Lease, Versioned, WriteOutcome};
use crate::engine::history::cause::Cause;
use crate::engine::history::{HistoryEntry, Outcome};
use crate::engine::store::StoredTokens;
use crate::graph::Expiry;
use crate::mask::mask;

/// How long a writer waits for another process that holds the account's lease.
pub const LOCK_WAIT: Duration = Duration::from_secs(60);

/// Step 1: the account's lease, waiting up to [`LOCK_WAIT`] for another holder. Keep the
/// returned lease until [`persist`] returned.
pub async fn lock_account(
    coordinator: &dyn Coordinator,
    account: &str,
) -> Result<Lease, CoordError> {
    coordinator.acquire(account, LOCK_WAIT).await
}

/// Step 2: the account's stored tokens as they are now, under the lease.
pub async fn reread(
    coordinator: &dyn Coordinator,
    account: &str,
) -> Result<Option<Versioned>, CoordError> {
    coordinator.load(account).await
}

/// Step 3: stores `tokens` if nothing newer than `seen_version` was stored meanwhile.
pub async fn persist(
    coordinator: &dyn Coordinator,
    account: &str,
    lease: &Lease,
    tokens: &StoredTokens,
    seen_version: i64,
) -> Result<WriteOutcome, CoordError> {
    coordinator
        .store(account, lease, tokens, seen_version)
        .await
}

/// Step 4: the history row of a stored new token. `expires_at` as derived by
/// [`crate::engine::store::new_token::new_token_expiry`]: `None` is a token that does not expire.
pub fn refreshed_row(
    account: &str,
    cause: Cause,
    expires_at: Option<i64>,
    token: &SecretString,
) -> HistoryEntry {
    let mut entry = HistoryEntry::new(account, cause, Outcome::Ok);
    entry.new_expires_at = Some(expires_at.map_or(Expiry::Never, Expiry::At));
    entry.token = Some(mask(token));
    entry
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::coordinator::local::LocalCoordinator;
    use crate::engine::history::cause::Trigger;

    fn tokens(value: &str, refreshed_at: i64) -> StoredTokens {
        StoredTokens {
            access_token: SecretString::from(value),
            long_lived_token: None,
            expires_at: Some(2_000),
            refreshed_at,
            origin_fingerprint: String::new(),
        }
    }

    #[tokio::test]
    async fn a_write_is_stamped_after_the_store_it_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let local = LocalCoordinator::new(dir.path());
        let lease = lock_account(&local, "a").await.unwrap();
        let first = persist(&local, "a", &lease, &tokens("EAAGfirsttokenvalue1", 100), 0)
            .await
            .unwrap();
        assert!(
            matches!(first, WriteOutcome::Stored { version: 100 }),
            "{first:?}"
        );
        // Same second as the write before it (another process, say): still newer.
        let seen = reread(&local, "a").await.unwrap().unwrap().version;
        let second = persist(
            &local,
            "a",
            &lease,
            &tokens("EAAGsecondtokenvalue", 100),
            seen,
        )
        .await
        .unwrap();
        assert!(
            matches!(second, WriteOutcome::Stored { version: 101 }),
            "{second:?}"
        );
        let stored = reread(&local, "a").await.unwrap().unwrap();
        assert_eq!((stored.version, stored.tokens.refreshed_at), (101, 101));
    }

    #[test]
    fn the_row_says_never_for_a_token_without_expiry_and_masks_the_token() {
        let token = SecretString::from("EAAGm0PX4ZCpsBAKZCZAabcdefghijklmnop1234");
        let never = refreshed_row("a", Cause::Exchange, None, &token);
        assert_eq!(never.new_expires_at, Some(Expiry::Never));
        let at = refreshed_row("a", Trigger::Forced.into(), Some(1_900_000_000), &token);
        assert_eq!(at.new_expires_at, Some(Expiry::At(1_900_000_000)));
        let text = serde_json::to_string(&at).unwrap();
        assert!(!text.contains("abcdefghijklmnop"), "{text}");
    }
}
