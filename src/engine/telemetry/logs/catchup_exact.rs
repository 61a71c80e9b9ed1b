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

/// Starts of the lines in `block` (complete lines) whose text following would change, in
/// order: holding `EAA`, invalid UTF-8, or at least [`MAX_LINE_BYTES`] long.
pub(crate) fn unsettled_lines(block: &[u8]) -> Vec<usize> {
    let line_start = |at: usize| memchr::memrchr(b'\n', &block[..at]).map_or(0, |i| i + 1);
    let line_end = |at: usize| memchr::memchr(b'\n', &block[at..]).map_or(block.len(), |i| at + i);
    let mut starts: Vec<usize> = MASKED_MARK.find_iter(block).map(line_start).collect();
    if !block.is_ascii() {
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
    use super::*;

    #[test]
    fn tokens_invalid_utf8_and_long_lines_are_unsettled_and_nothing_else() {
        let long = "x".repeat(MAX_LINE_BYTES);
        let almost = "y".repeat(MAX_LINE_BYTES - 1);
        let text = format!("ok\ntoken EAAB12\nfine é\n{long}\n{almost}\nplain\n");
        let mut block = text.into_bytes();
        block.extend_from_slice(b"bad \xff byte\nlast\n");
        let starts = unsettled_lines(&block);
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
