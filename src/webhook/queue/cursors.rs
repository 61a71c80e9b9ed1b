//! Where each destination stands: in memory the segment and offset of its next record, on disk
//! (`cursors.json`) the last seq it acknowledged, written at most every 200 ms.
//!
//! Batching the writes is safe: after a crash a destination resumes after an older ack and
//! gets a few bodies again, which at-least-once delivery allows.

use std::collections::BTreeMap;
use std::path::Path;

use crate::engine::fs::atomic_file::write_atomic;
use crate::engine::fs::private_fs::read_capped_no_follow;

use super::QueueError;

pub const FILE_NAME: &str = "cursors.json";
/// A cursor file is a few dozen bytes per destination.
const MAX_FILE_BYTES: u64 = 1 << 20;

/// One destination's place in the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// Every seq up to this one is acknowledged.
    pub acked_seq: u64,
    /// The segment (its first seq) and offset where the next unacknowledged record starts.
    pub segment: u64,
    pub offset: u64,
    /// The record `next` last handed out: its seq and where the one after it starts.
    pub handed_out: Option<HandedOut>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandedOut {
    pub seq: u64,
    pub segment: u64,
    pub next_offset: u64,
}

/// The acknowledged seq of each destination in the file; `None` when there is no readable
/// file, and then every destination starts from the oldest record still queued.
///
/// An unreadable file is logged and treated as absent: destinations may get bodies again but
/// lose none. (The file is written at open, so on a queue that ever ran it is absent only if
/// removed by hand.)
pub fn load(dir: &Path) -> Result<Option<BTreeMap<String, u64>>, QueueError> {
    let path = dir.join(FILE_NAME);
    let text = match read_capped_no_follow(&path, MAX_FILE_BYTES) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(QueueError::Io { path, source }),
    };
    match serde_json::from_str(&text) {
        Ok(acked) => Ok(Some(acked)),
        Err(err) => {
            tracing::warn!(
                file = %path.display(),
                error = %err,
                "webhook queue: the destinations' positions are unreadable; every destination resumes from the oldest queued webhook (some are sent again, none is lost)"
            );
            Ok(None)
        }
    }
}

/// Replaces the file with `acked` (temp file, fsync, rename).
pub fn save(dir: &Path, acked: &BTreeMap<String, u64>) -> Result<(), QueueError> {
    let path = dir.join(FILE_NAME);
    let text = serde_json::to_vec(acked).unwrap_or_default();
    write_atomic(&path, &text).map_err(|source| QueueError::Io { path, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_round_trip_and_a_garbled_file_means_from_the_start() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load(dir.path()).unwrap(), None);
        let acked = BTreeMap::from([("app".to_string(), 41), ("crm".to_string(), 7)]);
        save(dir.path(), &acked).unwrap();
        assert_eq!(load(dir.path()).unwrap(), Some(acked));
        std::fs::write(dir.path().join(FILE_NAME), b"{\"app\": 4").unwrap();
        assert_eq!(load(dir.path()).unwrap(), None);
    }
}
