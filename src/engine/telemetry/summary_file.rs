//! The telemetry summary file (`telemetry.json`) that one-shot `check` runs read: rewritten
//! only when its content changed, otherwise renewed (its mtime set to now) to say it is
//! still current.
//!
//! At rest the summary is the same every time but for its `at` stamp, and rewriting it every
//! 30 s cost two fsyncs and a blocking-pool thread started again each time (about 1 ms a
//! write). A reader takes the later of `at` and the file's mtime as the moment the content
//! was last known current ([`read_summary`]).

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::types::TelemetrySnapshot;
use crate::engine::fs::atomic_file::write_atomic;
use crate::engine::fs::private_fs::open_read_no_follow;

/// SHA-256 of a summary's text without its `at` stamp.
type ContentDigest = [u8; 32];

/// The summary file and the content last written to it.
#[derive(Debug)]
pub(super) struct SummaryFile {
    path: PathBuf,
    /// Set by a write once it succeeded (in a blocking-pool thread), cleared when one failed:
    /// only content known to be in the file is ever renewed instead of written.
    written: Arc<Mutex<Option<ContentDigest>>>,
}

/// A write the caller runs off the async workers (it fsyncs).
#[derive(Debug)]
pub(super) struct SummaryWrite {
    path: PathBuf,
    text: Vec<u8>,
    digest: ContentDigest,
    written: Arc<Mutex<Option<ContentDigest>>>,
}

impl SummaryFile {
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            written: Arc::default(),
        }
    }

    /// Offers the summary `text` of the snapshot taken `at`: when the file already holds the
    /// same content, renews its mtime and returns `None`; otherwise the write to run.
    pub fn offer(&self, text: Vec<u8>, at: DateTime<Utc>) -> Option<SummaryWrite> {
        let digest = content_digest(&text, at);
        let unchanged =
            *self.written.lock().unwrap_or_else(PoisonError::into_inner) == Some(digest);
        // A file removed or replaced by hand fails to renew (or is renewed with content that
        // is still ours): written again.
        if unchanged && renew(&self.path).is_ok() {
            return None;
        }
        Some(SummaryWrite {
            path: self.path.clone(),
            text,
            digest,
            written: self.written.clone(),
        })
    }
}

impl SummaryWrite {
    /// Replaces the file (crash-safe) and remembers its content.
    pub fn run(self) {
        let result = write_atomic(&self.path, &self.text);
        let mut written = self.written.lock().unwrap_or_else(PoisonError::into_inner);
        match result {
            Ok(()) => *written = Some(self.digest),
            Err(err) => {
                *written = None;
                tracing::warn!(
                    "cannot write telemetry summary {}: {err}",
                    self.path.display()
                );
            }
        }
    }
}

/// The digest of `text` without the `"at"` field it starts with (the summary's first field);
/// a text of another shape is digested whole, so it is always written.
fn content_digest(text: &[u8], at: DateTime<Utc>) -> ContentDigest {
    let stamp = serde_json::to_vec(&at).unwrap_or_default();
    let prefix = [b"{\"at\":".as_slice(), &stamp].concat();
    let rest = text.strip_prefix(prefix.as_slice()).unwrap_or(text);
    Sha256::digest(rest).into()
}

/// Sets the file's mtime to now, without following a symlink at the path.
fn renew(path: &Path) -> io::Result<()> {
    use rustix::fs::{AtFlags, CWD, Timestamps, UTIME_NOW, UTIME_OMIT};
    let times = Timestamps {
        last_access: rustix::fs::Timespec {
            tv_sec: 0,
            tv_nsec: UTIME_OMIT,
        },
        last_modification: rustix::fs::Timespec {
            tv_sec: 0,
            tv_nsec: UTIME_NOW,
        },
    };
    rustix::fs::utimensat(CWD, path, &times, AtFlags::SYMLINK_NOFOLLOW)?;
    Ok(())
}

/// The summary at `path` (at most `max_bytes` of it), its `at` moved to the file's mtime when
/// that is later: the writer renews the mtime of content that did not change.
pub fn read_summary(path: &Path, max_bytes: u64) -> Option<TelemetrySnapshot> {
    let file = open_read_no_follow(path).ok()?;
    // The mtime of the file read, not of whatever is at the path a moment later.
    let modified = file.metadata().and_then(|m| m.modified()).ok();
    let mut text = String::new();
    file.take(max_bytes).read_to_string(&mut text).ok()?;
    let mut summary: TelemetrySnapshot = serde_json::from_str(&text).ok()?;
    if let Some(modified) = modified.and_then(as_utc) {
        summary.at = summary.at.max(modified);
    }
    Some(summary)
}

fn as_utc(at: SystemTime) -> Option<DateTime<Utc>> {
    let since = at.duration_since(SystemTime::UNIX_EPOCH).ok()?;
    DateTime::from_timestamp(i64::try_from(since.as_secs()).ok()?, since.subsec_nanos())
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::time::Duration;

    use super::*;

    fn text_of(snapshot: &TelemetrySnapshot) -> Vec<u8> {
        serde_json::to_vec(snapshot).unwrap()
    }

    /// A snapshot taken `secs` seconds after an hour ago.
    fn snapshot_at(secs: i64) -> TelemetrySnapshot {
        let hour_ago = Utc::now().timestamp() - 3600;
        TelemetrySnapshot {
            at: DateTime::from_timestamp(hour_ago + secs, 123_456_789).unwrap(),
            ..TelemetrySnapshot::default()
        }
    }

    /// A summary file in a fresh directory, written once with the snapshot returned.
    fn written_once() -> (tempfile::TempDir, PathBuf, SummaryFile, TelemetrySnapshot) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("telemetry.json");
        let summary = SummaryFile::new(path.clone());
        let first = snapshot_at(0);
        summary.offer(text_of(&first), first.at).unwrap().run();
        (dir, path, summary, first)
    }

    fn age(path: &Path, by: Duration) {
        let file = fs::File::options().write(true).open(path).unwrap();
        file.set_modified(SystemTime::now() - by).unwrap();
    }

    #[test]
    fn the_digest_ignores_the_stamp_and_nothing_else() {
        let first = snapshot_at(0);
        let later = snapshot_at(30);
        let mut changed = snapshot_at(30);
        changed.levels_1h.error = 1;
        assert_eq!(
            content_digest(&text_of(&first), first.at),
            content_digest(&text_of(&later), later.at)
        );
        assert_ne!(
            content_digest(&text_of(&first), first.at),
            content_digest(&text_of(&changed), changed.at)
        );
    }

    #[test]
    fn unchanged_content_is_renewed_not_written_and_reads_as_current() {
        let (_dir, path, summary, first) = written_once();
        let inode = std::os::unix::fs::MetadataExt::ino(&fs::metadata(&path).unwrap());
        age(&path, Duration::from_secs(600));

        let later = snapshot_at(30);
        assert!(summary.offer(text_of(&later), later.at).is_none());
        let after = fs::metadata(&path).unwrap();
        assert_eq!(
            std::os::unix::fs::MetadataExt::ino(&after),
            inode,
            "not rewritten"
        );
        let read = read_summary(&path, 1 << 20).unwrap();
        let age_secs = (Utc::now() - read.at).num_seconds();
        assert!(
            (0..60).contains(&age_secs),
            "renewed summary reads as {age_secs} s old"
        );
        // The content is the first snapshot's: only its freshness moved.
        assert_eq!(read.patterns, first.patterns);
    }

    #[test]
    fn changed_content_or_a_missing_file_is_written() {
        let (_dir, path, summary, _) = written_once();

        let mut changed = snapshot_at(30);
        changed.levels_1h.error = 7;
        summary.offer(text_of(&changed), changed.at).unwrap().run();
        assert_eq!(read_summary(&path, 1 << 20).unwrap().levels_1h.error, 7);

        fs::remove_file(&path).unwrap();
        let again = snapshot_at(60);
        let mut same_content = changed.clone();
        same_content.at = again.at;
        summary
            .offer(text_of(&same_content), same_content.at)
            .expect("a removed file is written again")
            .run();
        assert!(path.exists());
    }

    #[test]
    fn a_failed_write_is_not_renewed_later() {
        let (_dir, path, summary, first) = written_once();
        let mut changed = snapshot_at(30);
        changed.levels_1h.error = 3;
        // The write fails (a directory where its temp file would go is not the problem:
        // the path itself is one), the old content stays.
        let write = summary.offer(text_of(&changed), changed.at).unwrap();
        fs::remove_file(&path).unwrap();
        fs::create_dir(&path).unwrap();
        write.run();
        fs::remove_dir(&path).unwrap();
        fs::write(&path, text_of(&first)).unwrap();
        let again = TelemetrySnapshot {
            at: snapshot_at(60).at,
            ..changed
        };
        assert!(summary.offer(text_of(&again), again.at).is_some());
    }
}
