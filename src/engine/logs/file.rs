//! Following a file like `tail -F`: across rotation, truncation, deletion and late creation.

use std::io::SeekFrom;
use std::path::PathBuf;
use std::time::Duration;

use tokio::fs::File;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::sync::{mpsc, watch};

use super::SourceEvent;
use super::emit::{Emitter, Stop, send, sleep};
use super::line::{LineAssembler, MAX_LINE_BYTES};

/// Lines shown from an existing file when following starts.
pub const TAIL_LINES: usize = 200;
/// How often the path is checked for new data, rotation and truncation.
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);
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
}

/// Follows `path` until the receiver closes or shutdown is asked for.
pub(crate) async fn follow_file(
    path: PathBuf,
    emitter: Emitter,
    tx: mpsc::Sender<SourceEvent>,
    shutdown: watch::Receiver<bool>,
) {
    let mut follower = Follower {
        path,
        emitter,
        tx,
        shutdown,
        open: None,
        lines: LineAssembler::new(),
        absence_reported: false,
    };
    let _ = follower.run().await;
}

impl Follower {
    async fn run(&mut self) -> Result<(), Stop> {
        if let Some(mut open) = self.open_path().await? {
            open.offset = tail_start(&mut open.file, TAIL_LINES).await.unwrap_or(0);
            if open.file.seek(SeekFrom::Start(open.offset)).await.is_err() {
                open.offset = 0;
            }
            self.open = Some(open);
        }
        loop {
            self.poll().await?;
            sleep(POLL_INTERVAL, &mut self.shutdown).await?;
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
        } else if meta.len() < open.offset {
            let reset = open.file.seek(SeekFrom::Start(0)).await.is_ok();
            open.offset = 0;
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
        let had_file = self.open.is_some();
        self.finish_old_file().await?;
        if had_file || !self.absence_reported {
            self.absence_reported = true;
            let message = if error.kind() == std::io::ErrorKind::NotFound {
                format!(
                    "{} is missing; waiting for it to appear",
                    self.path.display()
                )
            } else {
                format!("cannot read {}: {error}; retrying", self.path.display())
            };
            self.notice(message).await?;
        }
        Ok(())
    }

    /// Opens the path for reading from its start; reports failures once.
    async fn open_path(&mut self) -> Result<Option<OpenFile>, Stop> {
        let opened = async {
            let file = File::open(&self.path).await?;
            let meta = file.metadata().await?;
            Ok::<_, std::io::Error>((file, meta))
        };
        match opened.await {
            Ok((file, meta)) => {
                if self.absence_reported {
                    self.absence_reported = false;
                    self.notice(format!("{} appeared; following it", self.path.display()))
                        .await?;
                }
                Ok(Some(OpenFile {
                    file,
                    id: file_id(&meta),
                    offset: 0,
                }))
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
