//! Reading `history.jsonl` with bounded memory: each line capped, the whole file forwards or
//! only its newest rows backwards from the end, and a count of the lines that were skipped.
//!
//! The file is tokentop's own, but anything may have been written into it (a crash mid-line,
//! a 200 MB line, another program's text): a reader keeps at most one capped line in memory
//! beside the rows it returns, and says how many lines it could not use.

use std::fs::File;
use std::io::{self, BufRead, Read, Seek, SeekFrom};

use super::HistoryEntry;

/// Longest line read; a real row is a few hundred bytes.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// Block read at a time when reading from the end.
const BACKWARD_BLOCK_BYTES: u64 = 64 * 1024;

/// Rows read, oldest first, and how many lines were skipped (unreadable: torn, another
/// format, numbers out of range; or longer than [`MAX_LINE_BYTES`]).
#[derive(Debug, Default)]
pub struct Loaded {
    pub entries: Vec<HistoryEntry>,
    pub skipped: usize,
}

impl Loaded {
    /// The row a line holds; an over-long or unreadable line is counted, a blank one is not.
    fn take(&mut self, line: &[u8], too_long: bool) -> Option<HistoryEntry> {
        let line = line.trim_ascii();
        if line.is_empty() && !too_long {
            return None;
        }
        let entry = (!too_long)
            .then(|| serde_json::from_slice(line).ok())
            .flatten();
        if entry.is_none() {
            self.skipped += 1;
        }
        entry
    }
}

/// Every readable row, oldest first.
pub fn read_forward(file: File) -> io::Result<Loaded> {
    let mut reader = io::BufReader::new(file);
    let mut loaded = Loaded::default();
    let mut line = Vec::new();
    while let Some(too_long) = next_line(&mut reader, &mut line)? {
        if let Some(entry) = loaded.take(&line, too_long) {
            loaded.entries.push(entry);
        }
    }
    Ok(loaded)
}

/// The next line into `line` (without its newline): `None` at the end of the file,
/// `Some(true)` when it was longer than the cap (then `line` is empty: its bytes were
/// passed over, never held).
fn next_line(reader: &mut impl BufRead, line: &mut Vec<u8>) -> io::Result<Option<bool>> {
    line.clear();
    let (mut too_long, mut any) = (false, false);
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(any.then_some(too_long));
        }
        any = true;
        let newline = memchr::memchr(b'\n', buf);
        let chunk = &buf[..newline.unwrap_or(buf.len())];
        if !too_long && line.len() + chunk.len() > MAX_LINE_BYTES {
            too_long = true;
            line.clear();
        }
        if !too_long {
            line.extend_from_slice(chunk);
        }
        let used = newline.map_or(buf.len(), |at| at + 1);
        reader.consume(used);
        if newline.is_some() {
            return Ok(Some(too_long));
        }
    }
}

/// The newest `limit` rows that `wanted` accepts, oldest first, read from the end of the
/// file: `history --limit 20` on a large file reads a few blocks, not the whole file.
pub fn read_newest(
    mut file: File,
    limit: usize,
    wanted: impl Fn(&HistoryEntry) -> bool,
) -> io::Result<Loaded> {
    let mut loaded = Loaded::default();
    let mut end = file.metadata()?.len();
    // The bytes of the line being assembled, in file order; `None` once it passed the cap.
    let mut partial: Option<Vec<u8>> = Some(Vec::new());
    let mut block = Vec::new();
    while end > 0 && loaded.entries.len() < limit {
        let start = end.saturating_sub(BACKWARD_BLOCK_BYTES);
        block.resize(usize::try_from(end - start).unwrap_or(0), 0);
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut block)?;
        end = start;
        let mut tail = block.len();
        for at in memchr::memrchr_iter(b'\n', &block) {
            prepend(&mut partial, &block[at + 1..tail]);
            tail = at;
            finish_line(&mut loaded, &mut partial, &wanted);
            if loaded.entries.len() >= limit {
                break;
            }
        }
        if loaded.entries.len() < limit {
            prepend(&mut partial, &block[..tail]);
        }
    }
    if end == 0 && loaded.entries.len() < limit {
        finish_line(&mut loaded, &mut partial, &wanted);
    }
    loaded.entries.reverse();
    Ok(loaded)
}

/// Puts `bytes` before the line assembled so far, dropping it once it is over the cap.
fn prepend(partial: &mut Option<Vec<u8>>, bytes: &[u8]) {
    if let Some(line) = partial {
        if line.len() + bytes.len() > MAX_LINE_BYTES {
            *partial = None;
        } else {
            line.splice(0..0, bytes.iter().copied());
        }
    }
}

fn finish_line(
    loaded: &mut Loaded,
    partial: &mut Option<Vec<u8>>,
    wanted: &impl Fn(&HistoryEntry) -> bool,
) {
    let line = partial.replace(Vec::new());
    let too_long = line.is_none();
    if let Some(entry) = loaded.take(line.as_deref().unwrap_or_default(), too_long)
        && wanted(&entry)
    {
        loaded.entries.push(entry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::history::Outcome;
    use crate::engine::history::cause::Trigger;

    fn row(account: &str) -> String {
        let entry = HistoryEntry::new(account, Trigger::Scheduled, Outcome::Ok);
        serde_json::to_string(&entry).unwrap()
    }

    fn file_with(text: &[u8]) -> (tempfile::TempDir, File) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.jsonl");
        std::fs::write(&path, text).unwrap();
        let file = File::open(&path).unwrap();
        (dir, file)
    }

    fn names(loaded: &Loaded) -> Vec<&str> {
        loaded.entries.iter().map(|e| e.account.as_str()).collect()
    }

    #[test]
    fn over_long_and_unreadable_lines_are_skipped_and_counted_both_ways() {
        let huge = "x".repeat(3 * MAX_LINE_BYTES);
        let text = format!(
            "{}\n{huge}\nnot json\n{}\n\n{}\n{{\"time\":\"2026-",
            row("a"),
            row("b"),
            row("c")
        );
        let (_dir, file) = file_with(text.as_bytes());
        let forward = read_forward(file).unwrap();
        assert_eq!(names(&forward), ["a", "b", "c"]);
        assert_eq!(forward.skipped, 3);
        let (_dir, file) = file_with(text.as_bytes());
        let newest = read_newest(file, 100, |_| true).unwrap();
        assert_eq!(names(&newest), ["a", "b", "c"]);
        assert_eq!(newest.skipped, 3);
    }

    #[test]
    fn one_huge_line_without_a_newline_is_one_skipped_line_not_no_history() {
        let huge = vec![b'{'; 5 * MAX_LINE_BYTES];
        let (_dir, file) = file_with(&huge);
        let forward = read_forward(file).unwrap();
        assert!(forward.entries.is_empty());
        assert_eq!(forward.skipped, 1);
        let (_dir, file) = file_with(&huge);
        assert_eq!(read_newest(file, 5, |_| true).unwrap().skipped, 1);
    }

    #[test]
    fn the_newest_rows_are_read_from_the_end_with_a_filter() {
        let mut text = String::new();
        for i in 0..5_000 {
            text.push_str(&row(if i % 2 == 0 { "even" } else { "odd" }));
            text.push('\n');
        }
        text.push_str(&row("last"));
        let (_dir, file) = file_with(text.as_bytes());
        let newest = read_newest(file, 3, |e| e.account != "odd").unwrap();
        assert_eq!(names(&newest), ["even", "even", "last"]);
        assert_eq!(newest.skipped, 0);
        let (_dir, file) = file_with(text.as_bytes());
        let all = read_newest(file, usize::MAX, |e| e.account == "odd").unwrap();
        assert_eq!(all.entries.len(), 2_500);
    }
}
