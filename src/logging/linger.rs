//! A log writer thread that lingers while lines keep coming: tracing-appender's worker wakes
//! for a line, writes what has queued and flushes, so a busy proxy (an access line per
//! request) cost a wake-up, a `write` and the channel's spinning per line per destination. A
//! batch that starts soon after the last flush waits [`LINGER`] first, and the lines that
//! arrive meanwhile go in the same `write`; a line after a quiet spell is written at once.

use std::io::{self, Write};
use std::time::{Duration, Instant};

/// How long a batch in a busy spell waits for more lines.
pub const LINGER: Duration = Duration::from_millis(5);

/// A flush less than this long ago means lines are coming steadily.
pub const BUSY_WITHIN: Duration = Duration::from_millis(50);

/// Bytes buffered between flushes: a lingered batch of access lines (5 ms at 20,000 lines of
/// ~200 bytes a second) fits; a larger one is written in several pieces.
pub const BUFFER_BYTES: usize = 64 * 1024;

/// Wraps the writer the worker thread writes into (a `BufWriter`, flushed per batch).
pub struct Lingering<W: Write> {
    inner: W,
    last_flush: Option<Instant>,
    /// Something was written since the last flush: the batch has started.
    batch_open: bool,
    busy_within: Duration,
    /// `std::thread::sleep` but in tests.
    sleep: fn(Duration),
}

impl<W: Write> Lingering<W> {
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            last_flush: None,
            batch_open: false,
            busy_within: BUSY_WITHIN,
            sleep: std::thread::sleep,
        }
    }
}

impl<W: Write> Write for Lingering<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if !self.batch_open {
            self.batch_open = true;
            // Only the worker thread sleeps here; loggers meanwhile only queue their lines.
            if self
                .last_flush
                .is_some_and(|at| at.elapsed() < self.busy_within)
            {
                (self.sleep)(LINGER);
            }
        }
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.batch_open = false;
        self.last_flush = Some(Instant::now());
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts the flushes that reached the destination.
    #[derive(Default)]
    struct Sink {
        bytes: Vec<u8>,
        flushes: usize,
    }

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.bytes.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            self.flushes += 1;
            Ok(())
        }
    }

    thread_local! {
        static SLEPT: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    fn counted_sleep(_: Duration) {
        SLEPT.with(|slept| slept.set(slept.get() + 1));
    }

    #[test]
    fn a_batch_lingers_only_soon_after_the_last_flush_and_once() {
        let mut writer = Lingering {
            sleep: counted_sleep,
            // Any earlier flush counts as recent, however slow the machine.
            busy_within: Duration::from_secs(3600),
            ..Lingering::new(Sink::default())
        };
        // The first line ever: written at once.
        writer.write_all(b"first\n").unwrap();
        writer.flush().unwrap();
        assert_eq!(SLEPT.with(std::cell::Cell::get), 0);
        // A batch right after a flush waits once, before its first line.
        writer.write_all(b"second\n").unwrap();
        writer.write_all(b"third\n").unwrap();
        writer.flush().unwrap();
        assert_eq!(SLEPT.with(std::cell::Cell::get), 1);
        assert_eq!(writer.inner.bytes, b"first\nsecond\nthird\n");
        assert_eq!(writer.inner.flushes, 2);
        // After a quiet spell longer than the busy window: at once again.
        writer.busy_within = Duration::ZERO;
        writer.write_all(b"later\n").unwrap();
        writer.flush().unwrap();
        assert_eq!(SLEPT.with(std::cell::Cell::get), 1);
    }
}
