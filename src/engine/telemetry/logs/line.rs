//! Splitting a byte stream into capped, lossily decoded lines with bounded memory.

use chrono::{DateTime, Utc};

/// Longest line kept, in bytes of the original line; the rest is replaced by a marker.
pub const MAX_LINE_BYTES: usize = 8192;

/// One line of a log source, decoded lossily (invalid UTF-8 becomes U+FFFD).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub source: String,
    pub received_at: DateTime<Utc>,
    /// At most [`MAX_LINE_BYTES`] bytes of the original line, then ` …[truncated N bytes]`.
    pub text: String,
    pub truncated: bool,
}

/// A complete line as it came out of the stream: kept bytes and how many were cut off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawLine {
    pub bytes: Vec<u8>,
    pub dropped_bytes: u64,
}

impl RawLine {
    /// Decodes the line, adding the truncation marker when bytes were dropped.
    pub fn into_text(self) -> (String, bool) {
        let mut text = String::with_capacity(self.bytes.len());
        let truncated = push_line_text(&self.bytes, self.dropped_bytes, &mut text);
        (text, truncated)
    }
}

/// Appends the text of a line to `out`: its kept `bytes` decoded lossily (invalid UTF-8
/// becomes U+FFFD), then the truncation marker when `dropped_bytes` were cut off; whether
/// the line was cut. [`RawLine::into_text`] and a catch-up's line batches both use it, so a
/// line reads the same whichever way it reaches the hub.
pub(crate) fn push_line_text(bytes: &[u8], dropped_bytes: u64, out: &mut String) -> bool {
    let mut kept = bytes;
    let mut dropped = dropped_bytes;
    if dropped > 0 {
        // A cut in the middle of a multi-byte character would show as U+FFFD: move the
        // cut back to the character boundary instead.
        let incomplete = match std::str::from_utf8(kept) {
            Err(e) if e.error_len().is_none() => kept.len() - e.valid_up_to(),
            _ => 0,
        };
        kept = &kept[..kept.len() - incomplete];
        dropped += incomplete as u64;
    }
    // Checking first is much faster than the lossy decoder on the valid lines most are.
    match std::str::from_utf8(kept) {
        Ok(text) => out.push_str(text),
        Err(_) => out.push_str(&String::from_utf8_lossy(kept)),
    }
    if dropped > 0 {
        out.push_str(&format!(" …[truncated {dropped} bytes]"));
    }
    dropped > 0
}

/// Accumulates chunks and yields complete lines; a partial last line is held, bounded.
#[derive(Debug, Default)]
pub struct LineAssembler {
    partial: Vec<u8>,
    /// Bytes of the current partial line beyond [`MAX_LINE_BYTES`] (plus one for a held `\r`).
    overflow_bytes: u64,
}

impl LineAssembler {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds a chunk; every completed line goes to `emit`.
    pub fn push(&mut self, mut chunk: &[u8], mut emit: impl FnMut(RawLine)) {
        while let Some(pos) = memchr::memchr(b'\n', chunk) {
            self.append(&chunk[..pos]);
            emit(self.take());
            chunk = &chunk[pos + 1..];
        }
        self.append(chunk);
    }

    /// Whether a partial line is being held.
    pub fn has_partial(&self) -> bool {
        !self.partial.is_empty() || self.overflow_bytes > 0
    }

    /// Hands out the held partial line (e.g. when its file went away), if any.
    pub fn flush(&mut self) -> Option<RawLine> {
        self.has_partial().then(|| self.take())
    }

    /// Forgets the held partial line (its file was truncated under it).
    pub fn clear(&mut self) {
        self.partial.clear();
        self.overflow_bytes = 0;
    }

    fn append(&mut self, bytes: &[u8]) {
        // One extra byte is kept so that a `\r` right at the cap can still be stripped.
        let room = (MAX_LINE_BYTES + 1).saturating_sub(self.partial.len());
        let kept = bytes.len().min(room);
        self.partial.extend_from_slice(&bytes[..kept]);
        self.overflow_bytes += (bytes.len() - kept) as u64;
    }

    fn take(&mut self) -> RawLine {
        let mut bytes = std::mem::take(&mut self.partial);
        let mut dropped = std::mem::take(&mut self.overflow_bytes);
        if dropped == 0 && bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
        if bytes.len() > MAX_LINE_BYTES {
            dropped += (bytes.len() - MAX_LINE_BYTES) as u64;
            bytes.truncate(MAX_LINE_BYTES);
        }
        RawLine {
            bytes,
            dropped_bytes: dropped,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines_of(chunks: &[&[u8]]) -> Vec<RawLine> {
        let mut asm = LineAssembler::new();
        let mut out = Vec::new();
        for chunk in chunks {
            asm.push(chunk, |l| out.push(l));
        }
        out
    }

    #[test]
    fn partial_line_is_held_until_newline() {
        let out = lines_of(&[b"ab", b"c\r\nde", b"f\n"]);
        let texts: Vec<_> = out.into_iter().map(|l| l.into_text().0).collect();
        assert_eq!(texts, ["abc", "def"]);
    }

    #[test]
    fn long_line_is_cut_with_exact_count() {
        let long = vec![b'x'; MAX_LINE_BYTES + 100];
        let out = lines_of(&[&long[..5000], &long[5000..], b"\n"]);
        let (text, truncated) = out[0].clone().into_text();
        assert!(truncated);
        assert!(text.ends_with(" …[truncated 100 bytes]"), "{text}");
    }

    #[test]
    fn cut_inside_multibyte_char_moves_to_boundary() {
        let mut line = vec![b'a'; MAX_LINE_BYTES - 1];
        line.extend_from_slice("é".as_bytes());
        line.extend_from_slice(b"zz");
        line.push(b'\n');
        let (text, _) = lines_of(&[&line])[0].clone().into_text();
        assert!(!text.contains('\u{FFFD}'));
        assert!(text.ends_with(" …[truncated 4 bytes]"), "{text}");
    }
}
