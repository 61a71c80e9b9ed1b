//! The forwarding lease of a destination in the Redis queue: one member at a time forwards to
//! a destination, so its order holds across hosts. Asked for with `SET NX PX`, renewed every
//! third of its time by compare-and-extend, given back by compare-and-delete when the
//! destination's forwarder stops; a member that dies holds it at most one lease time.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Script};
use tokio::sync::watch;
use tokio::time::Instant;

use super::QueueError;
use super::redis_queue::Inner;
use crate::cluster::conn::{CONNECT_TIMEOUT, RESPONSE_TIMEOUT};
use crate::cluster::lease::extend;
use crate::cluster::scripts::{EXTEND, RELEASE};
use crate::engine::coordinator::CoordError;

/// The lease as this process holds it: the value in Redis, and which holding it is (a new
/// holding after a loss must read the destination's position from Redis again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub value: String,
    pub generation: u64,
}

/// What `next` and `ack` use of a claimed destination.
#[derive(Clone)]
pub struct Claim {
    pub id: u64,
    pub held: watch::Receiver<Option<Held>>,
    /// The connection for blocking reads (one per destination: a blocked XREAD would hold up
    /// every other command on a shared one). Taken out while a read runs, so a read that is
    /// abandoned takes its connection with it.
    pub reader: Arc<tokio::sync::Mutex<Option<MultiplexedConnection>>>,
    /// The seq this process last acknowledged, with the holding it was acknowledged under.
    pub acked: Arc<Mutex<Option<(u64, u64)>>>,
}

impl Claim {
    pub fn acked_under(&self, generation: u64) -> Option<u64> {
        let acked = self.acked.lock().unwrap_or_else(PoisonError::into_inner);
        acked
            .filter(|(under, _)| *under == generation)
            .map(|(_, seq)| seq)
    }

    pub fn set_acked(&self, generation: u64, seq: u64) {
        *self.acked.lock().unwrap_or_else(PoisonError::into_inner) = Some((generation, seq));
    }
}

/// See the module docs. Dropping it stops the renewals and gives the lease back.
pub struct DestinationLease {
    inner: Arc<Inner>,
    destination: String,
    claim: Claim,
    keeper: tokio::task::JoinHandle<()>,
}

impl DestinationLease {
    /// Starts asking for `destination`'s lease in the background; `next` waits for it.
    pub fn start(inner: &Arc<Inner>, destination: &str) -> DestinationLease {
        let (held_tx, held) = watch::channel(None);
        let claim = Claim {
            id: rand::random(),
            held,
            reader: Arc::default(),
            acked: Arc::default(),
        };
        inner.register(destination, claim.clone());
        let keeper = tokio::spawn(keep(inner.clone(), destination.to_string(), held_tx));
        DestinationLease {
            inner: inner.clone(),
            destination: destination.to_string(),
            claim,
            keeper,
        }
    }
}

impl Drop for DestinationLease {
    fn drop(&mut self) {
        self.keeper.abort();
        self.inner.unregister(&self.destination, self.claim.id);
        let Some(held) = self.claim.held.borrow().clone() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return; // Shutting down: the lease expires on its own.
        };
        let (inner, destination) = (self.inner.clone(), std::mem::take(&mut self.destination));
        runtime.spawn(async move {
            let key = inner.keys.lease(&destination);
            let script = Script::new(RELEASE);
            let released: Result<u64, CoordError> = inner
                .conn
                .run(|mut conn| async move {
                    script.key(key).arg(held.value).invoke_async(&mut conn).await
                })
                .await;
            if released.is_ok() {
                tracing::info!(destination = %destination, "gave back the webhook forwarding lease");
            }
        });
    }
}

/// Asks for the lease until granted, holds it while it can be renewed, and asks again after
/// losing it; `held` says which, for `next` and `ack`.
async fn keep(inner: Arc<Inner>, destination: String, held: watch::Sender<Option<Held>>) {
    let every = renew_every(inner.lease_time);
    let mut generation = 0;
    let mut waiting_logged = false;
    loop {
        let value = format!("{}|{:016x}", inner.member, rand::random::<u64>());
        match try_acquire(&inner, &destination, &value).await {
            Ok(true) => {
                generation += 1;
                tracing::info!(destination = %destination, "this member forwards the cluster's webhooks to {destination}");
                held.send_replace(Some(Held {
                    value: value.clone(),
                    generation,
                }));
                hold(&inner, &destination, &value, every).await;
                held.send_replace(None);
                tracing::warn!(destination = %destination, "lost the webhook forwarding lease of {destination} (it expired or another member took it): the body in flight may be delivered twice");
                waiting_logged = false;
            }
            Ok(false) => {
                if !waiting_logged {
                    tracing::info!(destination = %destination, "another cluster member forwards to {destination}; this one takes over if it stops");
                    waiting_logged = true;
                }
                tokio::time::sleep(every).await;
            }
            // Redis away: the connection logs it once; asked again after a while.
            Err(_) => tokio::time::sleep(every).await,
        }
    }
}

fn renew_every(lease_time: Duration) -> Duration {
    (lease_time / 3).max(Duration::from_millis(100))
}

async fn try_acquire(inner: &Inner, destination: &str, value: &str) -> Result<bool, CoordError> {
    let key = inner.keys.lease(destination);
    let ttl_ms = u64::try_from(inner.lease_time.as_millis()).unwrap_or(u64::MAX);
    let set: Option<String> = inner
        .conn
        .run(|mut conn| async move {
            redis::cmd("SET")
                .arg(key)
                .arg(value)
                .arg("NX")
                .arg("PX")
                .arg(ttl_ms)
                .query_async(&mut conn)
                .await
        })
        .await?;
    Ok(set.is_some())
}

/// Renews the lease every `every`; returns once it is gone, or could not be renewed for so
/// long that it may have expired (another member may hold it by now).
async fn hold(inner: &Inner, destination: &str, value: &str, every: Duration) {
    let ttl_ms = u64::try_from(inner.lease_time.as_millis()).unwrap_or(u64::MAX);
    let mut renewed_at = Instant::now();
    let give_up_after = inner.lease_time.saturating_sub(every);
    let script = Script::new(EXTEND);
    loop {
        tokio::time::sleep(every).await;
        let key = inner.keys.lease(destination);
        let extended = extend(&inner.conn, &script, key, value, ttl_ms).await;
        match extended {
            Ok(1) => renewed_at = Instant::now(),
            Ok(_) => return,
            Err(_) if renewed_at.elapsed() >= give_up_after => return,
            Err(_) => {}
        }
    }
}

/// A connection of its own for blocking reads: its replies may take `block` and a bit.
pub async fn blocking_connection(
    inner: &Inner,
    block: Duration,
) -> Result<MultiplexedConnection, QueueError> {
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_response_timeout(Some(block + RESPONSE_TIMEOUT));
    inner
        .conn
        .client()
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .map_err(|err| super::redis_queue::queue_error(&inner.conn, &err))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lease_is_renewed_three_times_per_lease_time() {
        assert_eq!(renew_every(Duration::from_secs(15)), Duration::from_secs(5));
        assert_eq!(
            renew_every(Duration::from_millis(30)),
            Duration::from_millis(100)
        );
    }
}
