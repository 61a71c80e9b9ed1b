//! The entries of `[accounts] source = "redis"` (`config::redis_accounts_key`) as commands
//! change them: added (an existing one replaced only when asked), removed and read back, each
//! change announced on `config::redis_accounts_channel` in the same script; and the
//! subscription on which every running process hears of them.

use std::time::Duration;

use futures_util::StreamExt;
use redis::{Script, Value};
use tokio::sync::mpsc;

use super::conn::Connection;
use crate::config::capped_read::MAX_ACCOUNT_FILE_BYTES;
use crate::config::{ClusterSettings, redis_accounts_channel, redis_accounts_key};
use crate::engine::coordinator::CoordError;

/// The subscriber waits this long before reconnecting, doubling up to [`RETRY_CAP`].
const RETRY_FIRST: Duration = Duration::from_millis(500);
const RETRY_CAP: Duration = Duration::from_secs(5);

/// KEYS: the hash. ARGV: field, text, "1" to replace, channel, announcement. Returns -1 when
/// the field exists and may not be replaced, 0 when created, 1 when replaced.
const ADD: &str = r"
local existed = redis.call('HEXISTS', KEYS[1], ARGV[1])
if existed == 1 and ARGV[3] ~= '1' then
  return -1
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PUBLISH', ARGV[4], ARGV[5])
return existed
";

/// KEYS: the hash. ARGV: field, channel, announcement. Returns 1 when removed, 0 when absent.
const REMOVE: &str = r"
local removed = redis.call('HDEL', KEYS[1], ARGV[1])
if removed == 1 then
  redis.call('PUBLISH', ARGV[2], ARGV[3])
end
return removed
";

/// KEYS: the hash. ARGV: field, longest value. The value, nil, or its length when too long.
const READ_ONE: &str = r"
local len = redis.call('HSTRLEN', KEYS[1], ARGV[1])
if len > tonumber(ARGV[2]) then
  return len
end
return redis.call('HGET', KEYS[1], ARGV[1])
";

/// What an add did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    Created,
    Replaced,
    /// The entry exists and `replace` was not asked for: nothing was written.
    Exists,
}

/// See the module docs.
pub struct AccountEntries {
    conn: Connection,
    key: String,
    channel: String,
    endpoint: String,
}

impl AccountEntries {
    /// On `[cluster] redis-url` (connected on first use).
    pub fn new(settings: &ClusterSettings) -> anyhow::Result<Self> {
        let (conn, endpoint) = super::connection(settings)?;
        Ok(Self {
            conn,
            key: redis_accounts_key(&settings.key_prefix),
            channel: redis_accounts_channel(&settings.key_prefix),
            endpoint,
        })
    }

    /// The hash's name.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The Redis URL without its password.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Writes `text` as `name`'s entry and announces it.
    pub async fn add(&self, name: &str, text: &str, replace: bool) -> Result<Added, CoordError> {
        let word = if replace { "replaced" } else { "added" };
        let announcement = format!("{word} {name}");
        let script = Script::new(ADD);
        let done: i64 = self
            .conn
            .run(|mut conn| async move {
                script
                    .key(&self.key)
                    .arg(name)
                    .arg(text)
                    .arg(if replace { "1" } else { "0" })
                    .arg(&self.channel)
                    .arg(&announcement)
                    .invoke_async(&mut conn)
                    .await
            })
            .await?;
        Ok(match done {
            -1 => Added::Exists,
            0 => Added::Created,
            _ => Added::Replaced,
        })
    }

    /// Removes `name`'s entry and announces it; `false` when there was none.
    pub async fn remove(&self, name: &str) -> Result<bool, CoordError> {
        let announcement = format!("removed {name}");
        let script = Script::new(REMOVE);
        let removed: i64 = self
            .conn
            .run(|mut conn| async move {
                script
                    .key(&self.key)
                    .arg(name)
                    .arg(&self.channel)
                    .arg(&announcement)
                    .invoke_async(&mut conn)
                    .await
            })
            .await?;
        Ok(removed == 1)
    }

    /// Whether `name` has an entry, valid or not.
    pub async fn exists(&self, name: &str) -> Result<bool, CoordError> {
        self.conn
            .run(|mut conn| async move {
                redis::cmd("HEXISTS")
                    .arg(&self.key)
                    .arg(name)
                    .query_async(&mut conn)
                    .await
            })
            .await
    }

    /// `name`'s entry as text; `None` when there is none.
    pub async fn read(&self, name: &str) -> Result<Option<String>, CoordError> {
        let script = Script::new(READ_ONE);
        let value: Value = self
            .conn
            .run(|mut conn| async move {
                script
                    .key(&self.key)
                    .arg(name)
                    .arg(MAX_ACCOUNT_FILE_BYTES)
                    .invoke_async(&mut conn)
                    .await
            })
            .await?;
        match value {
            Value::Nil => Ok(None),
            Value::BulkString(bytes) => String::from_utf8(bytes)
                .map(Some)
                .map_err(|_| CoordError::Backend(format!("{name}'s entry is not UTF-8 text"))),
            Value::Int(length) => Err(CoordError::Backend(format!(
                "{name}'s entry holds {length} bytes, more than the {MAX_ACCOUNT_FILE_BYTES} an entry may hold"
            ))),
            _ => Err(CoordError::Backend(format!(
                "{name}'s entry: an unexpected reply from Redis"
            ))),
        }
    }
}

/// Subscribed to the announcements of account changes on `settings`' Redis.
pub struct ChangeSubscription {
    client: redis::Client,
    channel: String,
    /// The first subscription, made while the process starts.
    first: Option<redis::aio::PubSub>,
}

impl ChangeSubscription {
    /// Subscribes once (bounded by the connect timeout); a Redis that does not answer now is
    /// retried by [`ChangeSubscription::follow`].
    pub async fn start(settings: &ClusterSettings) -> anyhow::Result<Self> {
        let (conn, _) = super::connection(settings)?;
        let client = conn.client().clone();
        let channel = redis_accounts_channel(&settings.key_prefix);
        let first = subscribe(&client, &channel).await;
        if first.is_none() {
            tracing::warn!(
                "cannot subscribe to {channel} now: account changes made elsewhere apply at the next SIGHUP until Redis answers"
            );
        }
        Ok(Self {
            client,
            channel,
            first,
        })
    }

    /// Sends each announcement (`added shop`) to `changes`, and `resubscribed` after each
    /// reconnection (announcements may have been missed), until `changes` closes.
    pub async fn follow(mut self, changes: mpsc::UnboundedSender<String>) {
        let mut wait = RETRY_FIRST;
        // Without the first subscription, changes since the start's reading were not heard.
        let mut lost = self.first.is_none();
        loop {
            let pubsub = match self.first.take() {
                Some(pubsub) => Some(pubsub),
                None => subscribe(&self.client, &self.channel).await,
            };
            let Some(mut pubsub) = pubsub else {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(RETRY_CAP);
                continue;
            };
            wait = RETRY_FIRST;
            if lost {
                tracing::info!("subscribed to {} again", self.channel);
                if changes.send("resubscribed".to_string()).is_err() {
                    return;
                }
            }
            let mut messages = pubsub.on_message();
            while let Some(message) = messages.next().await {
                let payload: String = message.get_payload().unwrap_or_default();
                // Only for the log: a name and a word; anything longer is not ours.
                let payload: String = payload.chars().take(80).collect();
                if changes.send(payload).is_err() {
                    return;
                }
            }
            tracing::warn!("lost the subscription to {}; reconnecting", self.channel);
            lost = true;
        }
    }
}

async fn subscribe(client: &redis::Client, channel: &str) -> Option<redis::aio::PubSub> {
    let connected =
        tokio::time::timeout(super::conn::CONNECT_TIMEOUT, client.get_async_pubsub()).await;
    let mut pubsub = connected.ok()?.ok()?;
    let subscribed =
        tokio::time::timeout(super::conn::RESPONSE_TIMEOUT, pubsub.subscribe(channel)).await;
    matches!(subscribed, Ok(Ok(()))).then_some(pubsub)
}
