//! The `token-file`: just the access token and a newline, for applications that read the token
//! from a file on each send (Kubernetes-style projected secrets, Vault Agent sinks).
//!
//! It is replaced atomically (temp file in the same directory, fsync, rename, fsync the
//! directory), so a reader sees the old token or the new one, never a torn file. Like the
//! env-file, a symlink is written through to its target and the directory is never created;
//! unlike it, the mode is tokentop's to set: the configured one, on every write.

use std::io;
use std::path::Path;

use secrecy::{ExposeSecret, SecretString};

use crate::config::capped_read::read_capped;
use crate::graph::check_token_shape;

use crate::engine::fs::atomic_file::write_through_with_mode;

/// A token file larger than this holds no token of ours; it is not read (just replaced).
const TOKEN_FILE_MAX_BYTES: u64 = 64 * 1024;

/// Replaces the file at `path` with `token` and a newline, mode `mode` (also over an existing
/// file with another mode). A value that is not token-shaped is refused and nothing is
/// written; errors never contain the token.
pub fn write_token_file(path: &Path, token: &SecretString, mode: u32) -> io::Result<()> {
    let token = token.expose_secret();
    check_token_shape(token).map_err(|problem| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("refusing to write the token file: {problem}"),
        )
    })?;
    let mut contents = String::with_capacity(token.len() + 1);
    contents.push_str(token);
    contents.push('\n');
    write_through_with_mode(path, contents.as_bytes(), mode)
}

/// Whether the file at `path` already holds exactly `token` and a newline, with mode `mode`
/// (a restart then has nothing to write). Anything unreadable is not current.
pub fn token_file_is_current(path: &Path, token: &SecretString, mode: u32) -> bool {
    let Ok(text) = read_capped(path, TOKEN_FILE_MAX_BYTES) else {
        return false;
    };
    let holds_token = text
        .strip_suffix('\n')
        .is_some_and(|held| held == token.expose_secret());
    holds_token && has_mode(path, mode)
}

#[cfg(unix)]
fn has_mode(path: &Path, mode: u32) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o7777 == mode)
}

#[cfg(not(unix))]
fn has_mode(_path: &Path, _mode: u32) -> bool {
    true
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::{PermissionsExt, symlink};

    use super::*;

    const TOKEN: &str = "EAAGtokenfiletokenfile0001";
    const NEWER: &str = "EAAGtokenfiletokenfile0002";

    fn secret(text: &str) -> SecretString {
        SecretString::from(text.to_string())
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn holds_just_the_token_and_a_newline_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("production.token");
        write_token_file(&path, &secret(TOKEN), 0o600).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), format!("{TOKEN}\n"));
        assert_eq!(mode(&path), 0o600);
        write_token_file(&path, &secret(NEWER), 0o600).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), format!("{NEWER}\n"));
        // No temp file left beside it: never a partial file for a reader to find.
        assert_eq!(names(dir.path()), vec!["production.token"]);
    }

    #[test]
    fn the_mode_is_applied_over_an_existing_file_with_another_mode() {
        for wanted in [0o600, 0o640, 0o660] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("t.token");
            fs::write(&path, "EAAGoldoldoldoldold\n").unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
            write_token_file(&path, &secret(TOKEN), wanted).unwrap();
            assert_eq!(mode(&path), wanted, "{wanted:o}");
            assert_eq!(fs::read_to_string(&path).unwrap(), format!("{TOKEN}\n"));
        }
    }

    #[test]
    fn a_new_file_gets_the_configured_mode_whatever_the_umask() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.token");
        write_token_file(&path, &secret(TOKEN), 0o660).unwrap();
        assert_eq!(mode(&path), 0o660);
    }

    /// Projected-secret style: the link stays, its target gets the token and the mode.
    #[test]
    fn a_symlink_is_written_through_to_its_target() {
        let dir = tempfile::tempdir().unwrap();
        let real_dir = dir.path().join("data");
        fs::create_dir(&real_dir).unwrap();
        let target = real_dir.join("token");
        fs::write(&target, "EAAGoldoldoldoldold\n").unwrap();
        fs::set_permissions(&target, fs::Permissions::from_mode(0o644)).unwrap();
        let link = dir.path().join("production.token");
        symlink(&target, &link).unwrap();
        write_token_file(&link, &secret(TOKEN), 0o640).unwrap();
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(fs::read_link(&link).unwrap(), target);
        assert_eq!(fs::read_to_string(&target).unwrap(), format!("{TOKEN}\n"));
        assert_eq!(mode(&target), 0o640);
        assert_eq!(names(&real_dir), vec!["token"]);
    }

    #[test]
    fn a_missing_directory_is_an_error_and_is_not_created() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("typo").join("t.token");
        let err = write_token_file(&path, &secret(TOKEN), 0o600).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(!dir.path().join("typo").exists());
        assert!(!err.to_string().contains(TOKEN), "{err}");
    }

    #[test]
    fn what_is_not_token_shaped_is_never_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.token");
        fs::write(&path, format!("{TOKEN}\n")).unwrap();
        for hostile in [
            "",
            "EAAGlooksfine0000000\nINJECTED",
            "has spaces in it here",
        ] {
            let err = write_token_file(&path, &secret(hostile), 0o600).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{hostile:?}");
            assert!(err.to_string().contains("refusing to write the token file"));
            assert!(!err.to_string().contains("INJECTED"), "{err}");
        }
        assert_eq!(fs::read_to_string(&path).unwrap(), format!("{TOKEN}\n"));
        assert_eq!(names(dir.path()), vec!["t.token"]);
    }

    /// A write that fails at the rename (a directory sits at the path) leaves what was there
    /// and no temp file holding the token.
    #[test]
    fn a_failed_write_leaves_no_partial_or_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.token");
        fs::create_dir(&path).unwrap();
        fs::write(path.join("keep"), "x").unwrap();
        assert!(write_token_file(&path, &secret(TOKEN), 0o600).is_err());
        assert_eq!(names(dir.path()), vec!["t.token"]);
        assert_eq!(names(&path), vec!["keep"]);
    }

    #[test]
    fn current_means_same_token_and_same_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.token");
        let token = secret(TOKEN);
        assert!(!token_file_is_current(&path, &token, 0o600), "missing");
        write_token_file(&path, &token, 0o600).unwrap();
        assert!(token_file_is_current(&path, &token, 0o600));
        assert!(!token_file_is_current(&path, &token, 0o640), "other mode");
        assert!(!token_file_is_current(&path, &secret(NEWER), 0o600));
        fs::write(&path, TOKEN).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        assert!(!token_file_is_current(&path, &token, 0o600), "no newline");
    }

    #[test]
    fn a_device_or_fifo_is_never_replaced_even_through_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let token = secret("EAAGm0PX4ZCpsBAKZCZAabcdefghijklmnop1234");
        let err = write_token_file(&fifo, &token, 0o600).unwrap_err();
        assert!(
            err.to_string()
                .contains("is a FIFO (named pipe), not a regular file"),
            "{err}"
        );
        let link = dir.path().join("app.token");
        std::os::unix::fs::symlink("/dev/null", &link).unwrap();
        let err = write_token_file(&link, &token, 0o600).unwrap_err();
        assert!(err.to_string().contains("a character device"), "{err}");
        assert!(!err.to_string().contains("abcdefghijklmnop"), "{err}");
        use std::os::unix::fs::FileTypeExt;
        assert!(
            std::fs::metadata("/dev/null")
                .unwrap()
                .file_type()
                .is_char_device()
        );
        assert!(
            std::fs::symlink_metadata(&fifo)
                .unwrap()
                .file_type()
                .is_fifo()
        );
        assert_eq!(names(dir.path()), ["app.token", "pipe"]);
    }
}
