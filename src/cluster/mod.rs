//! Many hosts, one token per account: the Redis [`Coordinator`]. Leases with fencing numbers,
//! compare-and-set writes in Lua, announcements on pub/sub, history in a stream, heartbeats;
//! the data dir stays a 0600 cache, so a process goes on with its last token while Redis is
//! away. Nothing in the engine knows it is Redis.
//!
//! Files: `conn.rs` the connection and reachability, `scripts.rs` the keys and Lua scripts,
//! `record.rs` the checked token record, `lease.rs` leases, `background.rs` the heartbeat,
//! subscriber, deferred writes and history writer, `stream.rs` reading the history stream.

mod background;
mod conn;
mod lease;
mod record;
mod scripts;
pub mod stream;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::mpsc;

use crate::config::{ClusterSettings, url_without_password};
use crate::engine::coordinator::local::{load_versioned, save_after};
use crate::engine::coordinator::{
    CoordError, Coordinator, CoordinatorNotice, Lease, Versioned, WriteOutcome,
};
use crate::engine::history::HistoryEntry;
use crate::engine::store::{StoredTokens, TokenStore, fingerprint};
use conn::Connection;
use scripts::{Keys, MAX_FIELD_BYTES, Scripts};

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
        let inner = Arc::new(Inner {
            conn: Connection::new(client, password),
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

/// `<host name>-<pid>`: unique per process, readable in a list of members.
fn default_member() -> String {
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

impl Inner {
    /// Reads the record from Redis (after storing a deferred write, if one waits).
    async fn read_remote(&self, account: &str) -> Result<Option<Versioned>, CoordError> {
        let key = self.keys.token(account);
        let script = &self.scripts.read;
        let raw: record::RawRecord = self
            .conn
            .run(|mut conn| async move {
                script
                    .key(key)
                    .arg(MAX_FIELD_BYTES)
                    .invoke_async(&mut conn)
                    .await
            })
            .await?;
        let record = record::decode(&raw).map_err(|problem| {
            CoordError::Backend(format!(
                "the Redis record {} is not a usable token record ({problem}); delete it to start over from the configured token",
                self.keys.token(account)
            ))
        })?;
        if let Some(record) = &record
            && let Ok(mut versions) = self.remote_versions.lock()
        {
            versions.insert(account.to_string(), record.version);
        }
        Ok(record)
    }

    /// Compare-and-set: stored only if Redis still holds `seen_version`.
    async fn write_remote(
        &self,
        account: &str,
        tokens: &StoredTokens,
        seen_version: i64,
        fence: u64,
    ) -> Result<Result<i64, i64>, CoordError> {
        let key = self.keys.token(account);
        let [access, long_lived, expires_at, origin] = record::encode(tokens);
        let script = &self.scripts.write;
        let (channel, member) = (self.keys.channel(), self.member.as_str());
        let (stored, version): (i64, i64) = self
            .conn
            .run(|mut conn| async move {
                script
                    .key(key)
                    .arg(seen_version)
                    .arg(tokens.refreshed_at)
                    .arg(fence)
                    .arg(access)
                    .arg(long_lived)
                    .arg(expires_at)
                    .arg(origin)
                    .arg(member)
                    .arg(channel)
                    .arg(account)
                    .invoke_async(&mut conn)
                    .await
            })
            .await?;
        if stored == 1 {
            if let Ok(mut versions) = self.remote_versions.lock() {
                versions.insert(account.to_string(), version);
            }
            Ok(Ok(version))
        } else {
            Ok(Err(version))
        }
    }

    /// Keeps the data-dir cache equal to what Redis holds (best effort: Redis is the truth).
    fn cache(&self, account: &str, record: &Versioned) {
        let cached = self.cache.load(account).ok().flatten();
        let same = cached.as_ref().is_some_and(|c| {
            c.refreshed_at == record.version
                && fingerprint(&c.access_token) == fingerprint(&record.tokens.access_token)
        });
        if !same
            && let Err(err) = save_after(&self.cache, account, &record.tokens, record.version - 1)
        {
            tracing::warn!(account, "cannot cache the token in the data dir: {err}");
        }
    }

    /// A cache answer while Redis is away, claiming no newer version than Redis last had.
    fn cached_answer(&self, account: &str) -> Result<Option<Versioned>, CoordError> {
        let cached = load_versioned(&self.cache, account)?;
        let remote = self
            .remote_versions
            .lock()
            .ok()
            .and_then(|v| v.get(account).copied());
        Ok(cached.map(|mut record| {
            if let Some(remote) = remote {
                record.version = record.version.min(remote);
            }
            record
        }))
    }

    /// Stores a write deferred while Redis was away. Refused: the other token wins, ours
    /// stays valid at Meta, unused. Returns whether the account's token changed in Redis.
    async fn store_deferred(&self, account: &str) -> Result<(), CoordError> {
        let Some(deferred) = self
            .deferred
            .lock()
            .ok()
            .and_then(|d| d.get(account).cloned())
        else {
            return Ok(());
        };
        let outcome = self
            .write_remote(account, &deferred.tokens, deferred.seen_version, 0)
            .await?;
        if let Ok(mut waiting) = self.deferred.lock() {
            waiting.remove(account);
        }
        match outcome {
            Ok(version) => tracing::info!(
                account,
                version,
                "Redis is back: stored the token refreshed while it was away"
            ),
            Err(current) => tracing::warn!(
                account,
                current,
                "Redis is back: another process stored a token meanwhile; the one refreshed here without a lease is dropped (it stays valid at Meta, unused)"
            ),
        }
        Ok(())
    }

    /// Reads Redis; seeds an empty Redis from the cache (first start of a cluster, or a Redis
    /// restarted without persistence).
    async fn load(&self, account: &str) -> Result<Option<Versioned>, CoordError> {
        if let Ok(mut accounts) = self.accounts.lock() {
            accounts.insert(account.to_string());
        }
        self.store_deferred(account).await?;
        if let Some(record) = self.read_remote(account).await? {
            self.cache(account, &record);
            return Ok(Some(record));
        }
        let Some(cached) = load_versioned(&self.cache, account)? else {
            return Ok(None);
        };
        if let Ok(version) = self.write_remote(account, &cached.tokens, 0, 0).await? {
            tracing::info!(
                account,
                version,
                "Redis had no token record: stored the one cached in the data dir"
            );
        }
        let record = self.read_remote(account).await?;
        if let Some(record) = &record {
            self.cache(account, record);
        }
        Ok(record)
    }
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
