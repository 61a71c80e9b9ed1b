//! One queued webhook on disk: a framed record (magic, header checksum, body digest) and the
//! scan that finds the complete records in a segment, skipping corruption and torn tails.
//!
//! Layout, little-endian:
//!
//! ```text
//! 0   magic        4   b"TTwq"
//! 4   check        8   first 8 bytes of SHA-256 over bytes 12..66 and the signature
//! 12  seq          8   u64
//! 20  received_at  8   i64, unix seconds
//! 28  body_len     4   u32
//! 32  sig_len      2   u16
//! 34  digest      32   SHA-256 of the body (also the dedupe key)
//! 66  signature        sig_len bytes
//! ..  body             body_len bytes
//! ```
//!
//! The header check covers every field and the signature; the digest covers the body. The
//! digest is computed once, by the caller of `accept`, and serves dedupe as well, so a body is
//! hashed once on the way in and once when read back.

use sha2::{Digest, Sha256};

pub const MAGIC: [u8; 4] = *b"TTwq";
pub const HEADER_LEN: usize = 66;
/// Meta's header is 71 bytes; anything far longer is not a signature.
pub const MAX_SIGNATURE_LEN: usize = 1024;
/// Far above Meta's 3 MB bodies; a header claiming more is corrupt.
pub const MAX_BODY_LEN: usize = 64 << 20;

pub type BodyDigest = [u8; 32];

/// SHA-256 of a body: the record's integrity check and the dedupe key.
pub fn body_digest(body: &[u8]) -> BodyDigest {
    Sha256::digest(body).into()
}

/// The fixed fields of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub seq: u64,
    pub received_at_unix: i64,
    pub body_len: u32,
    pub sig_len: u16,
    pub digest: BodyDigest,
}

impl Header {
    /// Bytes of the whole record this header starts.
    pub fn record_len(&self) -> usize {
        HEADER_LEN + usize::from(self.sig_len) + self.body_len as usize
    }
}

/// A record's bytes with its seq still to be set ([`set_seq`]): built by the caller of
/// `accept`, off the writer's thread, so the writer only patches 16 bytes per record.
pub fn encode(seq: u64, received_at_unix: i64, signature: &[u8], body: &[u8]) -> Vec<u8> {
    let header = Header {
        seq,
        received_at_unix,
        // Both bounded by the caller (`MAX_BODY_LEN`, `MAX_SIGNATURE_LEN`) before encoding.
        body_len: u32::try_from(body.len()).unwrap_or(u32::MAX),
        sig_len: u16::try_from(signature.len()).unwrap_or(u16::MAX),
        digest: body_digest(body),
    };
    encode_with_digest(&header, signature, body)
}

/// As [`encode`], with the body's digest already known.
pub fn encode_with_digest(header: &Header, signature: &[u8], body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(header.record_len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&header.seq.to_le_bytes());
    out.extend_from_slice(&header.received_at_unix.to_le_bytes());
    out.extend_from_slice(&header.body_len.to_le_bytes());
    out.extend_from_slice(&header.sig_len.to_le_bytes());
    out.extend_from_slice(&header.digest);
    out.extend_from_slice(signature);
    out.extend_from_slice(body);
    seal(&mut out);
    out
}

/// Gives an encoded record its seq and recomputes the header check.
pub fn set_seq(record: &mut [u8], seq: u64) {
    if record.len() >= HEADER_LEN {
        record[12..20].copy_from_slice(&seq.to_le_bytes());
        seal(record);
    }
}

fn seal(record: &mut [u8]) {
    let check = header_check(record);
    record[4..12].copy_from_slice(&check);
}

/// The check over the header fields and the signature of a record whose header is complete.
fn header_check(record: &[u8]) -> [u8; 8] {
    let sig_len = usize::from(u16::from_le_bytes([record[32], record[33]]));
    let sig_end = (HEADER_LEN + sig_len).min(record.len());
    let mut hasher = Sha256::new();
    hasher.update(&record[12..HEADER_LEN]);
    hasher.update(&record[HEADER_LEN..sig_end]);
    let digest = hasher.finalize();
    let mut check = [0; 8];
    check.copy_from_slice(&digest[..8]);
    check
}

/// Why bytes at an offset are not a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// Fewer bytes than the record claims (or than a header): the end of a torn write.
    Incomplete,
    /// The bytes are there but wrong.
    Bad(&'static str),
}

/// Parses and checks the header at the start of `bytes` (and the signature it covers, which
/// must be in `bytes` too). The body is not checked.
pub fn decode_header(bytes: &[u8]) -> Result<Header, FrameError> {
    if bytes.len() < HEADER_LEN {
        return Err(FrameError::Incomplete);
    }
    if bytes[..4] != MAGIC {
        return Err(FrameError::Bad("no record marker"));
    }
    let header = Header {
        seq: u64_at(bytes, 12),
        received_at_unix: i64::from_le_bytes(array_at(bytes, 20)),
        body_len: u32::from_le_bytes(array_at(bytes, 28)),
        sig_len: u16::from_le_bytes(array_at(bytes, 32)),
        digest: array_at(bytes, 34),
    };
    if usize::from(header.sig_len) > MAX_SIGNATURE_LEN || header.body_len as usize > MAX_BODY_LEN {
        // Checked before the lengths are trusted to decide "incomplete".
        return Err(if header_check(bytes) == bytes[4..12] {
            FrameError::Bad("lengths out of range")
        } else {
            FrameError::Bad("header checksum mismatch")
        });
    }
    if bytes.len() < HEADER_LEN + usize::from(header.sig_len) {
        return Err(FrameError::Incomplete);
    }
    if header_check(bytes) != bytes[4..12] {
        return Err(FrameError::Bad("header checksum mismatch"));
    }
    Ok(header)
}

/// A complete, checked record at the start of `bytes`: its header, signature and body.
pub fn decode(bytes: &[u8]) -> Result<(Header, &[u8], &[u8]), FrameError> {
    let header = decode_header(bytes)?;
    if bytes.len() < header.record_len() {
        return Err(FrameError::Incomplete);
    }
    let sig_end = HEADER_LEN + usize::from(header.sig_len);
    let signature = &bytes[HEADER_LEN..sig_end];
    let body = &bytes[sig_end..header.record_len()];
    if body_digest(body) != header.digest {
        return Err(FrameError::Bad("body checksum mismatch"));
    }
    Ok((header, signature, body))
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(array_at(bytes, at))
}

/// `N` bytes at `at`; callers index within a slice already checked to hold `HEADER_LEN`.
fn array_at<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
    let mut out = [0; N];
    out.copy_from_slice(&bytes[at..at + N]);
    out
}

/// What a scan of a segment's bytes found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Scan {
    /// Each complete record: its offset and header.
    pub records: Vec<(u64, Header)>,
    /// Corrupt stretches followed by good records: offset, length, what was wrong.
    pub skipped: Vec<(u64, u64, &'static str)>,
    /// Where the last complete record ends: the bytes after it are a torn tail.
    pub valid_end: u64,
    /// Why the tail after `valid_end` (if any) is not a record.
    pub tail_reason: Option<&'static str>,
}

/// Finds every complete record in `bytes`. A bad stretch followed by a good record is skipped
/// (and reported); a bad stretch that runs to the end is the torn tail.
pub fn scan(bytes: &[u8]) -> Scan {
    let mut scan = Scan::default();
    let mut offset = 0;
    while offset < bytes.len() {
        match decode(&bytes[offset..]) {
            Ok((header, _, _)) => {
                scan.records.push((offset as u64, header));
                offset += header.record_len();
                scan.valid_end = offset as u64;
            }
            Err(error) => {
                let reason = describe(error);
                match resync(bytes, offset + 1) {
                    Some(next) => {
                        scan.skipped
                            .push((offset as u64, (next - offset) as u64, reason));
                        offset = next;
                    }
                    None => {
                        scan.tail_reason = Some(reason);
                        break;
                    }
                }
            }
        }
    }
    scan
}

/// The offset of the next complete, checked record at or after `from`.
pub fn resync(bytes: &[u8], from: usize) -> Option<usize> {
    let finder = memchr::memmem::Finder::new(&MAGIC);
    let mut at = from;
    while at < bytes.len() {
        let found = at + finder.find(&bytes[at..])?;
        if decode(&bytes[found..]).is_ok() {
            return Some(found);
        }
        at = found + 1;
    }
    None
}

pub fn describe(error: FrameError) -> &'static str {
    match error {
        FrameError::Incomplete => "record cut short",
        FrameError::Bad(reason) => reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn record(seq: u64, body: &[u8]) -> Vec<u8> {
        encode(seq, 1_700_000_000 + seq as i64, b"sha256=abc", body)
    }

    #[test]
    fn a_record_round_trips_and_its_seq_can_be_set_later() {
        let mut bytes = record(0, b"{\"a\":1}");
        set_seq(&mut bytes, 42);
        let (header, signature, body) = decode(&bytes).unwrap();
        assert_eq!(header.seq, 42);
        assert_eq!(header.received_at_unix, 1_700_000_000);
        assert_eq!(signature, b"sha256=abc");
        assert_eq!(body, b"{\"a\":1}");
        assert_eq!(header.record_len(), bytes.len());
    }

    #[test]
    fn a_flipped_byte_anywhere_is_caught() {
        let good = record(7, b"hello webhook");
        for at in 0..good.len() {
            let mut bad = good.clone();
            bad[at] ^= 0x40;
            assert!(decode(&bad).is_err(), "flip at {at} went unnoticed");
        }
    }

    #[test]
    fn a_corrupt_record_between_good_ones_is_skipped_and_reported() {
        let (a, b, c) = (record(1, b"one"), record(2, b"two"), record(3, b"three"));
        let mut bytes = [a.clone(), b.clone(), c].concat();
        bytes[a.len() + HEADER_LEN + 3] ^= 1; // inside b's signature
        let scan = scan(&bytes);
        let seqs: Vec<u64> = scan.records.iter().map(|(_, h)| h.seq).collect();
        assert_eq!(seqs, [1, 3]);
        assert_eq!(
            scan.skipped,
            [(a.len() as u64, b.len() as u64, "header checksum mismatch")]
        );
        assert_eq!(scan.valid_end, bytes.len() as u64);
        assert_eq!(scan.tail_reason, None);
    }

    #[test]
    fn garbage_after_the_last_record_is_a_torn_tail() {
        let a = record(1, b"one");
        let bytes = [a.clone(), b"\0\0garbage TTwq more".to_vec()].concat();
        let scan = scan(&bytes);
        assert_eq!(scan.records.len(), 1);
        assert_eq!(scan.valid_end, a.len() as u64);
        assert!(scan.tail_reason.is_some());
    }

    proptest! {
        #[test]
        fn any_body_and_signature_round_trip(
            seq in any::<u64>(),
            at in any::<i64>(),
            signature in proptest::collection::vec(any::<u8>(), 0..200),
            body in proptest::collection::vec(any::<u8>(), 0..2000),
        ) {
            let bytes = encode(seq, at, &signature, &body);
            let (header, sig, got) = decode(&bytes).unwrap();
            prop_assert_eq!(header.seq, seq);
            prop_assert_eq!(header.received_at_unix, at);
            prop_assert_eq!(sig, &signature[..]);
            prop_assert_eq!(got, &body[..]);
        }

        #[test]
        fn any_truncation_recovers_exactly_the_complete_records(
            bodies in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..12),
            cut_share in 0.0f64..=1.0,
        ) {
            let records: Vec<Vec<u8>> = bodies
                .iter()
                .enumerate()
                .map(|(i, body)| record(i as u64 + 1, body))
                .collect();
            let file = records.concat();
            let cut = (file.len() as f64 * cut_share) as usize;
            let scan = scan(&file[..cut]);
            let mut end = 0;
            let mut complete = Vec::new();
            for (i, r) in records.iter().enumerate() {
                if end + r.len() > cut {
                    break;
                }
                end += r.len();
                complete.push(i as u64 + 1);
            }
            let seqs: Vec<u64> = scan.records.iter().map(|(_, h)| h.seq).collect();
            prop_assert_eq!(seqs, complete);
            prop_assert_eq!(scan.valid_end, end as u64);
            prop_assert!(scan.skipped.is_empty());
            prop_assert_eq!(scan.tail_reason.is_some(), cut > end);
        }
    }
}
