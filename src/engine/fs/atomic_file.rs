//! Crash-safe file replacement: temp file in the same dir, fsync, rename, fsync the dir.
//!
//! A crash at any instant leaves either the old content or the new one, never a torn file.
//! The rename replaces the directory entry itself: a symlink planted at a data-dir path is
//! replaced, never followed. A file the operator configured (the env-file) is instead written
//! through its symlink and keeps its owner, group and mode ([`write_through`]).

use std::fs::{self, File, Metadata, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::engine::fs::private_fs::create_private_dir_all;

/// Replaces `path` with `contents`, mode 0600 on unix, creating its directory (0700) first.
pub fn write_atomic(path: &Path, contents: &[u8]) -> io::Result<()> {
    create_private_dir_all(dir_of(path))?;
    replace(path, contents, None, None)
}

/// Replaces the file at `path`, an operator's file: a symlink is written through (the link
/// stays, its target gets the content), an existing file keeps its owner, group and mode, and
/// a new file is 0600. The directory must already exist: it is never created.
pub fn write_through(path: &Path, contents: &[u8]) -> io::Result<()> {
    write_through_to_target(path, contents, None)
}

/// [`write_through`] with the mode set to `mode` on every write (also over an existing file
/// with another mode); an existing file keeps its owner and group. The mode is set on the
/// temp file before the content is written, so the content is never readable by more than
/// `mode` allows.
pub fn write_through_with_mode(path: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    write_through_to_target(path, contents, Some(mode))
}

fn write_through_to_target(path: &Path, contents: &[u8], mode: Option<u32>) -> io::Result<()> {
    let target = resolve_target(path)?;
    let keep = match fs::metadata(&target) {
        // Renaming over a device, FIFO or socket would replace it with a file holding the
        // token (as root, `/dev/null` itself): only a regular file is ever replaced.
        Ok(metadata) if !metadata.is_file() => {
            return Err(not_a_regular_file(path, &target, &metadata));
        }
        Ok(metadata) => Some(metadata),
        Err(err) if err.kind() == io::ErrorKind::NotFound => None,
        Err(err) => return Err(err),
    };
    replace(&target, contents, keep.as_ref(), mode)
}

/// The file a write to `path` must replace: `path` itself, or the final target of a symlink.
fn resolve_target(path: &Path) -> io::Result<PathBuf> {
    match fs::symlink_metadata(path) {
        Ok(metadata) if metadata.file_type().is_symlink() => {
            fs::canonicalize(path).map_err(|err| {
                if err.kind() != io::ErrorKind::NotFound {
                    return err;
                }
                let target = fs::read_link(path).unwrap_or_default();
                io::Error::new(
                    io::ErrorKind::NotFound,
                    format!(
                        "{} is a symlink to {}, which does not exist; create the target or \
                         point the setting at a regular file",
                        path.display(),
                        target.display()
                    ),
                )
            })
        }
        Ok(_) => Ok(path.to_path_buf()),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(path.to_path_buf()),
        Err(err) => Err(err),
    }
}

/// The error for a target that exists and is something else than a regular file.
pub fn not_a_regular_file(path: &Path, target: &Path, metadata: &Metadata) -> io::Error {
    let shown = if path == target {
        path.display().to_string()
    } else {
        format!(
            "{} (through a symlink: {})",
            path.display(),
            target.display()
        )
    };
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "{shown} is {}, not a regular file; tokentop only replaces regular files: point the setting at a file path",
            crate::config::capped_read::kind_of(metadata)
        ),
    )
}

fn dir_of(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// Writes a temp file next to `path` (owner and mode of `keep` when given, then `mode` when
/// given), then renames it.
fn replace(
    path: &Path,
    contents: &[u8],
    keep: Option<&Metadata>,
    mode: Option<u32>,
) -> io::Result<()> {
    let dir = dir_of(path);
    let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let temp_path = dir.join(format!(
        ".{file_name}.tmp.{}.{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    let result = write_then_rename(&temp_path, path, contents, keep, mode);
    if result.is_err() {
        // Best effort: a leftover temp file holds at most a copy of the new content.
        let _ = fs::remove_file(&temp_path);
    }
    result?;
    sync_dir(dir)
}

fn write_then_rename(
    temp_path: &Path,
    path: &Path,
    contents: &[u8],
    keep: Option<&Metadata>,
    mode: Option<u32>,
) -> io::Result<()> {
    let mut file = create_private(temp_path)?;
    if let Some(metadata) = keep {
        copy_owner_and_mode(&file, metadata, path)?;
    }
    if let Some(mode) = mode {
        set_mode(&file, mode)?;
    }
    file.write_all(contents)?;
    file.sync_all()?;
    drop(file);
    fs::rename(temp_path, path)
}

/// Gives the temp file the replaced file's owner, group and mode, so whoever could read the
/// old file (an application's group, say) can read the new one.
#[cfg(unix)]
fn copy_owner_and_mode(file: &File, keep: &Metadata, path: &Path) -> io::Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let current = file.metadata()?;
    if (current.uid(), current.gid()) != (keep.uid(), keep.gid()) {
        std::os::unix::fs::fchown(file, Some(keep.uid()), Some(keep.gid())).map_err(|err| {
            io::Error::new(
                err.kind(),
                format!(
                    "cannot keep owner {}:{} of {} on its replacement ({err}); run tokentop \
                     as that user or a member of its group, or publish with on-refresh",
                    keep.uid(),
                    keep.gid(),
                    path.display()
                ),
            )
        })?;
    }
    // After the chown, which may clear set-id bits.
    file.set_permissions(fs::Permissions::from_mode(keep.mode() & 0o7777))
}

#[cfg(not(unix))]
fn copy_owner_and_mode(file: &File, keep: &Metadata, _path: &Path) -> io::Result<()> {
    file.set_permissions(keep.permissions())
}

/// Sets exactly `mode` (fchmod: the umask does not apply).
#[cfg(unix)]
fn set_mode(file: &File, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(fs::Permissions::from_mode(mode & 0o7777))
}

#[cfg(not(unix))]
fn set_mode(_file: &File, _mode: u32) -> io::Result<()> {
    Ok(())
}

/// Creates a new file (never an existing one or a planted link) readable and writable by its
/// owner only.
pub fn create_private(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_content_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token.json");
        write_atomic(&path, b"old").unwrap();
        write_atomic(&path, b"new").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("t");
        write_atomic(&path, b"x").unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    /// A symlink planted at a data-dir path is replaced by the rename, not followed.
    #[cfg(unix)]
    #[test]
    fn write_atomic_replaces_a_planted_symlink_and_leaves_its_target_alone() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("elsewhere");
        fs::write(&target, "untouched").unwrap();
        let path = dir.path().join("tokens").join("a.json");
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(&target, &path).unwrap();
        write_atomic(&path, b"new").unwrap();
        assert!(
            !fs::symlink_metadata(&path)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(fs::read(&path).unwrap(), b"new");
        assert_eq!(fs::read_to_string(&target).unwrap(), "untouched");
    }
}
