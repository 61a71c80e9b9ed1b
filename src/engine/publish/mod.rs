//! Publishing a refreshed token: the `env-file` rewrite and the `on-refresh` command.
//!
//! A failed publish never loses the token: it is already in the store, and the publish is
//! retried at the next cycle. The env-file is the operator's file: a symlink is written
//! through to its target, and an existing file keeps its owner, group and mode.
//!
//! Beside it: the `token-file` target (`token_file`), the hook runner (`hook`), and what tells
//! the consumer afterwards (`notify`: `on-publish-signal`, `on-publish-restart`).

pub mod health;
pub mod hook;
pub mod notify;
pub mod token_file;

use std::io;
use std::path::Path;

use secrecy::{ExposeSecret, SecretString};

use crate::config::capped_read::{CappedReadError, read_capped};
use crate::graph::check_token_shape;

use crate::engine::fs::atomic_file::write_through;
pub use crate::engine::publish::hook::run_on_refresh;

/// The env-file key holding the access token.
pub const ACCESS_TOKEN_KEY: &str = "WHATSAPP_ACCESS_TOKEN";
/// An env-file larger than this is not an env-file; refuse rather than read it all.
pub const ENV_FILE_MAX_BYTES: u64 = 1024 * 1024;

/// Rewrites `KEY=value` lines of an env file atomically: `WHATSAPP_ACCESS_TOKEN` is set (and
/// `WHATSAPP_REFRESH_TOKEN` when given); every other line is kept as it was. A new file is
/// 0600; its directory must exist.
pub fn write_env_file(
    path: &Path,
    access_token: &SecretString,
    long_lived_token: Option<&SecretString>,
) -> io::Result<()> {
    let mut updates = vec![(ACCESS_TOKEN_KEY, access_token)];
    if let Some(token) = long_lived_token {
        updates.push(("WHATSAPP_REFRESH_TOKEN", token));
    }
    // A value with a newline would inject a line into the application's environment.
    for (key, token) in &updates {
        check_token_shape(token.expose_secret()).map_err(|problem| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("refusing to write {key}: {problem}"),
            )
        })?;
    }
    let existing = read_existing(path)?;
    let mut out = String::new();
    let mut written = vec![false; updates.len()];
    for line in existing.lines() {
        let key = line.split('=').next().unwrap_or("").trim();
        match updates.iter().position(|(k, _)| *k == key) {
            Some(i) => {
                out.push_str(&format!(
                    "{}={}\n",
                    updates[i].0,
                    updates[i].1.expose_secret()
                ));
                written[i] = true;
            }
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    for (i, (key, value)) in updates.iter().enumerate() {
        if !written[i] {
            out.push_str(&format!("{key}={}\n", value.expose_secret()));
        }
    }
    write_through(path, out.as_bytes())
}

/// Whether the env-file at `path` exists and holds another `WHATSAPP_ACCESS_TOKEN` than
/// `token` (a restart after a failed or interrupted publish finds it stale).
pub fn env_file_is_stale(path: &Path, token: &SecretString) -> bool {
    env_file_token(path, token) == EnvFileToken::Older
}

/// What an env-file holds as its `WHATSAPP_ACCESS_TOKEN`, next to the current token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvFileToken {
    Current,
    /// Another token: a publish failed or was cut short.
    Older,
    /// No file, an unreadable one, or no such line.
    Nothing,
}

/// Reads the env-file at `path` once and says whether it holds `token`.
pub fn env_file_token(path: &Path, token: &SecretString) -> EnvFileToken {
    match held_access_token(path) {
        Some(value) if value == token.expose_secret() => EnvFileToken::Current,
        Some(_) => EnvFileToken::Older,
        None => EnvFileToken::Nothing,
    }
}

/// The env-file's `WHATSAPP_ACCESS_TOKEN` value, if it can be read and has one.
fn held_access_token(path: &Path) -> Option<String> {
    let text = read_existing(path).ok()?;
    text.lines().find_map(|line| {
        let (key, value) = line.split_once('=')?;
        (key.trim() == ACCESS_TOKEN_KEY).then(|| value.trim().to_string())
    })
}

/// The current content (empty when there is none yet), at most [`ENV_FILE_MAX_BYTES`]; a
/// FIFO or device there is refused rather than waited on.
fn read_existing(path: &Path) -> io::Result<String> {
    match read_capped(path, ENV_FILE_MAX_BYTES) {
        Ok(text) => Ok(text),
        Err(CappedReadError::NotFound) => Ok(String::new()),
        Err(CappedReadError::Io(err)) => Err(err),
        Err(other) => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{other}: not a KEY=value env file"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_file_keeps_other_lines_and_replaces_the_token() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".env");
        std::fs::write(&path, "# app\nWHATSAPP_ACCESS_TOKEN=old\nOTHER=1\n").unwrap();
        write_env_file(&path, &SecretString::from("EAAGnewnewnewnewnew1"), None).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "# app\nWHATSAPP_ACCESS_TOKEN=EAAGnewnewnewnewnew1\nOTHER=1\n"
        );
    }

    #[test]
    fn env_file_is_created_with_both_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.env");
        let ll = SecretString::from("EAAGlonglivedlonglived");
        write_env_file(
            &path,
            &SecretString::from("EAAGaccessaccessaccess"),
            Some(&ll),
        )
        .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "WHATSAPP_ACCESS_TOKEN=EAAGaccessaccessaccess\nWHATSAPP_REFRESH_TOKEN=EAAGlonglivedlonglived\n"
        );
    }

    #[test]
    fn a_stale_env_file_is_told_from_a_current_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".env");
        let token = SecretString::from("EAAGcurrentcurrentcurrent");
        assert!(!env_file_is_stale(&path, &token), "missing is not stale");
        std::fs::write(
            &path,
            "A=1\nWHATSAPP_ACCESS_TOKEN=EAAGcurrentcurrentcurrent\n",
        )
        .unwrap();
        assert!(!env_file_is_stale(&path, &token));
        std::fs::write(&path, "WHATSAPP_ACCESS_TOKEN=\n").unwrap();
        assert!(env_file_is_stale(&path, &token));
        std::fs::write(&path, "WHATSAPP_ACCESS_TOKEN=EAAGolderolderolder\n").unwrap();
        assert!(env_file_is_stale(&path, &token));
    }

    #[test]
    fn a_token_that_would_inject_a_line_is_never_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".env");
        std::fs::write(&path, "WHATSAPP_ACCESS_TOKEN=EAAGworkingworkingworking\n").unwrap();
        let hostile = SecretString::from("EAAGlooksfine0000000\nINJECTED_VAR=pwned");
        let err = write_env_file(&path, &hostile, None).unwrap_err();
        assert!(
            err.to_string()
                .contains("refusing to write WHATSAPP_ACCESS_TOKEN"),
            "{err}"
        );
        assert!(!err.to_string().contains("INJECTED"), "{err}");
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "WHATSAPP_ACCESS_TOKEN=EAAGworkingworkingworking\n"
        );
        assert!(write_env_file(&path, &SecretString::from(""), None).is_err());
    }
}
