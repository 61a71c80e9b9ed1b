//! `tokentop accounts list|add|remove`: the accounts of `[accounts]` without an editor on
//! every host. `add` checks the text as loading will read it before anything is written and
//! never replaces an account unasked; with `source = "redis"` each change is announced and
//! every running member reloads at once, with `dir` the file is written or removed there.

use std::io::Read;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use serde_json::json;

use super::account_store::AccountStore;
use super::common::{load_settings, overrides};
use super::stdout;
use crate::cli::{
    AccountsAddArgs, AccountsCommand, AccountsListArgs, AccountsRemoveArgs, GlobalArgs,
};
use crate::cluster::account_entries::Added;
use crate::config::capped_read::{MAX_ACCOUNT_FILE_BYTES, read_capped};
use crate::config::{self, CheckedConfig, EnvSnapshot, Settings};

pub async fn run(global: &GlobalArgs, command: &AccountsCommand) -> anyhow::Result<ExitCode> {
    let (verb, result) = match command {
        AccountsCommand::List(args) => ("list", list(global, args)),
        AccountsCommand::Add(args) => ("add", add(global, args).await),
        AccountsCommand::Remove(args) => ("remove", remove(global, args).await),
    };
    match result {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(err) => {
            eprintln!("tokentop accounts {verb}: {err:#}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// The store `[accounts]` names, or what to add to the config file.
fn store_of(settings: &Settings) -> anyhow::Result<AccountStore> {
    AccountStore::of(settings)?.context(
        "the config file has no [accounts]: add `[accounts]` with `dir = \"accounts.d\"` (files \
         on this host), or `source = \"redis\"` beside [cluster] (entries every member reads)",
    )
}

async fn add(global: &GlobalArgs, args: &AccountsAddArgs) -> anyhow::Result<()> {
    let name = args.name.as_str();
    config::account_name(name).map_err(|_| {
        anyhow::anyhow!(
            "{name:?} is not a valid account name: {}",
            config::ACCOUNT_NAME_ALLOWED
        )
    })?;
    let settings = load_settings(global)?;
    let store = store_of(&settings)?;
    let text = read_text(&args.file)?;
    let place = store.place(name);
    let env = EnvSnapshot::from_process();
    let (_, plain_secrets) =
        config::check_account_entry(&text, &place, &store.base_dir(&settings), name, &env)
            .map_err(|issues| {
                let lines: Vec<String> = issues.iter().map(|issue| format!("  {issue}")).collect();
                anyhow::anyhow!(
                    "the account is not valid; nothing was written:\n{}",
                    lines.join("\n")
                )
            })?;
    if let Some(other) = settings
        .accounts
        .iter()
        .find(|a| a.name.eq_ignore_ascii_case(name))
    {
        let same_entry = settings.account_files.sources.get(&other.name) == Some(&place);
        if !same_entry {
            anyhow::bail!(
                "an account named {} is already defined in {} (names are unique ignoring case): choose another name",
                other.name,
                defined_at(&settings, &other.name)
            );
        }
    }
    let word = match store.write(name, &text, args.replace).await? {
        Added::Exists => anyhow::bail!(
            "{} already exists: --replace replaces it (`tokentop accounts list` shows it)",
            place.display()
        ),
        Added::Created => "added",
        Added::Replaced => "replaced",
    };
    stdout::line(format_args!("account {name}: {word} ({})", place.display()))?;
    stdout::line(format_args!("  {}", store.pickup_note()))?;
    if matches!(store, AccountStore::Redis(_)) && !plain_secrets.is_empty() {
        eprintln!(
            "note: {} hold(s) a plain secret, which anyone who can read the Redis reads; a reference \
             ({{ env = \"...\" }}, {{ file = \"...\" }}, {{ credential = \"...\" }}) keeps it on each host",
            plain_secrets.join(", ")
        );
    }
    Ok(())
}

async fn remove(global: &GlobalArgs, args: &AccountsRemoveArgs) -> anyhow::Result<()> {
    let name = args.name.as_str();
    config::account_name(name)
        .map_err(|_| anyhow::anyhow!("{name:?} is not a valid account name"))?;
    let settings = load_settings(global)?;
    let store = store_of(&settings)?;
    let defined_elsewhere = settings.accounts.iter().any(|a| a.name == name)
        && !settings.account_files.sources.contains_key(name);
    if defined_elsewhere {
        anyhow::bail!(
            "account {name} is defined in {}, not by [accounts]: remove it there",
            defined_at(&settings, name)
        );
    }
    let place = store.place_of(&settings, name);
    if !store.remove(name, &place).await? {
        anyhow::bail!(
            "there is no {} (`tokentop accounts list` shows the accounts and where each is)",
            place.display()
        );
    }
    stdout::line(format_args!(
        "account {name}: removed ({}); its stored token and history stay",
        place.display()
    ))?;
    stdout::line(format_args!("  {}", store.pickup_note()))?;
    Ok(())
}

/// Where an account that exists is defined, in words.
fn defined_at(settings: &Settings, name: &str) -> String {
    match (
        settings.account_files.sources.get(name),
        &settings.config_path,
    ) {
        (Some(place), _) => place.display().to_string(),
        (None, Some(config)) => format!("{} ([[account]])", config.display()),
        (None, None) => "the WHATSAPP_* variables".to_string(),
    }
}

/// The text of `file`, or of standard input for `-`, at most an account file's size.
fn read_text(file: &Path) -> anyhow::Result<String> {
    if file != Path::new("-") {
        return read_capped(file, MAX_ACCOUNT_FILE_BYTES)
            .map_err(|err| anyhow::anyhow!("cannot read {}: {err}", file.display()));
    }
    let mut bytes = Vec::new();
    std::io::stdin()
        .lock()
        .take(MAX_ACCOUNT_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .context("cannot read standard input")?;
    if bytes.len() as u64 > MAX_ACCOUNT_FILE_BYTES {
        anyhow::bail!("standard input holds more than {MAX_ACCOUNT_FILE_BYTES} bytes");
    }
    String::from_utf8(bytes).map_err(|_| anyhow::anyhow!("standard input is not UTF-8 text"))
}

/// One account and where it is defined.
struct Row {
    name: String,
    /// `config`, `dir`, `redis` or `environment`.
    from: &'static str,
    place: String,
}

fn list(global: &GlobalArgs, args: &AccountsListArgs) -> anyhow::Result<()> {
    let checked = config::load_checked(&overrides(global), &EnvSnapshot::from_process());
    if !checked.issues.is_empty() {
        let lines: Vec<String> = checked.issues.iter().map(ToString::to_string).collect();
        anyhow::bail!("invalid configuration:\n{}", lines.join("\n"));
    }
    let rows = rows(&checked);
    let skipped = &checked.settings.account_files.invalid;
    if args.json {
        let accounts: Vec<_> = rows
            .iter()
            .map(|row| json!({"name": row.name, "from": row.from, "place": row.place}))
            .collect();
        let skipped: Vec<_> = skipped
            .iter()
            .map(|file| {
                let problems: Vec<String> = file.issues.iter().map(ToString::to_string).collect();
                json!({"place": file.path, "problems": problems})
            })
            .collect();
        let value = json!({"accounts": accounts, "skipped": skipped});
        return stdout::line(serde_json::to_string_pretty(&value)?);
    }
    let width = rows.iter().map(|row| row.name.len()).max().unwrap_or(0);
    for row in &rows {
        stdout::line(format_args!(
            "{:<width$}  {:<11}  {}",
            row.name, row.from, row.place
        ))?;
    }
    if rows.is_empty() {
        stdout::line("no accounts")?;
    }
    for file in skipped {
        let problems: Vec<String> = file.issues.iter().map(ToString::to_string).collect();
        stdout::line(format_args!(
            "skipped {}: {}",
            file.path.display(),
            problems.join("; ")
        ))?;
    }
    Ok(())
}

/// Each running account with its place: its file or entry, its `[[account]]` table's line,
/// or the environment.
fn rows(checked: &CheckedConfig) -> Vec<Row> {
    let settings = &checked.settings;
    let from_store = if settings.account_files.redis_key.is_some() {
        "redis"
    } else {
        "dir"
    };
    let mut tables = checked.account_lines.iter();
    settings
        .accounts
        .iter()
        .map(|account| {
            let (from, place) = match (
                settings.account_files.sources.get(&account.name),
                &settings.config_path,
            ) {
                (Some(place), _) => (from_store, place.display().to_string()),
                (None, Some(config)) if !checked.account_lines.is_empty() => {
                    let line = tables.next().copied().unwrap_or(1);
                    ("config", format!("{}:{line}", config.display()))
                }
                _ => ("environment", "WHATSAPP_* variables".to_string()),
            };
            Row {
                name: account.name.clone(),
                from,
                place,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_account_is_placed_in_its_table_entry_or_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(
            &path,
            "[[account]]\nname = \"a\"\n\n[[account]]\nname = \"b\"\n",
        )
        .unwrap();
        let overrides = config::Overrides {
            config: Some(path.clone()),
            ..Default::default()
        };
        let mut checked = config::load_checked(&overrides, &EnvSnapshot::default());
        assert!(checked.issues.is_empty(), "{:?}", checked.issues);
        let settings = &mut checked.settings;
        let mut shop = crate::config::AccountSettings::clone(&settings.accounts[0]);
        shop.name = "shop".to_string();
        settings.accounts.push(shop.into());
        settings.account_files.redis_key = Some("tokentop:accounts".into());
        let entry = config::redis_entry_place("tokentop:accounts", "shop");
        settings.account_files.sources.insert("shop".into(), entry);
        let rows = rows(&checked);
        let shown: Vec<(&str, &str)> = rows.iter().map(|r| (r.from, r.place.as_str())).collect();
        let b = format!("{}:4", path.display());
        let a = format!("{}:1", path.display());
        assert_eq!(
            shown,
            [
                ("config", a.as_str()),
                ("config", b.as_str()),
                ("redis", "redis:tokentop:accounts/shop")
            ]
        );

        let env = EnvSnapshot::from_pairs([("WHATSAPP_ACCESS_TOKEN", "EAAGxxxxxxxxxxxxxxxx")]);
        let none = config::Overrides {
            config: Some(dir.path().join("absent.toml")),
            ..Default::default()
        };
        let checked = config::load_checked(&none, &env);
        let from_env = super::rows(&checked);
        assert_eq!(from_env[0].from, "environment", "{:?}", checked.issues);
    }
}
