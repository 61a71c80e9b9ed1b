//! Many hosts, one token per account: the Redis [`Coordinator`]. Leases with fencing numbers,
//! compare-and-set writes in Lua, announcements on pub/sub, history in a stream, heartbeats;
//! the data dir stays a 0600 cache, so a process goes on with its last token while Redis is
//! away. Nothing in the engine knows it is Redis.
//!
//! Files: `conn.rs` the connection and reachability, `scripts.rs` the keys and Lua scripts,
//! `record.rs` the checked token record, `remote.rs` reads, compare-and-set writes and the
//! cache, `lease.rs` leases, `background.rs` the heartbeat, subscriber, deferred writes and
//! history writer, `stream.rs` reading the history stream, `account_entries.rs` the accounts
//! of `[accounts] source = "redis"` as commands change them and processes hear of it.

pub mod account_entries;
mod background;
pub(crate) mod conn;
pub(crate) mod lease;
mod record;
mod remote;
pub(crate) mod scripts;
pub mod stream;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::mpsc;

use crate::config::{ClusterSettings, url_without_password};
use crate::engine::coordinator::local::save_after;
use crate::engine::coordinator::{
    CoordError, Coordinator, CoordinatorNotice, Lease, Versioned, WriteOutcome,
};
use crate::engine::history::HistoryEntry;
use crate::engine::store::{StoredTokens, TokenStore};
use conn::Connection;
use scripts::{Keys, Scripts};

/// History rows waiting for Redis; past this the oldest are dropped (the data dir keeps them).
const HISTORY_QUEUE: usize = 4096;

/// See the module docs.
pub struct RedisCoordinator {
    inner: Arc<Inner>,
    notices: Mutex<Option<mpsc::UnboundedReceiver<CoordinatorNotice>>>,
    history_tx: mpsc::Sender<HistoryEntry>,
    /// Stops the background tasks when the coordinator goes.
    _stop: tokio::sync::watch::Sender<bool>,
}

impl std::fmt::Debug for RedisCoordinator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCoordinator")
            .field("endpoint", &self.inner.endpoint)
            .field("member", &self.inner.member)
            .finish()
    }
}

/// What the coordinator, its leases and its background tasks share.
pub(crate) struct Inner {
    conn: Connection,
    keys: Keys,
    scripts: Scripts,
    member: String,
    endpoint: String,
    lease_time: Duration,
    history_max_len: u64,
    cache: TokenStore,
    /// Writes made while Redis was unreachable, stored when it returns (by version check).
    deferred: Mutex<HashMap<String, Deferred>>,
    /// The last version read from Redis per account: what a cache answer claims at most.
    remote_versions: Mutex<HashMap<String, i64>>,
    /// Accounts this process works on (for the lease holders in the status).
    accounts: Mutex<BTreeSet<String>>,
    /// Heartbeats skipped at the last beat (unreadable or dated in the future): warned about
    /// when the count changes, not at every beat.
    skipped_beats: std::sync::atomic::AtomicUsize,
}

#[derive(Clone)]
struct Deferred {
    tokens: StoredTokens,
    seen_version: i64,
}

impl RedisCoordinator {
    /// Connects lazily: a Redis that is down at start is retried in the background. Fails only
    /// on a URL the client cannot use.
    pub fn start(settings: &ClusterSettings, data_dir: &std::path::Path) -> anyhow::Result<Self> {
        let (conn, shown) = connection(settings)?;
        let inner = Arc::new(Inner {
            conn,
            keys: Keys::new(&settings.key_prefix),
            scripts: Scripts::new(),
            member: settings.member.clone().unwrap_or_else(default_member),
            endpoint: shown,
            lease_time: settings.lease,
            history_max_len: settings.history_max_len,
            cache: TokenStore::new(data_dir),
            deferred: Mutex::new(HashMap::new()),
            remote_versions: Mutex::new(HashMap::new()),
            accounts: Mutex::new(BTreeSet::new()),
            skipped_beats: std::sync::atomic::AtomicUsize::new(0),
        });
        let (notice_tx, notice_rx) = mpsc::unbounded_channel();
        let (history_tx, history_rx) = mpsc::channel(HISTORY_QUEUE);
        let (stop, stopped) = tokio::sync::watch::channel(false);
        background::spawn(inner.clone(), notice_tx, history_rx, stopped);
        Ok(Self {
            inner,
            notices: Mutex::new(Some(notice_rx)),
            history_tx,
            _stop: stop,
        })
    }

    /// Round trips to Redis so far, pub/sub pushes not counted.
    pub fn round_trips(&self) -> u64 {
        self.inner.conn.round_trips()
    }

    pub fn endpoint(&self) -> &str {
        &self.inner.endpoint
    }

    /// Answers a PING (for `doctor`, and tests): the round trip, or why not.
    pub async fn ping(&self) -> Result<Duration, CoordError> {
        let started = tokio::time::Instant::now();
        let _: String = self
            .inner
            .conn
            .run(|mut conn| async move { redis::cmd("PING").query_async(&mut conn).await })
            .await?;
        Ok(started.elapsed())
    }
}

/// The connection `[cluster] redis-url` names (made on first use) and the URL without its
/// password. Fails only on a URL the client cannot use.
pub(crate) fn connection(settings: &ClusterSettings) -> anyhow::Result<(Connection, String)> {
    let Some(url) = &settings.redis_url else {
        anyhow::bail!("[cluster] redis-url is not set");
    };
    // rediss:// uses rustls with the provider the Graph client uses too.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let shown = url_without_password(url.expose_secret());
    let client = redis::Client::open(url.expose_secret()).map_err(|err| {
        anyhow::anyhow!(
            "[cluster] redis-url {shown} is not usable: {}",
            conn::scrub(&err.to_string(), Some(url))
        )
    })?;
    let password = client
        .get_connection_info()
        .redis_settings()
        .password()
        .map(|p| SecretString::from(p.to_string()));
    Ok((Connection::new(client, password), shown))
}

/// `<host name>-<pid>`: unique per process, readable in a list of members.
pub(crate) fn default_member() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .unwrap_or_default();
    let host: String = host
        .trim()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        .take(48)
        .collect();
    let host = if host.is_empty() {
        "host".to_string()
    } else {
        host
    };
    format!("{host}-{}", std::process::id())
}

impl Coordinator for RedisCoordinator {
    fn backend(&self) -> &'static str {
        "Redis"
    }

    fn member(&self) -> Option<&str> {
        Some(&self.inner.member)
    }

    fn lease_time(&self) -> Duration {
        self.inner.lease_time
    }

    fn acquire<'a>(
        &'a self,
        account: &'a str,
        max_wait: Duration,
    ) -> BoxFuture<'a, Result<Lease, CoordError>> {
        Box::pin(lease::acquire(&self.inner, account, max_wait))
    }

    fn load<'a>(
        &'a self,
        account: &'a str,
    ) -> BoxFuture<'a, Result<Option<Versioned>, CoordError>> {
        Box::pin(async move {
            match self.inner.load(account).await {
                Err(err) if err.is_unavailable() => self.inner.cached_answer(account),
                other => other,
            }
        })
    }

    fn store<'a>(
        &'a self,
        account: &'a str,
        lease: &'a Lease,
        tokens: &'a StoredTokens,
        seen_version: i64,
    ) -> BoxFuture<'a, Result<WriteOutcome, CoordError>> {
        Box::pin(async move {
            let fence = lease.fence.unwrap_or(0);
            match self
                .inner
                .write_remote(account, tokens, seen_version, fence)
                .await
            {
                Ok(Ok(version)) => {
                    let record = Versioned {
                        tokens: tokens.clone(),
                        version,
                        writer: Some(self.inner.member.clone()),
                    };
                    self.inner.cache(account, &record);
                    Ok(WriteOutcome::Stored { version })
                }
                Ok(Err(_)) => {
                    let current = self.inner.read_remote(account).await.ok().flatten();
                    if let Some(current) = &current {
                        self.inner.cache(account, current);
                    }
                    Ok(WriteOutcome::Refused { current })
                }
                Err(err) if err.is_unavailable() => {
                    save_after(&self.inner.cache, account, tokens, seen_version)?;
                    if let Ok(mut deferred) = self.inner.deferred.lock() {
                        let write = Deferred {
                            tokens: tokens.clone(),
                            seen_version,
                        };
                        deferred.insert(account.to_string(), write);
                    }
                    Ok(WriteOutcome::Deferred)
                }
                Err(err) => Err(err),
            }
        })
    }

    fn record(&self, entry: &HistoryEntry) {
        if self.history_tx.try_send(entry.clone()).is_err() {
            tracing::debug!(
                "the Redis history queue is full; the row is in the data dir's history only"
            );
        }
    }

    fn take_notices(&self) -> Option<mpsc::UnboundedReceiver<CoordinatorNotice>> {
        self.notices.lock().ok().and_then(|mut n| n.take())
    }
}
