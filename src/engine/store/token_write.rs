//! The one storage protocol for a new token, run by the engine's refresh procedure and by
//! `tokentop exchange` alike, through the [`Coordinator`] (the local data dir, or a store
//! shared by many hosts):
//!
//! 1. [`TokenWrite::begin`]: take the account's lease (a lock file locally), waiting up to
//!    [`LOCK_WAIT`], and re-read the stored tokens, since another process may have stored some;
//! 2. the caller looks at [`TokenWrite::seen`] (a newer token there is taken over instead of
//!    exchanging), then makes its exchange under the lease;
//! 3. [`TokenWrite::commit`]: store by compare-and-set on the newest version seen, stamped later
//!    than it so every other process notices the change, and build the history row of the new
//!    token, which the caller records (the engine through its clock and event channel,
//!    `exchange` straight to the file).
//!
//! The lease lives in the [`TokenWrite`] and is released when it is dropped, never before the
//! commit: a caller keeps it to the end of whatever must not interleave with another writer
//! (the engine: until the new token is published).
//!
//! Which expiry a new token has is decided before, by [`crate::engine::store::new_token`].

use std::time::Duration;

use secrecy::SecretString;

use crate::engine::coordinator::{
    CoordError, Coordinator, Lease, Versioned, WriteOutcome, refresh_without_lease,
};
use crate::engine::history::cause::Cause;
use crate::engine::history::{HistoryEntry, Outcome};
use crate::engine::store::StoredTokens;
use crate::graph::Expiry;
use crate::mask::mask;

/// How long a writer waits for another process that holds the account's lease.
pub const LOCK_WAIT: Duration = Duration::from_secs(60);

/// A write of one account's tokens in progress: the lease, and what was stored when it began.
#[derive(Debug)]
pub struct TokenWrite<'a> {
    coordinator: &'a dyn Coordinator,
    account: &'a str,
    /// Held until this value is dropped (see the module docs).
    lease: Lease,
    seen: Option<Versioned>,
    /// The newest version this writer knows of: what the compare-and-set names.
    version: i64,
}

/// A new token and how the stored tokens are built around it.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub token: SecretString,
    /// As derived by [`crate::engine::store::new_token::new_token_expiry`]: `None` is a token
    /// that does not expire.
    pub expires_at: Option<i64>,
    /// Unix second of the exchange; the store's stamp (at least one after the version seen).
    pub exchanged_at: i64,
    /// The separate long-lived token stored beside it (the new token itself when it becomes
    /// the credential); `None` when the access token is its own credential.
    pub long_lived: Option<SecretString>,
    /// Fingerprint of the configured token this one descends from (see [`StoredTokens`]).
    pub origin_fingerprint: String,
}

/// What became of [`TokenWrite::commit`]. Every variant but `TakenOver` carries the history row
/// of the new token for the caller to record: the token is valid at Meta whatever the store did.
#[derive(Debug)]
pub enum Committed {
    /// Stored; this is its version.
    Stored { version: i64, row: HistoryEntry },
    /// The shared store is unreachable: kept in the local cache and stored when it returns.
    Deferred { row: HistoryEntry },
    /// The write failed; the next write tries again.
    Failed {
        error: CoordError,
        row: HistoryEntry,
    },
    /// Another process stored a newer token since [`TokenWrite::begin`] (this writer lost its
    /// lease, paused or cut off): this write was dropped. `current` is the stored one, `None`
    /// when it could not be read.
    TakenOver { current: Option<Versioned> },
}

impl<'a> TokenWrite<'a> {
    /// Takes the account's lease, waiting up to [`LOCK_WAIT`], and re-reads its stored tokens.
    /// `last_seen_version` is the newest version the caller already knows of (0: none).
    pub async fn begin(
        coordinator: &'a dyn Coordinator,
        account: &'a str,
        last_seen_version: i64,
    ) -> Result<Self, CoordError> {
        let lease = coordinator.acquire(account, LOCK_WAIT).await?;
        Ok(Self::under(coordinator, account, lease, last_seen_version).await)
    }

    /// [`Self::begin`], or, when the coordinator is unreachable and the token it replaces
    /// expires within [`refresh_without_lease`]'s margin (`secs_to_expiry`; `None`: never), the
    /// last resort of writing without a lease (a store then can only be deferred or refused).
    pub async fn begin_or_leaseless(
        coordinator: &'a dyn Coordinator,
        account: &'a str,
        last_seen_version: i64,
        secs_to_expiry: Option<i64>,
    ) -> Result<Self, CoordError> {
        let lease = match coordinator.acquire(account, LOCK_WAIT).await {
            Ok(lease) => lease,
            Err(err)
                if err.is_unavailable()
                    && refresh_without_lease(secs_to_expiry, coordinator.lease_time()) =>
            {
                tracing::warn!(account = %account, "{err}; the token expires too soon to wait for it: refreshing without a lease");
                Lease::without()
            }
            Err(err) => return Err(err),
        };
        Ok(Self::under(coordinator, account, lease, last_seen_version).await)
    }

    /// Re-reads under `lease`. An unreadable store counts as empty: the new token replaces it.
    async fn under(
        coordinator: &'a dyn Coordinator,
        account: &'a str,
        lease: Lease,
        last_seen_version: i64,
    ) -> Self {
        let seen = coordinator.load(account).await.ok().flatten();
        let version = seen
            .as_ref()
            .map_or(last_seen_version, |s| s.version.max(last_seen_version));
        Self {
            coordinator,
            account,
            lease,
            seen,
            version,
        }
    }

    /// The tokens stored when the write began (`None`: nothing, or unreadable). If another
    /// process stored a newer token than the caller has, the caller takes it over and drops
    /// this write instead of exchanging.
    pub fn seen(&self) -> Option<&Versioned> {
        self.seen.as_ref()
    }

    /// Stores `new` if nothing newer than the version seen was stored meanwhile, and builds
    /// its history row (its `cause`, and the exchange's latency when measured). The lease stays
    /// held: it is released when `self` is dropped.
    pub async fn commit(
        &mut self,
        new: NewToken,
        cause: Cause,
        latency_ms: Option<u64>,
    ) -> Committed {
        let tokens = StoredTokens {
            access_token: new.token.clone(),
            long_lived_token: new.long_lived,
            expires_at: new.expires_at,
            refreshed_at: new.exchanged_at,
            origin_fingerprint: new.origin_fingerprint,
        };
        let stored = self
            .coordinator
            .store(self.account, &self.lease, &tokens, self.version)
            .await;
        let mut row = refreshed_row(self.account, cause, new.expires_at, &new.token);
        row.latency_ms = latency_ms;
        row.host = self.coordinator.member().map(str::to_string);
        match stored {
            Ok(WriteOutcome::Stored { version }) => {
                self.version = version;
                Committed::Stored { version, row }
            }
            Ok(WriteOutcome::Deferred) => Committed::Deferred { row },
            Ok(WriteOutcome::Refused { current }) => Committed::TakenOver { current },
            Err(error) => Committed::Failed { error, row },
        }
    }
}

/// The history row of a stored new token; `expires_at: None` is a token that does not expire.
fn refreshed_row(
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
    use futures_util::future::BoxFuture;

    use super::*;
    use crate::engine::coordinator::local::LocalCoordinator;
    use crate::engine::history::cause::Trigger;
    use crate::engine::store::TokenStore;

    const TOKEN: &str = "EAAGm0PX4ZCpsBAKZCZAabcdefghijklmnop1234";

    fn new_token(value: &str, expires_at: Option<i64>, exchanged_at: i64) -> NewToken {
        NewToken {
            token: SecretString::from(value),
            expires_at,
            exchanged_at,
            long_lived: None,
            origin_fingerprint: String::new(),
        }
    }

    fn stored(value: &str, refreshed_at: i64) -> StoredTokens {
        StoredTokens {
            access_token: SecretString::from(value),
            long_lived_token: None,
            expires_at: Some(2_000),
            refreshed_at,
            origin_fingerprint: String::new(),
        }
    }

    /// The local coordinator with the shared store's compare-and-set: a write naming an older
    /// version than the stored one is refused (locally the lock file already rules that out).
    #[derive(Debug)]
    struct CompareAndSet(LocalCoordinator);

    impl Coordinator for CompareAndSet {
        fn backend(&self) -> &'static str {
            "compare-and-set"
        }
        fn lease_time(&self) -> Duration {
            Duration::ZERO
        }
        fn acquire<'a>(
            &'a self,
            account: &'a str,
            max_wait: Duration,
        ) -> BoxFuture<'a, Result<Lease, CoordError>> {
            self.0.acquire(account, max_wait)
        }
        fn load<'a>(
            &'a self,
            account: &'a str,
        ) -> BoxFuture<'a, Result<Option<Versioned>, CoordError>> {
            self.0.load(account)
        }
        fn store<'a>(
            &'a self,
            account: &'a str,
            lease: &'a Lease,
            tokens: &'a StoredTokens,
            seen_version: i64,
        ) -> BoxFuture<'a, Result<WriteOutcome, CoordError>> {
            Box::pin(async move {
                let current = self.0.load(account).await?;
                if current.as_ref().is_some_and(|c| c.version > seen_version) {
                    return Ok(WriteOutcome::Refused { current });
                }
                self.0.store(account, lease, tokens, seen_version).await
            })
        }
    }

    /// A coordinator whose backend is away.
    #[derive(Debug)]
    struct Unreachable;

    impl Coordinator for Unreachable {
        fn backend(&self) -> &'static str {
            "nowhere"
        }
        fn lease_time(&self) -> Duration {
            Duration::from_secs(15)
        }
        fn acquire<'a>(
            &'a self,
            _account: &'a str,
            _max_wait: Duration,
        ) -> BoxFuture<'a, Result<Lease, CoordError>> {
            Box::pin(async {
                Err(CoordError::Unavailable {
                    backend: "nowhere",
                    since: chrono::Utc::now(),
                    reason: "test".to_string(),
                })
            })
        }
        fn load<'a>(
            &'a self,
            _account: &'a str,
        ) -> BoxFuture<'a, Result<Option<Versioned>, CoordError>> {
            Box::pin(async { Ok(None) })
        }
        fn store<'a>(
            &'a self,
            _account: &'a str,
            _lease: &'a Lease,
            _tokens: &'a StoredTokens,
            _seen_version: i64,
        ) -> BoxFuture<'a, Result<WriteOutcome, CoordError>> {
            Box::pin(async { Ok(WriteOutcome::Deferred) })
        }
    }

    #[tokio::test]
    async fn a_commit_is_stamped_after_the_store_it_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let local = LocalCoordinator::new(dir.path());
        let mut write = TokenWrite::begin(&local, "a", 0).await.unwrap();
        assert!(write.seen().is_none());
        let first = write
            .commit(
                new_token("EAAGfirsttokenvalue1", Some(2_000), 100),
                Trigger::Forced.into(),
                Some(42),
            )
            .await;
        let Committed::Stored { version, row } = first else {
            panic!("{first:?}");
        };
        assert_eq!(version, 100);
        assert_eq!(
            (row.cause.clone(), row.outcome, row.latency_ms),
            (Cause::Refresh(Trigger::Forced), Outcome::Ok, Some(42))
        );
        assert_eq!(row.new_expires_at, Some(Expiry::At(2_000)));
        // Same second as the write before it (another process, say): still newer.
        let second = write
            .commit(
                new_token("EAAGsecondtokenvalue", Some(2_000), 100),
                Trigger::Forced.into(),
                None,
            )
            .await;
        assert!(
            matches!(second, Committed::Stored { version: 101, .. }),
            "{second:?}"
        );
        drop(write);
        let stored = local.load("a").await.unwrap().unwrap();
        assert_eq!((stored.version, stored.tokens.refreshed_at), (101, 101));
        assert_eq!(stored.tokens.access_token.expose(), "EAAGsecondtokenvalue");
    }

    #[tokio::test]
    async fn begin_rereads_and_a_version_the_caller_knows_counts_too() {
        let dir = tempfile::tempdir().unwrap();
        let local = LocalCoordinator::new(dir.path());
        TokenStore::new(dir.path())
            .save("a", &stored("EAAGstoredbeforethis1", 300))
            .unwrap();
        let write = TokenWrite::begin(&local, "a", 0).await.unwrap();
        assert_eq!(write.seen().map(|s| s.version), Some(300));
        drop(write);
        let mut write = TokenWrite::begin(&local, "a", 500).await.unwrap();
        let committed = write
            .commit(new_token(TOKEN, None, 100), Cause::Exchange, None)
            .await;
        let Committed::Stored { version: 501, row } = committed else {
            panic!("{committed:?}");
        };
        assert_eq!(row.new_expires_at, Some(Expiry::Never));
        let text = serde_json::to_string(&row).unwrap();
        assert!(!text.contains("abcdefghijklmnop"), "{text}");
    }

    #[tokio::test]
    async fn a_newer_token_stored_after_begin_is_reported_and_ours_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let cas = CompareAndSet(LocalCoordinator::new(dir.path()));
        let mut write = TokenWrite::begin(&cas, "a", 0).await.unwrap();
        // Another process stored meanwhile (this writer had lost its lease).
        TokenStore::new(dir.path())
            .save("a", &stored("EAAGstoredbyanother1", 300))
            .unwrap();
        let committed = write
            .commit(new_token(TOKEN, None, 200), Cause::Exchange, None)
            .await;
        let Committed::TakenOver {
            current: Some(current),
        } = committed
        else {
            panic!("{committed:?}");
        };
        assert_eq!(current.version, 300);
        assert_eq!(current.tokens.access_token.expose(), "EAAGstoredbyanother1");
        let kept = cas.load("a").await.unwrap().unwrap();
        assert_eq!(kept.tokens.access_token.expose(), "EAAGstoredbyanother1");
    }

    #[tokio::test]
    async fn without_the_coordinator_only_a_token_about_to_expire_writes_leaseless() {
        let waits = TokenWrite::begin_or_leaseless(&Unreachable, "a", 0, Some(3600)).await;
        assert!(matches!(waits, Err(CoordError::Unavailable { .. })));
        let never = TokenWrite::begin_or_leaseless(&Unreachable, "a", 0, None).await;
        assert!(never.is_err(), "a token that never expires can wait");
        let mut write = TokenWrite::begin_or_leaseless(&Unreachable, "a", 7, Some(30))
            .await
            .unwrap();
        assert!(!write.lease.is_held());
        let committed = write
            .commit(new_token(TOKEN, None, 1), Cause::Exchange, None)
            .await;
        assert!(
            matches!(committed, Committed::Deferred { .. }),
            "{committed:?}"
        );
    }

    #[test]
    fn the_row_says_never_for_a_token_without_expiry_and_masks_the_token() {
        let token = SecretString::from(TOKEN);
        let never = refreshed_row("a", Cause::Exchange, None, &token);
        assert_eq!(never.new_expires_at, Some(Expiry::Never));
        let at = refreshed_row("a", Trigger::Forced.into(), Some(1_900_000_000), &token);
        assert_eq!(at.new_expires_at, Some(Expiry::At(1_900_000_000)));
        let text = serde_json::to_string(&at).unwrap();
        assert!(!text.contains("abcdefghijklmnop"), "{text}");
    }

    /// Test-only: the secret's text.
    trait Expose {
        fn expose(&self) -> &str;
    }

    impl Expose for SecretString {
        fn expose(&self) -> &str {
            secrecy::ExposeSecret::expose_secret(self)
        }
    }
}
