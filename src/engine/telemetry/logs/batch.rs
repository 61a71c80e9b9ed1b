//! A catch-up read's lines for the hub in one event: their texts back to back in one string.
//!
//! A catch-up read hands the hub some 150,000 lines of a 666 MB file. One event, one string
//! and one channel send per line cost more than classifying the whole file; a batch costs
//! them once per [`MAX_BATCH_LINES`] lines. The texts are exactly those following gives
//! ([`super::line::push_line_text`]), and each batch holds a slot of its follower until the
//! hub drops it, so the lines waiting for the hub stay bounded in bytes, not only in events.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::OwnedSemaphorePermit;

use super::line::push_line_text;

/// Lines per batch at most.
pub const MAX_BATCH_LINES: usize = 1024;
/// A batch takes no further line once its texts reach this many bytes (a line is at most
/// [`super::MAX_LINE_BYTES`] plus its marker past it).
pub const MAX_BATCH_TEXT_BYTES: usize = 256 << 10;

/// Lines of one source, in file order, all received at once.
#[derive(Debug, Clone)]
pub struct LineBatch {
    pub source: String,
    pub received_at: DateTime<Utc>,
    /// Every line's text, back to back.
    text: String,
    /// Where each line's text ends in `text`, and whether the line was cut.
    ends: Vec<(usize, bool)>,
    /// The follower's slot this batch holds while it waits for the hub.
    slot: Option<Arc<OwnedSemaphorePermit>>,
}

/// Batches are equal when their lines are: the slot they hold is not part of them.
impl PartialEq for LineBatch {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
            && self.received_at == other.received_at
            && self.text == other.text
            && self.ends == other.ends
    }
}

impl Eq for LineBatch {}

impl LineBatch {
    /// An empty batch of `source`, received now.
    pub fn new(source: String) -> Self {
        Self {
            source,
            received_at: Utc::now(),
            // Sized for a full batch: growing to it would copy its text over and over, on
            // the thread whose share of a catch-up read ends last.
            text: String::with_capacity(MAX_BATCH_TEXT_BYTES),
            ends: Vec::with_capacity(MAX_BATCH_LINES),
            slot: None,
        }
    }

    /// Adds a line as following hands it on: its kept `bytes`, decoded lossily, and the
    /// truncation marker when `dropped_bytes` were cut off.
    pub fn push(&mut self, bytes: &[u8], dropped_bytes: u64) {
        let truncated = push_line_text(bytes, dropped_bytes, &mut self.text);
        self.ends.push((self.text.len(), truncated));
    }

    /// Takes no further line.
    pub fn is_full(&self) -> bool {
        self.ends.len() >= MAX_BATCH_LINES || self.text.len() >= MAX_BATCH_TEXT_BYTES
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Each line's text and whether it was cut, in file order.
    pub fn lines(&self) -> impl Iterator<Item = (&str, bool)> + '_ {
        let starts = std::iter::once(0).chain(self.ends.iter().map(|&(end, _)| end));
        // Every end is a character boundary (`push` appends whole strings), so `get` always
        // finds its text; an empty line would be the same.
        starts
            .zip(&self.ends)
            .map(|(start, &(end, truncated))| (self.text.get(start..end).unwrap_or(""), truncated))
    }

    /// Holds `slot` until the batch is dropped (by the hub, once counted).
    pub(crate) fn hold(&mut self, slot: OwnedSemaphorePermit) {
        self.slot = Some(Arc::new(slot));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Clock;
    use crate::engine::EngineEvent;
    use crate::engine::telemetry::logs::{
        LogLine, MAX_LINE_BYTES, PatternSet, RawLine, SourceEvent, default_patterns,
    };
    use crate::engine::telemetry::types::{ClassifiedLine, TelemetrySnapshot};
    use crate::engine::telemetry::{MAX_LINES_PER_BATCH, TelemetryHub};

    #[test]
    fn lines_come_out_as_following_decodes_them() {
        let cut = vec![b'x'; MAX_LINE_BYTES];
        let raw = [
            RawLine {
                bytes: b"Message sent".to_vec(),
                dropped_bytes: 0,
            },
            RawLine {
                bytes: Vec::new(),
                dropped_bytes: 0,
            },
            RawLine {
                bytes: b"bad \xff byte".to_vec(),
                dropped_bytes: 0,
            },
            RawLine {
                bytes: cut,
                dropped_bytes: 12,
            },
        ];
        let mut batch = LineBatch::new("app".into());
        for line in &raw {
            batch.push(&line.bytes, line.dropped_bytes);
        }
        let expected: Vec<(String, bool)> = raw.into_iter().map(RawLine::into_text).collect();
        let got: Vec<(String, bool)> = batch.lines().map(|(t, c)| (t.to_string(), c)).collect();
        assert_eq!(got, expected);
        assert_eq!(batch.len(), 4);
    }

    #[test]
    fn a_batch_is_full_at_its_line_or_byte_cap() {
        let mut batch = LineBatch::new("app".into());
        for _ in 0..MAX_BATCH_LINES - 1 {
            batch.push(b"x", 0);
        }
        assert!(!batch.is_full());
        batch.push(b"x", 0);
        assert!(batch.is_full());
        let mut batch = LineBatch::new("app".into());
        let long = vec![b'y'; MAX_LINE_BYTES];
        while !batch.is_full() {
            batch.push(&long, 0);
        }
        assert_eq!(batch.len(), MAX_BATCH_TEXT_BYTES / MAX_LINE_BYTES);
    }

    /// Lines before the batch, then a batch longer than the clients' line batch, holding
    /// matches, a failure with its Meta code, a token and plain lines.
    fn through_hub(batched: bool) -> (Vec<ClassifiedLine>, u64, TelemetrySnapshot) {
        let (tx, mut events) = tokio::sync::mpsc::unbounded_channel();
        let patterns = PatternSet::from_patterns(default_patterns()).unwrap();
        let mut hub = TelemetryHub::new(patterns, tx, Clock::System, None, Vec::new(), {
            std::collections::HashMap::new()
        });
        let at = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let line = |text: String| {
            SourceEvent::Line(LogLine {
                source: "app".into(),
                received_at: at,
                text,
                truncated: false,
            })
        };
        for i in 0..10 {
            hub.on_source_event(line(format!("before {i} Message sent")));
        }
        let texts = (0..MAX_LINES_PER_BATCH * 2 + 300).map(|i| match i % 4 {
            0 => format!("{i} Message sent"),
            1 => format!("{i} Failed to send message: (#131047) re-engage"),
            2 => format!("{i} Message sent with EAABwzLixnjYBO{i:0>20}ZDZD"),
            _ => format!("{i} request completed"),
        });
        if batched {
            let mut batch = LineBatch::new("app".into());
            batch.received_at = at;
            texts.for_each(|text| batch.push(text.as_bytes(), 0));
            hub.on_source_event(SourceEvent::Lines(batch));
        } else {
            texts.for_each(|text| hub.on_source_event(line(text)));
        }
        hub.flush_lines();
        let Ok(EngineEvent::LogLines { lines, skipped }) = events.try_recv() else {
            panic!("no line batch");
        };
        (lines, skipped, hub.snapshot(at))
    }

    #[test]
    fn the_hub_takes_a_batch_as_its_lines_one_by_one() {
        let (batched_lines, batched_skipped, batched) = through_hub(true);
        let (lines, skipped, one_by_one) = through_hub(false);
        assert_eq!(batched_lines, lines);
        assert_eq!(batched_skipped, skipped);
        assert_eq!(batched, one_by_one);
        assert_eq!(lines.len(), MAX_LINES_PER_BATCH);
        let tokens = lines
            .iter()
            .filter(|l| l.text.contains("EAAB…ZDZD"))
            .count();
        assert_eq!(tokens, MAX_LINES_PER_BATCH / 4, "tokens masked");
    }

    #[tokio::test]
    async fn a_batch_holds_its_slot_until_dropped() {
        let slots = Arc::new(tokio::sync::Semaphore::new(1));
        let mut batch = LineBatch::new("app".into());
        batch.hold(slots.clone().acquire_owned().await.unwrap());
        let copy = batch.clone();
        assert_eq!(
            copy,
            LineBatch {
                slot: None,
                ..batch.clone()
            }
        );
        drop(batch);
        assert_eq!(slots.available_permits(), 0);
        drop(copy);
        assert_eq!(slots.available_permits(), 1);
    }
}
