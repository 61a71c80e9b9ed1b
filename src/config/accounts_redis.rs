//! `[accounts] source = "redis"`: the accounts every member of the cluster reads from one
//! Redis hash, `{prefix}accounts` (field: the account name, value: an account file's text),
//! so that one command updates every host. Each change is announced on the channel
//! `{prefix}accounts-changed`, on which running processes reload.
//!
//! The hash is read at every load. An entry is checked as an account file is (same keys,
//! same 64 KiB cap; relative paths resolve against the config file's directory); one that
//! fails is skipped and reported as `redis:{key}/{field}`, while the others run. A Redis that
//! cannot be read is a problem of the config file's `[accounts] source`, as an unreadable
//! `dir` is: at a reload the running accounts are kept.

use std::path::{Path, PathBuf};

use super::account_text::{EntryName, NamesInUse, Place, check_text, place_issue, take_name};
use super::accounts_dir::{AccountFiles, InvalidAccountFile};
use super::capped_read::MAX_ACCOUNT_FILE_BYTES;
use super::issues::{ConfigIssue, Invalid};
use super::reader::{Ctx, Item};
use super::redis_entries::{RawEntry, fetch_entries};
use super::settings::{AccountSettings, ClusterSettings};

/// The hash of the account entries, under `[cluster] key-prefix`.
pub fn redis_accounts_key(prefix: &str) -> String {
    format!("{prefix}accounts")
}

/// The channel each change of the hash is announced on (the payload says what changed, for
/// the log; every listener re-reads the whole hash).
pub fn redis_accounts_channel(prefix: &str) -> String {
    format!("{prefix}accounts-changed")
}

/// How an entry is named in problems and listings: `redis:tokentop:accounts/shop`.
pub fn redis_entry_place(key: &str, field: &str) -> PathBuf {
    PathBuf::from(format!("redis:{key}/{field}"))
}

/// The accounts of the hash, appended to `accounts`; `source` is the key as written.
pub(crate) fn redis_accounts(
    ctx: &mut Ctx<'_>,
    source: &Item<'_>,
    cluster: &ClusterSettings,
    names: &mut NamesInUse,
    accounts: &mut Vec<AccountSettings>,
) -> AccountFiles {
    let key = redis_accounts_key(&cluster.key_prefix);
    let mut files = AccountFiles {
        redis_key: Some(key.clone()),
        ..AccountFiles::default()
    };
    let Some(url) = &cluster.redis_url else {
        let invalid = Invalid::new(
            "source = \"redis\" reads the accounts from [cluster] redis-url, which is not set (or not valid)",
            "source = \"redis\" with a [cluster] table and its redis-url, or source = \"dir\" with dir",
        );
        let shown = Some(ctx.shown(source));
        ctx.issue(
            &source.span(),
            "accounts.source".to_string(),
            shown,
            invalid,
        );
        return files;
    };
    let entries = match fetch_entries(url, &key) {
        Ok(entries) => entries,
        Err(problem) => {
            let invalid = Invalid::new(
                format!("cannot read the accounts from Redis: {problem}"),
                "a [cluster] redis-url that answers (a running process keeps its accounts meanwhile)",
            );
            let shown = Some(ctx.shown(source));
            ctx.issue(
                &source.span(),
                "accounts.source".to_string(),
                shown,
                invalid,
            );
            return files;
        }
    };
    let base_dir = ctx.base_dir().to_path_buf();
    for (field, raw) in entries {
        let place = redis_entry_place(&key, &field);
        match entry_account((&place, &base_dir), &field, raw, ctx.env, names) {
            Ok(account) => {
                files.sources.insert(account.name.clone(), place);
                accounts.push(account);
            }
            Err(issues) => files.invalid.push(InvalidAccountFile {
                path: place,
                issues,
            }),
        }
    }
    files
}

/// One entry, checked as an account file is; on success its name is taken in `names`.
fn entry_account(
    (place, base_dir): (&Path, &Path),
    field: &str,
    raw: RawEntry,
    env: &super::EnvSnapshot,
    names: &mut NamesInUse,
) -> Result<AccountSettings, Vec<ConfigIssue>> {
    let text = entry_text(place, raw)?;
    let place_of_text = Place {
        shown: place,
        base_dir,
        name: EntryName::Exactly(field),
    };
    let checked = check_text(place_of_text, &text, env)?;
    let mut issues = checked.issues;
    if issues.is_empty()
        && let Err(duplicate) = take_name(names, place, checked.name_line, &checked.account.name)
    {
        issues.push(duplicate);
    }
    if issues.is_empty() {
        Ok(checked.account)
    } else {
        Err(issues)
    }
}

/// The entry's text, or why it is not one.
pub(crate) fn entry_text(place: &Path, raw: RawEntry) -> Result<String, Vec<ConfigIssue>> {
    let allowed = format!("the text of one account file, at most {MAX_ACCOUNT_FILE_BYTES} bytes");
    let problem = match raw {
        RawEntry::Text(bytes) => match String::from_utf8(bytes) {
            Ok(text) => return Ok(text),
            Err(_) => "not UTF-8 text".to_string(),
        },
        RawEntry::TooLong(bytes) => {
            format!("{bytes} bytes, more than the {MAX_ACCOUNT_FILE_BYTES} an entry may hold")
        }
        RawEntry::FieldTooLong => "the field is longer than any account name".to_string(),
    };
    Err(vec![place_issue(place, None, problem, &allowed)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::EnvSnapshot;

    fn check(field: &str, raw: RawEntry, names: &mut NamesInUse) -> Result<String, Vec<String>> {
        let place = redis_entry_place("tokentop:accounts", field);
        entry_account(
            (&place, Path::new("/etc/tokentop")),
            field,
            raw,
            &EnvSnapshot::default(),
            names,
        )
        .map(|account| account.name)
        .map_err(|issues| issues.iter().map(ToString::to_string).collect())
    }

    fn text(text: &str) -> RawEntry {
        RawEntry::Text(text.as_bytes().to_vec())
    }

    #[test]
    fn entries_are_checked_like_account_files_and_named_by_their_place() {
        let mut names = NamesInUse::new();
        names.insert("main".into(), "/etc/tokentop/config.toml:4".into());
        assert_eq!(
            check("shop", text("app-id = \"1\"\n"), &mut names),
            Ok("shop".into())
        );
        let bad = check("bad", text("app-id = \"12x\"\n"), &mut names).unwrap_err();
        assert!(
            bad[0].starts_with("redis:tokentop:accounts/bad:1: account.app-id"),
            "{bad:?}"
        );
        let taken = check("MAIN", text(""), &mut names).unwrap_err();
        assert!(
            taken[0].contains("already used at /etc/tokentop/config.toml:4"),
            "{taken:?}"
        );
        let long = check("big", RawEntry::TooLong(70_000), &mut names).unwrap_err();
        assert!(
            long[0].contains("70000 bytes, more than the 65536"),
            "{long:?}"
        );
        let binary = check("bin", RawEntry::Text(vec![0xff, 0xfe]), &mut names).unwrap_err();
        assert!(binary[0].contains("not UTF-8"), "{binary:?}");
        let name = check("bad name", text(""), &mut names).unwrap_err();
        assert!(name[0].contains("account.name"), "{name:?}");
    }

    #[test]
    fn keys_and_channel_live_under_the_prefix() {
        assert_eq!(redis_accounts_key("prod:tt:"), "prod:tt:accounts");
        assert_eq!(
            redis_accounts_channel("tokentop:"),
            "tokentop:accounts-changed"
        );
    }
}
