//! One multiplexed Redis connection, made on demand and dropped on failure, and the
//! reachability that every operation reports: unreachable since when, and why.

use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, ErrorKind, RedisError, RedisResult};
use secrecy::{ExposeSecret, SecretString};

use crate::engine::coordinator::CoordError;

/// A Redis that does not answer a connect within this is unreachable for this operation.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Every command answers within this, or Redis counts as unreachable.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);

/// See the module docs.
pub struct Connection {
    client: redis::Client,
    /// For scrubbing error texts; never shown.
    password: Option<SecretString>,
    cached: tokio::sync::Mutex<Option<MultiplexedConnection>>,
    health: Mutex<Health>,
    /// Operations sent (each one round trip: a command, a script or a pipeline).
    round_trips: AtomicU64,
}

#[derive(Debug, Clone, Default)]
pub struct Health {
    pub down_since: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

impl Connection {
    pub fn new(client: redis::Client, password: Option<SecretString>) -> Self {
        Self {
            client,
            password,
            cached: tokio::sync::Mutex::new(None),
            health: Mutex::new(Health::default()),
            round_trips: AtomicU64::new(0),
        }
    }

    pub fn client(&self) -> &redis::Client {
        &self.client
    }

    /// Round trips so far (for the budget: at most 2 per account per check interval at rest).
    pub fn round_trips(&self) -> u64 {
        self.round_trips.load(Ordering::Relaxed)
    }

    pub fn health(&self) -> Health {
        self.health.lock().map(|h| h.clone()).unwrap_or_default()
    }

    /// Runs `op` on the connection. Any failure marks Redis unreachable (from the first failure
    /// on) and drops the connection so that the next operation connects again.
    pub async fn run<T, F, Fut>(&self, op: F) -> Result<T, CoordError>
    where
        F: FnOnce(MultiplexedConnection) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let conn = self.connect().await?;
        self.round_trips.fetch_add(1, Ordering::Relaxed);
        match op(conn).await {
            Ok(value) => {
                self.mark_up();
                Ok(value)
            }
            Err(err) if !is_unreachable(&err) => Err(CoordError::Backend(self.describe(&err))),
            Err(err) => {
                *self.cached.lock().await = None;
                Err(self.mark_down(&err))
            }
        }
    }

    async fn connect(&self) -> Result<MultiplexedConnection, CoordError> {
        let mut cached = self.cached.lock().await;
        if let Some(conn) = cached.as_ref() {
            return Ok(conn.clone());
        }
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT));
        match self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await
        {
            Ok(conn) => {
                *cached = Some(conn.clone());
                Ok(conn)
            }
            Err(err) => Err(self.mark_down(&err)),
        }
    }

    pub fn mark_up(&self) {
        if let Ok(mut health) = self.health.lock() {
            if health.down_since.is_some() {
                tracing::info!("Redis is reachable again");
            }
            health.down_since = None;
        }
    }

    /// Records the failure and returns it as [`CoordError::Unavailable`].
    pub fn mark_down(&self, err: &RedisError) -> CoordError {
        let reason = self.describe(err);
        let since = match self.health.lock() {
            Ok(mut health) => {
                let since = *health.down_since.get_or_insert_with(Utc::now);
                if health.last_error.as_deref() != Some(reason.as_str()) {
                    tracing::warn!("Redis: {reason}");
                }
                health.last_error = Some(reason.clone());
                since
            }
            Err(_) => Utc::now(),
        };
        CoordError::Unavailable {
            backend: "Redis",
            since,
            reason,
        }
    }

    /// What went wrong, in words an operator can act on, without the password.
    pub fn describe(&self, err: &RedisError) -> String {
        let text = match err.kind() {
            ErrorKind::AuthenticationFailed => format!(
                "Redis refused the user name or password ({err}): check [cluster] redis-url's ACL user and password"
            ),
            _ if err.is_timeout() => {
                format!("no answer within {} s ({err})", RESPONSE_TIMEOUT.as_secs())
            }
            _ if err.is_connection_refusal() => format!("connection refused ({err})"),
            _ => err.to_string(),
        };
        scrub(&text, self.password.as_ref())
    }
}

/// Redis cannot be reached or will not serve us now (as opposed to answering that something
/// is wrong, like a script error or a record of the wrong type).
pub(crate) fn is_unreachable(err: &RedisError) -> bool {
    err.is_io_error()
        || err.is_timeout()
        || err.is_connection_dropped()
        || err.is_connection_refusal()
        || err.kind() == ErrorKind::AuthenticationFailed
        || is_unavailable_reply(err)
}

/// Server replies that mean "not now" rather than "wrong": loading, read-only replica, busy.
fn is_unavailable_reply(err: &RedisError) -> bool {
    matches!(
        err.code(),
        Some(
            "LOADING"
                | "BUSY"
                | "READONLY"
                | "MASTERDOWN"
                | "TRYAGAIN"
                | "NOAUTH"
                | "WRONGPASS"
                | "NOPERM"
        )
    )
}

/// Replaces the password wherever a message repeats it.
pub fn scrub(text: &str, password: Option<&SecretString>) -> String {
    match password.map(|p| p.expose_secret()).filter(|p| p.len() >= 3) {
        Some(password) => text.replace(password, "***"),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_never_shows() {
        let password = SecretString::from("s3cret-pass");
        let text = scrub("AUTH s3cret-pass failed", Some(&password));
        assert_eq!(text, "AUTH *** failed");
    }
}
