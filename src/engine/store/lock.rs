//! Cross-process single flight: an exclusive lock file per account in the data dir.
//!
//! Two tokentop processes on one data dir (a daemon and a `tokentop refresh`, say) must not
//! both exchange the same token. The lock is held for the whole refresh; the OS releases it
//! when the holder dies, so a `kill -9` never leaves a stale lock behind.

use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::engine::fs::private_fs::{create_private_dir_all, open_no_follow};

/// How often a waiting process retries the lock.
const LOCK_POLL_INTERVAL: Duration = Duration::from_millis(50);

/// A held lock; released on drop (and by the OS if the process dies).
#[derive(Debug)]
pub struct RefreshLock {
    _file: File,
}

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("cannot open lock file {path}: {source}")]
    Open { path: PathBuf, source: io::Error },
    #[error("another tokentop process held the refresh lock {path} for more than {waited_secs} s")]
    TimedOut { path: PathBuf, waited_secs: u64 },
}

pub fn lock_path(data_dir: &Path, account: &str) -> PathBuf {
    data_dir.join("locks").join(format!("{account}.lock"))
}

/// Takes the account's refresh lock, waiting up to `max_wait` for another holder.
pub async fn acquire(
    data_dir: &Path,
    account: &str,
    max_wait: Duration,
) -> Result<RefreshLock, LockError> {
    let path = lock_path(data_dir, account);
    let file = open_lock_file(&path).map_err(|source| LockError::Open {
        path: path.clone(),
        source,
    })?;
    let started = tokio::time::Instant::now();
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(RefreshLock { _file: file }),
            Err(TryLockError::WouldBlock) => {}
            Err(TryLockError::Error(source)) => return Err(LockError::Open { path, source }),
        }
        if started.elapsed() >= max_wait {
            return Err(LockError::TimedOut {
                path,
                waited_secs: max_wait.as_secs(),
            });
        }
        tokio::time::sleep(LOCK_POLL_INTERVAL).await;
    }
}

/// Opens (creating, 0600) the lock file; a symlink planted there is refused, not followed.
fn open_lock_file(path: &Path) -> io::Result<File> {
    if let Some(dir) = path.parent() {
        create_private_dir_all(dir)?;
    }
    let mut options = OpenOptions::new();
    options.create(true).truncate(false).write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    open_no_follow(path, &mut options)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn second_holder_waits_until_the_first_releases() {
        let dir = tempfile::tempdir().unwrap();
        let first = acquire(dir.path(), "a", Duration::from_secs(1))
            .await
            .unwrap();
        let err = acquire(dir.path(), "a", Duration::from_millis(120))
            .await
            .unwrap_err();
        assert!(matches!(err, LockError::TimedOut { .. }), "{err}");
        drop(first);
        acquire(dir.path(), "a", Duration::from_secs(1))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn accounts_lock_independently() {
        let dir = tempfile::tempdir().unwrap();
        let _a = acquire(dir.path(), "a", Duration::from_secs(1))
            .await
            .unwrap();
        acquire(dir.path(), "b", Duration::from_millis(10))
            .await
            .unwrap();
    }
}
