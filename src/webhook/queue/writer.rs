//! The queue's one writer: a thread that takes every append waiting, writes them with one
//! `write` and one `fdatasync` (group commit), and only then answers their callers.
//!
//! On its own thread so an fsync never holds a runtime worker. A failed write is cut off the
//! segment and answered with the error (a full disk may clear); a failed fsync stops the
//! writer, since the kernel may have dropped the pages: later appends answer `Closed` until a
//! restart re-reads what is really on disk.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Write};
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::dedupe::DedupeSet;
use super::frame::{self, BodyDigest};
use super::spare::{self, Chore, Preparer};
use super::{Accepted, Core, QueueError, segment};

/// Most bytes and appends written by one commit.
const MAX_BATCH_BYTES: usize = 8 << 20;
const MAX_BATCH_APPENDS: usize = 1024;

/// One caller's record, built with seq 0; the writer gives it its seq.
pub struct Append {
    pub record: Vec<u8>,
    pub digest: BodyDigest,
    pub received_at_unix: i64,
    pub reply: oneshot::Sender<Result<Accepted, QueueError>>,
}

pub struct Writer {
    core: Arc<Core>,
    file: File,
    dedupe: DedupeSet,
    segment_bytes: u64,
    /// The segment being appended: its first seq and length.
    active: (u64, u64),
    next_seq: u64,
    /// Prepares the next segment and does the slow chores off this thread; `None` when its
    /// thread could not start.
    preparer: Option<Preparer>,
}

/// What a caller will be told once the batch is on disk.
enum Pending {
    Queued(u64),
    /// A copy of a body earlier in the same batch: only as durable as that one.
    DuplicateInBatch(u64),
    Answered(Accepted),
}

/// Starts the writer thread; `None` (with an error logged) if the OS refuses a thread, and
/// then every append answers `Closed`.
pub fn spawn(
    writer: Writer,
    appends: mpsc::Receiver<Append>,
) -> Option<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("webhook-queue-writer".into())
        .spawn(move || {
            let mut writer = writer;
            writer.preparer = Preparer::start(writer.core.dir.clone());
            writer.run(appends)
        })
        .map_err(
            |err| tracing::error!(error = %err, "webhook queue: could not start its writer thread"),
        )
        .ok()
}

impl Writer {
    pub fn new(core: Arc<Core>, file: File, dedupe: DedupeSet, segment_bytes: u64) -> Writer {
        let active = core.state().active_segment();
        let next_seq = core.durable.borrow().saturating_add(1).max(active.0);
        Writer {
            core,
            file,
            dedupe,
            segment_bytes,
            active,
            next_seq,
            preparer: None,
        }
    }

    fn run(mut self, mut appends: mpsc::Receiver<Append>) {
        while let Some(first) = appends.blocking_recv() {
            let mut batch = vec![first];
            let mut bytes = batch[0].record.len();
            while bytes < MAX_BATCH_BYTES && batch.len() < MAX_BATCH_APPENDS {
                let Ok(more) = appends.try_recv() else { break };
                bytes += more.record.len();
                batch.push(more);
            }
            if self.commit(batch).is_err() {
                return;
            }
        }
        if let Err(err) = self.dedupe.flush().and_then(|()| self.dedupe.sync()) {
            tracing::warn!(error = %err, "webhook queue: could not save the last body digests");
        }
    }

    /// Writes one batch. `Err` when the writer must stop.
    fn commit(&mut self, batch: Vec<Append>) -> Result<(), ()> {
        let mut room = self
            .core
            .max_bytes
            .saturating_sub(self.core.state().max_unacked_bytes());
        let mut bytes = Vec::with_capacity(batch.iter().map(|a| a.record.len()).sum());
        let mut in_batch: HashMap<BodyDigest, u64> = HashMap::new();
        let mut replies = Vec::with_capacity(batch.len());
        let first_seq = self.next_seq;
        for mut append in batch {
            let pending =
                if let Some(seq) = self.dedupe.find(&append.digest, append.received_at_unix) {
                    Pending::Answered(Accepted::Duplicate { seq })
                } else if let Some(seq) = in_batch.get(&append.digest) {
                    Pending::DuplicateInBatch(*seq)
                } else if append.record.len() as u64 > room {
                    let max_bytes = self.core.max_bytes;
                    let _ = append.reply.send(Err(QueueError::Full { max_bytes }));
                    continue;
                } else {
                    let seq = self.next_seq;
                    self.next_seq += 1;
                    room -= append.record.len() as u64;
                    frame::set_seq(&mut append.record, seq);
                    bytes.extend_from_slice(&append.record);
                    in_batch.insert(append.digest, seq);
                    Pending::Queued(seq)
                };
            replies.push((
                append.reply,
                pending,
                append.digest,
                append.received_at_unix,
            ));
        }
        if bytes.is_empty() {
            answer(replies, None);
            return Ok(());
        }
        let outcome = self.write(first_seq, self.next_seq - 1, &bytes);
        match outcome {
            Ok(()) => {
                for (_, pending, digest, at) in &replies {
                    if let Pending::Queued(seq) = pending {
                        self.dedupe.insert(digest, *seq, *at);
                    }
                }
                if let Err(err) = self.dedupe.flush() {
                    tracing::warn!(error = %err, "webhook queue: could not append to the dedupe file; a retry of these bodies may be queued twice");
                }
                answer(replies, None);
                Ok(())
            }
            Err((error, stop)) => {
                self.next_seq = first_seq;
                answer(replies, Some(&error));
                if stop { Err(()) } else { Ok(()) }
            }
        }
    }

    /// Appends `bytes` (the records `first_seq..=last_seq`) and fsyncs them, starting a new segment
    /// first when the active one is full. On error: the error and whether to stop.
    fn write(
        &mut self,
        first_seq: u64,
        last_seq: u64,
        bytes: &[u8],
    ) -> Result<(), (QueueError, bool)> {
        let (_, len) = self.active;
        if len > 0 && len + bytes.len() as u64 > self.segment_bytes {
            self.roll(first_seq).map_err(|err| (err, false))?;
        }
        let (segment_now, len) = self.active;
        let path = segment::path(&self.core.dir, segment_now);
        let io = |source: io::Error| QueueError::Io {
            path: path.clone(),
            source,
        };
        if let Err(err) = self.file.write_all(bytes) {
            // Cut the partial write off, so the next batch does not follow garbage.
            let stop = self.file.set_len(len).is_err();
            return Err((io(err), stop));
        }
        self.file.sync_data().map_err(|err| (io(err), true))?;
        let len = len + bytes.len() as u64;
        self.active = (segment_now, len);
        self.core.state().committed(segment_now, len, last_seq);
        self.core.durable.send_replace(last_seq);
        Ok(())
    }

    /// Starts the segment whose first record is `first_seq`, from the prepared spare when it
    /// is ready; the digests' fsync, the next spare and deleting the segments every
    /// destination has passed happen on the preparer's thread, not in the callers' wait.
    fn roll(&mut self, first_seq: u64) -> Result<(), QueueError> {
        let dir = self.core.dir.clone();
        let prepared = self.preparer.as_ref().and_then(Preparer::take);
        let file = match prepared {
            Some(file) => match spare::adopt(&dir, first_seq) {
                Ok(()) => file,
                Err(err) => {
                    tracing::warn!(error = %err, "webhook queue: could not use the prepared segment; creating one");
                    segment::create(&dir, first_seq)?
                }
            },
            None => segment::create(&dir, first_seq)?,
        };
        self.file = file;
        self.active = (first_seq, 0);
        self.core.state().segment_started(first_seq);
        let passed = self.core.release_passed_segments();
        let Some(preparer) = &self.preparer else {
            super::remove_segments(passed);
            if let Err(err) = self.dedupe.sync() {
                tracing::warn!(error = %err, "webhook queue: could not fsync the dedupe file");
            }
            return Ok(());
        };
        if !passed.is_empty() {
            preparer.ask(Chore::Remove(passed));
        }
        let sync_first = self
            .dedupe
            .handle_for_sync()
            .map_err(|err| tracing::warn!(error = %err, "webhook queue: could not fsync the dedupe file"))
            .ok();
        preparer.ask(Chore::Spare { sync_first });
        Ok(())
    }
}

type Reply = (
    oneshot::Sender<Result<Accepted, QueueError>>,
    Pending,
    BodyDigest,
    i64,
);

/// Answers every caller of the batch: with `error` for those whose record was not written.
fn answer(replies: Vec<Reply>, error: Option<&QueueError>) {
    for (reply, pending, _, _) in replies {
        let outcome = match (pending, error) {
            (Pending::Answered(accepted), _) => Ok(accepted),
            (Pending::Queued(_) | Pending::DuplicateInBatch(_), Some(error)) => Err(copy(error)),
            (Pending::Queued(seq), None) => Ok(Accepted::Queued { seq }),
            (Pending::DuplicateInBatch(seq), None) => Ok(Accepted::Duplicate { seq }),
        };
        // A caller that gave up (its request was cancelled) needs no answer.
        let _ = reply.send(outcome);
    }
}

fn copy(error: &QueueError) -> QueueError {
    match error {
        QueueError::Io { path, source } => QueueError::Io {
            path: path.clone(),
            source: io::Error::new(source.kind(), source.to_string()),
        },
        _ => QueueError::Closed,
    }
}
