//! Which lines of a catch-up read the hub must classify itself: those whose text it changes.
//!
//! Following hands the hub each line as text: decoded lossily, cut at [`MAX_LINE_BYTES`] with
//! a marker added, Meta tokens masked (`crate::mask::mask_meta_tokens`, which only looks at
//! lines holding `EAA`). For every other line the text is its bytes, so the classifier's
//! verdict on the bytes is the hub's; the lines listed here go to the hub whole instead.

use std::sync::LazyLock;

use memchr::memmem::Finder;

use super::catchup::Found;
use super::line::MAX_LINE_BYTES;

/// What token masking looks for before it changes a line.
static MASKED_MARK: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"EAA"));

/// Any line of [`MAX_LINE_BYTES`] or more covers a whole window this long.
const WINDOW_BYTES: usize = MAX_LINE_BYTES / 2;

/// Bytes compared side by side when counting lines: two SSE2 registers.
const LANES: usize = 32;

/// What an exact read needs of a block of complete lines besides its matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Examined {
    /// Complete lines (`\n`s) in the block.
    pub lines: u64,
    /// Starts of the lines whose text following would change, in order: holding `EAA`,
    /// invalid UTF-8, or at least [`MAX_LINE_BYTES`] long.
    pub unsettled: Vec<usize>,
}

/// Counts the lines of `block` (complete lines) and finds those whose text following would
/// change.
pub(crate) fn examine(block: &[u8]) -> Examined {
    let (lines, ascii) = newlines_and_ascii(block);
    Examined {
        lines,
        unsettled: unsettled_lines(block, ascii),
    }
}

/// The `\n`s in `bytes`, and whether they are all ASCII. Besides the classifier's, this is
/// the pass an exact read makes over every byte: counting in byte lanes that the compiler
/// turns into vector compares, with the ASCII check in the same loop, takes 30 % less than
/// `memchr`'s count and `is_ascii` one after the other.
fn newlines_and_ascii(bytes: &[u8]) -> (u64, bool) {
    let mut lines = 0;
    let mut high = [0u8; LANES];
    let mut rest: &[u8] = &[];
    // A lane counts at most 255 before it is added up.
    for round in bytes.chunks(LANES * usize::from(u8::MAX)) {
        let mut newlines = [0u8; LANES];
        let lanes = round.chunks_exact(LANES);
        rest = lanes.remainder();
        for lane in lanes {
            for i in 0..LANES {
                newlines[i] += u8::from(lane[i] == b'\n');
                high[i] |= lane[i];
            }
        }
        lines += newlines.iter().map(|&n| u64::from(n)).sum::<u64>();
    }
    lines += memchr::memchr_iter(b'\n', rest).count() as u64;
    (lines, high.iter().all(u8::is_ascii) && rest.is_ascii())
}

/// Starts of the lines in `block` (complete lines) whose text following would change, in
/// order; `ascii` says whether the block is all ASCII.
fn unsettled_lines(block: &[u8], ascii: bool) -> Vec<usize> {
    let line_start = |at: usize| memchr::memrchr(b'\n', &block[..at]).map_or(0, |i| i + 1);
    let line_end = |at: usize| memchr::memchr(b'\n', &block[at..]).map_or(block.len(), |i| at + i);
    let mut starts: Vec<usize> = MASKED_MARK.find_iter(block).map(line_start).collect();
    if !ascii {
        let mut from = 0;
        while let Err(e) = std::str::from_utf8(&block[from..]) {
            let bad = from + e.valid_up_to();
            starts.push(line_start(bad));
            from = (line_end(bad) + 1).min(block.len());
        }
    }
    let mut window = 0;
    while window + WINDOW_BYTES <= block.len() {
        if memchr::memchr(b'\n', &block[window..window + WINDOW_BYTES]).is_some() {
            window += WINDOW_BYTES;
            continue;
        }
        let (start, end) = (line_start(window), line_end(window));
        if end - start >= MAX_LINE_BYTES {
            starts.push(start);
        }
        window = end + 1;
    }
    starts.sort_unstable();
    starts.dedup();
    starts
}

/// Reports the line starting at `start` of `block` (at file offset `offset`) as following
/// would keep it, leaving its class to the hub.
pub(crate) fn report_unsettled<'s>(
    block: &[u8],
    offset: u64,
    start: usize,
    on_found: &mut impl FnMut(Found<'_, 's>),
) {
    let end = memchr::memchr(b'\n', &block[start..]).map_or(block.len(), |i| start + i);
    let mut line = &block[start..end];
    // As `LineAssembler` does: a `\r` goes only when nothing else was cut.
    if line.len() <= MAX_LINE_BYTES + 1 {
        line = line.strip_suffix(b"\r").unwrap_or(line);
    }
    let kept = line.len().min(MAX_LINE_BYTES);
    on_found(Found {
        offset: offset + start as u64,
        line: &line[..kept],
        dropped_bytes: (line.len() - kept) as u64,
        found: None,
    });
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

        /// Past a lane's 255 newlines, across rounds and with a remainder, and one byte
        /// anywhere past ASCII.
        #[test]
        fn lines_and_ascii_are_counted_as_one_by_one(
            len in 0usize..40_000,
            every in 1usize..300,
            high_at in proptest::option::of(0usize..40_000),
        ) {
            let mut bytes: Vec<u8> = (0..len)
                .map(|i| if i % every == 0 { b'\n' } else { b'a' + (i % 26) as u8 })
                .collect();
            if let Some(at) = high_at.filter(|&at| at < len) {
                bytes[at] = 0x80 | (at as u8);
            }
            let newlines = bytes.iter().filter(|&&b| b == b'\n').count() as u64;
            prop_assert_eq!(newlines_and_ascii(&bytes), (newlines, bytes.is_ascii()));
        }
    }

    #[test]
    fn tokens_invalid_utf8_and_long_lines_are_unsettled_and_nothing_else() {
        let long = "x".repeat(MAX_LINE_BYTES);
        let almost = "y".repeat(MAX_LINE_BYTES - 1);
        let text = format!("ok\ntoken EAAB12\nfine é\n{long}\n{almost}\nplain\n");
        let mut block = text.into_bytes();
        block.extend_from_slice(b"bad \xff byte\nlast\n");
        let examined = examine(&block);
        assert_eq!(examined.lines, 8);
        let starts = examined.unsettled;
        let line_of = |s: usize| {
            let end = memchr::memchr(b'\n', &block[s..]).unwrap() + s;
            String::from_utf8_lossy(&block[s..end])
                .chars()
                .take(9)
                .collect::<String>()
        };
        let lines: Vec<String> = starts.into_iter().map(line_of).collect();
        assert_eq!(lines, ["token EAA", &long[..9], "bad \u{FFFD} byt"]);
    }
}
