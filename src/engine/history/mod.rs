//! History: one JSON line per inspection, refresh, publish, send and alert in `history.jsonl`.
//!
//! Lines never hold token values (only masked tokens). A torn last line from a crash is
//! skipped on load; the file is compacted to its newest half once it passes a size cap.
//!
//! Why a row was written is typed (`cause`); the line's JSON shape, where the cause is the
//! `event` and `trigger` words, is `on_disk`'s, and reading the file with bounded memory is
//! `read`'s. Beside the file: what is read from its rows, the refresh success rate
//! (`refresh_stats`), the `history --summary` digest (`digest`) and the token lifetime series
//! (`lifetime`).

pub mod cause;
pub mod digest;
pub mod lifetime;
mod on_disk;
pub mod read;
pub mod refresh_stats;

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use self::cause::Cause;
pub use self::read::Loaded;
use crate::engine::fs::atomic_file::write_atomic;
use crate::engine::fs::private_fs::{create_private_dir_all, open_no_follow, open_read_no_follow};
use crate::graph::{Expiry, GraphError};

/// Past this size the file is compacted.
pub const DEFAULT_SIZE_CAP_BYTES: u64 = 8 * 1024 * 1024;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HistoryEvent {
    Inspect,
    Refresh,
    Publish,
    Send,
    Alert,
}

/// How it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Ok,
    Failed,
    /// Nothing needed doing (e.g. another process had just refreshed).
    Skipped,
}

/// The Graph error behind a failure, without any secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryError {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subcode: Option<i64>,
    pub class: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fbtrace_id: Option<String>,
}

impl From<&GraphError> for HistoryError {
    fn from(err: &GraphError) -> Self {
        Self {
            code: err.code,
            subcode: err.subcode,
            class: err.class.label().to_string(),
            message: err.message.clone(),
            fbtrace_id: err.fbtrace_id.clone(),
        }
    }
}

/// One history line. On disk a JSON object (see `on_disk.rs`), with the cause written as the
/// `event` and its `trigger` word.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEntry {
    pub time: DateTime<Utc>,
    pub account: String,
    /// What happened and why: a scheduled refresh, a startup inspection, a publish to the
    /// env-file, a test send, a re-auth alert, ...
    pub cause: Cause,
    pub outcome: Outcome,
    pub latency_ms: Option<u64>,
    /// Expiry of the token after this event; `None` when the event did not learn one. On
    /// disk: unix seconds, or `"never"` (older files wrote never as `0`; it still reads).
    pub new_expires_at: Option<Expiry>,
    /// Masked token the event concerned (`EAAG…x9Qf`).
    pub token: Option<String>,
    /// Boxed: most rows have none, and the dashboard keeps 10k rows.
    pub error: Option<Box<HistoryError>>,
    /// Free text for people: what was sent to whom, what the alert says.
    pub detail: Option<String>,
    /// The cluster member (host) that did the work, when tokens are shared through a cluster.
    pub host: Option<String>,
}

impl HistoryEntry {
    pub fn new(account: &str, cause: impl Into<Cause>, outcome: Outcome) -> Self {
        Self {
            time: Utc::now(),
            account: account.to_string(),
            cause: cause.into(),
            outcome,
            latency_ms: None,
            new_expires_at: None,
            token: None,
            error: None,
            detail: None,
            host: None,
        }
    }
}

impl HistoryEntry {
    /// What happened: the event of the row's cause.
    pub fn event(&self) -> HistoryEvent {
        self.cause.event()
    }

    /// The new expiry in unix seconds, when the token expires at a known time.
    pub fn new_expires_at_unix(&self) -> Option<i64> {
        match self.new_expires_at {
            Some(Expiry::At(at)) => Some(at),
            _ => None,
        }
    }
}

/// The history file of a data dir.
#[derive(Debug, Clone)]
pub struct HistoryLog {
    path: PathBuf,
    size_cap_bytes: u64,
    /// The file as last opened to append, shared by the clones: a routine round appends a
    /// row per account, and opening and closing the file for each was most of an append's
    /// cost. Used only while the path still names it (see [`HistoryLog::append`]).
    appending: Arc<Mutex<Option<AppendFile>>>,
}

/// An open history file and the identity (device, inode) it had when opened.
#[derive(Debug)]
struct AppendFile {
    file: File,
    id: (u64, u64),
    /// The file's length after our last write, which ended in a newline: while the length is
    /// still this, no one else wrote and the last byte needs no read.
    ours_until: Option<u64>,
}

impl HistoryLog {
    pub fn new(data_dir: &Path) -> Self {
        Self {
            path: data_dir.join("history.jsonl"),
            size_cap_bytes: DEFAULT_SIZE_CAP_BYTES,
            appending: Arc::default(),
        }
    }

    pub fn with_size_cap(mut self, size_cap_bytes: u64) -> Self {
        self.size_cap_bytes = size_cap_bytes;
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one line (a single `write` of the whole line, so concurrent appenders from
    /// several processes do not interleave), compacting first when past the cap.
    ///
    /// One `lstat` of the path, one 1-byte read (skipped when the length is the one our last
    /// write left) and the write: the file stays open between
    /// appends as long as the path still names it (same device and inode, not a symlink), so
    /// a file another process compacted (renamed over), an operator moved away or a symlink
    /// planted at the path is opened again, as it was by the open per append before. The
    /// window in which another process can replace the file just before the write (losing
    /// the row into the replaced file) is the same as between that open and its write.
    pub fn append(&self, entry: &HistoryEntry) -> io::Result<()> {
        let mut line = serde_json::to_vec(entry).map_err(io::Error::other)?;
        line.push(b'\n');
        let mut appending = self
            .appending
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut len = self.current_file(&mut appending)?;
        if len > self.size_cap_bytes {
            *appending = None;
            self.compact()?;
            len = self.current_file(&mut appending)?;
        }
        let Some(current) = appending.as_mut() else {
            return Err(io::Error::other("history file not open"));
        };
        // A torn last line (crash mid-write) has no newline: start on a fresh line after it.
        if current.ours_until != Some(len) && ends_without_newline(&current.file, len)? {
            line.insert(0, b'\n');
        }
        current.ours_until = None;
        current.file.write_all(&line)?;
        current.ours_until = Some(len.saturating_add(line.len() as u64));
        Ok(())
    }

    /// Makes `appending` the file the path names now, opening it when the one held is not
    /// (or none is); returns its length.
    fn current_file(&self, appending: &mut Option<AppendFile>) -> io::Result<u64> {
        use std::os::unix::fs::MetadataExt;
        if let (Some(held), Ok(meta)) = (appending.as_ref(), fs::symlink_metadata(&self.path))
            && held.id == (meta.dev(), meta.ino())
        {
            return Ok(meta.len());
        }
        *appending = None;
        let file = self.open_for_append()?;
        let meta = file.metadata()?;
        *appending = Some(AppendFile {
            file,
            id: (meta.dev(), meta.ino()),
            ours_until: None,
        });
        Ok(meta.len())
    }

    /// The file opened to append (and to read its last byte), created 0600 with its
    /// directory when missing; a symlink planted at the path is refused: appending would
    /// write through it.
    fn open_for_append(&self) -> io::Result<File> {
        let open = || {
            let mut options = OpenOptions::new();
            options.read(true).create(true).append(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600);
            }
            open_no_follow(&self.path, &mut options)
        };
        match open() {
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                if let Some(dir) = self.path.parent() {
                    create_private_dir_all(dir)?;
                }
                open()
            }
            other => other,
        }
    }

    /// Every readable entry, oldest first; unreadable or over-long lines (a torn last line)
    /// are skipped, and logged as a count.
    pub fn load(&self) -> io::Result<Vec<HistoryEntry>> {
        let loaded = self.load_counted()?;
        if loaded.skipped > 0 {
            tracing::warn!(path = %self.path.display(), skipped = loaded.skipped, "skipped unreadable or over-long history lines");
        }
        Ok(loaded.entries)
    }

    /// Every readable entry, oldest first, with the count of lines skipped.
    pub fn load_counted(&self) -> io::Result<Loaded> {
        match self.open()? {
            Some(file) => read::read_forward(file),
            None => Ok(Loaded::default()),
        }
    }

    /// The newest `limit` entries `wanted` accepts, oldest first, read from the end.
    pub fn load_newest(
        &self,
        limit: usize,
        wanted: impl Fn(&HistoryEntry) -> bool,
    ) -> io::Result<Loaded> {
        match self.open()? {
            Some(file) => read::read_newest(file, limit, wanted),
            None => Ok(Loaded::default()),
        }
    }

    /// The file, refusing a planted symlink; `None` when there is none yet.
    fn open(&self) -> io::Result<Option<fs::File>> {
        match open_read_no_follow(&self.path) {
            Ok(file) => Ok(Some(file)),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Keeps the newest half of the cap, rewriting the file atomically.
    fn compact(&self) -> io::Result<()> {
        let entries = self.load()?;
        let keep_bytes = self.size_cap_bytes / 2;
        let mut kept: Vec<Vec<u8>> = Vec::new();
        let mut total: u64 = 0;
        for entry in entries.iter().rev() {
            let mut line = serde_json::to_vec(entry).map_err(io::Error::other)?;
            line.push(b'\n');
            total += line.len() as u64;
            if total > keep_bytes {
                break;
            }
            kept.push(line);
        }
        kept.reverse();
        write_atomic(&self.path, &kept.concat())
    }
}

/// Whether the file of `len` bytes ends without a newline.
fn ends_without_newline(file: &File, len: u64) -> io::Result<bool> {
    use std::os::unix::fs::FileExt;
    if len == 0 {
        return Ok(false);
    }
    let mut last = [0u8; 1];
    file.read_exact_at(&mut last, len - 1)?;
    Ok(last[0] != b'\n')
}

#[cfg(test)]
mod tests {
    use super::cause::Trigger;
    use super::*;

    fn entry(account: &str) -> HistoryEntry {
        HistoryEntry::new(account, Trigger::Scheduled, Outcome::Ok)
    }

    #[test]
    fn appends_and_loads_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let log = HistoryLog::new(dir.path());
        log.append(&entry("a")).unwrap();
        log.append(&entry("b")).unwrap();
        let names: Vec<_> = log.load().unwrap().into_iter().map(|e| e.account).collect();
        assert_eq!(names, ["a", "b"]);
    }

    #[test]
    fn torn_last_line_is_skipped_and_next_append_survives() {
        let dir = tempfile::tempdir().unwrap();
        let log = HistoryLog::new(dir.path());
        log.append(&entry("a")).unwrap();
        let mut file = OpenOptions::new().append(true).open(log.path()).unwrap();
        file.write_all(b"{\"time\":\"2026-").unwrap();
        assert_eq!(log.load().unwrap().len(), 1);
        log.append(&entry("c")).unwrap();
        let names: Vec<_> = log.load().unwrap().into_iter().map(|e| e.account).collect();
        assert_eq!(names, ["a", "c"]);
    }

    /// The file held open between appends is used only while the path names it.
    #[test]
    fn a_file_replaced_or_removed_between_appends_gets_the_next_row() {
        let dir = tempfile::tempdir().unwrap();
        let log = HistoryLog::new(dir.path());
        log.append(&entry("a")).unwrap();
        // Another process compacts: a new file renamed over the path.
        let other = dir.path().join("other.jsonl");
        fs::write(&other, fs::read(log.path()).unwrap()).unwrap();
        fs::rename(&other, log.path()).unwrap();
        log.append(&entry("b")).unwrap();
        let names: Vec<_> = log.load().unwrap().into_iter().map(|e| e.account).collect();
        assert_eq!(names, ["a", "b"]);
        // An operator moves it away: a new one is started.
        fs::rename(log.path(), dir.path().join("moved.jsonl")).unwrap();
        log.append(&entry("c")).unwrap();
        let names: Vec<_> = log.load().unwrap().into_iter().map(|e| e.account).collect();
        assert_eq!(names, ["c"]);
        // A clone shares the open file and sees the same path.
        log.clone().append(&entry("d")).unwrap();
        assert_eq!(log.load().unwrap().len(), 2);
    }

    #[test]
    fn a_symlink_planted_after_an_append_is_refused_not_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let log = HistoryLog::new(dir.path());
        log.append(&entry("a")).unwrap();
        let target = dir.path().join("target");
        fs::write(&target, "").unwrap();
        fs::remove_file(log.path()).unwrap();
        std::os::unix::fs::symlink(&target, log.path()).unwrap();
        assert!(log.append(&entry("b")).is_err());
        assert_eq!(fs::read_to_string(&target).unwrap(), "");
    }

    #[test]
    fn never_is_written_as_never_and_old_files_with_0_still_read_as_never() {
        let dir = tempfile::tempdir().unwrap();
        let log = HistoryLog::new(dir.path());
        let old = r#"{"time":"2026-11-28T10:00:00Z","account":"a","event":"refresh","trigger":"exchange","outcome":"ok","new_expires_at":0,"token":"EAAG…x9Qf"}"#;
        let dated = r#"{"time":"2026-11-28T10:00:01Z","account":"b","event":"refresh","trigger":"scheduled","outcome":"ok","new_expires_at":1800000000}"#;
        fs::write(log.path(), format!("{old}\n{dated}\n")).unwrap();
        let mut never = entry("c");
        never.new_expires_at = Some(Expiry::Never);
        let mut unknown = entry("d");
        unknown.new_expires_at = Some(Expiry::Unknown);
        log.append(&never).unwrap();
        log.append(&unknown).unwrap();
        let loaded = log.load().unwrap();
        let expiries: Vec<_> = loaded.iter().map(|e| e.new_expires_at).collect();
        assert_eq!(
            expiries,
            [
                Some(Expiry::Never),
                Some(Expiry::At(1_800_000_000)),
                Some(Expiry::Never),
                None
            ]
        );
        assert_eq!(loaded[1].new_expires_at_unix(), Some(1_800_000_000));
        assert_eq!(loaded[2].new_expires_at_unix(), None);
        let text = fs::read_to_string(log.path()).unwrap();
        let written: Vec<&str> = text.lines().skip(2).collect();
        assert!(written[0].contains(r#""new_expires_at":"never""#), "{text}");
        assert!(!written[1].contains("new_expires_at"), "{text}");
    }

    #[test]
    fn a_line_with_another_word_for_the_expiry_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let log = HistoryLog::new(dir.path());
        let line = r#"{"time":"2026-11-28T10:00:00Z","account":"a","event":"refresh","trigger":"x","outcome":"ok","new_expires_at":"soon"}"#;
        fs::write(log.path(), format!("{line}\n")).unwrap();
        assert!(log.load().unwrap().is_empty());
    }

    #[test]
    fn compaction_keeps_the_newest_entries_under_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let log = HistoryLog::new(dir.path()).with_size_cap(4096);
        for i in 0..200 {
            log.append(&entry(&format!("acct{i}"))).unwrap();
        }
        let size = fs::metadata(log.path()).unwrap().len();
        assert!(size <= 4096 + 400, "size {size}");
        let entries = log.load().unwrap();
        assert_eq!(entries.last().unwrap().account, "acct199");
        assert!(entries.len() < 200);
    }
}
