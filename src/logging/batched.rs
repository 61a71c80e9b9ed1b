//! A log writer that collects lines and writes them in batches from its own thread, so that
//! a busy proxy's access line per request costs a copy, not a write syscall and a thread
//! wake-up each (they were a third of the proxy's CPU per request, issue 21).
//!
//! The first line into an empty buffer wakes the writer thread, which waits [`BATCH_WINDOW`]
//! for more and writes them all at once; an idle daemon wakes it only when it logs. No line is
//! dropped: past [`MAX_PENDING_BYTES`] the logging thread writes the batch itself. Lines keep
//! their order, and dropping the [`BatchGuard`] writes what is left before it returns.

use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

/// How long the writer thread collects lines after the first one: the most a line is late.
pub const BATCH_WINDOW: Duration = Duration::from_millis(10);

/// Past this many pending bytes the logging thread writes the batch itself (back-pressure
/// instead of unbounded memory or lost lines when the destination is slow).
pub const MAX_PENDING_BYTES: usize = 1024 * 1024;

struct Pending {
    bytes: Vec<u8>,
    closed: bool,
}

struct Shared<W> {
    /// Lines not yet written. Always locked after `out` when both are held, so that batches
    /// reach `out` in the order they were taken.
    pending: Mutex<Pending>,
    out: Mutex<W>,
    wake: Condvar,
}

/// Locks without caring about poison: both hold plain bytes and a writer.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<W: Write> Shared<W> {
    /// Writes everything pending now, in order with any batch written before.
    fn write_pending(&self) {
        let mut out = lock(&self.out);
        let batch = std::mem::take(&mut lock(&self.pending).bytes);
        if !batch.is_empty() {
            // A log line that cannot be written has nowhere better to go.
            let _ = out.write_all(&batch);
            let _ = out.flush();
        }
    }
}

/// The `MakeWriter` for a tracing layer; cheap to clone.
pub struct Batched<W> {
    shared: Arc<Shared<W>>,
}

impl<W> Clone for Batched<W> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }
}

/// Writes what is left and stops the writer thread when dropped.
pub struct BatchGuard {
    close: Box<dyn Fn() + Send + Sync>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for BatchGuard {
    fn drop(&mut self) {
        (self.close)();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A batched writer over `out`, with its writer thread named `thread_name`.
pub fn batched<W: Write + Send + 'static>(
    out: W,
    thread_name: &str,
) -> io::Result<(Batched<W>, BatchGuard)> {
    let shared = Arc::new(Shared {
        pending: Mutex::new(Pending {
            bytes: Vec::new(),
            closed: false,
        }),
        out: Mutex::new(out),
        wake: Condvar::new(),
    });
    let worker = shared.clone();
    let thread = std::thread::Builder::new()
        .name(thread_name.to_string())
        .spawn(move || run(&worker))?;
    let closing = shared.clone();
    let close = Box::new(move || {
        lock(&closing.pending).closed = true;
        closing.wake.notify_one();
    });
    let guard = BatchGuard {
        close,
        thread: Some(thread),
    };
    Ok((Batched { shared }, guard))
}

/// The writer thread: waits for a first line, lets more gather, writes them; until closed.
fn run<W: Write>(shared: &Shared<W>) {
    loop {
        let mut pending = lock(&shared.pending);
        while pending.bytes.is_empty() && !pending.closed {
            pending = shared
                .wake
                .wait(pending)
                .unwrap_or_else(PoisonError::into_inner);
        }
        let closed = pending.closed;
        drop(pending);
        if !closed {
            std::thread::sleep(BATCH_WINDOW);
        }
        shared.write_pending();
        if closed {
            return;
        }
    }
}

/// One event's writer: tracing formats a line and hands it over in one `write_all`.
pub struct LineWriter<'a, W> {
    shared: &'a Shared<W>,
}

impl<W: Write> Write for LineWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut pending = lock(&self.shared.pending);
        let was_empty = pending.bytes.is_empty();
        pending.bytes.extend_from_slice(buf);
        let full = pending.bytes.len() > MAX_PENDING_BYTES;
        drop(pending);
        if full {
            self.shared.write_pending();
        } else if was_empty {
            self.shared.wake.notify_one();
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a, W: Write + 'a> MakeWriter<'a> for Batched<W> {
    type Writer = LineWriter<'a, W>;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter {
            shared: &self.shared,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A destination the test can read while the writer holds it.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<Vec<u8>>>>);

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().push(buf.to_vec());
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_arrive_in_order_in_few_writes_and_all_by_the_guards_drop() {
        let sink = Sink::default();
        let (writer, guard) = batched(sink.clone(), "test-log").unwrap();
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let writer = writer.clone();
                std::thread::spawn(move || {
                    for i in 0..1000 {
                        writer
                            .make_writer()
                            .write_all(format!("{t} {i}\n").as_bytes())
                            .unwrap();
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        drop(guard);
        let writes = sink.0.lock().unwrap().clone();
        assert!(
            writes.len() < 4000,
            "{} writes for 4000 lines",
            writes.len()
        );
        let text = String::from_utf8(writes.concat()).unwrap();
        for t in 0..4 {
            let mine: Vec<usize> = text
                .lines()
                .filter_map(|l| l.strip_prefix(&format!("{t} ")))
                .map(|i| i.parse().unwrap())
                .collect();
            assert_eq!(mine, (0..1000).collect::<Vec<_>>(), "thread {t}");
        }
    }

    #[test]
    fn a_full_buffer_is_written_by_the_logging_thread_without_loss() {
        let sink = Sink::default();
        let (writer, guard) = batched(sink.clone(), "test-log").unwrap();
        let line = vec![b'x'; 4096];
        let lines = 2 * MAX_PENDING_BYTES / line.len();
        for _ in 0..lines {
            writer.make_writer().write_all(&line).unwrap();
        }
        // Written by this thread already: the buffer went over the limit.
        assert!(!sink.0.lock().unwrap().is_empty());
        drop(guard);
        let total: usize = sink.0.lock().unwrap().iter().map(Vec::len).sum();
        assert_eq!(total, lines * line.len());
    }
}
