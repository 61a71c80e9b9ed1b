//! Reloading the accounts of a running daemon or dashboard: on SIGHUP, and when a file in
//! `[accounts] dir` changes (inotify, debounced; polled where inotify cannot be had), the whole
//! configuration is read again and its accounts handed to the engine. A configuration that no
//! longer reads is reported and the running accounts are kept.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;

use crate::config::{self, EnvSnapshot, Overrides};
use crate::engine::reload::AccountsUpdate;
use crate::engine::{EngineCommand, EngineHandle};

/// Changes closer together than this are one reload (an editor writes a file in steps; a sync
/// tool writes many files).
pub const RELOAD_DEBOUNCE: Duration = Duration::from_millis(300);
/// Without inotify: how often the directory is looked at.
pub const DIR_POLL_INTERVAL: Duration = Duration::from_secs(30);

/// Starts reloading on SIGHUP and on changes in `accounts_dir`, until the engine stops.
/// SIGHUP's handler is in place when this returns (its default action ends the process).
/// `started` is what the process started with: once the directory is watched, the
/// configuration is read again and applied if its accounts differ, because a file written
/// between the start's reading and the watch was seen by neither.
pub fn spawn(overrides: Overrides, started: &config::Settings, handle: EngineHandle) {
    let (wake, woken) = mpsc::unbounded_channel();
    if let Some(dir) = started.account_files.dir.clone() {
        let watch = kernel::DirWatch::new(&dir);
        let now = read_accounts(&overrides, &EnvSnapshot::from_process());
        let as_started = AccountsUpdate {
            accounts: started.accounts.clone(),
            invalid_files: started.account_files.invalid.clone(),
            refused: None,
        };
        if as_started != now {
            handle.send(EngineCommand::ApplyAccounts(Box::new(now)));
        }
        tokio::spawn(watch_dir(dir, watch, wake.clone()));
    }
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::hangup()) {
        Ok(hangup) => {
            tokio::spawn(on_hangup(hangup, wake));
        }
        Err(err) => {
            tracing::warn!(
                "cannot listen for SIGHUP ({err}): accounts reload on file changes only"
            );
        }
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

async fn reload_on_wake(
    overrides: Overrides,
    handle: EngineHandle,
    mut woken: mpsc::UnboundedReceiver<()>,
) {
    while woken.recv().await.is_some() {
        // Debounced: wait until the changes have been quiet for a moment.
        while let Ok(Some(())) = tokio::time::timeout(RELOAD_DEBOUNCE, woken.recv()).await {}
        let update = read_accounts(&overrides, &EnvSnapshot::from_process());
        if !handle.send(EngineCommand::ApplyAccounts(Box::new(update))) {
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
