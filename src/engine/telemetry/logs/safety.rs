//! The safety net under change notification, shared by every followed file: one timer looks
//! at each notified file's metadata every [`SAFETY_POLL_INTERVAL`] and wakes only the
//! followers whose file changed since their last look.
//!
//! With a timer per follower, 20 idle files woke the daemon about 200 times a minute (the
//! timers drift apart), 6 ms of CPU. The shared poll runs on a thread of its own that sleeps
//! between looks: one wake per interval, one `stat` per file, and no task woken and nothing
//! sent while nothing changed. (A tokio timer 5 s away wakes the runtime three times, as the
//! timer wheel moves it down its levels.)

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, SystemTime};

use tokio::sync::{Notify, watch};
use tokio::time::{Instant, MissedTickBehavior};

use super::emit::stopped;

/// With notification: how often every followed path is looked at anyway (a missed event, a
/// symlink's target rotated in a directory nobody watches, a file system whose writes do not
/// notify but were not recognised as remote).
pub const SAFETY_POLL_INTERVAL: Duration = Duration::from_secs(5);

/// What a look at a path's metadata says: which file (device and inode), how long, when last
/// written; `None` when the path is missing or unreadable.
pub(crate) type Looked = Option<(Option<(u64, u64)>, u64, Option<SystemTime>)>;

/// Looks at what `path` names now (following a symlink).
pub(crate) fn look(path: &Path) -> Looked {
    // A plain `stat`, not a blocking-pool hop: notified paths are on local file systems
    // (remote ones are polled by their follower, not here).
    let meta = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let id = {
        use std::os::unix::fs::MetadataExt;
        Some((meta.dev(), meta.ino()))
    };
    #[cfg(not(unix))]
    let id = None;
    Some((id, meta.len(), meta.modified().ok()))
}

/// One follower's place in the shared safety poll.
#[derive(Debug)]
pub(crate) struct SafetySlot {
    path: PathBuf,
    /// What the follower saw at its last full look; `None` while it polls on its own (no
    /// notification), when the shared poll leaves it alone.
    seen: Mutex<Option<Looked>>,
    changed: Notify,
}

impl SafetySlot {
    pub(crate) fn new(path: &Path) -> Arc<Self> {
        Arc::new(Self {
            path: path.to_path_buf(),
            seen: Mutex::new(None),
            changed: Notify::new(),
        })
    }

    /// After a full look at the path: what it names now, for the shared poll to compare.
    pub(crate) fn record_look(&self) {
        let now = look(&self.path);
        *self.seen.lock().unwrap_or_else(PoisonError::into_inner) = Some(now);
    }

    /// The follower polls on its own now: the shared poll leaves this path alone.
    pub(crate) fn forget(&self) {
        *self.seen.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// Resolves once the shared poll found the path changed since the last recorded look (at
    /// once when it did so while nobody waited).
    pub(crate) async fn changed(&self) {
        self.changed.notified().await;
    }

    /// Wakes the follower when the path no longer looks as it did at its last full look.
    fn check(&self) {
        let seen = *self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(seen) = seen
            && look(&self.path) != seen
        {
            // One permit however many polls find it changed before the follower looks.
            self.changed.notify_one();
        }
    }
}

/// Starts the shared safety poll on a thread of its own, or as a task when no thread can be
/// had; it ends at shutdown (within an interval on the thread) or once every follower is gone.
pub(crate) fn start(slots: Vec<Weak<SafetySlot>>, shutdown: watch::Receiver<bool>) {
    let (for_thread, on_thread) = (slots.clone(), shutdown.clone());
    let spawned = std::thread::Builder::new()
        .name("tokentop-safety".to_string())
        .spawn(move || run_thread(&for_thread, &on_thread, SAFETY_POLL_INTERVAL));
    if spawned.is_err() {
        tokio::spawn(run(slots, shutdown));
    }
}

/// The shared safety poll, sleeping `interval` between looks.
fn run_thread(slots: &[Weak<SafetySlot>], shutdown: &watch::Receiver<bool>, interval: Duration) {
    loop {
        std::thread::sleep(interval);
        // A sender gone counts as shutdown, as in `stopped`.
        if *shutdown.borrow() || shutdown.has_changed().is_err() || !check_all(slots) {
            return;
        }
    }
}

/// The shared safety poll as a task: until shutdown, or until every follower is gone.
pub(crate) async fn run(slots: Vec<Weak<SafetySlot>>, mut shutdown: watch::Receiver<bool>) {
    let first = Instant::now() + SAFETY_POLL_INTERVAL;
    let mut ticks = tokio::time::interval_at(first, SAFETY_POLL_INTERVAL);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            () = stopped(&mut shutdown) => return,
        }
        if !check_all(&slots) {
            return;
        }
    }
}

/// Looks at every follower's path; `false` once every follower is gone.
fn check_all(slots: &[Weak<SafetySlot>]) -> bool {
    let mut followed = false;
    for slot in slots.iter().filter_map(Weak::upgrade) {
        followed = true;
        slot.check();
    }
    followed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn started(slot: &Arc<SafetySlot>) -> (tokio::task::JoinHandle<()>, watch::Sender<bool>) {
        let (stop, shutdown) = watch::channel(false);
        (
            tokio::spawn(run(vec![Arc::downgrade(slot)], shutdown)),
            stop,
        )
    }

    /// Whether the follower is woken within `polls` safety polls (the paused clock jumps to
    /// each tick: no real waiting).
    async fn woken_within(slot: &SafetySlot, polls: u32) -> bool {
        let wait = SAFETY_POLL_INTERVAL * polls + Duration::from_millis(1);
        tokio::time::timeout(wait, slot.changed()).await.is_ok()
    }

    #[tokio::test(start_paused = true)]
    async fn a_changed_file_wakes_its_follower_and_an_unchanged_one_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        std::fs::write(&path, "one\n").unwrap();
        let slot = SafetySlot::new(&path);
        let (_poll, _stop) = started(&slot);
        slot.record_look();
        assert!(!woken_within(&slot, 3).await, "woken for an unchanged file");

        std::fs::write(&path, "one\ntwo\n").unwrap();
        assert!(woken_within(&slot, 1).await, "a grown file was not noticed");
        // Until the follower looks again, it stays changed: woken again, not lost.
        assert!(woken_within(&slot, 1).await);
        slot.record_look();
        assert!(!woken_within(&slot, 2).await);

        std::fs::rename(&path, dir.path().join("app.log.1")).unwrap();
        assert!(woken_within(&slot, 1).await, "a rotation was not noticed");
        slot.record_look();
        assert!(
            !woken_within(&slot, 2).await,
            "woken for a file still missing"
        );
        std::fs::write(&path, "new\n").unwrap();
        assert!(woken_within(&slot, 1).await, "a new file was not noticed");
    }

    #[tokio::test(start_paused = true)]
    async fn a_follower_polling_on_its_own_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        let slot = SafetySlot::new(&path);
        let (_poll, _stop) = started(&slot);
        std::fs::write(&path, "one\n").unwrap();
        assert!(!woken_within(&slot, 2).await, "no look was recorded");
        slot.record_look();
        slot.forget();
        std::fs::write(&path, "one\ntwo\n").unwrap();
        assert!(!woken_within(&slot, 2).await, "woken after forget");
    }

    /// The thread's poll, with a short interval: a grown file wakes its follower, and the
    /// thread ends at shutdown.
    #[tokio::test]
    async fn the_thread_wakes_a_changed_file_and_ends_at_shutdown() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        std::fs::write(&path, "one\n").unwrap();
        let slot = SafetySlot::new(&path);
        slot.record_look();
        let (stop, shutdown) = watch::channel(false);
        let slots = vec![Arc::downgrade(&slot)];
        let thread = std::thread::spawn(move || {
            run_thread(&slots, &shutdown, Duration::from_millis(10));
        });
        std::fs::write(&path, "one\ntwo\n").unwrap();
        let deadline = Duration::from_secs(10);
        assert!(
            tokio::time::timeout(deadline, slot.changed()).await.is_ok(),
            "not woken"
        );
        stop.send(true).unwrap();
        tokio::task::spawn_blocking(move || thread.join())
            .await
            .unwrap()
            .unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn the_poll_ends_at_shutdown_and_when_every_follower_is_gone() {
        let slot = SafetySlot::new(Path::new("/nonexistent/app.log"));
        let (poll, stop) = started(&slot);
        stop.send(true).unwrap();
        poll.await.unwrap();

        let (poll, _stop) = started(&slot);
        drop(slot);
        tokio::time::timeout(SAFETY_POLL_INTERVAL * 2, poll)
            .await
            .expect("the poll outlived its followers")
            .unwrap();
    }
}
