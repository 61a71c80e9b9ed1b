//! The account file `tokentop onboard` writes into `[accounts] dir`: 0600, created at once
//! under its final name or not at all, never holding the token.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

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
    fn text(&self) -> String {
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

/// The path `name`'s file gets in `dir`.
pub(super) fn path_in(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.toml"))
}

/// Writes the file as a dotfile (which the accounts directory does not read), then links it
/// to its final name: the link fails if that name exists, so an account file is never
/// replaced, and a reloading daemon never reads a half-written file.
pub(super) fn create(dir: &Path, file: &AccountFile<'_>) -> anyhow::Result<PathBuf> {
    let target = path_in(dir, file.name);
    let staging = dir.join(format!(".{}.onboard-{}", file.name, std::process::id()));
    let written = write_new(&staging, &file.text());
    let linked = written.and_then(|()| {
        std::fs::hard_link(&staging, &target).map_err(|err| match err.kind() {
            std::io::ErrorKind::AlreadyExists => anyhow::anyhow!(
                "{} already exists: choose another --name (an account file is never replaced)",
                target.display()
            ),
            _ => anyhow::anyhow!("cannot create {}: {err}", target.display()),
        })
    });
    let _ = std::fs::remove_file(&staging);
    linked.map(|()| target)
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

/// The `app-secret` value of `account` as its table writes it (TOML text), so that a
/// reference (`{ env = ... }`, `{ file = ... }`, `{ credential = ... }`) is copied as a
/// reference rather than as the secret.
pub(super) fn app_secret_toml(settings: &Settings, account: &str) -> anyhow::Result<String> {
    let (path, table) = source_table(settings, account)?;
    match table.get("app-secret") {
        Some(value) => Ok(anchored(value.clone(), &path).to_string()),
        None => anyhow::bail!(
            "account {account} in {} has no app-secret of its own; give it one (e.g. \
             app-secret = {{ env = \"WHATSAPP_APP_SECRET\" }}) or pick another with --account-app",
            path.display()
        ),
    }
}

/// A `{ file = "relative" }` reference made absolute: relative paths resolve against the
/// directory of the file that holds them, and the new file lives elsewhere.
fn anchored(mut value: toml::Value, source: &Path) -> toml::Value {
    let base = source.parent().unwrap_or(Path::new(""));
    if let Some(file) = value.get_mut("file")
        && let Some(relative) = file.as_str().filter(|p| Path::new(p).is_relative())
    {
        let joined = base.join(relative);
        let absolute = std::path::absolute(&joined).unwrap_or(joined);
        *file = toml::Value::String(absolute.display().to_string());
    }
    value
}

/// The TOML table that defines `account`: its account file, or its `[[account]]` table.
fn source_table(settings: &Settings, account: &str) -> anyhow::Result<(PathBuf, toml::Table)> {
    if let Some(path) = settings.account_files.sources.get(account) {
        return Ok((path.clone(), read_table(path)?));
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
    Ok((path, table))
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
            .filter(with_app)
            .find(|a| a.name == wanted)
            .with_context(|| {
                format!("--account-app {wanted}: no configured account of that name with an app-id and app-secret")
            });
    }
    let candidates: Vec<&AccountSettings> = settings.accounts.iter().filter(with_app).collect();
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

    fn file<'a>(name: &'a str) -> AccountFile<'a> {
        AccountFile {
            name,
            app_id: "123",
            app_secret_toml: "{ env = \"APP_SECRET\" }",
            phone_number_id: "456",
            waba_id: "789",
        }
    }

    #[test]
    fn the_file_is_private_and_never_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = create(dir.path(), &file("shop")).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("token-kind = \"business\""), "{text}");
        assert!(
            text.contains("app-secret = { env = \"APP_SECRET\" }"),
            "{text}"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let err = create(dir.path(), &file("shop")).unwrap_err().to_string();
        assert!(err.contains("already exists"), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "the staging file is removed");
    }

    #[test]
    fn a_relative_secret_file_keeps_pointing_at_the_same_file() {
        let value: toml::Value = toml::from_str::<toml::Table>("s = { file = \"app.secret\" }")
            .unwrap()
            .remove("s")
            .unwrap();
        let moved = anchored(value, Path::new("/etc/tokentop/config.toml"));
        assert_eq!(moved.to_string(), "{ file = \"/etc/tokentop/app.secret\" }");
        let env = toml::Value::Table(toml::Table::from_iter([(
            "env".to_string(),
            toml::Value::String("X".to_string()),
        )]));
        assert_eq!(anchored(env.clone(), Path::new("/a/b.toml")), env);
    }
}
