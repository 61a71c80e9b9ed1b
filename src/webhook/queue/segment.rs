//! Segment files: their names, the listing at open, the recovery of the last one after a
//! crash, and reading one record back.
//!
//! A segment is named after the first seq it holds (`00000000000000000001.seg`), so an empty
//! last segment still tells where the seqs stand. Only the last segment is appended to.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::engine::fs::private_fs::{open_no_follow, open_read_no_follow};

use super::frame::{self, HEADER_LEN, MAX_SIGNATURE_LEN};
use super::{QueueError, QueuedWebhook};

const SUFFIX: &str = ".seg";

pub fn path(dir: &Path, first_seq: u64) -> PathBuf {
    dir.join(format!("{first_seq:020}{SUFFIX}"))
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> QueueError + '_ {
    move |source| QueueError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The segment files in `dir`: first seq → length. Anything that is not a regular file named
/// like a segment is left alone (a symlink with a warning: it is never followed).
pub fn list(dir: &Path) -> Result<BTreeMap<u64, u64>, QueueError> {
    let mut segments = BTreeMap::new();
    for entry in std::fs::read_dir(dir).map_err(io_error(dir))? {
        let entry = entry.map_err(io_error(dir))?;
        let name = entry.file_name();
        let Some(first_seq) = name
            .to_str()
            .and_then(|name| name.strip_suffix(SUFFIX))
            .and_then(|digits| digits.parse::<u64>().ok())
        else {
            continue;
        };
        let metadata = entry.metadata().map_err(io_error(&entry.path()))?;
        if !metadata.is_file() {
            tracing::warn!(file = %entry.path().display(), "not a regular file; ignored as a webhook queue segment");
            continue;
        }
        segments.insert(first_seq, metadata.len());
    }
    Ok(segments)
}

/// Makes the last segment end on a complete record: a torn tail (a write cut by a crash) is
/// logged and cut off. Returns the last seq in it, if any, and its length afterwards.
pub fn recover(path: &Path) -> Result<(Option<u64>, u64), QueueError> {
    let bytes = std::fs::read(path).map_err(io_error(path))?;
    let scan = frame::scan(&bytes);
    report_skipped(path, &scan.skipped);
    if let Some(reason) = scan.tail_reason {
        tracing::warn!(
            file = %path.display(),
            offset = scan.valid_end,
            bytes = bytes.len() as u64 - scan.valid_end,
            reason,
            "webhook queue: cutting off a torn record at the end of the segment (a write interrupted by a crash; it was never acknowledged)"
        );
        let file = open_no_follow(path, OpenOptions::new().write(true)).map_err(io_error(path))?;
        file.set_len(scan.valid_end).map_err(io_error(path))?;
        file.sync_all().map_err(io_error(path))?;
    }
    let last_seq = scan.records.last().map(|(_, header)| header.seq);
    Ok((last_seq, scan.valid_end))
}

fn report_skipped(path: &Path, skipped: &[(u64, u64, &'static str)]) {
    for (offset, bytes, reason) in skipped {
        tracing::error!(
            file = %path.display(),
            offset,
            bytes,
            reason,
            "webhook queue: skipping a corrupt stretch of a segment; the webhooks in it are lost, the ones after it are served"
        );
    }
}

/// Creates the segment that starts at `first_seq` (0600, never through a symlink) and makes
/// its directory entry durable.
pub fn create(dir: &Path, first_seq: u64) -> Result<File, QueueError> {
    create_at(dir, &path(dir, first_seq))
}

/// Creates the file at `path` in `dir` for appending (0600, never through a symlink) and
/// makes its directory entry durable.
pub fn create_at(dir: &Path, path: &Path) -> Result<File, QueueError> {
    let mut options = OpenOptions::new();
    options.append(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let file = open_no_follow(path, &mut options).map_err(io_error(path))?;
    sync_dir(dir)?;
    Ok(file)
}

pub fn open_append(path: &Path) -> Result<File, QueueError> {
    open_no_follow(path, OpenOptions::new().append(true)).map_err(io_error(path))
}

pub fn sync_dir(dir: &Path) -> Result<(), QueueError> {
    File::open(dir)
        .and_then(|dir| dir.sync_all())
        .map_err(io_error(dir))
}

/// What is at an offset of a segment.
pub enum Found {
    /// A record, and the offset where the next one starts.
    Record(QueuedWebhook, u64),
    /// Corrupt bytes: the next record starts at `to` (the segment's end when none does).
    Corrupt { to: u64 },
    /// The file is gone (removed by hand): its records cannot be served.
    Missing,
}

/// Reads the record at `offset` of the segment at `path`, whose durable length is `len`.
pub fn read_at(path: &Path, offset: u64, len: u64) -> Result<Found, QueueError> {
    let file = match open_read_no_follow(path) {
        Ok(file) => file,
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            tracing::error!(file = %path.display(), "webhook queue: a segment is missing; its webhooks are lost, the later ones are served");
            return Ok(Found::Missing);
        }
        Err(err) => return Err(io_error(path)(err)),
    };
    let available = len.saturating_sub(offset);
    let head_len = available.min((HEADER_LEN + MAX_SIGNATURE_LEN) as u64) as usize;
    let head = read_exact(&file, path, offset, head_len)?;
    let record = match frame::decode_header(&head) {
        Ok(header) if header.record_len() as u64 <= available => {
            read_exact(&file, path, offset, header.record_len())?
        }
        _ => head,
    };
    match frame::decode(&record) {
        Ok((header, signature, body)) => {
            let next = offset + header.record_len() as u64;
            let signature = String::from_utf8_lossy(signature).into_owned();
            let body_at = record.len() - body.len();
            let webhook = QueuedWebhook {
                seq: header.seq,
                signature,
                body: Bytes::from(record).slice(body_at..),
                received_at_unix: header.received_at_unix,
            };
            Ok(Found::Record(webhook, next))
        }
        Err(error) => {
            let rest = read_exact(&file, path, offset, available as usize)?;
            let to = frame::resync(&rest, 1).map_or(len, |next| offset + next as u64);
            report_skipped(path, &[(offset, to - offset, frame::describe(error))]);
            Ok(Found::Corrupt { to })
        }
    }
}

fn read_exact(file: &File, path: &Path, offset: u64, len: usize) -> Result<Vec<u8>, QueueError> {
    let mut buf = vec![0; len];
    file.read_exact_at(&mut buf, offset)
        .map_err(io_error(path))?;
    Ok(buf)
}

/// The seq of the first complete record in the file at `path` (of length `len`).
pub fn first_seq(path: &Path, len: u64) -> Result<Option<u64>, QueueError> {
    let file = open_read_no_follow(path).map_err(io_error(path))?;
    let bytes = read_exact(&file, path, 0, len as usize)?;
    Ok(frame::scan(&bytes)
        .records
        .first()
        .map(|(_, header)| header.seq))
}

/// The offset of the first record after `seq` in the segment at `path` (of durable length
/// `len`); `None` when every record there is at or before `seq`.
pub fn locate_after(path: &Path, len: u64, seq: u64) -> Result<Option<u64>, QueueError> {
    let file = match open_read_no_follow(path) {
        Ok(file) => file,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(io_error(path)(err)),
    };
    let bytes = read_exact(&file, path, 0, len as usize)?;
    Ok(frame::scan(&bytes)
        .records
        .iter()
        .find(|(_, header)| header.seq > seq)
        .map(|(offset, _)| *offset))
}
