//! tokentop's own logs: `tracing` to stderr for headless commands and to daily files in
//! `<data dir>/logs/` always. `RUST_LOG` filters both.
//!
//! Stderr gets ANSI colour only on a terminal and never with `NO_COLOR`; a file or journald
//! gets plain text, or one JSON object per line with `--log-format json`. The file, and the
//! daemon's stderr, are written by tracing-appender's writer threads through a buffer that
//! each drained batch flushes: a busy proxy's access line per request costs a copy, not a
//! `write` on the request's thread (a third of the proxy's CPU per request, issue 21). While
//! lines keep coming, a writer lingers before each batch so that many go in one `write`
//! (`linger.rs`).

pub mod access;
mod daily_file;
mod linger;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use std::io::BufWriter;

use tracing_appender::non_blocking::{NonBlocking, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::writer::{BoxMakeWriter, MakeWriterExt};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

pub use daily_file::DailyFile;
use linger::Lingering;

use crate::config::EnvSnapshot;

/// Lines waiting for the log file's writer thread, past which new ones are dropped (as
/// before, only the bound is lower). The channel allocates all its slots up front, 32 bytes
/// each: tracing-appender's default of 128,000 kept 4 MB resident for the whole run (issue
/// 21), where 1,000 accounts starting log about 2,000 lines, written as they come.
const FILE_BUFFERED_LINES: usize = 16_384;

/// Where log lines go besides the daily file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Console {
    /// Headless commands: stderr too, at INFO when verbose, else WARN, unless `RUST_LOG`
    /// says otherwise.
    Stderr { verbose: bool },
    /// The dashboard owns the screen: file only.
    None,
}

/// How tokentop's own lines are written to stderr (`--log-format`; not the `[[log]]` `format`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ConsoleFormat {
    /// Human-readable lines (coloured on a terminal).
    #[default]
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// The directory of tokentop's own log files.
pub fn log_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("logs")
}

/// The file today's lines go to (for the help overlay).
pub fn current_log_file(data_dir: &Path) -> PathBuf {
    let today = chrono::Utc::now().format("%Y-%m-%d");
    log_dir(data_dir).join(format!("{}{today}", daily_file::FILE_PREFIX))
}

/// Whether stderr lines get ANSI colour: only on a terminal, and never with `NO_COLOR`.
pub fn stderr_colour(stderr_is_terminal: bool, env: &EnvSnapshot) -> bool {
    stderr_is_terminal && env.get("NO_COLOR").is_none()
}

/// Keep it alive until exit: dropping it writes the lines still pending.
pub struct LogGuard {
    _workers: Vec<WorkerGuard>,
}

/// Installs the global subscriber in text format, stderr lines written as they come.
pub fn init(data_dir: &Path, console: Console) -> LogGuard {
    install(data_dir, console, ConsoleFormat::Text, false)
}

/// The daemon's: as [`init`], in `format`, with stderr lines written in batches too (a
/// service's stderr goes to journald or a file; the proxy logs a line per request there).
pub fn init_with(data_dir: &Path, console: Console, format: ConsoleFormat) -> LogGuard {
    install(data_dir, console, format, true)
}

/// Stderr, from a writer thread or as each line comes. From the thread, no line is dropped: a
/// full buffer makes the logging thread wait (journald or a file behind stderr is the record).
/// The thread's writer is also returned, for the access lines written by hand.
fn stderr_writer(
    batch: bool,
    workers: &mut Vec<WorkerGuard>,
) -> (BoxMakeWriter, Option<NonBlocking>) {
    if !batch {
        return (BoxMakeWriter::new(std::io::stderr), None);
    }
    let (writer, guard) = NonBlockingBuilder::default()
        .buffered_lines_limit(FILE_BUFFERED_LINES)
        .lossy(false)
        .thread_name("tokentop-stderr")
        .finish(Lingering::new(BufWriter::with_capacity(
            linger::BUFFER_BYTES,
            std::io::stderr(),
        )));
    workers.push(guard);
    (BoxMakeWriter::new(writer.clone()), Some(writer))
}

/// Installs the global subscriber. When the log file cannot be used, logs to stderr only and
/// says why.
fn install(
    data_dir: &Path,
    console: Console,
    format: ConsoleFormat,
    batch_stderr: bool,
) -> LogGuard {
    let filter = || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let stderr_level = match console {
        Console::Stderr { verbose: true } => tracing::Level::INFO,
        _ => tracing::Level::WARN,
    };
    let dir = log_dir(data_dir);
    let mut workers = Vec::new();
    let file = crate::engine::fs::private_fs::create_private_dir_all(&dir)
        .and_then(|()| DailyFile::open(&dir));
    let mut file_sink = None;
    let (file_layer, file_error) = match file {
        Ok(daily) => {
            // The worker flushes the buffer after each batch it drains.
            let (writer, guard) = NonBlockingBuilder::default()
                .buffered_lines_limit(FILE_BUFFERED_LINES)
                .thread_name("tokentop-log")
                .finish(Lingering::new(BufWriter::with_capacity(
                    linger::BUFFER_BYTES,
                    daily,
                )));
            workers.push(guard);
            file_sink = Some(writer.clone());
            let layer = tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(writer);
            (Some(layer), None)
        }
        Err(err) => (None, Some(err)),
    };
    let stderr = matches!(console, Console::Stderr { .. });
    let mut stderr_sink = None;
    let mut stderr_out = || {
        let (writer, sink) = stderr_writer(batch_stderr, &mut workers);
        stderr_sink = sink;
        writer
    };
    let colour = stderr_colour(
        std::io::stderr().is_terminal(),
        &EnvSnapshot::from_process(),
    );
    let text_layer = (stderr && format == ConsoleFormat::Text).then(|| {
        tracing_subscriber::fmt::layer()
            .with_target(false)
            .with_ansi(colour)
            .with_writer(stderr_out().with_max_level(stderr_level))
    });
    let json_layer = (stderr && format == ConsoleFormat::Json).then(|| {
        tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_target(false)
            .with_ansi(false)
            .with_writer(stderr_out().with_max_level(stderr_level))
    });
    // The access lines are written by hand only where every layer's line is reproduced:
    // the file, and stderr when absent, below INFO, or plain text without colour.
    let stderr_reproduced = match stderr_sink {
        _ if !stderr || stderr_level < tracing::Level::INFO => Some(None),
        Some(sink) if format == ConsoleFormat::Text && !colour => Some(Some(sink)),
        _ => None,
    };
    // A second init in one process (tests) is harmless: the first subscriber stays.
    let installed = tracing_subscriber::registry()
        .with(filter())
        .with(file_layer)
        .with(text_layer)
        .with(json_layer)
        .try_init();
    if let (Ok(()), Some(stderr_sink)) = (installed, stderr_reproduced) {
        access::register(file_sink, stderr_sink);
    }
    if let Some(err) = file_error {
        tracing::warn!("not writing log files in {}: {err}", dir.display());
    }
    LogGuard { _workers: workers }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        let empty = EnvSnapshot::default();
        let no_color = EnvSnapshot::from_pairs([("NO_COLOR", "1")]);
        assert!(stderr_colour(true, &empty));
        assert!(!stderr_colour(false, &empty));
        assert!(!stderr_colour(true, &no_color));
        // An empty NO_COLOR does not count (no-color.org).
        assert!(stderr_colour(
            true,
            &EnvSnapshot::from_pairs([("NO_COLOR", "")])
        ));
    }
}
