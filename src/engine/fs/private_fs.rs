//! Files in the data dir: directories created 0700, and opens that refuse a planted symlink.
//!
//! tokentop often runs as a service user or root; a symlink planted at `history.jsonl` or a
//! lock file must not make it append to (or create) whatever file the link points at.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::Path;

/// Mode of every directory tokentop creates in the data dir: the owner only.
pub const PRIVATE_DIR_MODE: u32 = 0o700;

/// Creates `dir` and any missing parents with mode 0700. A directory that already exists keeps
/// the mode its owner gave it.
pub fn create_private_dir_all(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(PRIVATE_DIR_MODE);
    }
    builder.create(dir)
}

/// Opens `path` with `options`, refusing to follow a symlink at its last component.
///
/// The error for a symlink says so and names the path; the link's target is never touched.
pub fn open_no_follow(path: &Path, options: &mut OpenOptions) -> io::Result<File> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW);
    }
    options.open(path).map_err(|err| symlink_refused(path, err))
}

/// Opens an existing file for reading without following a symlink.
pub fn open_read_no_follow(path: &Path) -> io::Result<File> {
    open_no_follow(path, OpenOptions::new().read(true))
}

/// Reads a whole data-dir file without following a symlink, at most `max_bytes` of it (a
/// longer file is cut there, which its parser then reports as truncated).
pub fn read_capped_no_follow(path: &Path, max_bytes: u64) -> io::Result<String> {
    use std::io::Read;
    let mut text = String::new();
    open_read_no_follow(path)?
        .take(max_bytes)
        .read_to_string(&mut text)?;
    Ok(text)
}

/// With O_NOFOLLOW, a symlink at the path fails with ELOOP; say what happened instead.
fn symlink_refused(path: &Path, err: io::Error) -> io::Error {
    #[cfg(unix)]
    if err.raw_os_error() == Some(libc::ELOOP)
        && fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
    {
        return io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "refusing to follow a symlink at {} (tokentop only writes its own regular \
                 files in the data dir; remove the link)",
                path.display()
            ),
        );
    }
    err
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn created_dirs_are_private_including_parents() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("data").join("tokens");
        create_private_dir_all(&nested).unwrap();
        for path in [dir.path().join("data"), nested] {
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o700, "{}", path.display());
        }
    }

    #[test]
    fn a_symlink_is_refused_with_its_path_and_the_target_is_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("precious");
        fs::write(&target, "keep me\n").unwrap();
        let link = dir.path().join("history.jsonl");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let err = open_no_follow(&link, OpenOptions::new().append(true).create(true)).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("refusing to follow a symlink"), "{text}");
        assert!(text.contains(&link.display().to_string()), "{text}");
        assert_eq!(fs::read_to_string(&target).unwrap(), "keep me\n");
    }
}
