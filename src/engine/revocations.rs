//! Which accounts Meta said were revoked (`account_update` webhooks), kept in
//! `<data dir>/revoked.json` so that a restart, and a one-shot `check`, know it too: no refresh
//! starts for them until access is given back.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::engine::fs::atomic_file::write_atomic;
use crate::engine::fs::private_fs::read_capped_no_follow;

pub const REVOKED_FILE: &str = "revoked.json";
/// Room for 10,000 accounts with long names; a larger file is not tokentop's and is ignored.
const MAX_FILE_BYTES: u64 = 4 << 20;

/// Account name -> the `account_update` event that revoked it.
pub(crate) struct Revocations {
    path: PathBuf,
    /// The map, and how many changes it has had (the version of the file it should become).
    accounts: Mutex<(BTreeMap<String, String>, u64)>,
    /// The version last written: a write that lost the race to a newer one is skipped, so
    /// the file never goes back to an older map.
    written: Arc<Mutex<u64>>,
}

impl Revocations {
    /// Reads the file; a missing one is none revoked, a bad one is said and read as none (the
    /// next webhook rewrites it).
    pub(crate) fn load(data_dir: &Path) -> Self {
        let path = data_dir.join(REVOKED_FILE);
        let accounts = match read_capped_no_follow(&path, MAX_FILE_BYTES) {
            Ok(text) => serde_json::from_str(&text).unwrap_or_else(|err| {
                tracing::warn!(
                    "{} is not a map of account names to events ({err}): read as no account revoked",
                    path.display()
                );
                BTreeMap::new()
            }),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(err) => {
                tracing::warn!(
                    "cannot read {} ({err}): read as no account revoked",
                    path.display()
                );
                BTreeMap::new()
            }
        };
        Self {
            path,
            accounts: Mutex::new((accounts, 0)),
            written: Arc::default(),
        }
    }

    /// The event that revoked `account`, if it stands.
    pub(crate) fn get(&self, account: &str) -> Option<String> {
        self.lock().0.get(account).cloned()
    }

    /// Records `account` as revoked by `event`, or (`None`) as no longer revoked, at once in
    /// memory, and rewrites the file (crash-safe, fsynced) off the runtime's threads when
    /// there is a runtime: an account actor must not wait for a disk. A failed write is
    /// logged; the state in memory stands.
    pub(crate) fn set(&self, account: &str, event: Option<&str>) {
        let mut guard = self.lock();
        let (accounts, version) = &mut *guard;
        let changed = match event {
            Some(event) => {
                accounts
                    .insert(account.to_string(), event.to_string())
                    .as_deref()
                    != Some(event)
            }
            None => accounts.remove(account).is_some(),
        };
        if !changed {
            return;
        }
        *version += 1;
        let json = serde_json::to_vec_pretty(&*accounts);
        let write = FileWrite {
            path: self.path.clone(),
            version: *version,
            written: self.written.clone(),
        };
        drop(guard);
        let json = match json {
            Ok(json) => json,
            Err(err) => return tracing::warn!("cannot write {}: {err}", self.path.display()),
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn_blocking(move || write.run(&json))),
            Err(_) => write.run(&json),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (BTreeMap<String, String>, u64)> {
        // A panic while holding it left a complete map behind: keep using it.
        self.accounts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// One rewrite of the file, to be done unless a newer one was done first.
struct FileWrite {
    path: PathBuf,
    version: u64,
    written: Arc<Mutex<u64>>,
}

impl FileWrite {
    fn run(self, json: &[u8]) {
        // Held across the write: writes happen one at a time, in version order or skipped.
        let mut written = self
            .written
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if *written >= self.version {
            return;
        }
        match write_atomic(&self.path, json) {
            Ok(()) => *written = self.version,
            Err(err) => tracing::warn!("cannot write {}: {err}", self.path.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revocations_survive_a_reload_and_a_bad_file_reads_as_none() {
        let dir = tempfile::tempdir().unwrap();
        let revoked = Revocations::load(dir.path());
        assert_eq!(revoked.get("shop"), None);
        revoked.set("shop", Some("PARTNER_APP_UNINSTALLED"));
        revoked.set("eu", Some("ACCOUNT_DELETED"));
        revoked.set("eu", None);
        let again = Revocations::load(dir.path());
        assert_eq!(
            again.get("shop").as_deref(),
            Some("PARTNER_APP_UNINSTALLED")
        );
        assert_eq!(again.get("eu"), None);
        std::fs::write(dir.path().join(REVOKED_FILE), "[1, 2").unwrap();
        assert_eq!(Revocations::load(dir.path()).get("shop"), None);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writes_off_the_runtime_land_and_never_go_back_to_an_older_map() {
        let dir = tempfile::tempdir().unwrap();
        let revoked = Revocations::load(dir.path());
        for round in 0..50 {
            let event = format!("EVENT_{round}");
            revoked.set("shop", Some(&event));
        }
        revoked.set("eu", Some("ACCOUNT_DELETED"));
        // The last change's write is the newest version: wait for it, not for a time.
        let last = revoked.lock().1;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while *revoked.written.lock().unwrap() != last && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        assert_eq!(*revoked.written.lock().unwrap(), last);
        let again = Revocations::load(dir.path());
        assert_eq!(again.get("shop").as_deref(), Some("EVENT_49"));
        assert_eq!(again.get("eu").as_deref(), Some("ACCOUNT_DELETED"));
    }

    #[test]
    fn a_stale_write_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(REVOKED_FILE);
        let written = Arc::new(Mutex::new(0));
        let write = |version| FileWrite {
            path: path.clone(),
            version,
            written: written.clone(),
        };
        write(2).run(br#"{"shop": "NEWER"}"#);
        write(1).run(br#"{"shop": "OLDER"}"#);
        let again = Revocations::load(dir.path());
        assert_eq!(again.get("shop").as_deref(), Some("NEWER"));
    }
}
