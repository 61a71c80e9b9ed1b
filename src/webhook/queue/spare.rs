//! The spare segment: the next segment file, created and made durable in its directory ahead
//! of time by a side thread, so starting a segment costs the writer a rename instead of a
//! create and a directory fsync (a journal commit that every caller of that commit waited
//! for, several times a second at 100 MB/s).
//!
//! The rename is not fsynced: a crash may leave the segment under the spare's name, with
//! acknowledged records in it. Opening the queue recovers it: a spare holding records is
//! named after its first seq like any segment; an empty one is removed. The side thread's
//! next directory fsync makes the rename durable along with the new spare.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use super::{QueueError, segment};

/// Not a segment's name (`<20 digits>.seg`), so a listing never takes it for one.
const FILE_NAME: &str = "next-segment.spare";

pub fn path(dir: &Path) -> PathBuf {
    dir.join(FILE_NAME)
}

/// Creates an empty spare (replacing an old one, which holds no records once the queue is
/// open) and makes it durable in the directory.
pub fn create(dir: &Path) -> Result<File, QueueError> {
    let path = path(dir);
    match std::fs::remove_file(&path) {
        Err(err) if err.kind() != io::ErrorKind::NotFound => {
            return Err(QueueError::Io { path, source: err });
        }
        _ => {}
    }
    segment::create_at(dir, &path)
}

/// Makes the spare the segment whose first record is `first_seq`.
pub fn adopt(dir: &Path, first_seq: u64) -> Result<(), QueueError> {
    let from = path(dir);
    std::fs::rename(&from, segment::path(dir, first_seq))
        .map_err(|source| QueueError::Io { path: from, source })
}

/// At open, before the segments are listed: a spare left by a crash after its adoption is
/// named after its first record; an empty one is removed.
pub fn recover(dir: &Path) -> Result<(), QueueError> {
    let path = path(dir);
    if !path.exists() {
        return Ok(());
    }
    let (last_seq, len) = segment::recover(&path)?;
    if last_seq.is_none() || len == 0 {
        return std::fs::remove_file(&path).map_err(|source| QueueError::Io { path, source });
    }
    let first_seq = segment::first_seq(&path, len)?;
    let Some(first_seq) = first_seq else {
        return Ok(());
    };
    tracing::info!(
        first_seq,
        "webhook queue: a segment started just before a crash is restored under its name"
    );
    std::fs::rename(&path, segment::path(dir, first_seq))
        .map_err(|source| QueueError::Io { path, source })?;
    segment::sync_dir(dir)
}

/// A side thread that creates spares on request and hands them back; also where the
/// writer's other slow chores (fsyncing the digests, deleting delivered segments) go.
pub struct Preparer {
    requests: mpsc::Sender<Chore>,
    ready: mpsc::Receiver<File>,
}

/// Work for the side thread.
pub enum Chore {
    /// Create the next spare (and fsync these digests first, if given).
    Spare { sync_first: Option<File> },
    /// Delete these delivered segments.
    Remove(Vec<PathBuf>),
}

impl Preparer {
    /// Starts the thread and asks for the first spare; `None` if the OS refuses a thread (the
    /// writer then creates segments itself, as before).
    pub fn start(dir: PathBuf) -> Option<Preparer> {
        let (requests, chores) = mpsc::channel::<Chore>();
        let (made, ready) = mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("webhook-queue-spare".into())
            .spawn(move || run(&dir, &chores, &made));
        if let Err(err) = spawned {
            tracing::warn!(error = %err, "webhook queue: could not start the thread that prepares segments; the writer creates them");
            return None;
        }
        let preparer = Preparer { requests, ready };
        preparer.ask(Chore::Spare { sync_first: None });
        Some(preparer)
    }

    /// The spare, if it is ready (never waits).
    pub fn take(&self) -> Option<File> {
        self.ready.try_recv().ok()
    }

    pub fn ask(&self, chore: Chore) {
        // The thread ends only when this sender is dropped.
        let _ = self.requests.send(chore);
    }
}

fn run(dir: &Path, chores: &mpsc::Receiver<Chore>, made: &mpsc::Sender<File>) {
    while let Ok(chore) = chores.recv() {
        match chore {
            Chore::Remove(paths) => super::remove_segments(paths),
            Chore::Spare { sync_first } => {
                if let Some(Err(err)) = sync_first.map(|file| file.sync_data()) {
                    tracing::warn!(error = %err, "webhook queue: could not fsync the dedupe file");
                }
                match create(dir) {
                    Ok(file) => {
                        if made.send(file).is_err() {
                            return;
                        }
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "webhook queue: could not prepare the next segment; the writer will create it")
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook::queue::frame;

    #[test]
    fn a_spare_left_with_records_by_a_crash_is_named_after_its_first_seq() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = frame::encode(7, 0, b"sha256=x", b"{\"a\":1}");
        bytes.extend(frame::encode(8, 0, b"sha256=y", b"{\"b\":2}"));
        std::fs::write(path(dir.path()), &bytes).unwrap();
        recover(dir.path()).unwrap();
        assert!(!path(dir.path()).exists());
        let segments = segment::list(dir.path()).unwrap();
        assert_eq!(
            segments.into_iter().collect::<Vec<_>>(),
            vec![(7, bytes.len() as u64)]
        );
    }

    #[test]
    fn an_empty_or_torn_spare_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        drop(create(dir.path()).unwrap());
        recover(dir.path()).unwrap();
        assert!(!path(dir.path()).exists());
        let torn = frame::encode(3, 0, b"sha256=x", b"{\"a\":1}");
        std::fs::write(path(dir.path()), &torn[..torn.len() - 2]).unwrap();
        recover(dir.path()).unwrap();
        assert!(!path(dir.path()).exists());
        assert!(segment::list(dir.path()).unwrap().is_empty());
    }

    #[test]
    fn the_preparer_hands_over_an_empty_durable_spare_and_adopting_it_names_the_segment() {
        let dir = tempfile::tempdir().unwrap();
        let preparer = Preparer::start(dir.path().to_path_buf()).unwrap();
        let spare = preparer
            .ready
            .recv_timeout(std::time::Duration::from_secs(20))
            .unwrap();
        assert_eq!(spare.metadata().unwrap().len(), 0);
        adopt(dir.path(), 42).unwrap();
        assert!(segment::path(dir.path(), 42).exists());
        assert!(!path(dir.path()).exists());
    }
}
