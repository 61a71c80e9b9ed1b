//! tokentop's own daily log files, created and opened without following a planted symlink.
//!
//! Another local user who can write to the logs dir could otherwise point
//! `tokentop.log.<date>` at a file of ours and have log lines appended to it. Files are opened
//! with `O_NOFOLLOW` (and `O_NONBLOCK`, so a planted FIFO cannot stall the writer thread),
//! must be regular files, and are created with mode 0600.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Name of a day's file: `tokentop.log.2026-05-01`, the same as `tracing-appender` used.
pub(crate) const FILE_PREFIX: &str = "tokentop.log.";
/// Daily files kept; older ones are deleted when a new day starts.
pub(crate) const MAX_LOG_FILES: usize = 14;

/// A writer that appends to today's file (UTC days), switching at midnight.
#[derive(Debug)]
pub struct DailyFile {
    dir: PathBuf,
    /// The day the open file belongs to, and the file.
    current: Option<(String, File)>,
}

impl DailyFile {
    /// Checks that `dir` is a real directory (not a symlink) and opens today's file.
    pub fn open(dir: &Path) -> io::Result<Self> {
        let meta = std::fs::symlink_metadata(dir)?;
        if !meta.is_dir() {
            return Err(io::Error::other(format!(
                "{} is not a directory (a symlink is not followed); tokentop's log dir must \
                 be a real directory",
                dir.display()
            )));
        }
        let mut writer = Self {
            dir: dir.to_path_buf(),
            current: None,
        };
        writer.today()?;
        Ok(writer)
    }

    /// Today's file, opened (and old files pruned) when the day changed.
    fn today(&mut self) -> io::Result<&mut File> {
        let day = chrono::Utc::now().format("%Y-%m-%d").to_string();
        let stale = self.current.as_ref().is_none_or(|(open, _)| *open != day);
        if stale {
            self.current = None;
            let file = open_no_follow(&self.dir.join(format!("{FILE_PREFIX}{day}")))?;
            self.current = Some((day, file));
            prune(&self.dir, MAX_LOG_FILES);
        }
        match self.current.as_mut() {
            Some((_, file)) => Ok(file),
            // Set just above; kept as an error rather than a panic.
            None => Err(io::Error::other("log file not open")),
        }
    }
}

impl Write for DailyFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.today()?.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.current.as_mut() {
            Some((_, file)) => file.flush(),
            None => Ok(()),
        }
    }
}

/// Opens `path` for appending, creating it 0600; refuses a symlink or a non-regular file.
pub(crate) fn open_no_follow(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    let file = options.open(path).map_err(|e| refusal(path, e))?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::other(format!(
            "{} is not a regular file; tokentop writes its log only to a regular file",
            path.display()
        )));
    }
    Ok(file)
}

/// Says why the open failed when something other than a regular file sits at the path
/// (`O_NOFOLLOW` gives `ELOOP` for a symlink, `O_NONBLOCK` gives `ENXIO` for a FIFO).
fn refusal(path: &Path, error: io::Error) -> io::Error {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => io::Error::other(format!(
            "{} is a symlink; tokentop does not follow it (remove it to let logging resume)",
            path.display()
        )),
        Ok(meta) if !meta.is_file() => io::Error::other(format!(
            "{} is not a regular file; tokentop writes its log only to a regular file",
            path.display()
        )),
        _ => error,
    }
}

/// Deletes all but the newest `keep` daily files (a symlink entry is removed, not followed).
fn prune(dir: &Path, keep: usize) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut days: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| {
            name.strip_prefix(FILE_PREFIX)
                .is_some_and(|day| chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").is_ok())
        })
        .collect();
    days.sort_unstable();
    let excess = days.len().saturating_sub(keep);
    for name in &days[..excess] {
        let _ = std::fs::remove_file(dir.join(name));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_symlink_planted_at_todays_file_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "precious\n").unwrap();
        let logs = dir.path().join("logs");
        std::fs::create_dir(&logs).unwrap();
        let today = chrono::Utc::now().format("%Y-%m-%d");
        std::os::unix::fs::symlink(&victim, logs.join(format!("{FILE_PREFIX}{today}"))).unwrap();
        let err = DailyFile::open(&logs).unwrap_err().to_string();
        assert!(err.contains("is a symlink"), "{err}");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    }

    #[test]
    fn a_fifo_planted_at_todays_file_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let today = chrono::Utc::now().format("%Y-%m-%d");
        let fifo = dir.path().join(format!("{FILE_PREFIX}{today}"));
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let err = DailyFile::open(dir.path()).unwrap_err().to_string();
        assert!(err.contains("not a regular file"), "{err}");
    }

    #[test]
    fn a_symlinked_logs_dir_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = dir.path().join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        let logs = dir.path().join("logs");
        std::os::unix::fs::symlink(&elsewhere, &logs).unwrap();
        let err = DailyFile::open(&logs).unwrap_err().to_string();
        assert!(err.contains("not a directory"), "{err}");
        assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);
    }

    #[test]
    fn writes_go_to_todays_file_created_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let mut writer = DailyFile::open(dir.path()).unwrap();
        writer.write_all(b"hello\n").unwrap();
        writer.flush().unwrap();
        let today = chrono::Utc::now().format("%Y-%m-%d");
        let path = dir.path().join(format!("{FILE_PREFIX}{today}"));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "hello\n");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{mode:o}");
    }

    #[test]
    fn prune_keeps_the_newest_days_and_leaves_other_files() {
        let dir = tempfile::tempdir().unwrap();
        for day in 1..=5 {
            std::fs::write(dir.path().join(format!("{FILE_PREFIX}2026-01-0{day}")), "").unwrap();
        }
        std::fs::write(dir.path().join("notes.txt"), "").unwrap();
        prune(dir.path(), 2);
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                "notes.txt",
                "tokentop.log.2026-01-04",
                "tokentop.log.2026-01-05"
            ]
        );
    }
}
