//! The hand-off of stored bodies from the relay's POST handler to their one reader (statuses,
//! account events, templates), bounded in bytes so a reader that falls behind a flood cannot
//! grow memory with traffic.
//!
//! A body is already durable in the queue when it is handed over, so the forwarders have it
//! whatever happens here. While the reader is behind, a POST waits for room (at most
//! [`MAX_WAIT`], so Meta's 200 stays well inside its timeout); past that the body is forwarded
//! but not read, and counted (`tokentop_webhook_unread_total`) and logged, never silently.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

/// Bytes of bodies handed over and not yet read: a few seconds of the budget's 5,000 POSTs/s
/// of 100-status bodies, and sixteen of Meta's largest.
pub const MAX_PENDING_BYTES: u32 = 64 << 20;
/// How long a POST waits for the reader before the body goes unread.
pub const MAX_WAIT: Duration = Duration::from_secs(1);

/// One body handed over; the room it takes is given back when it is dropped.
pub struct StoredBody {
    pub body: Bytes,
    _room: OwnedSemaphorePermit,
}

/// The handler's side.
#[derive(Clone)]
pub struct StoredSender {
    bodies: mpsc::UnboundedSender<StoredBody>,
    room: Arc<Semaphore>,
    capacity: u32,
    max_wait: Duration,
    unread: Arc<UnreadCount>,
}

/// Bodies that went unread, and whether the last hand-off was one of them (to log the start
/// and the end of a stretch, not every body).
#[derive(Debug, Default)]
pub struct UnreadCount {
    total: AtomicU64,
    behind: AtomicBool,
}

impl UnreadCount {
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }
}

/// A channel bounded to `capacity` bytes; a POST waits at most `max_wait` for room.
pub fn channel(
    capacity: u32,
    max_wait: Duration,
) -> (StoredSender, mpsc::UnboundedReceiver<StoredBody>) {
    let (bodies, receiver) = mpsc::unbounded_channel();
    let sender = StoredSender {
        bodies,
        room: Arc::new(Semaphore::new(capacity as usize)),
        capacity,
        max_wait,
        unread: Arc::default(),
    };
    (sender, receiver)
}

impl StoredSender {
    /// Hands `body` to the reader, waiting for room; false when it goes unread (counted).
    pub async fn send(&self, body: Bytes) -> bool {
        // A body larger than the whole room takes all of it.
        let need = u32::try_from(body.len())
            .unwrap_or(u32::MAX)
            .clamp(1, self.capacity);
        let room = match self.room.clone().try_acquire_many_owned(need) {
            Ok(room) => Ok(room),
            Err(_) => {
                let wait = self.room.clone().acquire_many_owned(need);
                tokio::time::timeout(self.max_wait, wait)
                    .await
                    .map_err(|_| ())
                    .and_then(|acquired| acquired.map_err(|_| ()))
            }
        };
        let sent =
            room.is_ok_and(|room| self.bodies.send(StoredBody { body, _room: room }).is_ok());
        self.note(sent);
        sent
    }

    pub fn unread(&self) -> Arc<UnreadCount> {
        self.unread.clone()
    }

    fn note(&self, sent: bool) {
        if sent {
            if self.unread.behind.swap(false, Ordering::Relaxed) {
                tracing::info!("webhook bodies are read again (statuses, account events)");
            }
            return;
        }
        self.unread.total.fetch_add(1, Ordering::Relaxed);
        if !self.unread.behind.swap(true, Ordering::Relaxed) {
            tracing::error!(
                "webhook bodies arrive faster than they are read: they are still queued and forwarded, but their statuses and account events are not counted (tokentop_webhook_unread_total)"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_reader_that_falls_behind_bounds_the_bytes_held_and_counts_what_goes_unread() {
        let (sender, mut receiver) = channel(1_000, Duration::from_secs(1));
        assert!(sender.send(Bytes::from(vec![b'a'; 600])).await);
        assert!(sender.send(Bytes::from(vec![b'b'; 400])).await);
        // Full: this one waits a second (paused clock) for room that never comes.
        assert!(!sender.send(Bytes::from(vec![b'c'; 10])).await);
        assert_eq!(sender.unread().total(), 1);
        // Reading one gives its room back.
        let first = receiver.recv().await.unwrap();
        assert_eq!(first.body.len(), 600);
        drop(first);
        assert!(sender.send(Bytes::from(vec![b'd'; 500])).await);
        assert_eq!(sender.unread().total(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiting_body_goes_through_as_soon_as_the_reader_catches_up() {
        let (sender, mut receiver) = channel(100, Duration::from_secs(1));
        assert!(sender.send(Bytes::from(vec![b'a'; 100])).await);
        let waiting = tokio::spawn({
            let sender = sender.clone();
            async move { sender.send(Bytes::from_static(b"next")).await }
        });
        tokio::task::yield_now().await;
        drop(receiver.recv().await.unwrap());
        assert!(waiting.await.unwrap());
        assert_eq!(receiver.recv().await.unwrap().body.as_ref(), b"next");
        assert_eq!(sender.unread().total(), 0);
    }

    #[tokio::test]
    async fn a_body_larger_than_the_room_takes_all_of_it_instead_of_never_fitting() {
        let (sender, mut receiver) = channel(100, Duration::from_secs(1));
        assert!(sender.send(Bytes::from(vec![b'a'; 5_000])).await);
        assert_eq!(receiver.recv().await.unwrap().body.len(), 5_000);
    }
}
