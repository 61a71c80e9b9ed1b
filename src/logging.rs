//! tokentop's own logs: `tracing` to stderr for headless commands and to daily rolling files
//! in `<data dir>/logs/` always. `RUST_LOG` filters both.

use std::path::{Path, PathBuf};

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::writer::MakeWriterExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Where log lines go besides the rolling file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Console {
    /// Headless commands: stderr too, at `stderr_level` unless `RUST_LOG` says otherwise.
    Stderr { verbose: bool },
    /// The dashboard owns the screen: file only.
    None,
}

/// The directory of tokentop's own log files.
pub fn log_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("logs")
}

/// The file today's lines go to (for the help overlay).
pub fn current_log_file(data_dir: &Path) -> PathBuf {
    let today = chrono::Utc::now().format("%Y-%m-%d");
    log_dir(data_dir).join(format!("tokentop.log.{today}"))
}

/// Installs the global subscriber. Keep the guard alive until exit so lines are flushed.
/// Returns `None` (logging to stderr only) when the log dir cannot be created.
pub fn init(data_dir: &Path, console: Console) -> Option<WorkerGuard> {
    let filter = || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let stderr_level = match console {
        Console::Stderr { verbose: true } => tracing::Level::INFO,
        _ => tracing::Level::WARN,
    };
    let file = crate::engine::private_fs::create_private_dir_all(&log_dir(data_dir))
        .ok()
        .and_then(|()| {
            tracing_appender::rolling::Builder::new()
                .rotation(tracing_appender::rolling::Rotation::DAILY)
                .filename_prefix("tokentop.log")
                .max_log_files(14)
                .build(log_dir(data_dir))
                .ok()
        });
    let (file_layer, guard) = match file {
        Some(appender) => {
            let (writer, guard) = tracing_appender::non_blocking(appender);
            let layer = tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(writer);
            (Some(layer), Some(guard))
        }
        None => (None, None),
    };
    let stderr_layer = matches!(console, Console::Stderr { .. }).then(|| {
        tracing_subscriber::fmt::layer()
            .with_target(false)
            .with_writer(std::io::stderr.with_max_level(stderr_level))
    });
    // A second init in one process (tests) is harmless: the first subscriber stays.
    let _ = tracing_subscriber::registry()
        .with(filter())
        .with(file_layer)
        .with(stderr_layer)
        .try_init();
    guard
}
