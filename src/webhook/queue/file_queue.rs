//! The file backend of the webhook queue: segment files in the data dir, one writer thread
//! with group-commit fsync, positions saved every 200 ms (see the module docs of `queue`).

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use bytes::Bytes;
use tokio::sync::{Notify, mpsc, oneshot, watch};

use super::open::{Opened, open_blocking};
use super::state::{self, State};
use super::{
    APPEND_CHANNEL, Accepted, CURSOR_SAVE_DELAY, DestinationDepth, QueueError, QueueOptions,
    QueuedWebhook, cursors, frame, segment, writer,
};

/// A handle on the queue; clones share it. The last one dropped stops the writer (after its
/// batch) and saves the destinations' positions.
#[derive(Clone)]
pub struct FileQueue {
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
pub(super) struct Core {
    pub(super) dir: PathBuf,
    pub(super) max_bytes: u64,
    pub(super) state: Mutex<State>,
    /// The last seq on disk: readers wait on it, never read past it.
    pub(super) durable: watch::Sender<u64>,
    pub(super) save_wanted: Notify,
    /// Saves in order: an older snapshot never replaces a newer one.
    pub(super) save_lock: Mutex<()>,
}

impl Core {
    pub(super) fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while the lock was held leaves plain numbers behind, still usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes the destinations' positions if they changed since the last save.
    pub(super) fn save_cursors(&self) {
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
    pub(super) fn release_passed_segments(&self) -> Vec<PathBuf> {
        let passed = self.state().release_passed_segments();
        passed
            .into_iter()
            .map(|first| segment::path(&self.dir, first))
            .collect()
    }
}

/// Deletes delivered segment files (an unlink can take a while on a disk mounted `discard`).
pub(super) fn remove_segments(paths: Vec<PathBuf>) {
    for path in paths {
        if let Err(err) = std::fs::remove_file(&path) {
            tracing::warn!(file = %path.display(), error = %err, "webhook queue: could not delete a delivered segment");
        }
    }
}

impl FileQueue {
    /// Opens (or creates) the queue in `options.dir`: recovers the last segment, loads the
    /// digests and the destinations' positions, and starts the writer thread.
    pub async fn open(options: QueueOptions) -> Result<FileQueue, QueueError> {
        tokio::task::spawn_blocking(move || open_blocking(options))
            .await
            .map_err(|err| QueueError::Io {
                path: PathBuf::new(),
                source: std::io::Error::other(err.to_string()),
            })?
            .map(FileQueue::start)
    }

    fn start(opened: Opened) -> FileQueue {
        let (appends, receiver) = mpsc::channel(APPEND_CHANNEL);
        let writer = writer::spawn(opened.writer, receiver);
        let (closed, closed_rx) = watch::channel(());
        tokio::spawn(save_cursors_when_asked(
            Arc::downgrade(&opened.core),
            closed_rx,
        ));
        FileQueue {
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
