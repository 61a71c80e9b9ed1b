//! The durable webhook queue: bodies appended to segment files and fsynced before Meta's 200,
//! read back in order by one cursor per destination, each body acknowledged by every
//! destination before its segment is deleted.
//!
//! Durability: [`WebhookQueue::accept`] answers only once its record is written and fsynced
//! ([`writer`]: one write and one fsync per batch of concurrent callers). Records are framed
//! and checked ([`frame`]); at open a torn last record is cut off with a warning, and a corrupt
//! stretch anywhere is skipped with an error naming the file and offset, the records after it
//! still served. Positions are persisted every 200 ms ([`cursors`]), so after a crash a
//! destination gets again at most the bodies it was sent since: delivery is at least once.
//! Meta's retries are recognised by the SHA-256 of the body ([`dedupe`]), also after a restart.

mod cursors;
mod dedupe;
pub mod frame;
mod open;
mod segment;
mod spare;
mod state;
mod writer;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{Notify, mpsc, oneshot, watch};

use self::open::{Opened, open_blocking};
use self::state::State;

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

/// A handle on the queue; clones share it. The last one dropped stops the writer (after its
/// batch) and saves the destinations' positions.
#[derive(Clone)]
pub struct WebhookQueue {
    inner: Arc<Inner>,
}

struct Inner {
    core: Arc<Core>,
    appends: Option<mpsc::Sender<writer::Append>>,
    writer: Option<std::thread::JoinHandle<()>>,
    /// Dropped with the queue: tells the cursor saver to stop.
    _closed: watch::Sender<()>,
}

/// What the handle, the writer thread and the cursor saver share.
struct Core {
    dir: PathBuf,
    max_bytes: u64,
    state: Mutex<State>,
    /// The last seq on disk: readers wait on it, never read past it.
    durable: watch::Sender<u64>,
    save_wanted: Notify,
    /// Saves in order: an older snapshot never replaces a newer one.
    save_lock: Mutex<()>,
}

impl Core {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while the lock was held leaves plain numbers behind, still usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes the destinations' positions if they changed since the last save.
    fn save_cursors(&self) {
        let _order = self
            .save_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let Some(acked) = self.state().take_dirty_positions() else {
            return;
        };
        if let Err(err) = cursors::save(&self.dir, &acked) {
            tracing::warn!(error = %err, "webhook queue: could not save the destinations' positions; retrying at the next acknowledgement");
            self.state().mark_dirty();
        }
    }

    /// Takes the segments every destination has passed out of the bookkeeping; their files
    /// are for [`remove_segments`] to delete, off the writer's and the runtime's threads.
    fn release_passed_segments(&self) -> Vec<PathBuf> {
        let passed = self.state().release_passed_segments();
        passed
            .into_iter()
            .map(|first| segment::path(&self.dir, first))
            .collect()
    }
}

/// Deletes delivered segment files (an unlink can take a while on a disk mounted `discard`).
fn remove_segments(paths: Vec<PathBuf>) {
    for path in paths {
        if let Err(err) = std::fs::remove_file(&path) {
            tracing::warn!(file = %path.display(), error = %err, "webhook queue: could not delete a delivered segment");
        }
    }
}

impl WebhookQueue {
    /// Opens (or creates) the queue in `options.dir`: recovers the last segment, loads the
    /// digests and the destinations' positions, and starts the writer thread.
    pub async fn open(options: QueueOptions) -> Result<WebhookQueue, QueueError> {
        tokio::task::spawn_blocking(move || open_blocking(options))
            .await
            .map_err(|err| QueueError::Io {
                path: PathBuf::new(),
                source: std::io::Error::other(err.to_string()),
            })?
            .map(WebhookQueue::start)
    }

    fn start(opened: Opened) -> WebhookQueue {
        let (appends, receiver) = mpsc::channel(APPEND_CHANNEL);
        let writer = writer::spawn(opened.writer, receiver);
        let (closed, closed_rx) = watch::channel(());
        tokio::spawn(save_cursors_when_asked(
            Arc::downgrade(&opened.core),
            closed_rx,
        ));
        WebhookQueue {
            inner: Arc::new(Inner {
                core: opened.core,
                appends: Some(appends),
                writer,
                _closed: closed,
            }),
        }
    }

    /// Stores `body` with Meta's `signature`, answering once it is on disk (fsynced). A body
    /// byte-identical to one accepted within the dedupe window is `Duplicate` and not stored.
    pub async fn accept(&self, body: Bytes, signature: String) -> Result<Accepted, QueueError> {
        let valid = !signature.is_empty()
            && signature.len() <= frame::MAX_SIGNATURE_LEN
            && signature.bytes().all(|b| b.is_ascii_graphic());
        if !valid {
            return Err(QueueError::InvalidSignature);
        }
        if body.len() > frame::MAX_BODY_LEN || body.len() as u64 > self.inner.core.max_bytes {
            let max = self.inner.core.max_bytes.min(frame::MAX_BODY_LEN as u64);
            return Err(QueueError::TooLarge {
                len: body.len(),
                max,
            });
        }
        let received_at_unix = chrono::Utc::now().timestamp();
        let digest = frame::body_digest(&body);
        let header = frame::Header {
            seq: 0,
            received_at_unix,
            body_len: body.len() as u32,
            sig_len: signature.len() as u16,
            digest,
        };
        let record = frame::encode_with_digest(&header, signature.as_bytes(), &body);
        let (reply, answer) = oneshot::channel();
        let append = writer::Append {
            record,
            digest,
            received_at_unix,
            reply,
        };
        let appends = self.inner.appends.as_ref().ok_or(QueueError::Closed)?;
        appends.send(append).await.map_err(|_| QueueError::Closed)?;
        answer.await.map_err(|_| QueueError::Closed)?
    }

    /// The next body after `destination`'s position, waiting until there is one.
    pub async fn next(&self, destination: &str) -> Result<QueuedWebhook, QueueError> {
        let mut durable = self.inner.core.durable.subscribe();
        loop {
            if let Some(webhook) = self.try_next(destination).await? {
                return Ok(webhook);
            }
            // The sender lives in `core`, which this handle keeps alive.
            let _ = durable.changed().await;
        }
    }

    async fn try_next(&self, destination: &str) -> Result<Option<QueuedWebhook>, QueueError> {
        loop {
            let Some((first_seq, offset, len)) =
                self.inner.core.state().read_position(destination)?
            else {
                return Ok(None);
            };
            let path = segment::path(&self.inner.core.dir, first_seq);
            let found = tokio::task::spawn_blocking(move || segment::read_at(&path, offset, len))
                .await
                .map_err(|err| QueueError::Io {
                    path: segment::path(&self.inner.core.dir, first_seq),
                    source: std::io::Error::other(err.to_string()),
                })??;
            let mut state = self.inner.core.state();
            match found {
                segment::Found::Record(webhook, next_offset) => {
                    state.hand_out(destination, first_seq, offset, webhook.seq, next_offset);
                    return Ok(Some(webhook));
                }
                segment::Found::Corrupt { to } => state.skip(destination, first_seq, offset, to),
                segment::Found::Missing => state.skip(destination, first_seq, offset, len),
            }
        }
    }

    /// `destination` has `seq` and everything before it. The position is saved within
    /// 200 ms; segments every destination has passed are deleted.
    pub async fn ack(&self, destination: &str, seq: u64) -> Result<(), QueueError> {
        let core = &self.inner.core;
        if !core.state().ack_handed_out(destination, seq)? {
            self.ack_by_search(destination, seq).await?;
        }
        core.save_wanted.notify_one();
        let passed = core.release_passed_segments();
        if !passed.is_empty() {
            tokio::task::spawn_blocking(move || remove_segments(passed));
        }
        Ok(())
    }

    /// An ack of a seq `next` did not just hand out: the records are scanned for it.
    async fn ack_by_search(&self, destination: &str, seq: u64) -> Result<(), QueueError> {
        let core = Arc::clone(&self.inner.core);
        let name = destination.to_string();
        tokio::task::spawn_blocking(move || {
            let segments = core.state().segments_from(&name)?;
            let position = state::locate_after(&core.dir, &segments, seq)?;
            core.state().set_acked(&name, seq, position);
            Ok(())
        })
        .await
        .map_err(|err| QueueError::Io {
            path: self.inner.core.dir.clone(),
            source: std::io::Error::other(err.to_string()),
        })?
    }

    /// Per destination: entries and bytes not yet acknowledged.
    pub fn depth(&self) -> Vec<DestinationDepth> {
        self.inner.core.state().depth()
    }

    /// Unacknowledged bytes of the furthest-behind destination over `max_bytes`.
    pub fn fill_ratio(&self) -> f64 {
        let core = &self.inner.core;
        core.state().max_unacked_bytes() as f64 / core.max_bytes.max(1) as f64
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The writer finishes its batch and exits once no sender is left.
        self.appends.take();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
        self.core.save_cursors();
    }
}

async fn save_cursors_when_asked(core: Weak<Core>, mut closed: watch::Receiver<()>) {
    loop {
        let Some(wanted) = core.upgrade() else { return };
        let notified = async move { wanted.save_wanted.notified().await };
        tokio::select! {
            () = notified => {}
            _ = closed.changed() => return,
        }
        tokio::select! {
            () = tokio::time::sleep(CURSOR_SAVE_DELAY) => {}
            _ = closed.changed() => return,
        }
        let Some(core) = core.upgrade() else { return };
        let _ = tokio::task::spawn_blocking(move || core.save_cursors()).await;
    }
}
