//! Writing to stdout: a reader that went away (`| head`, `| true`) ends the output quietly.

use std::fmt::Display;
use std::io::{ErrorKind, Write};

/// stdout was closed by its reader. Commands stop printing; `main` exits without a message.
#[derive(Debug, thiserror::Error)]
#[error("stdout was closed by its reader")]
pub struct StdoutClosed;

/// Writes `text` and a newline to stdout. A closed stdout is [`StdoutClosed`], never a panic
/// (which is what `println!` does).
pub fn line(text: impl Display) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}") {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == ErrorKind::BrokenPipe => Err(StdoutClosed.into()),
        Err(err) => Err(anyhow::Error::new(err).context("cannot write to stdout")),
    }
}

/// Whether `err` is (caused by) a closed stdout.
pub fn is_closed(err: &anyhow::Error) -> bool {
    err.downcast_ref::<StdoutClosed>().is_some()
}

/// Writes `text` as it is (no newline added) to stdout and flushes it; a closed stdout is
/// [`StdoutClosed`], as in [`line`].
pub fn text(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == ErrorKind::BrokenPipe => Err(StdoutClosed.into()),
        Err(err) => Err(anyhow::Error::new(err).context("cannot write to stdout")),
    }
}
