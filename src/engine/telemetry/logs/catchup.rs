//! Classifying a long stretch of a file at once (its start, a burst after a pause) on both cores.
//!
//! Following reads a few lines at a time on one thread; a catch-up read of many megabytes is
//! split at a line boundary into two halves read and classified on two threads. The first half
//! reports its matches as it goes; the second holds its matches (bounded) and hands them over
//! afterwards, so matches come out in file order exactly as one thread would give them.

use std::fs::File;
use std::io;
use std::ops::Range;

use super::catchup_exact as exact;
use super::line::MAX_LINE_BYTES;
use super::patterns::{Match, PatternSet};

/// Bytes each thread reads at a time: small enough to stay in the core's L2 cache between
/// the read and the scan (4 MiB reads made the same catch-up up to 3x slower here).
const READ_BYTES: usize = 256 << 10;
/// A stretch at least this long is classified on two threads.
pub const PARALLEL_MIN_BYTES: u64 = 8 << 20;
/// Line bytes the second thread may hold for the first before it stops and leaves the rest to
/// the next round: bounds memory when most lines match.
const MAX_HELD_BYTES: usize = 16 << 20;

/// Classifies the complete lines of `file` within `range` (which starts at a line start) and
/// calls `on_match(line_offset, line, match)` for each matching line in file order.
///
/// Lines are what following hands on: split on `\n`, a `\r` before it removed, cut at
/// [`MAX_LINE_BYTES`]. A last line without its `\n` is left alone, as following holds it;
/// the returned offset is where the lines not yet classified start.
pub fn classify_file<'s>(
    set: &'s PatternSet,
    file: &File,
    range: Range<u64>,
    mut on_match: impl FnMut(u64, &[u8], &Match<'s>),
) -> io::Result<u64> {
    CatchUp::new(set).run(file, range, |found| {
        if let Some(m) = &found.found {
            on_match(found.offset, found.line, m);
        }
    })
}

/// What an exact catch-up read reached: where the lines not yet read start, and how many
/// complete lines it read (reported or not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CaughtUp {
    pub offset: u64,
    pub lines: u64,
}

/// Like [`classify_file`], for a follower handing lines to the hub: `on_line(line,
/// dropped_bytes)` gets each line whose classification the hub must see (a match) or redo (a
/// line whose text following would change: masked, lossily decoded or cut), as following
/// would hand it on (its kept bytes, borrowed from the read buffer, and how many were cut
/// off). Every other complete line is unmatched whatever the hub does to it, and only counted.
pub(crate) fn catch_up_file(
    set: &PatternSet,
    file: &File,
    range: Range<u64>,
    mut on_line: impl FnMut(&[u8], u64),
) -> io::Result<CaughtUp> {
    let mut catch_up = CatchUp::new(set);
    catch_up.exact = true;
    catch_up.run_counted(file, range, |found| {
        on_line(found.line, found.dropped_bytes)
    })
}

/// A line a catch-up read reports.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Found<'a, 's> {
    pub offset: u64,
    /// As following keeps it: `\r` removed, cut at [`MAX_LINE_BYTES`].
    pub line: &'a [u8],
    /// Bytes cut off (exact reads only).
    pub dropped_bytes: u64,
    /// The pattern of the line's bytes; `None` for a line whose text following would
    /// change, so its bytes do not settle it (exact reads only).
    pub found: Option<Match<'s>>,
}

/// Sizes of one catch-up read (small ones in tests, to cross every boundary often).
#[derive(Debug, Clone, Copy)]
pub(crate) struct CatchUp<'s> {
    set: &'s PatternSet,
    read_bytes: usize,
    parallel_min_bytes: u64,
    max_held_bytes: usize,
    /// Also report the lines whose bytes do not settle their class, and count every line.
    exact: bool,
}

/// Where a stretch of lines was classified up to: a line start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Reached {
    offset: u64,
    /// Stopped before the end of its lines because it held enough.
    stopped: bool,
    /// Complete lines read (exact reads only).
    lines: u64,
}

/// Matching lines the second thread found, for the first to report after its own.
#[derive(Debug, Default)]
struct Held {
    bytes: Vec<u8>,
    /// Line offset in the file, end of the line in `bytes`, bytes cut off, pattern index.
    lines: Vec<(u64, usize, u64, Option<usize>)>,
}

/// A line longer than the read buffer: its first [`MAX_LINE_BYTES`] are classified while the
/// rest is skipped up to its `\n`.
struct LongLine {
    offset: u64,
    head: Vec<u8>,
}

impl<'s> CatchUp<'s> {
    pub(crate) fn new(set: &'s PatternSet) -> Self {
        Self {
            set,
            read_bytes: READ_BYTES,
            parallel_min_bytes: PARALLEL_MIN_BYTES,
            max_held_bytes: MAX_HELD_BYTES,
            exact: false,
        }
    }

    /// Smaller sizes; the read buffer stays above two capped lines, which the long-line
    /// handling relies on.
    #[cfg(test)]
    pub(crate) fn sized(
        set: &'s PatternSet,
        read_bytes: usize,
        parallel_min_bytes: u64,
        max_held_bytes: usize,
    ) -> Self {
        Self {
            set,
            read_bytes: read_bytes.max(2 * MAX_LINE_BYTES + 2),
            parallel_min_bytes,
            max_held_bytes,
            exact: false,
        }
    }

    pub(crate) fn run(
        &self,
        file: &File,
        range: Range<u64>,
        on_found: impl FnMut(Found<'_, 's>),
    ) -> io::Result<u64> {
        Ok(self.run_counted(file, range, on_found)?.offset)
    }

    fn run_counted(
        &self,
        file: &File,
        range: Range<u64>,
        mut on_found: impl FnMut(Found<'_, 's>),
    ) -> io::Result<CaughtUp> {
        let mut at = range.start;
        let mut lines = 0;
        loop {
            let reached = if range.end.saturating_sub(at) >= self.parallel_min_bytes {
                self.two_halves(file, at..range.end, &mut on_found)?
            } else {
                self.lines(file, at, range.end, range.end, || false, &mut on_found)?
            };
            lines += reached.lines;
            if !reached.stopped {
                return Ok(CaughtUp {
                    offset: reached.offset,
                    lines,
                });
            }
            at = reached.offset;
        }
    }

    /// One round on two threads: this one reports the first half's lines as it goes, the
    /// other holds the second half's until this one is done.
    fn two_halves(
        &self,
        file: &File,
        range: Range<u64>,
        on_found: &mut impl FnMut(Found<'_, 's>),
    ) -> io::Result<Reached> {
        let middle = range.start + (range.end - range.start) / 2;
        let split = next_line_start(file, middle, range.end)?;
        let (first, second) = std::thread::scope(|scope| {
            let second = scope.spawn(|| {
                let mut held = Held::default();
                let limit = self.max_held_bytes;
                let reached = {
                    let held_bytes = std::cell::Cell::new(0);
                    self.lines(
                        file,
                        split,
                        range.end,
                        range.end,
                        || held_bytes.get() >= limit,
                        |found| {
                            held.bytes.extend_from_slice(found.line);
                            let index = found.found.map(|m| m.index);
                            let end = held.bytes.len();
                            held.lines
                                .push((found.offset, end, found.dropped_bytes, index));
                            held_bytes.set(end);
                        },
                    )
                };
                reached.map(|reached| (reached, held))
            });
            let first = self.lines(
                file,
                range.start,
                split,
                range.end,
                || false,
                &mut *on_found,
            );
            // A panic in the other thread is a bug in this module, not something input
            // causes; passing it on keeps it visible.
            let second = second
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p));
            (first, second)
        });
        let first = first?;
        if first.offset < split {
            // The file ended early (truncated while read): nothing after it counts.
            return Ok(first);
        }
        let (mut reached, held) = second?;
        let mut line_start = 0;
        for (offset, line_end, dropped_bytes, index) in held.lines {
            on_found(Found {
                offset,
                line: &held.bytes[line_start..line_end],
                dropped_bytes,
                found: index.and_then(|index| self.set.match_of(index)),
            });
            line_start = line_end;
        }
        reached.lines += first.lines;
        Ok(reached)
    }

    /// Classifies the lines starting in `start..starts_before` (`start` is a line start),
    /// reading up to `end` to complete the last of them. `full()` is asked after each read
    /// whether to stop early.
    fn lines(
        &self,
        file: &File,
        start: u64,
        starts_before: u64,
        end: u64,
        full: impl Fn() -> bool,
        mut on_found: impl FnMut(Found<'_, 's>),
    ) -> io::Result<Reached> {
        let mut buf = vec![0; self.read_bytes];
        // File offset of `buf[0]`, always a line start; `buf[..filled]` holds unread lines.
        let mut offset = start;
        let mut filled = 0;
        let mut long: Option<LongLine> = None;
        let mut lines = 0;
        while offset < starts_before || long.is_some() {
            let want = (buf.len() - filled).min(usize_up_to(end - offset - filled as u64));
            let n = read_at(
                file,
                &mut buf[filled..filled + want],
                offset + filled as u64,
            )?;
            if n == 0 {
                break;
            }
            filled += n;
            if let Some(line) = long.take() {
                match memchr::memchr(b'\n', &buf[..filled]) {
                    Some(i) => {
                        if self.exact {
                            // Always cut, so its text is the hub's to classify.
                            lines += 1;
                            on_found(Found {
                                offset: line.offset,
                                line: &line.head,
                                dropped_bytes: offset + i as u64
                                    - line.offset
                                    - MAX_LINE_BYTES as u64,
                                found: None,
                            });
                        } else if let Some(m) = self.set.classify_bytes(&line.head) {
                            on_found(Found {
                                offset: line.offset,
                                line: &line.head,
                                dropped_bytes: 0,
                                found: Some(m),
                            });
                        }
                        buf.copy_within(i + 1..filled, 0);
                        filled -= i + 1;
                        offset += i as u64 + 1;
                    }
                    None => {
                        offset += filled as u64;
                        filled = 0;
                        long = Some(line);
                        continue;
                    }
                }
            }
            let complete = complete_lines(&buf[..filled], offset, starts_before);
            lines += self.block(&buf[..complete], offset, &mut on_found);
            buf.copy_within(complete..filled, 0);
            filled -= complete;
            offset += complete as u64;
            if offset >= starts_before {
                break;
            }
            if filled == buf.len() {
                long = Some(LongLine {
                    offset,
                    head: buf[..MAX_LINE_BYTES].to_vec(),
                });
                offset += filled as u64;
                filled = 0;
            } else if full() {
                return Ok(Reached {
                    offset,
                    stopped: true,
                    lines,
                });
            }
        }
        // A long line cut short by the end of the file is as unfinished as any other.
        let offset = long.map_or(offset, |line| line.offset);
        Ok(Reached {
            offset,
            stopped: false,
            lines,
        })
    }

    /// Reports the lines of `block` (complete lines at file offset `offset`) and, for an
    /// exact read, counts them.
    fn block(&self, block: &[u8], offset: u64, on_found: &mut impl FnMut(Found<'_, 's>)) -> u64 {
        if !self.exact {
            self.set
                .classify_lines(block, MAX_LINE_BYTES, |at, line, m| {
                    on_found(Found {
                        offset: offset + at as u64,
                        line,
                        dropped_bytes: 0,
                        found: Some(*m),
                    })
                });
            return 0;
        }
        let examined = exact::examine(block);
        let mut next = examined.unsettled.iter().copied().peekable();
        self.set
            .classify_lines(block, MAX_LINE_BYTES, |at, line, m| {
                while let Some(start) = next.next_if(|&start| start < at) {
                    exact::report_unsettled(block, offset, start, on_found);
                }
                if next.next_if_eq(&at).is_some() {
                    exact::report_unsettled(block, offset, at, on_found);
                } else {
                    on_found(Found {
                        offset: offset + at as u64,
                        line,
                        dropped_bytes: 0,
                        found: Some(*m),
                    });
                }
            });
        for start in next {
            exact::report_unsettled(block, offset, start, on_found);
        }
        examined.lines
    }
}

/// Length of the complete lines at the start of `buf` (at file offset `offset`) that start
/// before `starts_before`.
fn complete_lines(buf: &[u8], offset: u64, starts_before: u64) -> usize {
    let last_start = starts_before.saturating_sub(offset);
    if last_start == 0 {
        return 0;
    }
    if let Ok(last_start) = usize::try_from(last_start)
        && last_start <= buf.len()
        && let Some(i) = memchr::memchr(b'\n', &buf[last_start - 1..])
    {
        return last_start + i;
    }
    memchr::memrchr(b'\n', buf).map_or(0, |i| i + 1)
}

/// The first line start at or after `at` (a line starts after each `\n`), or `end`.
fn next_line_start(file: &File, at: u64, end: u64) -> io::Result<u64> {
    if at == 0 {
        return Ok(0);
    }
    let mut buf = vec![0; 64 * 1024];
    let mut from = at - 1;
    while from < end {
        let want = buf.len().min(usize_up_to(end - from));
        let n = read_at(file, &mut buf[..want], from)?;
        if n == 0 {
            break;
        }
        if let Some(i) = memchr::memchr(b'\n', &buf[..n]) {
            return Ok(from + i as u64 + 1);
        }
        from += n as u64;
    }
    Ok(end)
}

fn usize_up_to(bytes: u64) -> usize {
    usize::try_from(bytes).unwrap_or(usize::MAX)
}

/// Reads at `offset` without moving a shared file position, so two threads can share `file`.
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    loop {
        #[cfg(unix)]
        let read = std::os::unix::fs::FileExt::read_at(file, buf, offset);
        #[cfg(windows)]
        let read = std::os::windows::fs::FileExt::seek_read(file, buf, offset);
        match read {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use proptest::prelude::*;

    use super::*;
    use crate::config::{PatternDef, PatternLevel};
    use crate::engine::telemetry::logs::{LineAssembler, RawLine, default_patterns};

    /// `(line offset, line, pattern index)` of each match, the way following sees lines: every
    /// complete line out of a `LineAssembler`, classified alone; and where the unfinished rest
    /// starts.
    fn following(set: &PatternSet, bytes: &[u8]) -> (Vec<(u64, Vec<u8>, usize)>, u64) {
        let mut raw = Vec::new();
        LineAssembler::new().push(bytes, |line| raw.push(line));
        let starts = std::iter::once(0).chain(memchr::memchr_iter(b'\n', bytes).map(|i| i + 1));
        let matches = raw
            .into_iter()
            .zip(starts)
            .filter_map(|(line, start)| {
                let m = set.classify_bytes(&line.bytes)?;
                Some((start as u64, line.bytes, m.index))
            })
            .collect();
        let rest = memchr::memrchr(b'\n', bytes).map_or(0, |i| i + 1);
        (matches, rest as u64)
    }

    fn caught_up(
        catch_up: CatchUp<'_>,
        bytes: &[u8],
        end: usize,
    ) -> (Vec<(u64, Vec<u8>, usize)>, u64) {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(bytes).unwrap();
        let mut matches = Vec::new();
        let rest = catch_up
            .run(&file, 0..end as u64, |found| {
                let index = found.found.unwrap().index;
                matches.push((found.offset, found.line.to_vec(), index))
            })
            .unwrap();
        (matches, rest)
    }

    fn sets() -> [PatternSet; 2] {
        let mut more = default_patterns();
        for (name, regex) in [("end", "sent$"), ("digits", r"^\d+ \d+$")] {
            more.push(PatternDef {
                name: name.into(),
                regex: regex.into(),
                level: PatternLevel::Warn,
                role: None,
            });
        }
        [
            PatternSet::from_patterns(default_patterns()).unwrap(),
            PatternSet::from_patterns(more).unwrap(),
        ]
    }

    /// Lines of log text: matches, near misses, invalid UTF-8, empty lines, lines around the
    /// cap with a match just inside or just past it, and lines longer than a read buffer.
    fn line() -> impl Strategy<Value = Vec<u8>> {
        let text = prop_oneof![
            Just(b"Message sent".to_vec()),
            Just(b"{\"message\":\"WhatsApp token expired, attempting refresh\"}".to_vec()),
            Just(b"x failed to send message id=1".to_vec()),
            // The leftmost literal is not the pattern that wins.
            Just(b"Message sent, then Failed to refresh WhatsApp token: x".to_vec()),
            Just(b"{\"message\":\"message queued\",\"status\":\"sent\"}".to_vec()),
            Just(b"bad \xff\xfe Failed to send WhatsApp message \xc3".to_vec()),
            Just(b"12 34".to_vec()),
            Just(Vec::new()),
            "[a-z ]{0,40}".prop_map(String::into_bytes),
            (MAX_LINE_BYTES - 14..MAX_LINE_BYTES + 4).prop_map(|at| {
                let mut line = vec![b'.'; at];
                line.extend_from_slice(b"Message sent and more");
                line
            }),
            (2 * MAX_LINE_BYTES..6 * MAX_LINE_BYTES).prop_map(|len| {
                let mut line = b"Message sent ".to_vec();
                line.resize(len, b'-');
                line
            }),
        ];
        (text, any::<bool>()).prop_map(|(mut line, crlf)| {
            line.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
            line
        })
    }

    fn config() -> ProptestConfig {
        let mut config = ProptestConfig::with_cases(48);
        config.failure_persistence = None;
        config
    }

    proptest! {
        #![proptest_config(config())]

        /// Reads cross lines everywhere, halves split anywhere, and the second thread stops
        /// early often: the matches and the rest are still those of following line by line.
        #[test]
        fn catch_up_classifies_the_lines_following_would(
            lines in proptest::collection::vec(line(), 0..120),
            cut in 0usize..40,
            end_cut in 0usize..3,
            which in 0usize..2,
            read_bytes in 0usize..40_000,
            parallel_min in 1u64..100_000,
            max_held in 1usize..4_000,
        ) {
            let mut bytes = lines.concat();
            // No newline at the end, or a range ending before the file does.
            bytes.truncate(bytes.len().saturating_sub(cut));
            let end = bytes.len().saturating_sub(end_cut);
            let set = &sets()[which];
            let catch_up = CatchUp::sized(set, read_bytes, parallel_min, max_held);
            prop_assert_eq!(caught_up(catch_up, &bytes, end), following(set, &bytes[..end]));
        }
    }

    proptest! {
        #![proptest_config(config())]

        /// An exact read counts every complete line and reports, as following would hand it
        /// on, every line the hub's text of it (decoded, cut, masked) classifies.
        #[test]
        fn an_exact_read_reports_every_line_the_hub_would_match(
            lines in proptest::collection::vec(line(), 0..120),
            cut in 0usize..40,
            which in 0usize..2,
            read_bytes in 0usize..40_000,
            parallel_min in 1u64..100_000,
            max_held in 1usize..4_000,
        ) {
            let mut bytes = lines.concat();
            bytes.truncate(bytes.len().saturating_sub(cut));
            let set = &sets()[which];
            let mut raw = Vec::new();
            LineAssembler::new().push(&bytes, |line| raw.push(line));
            let complete = raw.len() as u64;
            let hub_matches: Vec<RawLine> = raw
                .into_iter()
                .filter(|line| {
                    let (text, _) = line.clone().into_text();
                    set.classify(&crate::mask::mask_meta_tokens(&text)).is_some()
                })
                .collect();

            let mut file = tempfile::tempfile().unwrap();
            file.write_all(&bytes).unwrap();
            let mut catch_up = CatchUp::sized(set, read_bytes, parallel_min, max_held);
            catch_up.exact = true;
            let mut reported = Vec::new();
            let caught = catch_up
                .run_counted(&file, 0..bytes.len() as u64, |found| {
                    reported.push(RawLine {
                        bytes: found.line.to_vec(),
                        dropped_bytes: found.dropped_bytes,
                    })
                })
                .unwrap();
            prop_assert_eq!(caught.lines, complete);
            let missing: Vec<_> = hub_matches.iter().filter(|m| !reported.contains(m)).collect();
            prop_assert!(missing.is_empty(), "not reported: {:?}", missing);
        }
    }

    #[test]
    fn a_large_file_is_the_same_on_two_threads_and_on_one() {
        let set = &sets()[0];
        let mut bytes = Vec::new();
        for i in 0..40_000 {
            let text = match i % 7 {
                0 => "Message sent",
                3 => "Failed to refresh WhatsApp token: expired",
                _ => "{\"message\":\"request completed\",\"status\":200}",
            };
            bytes.extend_from_slice(format!("{i} {text}\n").as_bytes());
        }
        let one = CatchUp::sized(set, 0, u64::MAX, usize::MAX);
        let two = CatchUp::sized(set, 0, 1 << 16, 1 << 12);
        let expected = following(set, &bytes);
        assert_eq!(expected.0.len(), 40_000 / 7 * 2 + 1);
        assert_eq!(caught_up(one, &bytes, bytes.len()), expected);
        assert_eq!(caught_up(two, &bytes, bytes.len()), expected);
    }
}
