//! The queue's bookkeeping under one lock: the segments and their durable lengths, and each
//! destination's position. Plain numbers only: no file is touched while the lock is held.

use std::collections::BTreeMap;
use std::path::Path;

use super::cursors::{Cursor, HandedOut};
use super::{QueueError, segment};

/// One destination's backlog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestinationDepth {
    pub destination: String,
    /// Bodies not yet acknowledged.
    pub entries: u64,
    /// Their bytes on disk (framing included).
    pub bytes: u64,
}

pub struct State {
    /// First seq → durable length. Never empty: the last one is the segment being appended.
    segments: BTreeMap<u64, u64>,
    cursors: BTreeMap<String, Cursor>,
    last_seq: u64,
    cursors_dirty: bool,
}

impl Cursor {
    pub fn at(acked_seq: u64, (segment, offset): (u64, u64)) -> Cursor {
        Cursor {
            acked_seq,
            segment,
            offset,
            handed_out: None,
        }
    }
}

impl State {
    pub fn new(
        segments: BTreeMap<u64, u64>,
        cursors: BTreeMap<String, Cursor>,
        last_seq: u64,
    ) -> State {
        State {
            segments,
            cursors,
            last_seq,
            // Written at open: names added or removed since the last run are recorded.
            cursors_dirty: true,
        }
    }

    fn cursor(&mut self, destination: &str) -> Result<&mut Cursor, QueueError> {
        self.cursors
            .get_mut(destination)
            .ok_or_else(|| QueueError::UnknownDestination(destination.to_string()))
    }

    fn unacked_bytes(&self, cursor: &Cursor) -> u64 {
        let from_segment: u64 = self
            .segments
            .range(cursor.segment..)
            .map(|(_, len)| len)
            .sum();
        from_segment.saturating_sub(cursor.offset)
    }

    /// The furthest-behind destination's backlog in bytes (0 without destinations).
    pub fn max_unacked_bytes(&self) -> u64 {
        let backlog = self.cursors.values().map(|c| self.unacked_bytes(c));
        backlog.max().unwrap_or(0)
    }

    pub fn depth(&self) -> Vec<DestinationDepth> {
        self.cursors
            .iter()
            .map(|(name, cursor)| DestinationDepth {
                destination: name.clone(),
                entries: self.last_seq.saturating_sub(cursor.acked_seq),
                bytes: self.unacked_bytes(cursor),
            })
            .collect()
    }

    /// Where `destination`'s next record is (segment, offset, the segment's durable length),
    /// or `None` when it has everything on disk.
    pub fn read_position(
        &mut self,
        destination: &str,
    ) -> Result<Option<(u64, u64, u64)>, QueueError> {
        let segments = &self.segments;
        let cursor = self
            .cursors
            .get_mut(destination)
            .ok_or_else(|| QueueError::UnknownDestination(destination.to_string()))?;
        loop {
            let len = segments.get(&cursor.segment).copied();
            if let Some(len) = len.filter(|len| cursor.offset < *len) {
                return Ok(Some((cursor.segment, cursor.offset, len)));
            }
            let Some((&later, _)) = segments.range(cursor.segment + 1..).next() else {
                return Ok(None);
            };
            cursor.segment = later;
            cursor.offset = 0;
        }
    }

    /// `next` read the record at (`segment`, `offset`) for `destination`.
    pub fn hand_out(&mut self, destination: &str, segment: u64, offset: u64, seq: u64, next: u64) {
        if let Some(cursor) = self.cursors.get_mut(destination)
            && (cursor.segment, cursor.offset) == (segment, offset)
        {
            cursor.handed_out = Some(HandedOut {
                seq,
                segment,
                next_offset: next,
            });
        }
    }

    /// The bytes at (`segment`, `offset`) up to `to` are not a record: `destination` moves on.
    pub fn skip(&mut self, destination: &str, segment: u64, offset: u64, to: u64) {
        if let Some(cursor) = self.cursors.get_mut(destination)
            && (cursor.segment, cursor.offset) == (segment, offset)
        {
            cursor.offset = to;
            cursor.handed_out = None;
        }
    }

    /// Applies an ack of the record `next` handed out, or of one already acknowledged. `false`
    /// when `seq` is further on and the records must be searched for it.
    pub fn ack_handed_out(&mut self, destination: &str, seq: u64) -> Result<bool, QueueError> {
        let cursor = self.cursor(destination)?;
        if seq <= cursor.acked_seq {
            return Ok(true);
        }
        let Some(handed) = cursor.handed_out.filter(|handed| handed.seq == seq) else {
            return Ok(false);
        };
        *cursor = Cursor::at(seq, (handed.segment, handed.next_offset));
        self.cursors_dirty = true;
        Ok(true)
    }

    /// The segments from `destination`'s position on, for [`locate_after`].
    pub fn segments_from(&mut self, destination: &str) -> Result<BTreeMap<u64, u64>, QueueError> {
        let from = self.cursor(destination)?.segment;
        Ok(self.segments.range(from..).map(|(k, v)| (*k, *v)).collect())
    }

    pub fn set_acked(&mut self, destination: &str, seq: u64, position: (u64, u64)) {
        if let Some(cursor) = self.cursors.get_mut(destination)
            && seq > cursor.acked_seq
        {
            *cursor = Cursor::at(seq, position);
            self.cursors_dirty = true;
        }
    }

    /// The acknowledged seqs to save, when they changed since the last save.
    pub fn take_dirty_positions(&mut self) -> Option<BTreeMap<String, u64>> {
        if !std::mem::take(&mut self.cursors_dirty) {
            return None;
        }
        let acked = self
            .cursors
            .iter()
            .map(|(name, c)| (name.clone(), c.acked_seq));
        Some(acked.collect())
    }

    pub fn mark_dirty(&mut self) {
        self.cursors_dirty = true;
    }

    /// Drops the segments every destination has passed (never the one being appended) and
    /// returns their first seqs, for their files to be deleted.
    pub fn release_passed_segments(&mut self) -> Vec<u64> {
        let Some(&active) = self.segments.keys().next_back() else {
            return Vec::new();
        };
        let mut oldest_needed = active;
        for cursor in self.cursors.values_mut() {
            let len = self.segments.get(&cursor.segment).copied().unwrap_or(0);
            let later = self.segments.range(cursor.segment + 1..).next();
            if let Some((&later, _)) = later.filter(|_| cursor.offset >= len) {
                // At the end of a finished segment: its next record is in the next one.
                (cursor.segment, cursor.offset) = (later, 0);
            }
            oldest_needed = oldest_needed.min(cursor.segment);
        }
        let passed: Vec<u64> = self
            .segments
            .range(..oldest_needed)
            .map(|(k, _)| *k)
            .collect();
        for first_seq in &passed {
            self.segments.remove(first_seq);
        }
        passed
    }

    /// The segment being appended: its first seq and durable length.
    pub fn active_segment(&self) -> (u64, u64) {
        self.segments
            .last_key_value()
            .map_or((1, 0), |(first, len)| (*first, *len))
    }

    pub fn segment_started(&mut self, first_seq: u64) {
        self.segments.insert(first_seq, 0);
    }

    /// A batch is on disk: the active segment is `len` long and holds up to `last_seq`.
    pub fn committed(&mut self, segment: u64, len: u64, last_seq: u64) {
        self.segments.insert(segment, len);
        self.last_seq = last_seq;
    }
}

/// The position of the first record after `seq` in `segments` (first seq → length), or the
/// end of the last one when there is none.
pub fn locate_after(
    dir: &Path,
    segments: &BTreeMap<u64, u64>,
    seq: u64,
) -> Result<(u64, u64), QueueError> {
    let start = segments
        .range(..=seq.saturating_add(1))
        .next_back()
        .or_else(|| segments.first_key_value())
        .map_or(0, |(first, _)| *first);
    for (&first_seq, &len) in segments.range(start..) {
        let path = segment::path(dir, first_seq);
        if let Some(offset) = segment::locate_after(&path, len, seq)? {
            return Ok((first_seq, offset));
        }
    }
    Ok(segments
        .last_key_value()
        .map_or((1, 0), |(first, len)| (*first, *len)))
}
