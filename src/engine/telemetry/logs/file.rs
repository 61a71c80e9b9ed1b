//! Following a file like `tail -F`: across rotation, truncation, deletion and late creation.

use std::fs::Metadata;
use std::io::SeekFrom;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::fs::File;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::sync::{Semaphore, mpsc, watch};

use super::batch::LineBatch;
use super::catchup::{CaughtUp, catch_up_file};
use super::change::ChangeWatch;
use super::emit::{Emitter, Stop, send, send_batch};
use super::fingerprint::{FINGERPRINT_BYTES, Fingerprint};
use super::line::{LineAssembler, MAX_LINE_BYTES};
use super::safety::SafetySlot;
use super::{PatternSet, SourceEvent};
use crate::engine::telemetry::MAX_LINES_PER_BATCH;

/// Lines shown from an existing file when following starts.
pub const TAIL_LINES: usize = 200;
const READ_CHUNK_BYTES: usize = 64 * 1024;
/// Reading backwards for the last lines stops here, so huge lines cannot make it unbounded.
const MAX_TAIL_SCAN_BYTES: u64 = (TAIL_LINES * MAX_LINE_BYTES) as u64;

/// Line batches of a catch-up read on their way to the hub, per follower: with each at most
/// [`super::MAX_BATCH_TEXT_BYTES`], the follower's lines waiting in the hub's channel stay
/// under a megabyte and a half however long the lines are (one by one, 4,096 lines could be
/// 32 MiB).
const MAX_BATCHES_IN_FLIGHT: usize = 4;
/// Batches the blocking thread may have ready before the follower takes them.
const READY_BATCHES: usize = 2;

/// Catch-up reads of a plain-text file source: unread stretches of at least `min_bytes` are
/// classified in the follower on both cores; the hub gets the matching lines in batches, a
/// count of the others, and the newest lines of the stretch one by one as ever.
#[derive(Debug, Clone)]
pub struct CatchUpSettings {
    pub patterns: Arc<PatternSet>,
    /// [`super::PARALLEL_MIN_BYTES`] in the daemon.
    pub min_bytes: u64,
}

/// Identity of the file behind a path (device and inode on Unix).
type FileId = Option<(u64, u64)>;

fn file_id(meta: &std::fs::Metadata) -> FileId {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Some((meta.dev(), meta.ino()))
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        None
    }
}

struct OpenFile {
    file: File,
    id: FileId,
    offset: u64,
    /// The bytes before `offset`, to notice a truncation hidden by quick new writes.
    fingerprint: Fingerprint,
}

struct Follower {
    path: PathBuf,
    emitter: Emitter,
    catch_up: Option<CatchUpSettings>,
    tx: mpsc::Sender<SourceEvent>,
    /// Held by the catch-up line batches the hub has not dropped yet.
    batch_slots: Arc<Semaphore>,
    shutdown: watch::Receiver<bool>,
    open: Option<OpenFile>,
    lines: LineAssembler,
    /// The path's absence (or unreadability) was already reported.
    absence_reported: bool,
    /// Wakes the follower when the file may have changed.
    change: ChangeWatch,
}

/// Follows `path` until the receiver closes or shutdown is asked for; `safety` is its slot
/// in the shared safety poll.
pub(crate) async fn follow_file(
    path: PathBuf,
    safety: Arc<SafetySlot>,
    emitter: Emitter,
    catch_up: Option<CatchUpSettings>,
    tx: mpsc::Sender<SourceEvent>,
    shutdown: watch::Receiver<bool>,
) {
    let mut follower = Follower {
        path: path.clone(),
        emitter,
        catch_up,
        tx,
        batch_slots: Arc::new(Semaphore::new(MAX_BATCHES_IN_FLIGHT)),
        shutdown,
        open: None,
        lines: LineAssembler::new(),
        absence_reported: false,
        change: ChangeWatch::new(&path, safety),
    };
    let _ = follower.run().await;
}

impl Follower {
    async fn run(&mut self) -> Result<(), Stop> {
        if let Some(mut open) = self.open_path().await? {
            let start = tail_start(&mut open.file, TAIL_LINES).await.unwrap_or(0);
            match Fingerprint::read_before(&mut open.file, start).await {
                Ok(fingerprint) => {
                    open.offset = start;
                    open.fingerprint = fingerprint;
                }
                // Reading it all from the start is the safe fallback.
                Err(_) => {
                    let _ = open.file.seek(SeekFrom::Start(0)).await;
                }
            }
            self.open = Some(open);
        }
        loop {
            self.poll().await?;
            self.change.looked();
            if let Some(reason) = self.change.take_polling_reason() {
                self.notice(reason).await?;
            }
            self.change.wait(&mut self.shutdown).await?;
        }
    }

    async fn poll(&mut self) -> Result<(), Stop> {
        let meta = match tokio::fs::metadata(&self.path).await {
            Ok(meta) => meta,
            Err(e) => return self.path_gone(e).await,
        };
        let Some(open) = self.open.as_mut() else {
            self.open = self.open_path().await?;
            return self.read_available().await;
        };
        if open.id != file_id(&meta) {
            self.finish_old_file().await?;
            self.notice("file was rotated; following the new file from its start")
                .await?;
            self.open = self.open_path().await?;
        } else if meta.len() < open.offset
            // Truncated and already written past the old size (copytruncate, then a burst).
            || !open.fingerprint.still_matches(&mut open.file, open.offset).await
        {
            let reset = open.file.seek(SeekFrom::Start(0)).await.is_ok();
            open.offset = 0;
            open.fingerprint = Fingerprint::default();
            self.lines.clear();
            if !reset {
                self.open = None;
            }
            self.notice("file was truncated; reading it again from the start")
                .await?;
        }
        self.read_available().await
    }

    /// The path is missing or unreadable: finish the old file, then report once.
    async fn path_gone(&mut self, error: std::io::Error) -> Result<(), Stop> {
        let message = if error.kind() == std::io::ErrorKind::NotFound {
            format!(
                "{} is missing; waiting for it to appear",
                self.path.display()
            )
        } else {
            format!("cannot read {}: {error}; retrying", self.path.display())
        };
        self.unusable(message).await
    }

    /// The path cannot be followed now: finish the old file, then report `message` once.
    async fn unusable(&mut self, message: String) -> Result<(), Stop> {
        let had_file = self.open.is_some();
        self.finish_old_file().await?;
        if had_file || !self.absence_reported {
            self.absence_reported = true;
            self.notice(message).await?;
        }
        Ok(())
    }

    /// Opens the path for reading from its start; reports failures once.
    async fn open_path(&mut self) -> Result<Option<OpenFile>, Stop> {
        match open_regular(&self.path).await {
            Ok(Ok((file, meta))) => {
                if self.absence_reported {
                    self.absence_reported = false;
                    self.notice(format!("{} appeared; following it", self.path.display()))
                        .await?;
                }
                Ok(Some(OpenFile {
                    file,
                    id: file_id(&meta),
                    offset: 0,
                    fingerprint: Fingerprint::default(),
                }))
            }
            Ok(Err(kind)) => {
                let path = self.path.display();
                self.unusable(format!(
                    "{path} is {kind}, not a regular file: a [[log]] `file` must be a regular \
                     file (to read a pipe or device, use `command = [\"cat\", \"{path}\"]`); \
                     not reading it"
                ))
                .await?;
                Ok(None)
            }
            Err(e) => {
                self.path_gone(e).await?;
                Ok(None)
            }
        }
    }

    /// Reads what is left in the current handle and hands out a held partial line.
    async fn finish_old_file(&mut self) -> Result<(), Stop> {
        if self.open.is_none() {
            return Ok(());
        }
        self.read_available().await?;
        self.open = None;
        if let Some(raw) = self.lines.flush() {
            let mut events = Vec::new();
            self.emitter.line_events(raw, &mut |e| events.push(e));
            self.send_all(events).await?;
        }
        Ok(())
    }

    /// Reads the open handle to its current end, sending every complete line.
    async fn read_available(&mut self) -> Result<(), Stop> {
        self.catch_up_read().await?;
        let mut buf = vec![0; READ_CHUNK_BYTES];
        loop {
            let Some(open) = self.open.as_mut() else {
                return Ok(());
            };
            let n = match open.file.read(&mut buf).await {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) => return self.read_error(e.to_string()).await,
            };
            self.consume(&buf[..n]).await?;
        }
    }

    /// Hands on the lines completed by `bytes`, just read at the open file's offset.
    async fn consume(&mut self, bytes: &[u8]) -> Result<(), Stop> {
        if let Some(open) = self.open.as_mut() {
            open.offset += bytes.len() as u64;
            open.fingerprint.advance(bytes);
        }
        let mut events = Vec::new();
        let emitter = &mut self.emitter;
        self.lines.push(bytes, |raw| {
            emitter.line_events(raw, &mut |e| events.push(e))
        });
        self.send_all(events).await
    }

    /// Reads on to the end of the held partial line, as an ordinary read would, leaving the
    /// file at the next line's start; `false` when the file ends first (or cannot be read).
    async fn finish_partial_line(&mut self) -> Result<bool, Stop> {
        let mut buf = vec![0; READ_CHUNK_BYTES];
        loop {
            let Some(open) = self.open.as_mut() else {
                return Ok(false);
            };
            let n = match open.file.read(&mut buf).await {
                Ok(0) => return Ok(false),
                Ok(n) => n,
                Err(e) => return self.read_error(e.to_string()).await.map(|()| false),
            };
            let Some(newline) = memchr::memchr(b'\n', &buf[..n]) else {
                self.consume(&buf[..n]).await?;
                continue;
            };
            self.consume(&buf[..=newline]).await?;
            let Some(open) = self.open.as_mut() else {
                return Ok(false);
            };
            if let Err(e) = open.file.seek(SeekFrom::Start(open.offset)).await {
                return self.read_error(e.to_string()).await.map(|()| false);
            }
            return Ok(true);
        }
    }

    /// Classifies a long unread stretch (a burst, a file read from its start) on the
    /// blocking pool and sends the hub its matching lines in batches and a count of the rest.
    /// The newest [`MAX_LINES_PER_BATCH`] lines, all a burst shows, are left to the ordinary
    /// read.
    async fn catch_up_read(&mut self) -> Result<(), Stop> {
        let (Some(settings), Some(open)) = (self.catch_up.clone(), self.open.as_mut()) else {
            return Ok(());
        };
        let Ok(meta) = open.file.metadata().await else {
            return Ok(());
        };
        if meta.len().saturating_sub(open.offset) < settings.min_bytes
            || (self.lines.has_partial() && !self.finish_partial_line().await?)
        {
            return Ok(());
        }
        let Some(open) = self.open.as_mut() else {
            return Ok(());
        };
        let Ok(file) = open.file.try_clone().await else {
            return Ok(());
        };
        let file = file.into_std().await;
        let start = open.offset;
        let source = self.emitter.source.clone();
        let (lines_tx, mut lines_rx) = mpsc::channel(READY_BATCHES);
        let read = tokio::task::spawn_blocking(move || {
            catch_up_blocking(&settings, &source, &file, start..meta.len(), &lines_tx)
        });
        while let Some(batch) = lines_rx.recv().await {
            send_batch(&self.tx, &mut self.shutdown, &self.batch_slots, batch).await?;
        }
        let done = match read.await {
            Ok(Ok(done)) => done,
            Ok(Err(e)) => return self.read_error(e.to_string()).await,
            Err(e) => return self.read_error(e.to_string()).await,
        };
        if done.unmatched > 0 {
            let event = SourceEvent::Unmatched {
                source: self.emitter.source.clone(),
                lines: done.unmatched,
            };
            send(&self.tx, &mut self.shutdown, event).await?;
        }
        let Some(open) = self.open.as_mut() else {
            return Ok(());
        };
        if let Err(e) = open.file.seek(SeekFrom::Start(done.offset)).await {
            return self.read_error(e.to_string()).await;
        }
        open.offset = done.offset;
        open.fingerprint.advance(&done.fingerprint);
        Ok(())
    }

    /// As a failed read: the file is opened again.
    async fn read_error(&mut self, error: String) -> Result<(), Stop> {
        self.open = None;
        self.notice(format!("read error, reopening: {error}")).await
    }

    async fn send_all(&mut self, events: Vec<SourceEvent>) -> Result<(), Stop> {
        for event in events {
            send(&self.tx, &mut self.shutdown, event).await?;
        }
        Ok(())
    }

    async fn notice(&mut self, message: impl Into<String>) -> Result<(), Stop> {
        let event = self.emitter.notice(message);
        send(&self.tx, &mut self.shutdown, event).await
    }
}

/// What a catch-up read did: where following goes on, the lines it only counted, and the
/// bytes before that offset (the fingerprint a line-by-line read would have kept).
struct CatchUpDone {
    offset: u64,
    unmatched: u64,
    fingerprint: Vec<u8>,
}

/// Catches up on the lines in `range` (from a line start) but the newest
/// [`MAX_LINES_PER_BATCH`], sending the lines the hub must see in batches, in file order.
fn catch_up_blocking(
    settings: &CatchUpSettings,
    source: &str,
    file: &std::fs::File,
    range: std::ops::Range<u64>,
    lines_tx: &mpsc::Sender<LineBatch>,
) -> std::io::Result<CatchUpDone> {
    let end = newest_lines_start(file, range.clone(), MAX_LINES_PER_BATCH)?;
    if end.saturating_sub(range.start) < settings.min_bytes {
        return Ok(CatchUpDone {
            offset: range.start,
            unmatched: 0,
            fingerprint: Vec::new(),
        });
    }
    let new_batch = || LineBatch::new(source.to_string());
    let (mut batch, mut reported, mut receiver_gone) = (new_batch(), 0, false);
    let on_line = |line: &[u8], dropped_bytes| {
        reported += 1;
        // The follower stopped: the rest of the read is not sent anywhere.
        if receiver_gone {
            return;
        }
        batch.push(line, dropped_bytes);
        if batch.is_full() {
            let full = std::mem::replace(&mut batch, new_batch());
            receiver_gone = lines_tx.blocking_send(full).is_err();
        }
    };
    let caught: CaughtUp = catch_up_file(&settings.patterns, file, range.start..end, on_line)?;
    if !batch.is_empty() && !receiver_gone {
        let _ = lines_tx.blocking_send(batch);
    }
    let from = caught.offset.saturating_sub(FINGERPRINT_BYTES as u64);
    let mut fingerprint = vec![0; (caught.offset - from) as usize];
    read_exact_at(file, &mut fingerprint, from)?;
    Ok(CatchUpDone {
        offset: caught.offset,
        unmatched: caught.lines - reported,
        fingerprint,
    })
}

/// Start of the newest `lines` complete lines in `range`, or its start when it holds fewer.
fn newest_lines_start(
    file: &std::fs::File,
    range: std::ops::Range<u64>,
    lines: usize,
) -> std::io::Result<u64> {
    let mut block = vec![0; READ_CHUNK_BYTES];
    let mut end = range.end;
    // The newest lines end at newlines 1 to `lines` from the end; the next one precedes them.
    let mut newlines = 0;
    while end > range.start {
        let start = end.saturating_sub(READ_CHUNK_BYTES as u64).max(range.start);
        let chunk = &mut block[..(end - start) as usize];
        read_exact_at(file, chunk, start)?;
        for i in memchr::memrchr_iter(b'\n', chunk) {
            newlines += 1;
            if newlines > lines {
                return Ok(start + i as u64 + 1);
            }
        }
        end = start;
    }
    Ok(range.start)
}

fn read_exact_at(file: &std::fs::File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    #[cfg(unix)]
    return std::os::unix::fs::FileExt::read_exact_at(file, buf, offset);
    #[cfg(windows)]
    {
        let mut done = 0;
        while done < buf.len() {
            let n = std::os::windows::fs::FileExt::seek_read(
                file,
                &mut buf[done..],
                offset + done as u64,
            )?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            done += n;
        }
        Ok(())
    }
}

/// Opens `path` for reading when it is a regular file; otherwise says what it is.
///
/// A FIFO would block the open (and with it shutdown) until a writer comes, and a device
/// such as `/dev/zero` never ends: neither is opened. `O_NONBLOCK` covers a path swapped
/// for a FIFO between the check and the open.
async fn open_regular(path: &Path) -> std::io::Result<Result<(File, Metadata), &'static str>> {
    let meta = tokio::fs::metadata(path).await?;
    if !meta.is_file() {
        return Ok(Err(file_kind(&meta)));
    }
    let mut options = tokio::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    options.custom_flags(libc::O_NONBLOCK);
    let file = options.open(path).await?;
    let meta = file.metadata().await?;
    if !meta.is_file() {
        return Ok(Err(file_kind(&meta)));
    }
    Ok(Ok((file, meta)))
}

/// What a non-regular file is, for the message.
fn file_kind(meta: &Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let kind = meta.file_type();
        if kind.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if kind.is_char_device() {
            return "a character device";
        }
        if kind.is_block_device() {
            return "a block device";
        }
        if kind.is_socket() {
            return "a socket";
        }
    }
    if meta.is_dir() {
        "a directory"
    } else {
        "a special file"
    }
}

/// Offset where the last `lines` lines of `file` start, reading backwards in blocks.
async fn tail_start(file: &mut File, lines: usize) -> std::io::Result<u64> {
    let len = file.metadata().await?.len();
    let mut block = vec![0; READ_CHUNK_BYTES];
    let mut end = len;
    let mut seen = 0;
    let mut earliest_line_start = None;
    while end > 0 && len - end < MAX_TAIL_SCAN_BYTES {
        let start = end.saturating_sub(READ_CHUNK_BYTES as u64);
        let chunk = &mut block[..(end - start) as usize];
        file.seek(SeekFrom::Start(start)).await?;
        file.read_exact(chunk).await?;
        for (i, byte) in chunk.iter().enumerate().rev() {
            let at = start + i as u64;
            // The newline ending the last line does not start another line.
            if *byte != b'\n' || at + 1 == len {
                continue;
            }
            seen += 1;
            earliest_line_start = Some(at + 1);
            if seen == lines {
                return Ok(at + 1);
            }
        }
        end = start;
    }
    // Past the scan limit, start at a line boundary rather than in the middle of a line.
    Ok(if end == 0 {
        0
    } else {
        earliest_line_start.unwrap_or(len)
    })
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::config::LogFormat;

    fn follower(path: PathBuf) -> (Follower, mpsc::Receiver<SourceEvent>, watch::Sender<bool>) {
        follower_with(path, None, 1024)
    }

    fn follower_with(
        path: PathBuf,
        catch_up: Option<CatchUpSettings>,
        capacity: usize,
    ) -> (Follower, mpsc::Receiver<SourceEvent>, watch::Sender<bool>) {
        let (tx, rx) = mpsc::channel(capacity);
        let (stop, shutdown) = watch::channel(false);
        let follower = Follower {
            change: ChangeWatch::new(&path, SafetySlot::new(&path)),
            path,
            emitter: Emitter::new("app", LogFormat::Plain),
            catch_up,
            tx,
            batch_slots: Arc::new(Semaphore::new(MAX_BATCHES_IN_FLIGHT)),
            shutdown,
            open: None,
            lines: LineAssembler::new(),
            absence_reported: false,
        };
        (follower, rx, stop)
    }

    fn drain(rx: &mut mpsc::Receiver<SourceEvent>) -> (Vec<String>, Vec<String>) {
        let (mut lines, mut notices) = (Vec::new(), Vec::new());
        while let Ok(event) = rx.try_recv() {
            match event {
                SourceEvent::Line(line) => lines.push(line.text),
                SourceEvent::Lines(batch) => {
                    lines.extend(batch.lines().map(|(text, _)| text.to_string()))
                }
                SourceEvent::Notice { message, .. } => notices.push(message),
                SourceEvent::Status(_) | SourceEvent::Unmatched { .. } => {}
            }
        }
        (lines, notices)
    }

    /// copytruncate, then a line longer than the whole old file, all between two polls: the
    /// size grew past the old offset, yet the whole new line must come out.
    #[tokio::test]
    async fn copytruncate_then_a_longer_write_within_one_poll_reads_the_new_line_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        std::fs::write(&path, "old one\nold two\n").unwrap();
        let (mut follower, mut rx, _stop) = follower(path.clone());
        follower.poll().await.unwrap();
        assert_eq!(drain(&mut rx).0, ["old one", "old two"]);

        let long = "after truncation: a line longer than everything the file held before";
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        writeln!(file, "{long}").unwrap();
        drop(file);
        follower.poll().await.unwrap();

        let (lines, notices) = drain(&mut rx);
        assert_eq!(lines, [long], "notices: {notices:?}");
        assert!(
            notices.iter().any(|n| n.contains("truncated")),
            "{notices:?}"
        );
    }

    #[tokio::test]
    async fn plain_growth_is_not_mistaken_for_truncation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        std::fs::write(&path, "one\n").unwrap();
        let (mut follower, mut rx, _stop) = follower(path.clone());
        follower.poll().await.unwrap();
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        write!(file, "{}", "two\n".repeat(100)).unwrap();
        drop(file);
        follower.poll().await.unwrap();
        follower.poll().await.unwrap();
        let (lines, notices) = drain(&mut rx);
        assert_eq!(lines.len(), 101);
        assert!(notices.is_empty(), "{notices:?}");
    }

    /// The default patterns and two that only the hub's text of a line can match: `…` (a
    /// masked token, a cut line's marker) and U+FFFD (invalid UTF-8 decoded).
    fn patterns() -> PatternSet {
        let mut defs = crate::engine::telemetry::logs::default_patterns();
        for (name, regex) in [("ellipsis", "…"), ("replacement", "\u{FFFD}")] {
            defs.push(crate::config::PatternDef {
                name: name.into(),
                regex: regex.into(),
                level: crate::config::PatternLevel::Warn,
                role: None,
            });
        }
        PatternSet::from_patterns(defs).unwrap()
    }

    /// A burst of every kind of line: matches, plain traffic, CRLF, a Meta token, invalid
    /// UTF-8, lines past the cap and past a read buffer.
    fn burst(lines: usize, seed: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for i in 0..lines {
            let n = i + seed;
            match n % 11 {
                0 => out.extend_from_slice(format!("{n} Message sent to 1555\n").as_bytes()),
                1 => out.extend_from_slice(
                    format!("{n} Failed to send WhatsApp message: (#131047) re-engage\r\n")
                        .as_bytes(),
                ),
                2 => out.extend_from_slice(
                    format!("{n} using EAABwzLixnjYBO{n:0>20}ZDZD for the call\n").as_bytes(),
                ),
                3 => {
                    out.extend_from_slice(format!("{n} bad ").as_bytes());
                    out.extend_from_slice(b"\xff byte\n");
                }
                4 if n.is_multiple_of(7) => {
                    let len = [MAX_LINE_BYTES - 1, MAX_LINE_BYTES, MAX_LINE_BYTES + 1][n % 3];
                    let mut line = format!("{n} long ").into_bytes();
                    line.resize(len, b'-');
                    out.extend_from_slice(&line);
                    out.extend_from_slice(if n.is_multiple_of(2) { b"\r\n" } else { b"\n" });
                }
                5 if n.is_multiple_of(13) => {
                    out.extend_from_slice(b"Message sent ");
                    out.resize(out.len() + 5 * READ_CHUNK_BYTES, b'=');
                    out.push(b'\n');
                }
                _ => out.extend_from_slice(
                    format!("{n} {{\"message\":\"request completed\",\"status\":200}}\n")
                        .as_bytes(),
                ),
            }
        }
        out
    }

    /// What a hub made of a follower's events, and how the lines came.
    struct ThroughHub {
        snapshot: crate::engine::telemetry::types::TelemetrySnapshot,
        /// The last line batch for clients: each line with its pattern, level and cut.
        shown: Vec<String>,
        skipped: u64,
        /// `Line` events.
        line_events: usize,
        /// `Lines` events, and the lines in them.
        batches: usize,
        batched_lines: usize,
    }

    /// Follows a file through two bursts (the first ending in a partial line) while a hub
    /// takes the events as they come, through a channel of a few events (the follower waits
    /// for the hub, as in the daemon).
    async fn through_hub(catch_up: Option<CatchUpSettings>) -> ThroughHub {
        use crate::engine::EngineEvent;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        let mut first = burst(4000, 0);
        first.extend_from_slice(b"partial Message");
        std::fs::write(&path, &first).unwrap();
        let (mut follower, mut rx, _stop) = follower_with(path.clone(), catch_up, 4);
        let (polled, first_read) = tokio::sync::oneshot::channel();
        let (appended, second_burst) = tokio::sync::oneshot::channel::<()>();
        // Dropping the follower at the end closes the channel.
        let polls = tokio::spawn(async move {
            follower.poll().await.unwrap();
            polled.send(()).unwrap();
            second_burst.await.unwrap();
            follower.poll().await.unwrap();
        });
        let append = async move {
            first_read.await.unwrap();
            let mut file = std::fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .unwrap();
            file.write_all(b" sent, completed\n").unwrap();
            file.write_all(&burst(3000, 5)).unwrap();
            appended.send(()).unwrap();
        };

        let (events_tx, mut events) = mpsc::unbounded_channel();
        let mut hub = crate::engine::telemetry::TelemetryHub::new(
            patterns(),
            events_tx,
            crate::engine::Clock::System,
            None,
            Vec::new(),
            std::collections::HashMap::new(),
        );
        let (mut line_events, mut batches, mut batched_lines) = (0, 0, 0);
        let consume = async {
            while let Some(event) = rx.recv().await {
                match &event {
                    SourceEvent::Line(_) => line_events += 1,
                    SourceEvent::Lines(batch) => {
                        (batches, batched_lines) = (batches + 1, batched_lines + batch.len())
                    }
                    _ => {}
                }
                hub.on_source_event(event);
            }
        };
        let (polled, (), ()) = tokio::join!(polls, append, consume);
        polled.unwrap();
        hub.flush_lines();
        let Ok(EngineEvent::LogLines { lines, skipped }) = events.try_recv() else {
            panic!("no line batch");
        };
        let shown = lines
            .iter()
            .map(|l| format!("{} {:?} {:?} {}", l.text, l.pattern, l.level, l.truncated))
            .collect();
        let snapshot = hub.snapshot(chrono::Utc::now());
        ThroughHub {
            snapshot,
            shown,
            skipped,
            line_events,
            batches,
            batched_lines,
        }
    }

    #[tokio::test]
    async fn a_catch_up_read_gives_the_hub_what_reading_line_by_line_does() {
        let settings = CatchUpSettings {
            patterns: Arc::new(patterns()),
            min_bytes: 64 * 1024,
        };
        let caught = through_hub(Some(settings)).await;
        let read = through_hub(None).await;
        let (c, r) = (&caught.snapshot, &read.snapshot);
        assert_eq!(c.totals, r.totals);
        assert_eq!(c.patterns, r.patterns);
        assert_eq!(c.levels_1h, r.levels_1h);
        assert_eq!(c.delivery, r.delivery);
        assert_eq!(c.top_failures, r.top_failures);
        assert_eq!(caught.shown, read.shown);
        assert_eq!(caught.skipped, read.skipped);
        // Every line is counted, and the patterns only the hub's text matches did match.
        assert_eq!((read.line_events, read.batches), (7001, 0));
        let total: u64 = r.totals.log_lines.iter().map(|l| l.count).sum();
        assert_eq!(total, 7001);
        for name in ["ellipsis", "replacement", "message-sent", "message-failed"] {
            let row = r.patterns.iter().find(|p| p.name == name).unwrap();
            assert!(row.last_15m > 0, "{name}: {row:?}");
        }
        // The catch-up's lines came in batches, some longer than the clients' line batch.
        assert!(
            caught.line_events < read.line_events / 2,
            "the catch-up read sent {} of {} lines one by one",
            caught.line_events,
            read.line_events
        );
        assert!(
            caught.batched_lines > MAX_LINES_PER_BATCH
                && caught.batches < caught.batched_lines / 100,
            "{} lines in {} batches",
            caught.batched_lines,
            caught.batches
        );
    }
}
