//! Where `tokentop accounts add|remove` and `tokentop onboard` write an account: a file of
//! `[accounts] dir` (0600, created at once under its final name or not at all; a running
//! process sees it by inotify), or an entry of `[accounts] source = "redis"` (announced to
//! every member in the same script).

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::cluster::account_entries::{AccountEntries, Added};
use crate::config::{Settings, redis_entry_place};

/// See the module docs.
pub(super) enum AccountStore {
    Dir(PathBuf),
    Redis(Box<AccountEntries>),
}

impl AccountStore {
    /// The store `[accounts]` names; `None` without one.
    pub(super) fn of(settings: &Settings) -> anyhow::Result<Option<Self>> {
        if let Some(dir) = &settings.account_files.dir {
            return Ok(Some(AccountStore::Dir(dir.clone())));
        }
        if settings.account_files.redis_key.is_some() {
            let entries = AccountEntries::new(&settings.cluster)?;
            return Ok(Some(AccountStore::Redis(Box::new(entries))));
        }
        Ok(None)
    }

    /// Where `name`'s new file or entry is: `<dir>/<name>.toml` or `redis:{key}/{name}`.
    pub(super) fn place(&self, name: &str) -> PathBuf {
        match self {
            AccountStore::Dir(dir) => path_in(dir, name),
            AccountStore::Redis(entries) => redis_entry_place(entries.key(), name),
        }
    }

    /// Where the account `name` is now: its file (whatever its file name) or entry.
    pub(super) fn place_of(&self, settings: &Settings, name: &str) -> PathBuf {
        match (self, settings.account_files.sources.get(name)) {
            (AccountStore::Dir(_), Some(file)) => file.clone(),
            _ => self.place(name),
        }
    }

    /// The directory relative paths in the text resolve against, as loading resolves them:
    /// the accounts directory, or for a Redis entry the config file's directory.
    pub(super) fn base_dir(&self, settings: &Settings) -> PathBuf {
        match self {
            AccountStore::Dir(dir) => dir.clone(),
            AccountStore::Redis(_) => settings
                .config_path
                .as_deref()
                .and_then(Path::parent)
                .map(Path::to_path_buf)
                .unwrap_or_default(),
        }
    }

    /// Writes `text` as `name`'s account; an existing one is replaced only with `replace`.
    pub(super) async fn write(
        &self,
        name: &str,
        text: &str,
        replace: bool,
    ) -> anyhow::Result<Added> {
        match self {
            AccountStore::Dir(dir) => write_file(dir, name, text, replace),
            AccountStore::Redis(entries) => entries
                .add(name, text, replace)
                .await
                .with_context(|| format!("cannot write {}", self.place(name).display())),
        }
    }

    /// Removes the account at `place` (from [`AccountStore::place_of`]); `false` when there
    /// was none.
    pub(super) async fn remove(&self, name: &str, place: &Path) -> anyhow::Result<bool> {
        match self {
            AccountStore::Dir(_) => match std::fs::remove_file(place) {
                Ok(()) => Ok(true),
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(false),
                Err(err) => Err(anyhow::anyhow!("cannot remove {}: {err}", place.display())),
            },
            AccountStore::Redis(entries) => entries
                .remove(name)
                .await
                .with_context(|| format!("cannot remove {}", place.display())),
        }
    }

    /// Whether `name`'s file or entry exists, valid or not.
    pub(super) async fn exists(&self, name: &str) -> anyhow::Result<bool> {
        match self {
            AccountStore::Dir(dir) => Ok(path_in(dir, name).exists()),
            AccountStore::Redis(entries) => entries
                .exists(name)
                .await
                .with_context(|| format!("cannot read {}", self.place(name).display())),
        }
    }

    /// The text of the Redis entry `name`; `None` without one (and for a directory, whose
    /// files are read where they are).
    pub(super) async fn read_entry(&self, name: &str) -> anyhow::Result<Option<String>> {
        match self {
            AccountStore::Dir(_) => Ok(None),
            AccountStore::Redis(entries) => entries
                .read(name)
                .await
                .with_context(|| format!("cannot read {}", self.place(name).display())),
        }
    }

    /// What a running process does with the change, for the command's last line.
    pub(super) fn pickup_note(&self) -> &'static str {
        match self {
            AccountStore::Dir(_) => {
                "a running daemon picks the file up by itself (or run `tokentop reload`); other hosts need the file too"
            }
            AccountStore::Redis(_) => {
                "every running daemon and dashboard on this Redis picks the change up at once"
            }
        }
    }
}

/// The path `name`'s file gets in `dir`.
pub(super) fn path_in(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.toml"))
}

/// Writes the file as a dotfile (which the accounts directory does not read), then links it
/// to its final name (the link fails if that name exists, so a file is never replaced
/// unasked) or, with `replace`, renames it over the old one: a reloading daemon never reads a
/// half-written file.
fn write_file(dir: &Path, name: &str, text: &str, replace: bool) -> anyhow::Result<Added> {
    let target = path_in(dir, name);
    let staging = dir.join(format!(".{name}.new-{}", std::process::id()));
    write_new(&staging, text)?;
    let existed = target.exists();
    let done = if replace {
        std::fs::rename(&staging, &target).map(|()| {
            if existed {
                Added::Replaced
            } else {
                Added::Created
            }
        })
    } else {
        match std::fs::hard_link(&staging, &target) {
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Ok(Added::Exists),
            other => other.map(|()| Added::Created),
        }
    };
    let _ = std::fs::remove_file(&staging);
    done.map_err(|err| anyhow::anyhow!("cannot create {}: {err}", target.display()))
}

fn write_new(path: &Path, text: &str) -> anyhow::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_private_and_replaced_only_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_in(dir.path(), "shop");
        let written = write_file(dir.path(), "shop", "app-id = \"1\"\n", false).unwrap();
        assert_eq!(written, Added::Created);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let again = write_file(dir.path(), "shop", "app-id = \"2\"\n", false).unwrap();
        assert_eq!(again, Added::Exists);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "app-id = \"1\"\n");
        let replaced = write_file(dir.path(), "shop", "app-id = \"3\"\n", true).unwrap();
        assert_eq!(replaced, Added::Replaced);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "app-id = \"3\"\n");
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "the staging file is removed");
    }
}
