//! Reloading the accounts of a running daemon or dashboard: on SIGHUP, when a file in
//! `[accounts] dir` changes (inotify, debounced; polled where inotify cannot be had), and when
//! a change of `[accounts] source = "redis"` is announced, the whole configuration is read
//! again and its accounts handed to the engine. A configuration that no longer reads (Redis
//! not answering included) is reported and the running accounts are kept.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;

use crate::cluster::account_entries::ChangeSubscription;
use crate::config::{self, EnvSnapshot, Overrides};
use crate::engine::reload::AccountsUpdate;
use crate::engine::{EngineCommand, EngineHandle};

/// Changes closer together than this are one reload (an editor writes a file in steps; a sync
/// tool writes many files).
pub const RELOAD_DEBOUNCE: Duration = Duration::from_millis(300);
/// Without inotify: how often the directory is looked at.
pub const DIR_POLL_INTERVAL: Duration = Duration::from_secs(30);

/// Starts reloading on SIGHUP, on changes in `[accounts] dir` and on announcements of
/// `[accounts] source = "redis"`, until the engine stops. SIGHUP's handler is in place when
/// this returns (its default action ends the process). `started` is what the process started
/// with: once the directory is watched (or the channel subscribed), the configuration is read
/// again and applied if its accounts differ, because a change made between the start's
/// reading and the watch was seen by neither.
pub async fn spawn(overrides: Overrides, started: &config::Settings, handle: EngineHandle) {
    let (wake, woken) = mpsc::unbounded_channel();
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::hangup()) {
        Ok(hangup) => {
            tokio::spawn(on_hangup(hangup, wake.clone()));
        }
        Err(err) => {
            tracing::warn!(
                "cannot listen for SIGHUP ({err}): accounts reload on announced changes only"
            );
        }
    }
    let dir_watch = started
        .account_files
        .dir
        .clone()
        .map(|dir| (kernel::DirWatch::new(&dir), dir));
    let subscription = match &started.account_files.redis_key {
        Some(_) => ChangeSubscription::start(&started.cluster)
            .await
            .inspect_err(|err| tracing::warn!("cannot follow account changes in Redis: {err:#}"))
            .ok(),
        None => None,
    };
    if dir_watch.is_some() || subscription.is_some() {
        let now = read_off_thread(&overrides).await;
        let as_started = AccountsUpdate {
            accounts: started.accounts.clone(),
            invalid_files: started.account_files.invalid.clone(),
            refused: None,
        };
        if as_started != now {
            handle.send(EngineCommand::ApplyAccounts(Box::new(now)));
        }
    }
    if let Some((watch, dir)) = dir_watch {
        tokio::spawn(watch_dir(dir, watch, wake.clone()));
    }
    if let Some(subscription) = subscription {
        tokio::spawn(follow_redis(subscription, wake));
    }
    tokio::spawn(reload_on_wake(overrides, handle, woken));
}

/// What the configuration says now, as the engine takes it.
pub fn read_accounts(overrides: &Overrides, env: &EnvSnapshot) -> AccountsUpdate {
    match config::load(overrides, env) {
        Ok(settings) => AccountsUpdate {
            accounts: settings.accounts,
            invalid_files: settings.account_files.invalid,
            refused: None,
        },
        Err(errors) => AccountsUpdate {
            refused: Some(format!("the configuration is invalid:\n{errors}")),
            ..AccountsUpdate::default()
        },
    }
}

/// [`read_accounts`] on a blocking thread: loading reads files, and with `source = "redis"`
/// waits for Redis (seconds when it does not answer).
async fn read_off_thread(overrides: &Overrides) -> AccountsUpdate {
    let overrides = overrides.clone();
    let read = move || read_accounts(&overrides, &EnvSnapshot::from_process());
    tokio::task::spawn_blocking(read)
        .await
        .unwrap_or_else(|err| AccountsUpdate {
            refused: Some(format!("the configuration could not be read: {err}")),
            ..AccountsUpdate::default()
        })
}

async fn reload_on_wake(
    overrides: Overrides,
    handle: EngineHandle,
    mut woken: mpsc::UnboundedReceiver<()>,
) {
    while woken.recv().await.is_some() {
        // Debounced: wait until the changes have been quiet for a moment.
        while let Ok(Some(())) = tokio::time::timeout(RELOAD_DEBOUNCE, woken.recv()).await {}
        let update = read_off_thread(&overrides).await;
        if !handle.send(EngineCommand::ApplyAccounts(Box::new(update))) {
            return;
        }
    }
}

/// Wakes a reload on every announced change of the Redis entries (`tokentop accounts add`
/// on any host), and after each reconnection of the subscription.
async fn follow_redis(subscription: ChangeSubscription, wake: mpsc::UnboundedSender<()>) {
    let (changes, mut changed) = mpsc::unbounded_channel();
    tokio::spawn(subscription.follow(changes));
    while let Some(what) = changed.recv().await {
        tracing::info!("accounts changed in Redis ({what}): reloading");
        if wake.send(()).is_err() {
            return;
        }
    }
}

async fn on_hangup(mut hangup: tokio::signal::unix::Signal, wake: mpsc::UnboundedSender<()>) {
    while hangup.recv().await.is_some() {
        tracing::info!("SIGHUP: reloading the accounts");
        if wake.send(()).is_err() {
            return;
        }
    }
}

/// Wakes on every change of the directory's entries; polls when inotify cannot watch it.
async fn watch_dir(
    dir: PathBuf,
    watch: std::io::Result<kernel::DirWatch>,
    wake: mpsc::UnboundedSender<()>,
) {
    match watch {
        Ok(mut watch) => {
            while watch.next_change().await.is_ok() {
                if wake.send(()).is_err() {
                    return;
                }
            }
            tracing::warn!(
                "{}: change notification stopped; polling it every {} s",
                dir.display(),
                DIR_POLL_INTERVAL.as_secs()
            );
        }
        Err(err) => tracing::info!(
            "{}: no change notification ({err}); polling it every {} s",
            dir.display(),
            DIR_POLL_INTERVAL.as_secs()
        ),
    }
    poll_dir(&dir, wake).await;
}

async fn poll_dir(dir: &Path, wake: mpsc::UnboundedSender<()>) {
    let mut seen = dir_state(dir);
    loop {
        tokio::time::sleep(DIR_POLL_INTERVAL).await;
        let now = dir_state(dir);
        if now != seen && wake.send(()).is_err() {
            return;
        }
        seen = now;
    }
}

/// Each account file's name, size and modification time, sorted: a change in any of them is
/// a change of the directory.
fn dir_state(dir: &Path) -> Vec<(PathBuf, u64, Option<SystemTime>)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut state: Vec<_> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let metadata = entry.metadata().ok()?;
            Some((entry.path(), metadata.len(), metadata.modified().ok()))
        })
        .collect();
    state.sort();
    state
}

#[cfg(target_os = "linux")]
mod kernel {
    use std::path::Path;

    use futures_util::StreamExt;
    use inotify::{EventStream, Inotify, WatchMask};

    /// Events read at once; the kernel queues the rest.
    const EVENT_BUFFER_BYTES: usize = 4096;

    pub(super) struct DirWatch {
        events: EventStream<Vec<u8>>,
    }

    impl DirWatch {
        pub(super) fn new(dir: &Path) -> std::io::Result<Self> {
            let inotify = Inotify::init()?;
            let events = inotify.into_event_stream(vec![0u8; EVENT_BUFFER_BYTES])?;
            // CLOSE_WRITE rather than MODIFY: one event per save, not one per write.
            let mask = WatchMask::CLOSE_WRITE
                | WatchMask::ATTRIB
                | WatchMask::CREATE
                | WatchMask::DELETE
                | WatchMask::MOVED_FROM
                | WatchMask::MOVED_TO
                | WatchMask::DELETE_SELF
                | WatchMask::MOVE_SELF;
            events.watches().add(dir, mask)?;
            Ok(Self { events })
        }

        /// The next event of the directory; `Err` when the stream broke or the directory went.
        pub(super) async fn next_change(&mut self) -> Result<(), ()> {
            match self.events.next().await {
                Some(Ok(event))
                    if !event.mask.intersects(
                        inotify::EventMask::DELETE_SELF
                            | inotify::EventMask::MOVE_SELF
                            | inotify::EventMask::IGNORED,
                    ) =>
                {
                    Ok(())
                }
                _ => Err(()),
            }
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod kernel {
    use std::path::Path;

    pub(super) struct DirWatch;

    impl DirWatch {
        pub(super) fn new(_dir: &Path) -> std::io::Result<Self> {
            Err(std::io::Error::other("this platform has no inotify"))
        }

        pub(super) async fn next_change(&mut self) -> Result<(), ()> {
            Err(())
        }
    }
}
