//! The data dir: created 0700 with its subdirectories, and a symlink planted at a file tokentop
//! writes is refused (appends, locks) or replaced (atomic writes), never followed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use tokentop::engine::history::cause::Trigger;
use tokentop::engine::history::{HistoryEntry, HistoryLog, Outcome};
use tokentop::engine::store::lock;
use tokentop::engine::store::{StoredTokens, TokenStore};

const PRECIOUS: &str = "root:x:0:0:root:/root:/bin/sh\n";

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn entry() -> HistoryEntry {
    HistoryEntry::new("main", Trigger::Forced, Outcome::Ok)
}

fn tokens() -> StoredTokens {
    StoredTokens {
        access_token: SecretString::from("EAAGstoredtokenvalue"),
        long_lived_token: None,
        expires_at: None,
        refreshed_at: 1,
        origin_fingerprint: "x".into(),
    }
}

/// A file outside the data dir that a planted link points at.
fn precious(dir: &Path) -> PathBuf {
    let path = dir.join("passwd");
    fs::write(&path, PRECIOUS).unwrap();
    path
}

#[test]
fn the_data_dir_and_its_subdirectories_are_created_0700() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    HistoryLog::new(&data).append(&entry()).unwrap();
    TokenStore::new(&data).save("main", &tokens()).unwrap();
    let _guard = tokentop::logging::init(&data, tokentop::logging::Console::None);
    for path in [data.clone(), data.join("tokens"), data.join("logs")] {
        assert_eq!(mode(&path), 0o700, "{}", path.display());
    }
}

#[tokio::test]
async fn the_lock_dir_is_0700() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let _lock = lock::acquire(&data, "main", Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("locks")), 0o700);
}

#[test]
fn a_symlink_at_history_jsonl_is_refused_and_its_target_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let target = precious(dir.path());
    let data = dir.path().join("data");
    fs::create_dir(&data).unwrap();
    let log = HistoryLog::new(&data);
    symlink(&target, log.path()).unwrap();
    let err = log.append(&entry()).unwrap_err().to_string();
    assert!(err.contains("refusing to follow a symlink"), "{err}");
    assert!(err.contains(&log.path().display().to_string()), "{err}");
    assert_eq!(fs::read_to_string(&target).unwrap(), PRECIOUS);
    let err = log.load().unwrap_err().to_string();
    assert!(err.contains("refusing to follow a symlink"), "{err}");
}

#[tokio::test]
async fn a_symlink_at_the_lock_file_is_refused_and_its_target_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let target = precious(dir.path());
    let data = dir.path().join("data");
    let path = lock::lock_path(&data, "main");
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    symlink(&target, &path).unwrap();
    let err = lock::acquire(&data, "main", Duration::from_secs(1))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("refusing to follow a symlink"), "{err}");
    assert!(err.contains(&path.display().to_string()), "{err}");
    assert_eq!(fs::read_to_string(&target).unwrap(), PRECIOUS);
}

/// A missing target is not created through a dangling link either.
#[tokio::test]
async fn a_dangling_symlink_at_the_lock_file_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("created-by-attacker-request");
    let data = dir.path().join("data");
    let path = lock::lock_path(&data, "main");
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    symlink(&target, &path).unwrap();
    lock::acquire(&data, "main", Duration::from_secs(1))
        .await
        .unwrap_err();
    assert!(!target.exists());
}

/// The store is written by rename, which replaces the link itself; reading refuses the link.
#[test]
fn a_symlink_in_the_token_store_is_replaced_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let target = precious(dir.path());
    let data = dir.path().join("data");
    let store = TokenStore::new(&data);
    let path = store.path_for("main");
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    symlink(&target, &path).unwrap();
    let err = store.load("main").unwrap_err().to_string();
    assert!(err.contains("refusing to follow a symlink"), "{err}");
    store.save("main", &tokens()).unwrap();
    assert!(
        !fs::symlink_metadata(&path)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(fs::read_to_string(&target).unwrap(), PRECIOUS);
    let loaded = store.load("main").unwrap().unwrap();
    assert_eq!(loaded.access_token.expose_secret(), "EAAGstoredtokenvalue");
}
