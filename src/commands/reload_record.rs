//! What `daemon` leaves in the data dir for `tokentop reload`: its pid (`daemon.pid`) and the
//! result of its last reload of the accounts (`reload.json`).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::engine::reload::AccountsChange;

/// The running daemon's process id, written at start and removed at exit.
pub const DAEMON_PID_FILE: &str = "daemon.pid";
/// The daemon's last reload of the accounts.
pub const RELOAD_FILE: &str = "reload.json";
/// A record is a few kilobytes; a larger file is not one.
const MAX_RECORD_BYTES: u64 = 4 * 1024 * 1024;

/// One reload, as `tokentop reload` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReloadRecord {
    /// When the daemon applied it, unix milliseconds.
    pub at_ms: i64,
    pub pid: u32,
    /// Accounts running after it.
    pub accounts: usize,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<String>,
    /// Account files skipped, each with its problems (`file:line: key: problem`).
    pub invalid: Vec<InvalidFileRecord>,
    /// Why nothing was applied (the config file is invalid): the running accounts are kept.
    pub refused: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvalidFileRecord {
    pub file: PathBuf,
    pub problems: Vec<String>,
}

impl ReloadRecord {
    pub fn from_change(change: &AccountsChange, at_ms: i64) -> Self {
        Self {
            at_ms,
            pid: std::process::id(),
            accounts: change.accounts.len(),
            added: change.diff.added.clone(),
            removed: change.diff.removed.clone(),
            changed: change.diff.changed.clone(),
            invalid: change
                .invalid_files
                .iter()
                .map(|file| InvalidFileRecord {
                    file: file.path.clone(),
                    problems: file.issues.iter().map(ToString::to_string).collect(),
                })
                .collect(),
            refused: change.refused.clone(),
        }
    }

    /// The lines `tokentop reload` prints.
    pub fn lines(&self) -> Vec<String> {
        if let Some(refused) = &self.refused {
            return vec![format!(
                "not reloaded: the running accounts are kept ({} running): {refused}",
                self.accounts
            )];
        }
        let mut lines = Vec::new();
        for (word, names) in [
            ("added", &self.added),
            ("removed", &self.removed),
            ("changed", &self.changed),
        ] {
            if !names.is_empty() {
                lines.push(format!("{word}: {}", names.join(", ")));
            }
        }
        if lines.is_empty() {
            lines.push("no account changed".to_string());
        }
        for file in &self.invalid {
            lines.push(format!("invalid, skipped: {}", file.file.display()));
            lines.extend(file.problems.iter().map(|p| format!("  {p}")));
        }
        lines.push(format!("{} accounts running", self.accounts));
        lines
    }
}

pub fn write(data_dir: &Path, record: &ReloadRecord) -> std::io::Result<()> {
    let json = serde_json::to_vec_pretty(record).map_err(std::io::Error::other)?;
    crate::engine::fs::atomic_file::write_atomic(&data_dir.join(RELOAD_FILE), &json)
}

pub fn read(data_dir: &Path) -> Option<ReloadRecord> {
    let path = data_dir.join(RELOAD_FILE);
    let text =
        crate::engine::fs::private_fs::read_capped_no_follow(&path, MAX_RECORD_BYTES).ok()?;
    serde_json::from_str(&text).ok()
}

/// Writes this process's id to `daemon.pid`; removed again when the guard drops.
pub struct PidFile(PathBuf);

impl PidFile {
    pub fn create(data_dir: &Path) -> std::io::Result<Self> {
        crate::engine::fs::private_fs::create_private_dir_all(data_dir)?;
        let path = data_dir.join(DAEMON_PID_FILE);
        let pid = format!("{}\n", std::process::id());
        crate::engine::fs::atomic_file::write_atomic(&path, pid.as_bytes())?;
        Ok(Self(path))
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        // Only our own: a daemon started since may have written its pid.
        let ours = std::fs::read_to_string(&self.0)
            .is_ok_and(|text| text.trim() == std::process::id().to_string());
        if ours {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lines_name_each_change_and_every_skipped_file() {
        let record = ReloadRecord {
            at_ms: 1,
            pid: 2,
            accounts: 3,
            added: vec!["acme".into()],
            removed: vec!["old".into()],
            changed: Vec::new(),
            invalid: vec![InvalidFileRecord {
                file: PathBuf::from("/etc/tokentop/accounts.d/bad.toml"),
                problems: vec![
                    "/etc/tokentop/accounts.d/bad.toml:2: account.app-id = \"x\": not digits"
                        .into(),
                ],
            }],
            refused: None,
        };
        assert_eq!(
            record.lines(),
            [
                "added: acme",
                "removed: old",
                "invalid, skipped: /etc/tokentop/accounts.d/bad.toml",
                "  /etc/tokentop/accounts.d/bad.toml:2: account.app-id = \"x\": not digits",
                "3 accounts running",
            ]
        );
        let refused = ReloadRecord {
            refused: Some("bad".into()),
            ..record
        };
        assert_eq!(refused.lines().len(), 1);
        assert!(refused.lines()[0].starts_with("not reloaded"));
    }

    #[test]
    fn a_record_survives_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let record = ReloadRecord::from_change(&AccountsChange::default(), 5);
        write(dir.path(), &record).unwrap();
        assert_eq!(read(dir.path()), Some(record));
        let pid = PidFile::create(dir.path()).unwrap();
        let written = std::fs::read_to_string(dir.path().join(DAEMON_PID_FILE)).unwrap();
        assert_eq!(written.trim(), std::process::id().to_string());
        drop(pid);
        assert!(!dir.path().join(DAEMON_PID_FILE).exists());
    }
}
