//! The durable webhook queue: on disk, bodies appended to segment files and fsynced before
//! Meta's 200, read back in order by one cursor per destination, each body acknowledged by
//! every destination before its segment is deleted; with `[cluster]`, a Redis stream the
//! members share ([`redis_queue`]). Both behind [`WebhookQueue`].
//!
//! Durability on disk: `accept` answers only once its record is written and fsynced
//! ([`writer`]: one write and one fsync per batch of concurrent callers). Records are framed
//! and checked ([`frame`]); at open a torn last record is cut off with a warning, and a corrupt
//! stretch anywhere is skipped with an error naming the file and offset, the records after it
//! still served. Positions are persisted every 200 ms ([`cursors`]), so after a crash a
//! destination gets again at most the bodies it was sent since: delivery is at least once.
//! Meta's retries are recognised by the SHA-256 of the body ([`dedupe`]), also after a restart.

mod cursors;
mod dedupe;
mod file_queue;
pub mod frame;
mod open;
mod redis_lease;
mod redis_queue;
mod redis_reply;
mod redis_scripts;
mod segment;
mod spare;
mod state;
mod writer;

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;

use self::file_queue::{Core, FileQueue, remove_segments};
use self::redis_queue::RedisQueue;

pub use self::redis_queue::RedisQueueOptions;
pub use self::state::DestinationDepth;

/// Meta retries a failed delivery for up to 7 days (REFERENCE.md 13.3).
pub const DEFAULT_DEDUPE_WINDOW: Duration = Duration::from_secs(7 * 24 * 3600);
pub const DEFAULT_DEDUPE_CAPACITY: usize = 100_000;
/// Largest segment file; smaller when `max_bytes` is small, so space is given back sooner.
pub const MAX_SEGMENT_BYTES: u64 = 16 << 20;
const CURSOR_SAVE_DELAY: Duration = Duration::from_millis(200);
/// Appends waiting for the writer; beyond it callers wait (the HTTP layer caps them anyway).
const APPEND_CHANNEL: usize = 4096;

/// Where the queue lives and how much it may hold.
#[derive(Debug, Clone)]
pub struct QueueOptions {
    /// Created 0700 when missing, e.g. `<data dir>/webhooks`.
    pub dir: PathBuf,
    /// `max-queue`: bytes of records not yet acknowledged by every destination.
    pub max_bytes: u64,
    /// Stable names. A new name starts at the queue's end; a removed one's cursor is dropped.
    pub destinations: Vec<String>,
    /// How many recent body digests are remembered.
    pub dedupe_capacity: usize,
    pub dedupe_window: Duration,
    /// A new segment file is started past this size.
    pub segment_bytes: u64,
}

impl QueueOptions {
    /// The defaults: a 7-day window of 100,000 digests, segments of `max_bytes / 16` between
    /// 1 and 16 MiB.
    pub fn new(dir: PathBuf, max_bytes: u64, destinations: Vec<String>) -> QueueOptions {
        QueueOptions {
            dir,
            max_bytes,
            destinations,
            dedupe_capacity: DEFAULT_DEDUPE_CAPACITY,
            dedupe_window: DEFAULT_DEDUPE_WINDOW,
            segment_bytes: (max_bytes / 16).clamp(1 << 20, MAX_SEGMENT_BYTES),
        }
    }
}

/// What `accept` did with a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    /// Stored durably as `seq`.
    Queued { seq: u64 },
    /// Byte-identical to `seq`, accepted within the dedupe window: not stored again.
    Duplicate { seq: u64 },
}

/// Why the queue could not do something. Never carries a body or a signature.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error(
        "the webhook queue is full: {max_bytes} bytes are waiting for a destination to acknowledge them (max-queue)"
    )]
    Full { max_bytes: u64 },
    #[error("webhook queue file {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("a webhook body of {len} bytes is over the queue's limit of {max} bytes")]
    TooLarge { len: usize, max: u64 },
    #[error("the X-Hub-Signature-256 value is not 1 to 1024 visible ASCII characters")]
    InvalidSignature,
    #[error("the webhook queue has no destination named {0:?}")]
    UnknownDestination(String),
    #[error(
        "the webhook queue's writer has stopped after a disk error (see the log); restart to reopen the queue"
    )]
    Closed,
    /// The cluster's Redis, which holds the queue, cannot be reached or will not serve now.
    #[error("the webhook queue's Redis is unreachable: {reason}")]
    Unavailable { reason: String },
    /// Redis answered, but not as the queue expects (a script error, a key of another type).
    #[error("the webhook queue's Redis refused: {reason}")]
    Backend { reason: String },
    /// Another member forwards to this destination now; this one stopped before acknowledging.
    #[error(
        "another cluster member took over forwarding to {0:?}: this member's acknowledgement was refused"
    )]
    LeaseLost(String),
}

/// A body read back for a destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedWebhook {
    pub seq: u64,
    /// The raw bytes Meta posted.
    pub body: Bytes,
    /// Meta's `X-Hub-Signature-256` value, unchanged.
    pub signature: String,
    pub received_at_unix: i64,
}

/// The queue the relay and its forwarders use: files in the data dir, or with `[cluster]` a
/// Redis stream the cluster's members share. Clones share the queue.
#[derive(Clone)]
pub struct WebhookQueue {
    backend: Backend,
}

#[derive(Clone)]
enum Backend {
    File(FileQueue),
    Redis(RedisQueue),
}

/// While it lives, this process may forward to its destination: with the file queue always;
/// with Redis once it holds the destination's lease (asked for, and renewed, in the
/// background; given back when this is dropped), so one member at a time forwards to a
/// destination and its order holds across hosts.
pub struct ForwardingClaim {
    _lease: Option<redis_lease::DestinationLease>,
}

impl WebhookQueue {
    /// Opens (or creates) the on-disk queue in `options.dir`: recovers the last segment, loads
    /// the digests and the destinations' positions, and starts the writer thread.
    pub async fn open(options: QueueOptions) -> Result<WebhookQueue, QueueError> {
        let file = FileQueue::open(options).await?;
        Ok(WebhookQueue {
            backend: Backend::File(file),
        })
    }

    /// The queue in the cluster's Redis. Connects on first use: a Redis that is down at start
    /// makes `accept` answer [`QueueError::Unavailable`] until it is back.
    pub fn open_redis(options: RedisQueueOptions) -> Result<WebhookQueue, QueueError> {
        Ok(WebhookQueue {
            backend: Backend::Redis(RedisQueue::open(options)?),
        })
    }

    /// Where the queue is, for the log: `data dir` or `Redis`.
    pub fn backend(&self) -> &'static str {
        match &self.backend {
            Backend::File(_) => "data dir",
            Backend::Redis(_) => "Redis",
        }
    }

    /// Stores `body` with Meta's `signature`, answering once it is durable (fsynced, or in
    /// Redis's reply to the append). A body byte-identical to one accepted within the dedupe
    /// window is `Duplicate` and not stored.
    pub async fn accept(&self, body: Bytes, signature: String) -> Result<Accepted, QueueError> {
        let valid = !signature.is_empty()
            && signature.len() <= frame::MAX_SIGNATURE_LEN
            && signature.bytes().all(|b| b.is_ascii_graphic());
        if !valid {
            return Err(QueueError::InvalidSignature);
        }
        match &self.backend {
            Backend::File(file) => file.accept(body, signature).await,
            Backend::Redis(redis) => redis.accept(body, signature).await,
        }
    }

    /// Forwarding to `destination` from this process: see [`ForwardingClaim`]. Held by the
    /// destination's forwarder for as long as it runs.
    pub fn claim(&self, destination: &str) -> ForwardingClaim {
        let lease = match &self.backend {
            Backend::File(_) => None,
            Backend::Redis(redis) => Some(redis.claim(destination)),
        };
        ForwardingClaim { _lease: lease }
    }

    /// The next body after `destination`'s position, waiting until there is one (and, with
    /// Redis, until this process holds the destination's lease).
    pub async fn next(&self, destination: &str) -> Result<QueuedWebhook, QueueError> {
        match &self.backend {
            Backend::File(file) => file.next(destination).await,
            Backend::Redis(redis) => redis.next(destination).await,
        }
    }

    /// `destination` has `seq` and everything before it.
    pub async fn ack(&self, destination: &str, seq: u64) -> Result<(), QueueError> {
        match &self.backend {
            Backend::File(file) => file.ack(destination, seq).await,
            Backend::Redis(redis) => redis.ack(destination, seq).await,
        }
    }

    /// Per destination: entries and bytes not yet acknowledged. With Redis, as of this
    /// member's last exchange with it (at most about a second old while read).
    pub fn depth(&self) -> Vec<DestinationDepth> {
        match &self.backend {
            Backend::File(file) => file.depth(),
            Backend::Redis(redis) => redis.depth(),
        }
    }

    /// Unacknowledged bytes of the furthest-behind destination over `max-queue`.
    pub fn fill_ratio(&self) -> f64 {
        match &self.backend {
            Backend::File(file) => file.fill_ratio(),
            Backend::Redis(redis) => redis.fill_ratio(),
        }
    }
}
