//! One account's TOML text, as an account file of `[accounts] dir` or an entry of
//! `[accounts] source = "redis"` holds it: the keys of one `[[account]]` table at its top
//! level, checked as such a table is, with its name taken once across every source.

use std::collections::HashMap;
use std::path::Path;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::EnvSnapshot;
use super::issues::{ConfigIssue, Invalid};
use super::reader::{Ctx, PlainSecret};
use super::settings::AccountSettings;

/// Where a name is first used: `config.toml:12` or `accounts.d/shop.toml:1`.
pub(crate) type NamesInUse = HashMap<String, String>;

/// What the account is called when the text has no `name`, and whether a `name` may differ.
#[derive(Debug, Clone, Copy)]
pub(crate) enum EntryName<'a> {
    /// A file's stem: its `name`, when written, wins.
    Default(&'a str),
    /// A Redis field (or the name `tokentop accounts add` was given): a `name`, when written,
    /// must be this one, so that the entry is removed by the name it runs under.
    Exactly(&'a str),
}

impl EntryName<'_> {
    fn as_str(&self) -> &str {
        match self {
            EntryName::Default(name) | EntryName::Exactly(name) => name,
        }
    }
}

/// Where the text is and how it is read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Place<'a> {
    /// The file, or `redis:{key}/{field}`: named by every problem.
    pub shown: &'a Path,
    /// Relative paths in the text are relative to this directory.
    pub base_dir: &'a Path,
    pub name: EntryName<'a>,
}

/// A text that parsed: the account as far as it is valid, its problems, and what the
/// file-mode check needs.
pub(crate) struct CheckedText {
    pub account: AccountSettings,
    pub issues: Vec<ConfigIssue>,
    pub plain_secrets: Vec<PlainSecret>,
    /// The line of `name` (1 when the name is the default).
    pub name_line: usize,
}

/// Checks `text` as an `[[account]]` table; `Err` only when it is not TOML.
pub(crate) fn check_text(
    place: Place<'_>,
    text: &str,
    env: &EnvSnapshot,
) -> Result<CheckedText, Vec<ConfigIssue>> {
    let mut ctx = Ctx::with_base_dir(text, place.shown, place.base_dir, env);
    let mut doc = match DeTable::parse(text) {
        Ok(doc) => doc,
        Err(err) => {
            // Only the parser's message: the full Display quotes the line, maybe a secret.
            let line = ctx.line(&err.span().unwrap_or(0..0));
            let problem = format!("invalid TOML: {}", err.message().trim());
            return Err(vec![place_issue(place.shown, Some(line), problem, "")]);
        }
    };
    let root = doc.get_mut();
    if !root.contains_key("name") {
        // Checked below exactly as a written name is.
        let value = Spanned::new(
            0..0,
            DeValue::String(place.name.as_str().to_string().into()),
        );
        root.insert(Spanned::new(0..0, "name".into()), value);
    }
    let span = 0..text.len();
    let account = super::account::account(&mut ctx, doc.get_ref(), &span);
    let name_line = doc
        .get_ref()
        .get("name")
        .map_or(1, |item| ctx.line(&item.span()));
    let mut issues = std::mem::take(&mut ctx.issues);
    if let EntryName::Exactly(expected) = place.name
        && issues.is_empty()
        && account.name != expected
    {
        issues.push(other_name(place.shown, name_line, &account.name, expected));
    }
    Ok(CheckedText {
        account,
        issues,
        plain_secrets: std::mem::take(&mut ctx.plain_secrets),
        name_line,
    })
}

/// `text` as the entry `name` at `place` will be read (relative paths against `base_dir`),
/// except that its name is not compared with the other accounts': what `tokentop accounts
/// add` checks before it writes. With the account, the keys that hold a plain secret.
pub fn check_account_entry(
    text: &str,
    place: &Path,
    base_dir: &Path,
    name: &str,
    env: &EnvSnapshot,
) -> Result<(AccountSettings, Vec<String>), Vec<ConfigIssue>> {
    let place = Place {
        shown: place,
        base_dir,
        name: EntryName::Exactly(name),
    };
    let checked = check_text(place, text, env)?;
    if checked.issues.is_empty() {
        let plain = checked.plain_secrets.into_iter().map(|p| p.key).collect();
        Ok((checked.account, plain))
    } else {
        Err(checked.issues)
    }
}

/// Takes the account's name in `names`, or says where it is already used (ignoring case).
pub(crate) fn take_name(
    names: &mut NamesInUse,
    place: &Path,
    line: usize,
    name: &str,
) -> Result<(), ConfigIssue> {
    match names.get(&name.to_lowercase()) {
        Some(first) => Err(duplicate(place, line, name, first)),
        None => {
            let here = format!("{}:{line}", place.display());
            names.insert(name.to_lowercase(), here);
            Ok(())
        }
    }
}

fn duplicate(place: &Path, line: usize, name: &str, first: &str) -> ConfigIssue {
    let invalid = Invalid::new(
        format!(
            "account name {name:?} is already used at {first} (names are unique across [[account]] tables and [accounts], ignoring case)"
        ),
        "a name no other account uses; without `name` the file's name (or the Redis field) is used",
    );
    ConfigIssue {
        file: Some(place.to_path_buf()),
        line: Some(line),
        key: "account.name".to_string(),
        value: Some(format!("{name:?}")),
        problem: invalid.problem,
        allowed: invalid.allowed,
    }
}

fn other_name(place: &Path, line: usize, name: &str, expected: &str) -> ConfigIssue {
    ConfigIssue {
        file: Some(place.to_path_buf()),
        line: Some(line),
        key: "account.name".to_string(),
        value: Some(format!("{name:?}")),
        problem: format!("the entry is named {expected:?}, its `name` says {name:?}"),
        allowed: format!("name = {expected:?}, or no `name` (the entry's name is used)"),
    }
}

/// A problem of the whole text or of where it is (no key).
pub(crate) fn place_issue(
    place: &Path,
    line: Option<usize>,
    problem: String,
    allowed: &str,
) -> ConfigIssue {
    ConfigIssue {
        file: Some(place.to_path_buf()),
        line,
        key: String::new(),
        value: None,
        problem,
        allowed: allowed.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place<'a>(name: EntryName<'a>) -> Place<'a> {
        Place {
            shown: Path::new("redis:tokentop:accounts/shop"),
            base_dir: Path::new("/etc/tokentop"),
            name,
        }
    }

    #[test]
    fn an_exact_name_refuses_a_written_name_that_differs() {
        let env = EnvSnapshot::default();
        let checked = check_text(
            place(EntryName::Exactly("shop")),
            "\nname = \"Shop\"\n",
            &env,
        )
        .ok()
        .unwrap();
        let shown = checked.issues[0].to_string();
        assert!(
            shown.starts_with("redis:tokentop:accounts/shop:2: account.name = \"Shop\""),
            "{shown}"
        );
        let checked = check_text(place(EntryName::Default("shop")), "name = \"Shop\"\n", &env)
            .ok()
            .unwrap();
        assert!(checked.issues.is_empty());
        assert_eq!(checked.account.name, "Shop");
    }

    #[test]
    fn relative_paths_resolve_against_the_base_dir() {
        let env = EnvSnapshot::default();
        let base = tempfile::tempdir().unwrap();
        std::fs::create_dir(base.path().join("tokens")).unwrap();
        let place = Place {
            shown: Path::new("redis:tokentop:accounts/shop"),
            base_dir: base.path(),
            name: EntryName::Exactly("shop"),
        };
        let checked = check_text(place, "token-file = \"tokens/shop\"\n", &env)
            .ok()
            .unwrap();
        assert!(checked.issues.is_empty());
        assert_eq!(
            checked.account.token_file,
            Some(base.path().join("tokens/shop"))
        );
    }
}
