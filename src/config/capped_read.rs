//! Reading a file from outside (the config, a secret `file =`) with its kind and size checked
//! first, so a FIFO cannot hang tokentop and /dev/zero cannot fill its memory.

use std::io::Read;
use std::path::Path;

/// Largest config file read: 10,000 accounts take about 3 MB.
pub(crate) const MAX_CONFIG_BYTES: u64 = 16 * 1024 * 1024;
/// Largest account file read (`[accounts] dir`): one account takes a few hundred bytes.
pub(crate) const MAX_ACCOUNT_FILE_BYTES: u64 = 64 * 1024;
/// Largest secret file read: a token or app secret is a few hundred bytes.
pub(crate) const MAX_SECRET_FILE_BYTES: u64 = 64 * 1024;

/// Why a file could not be read. The messages name the path's kind or size, never content.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CappedReadError {
    #[error("file not found")]
    NotFound,
    #[error("it is {0}, not a regular file")]
    NotRegular(&'static str),
    #[error("it is larger than {0} bytes")]
    TooLarge(u64),
    #[error("it is not UTF-8 text")]
    NotText,
    #[error("cannot read it: {0}")]
    Io(std::io::Error),
}

/// The text of the regular file at `path` (symlinks followed), at most `max_bytes` long.
pub(crate) fn read_capped(path: &Path, max_bytes: u64) -> Result<String, CappedReadError> {
    let metadata = std::fs::metadata(path).map_err(io_error)?;
    if !metadata.is_file() {
        return Err(CappedReadError::NotRegular(kind_of(&metadata)));
    }
    if metadata.len() > max_bytes {
        return Err(CappedReadError::TooLarge(max_bytes));
    }
    let file = std::fs::File::open(path).map_err(io_error)?;
    // The file may grow between the check and the read: the read is capped too.
    let mut bytes = Vec::new();
    file.take(max_bytes + 1)
        .read_to_end(&mut bytes)
        .map_err(io_error)?;
    if bytes.len() as u64 > max_bytes {
        return Err(CappedReadError::TooLarge(max_bytes));
    }
    String::from_utf8(bytes).map_err(|_| CappedReadError::NotText)
}

fn io_error(err: std::io::Error) -> CappedReadError {
    if err.kind() == std::io::ErrorKind::NotFound {
        CappedReadError::NotFound
    } else {
        CappedReadError::Io(err)
    }
}

/// What a file that is not a regular one is, in words.
pub(crate) fn kind_of(metadata: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let kind = metadata.file_type();
    if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO (named pipe)"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regular_files_within_the_cap_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, "hello").unwrap();
        assert_eq!(read_capped(&path, 5).unwrap(), "hello");
        assert!(matches!(
            read_capped(&path, 4),
            Err(CappedReadError::TooLarge(4))
        ));
    }

    #[test]
    fn devices_fifos_and_directories_are_refused_without_reading() {
        let err = read_capped(Path::new("/dev/zero"), 10).unwrap_err();
        assert_eq!(
            err.to_string(),
            "it is a character device, not a regular file"
        );
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        // Opening a FIFO with no writer would block forever: it must be refused first.
        let err = read_capped(&fifo, 10).unwrap_err();
        assert_eq!(
            err.to_string(),
            "it is a FIFO (named pipe), not a regular file"
        );
        let err = read_capped(dir.path(), 10).unwrap_err();
        assert!(matches!(err, CappedReadError::NotRegular("a directory")));
        assert!(matches!(
            read_capped(&dir.path().join("missing"), 10),
            Err(CappedReadError::NotFound)
        ));
    }
}
