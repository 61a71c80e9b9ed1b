//! The Redis backend of the webhook queue, used with `[cluster]`: one stream the cluster's
//! members share, so a body accepted by any member is forwarded by the cluster, once per
//! destination and in order, also after that member died.
//!
//! `accept` answers once Redis replied to the append script (dedupe by body digest with a
//! TTL, the `max-queue` bound, the append, all in one step); how durable that reply is, is
//! Redis's persistence: AOF with `appendfsync always` (or `everysec`, losing at most about a
//! second on a power cut). One member at a time forwards to a destination, holding its lease
//! ([`super::redis_lease`]); `next` is a blocking XREAD after the destination's cursor, `ack`
//! moves the cursor forward only for the lease holder, and entries every destination
//! acknowledged are trimmed. Keys and scripts: [`super::redis_scripts`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use redis::RedisError;

use super::redis_lease::{Claim, DestinationLease, Held, blocking_connection};
pub use super::redis_reply::queue_error;
use super::redis_reply::{Entry, Reply, StreamReply, backend, entry, from_coord};
use super::redis_scripts::{
    OUTCOME_DONE, OUTCOME_DUPLICATE, OUTCOME_FULL, OUTCOME_REFUSED, QueueKeys, QueueScripts,
};
use super::{Accepted, DEFAULT_DEDUPE_WINDOW, DestinationDepth, QueueError, QueuedWebhook, frame};
use crate::cluster::conn::Connection;
use crate::config::ClusterSettings;

/// A blocking read waits this long for a body before it is asked again.
const READ_BLOCK: Duration = Duration::from_secs(10);
/// `depth` and `fill_ratio` answer from the last script's reply; older than this, reading
/// them asks Redis again in the background.
const SNAPSHOT_FRESH: Duration = Duration::from_secs(1);

/// Where the Redis queue is and how much it may hold.
#[derive(Debug, Clone)]
pub struct RedisQueueOptions {
    /// `[cluster]`: the Redis URL, the key prefix and this member's name.
    pub cluster: ClusterSettings,
    /// `max-queue`: body bytes the slowest destination has not acknowledged.
    pub max_bytes: u64,
    /// Every member must list the same names: a body is trimmed once the listed ones have it.
    pub destinations: Vec<String>,
    /// How long a body's digest is kept to recognise Meta's retries (a key per body).
    pub dedupe_window: Duration,
    /// How long a dead member keeps forwarding to a destination from being taken over.
    pub lease_time: Duration,
}

impl RedisQueueOptions {
    /// The defaults: a 7-day dedupe window, `[cluster] lease` for the forwarding leases.
    pub fn new(
        cluster: ClusterSettings,
        max_bytes: u64,
        destinations: Vec<String>,
    ) -> RedisQueueOptions {
        RedisQueueOptions {
            lease_time: cluster.lease,
            cluster,
            max_bytes,
            destinations,
            dedupe_window: DEFAULT_DEDUPE_WINDOW,
        }
    }
}

/// See the module docs. Clones share the connection.
#[derive(Clone)]
pub struct RedisQueue {
    inner: Arc<Inner>,
}

/// What the queue handles and the destinations' leases share.
pub struct Inner {
    pub conn: Connection,
    pub keys: QueueKeys,
    scripts: QueueScripts,
    pub member: String,
    pub lease_time: Duration,
    max_bytes: u64,
    dedupe_window: Duration,
    destinations: Vec<String>,
    /// The destinations this process forwards to (or waits to), by name.
    claims: Mutex<HashMap<String, Claim>>,
    snapshot: Mutex<Snapshot>,
    refreshing: AtomicBool,
}

#[derive(Default)]
struct Snapshot {
    depth: Vec<DestinationDepth>,
    fill: f64,
    at: Option<Instant>,
}

impl Inner {
    pub fn register(&self, destination: &str, claim: Claim) {
        self.claims().insert(destination.to_string(), claim);
    }

    pub fn unregister(&self, destination: &str, id: u64) {
        let mut claims = self.claims();
        if claims.get(destination).is_some_and(|claim| claim.id == id) {
            claims.remove(destination);
        }
    }

    fn claims(&self) -> std::sync::MutexGuard<'_, HashMap<String, Claim>> {
        self.claims.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn cursor_keys(&self) -> Vec<String> {
        self.destinations
            .iter()
            .map(|d| self.keys.cursor(d))
            .collect()
    }

    /// Keeps what a script saw for `depth` and `fill_ratio`.
    fn remember(&self, reply: &Reply) {
        let (head_seq, head_bytes) = reply.head;
        let depth: Vec<DestinationDepth> = self
            .destinations
            .iter()
            .zip(&reply.cursors)
            .map(|(name, (seq, bytes))| DestinationDepth {
                destination: name.clone(),
                entries: head_seq.saturating_sub(*seq),
                bytes: head_bytes.saturating_sub(*bytes),
            })
            .collect();
        let slowest = depth.iter().map(|d| d.bytes).max().unwrap_or(0);
        let mut snapshot = self.snapshot.lock().unwrap_or_else(PoisonError::into_inner);
        snapshot.fill = slowest as f64 / self.max_bytes.max(1) as f64;
        snapshot.depth = depth;
        snapshot.at = Some(Instant::now());
    }

    /// Runs the state script: the head and every cursor (a new destination's made at the head).
    async fn read_state(&self) -> Result<Reply, QueueError> {
        let (stream, head, cursors) = (self.keys.stream(), self.keys.head(), self.cursor_keys());
        let script = &self.scripts.state;
        let values: Vec<i64> = self
            .conn
            .run(|mut conn| async move {
                let mut call = script.key(stream);
                call.key(head).key(cursors);
                call.invoke_async(&mut conn).await
            })
            .await
            .map_err(from_coord)?;
        let reply = Reply::parse(values)?;
        self.remember(&reply);
        Ok(reply)
    }
}

impl RedisQueue {
    /// Sets the queue up on `[cluster] redis-url`; connects on first use.
    pub fn open(options: RedisQueueOptions) -> Result<RedisQueue, QueueError> {
        let (conn, _) =
            crate::cluster::connection(&options.cluster).map_err(|err| QueueError::Backend {
                reason: err.to_string(),
            })?;
        let inner = Inner {
            conn,
            keys: QueueKeys::new(&options.cluster.key_prefix),
            scripts: QueueScripts::new(),
            member: (options.cluster.member.clone()).unwrap_or_else(crate::cluster::default_member),
            lease_time: options.lease_time,
            max_bytes: options.max_bytes,
            dedupe_window: options.dedupe_window,
            destinations: options.destinations,
            claims: Mutex::default(),
            snapshot: Mutex::default(),
            refreshing: AtomicBool::new(false),
        };
        Ok(RedisQueue {
            inner: Arc::new(inner),
        })
    }

    /// See [`super::WebhookQueue::accept`]; answers once Redis replied to the append.
    pub async fn accept(&self, body: Bytes, signature: String) -> Result<Accepted, QueueError> {
        let inner = &self.inner;
        if body.len() > frame::MAX_BODY_LEN || body.len() as u64 > inner.max_bytes {
            let max = inner.max_bytes.min(frame::MAX_BODY_LEN as u64);
            let len = body.len();
            return Err(QueueError::TooLarge { len, max });
        }
        let seen = inner.keys.seen(&frame::body_digest(&body));
        let (stream, head, cursors) = (inner.keys.stream(), inner.keys.head(), inner.cursor_keys());
        let window_secs = inner.dedupe_window.as_secs().max(1);
        let (script, max_bytes) = (&inner.scripts.accept, inner.max_bytes);
        let received_at_unix = chrono::Utc::now().timestamp();
        let values: Vec<i64> = inner
            .conn
            .run(|mut conn| async move {
                let mut call = script.key(stream);
                call.key(head).key(seen).key(cursors);
                call.arg(body.as_ref()).arg(signature).arg(received_at_unix);
                call.arg(max_bytes).arg(window_secs);
                call.invoke_async(&mut conn).await
            })
            .await
            .map_err(from_coord)?;
        let reply = Reply::parse(values)?;
        inner.remember(&reply);
        match reply.outcome {
            OUTCOME_DONE => Ok(Accepted::Queued { seq: reply.seq }),
            OUTCOME_DUPLICATE => Ok(Accepted::Duplicate { seq: reply.seq }),
            OUTCOME_FULL => Err(QueueError::Full { max_bytes }),
            other => Err(backend(&format!("the accept script answered {other}"))),
        }
    }

    /// Starts asking for `destination`'s forwarding lease; see [`super::ForwardingClaim`].
    pub fn claim(&self, destination: &str) -> DestinationLease {
        DestinationLease::start(&self.inner, destination)
    }

    /// The next body after `destination`'s cursor, once this member holds its lease.
    pub async fn next(&self, destination: &str) -> Result<QueuedWebhook, QueueError> {
        let claim = self.claim_of(destination)?;
        let mut held_rx = claim.held.clone();
        loop {
            let held = held_rx
                .wait_for(Option::is_some)
                .await
                .map_err(|_| QueueError::LeaseLost(destination.to_string()))?
                .clone();
            let Some(held) = held else { continue };
            let after = self.position(destination, &claim, &held).await?;
            let read = tokio::select! {
                read = self.read_after(&claim, after) => read?,
                // Lost (or taken again): the position is read anew under the new holding.
                _ = held_rx.changed() => continue,
            };
            let Some((seq, fields)) = read else { continue };
            match entry(seq, fields) {
                Some(webhook) => return Ok(webhook),
                None => {
                    tracing::error!(
                        destination,
                        seq,
                        "webhook queue: stream entry {seq}-0 is not a webhook tokentop stored (a field is missing); skipped"
                    );
                    self.ack(destination, seq).await?;
                }
            }
        }
    }

    fn claim_of(&self, destination: &str) -> Result<Claim, QueueError> {
        let claims = self.inner.claims();
        claims.get(destination).cloned().ok_or_else(|| {
            QueueError::UnknownDestination(format!(
                "{destination} (not claimed: only its forwarder reads it)"
            ))
        })
    }

    /// The seq `destination` acknowledged last: this member's own ack under the current
    /// holding, else the cursor in Redis (another member may have moved it).
    async fn position(
        &self,
        destination: &str,
        claim: &Claim,
        held: &Held,
    ) -> Result<u64, QueueError> {
        if let Some(seq) = claim.acked_under(held.generation) {
            return Ok(seq);
        }
        let index = self.index_of(destination)?;
        let reply = self.inner.read_state().await?;
        let seq = reply.cursors.get(index).map_or(0, |(seq, _)| *seq);
        claim.set_acked(held.generation, seq);
        Ok(seq)
    }

    fn index_of(&self, destination: &str) -> Result<usize, QueueError> {
        let destinations = &self.inner.destinations;
        destinations
            .iter()
            .position(|d| d == destination)
            .ok_or_else(|| QueueError::UnknownDestination(destination.to_string()))
    }

    /// XREAD BLOCK after `after` on the destination's own connection: the first entry, or
    /// `None` when none came within [`READ_BLOCK`].
    async fn read_after(&self, claim: &Claim, after: u64) -> Result<Option<Entry>, QueueError> {
        let mut slot = claim.reader.lock().await;
        let mut conn = match slot.take() {
            Some(conn) => conn,
            None => blocking_connection(&self.inner, READ_BLOCK).await?,
        };
        let block_ms = u64::try_from(READ_BLOCK.as_millis()).unwrap_or(u64::MAX);
        let read: Result<Option<StreamReply>, RedisError> = redis::cmd("XREAD")
            .arg("COUNT")
            .arg(1)
            .arg("BLOCK")
            .arg(block_ms)
            .arg("STREAMS")
            .arg(self.inner.keys.stream())
            .arg(format!("{after}-0"))
            .query_async(&mut conn)
            .await;
        let read = read.map_err(|err| queue_error(&self.inner.conn, &err))?;
        self.inner.conn.mark_up();
        *slot = Some(conn);
        let Some((id, fields)) = read.into_iter().flatten().flat_map(|(_, e)| e).next() else {
            return Ok(None);
        };
        let seq = id.split('-').next().and_then(|ms| ms.parse().ok());
        let seq = seq.ok_or_else(|| backend(&format!("stream entry id {id:?} is not <seq>-0")))?;
        Ok(Some((seq, fields)))
    }

    /// `destination` has `seq` and everything before it; refused once another member holds
    /// the destination's lease.
    pub async fn ack(&self, destination: &str, seq: u64) -> Result<(), QueueError> {
        let claim = self.claim_of(destination)?;
        let held = claim.held.borrow().clone();
        let Some(held) = held else {
            return Err(QueueError::LeaseLost(destination.to_string()));
        };
        let inner = &self.inner;
        let (stream, head, lease) = (
            inner.keys.stream(),
            inner.keys.head(),
            inner.keys.lease(destination),
        );
        let (cursor, cursors) = (inner.keys.cursor(destination), inner.cursor_keys());
        let (script, value) = (&inner.scripts.ack, held.value.as_str());
        let values: Vec<i64> = inner
            .conn
            .run(|mut conn| async move {
                let mut call = script.key(stream);
                call.key(head).key(lease).key(cursor).key(cursors);
                call.arg(value).arg(seq).invoke_async(&mut conn).await
            })
            .await
            .map_err(from_coord)?;
        let reply = Reply::parse(values)?;
        inner.remember(&reply);
        match reply.outcome {
            OUTCOME_DONE => {}
            OUTCOME_REFUSED => return Err(QueueError::LeaseLost(destination.to_string())),
            other => return Err(backend(&format!("the ack script answered {other}"))),
        }
        claim.set_acked(held.generation, seq);
        Ok(())
    }

    /// Per destination: entries and body bytes after its cursor, as last seen.
    pub fn depth(&self) -> Vec<DestinationDepth> {
        self.refresh_if_stale();
        let snapshot = self.inner.snapshot.lock();
        snapshot
            .unwrap_or_else(PoisonError::into_inner)
            .depth
            .clone()
    }

    pub fn fill_ratio(&self) -> f64 {
        self.refresh_if_stale();
        let snapshot = self.inner.snapshot.lock();
        snapshot.unwrap_or_else(PoisonError::into_inner).fill
    }

    /// Reads the state again in the background when the last reply is old (other members
    /// accept and acknowledge too); one read at a time.
    fn refresh_if_stale(&self) {
        let at = (self.inner.snapshot.lock())
            .unwrap_or_else(PoisonError::into_inner)
            .at;
        if at.is_some_and(|at| at.elapsed() < SNAPSHOT_FRESH) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self.inner.refreshing.swap(true, Ordering::AcqRel) {
            return;
        }
        let inner = self.inner.clone();
        runtime.spawn(async move {
            let _ = inner.read_state().await;
            inner.refreshing.store(false, Ordering::Release);
        });
    }
}
