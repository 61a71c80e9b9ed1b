//! Who may refresh an account and where its tokens live, behind one trait: the local data dir
//! for one host ([`local::LocalCoordinator`]), or a store that many hosts share (the Redis
//! coordinator in `crate::cluster`). The engine only talks to [`Coordinator`], so another
//! backend (etcd, a Kubernetes Lease) needs no engine change.
//!
//! The contract every backend keeps:
//! - [`Coordinator::acquire`] gives at most one holder per account at a time (a lease);
//! - [`Coordinator::store`] is a compare-and-set on the version the writer last saw, so a
//!   writer that lost its lease (paused, partitioned) can never replace a newer token;
//! - versions only grow, and are unix-second stamps (or later, when two writes share a second)
//!   so that a version also tells roughly when the token was stored.

pub mod local;
pub mod status;

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use tokio::sync::mpsc;

use super::history::HistoryEntry;
use super::store::lock::LockError;
use super::store::{StoreError, StoredTokens};
pub use status::{ClusterStatus, LeaseHolder, MemberBeat};

/// An account's tokens as the coordinator holds them, with the version a write must name.
#[derive(Debug, Clone)]
pub struct Versioned {
    pub tokens: StoredTokens,
    pub version: i64,
    /// The member (host) that stored them, when the backend records it.
    pub writer: Option<String>,
}

/// The right to refresh one account, until dropped (which releases it).
pub struct Lease {
    /// The fencing number of a shared lease (grows with every grant); `None` for a local lock
    /// or a last-resort refresh without a lease.
    pub fence: Option<u64>,
    guard: Option<Box<dyn Send + Sync>>,
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease")
            .field("fence", &self.fence)
            .field("held", &self.is_held())
            .finish()
    }
}

impl Lease {
    /// A lease whose `guard` releases it when dropped.
    pub fn held(fence: Option<u64>, guard: impl Send + Sync + 'static) -> Self {
        Self {
            fence,
            guard: Some(Box::new(guard)),
        }
    }

    /// No lease at all: the last resort when the coordinator is unreachable and the token would
    /// otherwise expire. A store under it can only be deferred or refused, never overwrite.
    pub fn without() -> Self {
        Self {
            fence: None,
            guard: None,
        }
    }

    pub fn is_held(&self) -> bool {
        self.guard.is_some()
    }
}

/// What became of a [`Coordinator::store`].
#[derive(Debug, Clone)]
pub enum WriteOutcome {
    /// Stored; this is its version.
    Stored { version: i64 },
    /// The shared store is unreachable: kept in the local cache and written when it returns
    /// (still by compare-and-set on the version seen before).
    Deferred,
    /// Someone stored a newer token since `seen_version`: this write was dropped. The token it
    /// carried is still valid at Meta, just unused.
    Refused { current: Option<Versioned> },
}

/// Why the coordinator could not do something. Never carries a token or a password.
#[derive(Debug, thiserror::Error)]
pub enum CoordError {
    #[error("{backend} is unreachable (since {}): {reason}", since.format("%Y-%m-%d %H:%M:%S UTC"))]
    Unavailable {
        backend: &'static str,
        since: DateTime<Utc>,
        reason: String,
    },
    #[error("{holder} held {account}'s refresh lease for more than {waited_secs} s")]
    LeaseTimedOut {
        account: String,
        waited_secs: u64,
        /// Who held it, as far as known ("another tokentop process" otherwise).
        holder: String,
    },
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Backend(String),
}

impl CoordError {
    pub fn is_unavailable(&self) -> bool {
        matches!(self, CoordError::Unavailable { .. })
    }
}

/// What a shared coordinator tells the engine on its own.
#[derive(Debug, Clone)]
pub enum CoordinatorNotice {
    /// Another process stored a new token for this account.
    TokenChanged { account: String },
    /// Announcements may have been missed (reconnected): every account re-reads.
    Resync,
    /// Members, leases, latency, reachability.
    Status(ClusterStatus),
}

/// See the module docs for the contract.
pub trait Coordinator: Send + Sync + std::fmt::Debug + 'static {
    /// Which backend, for messages: "local data dir", "Redis".
    fn backend(&self) -> &'static str;

    /// This process's name in a shared store (written into history rows); `None` locally.
    fn member(&self) -> Option<&str> {
        None
    }

    /// How long a lease lives without renewal (the longest a dead holder blocks others).
    fn lease_time(&self) -> Duration;

    /// Takes the account's refresh lease, waiting up to `max_wait` for another holder.
    fn acquire<'a>(
        &'a self,
        account: &'a str,
        max_wait: Duration,
    ) -> BoxFuture<'a, Result<Lease, CoordError>>;

    /// The account's current tokens; `Ok(None)` when nothing was stored yet. A shared backend
    /// that is unreachable answers from its local cache.
    fn load<'a>(&'a self, account: &'a str)
    -> BoxFuture<'a, Result<Option<Versioned>, CoordError>>;

    /// Stores `tokens` if the stored version is still `seen_version`.
    fn store<'a>(
        &'a self,
        account: &'a str,
        lease: &'a Lease,
        tokens: &'a StoredTokens,
        seen_version: i64,
    ) -> BoxFuture<'a, Result<WriteOutcome, CoordError>>;

    /// Hands a history row to the shared store too (the local file always gets it).
    fn record(&self, _entry: &HistoryEntry) {}

    /// The notices of a shared backend; taken once, by the engine.
    fn take_notices(&self) -> Option<mpsc::UnboundedReceiver<CoordinatorNotice>> {
        None
    }
}

/// When the shared store is unreachable, a due refresh waits for it until the token has this
/// little time left; then it runs without a lease (the last resort: at worst one extra
/// exchange per cut-off host, never a lapse). Four lease times, from 10 s to 5 min.
pub fn leaseless_margin_secs(lease_time: Duration) -> i64 {
    let four_leases = lease_time.as_secs().saturating_mul(4);
    i64::try_from(four_leases.clamp(10, 300)).unwrap_or(300)
}

/// Whether a refresh that found the coordinator unreachable goes ahead without a lease.
/// `secs_to_expiry` is what is left of the token it would replace (`None`: never expires,
/// so it can always wait).
pub fn refresh_without_lease(secs_to_expiry: Option<i64>, lease_time: Duration) -> bool {
    secs_to_expiry.is_some_and(|left| left <= leaseless_margin_secs(lease_time))
}

/// How long a refresh that waits for an unreachable coordinator may wait before retrying:
/// no later than the moment [`refresh_without_lease`] turns true.
pub fn secs_until_leaseless(secs_to_expiry: Option<i64>, lease_time: Duration) -> Option<i64> {
    secs_to_expiry.map(|left| {
        left.saturating_sub(leaseless_margin_secs(lease_time))
            .max(1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_lease_only_near_expiry() {
        let lease = Duration::from_secs(15);
        assert_eq!(leaseless_margin_secs(lease), 60);
        assert!(!refresh_without_lease(Some(61), lease));
        assert!(refresh_without_lease(Some(60), lease));
        assert!(
            refresh_without_lease(Some(-5), lease),
            "already expired: nothing to lose"
        );
        assert!(
            !refresh_without_lease(None, lease),
            "a token that never expires can wait"
        );
        assert_eq!(secs_until_leaseless(Some(100), lease), Some(40));
        assert_eq!(secs_until_leaseless(Some(10), lease), Some(1));
    }

    #[test]
    fn the_margin_stays_within_bounds() {
        assert_eq!(leaseless_margin_secs(Duration::ZERO), 10);
        assert_eq!(leaseless_margin_secs(Duration::from_secs(1)), 10);
        assert_eq!(leaseless_margin_secs(Duration::from_secs(3600)), 300);
        assert_eq!(leaseless_margin_secs(Duration::MAX), 300);
    }
}
