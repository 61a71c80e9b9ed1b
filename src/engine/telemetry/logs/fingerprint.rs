//! The bytes just before a follower's read position, to notice a file rewritten in place.
//!
//! `copytruncate` empties a log file and the writer carries on at offset 0. When the new
//! content is already longer than the old file by the next poll, the size alone looks like
//! growth and the follower would read from its old offset, in the middle of a new line.
//! Remembering the last bytes before the offset and comparing them catches that.

use std::io::{ErrorKind, SeekFrom};

use tokio::fs::File;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

/// Bytes remembered: enough that a rewritten file matching by chance is implausible (log
/// lines carry timestamps), small enough to re-read on every poll.
pub(crate) const FINGERPRINT_BYTES: usize = 256;

/// Up to [`FINGERPRINT_BYTES`] bytes that end at the read position.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Fingerprint {
    bytes: Vec<u8>,
}

impl Fingerprint {
    /// Reads the bytes before `offset` and puts the position back at `offset`.
    pub async fn read_before(file: &mut File, offset: u64) -> std::io::Result<Self> {
        let len = offset.min(FINGERPRINT_BYTES as u64);
        let mut bytes = vec![0; len as usize];
        file.seek(SeekFrom::Start(offset - len)).await?;
        let read = file.read_exact(&mut bytes).await;
        file.seek(SeekFrom::Start(offset)).await?;
        read?;
        Ok(Self { bytes })
    }

    /// Follows the read position forward over `chunk`, just read.
    pub fn advance(&mut self, chunk: &[u8]) {
        if chunk.len() >= FINGERPRINT_BYTES {
            self.bytes.clear();
            self.bytes
                .extend_from_slice(&chunk[chunk.len() - FINGERPRINT_BYTES..]);
            return;
        }
        let excess = (self.bytes.len() + chunk.len()).saturating_sub(FINGERPRINT_BYTES);
        self.bytes.drain(..excess);
        self.bytes.extend_from_slice(chunk);
    }

    /// Whether the file still holds the remembered bytes before `offset`; the position is
    /// left at `offset`. A file now shorter than `offset` does not. Other read errors count
    /// as a match: the next read reports them.
    pub async fn still_matches(&self, file: &mut File, offset: u64) -> bool {
        if self.bytes.is_empty() {
            return true;
        }
        match Self::read_before(file, offset).await {
            Ok(now) => now.bytes == self.bytes,
            Err(e) => e.kind() != ErrorKind::UnexpectedEof,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advance_keeps_the_last_bytes() {
        let mut fp = Fingerprint::default();
        fp.advance(b"abc");
        fp.advance(&[b'x'; FINGERPRINT_BYTES - 1]);
        assert_eq!(fp.bytes.len(), FINGERPRINT_BYTES);
        assert_eq!(fp.bytes[0], b'c');
        fp.advance(&[b'y'; FINGERPRINT_BYTES + 10]);
        assert_eq!(fp.bytes, vec![b'y'; FINGERPRINT_BYTES]);
    }
}
