//! Member-side reads and writes of the token record: the checked read, the compare-and-set
//! write, the data-dir cache, writes deferred while Redis was away, and seeding an empty Redis.

use super::Inner;
use super::record;
use super::scripts::MAX_FIELD_BYTES;
use crate::engine::coordinator::local::{load_versioned, save_after};
use crate::engine::coordinator::{CoordError, Versioned};
use crate::engine::store::{StoredTokens, fingerprint};

impl Inner {
    /// Reads the record from Redis, checked field by field.
    pub(super) async fn read_remote(&self, account: &str) -> Result<Option<Versioned>, CoordError> {
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
        let record = record::decode(&raw, chrono::Utc::now().timestamp()).map_err(|problem| {
            CoordError::Backend(format!(
                "the Redis record {} is not a usable token record ({problem}); delete it to start over from the configured token",
                self.keys.token(account)
            ))
        })?;
        if let Some(record) = &record {
            self.note_remote_version(account, record.version);
        }
        Ok(record)
    }

    /// Compare-and-set: stored only if Redis still holds `seen_version`.
    pub(super) async fn write_remote(
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
            self.note_remote_version(account, version);
            Ok(Ok(version))
        } else {
            Ok(Err(version))
        }
    }

    /// What a cache answer may claim at most: the version Redis last showed for `account`.
    fn note_remote_version(&self, account: &str, version: i64) {
        if let Ok(mut versions) = self.remote_versions.lock() {
            versions.insert(account.to_string(), version);
        }
    }

    /// Keeps the data-dir cache equal to what Redis holds (best effort: Redis is the truth).
    pub(super) fn cache(&self, account: &str, record: &Versioned) {
        let cached = self.cache.load(account).ok().flatten();
        let same = cached.as_ref().is_some_and(|c| {
            c.refreshed_at == record.version
                && fingerprint(&c.access_token) == fingerprint(&record.tokens.access_token)
        });
        if !same
            && let Err(err) = save_after(
                &self.cache,
                account,
                &record.tokens,
                record.version.saturating_sub(1),
            )
        {
            tracing::warn!(account, "cannot cache the token in the data dir: {err}");
        }
    }

    /// A cache answer while Redis is away, claiming no newer version than Redis last had.
    pub(super) fn cached_answer(&self, account: &str) -> Result<Option<Versioned>, CoordError> {
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
    /// stays valid at Meta, unused.
    pub(super) async fn store_deferred(&self, account: &str) -> Result<(), CoordError> {
        let Some(deferred) = self
            .deferred
            .lock()
            .ok()
            .and_then(|d| d.get(account).cloned())
        else {
            return Ok(());
        };
        let mut outcome = self
            .write_remote(account, &deferred.tokens, deferred.seen_version, 0)
            .await?;
        if outcome == Err(0) {
            // Redis came back empty (restarted without persistence): nothing newer to lose.
            outcome = self.write_remote(account, &deferred.tokens, 0, 0).await?;
        }
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
    pub(super) async fn load(&self, account: &str) -> Result<Option<Versioned>, CoordError> {
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
