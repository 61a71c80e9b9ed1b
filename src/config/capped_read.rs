//! Reading a file from outside (the config, a secret `file =`, an account file) with its kind
//! and size checked first, so a FIFO cannot hang tokentop and /dev/zero cannot fill its memory.

use std::io::Read;
use std::path::Path;

/// Largest config file read: 10,000 accounts take about 3 MB.
pub(crate) const MAX_CONFIG_BYTES: u64 = 16 * 1024 * 1024;
/// Largest account file read (`[accounts] dir`): one account takes a few hundred bytes.
pub(crate) const MAX_ACCOUNT_FILE_BYTES: u64 = 64 * 1024;
/// Largest secret file read: a token or app secret is a few hundred bytes.
pub(crate) const MAX_SECRET_FILE_BYTES: u64 = 64 * 1024;

/// The first buffer for a file whose size says nothing (0 for `/proc` files).
const MIN_BUFFER_BYTES: usize = 256;

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
    check_kind_and_size(&metadata, max_bytes)?;
    let file = std::fs::File::open(path).map_err(io_error)?;
    read_sized(file, metadata.len(), max_bytes)
}

/// A file read by [`read_capped_file`]: its text and the metadata of the file read (its
/// mode is what the plain-secret check judges).
#[derive(Debug)]
pub(crate) struct CappedFile {
    pub text: String,
    pub metadata: std::fs::Metadata,
}

/// [`read_capped`] for many small files (`[accounts] dir`), in the fewest system calls: a
/// file its directory listed as regular (`listed_regular`, from the entry's type, which costs
/// nothing) is opened at once without following a symlink, its kind, size and mode come from
/// one `fstat` of the open file, and it is read into a buffer of its size: open, fstat, two
/// reads (the second sees the end), close. Anything else (a symlink, a type the listing did
/// not give) is checked by path first as [`read_capped`] does, so a device or FIFO behind a
/// symlink is never opened. Same errors as [`read_capped`].
pub(crate) fn read_capped_file(
    path: &Path,
    listed_regular: bool,
    max_bytes: u64,
) -> Result<CappedFile, CappedReadError> {
    if listed_regular {
        match open_listed_regular(path) {
            Ok(file) => {
                let metadata = file.metadata().map_err(io_error)?;
                // It may have been replaced since the listing: judged again on the open file.
                check_kind_and_size(&metadata, max_bytes)?;
                let text = read_sized(file, metadata.len(), max_bytes)?;
                return Ok(CappedFile { text, metadata });
            }
            // Replaced by a symlink since the listing: read as one below.
            Err(err) if err.raw_os_error() == Some(libc::ELOOP) => {}
            Err(err) => return Err(io_error(err)),
        }
    }
    let metadata = std::fs::metadata(path).map_err(io_error)?;
    check_kind_and_size(&metadata, max_bytes)?;
    let file = std::fs::File::open(path).map_err(io_error)?;
    let text = read_sized(file, metadata.len(), max_bytes)?;
    Ok(CappedFile { text, metadata })
}

/// Opens a file the listing called regular: never through a symlink (`ELOOP` then), and
/// without blocking should a FIFO have taken its place since (its kind is checked next).
fn open_listed_regular(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
}

/// Refuses what is not a regular file, or is larger than `max_bytes`, before it is read.
fn check_kind_and_size(
    metadata: &std::fs::Metadata,
    max_bytes: u64,
) -> Result<(), CappedReadError> {
    if !metadata.is_file() {
        return Err(CappedReadError::NotRegular(kind_of(metadata)));
    }
    if metadata.len() > max_bytes {
        return Err(CappedReadError::TooLarge(max_bytes));
    }
    Ok(())
}

/// Reads `file`, `len_bytes` long when it was checked, into a buffer of that size plus one
/// byte (a `/proc` file says 0: at least [`MIN_BUFFER_BYTES`]), so the read that finds the end
/// is the second; a file that has grown meanwhile is read on, and refused once it passes
/// `max_bytes`.
fn read_sized(
    mut file: std::fs::File,
    len_bytes: u64,
    max_bytes: u64,
) -> Result<String, CappedReadError> {
    let most = usize::try_from(max_bytes.saturating_add(1)).unwrap_or(usize::MAX);
    let first = usize::try_from(len_bytes.saturating_add(1))
        .unwrap_or(most)
        .max(MIN_BUFFER_BYTES)
        .min(most);
    let mut bytes = vec![0u8; first];
    let mut filled = 0;
    loop {
        if filled == bytes.len() {
            if bytes.len() >= most {
                return Err(CappedReadError::TooLarge(max_bytes));
            }
            bytes.resize(bytes.len().saturating_mul(2).min(most), 0);
        }
        match file.read(&mut bytes[filled..]) {
            Ok(0) => break,
            Ok(read) => filled += read,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(err) => return Err(io_error(err)),
        }
    }
    bytes.truncate(filled);
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

    fn mkfifo(path: &Path) {
        let made = std::process::Command::new("mkfifo")
            .arg(path)
            .status()
            .unwrap();
        assert!(made.success());
    }

    #[test]
    fn a_listed_file_is_read_with_the_mode_of_the_file_read() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shop.toml");
        std::fs::write(&path, "name = \"shop\"\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        for listed_regular in [true, false] {
            let file = read_capped_file(&path, listed_regular, 64).unwrap();
            assert_eq!(file.text, "name = \"shop\"\n");
            assert_eq!(file.metadata.permissions().mode() & 0o777, 0o640);
        }
        let empty = dir.path().join("empty.toml");
        std::fs::write(&empty, "").unwrap();
        assert_eq!(read_capped_file(&empty, true, 64).unwrap().text, "");
    }

    #[test]
    fn a_listed_file_over_the_cap_or_not_text_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.toml");
        std::fs::write(&path, "x".repeat(65)).unwrap();
        let err = read_capped_file(&path, true, 64).unwrap_err();
        assert_eq!(err.to_string(), "it is larger than 64 bytes");
        std::fs::write(&path, "x".repeat(64)).unwrap();
        assert_eq!(read_capped_file(&path, true, 64).unwrap().text.len(), 64);
        std::fs::write(&path, [0xff, 0xfe]).unwrap();
        let err = read_capped_file(&path, true, 64).unwrap_err();
        assert_eq!(err.to_string(), "it is not UTF-8 text");
        let missing = dir.path().join("gone.toml");
        assert!(matches!(
            read_capped_file(&missing, true, 64),
            Err(CappedReadError::NotFound)
        ));
    }

    #[test]
    fn a_file_that_grew_after_its_size_was_taken_is_read_on_up_to_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("growing.toml");
        std::fs::write(&path, "x".repeat(1000)).unwrap();
        // As if fstat had said 10 bytes: the buffer grows, the cap still holds.
        let open = || std::fs::File::open(&path).unwrap();
        assert_eq!(read_sized(open(), 10, 1000).unwrap().len(), 1000);
        assert!(matches!(
            read_sized(open(), 10, 999),
            Err(CappedReadError::TooLarge(999))
        ));
    }

    #[test]
    fn proc_files_that_say_they_are_empty_are_read_whole() {
        let status = read_capped(Path::new("/proc/self/status"), 64 * 1024).unwrap();
        assert!(status.len() > MIN_BUFFER_BYTES, "{}", status.len());
        assert!(
            status.contains("VmRSS") || status.contains("Pid:"),
            "{status}"
        );
    }

    #[test]
    fn symlinks_are_followed_to_regular_files_only_and_never_open_a_fifo() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("real");
        std::fs::write(&target, "app-id = \"1\"\n").unwrap();
        let link = dir.path().join("shop.toml");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        // Listed as a symlink, or replaced by one after a listing said regular: followed, as
        // `read_capped` does (a Kubernetes ConfigMap mounts each file as a symlink).
        for listed_regular in [false, true] {
            let file = read_capped_file(&link, listed_regular, 64).unwrap();
            assert_eq!(file.text, "app-id = \"1\"\n");
        }
        let fifo = dir.path().join("fifo");
        mkfifo(&fifo);
        let to_fifo = dir.path().join("pipe.toml");
        std::os::unix::fs::symlink(&fifo, &to_fifo).unwrap();
        for listed_regular in [false, true] {
            let err = read_capped_file(&to_fifo, listed_regular, 64).unwrap_err();
            assert_eq!(
                err.to_string(),
                "it is a FIFO (named pipe), not a regular file"
            );
        }
        let to_device = dir.path().join("zero.toml");
        std::os::unix::fs::symlink("/dev/zero", &to_device).unwrap();
        let err = read_capped_file(&to_device, true, 64).unwrap_err();
        assert_eq!(
            err.to_string(),
            "it is a character device, not a regular file"
        );
    }

    #[test]
    fn a_fifo_in_place_of_a_listed_regular_file_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("shop.toml");
        mkfifo(&fifo);
        // No writer: a blocking open would hang here for ever.
        let err = read_capped_file(&fifo, true, 64).unwrap_err();
        assert_eq!(
            err.to_string(),
            "it is a FIFO (named pipe), not a regular file"
        );
        let err = read_capped_file(dir.path(), true, 64).unwrap_err();
        assert!(matches!(err, CappedReadError::NotRegular("a directory")));
    }
}
