//! The token store: one JSON file per account in the data dir, 0600, replaced atomically.
//!
//! This is the one place where token values are written to disk: the store must hold them so
//! a refreshed token survives a restart.
//!
//! The path of a new token into it: the rule it must pass (`new_token`), the cross-process
//! lock (`lock`) and the one write protocol for refresh and `exchange` (`token_write`).

pub mod lock;
pub mod new_token;
pub mod token_write;

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::engine::fs::atomic_file::write_atomic;
use crate::engine::fs::private_fs::read_capped_no_follow;

/// One account's tokens as last refreshed.
#[derive(Debug, Clone)]
pub struct StoredTokens {
    pub access_token: SecretString,
    /// A separate long-lived token, when the account has one that differs from the access token.
    pub long_lived_token: Option<SecretString>,
    /// Unix seconds; `None` for never or unknown.
    pub expires_at: Option<i64>,
    /// Unix seconds of the refresh (or exchange) that produced these tokens.
    pub refreshed_at: i64,
    /// [`fingerprint`] of the configured token this chain of refreshes started from, so that
    /// at start a stale env value does not override a newer stored token.
    pub origin_fingerprint: String,
}

/// On-disk shape (version 1).
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
struct StoreFile {
    version: u32,
    account: String,
    access_token: String,
    #[serde(default)]
    long_lived_token: Option<String>,
    #[serde(default)]
    expires_at: Option<i64>,
    refreshed_at: i64,
    origin_fingerprint: String,
}

const STORE_VERSION: u32 = 1;
/// A temp file this old is a crash's leftover, not a write in progress.
const TORN_WRITE_AGE: std::time::Duration = std::time::Duration::from_secs(60);

/// Errors reading or writing the store. Never carry a token value.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot read token store {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error(
        "token store {path} is not valid ({reason}); move it aside to start from the configured token"
    )]
    Corrupt { path: PathBuf, reason: String },
    #[error("cannot write token store {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
}

/// Non-reversible identity of a token (hex SHA-256, first 16 chars): safe to store and log.
pub fn fingerprint(token: &SecretString) -> String {
    let digest = Sha256::digest(token.expose_secret().as_bytes());
    hex::encode(&digest[..8])
}

/// Crash leftovers by account.
type TornFiles = HashMap<String, Vec<PathBuf>>;

/// Where the store files of a data dir live.
#[derive(Debug, Clone)]
pub struct TokenStore {
    dir: PathBuf,
    /// Temp files a crash left behind, by account, listed at the first load: listing (and
    /// `stat`ing) the whole directory at every load cost a scan of 10,000 files per
    /// inspection at 10,000 stored accounts.
    torn: Arc<OnceLock<Mutex<TornFiles>>>,
}

impl TokenStore {
    pub fn new(data_dir: &Path) -> Self {
        Self {
            dir: data_dir.join("tokens"),
            torn: Arc::default(),
        }
    }

    pub fn path_for(&self, account: &str) -> PathBuf {
        self.dir.join(format!("{account}.json"))
    }

    /// Reads an account's stored tokens; `Ok(None)` when nothing was stored yet.
    pub fn load(&self, account: &str) -> Result<Option<StoredTokens>, StoreError> {
        self.remove_torn_writes(account);
        let path = self.path_for(account);
        let text = match read_capped_no_follow(&path, STORE_MAX_BYTES) {
            Ok(text) => text,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(StoreError::Read { path, source }),
        };
        let file: StoreFile = serde_json::from_str(&text).map_err(|err| StoreError::Corrupt {
            path: path.clone(),
            // serde_json's message names line/column and the field, never the value.
            reason: format!(
                "line {} column {}: {}",
                err.line(),
                err.column(),
                err.classify_kind()
            ),
        })?;
        if file.version != STORE_VERSION {
            return Err(StoreError::Corrupt {
                path,
                reason: format!("unsupported version {}", file.version),
            });
        }
        // A stored token goes into requests, env-files and hooks: it must be one.
        let tokens = [Some(&file.access_token), file.long_lived_token.as_ref()];
        for (name, token) in ["access_token", "long_lived_token"].iter().zip(tokens) {
            if let Some(Err(problem)) = token.map(|t| crate::graph::check_token_shape(t)) {
                return Err(StoreError::Corrupt {
                    path,
                    reason: format!("{name}: {problem}"),
                });
            }
        }
        Ok(Some(StoredTokens {
            access_token: SecretString::from(file.access_token),
            long_lived_token: file.long_lived_token.map(SecretString::from),
            expires_at: file.expires_at,
            refreshed_at: file.refreshed_at,
            origin_fingerprint: file.origin_fingerprint,
        }))
    }

    /// Deletes the account's temp files a crash left mid-write (each a 0600 copy of a token
    /// that either made it into the store or was never acknowledged). Only those already old
    /// when the store was first read in this process: a fresh one may be another process's
    /// write in progress. Best effort.
    fn remove_torn_writes(&self, account: &str) {
        let torn = self
            .torn
            .get_or_init(|| Mutex::new(stale_temp_files(&self.dir)));
        // A panic while holding the lock leaves a whole map behind: go on with it.
        let paths = torn
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(account);
        for path in paths.into_iter().flatten() {
            let _ = fs::remove_file(path);
        }
    }

    /// Replaces an account's stored tokens atomically (mode 0600). The rename replaces a
    /// symlink planted at the path instead of writing through it.
    pub fn save(&self, account: &str, tokens: &StoredTokens) -> Result<(), StoreError> {
        let path = self.path_for(account);
        let file = StoreFile {
            version: STORE_VERSION,
            account: account.to_string(),
            access_token: tokens.access_token.expose_secret().to_string(),
            long_lived_token: tokens
                .long_lived_token
                .as_ref()
                .map(|t| t.expose_secret().to_string()),
            expires_at: tokens.expires_at,
            refreshed_at: tokens.refreshed_at,
            origin_fingerprint: tokens.origin_fingerprint.clone(),
        };
        let mut text = serde_json::to_vec_pretty(&file).map_err(|err| StoreError::Write {
            path: path.clone(),
            source: io::Error::other(err.to_string()),
        })?;
        text.push(b'\n');
        write_atomic(&path, &text).map_err(|source| StoreError::Write { path, source })
    }
}

/// A store file is a few hundred bytes; anything past this is not one.
const STORE_MAX_BYTES: u64 = 64 * 1024;

/// A small extension so corrupt-store messages say what kind of JSON problem it was.
trait ClassifyKind {
    fn classify_kind(&self) -> &'static str;
}

impl ClassifyKind for serde_json::Error {
    fn classify_kind(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "read error",
            serde_json::error::Category::Syntax => "not valid JSON",
            serde_json::error::Category::Data => "unexpected field or type",
            serde_json::error::Category::Eof => "file ends early",
        }
    }
}

/// Every `.{account}.json.tmp.*` file in `dir` older than [`TORN_WRITE_AGE`], by account;
/// only names of that shape are `stat`ed.
fn stale_temp_files(dir: &Path) -> TornFiles {
    let mut stale = TornFiles::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return stale;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some((account, _)) = name
            .to_str()
            .and_then(|name| name.strip_prefix('.'))
            .and_then(|rest| rest.split_once(".json.tmp."))
        else {
            continue;
        };
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|at| at.elapsed().is_ok_and(|age| age > TORN_WRITE_AGE));
        if old {
            stale
                .entry(account.to_string())
                .or_default()
                .push(entry.path());
        }
    }
    stale
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(value: &str) -> StoredTokens {
        StoredTokens {
            access_token: SecretString::from(value),
            long_lived_token: None,
            expires_at: Some(123),
            refreshed_at: 100,
            origin_fingerprint: "abc".into(),
        }
    }

    #[test]
    fn round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::new(dir.path());
        assert!(store.load("a").unwrap().is_none());
        store.save("a", &tokens("EAAGfirsttokenvalue1")).unwrap();
        let loaded = store.load("a").unwrap().unwrap();
        assert_eq!(loaded.access_token.expose_secret(), "EAAGfirsttokenvalue1");
        assert_eq!(loaded.expires_at, Some(123));
    }

    #[test]
    fn corrupt_store_names_the_file_and_not_the_token() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::new(dir.path());
        fs::create_dir_all(dir.path().join("tokens")).unwrap();
        fs::write(store.path_for("a"), "{\"access_token\":\"EAAGsecretsecret").unwrap();
        let err = store.load("a").unwrap_err().to_string();
        assert!(err.contains("a.json"), "{err}");
        assert!(!err.contains("EAAGsecretsecret"), "{err}");
    }

    #[test]
    fn a_stored_value_that_is_not_a_token_is_refused_not_used() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::new(dir.path());
        store.save("a", &tokens("EAAGfirsttokenvalue1")).unwrap();
        let path = store.path_for("a");
        let text = fs::read_to_string(&path).unwrap();
        for bad in ["", "EAAGinjected00000000\\nX=1"] {
            fs::write(&path, text.replace("EAAGfirsttokenvalue1", bad)).unwrap();
            let err = store.load("a").unwrap_err().to_string();
            assert!(err.contains("access_token: the token"), "{err}");
            assert!(!err.contains("injected"), "{err}");
        }
    }

    #[test]
    fn load_removes_temp_files_left_by_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::new(dir.path());
        store.save("a", &tokens("EAAGfirsttokenvalue1")).unwrap();
        let torn = dir.path().join("tokens").join(".a.json.tmp.123.456");
        let other = dir.path().join("tokens").join(".b.json.tmp.1.2");
        let fresh = dir.path().join("tokens").join(".a.json.tmp.9.9");
        for path in [&torn, &other, &fresh] {
            fs::write(path, "{\"half").unwrap();
        }
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        for path in [&torn, &other] {
            fs::File::options()
                .write(true)
                .open(path)
                .unwrap()
                .set_modified(old)
                .unwrap();
        }
        assert!(store.load("a").unwrap().is_some());
        assert!(!torn.exists());
        assert!(fresh.exists(), "a write in progress is left alone");
        assert!(other.exists(), "only the loaded account's leftovers go");
    }

    #[test]
    fn fingerprint_is_stable_and_hides_the_token() {
        let fp = fingerprint(&SecretString::from("EAAGtoken"));
        assert_eq!(fp.len(), 16);
        assert_eq!(fp, fingerprint(&SecretString::from("EAAGtoken")));
        assert_ne!(fp, fingerprint(&SecretString::from("EAAGtoken2")));
    }
}
