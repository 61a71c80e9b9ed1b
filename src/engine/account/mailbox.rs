//! An account actor's mailbox: an unbounded, many-senders one-receiver queue that costs about
//! a hundred bytes while empty.
//!
//! tokio's unbounded channel allocates a 512-byte channel and a first block of 32 message
//! slots (1 KB) with every channel: 15 MB of a 10,000-account daemon's heap for mailboxes that
//! are empty nearly always (issue 23). This one is a `VecDeque` behind a mutex and a `Notify`:
//! nothing is allocated until a message arrives, and the lock is held only to push or pop.
//! The behaviour is the channel's: `send` fails once the receiver is gone, `recv` returns
//! `None` once every sender is gone and the queue is empty, and `recv` is cancel-safe (a
//! message is taken from the queue only when `recv` returns it), so it can race a timer in
//! `select!`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

struct Queue<T> {
    messages: VecDeque<T>,
    senders: usize,
    receiver_gone: bool,
}

struct Shared<T> {
    queue: Mutex<Queue<T>>,
    /// Wakes the receiver: a message arrived, or the last sender left. `notify_one` keeps a
    /// permit when the receiver is not waiting, so a wake-up between its check and its wait
    /// is not lost.
    wake: Notify,
}

impl<T> Shared<T> {
    /// The queue; a panic while it was held cannot leave it inconsistent (every critical
    /// section is a single push, pop or counter update), so a poisoned lock is used as is.
    fn lock(&self) -> MutexGuard<'_, Queue<T>> {
        self.queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The sending side; cloned into every link to the account.
pub(crate) struct Mailbox<T> {
    shared: Arc<Shared<T>>,
}

/// The receiving side, owned by the account's task.
pub(crate) struct Inbox<T> {
    shared: Arc<Shared<T>>,
}

/// A new, empty mailbox and its inbox.
pub(crate) fn mailbox<T>() -> (Mailbox<T>, Inbox<T>) {
    let shared = Arc::new(Shared {
        queue: Mutex::new(Queue {
            messages: VecDeque::new(),
            senders: 1,
            receiver_gone: false,
        }),
        wake: Notify::new(),
    });
    (
        Mailbox {
            shared: shared.clone(),
        },
        Inbox { shared },
    )
}

impl<T> Mailbox<T> {
    /// Queues `message`, or gives it back when the receiver is gone (the account stopped).
    pub(crate) fn send(&self, message: T) -> Result<(), T> {
        {
            let mut queue = self.shared.lock();
            if queue.receiver_gone {
                return Err(message);
            }
            queue.messages.push_back(message);
        }
        self.shared.wake.notify_one();
        Ok(())
    }
}

impl<T> Clone for Mailbox<T> {
    fn clone(&self) -> Self {
        self.shared.lock().senders += 1;
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for Mailbox<T> {
    fn drop(&mut self) {
        let last = {
            let mut queue = self.shared.lock();
            queue.senders = queue.senders.saturating_sub(1);
            queue.senders == 0
        };
        if last {
            self.shared.wake.notify_one();
        }
    }
}

impl<T> Inbox<T> {
    /// The next message; `None` once every sender is gone and nothing is left to read.
    pub(crate) async fn recv(&mut self) -> Option<T> {
        loop {
            {
                let mut queue = self.shared.lock();
                if let Some(message) = queue.messages.pop_front() {
                    // A burst grew the queue: give its room back once it drained.
                    if queue.messages.is_empty() && queue.messages.capacity() > 8 {
                        queue.messages = VecDeque::new();
                    }
                    return Some(message);
                }
                if queue.senders == 0 {
                    return None;
                }
            }
            self.shared.wake.notified().await;
        }
    }
}

impl<T> Drop for Inbox<T> {
    /// Later sends fail, and queued messages are dropped here (a refresh request's reply
    /// channel closes, so its caller hears that the account stopped instead of waiting).
    fn drop(&mut self) {
        let left = {
            let mut queue = self.shared.lock();
            queue.receiver_gone = true;
            std::mem::take(&mut queue.messages)
        };
        drop(left);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn messages_arrive_in_order_from_every_sender() {
        let (tx, mut rx) = mailbox();
        let other = tx.clone();
        tx.send(1).unwrap();
        other.send(2).unwrap();
        tx.send(3).unwrap();
        assert_eq!(rx.recv().await, Some(1));
        assert_eq!(rx.recv().await, Some(2));
        assert_eq!(rx.recv().await, Some(3));
    }

    #[tokio::test]
    async fn a_waiting_receiver_is_woken_by_a_send() {
        let (tx, mut rx) = mailbox();
        let receiver = tokio::spawn(async move { rx.recv().await });
        tokio::task::yield_now().await;
        tx.send("hello").unwrap();
        assert_eq!(receiver.await.unwrap(), Some("hello"));
    }

    #[tokio::test]
    async fn recv_ends_when_the_last_sender_is_gone_and_the_queue_is_read() {
        let (tx, mut rx) = mailbox();
        let other = tx.clone();
        tx.send(7).unwrap();
        drop(tx);
        let receiver = tokio::spawn(async move {
            let first = rx.recv().await;
            let second = rx.recv().await;
            (first, second)
        });
        tokio::task::yield_now().await;
        drop(other);
        assert_eq!(receiver.await.unwrap(), (Some(7), None));
    }

    #[tokio::test]
    async fn send_fails_once_the_receiver_is_gone_and_queued_messages_are_dropped() {
        let (tx, rx) = mailbox();
        let (reply, answer) = tokio::sync::oneshot::channel::<()>();
        tx.send(Some(reply)).unwrap();
        drop(rx);
        // The queued message's reply channel was dropped with the inbox: its caller is told.
        assert!(answer.await.is_err());
        assert!(tx.send(None).is_err());
    }

    /// `recv` loses nothing when it loses a race: the actor selects it against its timer.
    #[tokio::test(start_paused = true)]
    async fn recv_is_cancel_safe() {
        let (tx, mut rx) = mailbox();
        for round in 0..3 {
            tokio::select! {
                _ = rx.recv() => panic!("nothing was sent yet"),
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
            tx.send(round).unwrap();
            assert_eq!(rx.recv().await, Some(round));
        }
    }

    #[tokio::test]
    async fn a_drained_burst_gives_its_room_back() {
        let (tx, mut rx) = mailbox();
        for i in 0..100 {
            tx.send(i).unwrap();
        }
        for i in 0..100 {
            assert_eq!(rx.recv().await, Some(i));
        }
        assert_eq!(rx.shared.lock().messages.capacity(), 0);
    }

    #[test]
    fn an_empty_mailbox_is_small() {
        let size = std::mem::size_of::<Shared<u64>>();
        assert!(size <= 128, "{size} bytes");
    }
}
