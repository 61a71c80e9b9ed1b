//! The refresh lease: granted by the acquire script with a fencing number, kept alive by a
//! task while the refresh runs, released by compare-and-delete when the lease is dropped.

use std::sync::Arc;
use std::time::Duration;

use super::Inner;
use crate::engine::coordinator::{CoordError, Lease};

/// How often a waiting process asks for a held lease again.
const ACQUIRE_POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Asks for `account`'s lease until granted or `max_wait` passed.
pub async fn acquire(
    inner: &Arc<Inner>,
    account: &str,
    max_wait: Duration,
) -> Result<Lease, CoordError> {
    let holder = format!("{}|{:016x}", inner.member, rand::random::<u64>());
    let ttl_ms = u64::try_from(inner.lease_time.as_millis()).unwrap_or(u64::MAX);
    let started = tokio::time::Instant::now();
    let mut waiting_for: Option<String> = None;
    loop {
        let (lease_key, fence_key) = (inner.keys.lease(account), inner.keys.fence(account));
        let script = &inner.scripts.acquire;
        let holder_arg = holder.as_str();
        let (fence, held_by): (u64, String) = inner
            .conn
            .run(|mut conn| async move {
                script
                    .key(lease_key)
                    .key(fence_key)
                    .arg(holder_arg)
                    .arg(ttl_ms)
                    .invoke_async(&mut conn)
                    .await
            })
            .await?;
        if fence > 0 {
            let value = format!("{holder}|{fence}");
            let keeper = tokio::spawn(keep_alive(
                inner.clone(),
                account.to_string(),
                value.clone(),
            ));
            let guard = Release {
                inner: inner.clone(),
                account: account.to_string(),
                value,
                keeper,
            };
            return Ok(Lease::held(Some(fence), guard));
        }
        let holder = holder_name(&held_by);
        if waiting_for.as_deref() != Some(holder.as_str()) {
            tracing::info!(account, holder = %holder, "waiting for the refresh lease (at most {} s)", max_wait.as_secs());
            waiting_for = Some(holder.clone());
        }
        if started.elapsed() >= max_wait {
            return Err(CoordError::LeaseTimedOut {
                account: account.to_string(),
                waited_secs: max_wait.as_secs(),
                holder,
            });
        }
        tokio::time::sleep(ACQUIRE_POLL_INTERVAL).await;
    }
}

/// `member|nonce|fence` -> `member (fence N)`, read as the status reads it; anything else is
/// shown as whoever it may be, and the name capped (a lease key is Redis data, not
/// necessarily ours).
fn holder_name(value: &str) -> String {
    match super::background::lease_holder("", value) {
        Some(held) => format!(
            "{} (fence {})",
            held.holder.chars().take(64).collect::<String>(),
            held.fence
        ),
        None => "another tokentop process".to_string(),
    }
}

/// Extends the lease every third of its time while the refresh runs; stops when the lease is
/// gone (expired while this process was paused, or taken over): the write's version check then
/// refuses whatever this process still tries to store.
async fn keep_alive(inner: Arc<Inner>, account: String, value: String) {
    let ttl_ms = u64::try_from(inner.lease_time.as_millis()).unwrap_or(u64::MAX);
    let every = (inner.lease_time / 3).max(Duration::from_millis(100));
    loop {
        tokio::time::sleep(every).await;
        let key = inner.keys.lease(&account);
        let extended = extend(&inner.conn, &inner.scripts.extend, key, &value, ttl_ms).await;
        match extended {
            Ok(1) => {}
            Ok(_) => {
                tracing::warn!(account = %account, "lost the refresh lease (it expired or was taken over); this refresh's write will be refused if another process stored a token meanwhile");
                return;
            }
            // Redis unreachable: keep trying; the lease may still be ours when it returns.
            Err(_) => {}
        }
    }
}

/// Extends the lease at `key` to `ttl_ms` from now if `value` still holds it: 1 when it did,
/// 0 when it is gone. The refresh lease and the relay's per-destination leases share it.
pub(crate) async fn extend(
    conn: &super::conn::Connection,
    script: &redis::Script,
    key: String,
    value: &str,
    ttl_ms: u64,
) -> Result<u64, CoordError> {
    conn.run(|mut conn| async move {
        script
            .key(key)
            .arg(value)
            .arg(ttl_ms)
            .invoke_async(&mut conn)
            .await
    })
    .await
}

/// Releases the lease when the refresh is done.
struct Release {
    inner: Arc<Inner>,
    account: String,
    value: String,
    keeper: tokio::task::JoinHandle<()>,
}

impl Drop for Release {
    fn drop(&mut self) {
        self.keeper.abort();
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return; // Shutting down: the lease expires on its own.
        };
        let (inner, account, value) = (
            self.inner.clone(),
            std::mem::take(&mut self.account),
            std::mem::take(&mut self.value),
        );
        runtime.spawn(async move {
            let key = inner.keys.lease(&account);
            let script = &inner.scripts.release;
            let _: Result<u64, CoordError> =
                inner
                    .conn
                    .run(|mut conn| async move {
                        script.key(key).arg(value).invoke_async(&mut conn).await
                    })
                    .await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_holder_is_named_from_the_lease_value() {
        assert_eq!(holder_name("web-2|00ab|17"), "web-2 (fence 17)");
        assert_eq!(holder_name("a|b|c|9"), "a|b (fence 9)");
        assert_eq!(holder_name("planted"), "another tokentop process");
        assert_eq!(holder_name(""), "another tokentop process");
    }
}
