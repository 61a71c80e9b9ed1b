//! The one-host coordinator: a lock file per account in the data dir and the token store
//! beside it. Versions are the store's `refreshed_at` stamps.

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::future::BoxFuture;

use super::{CoordError, Coordinator, Lease, Versioned, WriteOutcome};
use crate::engine::store::lock;
use crate::engine::store::{StoredTokens, TokenStore};

/// See the module docs.
#[derive(Debug, Clone)]
pub struct LocalCoordinator {
    data_dir: PathBuf,
    store: TokenStore,
}

impl LocalCoordinator {
    pub fn new(data_dir: &Path) -> Self {
        Self {
            data_dir: data_dir.to_path_buf(),
            store: TokenStore::new(data_dir),
        }
    }
}

/// Reads the store as a [`Versioned`] (the shared Redis coordinator's cache reads this too).
pub fn load_versioned(store: &TokenStore, account: &str) -> Result<Option<Versioned>, CoordError> {
    Ok(store.load(account)?.map(|tokens| Versioned {
        version: tokens.refreshed_at,
        tokens,
        writer: None,
    }))
}

/// Writes `tokens` stamped later than `seen_version`; returns the stamp stored.
pub fn save_after(
    store: &TokenStore,
    account: &str,
    tokens: &StoredTokens,
    seen_version: i64,
) -> Result<i64, CoordError> {
    let mut stamped = tokens.clone();
    stamped.refreshed_at = stamped.refreshed_at.max(seen_version.saturating_add(1));
    store.save(account, &stamped)?;
    Ok(stamped.refreshed_at)
}

impl Coordinator for LocalCoordinator {
    fn backend(&self) -> &'static str {
        "local data dir"
    }

    fn lease_time(&self) -> Duration {
        // The OS drops a dead holder's lock at once.
        Duration::ZERO
    }

    fn acquire<'a>(
        &'a self,
        account: &'a str,
        max_wait: Duration,
    ) -> BoxFuture<'a, Result<Lease, CoordError>> {
        Box::pin(async move {
            let lock = lock::acquire(&self.data_dir, account, max_wait).await?;
            Ok(Lease::held(None, lock))
        })
    }

    fn load<'a>(
        &'a self,
        account: &'a str,
    ) -> BoxFuture<'a, Result<Option<Versioned>, CoordError>> {
        Box::pin(async move { load_versioned(&self.store, account) })
    }

    /// Under the lock file no other writer runs, so the stored version is the one seen; the
    /// write is stamped after it.
    fn store<'a>(
        &'a self,
        account: &'a str,
        _lease: &'a Lease,
        tokens: &'a StoredTokens,
        seen_version: i64,
    ) -> BoxFuture<'a, Result<WriteOutcome, CoordError>> {
        Box::pin(async move {
            let version = save_after(&self.store, account, tokens, seen_version)?;
            Ok(WriteOutcome::Stored { version })
        })
    }
}
