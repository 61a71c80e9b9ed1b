//! Following a file like `tail -F`: across rotation, truncation, deletion and late creation.

use std::fs::Metadata;
use std::io::SeekFrom;
use std::path::{Path, PathBuf};

use tokio::fs::File;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::sync::{mpsc, watch};

use super::SourceEvent;
use super::change::{ChangeWatch, Wake};
use super::emit::{Emitter, Stop, send};
use super::fingerprint::Fingerprint;
use super::line::{LineAssembler, MAX_LINE_BYTES};

/// Lines shown from an existing file when following starts.
pub const TAIL_LINES: usize = 200;
const READ_CHUNK_BYTES: usize = 64 * 1024;
/// Reading backwards for the last lines stops here, so huge lines cannot make it unbounded.
const MAX_TAIL_SCAN_BYTES: u64 = (TAIL_LINES * MAX_LINE_BYTES) as u64;

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
    tx: mpsc::Sender<SourceEvent>,
    shutdown: watch::Receiver<bool>,
    open: Option<OpenFile>,
    lines: LineAssembler,
    /// The path's absence (or unreadability) was already reported.
    absence_reported: bool,
    /// Wakes the follower when the file may have changed.
    change: ChangeWatch,
    /// What the path's metadata said at the last full look: a safety poll that finds the same
    /// costs one `stat`, not a read.
    looked: Option<Looked>,
}

/// The metadata a safety poll compares: which file, how long, when last written.
type Looked = (FileId, u64, Option<std::time::SystemTime>);

fn look(path: &Path) -> Option<Looked> {
    // A plain `stat`, not a blocking-pool hop: this path is on a local file system (remote
    // ones are polled, not notified), and this runs every few seconds per file.
    let meta = std::fs::metadata(path).ok()?;
    Some((file_id(&meta), meta.len(), meta.modified().ok()))
}

/// Follows `path` until the receiver closes or shutdown is asked for.
pub(crate) async fn follow_file(
    path: PathBuf,
    emitter: Emitter,
    tx: mpsc::Sender<SourceEvent>,
    shutdown: watch::Receiver<bool>,
) {
    let mut follower = Follower {
        path: path.clone(),
        emitter,
        tx,
        shutdown,
        open: None,
        lines: LineAssembler::new(),
        absence_reported: false,
        change: ChangeWatch::new(&path),
        looked: None,
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
            self.looked = look(&self.path);
            self.change.rewatch();
            if let Some(reason) = self.change.take_polling_reason() {
                self.notice(reason).await?;
            }
            while self.change.wait(&mut self.shutdown).await? == Wake::SafetyPoll
                && self.looked.is_some()
                && look(&self.path) == self.looked
            {}
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
        let mut buf = vec![0; READ_CHUNK_BYTES];
        loop {
            let Some(open) = self.open.as_mut() else {
                return Ok(());
            };
            let n = match open.file.read(&mut buf).await {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) => {
                    self.open = None;
                    return self.notice(format!("read error, reopening: {e}")).await;
                }
            };
            open.offset += n as u64;
            open.fingerprint.advance(&buf[..n]);
            let mut events = Vec::new();
            let emitter = &mut self.emitter;
            self.lines.push(&buf[..n], |raw| {
                emitter.line_events(raw, &mut |e| events.push(e))
            });
            self.send_all(events).await?;
        }
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
        let (tx, rx) = mpsc::channel(1024);
        let (stop, shutdown) = watch::channel(false);
        let follower = Follower {
            change: ChangeWatch::new(&path),
            path,
            emitter: Emitter::new("app", LogFormat::Plain),
            tx,
            shutdown,
            open: None,
            lines: LineAssembler::new(),
            absence_reported: false,
            looked: None,
        };
        (follower, rx, stop)
    }

    fn drain(rx: &mut mpsc::Receiver<SourceEvent>) -> (Vec<String>, Vec<String>) {
        let (mut lines, mut notices) = (Vec::new(), Vec::new());
        while let Ok(event) = rx.try_recv() {
            match event {
                SourceEvent::Line(line) => lines.push(line.text),
                SourceEvent::Notice { message, .. } => notices.push(message),
                SourceEvent::Status(_) => {}
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
}
