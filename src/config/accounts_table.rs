//! `[accounts]`: where accounts come from besides `[[account]]` tables: the files of a
//! directory on this host (`dir`), or the entries every member of the cluster reads from
//! Redis (`source = "redis"`). Without `source`, `dir` decides, as before `source` existed.

use std::path::Path;

use toml::de::DeTable;

use super::accounts_dir::{AccountFiles, dir_accounts, names_in_file};
use super::issues::Invalid;
use super::reader::Ctx;
use super::settings::{AccountSettings, ClusterSettings};

pub(crate) const ACCOUNTS_KEYS: &[&str] = &["dir", "source"];

const PATH: &str = "accounts";

/// `[accounts] source`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Dir,
    Redis,
}

const SOURCES: &[(&str, Source)] = &[("dir", Source::Dir), ("redis", Source::Redis)];

/// The accounts `[accounts]` names, appended to the config file's `accounts` (whose names,
/// with their lines in `file`'s `text`, are taken first).
pub(crate) fn extra_accounts(
    ctx: &mut Ctx<'_>,
    root: &DeTable<'_>,
    (file, text): (&Path, &str),
    cluster: &ClusterSettings,
    accounts: &mut Vec<AccountSettings>,
) -> AccountFiles {
    let Some((table, span)) = ctx.table(root, "", PATH) else {
        return AccountFiles::default();
    };
    ctx.check_keys(table, PATH, "[accounts]", ACCOUNTS_KEYS);
    let source = ctx.choice(table, PATH, "source", SOURCES);
    let dir = ctx
        .checked(table, PATH, "dir", super::values::non_empty)
        .map(|dir| ctx.resolve(&dir));
    let mut names = names_in_file(file, accounts, &super::file::account_lines(text));
    match (source, dir, table.get("dir"), table.get("source")) {
        (Some(Source::Redis), _, Some(dir_item), _) => {
            let invalid = Invalid::new(
                "dir and source = \"redis\" exclude each other",
                "either dir (account files on this host) or source = \"redis\" (entries in the [cluster] Redis, shared by every member)",
            );
            let shown = Some(ctx.shown(dir_item));
            ctx.issue(&dir_item.span(), "accounts.dir".to_string(), shown, invalid);
            AccountFiles::default()
        }
        (Some(Source::Redis), _, None, Some(source_item)) => {
            super::accounts_redis::redis_accounts(ctx, source_item, cluster, &mut names, accounts)
        }
        (_, Some(dir), Some(dir_item), _) => {
            dir_accounts(ctx, (dir, dir_item), &mut names, accounts)
        }
        (Some(Source::Dir), None, None, _) => {
            ctx.missing(
                &span,
                PATH,
                "dir",
                "a directory of account files, relative to the config file's directory, e.g. \"accounts.d\"",
            );
            AccountFiles::default()
        }
        _ => AccountFiles::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::EnvSnapshot;

    fn read(text: &str, cluster: &ClusterSettings) -> (AccountFiles, Vec<String>) {
        let env = EnvSnapshot::default();
        let file = Path::new("/etc/tokentop/config.toml");
        let mut ctx = Ctx::new(text, file, &env);
        let doc = DeTable::parse(text).unwrap();
        let files = extra_accounts(&mut ctx, doc.get_ref(), (file, text), cluster, &mut vec![]);
        let issues = ctx.issues.iter().map(ToString::to_string).collect();
        (files, issues)
    }

    #[test]
    fn source_redis_needs_the_cluster_and_excludes_dir() {
        let none = ClusterSettings::default();
        let (files, issues) = read("[accounts]\nsource = \"redis\"\n", &none);
        assert_eq!(files.redis_key.as_deref(), Some("tokentop:accounts"));
        assert_eq!(issues.len(), 1, "{issues:?}");
        assert!(issues[0].contains("accounts.source"), "{issues:?}");
        assert!(issues[0].contains("[cluster] redis-url"), "{issues:?}");

        let (_, issues) = read("[accounts]\nsource = \"redis\"\ndir = \"a\"\n", &none);
        assert!(
            issues[0].contains(
                "config.toml:3: accounts.dir = \"a\": dir and source = \"redis\" exclude each other"
            ),
            "{issues:?}"
        );

        let (_, issues) = read("[accounts]\nsource = \"etcd\"\n", &none);
        assert!(issues[0].contains("allowed: dir, redis"), "{issues:?}");

        let (_, issues) = read("[accounts]\nsource = \"dir\"\n", &none);
        assert!(issues[0].contains("accounts.dir"), "{issues:?}");
        assert!(issues[0].contains("missing"), "{issues:?}");
    }

    #[test]
    fn without_source_the_table_reads_as_before() {
        let (files, issues) = read("[accounts]\n", &ClusterSettings::default());
        assert_eq!(files, AccountFiles::default());
        assert!(issues.is_empty(), "{issues:?}");
    }
}
