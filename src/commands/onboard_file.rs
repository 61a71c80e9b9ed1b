//! The account file `tokentop onboard` writes (into `[accounts] dir`, or as an entry of
//! `[accounts] source = "redis"`; see `account_store.rs`): never holding the token, its app
//! secret copied from the app's account as written there (a reference stays a reference).

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::account_store::AccountStore;
use crate::config::{AccountSettings, Settings};

/// What the new account file holds besides its name.
pub(super) struct AccountFile<'a> {
    pub name: &'a str,
    pub app_id: &'a str,
    /// The app secret as the source account writes it (a reference or a string), TOML-encoded.
    pub app_secret_toml: &'a str,
    pub phone_number_id: &'a str,
    pub waba_id: &'a str,
}

impl AccountFile<'_> {
    pub(super) fn text(&self) -> String {
        let quoted = |value: &str| toml::Value::String(value.to_string()).to_string();
        format!(
            "# Written by `tokentop onboard`. The token is in tokentop's token store, not here.\n\
             name = {}\napp-id = {}\napp-secret = {}\nphone-number-id = {}\n\
             business-account-id = {}\ntoken-kind = \"business\"\n",
            quoted(self.name),
            quoted(self.app_id),
            self.app_secret_toml,
            quoted(self.phone_number_id),
            quoted(self.waba_id),
        )
    }
}

/// The table that defines an account, and where relative paths in it resolve.
pub(super) struct SourceTable {
    /// Its file or entry, for messages.
    shown: PathBuf,
    base_dir: PathBuf,
    table: toml::Table,
}

/// The `app-secret` value of the account `source` defines, as its table writes it (TOML
/// text), so that a reference (`{ env = ... }`, `{ file = ... }`, `{ credential = ... }`) is
/// copied as a reference rather than as the secret.
pub(super) fn app_secret_toml(source: &SourceTable, account: &str) -> anyhow::Result<String> {
    match source.table.get("app-secret") {
        Some(value) => Ok(anchored(value.clone(), &source.base_dir).to_string()),
        None => anyhow::bail!(
            "account {account} in {} has no app-secret of its own; give it one (e.g. \
             app-secret = {{ env = \"WHATSAPP_APP_SECRET\" }}) or pick another with --account-app",
            source.shown.display()
        ),
    }
}

/// A `{ file = "relative" }` reference made absolute: relative paths resolve against the
/// directory of the file that holds them, and the new file lives elsewhere.
fn anchored(mut value: toml::Value, base: &Path) -> toml::Value {
    if let Some(file) = value.get_mut("file")
        && let Some(relative) = file.as_str().filter(|p| Path::new(p).is_relative())
    {
        let joined = base.join(relative);
        let absolute = std::path::absolute(&joined).unwrap_or(joined);
        *file = toml::Value::String(absolute.display().to_string());
    }
    value
}

/// The TOML table that defines `account`: its account file or Redis entry, or its
/// `[[account]]` table.
pub(super) async fn source_table(
    settings: &Settings,
    store: &AccountStore,
    account: &str,
) -> anyhow::Result<SourceTable> {
    if let Some(place) = settings.account_files.sources.get(account) {
        if let AccountStore::Redis(_) = store {
            let changed = || anyhow::anyhow!("{} changed while tokentop read it", place.display());
            let text = store.read_entry(account).await?.ok_or_else(changed)?;
            // Validated when the settings were loaded; a parse error here is a race.
            let table = text.parse::<toml::Table>().map_err(|_| changed())?;
            return Ok(SourceTable {
                shown: place.clone(),
                base_dir: store.base_dir(settings),
                table,
            });
        }
        return Ok(SourceTable {
            shown: place.clone(),
            base_dir: place.parent().map(Path::to_path_buf).unwrap_or_default(),
            table: read_table(place)?,
        });
    }
    let Some(path) = settings.config_path.clone() else {
        anyhow::bail!("account {account} is not defined in a config file");
    };
    let root = read_table(&path)?;
    let table = root
        .get("account")
        .and_then(toml::Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(toml::Value::as_table)
        .find(|table| table.get("name").and_then(toml::Value::as_str) == Some(account))
        .cloned()
        .with_context(|| {
            format!(
                "account {account} is not an [[account]] of {}",
                path.display()
            )
        })?;
    Ok(SourceTable {
        base_dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
        shown: path,
        table,
    })
}

fn read_table(path: &Path) -> anyhow::Result<toml::Table> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    // The file was validated when the settings were loaded; a parse error here is a race.
    text.parse::<toml::Table>()
        .map_err(|_| anyhow::anyhow!("{} changed while tokentop read it", path.display()))
}

/// The configured account whose app ran the signup: `--account-app`, or the only app.
pub(super) fn app_account<'a>(
    settings: &'a Settings,
    wanted: Option<&str>,
) -> anyhow::Result<&'a AccountSettings> {
    let with_app = |a: &&AccountSettings| a.app_id.is_some() && a.app_secret.is_some();
    if let Some(wanted) = wanted {
        return settings
            .accounts
            .iter()
            .map(AsRef::as_ref)
            .filter(with_app)
            .find(|a| a.name == wanted)
            .with_context(|| {
                format!("--account-app {wanted}: no configured account of that name with an app-id and app-secret")
            });
    }
    let candidates: Vec<&AccountSettings> = settings
        .accounts
        .iter()
        .map(AsRef::as_ref)
        .filter(with_app)
        .collect();
    let mut app_ids: Vec<&str> = candidates
        .iter()
        .filter_map(|a| a.app_id.as_deref())
        .collect();
    app_ids.sort_unstable();
    app_ids.dedup();
    match (candidates.first(), app_ids.len()) {
        (None, _) => anyhow::bail!(
            "no configured account has an app-id and app-secret: configure the app that runs \
             Embedded Signup on one account first"
        ),
        (Some(first), 1) => Ok(first),
        (Some(_), _) => {
            let listed: Vec<String> = candidates
                .iter()
                .map(|a| format!("{} (app {})", a.name, a.app_id.as_deref().unwrap_or("?")))
                .collect();
            anyhow::bail!(
                "several apps are configured; name the one that ran the signup with \
                 --account-app: {}",
                listed.join(", ")
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_holds_the_secret_reference_and_no_token() {
        let file = AccountFile {
            name: "shop",
            app_id: "123",
            app_secret_toml: "{ env = \"APP_SECRET\" }",
            phone_number_id: "456",
            waba_id: "789",
        };
        let text = file.text();
        assert!(text.contains("token-kind = \"business\""), "{text}");
        assert!(
            text.contains("app-secret = { env = \"APP_SECRET\" }"),
            "{text}"
        );
        assert!(!text.contains("access-token"), "{text}");
    }

    #[test]
    fn a_relative_secret_file_keeps_pointing_at_the_same_file() {
        let value: toml::Value = toml::from_str::<toml::Table>("s = { file = \"app.secret\" }")
            .unwrap()
            .remove("s")
            .unwrap();
        let moved = anchored(value, Path::new("/etc/tokentop"));
        assert_eq!(moved.to_string(), "{ file = \"/etc/tokentop/app.secret\" }");
        let env = toml::Value::Table(toml::Table::from_iter([(
            "env".to_string(),
            toml::Value::String("X".to_string()),
        )]));
        assert_eq!(anchored(env.clone(), Path::new("/a")), env);
    }
}
