//! Which accounts Meta said were revoked (`account_update` webhooks), kept in
//! `<data dir>/revoked.json` so that a restart, and a one-shot `check`, know it too: no refresh
//! starts for them until access is given back.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::engine::fs::atomic_file::write_atomic;
use crate::engine::fs::private_fs::read_capped_no_follow;

pub const REVOKED_FILE: &str = "revoked.json";
/// Room for 10,000 accounts with long names; a larger file is not tokentop's and is ignored.
const MAX_FILE_BYTES: u64 = 4 << 20;

/// Account name -> the `account_update` event that revoked it.
pub(crate) struct Revocations {
    path: PathBuf,
    accounts: Mutex<BTreeMap<String, String>>,
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
            accounts: Mutex::new(accounts),
        }
    }

    /// The event that revoked `account`, if it stands.
    pub(crate) fn get(&self, account: &str) -> Option<String> {
        self.lock().get(account).cloned()
    }

    /// Records `account` as revoked by `event`, or (`None`) as no longer revoked, and
    /// rewrites the file (crash-safe); a failed write is logged, the state in memory stands.
    pub(crate) fn set(&self, account: &str, event: Option<&str>) {
        let mut accounts = self.lock();
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
        let written = serde_json::to_vec_pretty(&*accounts)
            .map_err(std::io::Error::other)
            .and_then(|json| write_atomic(&self.path, &json));
        if let Err(err) = written {
            tracing::warn!("cannot write {}: {err}", self.path.display());
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, String>> {
        // A panic while holding it left a complete map behind: keep using it.
        self.accounts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
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
}
