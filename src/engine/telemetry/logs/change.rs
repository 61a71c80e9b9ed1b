//! When a followed file may have changed: woken by the kernel's change notification (inotify
//! on the file's directory and on the file itself), the way `tail -F` does, with a slow poll
//! as the safety net. A follower that polled every 250 ms cost about 0.065% of a core per idle
//! file; one woken by inotify costs nothing until the file changes, and sees an appended line
//! at once instead of up to 250 ms later.
//!
//! The directory's watch sees the file created, renamed, deleted, truncated and written; the
//! file's own watch sees writes through a symlink into another directory; the shared safety
//! poll ([`super::safety`]) catches what both missed. Every follower's watches are in one
//! inotify instance for the whole process (`notifier.rs`), as `tail -F` has one for all its
//! files: an instance per file ran out at `fs.inotify.max_user_instances` (128). Where
//! notification cannot be had (no inotify, the directory does not exist yet, a network file
//! system whose remote writes never notify), the follower polls instead, and says so once for
//! NFS.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::emit::{Stop, sleep, stopped};
use super::safety::SafetySlot;

/// Without notification: how often the path is looked at.
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// How a follower learns that its file may have changed.
pub(crate) struct ChangeWatch {
    path: PathBuf,
    kernel: Option<kernel::Watch>,
    /// The shared safety poll's view of this path, while it is notified.
    safety: Arc<SafetySlot>,
    /// Why there is no notification, until it was said once (`None`: nothing worth saying).
    polling_because: Option<String>,
    /// Without a watch: whether notification may come later (the directory does not exist
    /// yet, or went away), so each poll tries again. Not on NFS or after an inotify error:
    /// those stay polled, and are said once.
    rearm: bool,
}

impl ChangeWatch {
    /// `safety` is this path's slot in the shared safety poll (see [`super::safety::run`]).
    pub(crate) fn new(path: &Path, safety: Arc<SafetySlot>) -> Self {
        let mut watch = Self {
            path: path.to_path_buf(),
            kernel: None,
            safety,
            polling_because: None,
            rearm: false,
        };
        watch.arm();
        watch
    }

    /// Why this file is polled rather than notified, to be told once; `None` when it is
    /// notified, or polled for a reason not worth a line (its directory does not exist yet).
    pub(crate) fn take_polling_reason(&mut self) -> Option<String> {
        self.polling_because.take()
    }

    /// Waits until the file may have changed; `Err` on shutdown. Notified, it wakes on a
    /// notification or when the shared safety poll found the path changed, and not otherwise.
    pub(crate) async fn wait(&mut self, shutdown: &mut watch::Receiver<bool>) -> Result<(), Stop> {
        let Some(kernel) = self.kernel.as_mut() else {
            sleep(POLL_INTERVAL, shutdown).await?;
            if self.rearm {
                self.arm();
            }
            return Ok(());
        };
        let woke = tokio::select! {
            () = self.safety.changed() => Ok(()),
            () = stopped(shutdown) => return Err(Stop),
            relevant = kernel.next_change() => relevant,
        };
        if woke.is_err() {
            // The notification broke (the directory itself went away, or the shared reader
            // stopped): poll, and try again.
            self.kernel = None;
            self.safety.forget();
            self.rearm = true;
        }
        Ok(())
    }

    /// After a full look at the path: watch the file it names now (a rotation replaced it),
    /// and leave the shared safety poll what the path looks like now.
    pub(crate) fn looked(&mut self) {
        if let Some(kernel) = self.kernel.as_mut() {
            kernel.rewatch_file(&self.path);
            self.safety.record_look();
        } else {
            self.safety.forget();
        }
    }

    fn arm(&mut self) {
        self.rearm = false;
        let dir = match self.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if let Some(fs) = kernel::network_fs(&dir) {
            self.polling_because = Some(format!(
                "{} is on {fs}, where writes from other hosts send no change notification: \
                 polling it every {} ms",
                self.path.display(),
                POLL_INTERVAL.as_millis()
            ));
            return;
        }
        match kernel::Watch::new(&dir, &self.path) {
            Ok(watch) => self.kernel = Some(watch),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => self.rearm = true,
            Err(err) => {
                self.polling_because = Some(format!(
                    "no change notification for {} ({err}): polling it every {} ms",
                    self.path.display(),
                    POLL_INTERVAL.as_millis()
                ));
            }
        }
    }
}

#[cfg(target_os = "linux")]
mod kernel {
    use std::path::Path;

    /// Names of network file systems, by `statfs` magic number: remote writes to them are not
    /// seen by inotify.
    pub(super) fn network_fs(dir: &Path) -> Option<&'static str> {
        let stat = rustix::fs::statfs(dir).ok()?;
        match stat.f_type as u64 {
            0x6969 => Some("NFS"),
            0xff53_4d42 | 0xfe53_4d42 => Some("SMB/CIFS"),
            0x6573_5546 => Some("a FUSE file system"),
            _ => None,
        }
    }

    /// A follower's watches in the process's one inotify instance.
    pub(super) use super::super::notifier::Watch;
}

#[cfg(not(target_os = "linux"))]
mod kernel {
    use std::path::Path;

    pub(super) fn network_fs(_dir: &Path) -> Option<&'static str> {
        None
    }

    /// No change notification here: every follower polls.
    pub(super) struct Watch;

    impl Watch {
        pub(super) fn new(_dir: &Path, _path: &Path) -> std::io::Result<Self> {
            Err(std::io::Error::other("this platform has no inotify"))
        }
        pub(super) fn rewatch_file(&mut self, _path: &Path) {}
        pub(super) async fn next_change(&mut self) -> Result<(), ()> {
            Err(())
        }
    }
}

#[cfg(test)]
#[cfg(target_os = "linux")]
mod tests {
    use std::io::Write;

    use super::*;

    /// How long a test waits for a notification before failing (no safety poll runs here:
    /// only a notification can end the wait).
    const DEADLINE: Duration = Duration::from_secs(10);

    /// Panics unless `change` wakes a watch on `path`.
    async fn woken_by(path: &Path, what: &str, change: impl FnOnce()) {
        let mut watch = ChangeWatch::new(path, SafetySlot::new(path));
        assert!(
            watch.kernel.is_some(),
            "no inotify watch for {}",
            path.display()
        );
        assert!(watch.take_polling_reason().is_none());
        let (_stop, mut shutdown) = watch::channel(false);
        let waiting = tokio::spawn(async move { watch.wait(&mut shutdown).await });
        // The watch is armed before `wait` is first polled: the change cannot be missed.
        change();
        let woke = tokio::time::timeout(DEADLINE, waiting).await;
        assert!(matches!(woke, Ok(Ok(Ok(())))), "{what}: not woken");
    }

    #[tokio::test]
    async fn appends_creation_rename_and_writes_through_a_symlink_wake_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        std::fs::write(&path, "one\n").unwrap();
        woken_by(&path, "append", || {
            let mut file = std::fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .unwrap();
            file.write_all(b"two\n").unwrap();
        })
        .await;

        std::fs::remove_file(&path).unwrap();
        woken_by(&path, "creation", || {
            std::fs::write(&path, "new\n").unwrap()
        })
        .await;

        woken_by(&path, "rename", || {
            std::fs::rename(&path, dir.path().join("app.log.1")).unwrap();
        })
        .await;

        // A symlink into another directory: its writes touch no entry of this directory.
        let elsewhere = tempfile::tempdir().unwrap();
        let target = elsewhere.path().join("real.log");
        std::fs::write(&target, "x\n").unwrap();
        std::os::unix::fs::symlink(&target, &path).unwrap();
        woken_by(&path, "write through a symlink", || {
            let mut file = std::fs::OpenOptions::new()
                .append(true)
                .open(&target)
                .unwrap();
            file.write_all(b"y\n").unwrap();
        })
        .await;
    }

    /// A symlink to a file in another directory that does not exist yet: nothing this watch
    /// can see happens when it is created; the shared safety poll wakes the follower.
    #[tokio::test(start_paused = true)]
    async fn what_no_watch_sees_the_shared_safety_poll_wakes() {
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        let target = elsewhere.path().join("real.log");
        let path = dir.path().join("app.log");
        std::os::unix::fs::symlink(&target, &path).unwrap();
        let slot = SafetySlot::new(&path);
        let mut watch = ChangeWatch::new(&path, slot.clone());
        assert!(watch.kernel.is_some());
        watch.looked();
        let (_stop, shutdown) = watch::channel(false);
        tokio::spawn(super::super::safety::run(
            vec![Arc::downgrade(&slot)],
            shutdown.clone(),
        ));
        std::fs::write(&target, "x\n").unwrap();
        let mut shutdown = shutdown;
        let woke = tokio::time::timeout(
            super::super::safety::SAFETY_POLL_INTERVAL * 2,
            watch.wait(&mut shutdown),
        )
        .await;
        assert_eq!(woke, Ok(Ok(())), "not woken by the safety poll");
    }

    #[tokio::test]
    async fn a_directory_created_later_gets_its_watch_at_the_next_poll() {
        let dir = tempfile::tempdir().unwrap();
        let later = dir.path().join("later");
        let path = later.join("app.log");
        let mut watch = ChangeWatch::new(&path, SafetySlot::new(&path));
        assert!(watch.kernel.is_none());
        assert!(
            watch.take_polling_reason().is_none(),
            "a missing directory is no news"
        );
        let (_stop, mut shutdown) = watch::channel(false);
        assert_eq!(watch.wait(&mut shutdown).await.ok(), Some(()));
        assert!(watch.kernel.is_none());
        std::fs::create_dir(&later).unwrap();
        assert_eq!(watch.wait(&mut shutdown).await.ok(), Some(()));
        assert!(watch.kernel.is_some(), "no watch once the directory exists");
        assert!(watch.take_polling_reason().is_none());
    }

    #[tokio::test]
    async fn other_files_in_the_directory_do_not_end_the_wait() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        std::fs::write(&path, "one\n").unwrap();
        let mut watch = ChangeWatch::new(&path, SafetySlot::new(&path));
        let (_stop, mut shutdown) = watch::channel(false);
        std::fs::write(dir.path().join("other.log"), "noise\n").unwrap();
        let waited =
            tokio::time::timeout(Duration::from_millis(300), watch.wait(&mut shutdown)).await;
        assert!(waited.is_err(), "woken by another file's write");
    }
}
