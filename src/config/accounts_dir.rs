//! `[accounts] dir`: one TOML file per account, beside or instead of `[[account]]` tables; a
//! file that fails validation is skipped and reported while the others run.
//!
//! A file holds the keys of one `[[account]]` table at its top level; without `name` the
//! account is named after the file (`shop.toml` is `shop`). Names are unique across the
//! directory and the config file's `[[account]]` tables, ignoring case: the second use (the
//! file read later, files in name order after the config file) is refused, naming both
//! places. Dotfiles and editor leftovers (`*~`, `*.swp`, `#…#`) are not read. The `[accounts]`
//! table itself is read in `accounts_table.rs`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::EnvSnapshot;
use super::account_text::{EntryName, NamesInUse, Place, check_text, place_issue, take_name};
use super::capped_read::{MAX_ACCOUNT_FILE_BYTES, read_capped_file};
use super::issues::{ConfigIssue, Invalid};
use super::reader::{Ctx, Item};
use super::settings::AccountSettings;

/// An account file that was not used, and why; its problems name the file and line. For an
/// entry of `[accounts] source = "redis"`, `path` is `redis:{key}/{field}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidAccountFile {
    pub path: PathBuf,
    pub issues: Vec<ConfigIssue>,
}

/// Where accounts came from besides `[[account]]`, and the files that were skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountFiles {
    /// `[accounts] dir`, resolved against the config file's directory.
    pub dir: Option<PathBuf>,
    /// `[accounts] source = "redis"`: the hash the entries are read from (`{prefix}accounts`).
    pub redis_key: Option<String>,
    /// Per account read from the directory: its file (by account name); from Redis:
    /// `redis:{key}/{field}`.
    pub sources: HashMap<String, PathBuf>,
    pub invalid: Vec<InvalidAccountFile>,
    /// Account files of the directory left unread: the dashboard's first frame reads only a
    /// screenful ([`super::load_first_files`]), then everything.
    pub unread: usize,
}

/// The accounts of `[accounts] dir` (`dir_item` is the key as written), appended to the
/// config file's `accounts`; a directory that cannot be read is a problem of the config file.
pub(crate) fn dir_accounts(
    ctx: &mut Ctx<'_>,
    (dir, dir_item): (PathBuf, &Item<'_>),
    names: &mut NamesInUse,
    accounts: &mut Vec<AccountSettings>,
) -> AccountFiles {
    match read_dir(&dir, ctx.env, names, ctx.read_at_most) {
        Ok((more, files)) => {
            accounts.extend(more);
            files
        }
        Err(problem) => {
            let shown = Some(ctx.shown(dir_item));
            let invalid = Invalid::new(problem, "an existing directory of account files");
            ctx.issue(&dir_item.span(), "accounts.dir".to_string(), shown, invalid);
            AccountFiles {
                dir: Some(dir),
                ..AccountFiles::default()
            }
        }
    }
}

/// The config file's `[[account]]` names, lower-cased, with their `file:line`.
pub(crate) fn names_in_file(
    file: &Path,
    accounts: &[AccountSettings],
    lines: &[usize],
) -> NamesInUse {
    let mut names = NamesInUse::new();
    for (index, account) in accounts.iter().enumerate() {
        let line = lines.get(index).copied().unwrap_or(1);
        names
            .entry(account.name.to_lowercase())
            .or_insert_with(|| format!("{}:{line}", file.display()));
    }
    names
}

/// Every account file of `dir` in name order (or the first `read_at_most`, the others
/// counted as unread): the valid ones' accounts, the others' problems. A directory that
/// cannot be read is one problem, of the config file's `[accounts] dir`.
pub(crate) fn read_dir(
    dir: &Path,
    env: &EnvSnapshot,
    names: &mut NamesInUse,
    read_at_most: Option<usize>,
) -> Result<(Vec<AccountSettings>, AccountFiles), String> {
    let entries = std::fs::read_dir(dir).map_err(|err| match err.kind() {
        std::io::ErrorKind::NotFound => format!("the directory {} does not exist", dir.display()),
        _ => format!("cannot read the directory {}: {err}", dir.display()),
    })?;
    // The entry's type comes with the listing: a regular file is then opened at once.
    let mut paths: Vec<(PathBuf, bool)> = entries
        .filter_map(Result::ok)
        .map(|entry| {
            let regular = entry.file_type().is_ok_and(|kind| kind.is_file());
            (entry.path(), regular)
        })
        .filter(|(path, _)| is_account_file(path))
        .collect();
    // Name order: every path is `dir/` and a name, so their bytes order them as the names'
    // do, without comparing path components 130,000 times for 10,000 files.
    paths.sort_unstable_by(|(a, _), (b, _)| a.as_os_str().cmp(b.as_os_str()));
    let unread = paths
        .len()
        .saturating_sub(read_at_most.unwrap_or(usize::MAX));
    paths.truncate(paths.len() - unread);
    let mut accounts = Vec::new();
    let mut files = AccountFiles {
        dir: Some(dir.to_path_buf()),
        unread,
        ..AccountFiles::default()
    };
    // Names are taken in file order after the files are checked, so which of two files
    // keeps a name does not depend on which worker checked it first.
    let checked = check_files(&paths, env);
    for ((path, _), checked) in paths.into_iter().zip(checked) {
        let taken = checked.and_then(|(account, name_line)| {
            take_name(names, &path, name_line, &account.name)
                .map(|()| account)
                .map_err(|duplicate| vec![duplicate])
        });
        match taken {
            Ok(account) => {
                files.sources.insert(account.name.clone(), path);
                accounts.push(account);
            }
            Err(issues) => files.invalid.push(InvalidAccountFile { path, issues }),
        }
    }
    Ok((accounts, files))
}

/// A directory with fewer files is checked on one thread: a second would cost more than it
/// saves.
const TWO_WORKERS_FROM_FILES: usize = 128;

/// An account file that passed its own checks: the account and the line of its name.
type CheckedFile = Result<(AccountSettings, usize), Vec<ConfigIssue>>;

/// [`check_file`] for each of `paths`, in their order, on two threads for a large
/// directory (reading and parsing 10,000 files is most of a fleet's start-up).
fn check_files(paths: &[(PathBuf, bool)], env: &EnvSnapshot) -> Vec<CheckedFile> {
    let check = |part: &[(PathBuf, bool)]| -> Vec<CheckedFile> {
        (part.iter())
            .map(|(path, listed_regular)| check_file(path, *listed_regular, env))
            .collect()
    };
    if paths.len() < TWO_WORKERS_FROM_FILES {
        return check(paths);
    }
    let (first, second) = paths.split_at(paths.len() / 2);
    std::thread::scope(|scope| {
        let worker = std::thread::Builder::new()
            .name("tokentop-accounts".to_string())
            .spawn_scoped(scope, || check(second));
        let mut checked = check(first);
        match worker.map(|worker| worker.join()) {
            Ok(Ok(rest)) => checked.extend(rest),
            // A panic stays a panic, as it would have been on this thread.
            Ok(Err(panic)) => std::panic::resume_unwind(panic),
            // No second thread to be had: this one checks the rest too.
            Err(_) => checked.extend(check(second)),
        }
        checked
    })
}

/// `*.toml`, not hidden, not an editor's backup, swap or autosave file.
pub(crate) fn is_account_file(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    let leftover = name.starts_with('.')
        || name.starts_with('#')
        || name.ends_with('~')
        || name.ends_with(".swp");
    !leftover && name.ends_with(".toml") && name.len() > ".toml".len()
}

/// One account file, checked as an `[[account]]` table is, plus its mode; its name's
/// uniqueness is checked afterwards, in file order.
fn check_file(path: &Path, listed_regular: bool, env: &EnvSnapshot) -> CheckedFile {
    let file = read_capped_file(path, listed_regular, MAX_ACCOUNT_FILE_BYTES).map_err(|err| {
        let allowed = format!("a regular TOML file of at most {MAX_ACCOUNT_FILE_BYTES} bytes");
        vec![place_issue(path, None, err.to_string(), &allowed)]
    })?;
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    let place = Place {
        shown: path,
        base_dir: path.parent().unwrap_or(Path::new("")),
        name: EntryName::Default(stem),
    };
    let checked = check_text(place, &file.text, env)?;
    let mut issues = checked.issues;
    issues.extend(super::secrets::check_mode(
        path,
        &file.metadata,
        &checked.plain_secrets,
    ));
    if issues.is_empty() {
        Ok((checked.account, checked.name_line))
    } else {
        Err(issues)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn editor_leftovers_and_dotfiles_are_not_account_files() {
        for name in ["shop.toml", "a.b.toml"] {
            assert!(is_account_file(Path::new(name)), "{name}");
        }
        for name in [
            ".shop.toml",
            "shop.toml~",
            ".shop.toml.swp",
            "shop.toml.swp",
            "#shop.toml#",
            "shop.txt",
            ".toml",
            "shop.toml.bak",
        ] {
            assert!(!is_account_file(Path::new(name)), "{name}");
        }
    }

    fn write(dir: &Path, name: &str, text: &str) {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }

    #[test]
    fn the_name_defaults_to_the_file_stem_and_bad_files_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "shop.toml", "app-id = \"123\"\n");
        write(dir.path(), "named.toml", "name = \"Support\"\n");
        write(dir.path(), "broken.toml", "app-id = \"12x\"\n");
        write(dir.path(), "bad name!.toml", "");
        write(dir.path(), "syntax.toml", "name = \n");
        let mut names = NamesInUse::new();
        let env = EnvSnapshot::default();
        let (accounts, files) = read_dir(dir.path(), &env, &mut names, None).unwrap();
        let read: Vec<&str> = accounts.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(read, ["Support", "shop"]);
        assert_eq!(files.sources["shop"], dir.path().join("shop.toml"));
        let invalid: Vec<String> = files
            .invalid
            .iter()
            .map(|f| f.path.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(invalid, ["bad name!.toml", "broken.toml", "syntax.toml"]);
        let broken = &files.invalid[1].issues[0];
        assert_eq!(broken.line, Some(1));
        assert_eq!(broken.key, "account.app-id");
    }

    #[test]
    fn reading_at_most_n_files_takes_the_first_names_and_counts_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["d", "b", "a", "c"] {
            write(dir.path(), &format!("{name}.toml"), "app-id = \"123\"\n");
        }
        write(dir.path(), "e.toml", "app-id = \"12x\"\n");
        write(dir.path(), "notes.txt", "");
        let env = EnvSnapshot::default();
        let (accounts, files) =
            read_dir(dir.path(), &env, &mut NamesInUse::new(), Some(2)).unwrap();
        let read: Vec<&str> = accounts.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(read, ["a", "b"]);
        assert_eq!(files.unread, 3, "c, d and the broken e are not read yet");
        assert!(files.invalid.is_empty(), "{:?}", files.invalid);
        let (accounts, files) =
            read_dir(dir.path(), &env, &mut NamesInUse::new(), Some(10)).unwrap();
        assert_eq!(
            (accounts.len(), files.unread, files.invalid.len()),
            (4, 0, 1)
        );
    }

    #[test]
    fn a_name_used_twice_ignoring_case_names_both_places() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a.toml", "name = \"Shop\"\n");
        write(dir.path(), "b.toml", "\nname = \"shop\"\n");
        write(dir.path(), "main.toml", "");
        let mut names = NamesInUse::new();
        names.insert(
            "main".to_string(),
            "/etc/tokentop/config.toml:7".to_string(),
        );
        let env = EnvSnapshot::default();
        let (accounts, files) = read_dir(dir.path(), &env, &mut names, None).unwrap();
        assert_eq!(accounts.len(), 1);
        let problems: Vec<String> = files
            .invalid
            .iter()
            .flat_map(|f| f.issues.iter().map(ToString::to_string))
            .collect();
        assert_eq!(problems.len(), 2, "{problems:?}");
        let a = dir.path().join("a.toml");
        let b = dir.path().join("b.toml");
        assert!(
            problems[0].starts_with(&format!("{}:2: ", b.display())),
            "{problems:?}"
        );
        assert!(problems[0].contains(&format!("already used at {}:1", a.display())));
        assert!(problems[1].contains("already used at /etc/tokentop/config.toml:7"));
    }

    #[test]
    fn plain_secrets_in_a_file_others_can_read_are_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "shop.toml", "app-secret = \"s3cr3tvalue\"\n");
        let path = dir.path().join("shop.toml");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let env = EnvSnapshot::default();
        let (accounts, files) = read_dir(dir.path(), &env, &mut NamesInUse::new(), None).unwrap();
        assert!(accounts.is_empty());
        let shown = files.invalid[0].issues[0].to_string();
        assert!(shown.contains("readable by group or others"), "{shown}");
        assert!(!shown.contains("s3cr3tvalue"));
    }

    #[test]
    fn a_large_directory_read_on_two_threads_keeps_file_order_and_first_use_of_a_name() {
        let dir = tempfile::tempdir().unwrap();
        let count = TWO_WORKERS_FROM_FILES * 2;
        for i in 0..count {
            let text = match i {
                // Each takes a name a file of the other half has: the earlier file keeps it.
                20 => "name = \"a200\"\n".to_string(),
                210 => "name = \"a010\"\n".to_string(),
                30 | 220 => "app-id = \"12x\"\n".to_string(),
                _ => String::new(),
            };
            write(dir.path(), &format!("a{i:03}.toml"), &text);
        }
        let (accounts, files) = read_dir(
            dir.path(),
            &EnvSnapshot::default(),
            &mut NamesInUse::new(),
            None,
        )
        .unwrap();
        let invalid: Vec<String> = (files.invalid.iter())
            .map(|f| f.path.file_stem().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(invalid, ["a030", "a200", "a210", "a220"]);
        let names: Vec<&str> = accounts.iter().map(|a| a.name.as_str()).collect();
        let expected: Vec<String> = (0..count)
            .filter(|i| ![30, 200, 210, 220].contains(i))
            .map(|i| {
                if i == 20 {
                    "a200".to_string()
                } else {
                    format!("a{i:03}")
                }
            })
            .collect();
        assert_eq!(names, expected);
        assert_eq!(files.sources["a200"], dir.path().join("a020.toml"));
        let duplicate = files.invalid[1].issues[0].to_string();
        let first = dir.path().join("a020.toml");
        assert!(
            duplicate.contains(&format!("already used at {}:1", first.display())),
            "{duplicate}"
        );
    }

    #[test]
    fn a_symlinked_file_is_read_and_one_to_a_fifo_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        // A Kubernetes ConfigMap mounts each file as a symlink into `..data/`.
        write(elsewhere.path(), "shop.toml", "app-id = \"123\"\n");
        std::os::unix::fs::symlink(
            elsewhere.path().join("shop.toml"),
            dir.path().join("shop.toml"),
        )
        .unwrap();
        let fifo = elsewhere.path().join("fifo");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        std::os::unix::fs::symlink(&fifo, dir.path().join("pipe.toml")).unwrap();
        let (accounts, files) = read_dir(
            dir.path(),
            &EnvSnapshot::default(),
            &mut NamesInUse::new(),
            None,
        )
        .unwrap();
        assert_eq!(accounts.len(), 1);
        assert_eq!(accounts[0].app_id.as_deref(), Some("123"));
        let shown = files.invalid[0].issues[0].to_string();
        assert!(
            shown.contains("it is a FIFO (named pipe), not a regular file"),
            "{shown}"
        );
    }

    #[test]
    fn a_missing_directory_is_one_problem() {
        let err = read_dir(
            Path::new("/nonexistent/accounts.d"),
            &EnvSnapshot::default(),
            &mut NamesInUse::new(),
            None,
        )
        .unwrap_err();
        assert!(err.contains("does not exist"), "{err}");
    }
}
