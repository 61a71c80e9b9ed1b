//! The env-file is the operator's file: its owner, group and mode survive a publish, a
//! symlink is written through to its target, and nothing is created where nothing was.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::Path;

use secrecy::SecretString;
use tokentop::engine::publish::write_env_file;

fn publish(path: &Path, token: &str) -> std::io::Result<()> {
    write_env_file(path, &SecretString::from(token.to_string()), None)
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

/// 0640 root:app must stay 0640 root:app, or the application can no longer read it. The tests
/// run as root here, so any owner can be given; uid/gid 1 stand for the application's.
#[test]
fn an_existing_env_file_keeps_its_owner_group_and_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.env");
    fs::write(&path, "WHATSAPP_ACCESS_TOKEN=old\nPORT=8080\n").unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
    if std::os::unix::fs::chown(&path, Some(1), Some(1)).is_err() {
        eprintln!("skipped: changing a file's owner needs root");
        return;
    }
    publish(&path, "EAAGnewtokennewtoken0001").unwrap();
    let metadata = fs::metadata(&path).unwrap();
    assert_eq!((metadata.uid(), metadata.gid()), (1, 1));
    assert_eq!(mode(&path), 0o640);
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        "WHATSAPP_ACCESS_TOKEN=EAAGnewtokennewtoken0001\nPORT=8080\n"
    );
}

#[test]
fn a_new_env_file_is_private() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.env");
    publish(&path, "EAAGnewtokennewtoken0001").unwrap();
    assert_eq!(mode(&path), 0o600);
}

/// The real target gets the new token; the link stays a link to it.
#[test]
fn a_symlinked_env_file_is_written_through_to_its_target() {
    let dir = tempfile::tempdir().unwrap();
    let real_dir = dir.path().join("shared");
    fs::create_dir(&real_dir).unwrap();
    let target = real_dir.join("app.env");
    fs::write(&target, "WHATSAPP_ACCESS_TOKEN=old\n").unwrap();
    fs::set_permissions(&target, fs::Permissions::from_mode(0o640)).unwrap();
    let link = dir.path().join("current.env");
    symlink(&target, &link).unwrap();

    publish(&link, "EAAGnewtokennewtoken0001").unwrap();

    assert!(
        fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(fs::read_link(&link).unwrap(), target);
    assert_eq!(
        fs::read_to_string(&target).unwrap(),
        "WHATSAPP_ACCESS_TOKEN=EAAGnewtokennewtoken0001\n"
    );
    assert_eq!(mode(&target), 0o640);
    // The temp file went to the target's directory and is gone.
    assert_eq!(fs::read_dir(&real_dir).unwrap().count(), 1);
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2);
}

/// A chain of links resolves to the final target.
#[test]
fn a_chain_of_symlinks_reaches_the_final_target() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("real.env");
    fs::write(&target, "A=1\n").unwrap();
    let middle = dir.path().join("middle.env");
    symlink(&target, &middle).unwrap();
    let link = dir.path().join("app.env");
    symlink(&middle, &link).unwrap();
    publish(&link, "EAAGnewtokennewtoken0001").unwrap();
    assert!(
        fs::symlink_metadata(&middle)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(
        fs::read_to_string(&target).unwrap(),
        "A=1\nWHATSAPP_ACCESS_TOKEN=EAAGnewtokennewtoken0001\n"
    );
}

#[test]
fn a_dangling_symlink_is_an_error_naming_both_paths() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("gone.env");
    let link = dir.path().join("app.env");
    symlink(&target, &link).unwrap();
    let err = publish(&link, "EAAGnewtokennewtoken0001")
        .unwrap_err()
        .to_string();
    assert!(err.contains(&link.display().to_string()), "{err}");
    assert!(err.contains(&target.display().to_string()), "{err}");
    assert!(!err.contains("EAAGnewtokennewtoken0001"), "{err}");
    assert!(
        fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(!target.exists());
}

#[test]
fn a_missing_directory_is_an_error_and_is_not_created() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere");
    publish(&missing.join("app.env"), "EAAGnewtokennewtoken0001").unwrap_err();
    assert!(!missing.exists());
}
