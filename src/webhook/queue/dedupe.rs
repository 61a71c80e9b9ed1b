//! The bounded set of recent body digests that recognises Meta's retries, kept in a file so a
//! retry after a restart is still recognised.
//!
//! Each entry is 36 bytes: the first 16 bytes of the body's SHA-256 (a collision needs 2^64
//! bodies), the seq it was queued as, when it was accepted, and a 4-byte check. The file is
//! appended after each group commit without an fsync of its own: a kill -9 keeps what was
//! written (the page cache survives the process), and an entry lost to a power cut only lets
//! one retry through twice, which at-least-once delivery allows. It is rewritten with just the
//! live entries when it holds twice as many as the set.

use std::collections::{HashMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::engine::fs::atomic_file::write_atomic;
use crate::engine::fs::private_fs::open_no_follow;

use super::frame::BodyDigest;

pub const FILE_NAME: &str = "dedupe.bin";
const ENTRY_LEN: usize = 36;

type Key = [u8; 16];

#[derive(Debug, Clone, Copy)]
struct Seen {
    seq: u64,
    at_unix: i64,
}

/// The digests of the last `capacity` bodies accepted within `window`.
pub struct DedupeSet {
    seen: HashMap<Key, Seen>,
    order: VecDeque<Key>,
    capacity: usize,
    window_secs: i64,
    file: File,
    path: PathBuf,
    entries_in_file: usize,
    /// Entries accepted since the last append to the file.
    unwritten: Vec<u8>,
}

fn key(digest: &BodyDigest) -> Key {
    let mut key = [0; 16];
    key.copy_from_slice(&digest[..16]);
    key
}

impl DedupeSet {
    /// Loads the set from `dir`, dropping a torn or corrupt entry with a warning.
    pub fn open(dir: &Path, capacity: usize, window: Duration) -> io::Result<DedupeSet> {
        let path = dir.join(FILE_NAME);
        let mut file = open_no_follow(
            &path,
            OpenOptions::new().read(true).append(true).create(true),
        )?;
        set_private(&file)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let mut set = DedupeSet {
            seen: HashMap::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
            window_secs: i64::try_from(window.as_secs()).unwrap_or(i64::MAX),
            file,
            path,
            entries_in_file: 0,
            unwritten: Vec::new(),
        };
        set.load(&bytes);
        if bytes.len() % ENTRY_LEN != 0 || set.entries_in_file > set.capacity {
            set.rewrite()?;
        }
        Ok(set)
    }

    fn load(&mut self, bytes: &[u8]) {
        let mut bad = 0;
        for entry in bytes.chunks_exact(ENTRY_LEN) {
            match decode(entry) {
                Some((key, seen)) => self.remember(key, seen),
                None => bad += 1,
            }
            self.entries_in_file += 1;
        }
        let torn = bytes.len() % ENTRY_LEN;
        if bad > 0 || torn > 0 {
            tracing::warn!(
                file = %self.path.display(),
                bad_entries = bad,
                torn_bytes = torn,
                "dropped unreadable entries of the webhook dedupe file; a Meta retry of those bodies may be queued again"
            );
        }
    }

    /// The seq `digest` was queued as, if it was accepted within the window before `now_unix`.
    pub fn find(&self, digest: &BodyDigest, now_unix: i64) -> Option<u64> {
        self.seen
            .get(&key(digest))
            .filter(|seen| now_unix.saturating_sub(seen.at_unix) <= self.window_secs)
            .map(|seen| seen.seq)
    }

    /// Remembers a newly queued body; written to the file at the next [`DedupeSet::flush`].
    pub fn insert(&mut self, digest: &BodyDigest, seq: u64, at_unix: i64) {
        let key = key(digest);
        let seen = Seen { seq, at_unix };
        self.unwritten.extend_from_slice(&encode(&key, seen));
        self.remember(key, seen);
    }

    fn remember(&mut self, key: Key, seen: Seen) {
        if self.seen.insert(key, seen).is_none() {
            self.order.push_back(key);
        }
        while self.order.len() > self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.seen.remove(&old);
            }
        }
    }

    /// Appends the entries inserted since the last flush; compacts the file when it has grown
    /// to twice the set.
    pub fn flush(&mut self) -> io::Result<()> {
        if self.unwritten.is_empty() {
            return Ok(());
        }
        self.file.write_all(&self.unwritten)?;
        self.entries_in_file += self.unwritten.len() / ENTRY_LEN;
        self.unwritten.clear();
        if self.entries_in_file > 2 * self.capacity {
            self.rewrite()?;
        }
        Ok(())
    }

    pub fn sync(&mut self) -> io::Result<()> {
        self.file.sync_data()
    }

    /// A second handle on the file, for an fsync on another thread.
    pub fn handle_for_sync(&self) -> io::Result<File> {
        self.file.try_clone()
    }

    /// Replaces the file with the live entries, oldest first (write, fsync, rename).
    fn rewrite(&mut self) -> io::Result<()> {
        let mut bytes = Vec::with_capacity(self.order.len() * ENTRY_LEN);
        for key in &self.order {
            if let Some(seen) = self.seen.get(key) {
                bytes.extend_from_slice(&encode(key, *seen));
            }
        }
        write_atomic(&self.path, &bytes)?;
        self.file = open_no_follow(&self.path, OpenOptions::new().append(true))?;
        self.entries_in_file = self.order.len();
        Ok(())
    }
}

fn set_private(file: &File) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

fn encode(key: &Key, seen: Seen) -> [u8; ENTRY_LEN] {
    let mut entry = [0; ENTRY_LEN];
    entry[..16].copy_from_slice(key);
    entry[16..24].copy_from_slice(&seen.seq.to_le_bytes());
    entry[24..32].copy_from_slice(&seen.at_unix.to_le_bytes());
    let check = Sha256::digest(&entry[..32]);
    entry[32..].copy_from_slice(&check[..4]);
    entry
}

fn decode(entry: &[u8]) -> Option<(Key, Seen)> {
    let check = Sha256::digest(&entry[..32]);
    if entry[32..ENTRY_LEN] != check[..4] {
        return None;
    }
    let mut key = [0; 16];
    key.copy_from_slice(&entry[..16]);
    let mut seq = [0; 8];
    seq.copy_from_slice(&entry[16..24]);
    let mut at = [0; 8];
    at.copy_from_slice(&entry[24..32]);
    Some((
        key,
        Seen {
            seq: u64::from_le_bytes(seq),
            at_unix: i64::from_le_bytes(at),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook::queue::frame::body_digest;

    const WEEK: Duration = Duration::from_secs(7 * 86_400);

    #[test]
    fn a_digest_is_found_within_the_window_and_after_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let mut set = DedupeSet::open(dir.path(), 10, WEEK).unwrap();
        let digest = body_digest(b"body");
        set.insert(&digest, 5, 1_000);
        assert_eq!(set.find(&digest, 1_000), Some(5));
        assert_eq!(set.find(&digest, 1_000 + 7 * 86_400 + 1), None);
        set.flush().unwrap();
        drop(set);
        let set = DedupeSet::open(dir.path(), 10, WEEK).unwrap();
        assert_eq!(set.find(&digest, 2_000), Some(5));
        assert_eq!(set.find(&body_digest(b"other"), 2_000), None);
    }

    #[test]
    fn the_oldest_digest_goes_when_the_set_is_full_and_the_file_is_compacted() {
        let dir = tempfile::tempdir().unwrap();
        let mut set = DedupeSet::open(dir.path(), 3, WEEK).unwrap();
        for seq in 0..10u64 {
            set.insert(&body_digest(&seq.to_le_bytes()), seq, 0);
            set.flush().unwrap();
        }
        assert_eq!(set.find(&body_digest(&6u64.to_le_bytes()), 0), None);
        assert_eq!(set.find(&body_digest(&7u64.to_le_bytes()), 0), Some(7));
        let len = std::fs::metadata(dir.path().join(FILE_NAME)).unwrap().len();
        assert!(len <= (2 * 3 * ENTRY_LEN) as u64, "{len}");
    }

    #[test]
    fn a_torn_or_corrupt_entry_is_dropped_and_the_rest_kept() {
        let dir = tempfile::tempdir().unwrap();
        let mut set = DedupeSet::open(dir.path(), 10, WEEK).unwrap();
        for seq in 0..3u64 {
            set.insert(&body_digest(&seq.to_le_bytes()), seq, 0);
        }
        set.flush().unwrap();
        drop(set);
        let path = dir.path().join(FILE_NAME);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[ENTRY_LEN + 3] ^= 1;
        bytes.extend_from_slice(b"torn");
        std::fs::write(&path, bytes).unwrap();
        let set = DedupeSet::open(dir.path(), 10, WEEK).unwrap();
        assert_eq!(set.find(&body_digest(&0u64.to_le_bytes()), 0), Some(0));
        assert_eq!(set.find(&body_digest(&1u64.to_le_bytes()), 0), None);
        assert_eq!(set.find(&body_digest(&2u64.to_le_bytes()), 0), Some(2));
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            2 * ENTRY_LEN as u64
        );
    }
}
