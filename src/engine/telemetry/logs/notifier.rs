//! One inotify instance for every followed file of the process, as `tail -F` has one.
//!
//! Watches are shared by reference count, and a reader thread dispatches each event by watch
//! descriptor to the followers that registered it. An instance per followed file ran into
//! `fs.inotify.max_user_instances` (128 by default, shared with every other program of the
//! user): past it, followers fell back to polling. Now the first follower creates the
//! instance and a reader thread blocked on its fd (no timer, no wake while nothing changes);
//! the thread ends, and the fd is closed, once no watch is left. A thread rather than a tokio
//! task: the instance is shared by every runtime of the process, and a task and its fd
//! registration would die with the runtime that started them.
//!
//! The kernel gives one watch descriptor per watched inode and instance: adding a path already
//! watched returns the same descriptor and replaces its mask. So followers in one directory
//! share its descriptor, followers of one file share the file's, and a descriptor is removed
//! only when its last user lets it go (a rotation re-watching one follower's file must not
//! take the watch from another follower of the old file).

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use inotify::{Event, EventMask, Inotify, WatchDescriptor, WatchMask, Watches};
use tokio::sync::Notify;

/// Events read at once; the kernel queues the rest.
const EVENT_BUFFER_BYTES: usize = 4096;

/// The instance new followers register with; `None` while nothing is watched.
static SHARED: Mutex<Option<Arc<Instance>>> = Mutex::new(None);

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn dir_mask() -> WatchMask {
    WatchMask::MODIFY
        | WatchMask::ATTRIB
        | WatchMask::CREATE
        | WatchMask::DELETE
        | WatchMask::MOVED_FROM
        | WatchMask::MOVED_TO
        | WatchMask::DELETE_SELF
        | WatchMask::MOVE_SELF
}

/// Added to whatever mask the inode has already: were it some follower's directory too (a
/// symlink to a directory followed as a file), replacing the mask would blind that follower.
fn file_mask() -> WatchMask {
    WatchMask::MODIFY
        | WatchMask::ATTRIB
        | WatchMask::DELETE_SELF
        | WatchMask::MOVE_SELF
        | WatchMask::MASK_ADD
}

/// One follower's wake: a change stores one permit until the follower next waits, so nothing
/// that arrives while it reads is lost.
#[derive(Default)]
struct Wake {
    notify: Notify,
    /// Its directory's watch is gone, or the reader stopped: the follower must poll.
    broken: AtomicBool,
}

impl Wake {
    fn wake(&self) {
        self.notify.notify_one();
    }

    fn break_off(&self) {
        self.broken.store(true, Ordering::Release);
        self.notify.notify_one();
    }

    fn is_broken(&self) -> bool {
        self.broken.load(Ordering::Acquire)
    }
}

struct Instance {
    registry: Mutex<Registry>,
    /// The inotify fd, for tests to read its watches from `/proc/self/fdinfo`.
    #[cfg(test)]
    fd: i32,
}

/// What the instance watches and for whom. Locked after [`SHARED`], never before it.
struct Registry {
    watches: Watches,
    /// The reader stopped: nothing is delivered and nothing more is watched.
    broken: bool,
    next_id: u64,
    followers: HashMap<u64, Follower>,
    /// By watch descriptor number: who uses it.
    by_wd: HashMap<i32, Users>,
}

struct Follower {
    /// The file's name in its directory (empty when the path has none).
    name: OsString,
    wake: Arc<Wake>,
    dir: Option<i32>,
    file: Option<i32>,
}

/// The users of one watch descriptor; it is removed when both lists are empty.
struct Users {
    wd: WatchDescriptor,
    /// Followers whose directory this is, by their file's name.
    as_dir: HashMap<OsString, Vec<u64>>,
    /// Followers whose file this is.
    as_file: Vec<u64>,
}

/// How a follower uses a watch descriptor.
enum Use<'a> {
    Dir(&'a OsStr),
    File,
}

impl Registry {
    fn new(watches: Watches) -> Self {
        Self {
            watches,
            broken: false,
            next_id: 0,
            followers: HashMap::new(),
            by_wd: HashMap::new(),
        }
    }

    /// Watches `dir` and the file `path` names for a new follower; an error (no directory,
    /// too many watches) registers nothing.
    fn register(&mut self, dir: &Path, path: &Path, wake: Arc<Wake>) -> io::Result<u64> {
        let dir_wd = self.watches.add(dir, dir_mask())?;
        let name = path.file_name().unwrap_or_default().to_os_string();
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        let dir_id = self.hold(dir_wd, id, &Use::Dir(&name));
        self.followers.insert(
            id,
            Follower {
                name,
                wake,
                dir: Some(dir_id),
                file: None,
            },
        );
        self.rewatch_file(id, path);
        Ok(id)
    }

    /// Watches the file `path` names now for follower `id` (a missing file is seen by the
    /// directory's watch when it appears), and lets go of the one it watched before.
    fn rewatch_file(&mut self, id: u64, path: &Path) {
        let Some(old) = self.followers.get(&id).map(|f| f.file) else {
            return;
        };
        let now = self.watches.add(path, file_mask()).ok();
        let now_id = now.as_ref().map(WatchDescriptor::get_watch_descriptor_id);
        if now_id == old {
            return;
        }
        if let Some(wd) = now {
            self.hold(wd, id, &Use::File);
        }
        if let Some(old) = old {
            self.release(old, id, &Use::File);
        }
        if let Some(follower) = self.followers.get_mut(&id) {
            follower.file = now_id;
        }
    }

    /// Lets go of every watch of follower `id`.
    fn deregister(&mut self, id: u64) {
        let Some(follower) = self.followers.remove(&id) else {
            return;
        };
        if let Some(dir) = follower.dir {
            self.release(dir, id, &Use::Dir(&follower.name));
        }
        if let Some(file) = follower.file {
            self.release(file, id, &Use::File);
        }
    }

    /// Counts follower `id` among the users of `wd`; returns its number.
    fn hold(&mut self, wd: WatchDescriptor, id: u64, how: &Use<'_>) -> i32 {
        let number = wd.get_watch_descriptor_id();
        let users = self.by_wd.entry(number).or_insert_with(|| Users {
            wd,
            as_dir: HashMap::new(),
            as_file: Vec::new(),
        });
        match how {
            Use::Dir(name) => users
                .as_dir
                .entry(name.to_os_string())
                .or_default()
                .push(id),
            Use::File => users.as_file.push(id),
        }
        number
    }

    /// Takes follower `id` from the users of watch `number`, removing the watch when it was
    /// the last.
    fn release(&mut self, number: i32, id: u64, how: &Use<'_>) {
        let Some(users) = self.by_wd.get_mut(&number) else {
            return; // The kernel dropped it already (IN_IGNORED).
        };
        match how {
            Use::Dir(name) => {
                if let Some(ids) = users.as_dir.get_mut(*name) {
                    ids.retain(|&other| other != id);
                    if ids.is_empty() {
                        users.as_dir.remove(*name);
                    }
                }
            }
            Use::File => users.as_file.retain(|&other| other != id),
        }
        if users.as_dir.is_empty()
            && users.as_file.is_empty()
            && let Some(users) = self.by_wd.remove(&number)
        {
            // Fails only when the kernel dropped the watch already; its IN_IGNORED is queued.
            let _ = self.watches.remove(users.wd);
        }
    }

    /// Wakes the followers an event concerns: every one on a queue overflow (events were
    /// lost), the one whose name a directory event carries, every follower of a file on the
    /// file's own events; breaks off the followers of a directory that went away.
    fn dispatch(&mut self, event: &Event<&OsStr>) {
        if event.mask.contains(EventMask::Q_OVERFLOW) {
            self.followers.values().for_each(|f| f.wake.wake());
            return;
        }
        let number = event.wd.get_watch_descriptor_id();
        let Some(users) = self.by_wd.get(&number) else {
            return; // A watch let go of: its last events, and its IN_IGNORED.
        };
        let dir_gone = event
            .mask
            .intersects(EventMask::DELETE_SELF | EventMask::MOVE_SELF | EventMask::IGNORED);
        let wake = |id: &u64| self.followers.get(id).map(|f| &f.wake);
        if dir_gone {
            let of_dir = users.as_dir.values().flatten().filter_map(wake);
            of_dir.for_each(|wake| wake.break_off());
        } else if let Some(ids) = users.as_dir.get(event.name.unwrap_or_default()) {
            ids.iter().filter_map(wake).for_each(|wake| wake.wake());
        }
        users.as_file.iter().filter_map(wake).for_each(|w| w.wake());
        if event.mask.contains(EventMask::IGNORED) {
            self.forget_watch(number);
        }
    }

    /// The kernel dropped watch `number` (its inode is gone, or it was removed).
    fn forget_watch(&mut self, number: i32) {
        if self.by_wd.remove(&number).is_none() {
            return;
        }
        for follower in self.followers.values_mut() {
            if follower.dir == Some(number) {
                follower.dir = None;
            }
            if follower.file == Some(number) {
                follower.file = None;
            }
        }
    }
}

/// A follower's registration with the shared instance; dropping it lets go of its watches.
pub(crate) struct Watch {
    instance: Weak<Instance>,
    id: u64,
    wake: Arc<Wake>,
}

impl Watch {
    /// Watches `dir` and the file `path` names, in the shared instance (created, with its
    /// reader thread, when there is none).
    pub(crate) fn new(dir: &Path, path: &Path) -> io::Result<Self> {
        let wake = Arc::new(Wake::default());
        let mut shared = lock(&SHARED);
        if let Some(instance) = shared.as_ref() {
            let id = lock(&instance.registry).register(dir, path, wake.clone())?;
            return Ok(Self {
                instance: Arc::downgrade(instance),
                id,
                wake,
            });
        }
        let inotify = Inotify::init()?;
        let instance = Arc::new(Instance {
            registry: Mutex::new(Registry::new(inotify.watches())),
            #[cfg(test)]
            fd: std::os::fd::AsRawFd::as_raw_fd(&inotify),
        });
        // Registered before the reader starts: a reader with nothing watched would wait forever.
        let id = lock(&instance.registry).register(dir, path, wake.clone())?;
        let reader = instance.clone();
        std::thread::Builder::new()
            .name("tokentop-inotify".to_string())
            .spawn(move || read_events(inotify, &reader))?;
        *shared = Some(instance.clone());
        Ok(Self {
            instance: Arc::downgrade(&instance),
            id,
            wake,
        })
    }

    /// Watches the file the path names now (following a symlink), after a rotation.
    pub(crate) fn rewatch_file(&mut self, path: &Path) {
        if let Some(instance) = self.instance.upgrade() {
            let mut registry = lock(&instance.registry);
            if !registry.broken {
                registry.rewatch_file(self.id, path);
            }
        }
    }

    /// Resolves at the next change of the file (at once for one since the last call); `Err`
    /// when its directory went away or the reader stopped.
    pub(crate) async fn next_change(&mut self) -> Result<(), ()> {
        if !self.wake.is_broken() {
            self.wake.notify.notified().await;
        }
        if self.wake.is_broken() {
            Err(())
        } else {
            Ok(())
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        if let Some(instance) = self.instance.upgrade() {
            lock(&instance.registry).deregister(self.id);
        }
    }
}

/// The reader thread: dispatches events until no watch is left or reading fails.
fn read_events(mut inotify: Inotify, instance: &Arc<Instance>) {
    let mut buffer = vec![0u8; EVENT_BUFFER_BYTES];
    loop {
        match inotify.read_events_blocking(&mut buffer) {
            Ok(events) => {
                let mut registry = lock(&instance.registry);
                events.for_each(|event| registry.dispatch(&event));
                // The last watch's removal queues its IN_IGNORED: that read lands here.
                let idle = registry.by_wd.is_empty();
                drop(registry);
                if idle && retire(instance, false) {
                    return;
                }
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => {
                retire(instance, true);
                return;
            }
        }
    }
}

/// Takes the instance out of use, when nothing is watched any more or (`broken`) reading
/// failed: its followers are woken to poll, and new followers get a new instance. Returns
/// whether it did (a follower may have registered since the reader found nothing watched).
fn retire(instance: &Arc<Instance>, broken: bool) -> bool {
    let mut shared = lock(&SHARED);
    let mut registry = lock(&instance.registry);
    if !broken && !registry.by_wd.is_empty() {
        return false;
    }
    if shared.as_ref().is_some_and(|s| Arc::ptr_eq(s, instance)) {
        *shared = None;
    }
    registry.broken = true;
    registry.followers.values().for_each(|f| f.wake.break_off());
    true
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::io::Write;
    use std::os::unix::fs::MetadataExt;
    use std::path::PathBuf;
    use std::time::Duration;

    use futures_util::FutureExt;

    use super::*;

    /// How long a test waits for a wake before failing: only a bound, never a measure.
    const DEADLINE: Duration = Duration::from_secs(10);

    fn append(path: &Path) {
        let mut file = std::fs::OpenOptions::new().append(true).open(path).unwrap();
        file.write_all(b"more\n").unwrap();
    }

    fn watch(path: &Path) -> Watch {
        Watch::new(path.parent().unwrap(), path).unwrap()
    }

    fn inode(path: &Path) -> u64 {
        std::fs::metadata(path).unwrap().ino()
    }

    /// The inodes inotify fd `fd` of this process watches, from `/proc/self/fdinfo`.
    fn watched_inodes(fd: i32) -> HashSet<u64> {
        let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}")).unwrap();
        info.lines()
            .filter(|line| line.starts_with("inotify wd:"))
            .filter_map(|line| line.split(' ').find_map(|f| f.strip_prefix("ino:")))
            .map(|hex| u64::from_str_radix(hex, 16).unwrap())
            .collect()
    }

    /// This process's inotify fds (whatever else in the test binary holds some).
    fn inotify_fds() -> Vec<i32> {
        std::fs::read_dir("/proc/self/fd")
            .unwrap()
            .filter_map(|entry| {
                let entry = entry.ok()?;
                let link = std::fs::read_link(entry.path()).ok()?;
                (link.as_os_str() == "anon_inode:inotify")
                    .then(|| entry.file_name().to_str()?.parse().ok())?
            })
            .collect()
    }

    fn fd_of(watch: &Watch) -> i32 {
        watch.instance.upgrade().unwrap().fd
    }

    /// Whether a wake is stored for `watch` right now (consuming it).
    fn pending(watch: &mut Watch) -> bool {
        match watch.next_change().now_or_never() {
            Some(Ok(())) => true,
            Some(Err(())) => panic!("the watch broke"),
            None => false,
        }
    }

    /// Drops a wake stored for `watch` by what a test did before.
    fn drain(watch: &mut Watch) {
        let _ = pending(watch);
    }

    async fn woken(watch: &mut Watch, what: &str) {
        let woke = tokio::time::timeout(DEADLINE, watch.next_change()).await;
        assert_eq!(woke, Ok(Ok(())), "{what}: not woken");
    }

    /// Orders the test after every event queued before it: the reader dispatches events in
    /// queue order, so once this follower is woken, every earlier event was dispatched. Its
    /// file in a directory of its own is created and deleted in turn: one event each, one wake.
    struct Barrier {
        _dir: tempfile::TempDir,
        path: PathBuf,
        watch: Watch,
    }

    impl Barrier {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("barrier");
            let watch = watch(&path);
            Self {
                _dir: dir,
                path,
                watch,
            }
        }

        async fn pass(&mut self) {
            if self.path.exists() {
                std::fs::remove_file(&self.path).unwrap();
            } else {
                std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&self.path)
                    .unwrap();
            }
            woken(&mut self.watch, "barrier").await;
        }
    }

    /// More followed files than the default `max_user_instances` (128), in three directories,
    /// ten of them followed twice: one instance for all, and each follower is woken by an
    /// append to its own file and by no other.
    #[tokio::test]
    async fn two_hundred_followers_share_one_instance_and_wake_only_for_their_file() {
        let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
        let files: Vec<PathBuf> = (0..190)
            .map(|i| {
                let path = dirs[i % 3].path().join(format!("app{i}.log"));
                std::fs::write(&path, "start\n").unwrap();
                path
            })
            .collect();
        let mut followers: Vec<(usize, Watch)> = (0..200)
            .map(|n| n % files.len())
            .map(|i| (i, watch(&files[i])))
            .collect();

        let instance = followers[0].1.instance.upgrade().unwrap();
        for (_, follower) in &followers {
            let theirs = follower.instance.upgrade().unwrap();
            assert!(Arc::ptr_eq(&instance, &theirs), "a second instance");
        }
        // The kernel's view: of this process's inotify fds, exactly one watches these files.
        let ours: HashSet<u64> = files.iter().map(|f| inode(f)).collect();
        let watching: Vec<i32> = inotify_fds()
            .into_iter()
            .filter(|&fd| !watched_inodes(fd).is_disjoint(&ours))
            .collect();
        assert_eq!(watching, vec![instance.fd], "not one inotify instance");
        assert!(ours.is_subset(&watched_inodes(instance.fd)));
        drop(instance);

        let mut barrier = Barrier::new();
        barrier.pass().await;
        followers.iter_mut().for_each(|(_, w)| drain(w));
        for (i, file) in files.iter().enumerate() {
            append(file);
            barrier.pass().await;
            for (theirs, follower) in &mut followers {
                let woke = pending(follower);
                assert_eq!(
                    woke,
                    *theirs == i,
                    "follower of file {theirs}, append to {i}"
                );
            }
        }
    }

    /// Two followers of one file and one of another, in one directory: one follower of the
    /// rotated file re-watches the new file; the other, not yet, is still woken by the old
    /// file's writes, and the other file's follower by its appends (the directory's watch
    /// survived).
    #[tokio::test]
    async fn a_rotation_rewatched_by_one_follower_keeps_the_others_watches() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.log"), dir.path().join("b.log"));
        std::fs::write(&a, "a\n").unwrap();
        std::fs::write(&b, "b\n").unwrap();
        let (mut first, mut second, mut other) = (watch(&a), watch(&a), watch(&b));
        let rotated = dir.path().join("a.log.1");
        std::fs::rename(&a, &rotated).unwrap();
        std::fs::write(&a, "new\n").unwrap();
        first.rewatch_file(&a);

        let mut barrier = Barrier::new();
        barrier.pass().await;
        for follower in [&mut first, &mut second, &mut other] {
            drain(follower);
        }
        append(&rotated);
        barrier.pass().await;
        assert!(pending(&mut second), "the old file's watch was taken away");
        assert!(
            !pending(&mut first),
            "woken by the file it no longer follows"
        );
        assert!(!pending(&mut other));

        append(&a);
        woken(&mut first, "append to the new file").await;
        append(&b);
        woken(&mut other, "append to the other file").await;
        let fd = fd_of(&other);
        assert!(watched_inodes(fd).contains(&inode(dir.path())));
    }

    /// A dropped follower's watches go when nobody else uses them; the others keep working.
    #[tokio::test]
    async fn a_dropped_follower_releases_only_what_nobody_else_uses() {
        let dir = tempfile::tempdir().unwrap();
        let [a, b, c] = ["a.log", "b.log", "c.log"].map(|name| {
            let path = dir.path().join(name);
            std::fs::write(&path, "x\n").unwrap();
            path
        });
        let (follower_a, mut follower_b) = (watch(&a), watch(&b));
        let (c_first, mut c_second) = (watch(&c), watch(&c));
        let fd = fd_of(&follower_b);
        let watched = watched_inodes(fd);
        assert!([&a, &b, &c].iter().all(|p| watched.contains(&inode(p))));

        drop(follower_a);
        let watched = watched_inodes(fd);
        assert!(!watched.contains(&inode(&a)), "the dropped follower's file");
        assert!(watched.contains(&inode(dir.path())), "the shared directory");
        drop(c_first);
        assert!(watched_inodes(fd).contains(&inode(&c)), "still followed");

        append(&b);
        woken(&mut follower_b, "append to b").await;
        append(&c);
        woken(&mut c_second, "append to c").await;

        let instance = follower_b.instance.clone();
        drop((follower_b, c_second));
        // Still open only while other tests' followers use it; then, nothing of this test.
        if let Some(instance) = instance.upgrade() {
            let watched = watched_inodes(instance.fd);
            assert!(
                !watched.contains(&inode(dir.path())),
                "the directory's watch"
            );
        }
    }

    /// The directory removed: its followers are told to poll; another directory's follower
    /// keeps working.
    #[tokio::test]
    async fn a_removed_directory_breaks_off_only_its_followers() {
        let (gone, kept) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (a, b, c) = (
            gone.path().join("a.log"),
            gone.path().join("b.log"),
            kept.path().join("c.log"),
        );
        for path in [&a, &b, &c] {
            std::fs::write(path, "x\n").unwrap();
        }
        let (mut in_gone, mut also_in_gone, mut in_kept) = (watch(&a), watch(&b), watch(&c));
        std::fs::remove_dir_all(gone.path()).unwrap();
        for follower in [&mut in_gone, &mut also_in_gone] {
            let mut ended = Ok(());
            while ended.is_ok() {
                ended = tokio::time::timeout(DEADLINE, follower.next_change())
                    .await
                    .expect("not broken off");
            }
        }
        append(&c);
        woken(&mut in_kept, "append in the kept directory").await;
    }
}
