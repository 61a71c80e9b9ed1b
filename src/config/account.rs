//! `[[account]]` tables and their `[account.test-message]`.

use std::collections::HashMap;
use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;

use toml::de::DeTable;

use super::issues::Invalid;
use super::reader::Ctx;
use super::secrets::secret;
use super::settings::{
    AccountSettings, DEFAULT_TOKEN_FILE_MODE, TOKEN_FILE_MODES, TestMessageSettings,
};
use super::values;

pub(crate) const ACCOUNT_KEYS: &[&str] = &[
    "name",
    "app-id",
    "app-secret",
    "access-token",
    "long-lived-token",
    "phone-number-id",
    "business-account-id",
    "env-file",
    "token-file",
    "token-file-mode",
    "on-refresh",
    "on-refresh-timeout",
    "on-refresh-env",
    "on-publish-signal",
    "on-publish-restart",
    "on-publish-timeout",
    "test-message",
    // account_profile.rs:
    "token-kind",
    "purpose",
    "labels",
];
pub(crate) const TEST_MESSAGE_KEYS: &[&str] = &["to", "template", "language", "text"];
const PATH: &str = "account";

/// Default time limit of an `on-refresh` command.
pub(crate) const DEFAULT_ON_REFRESH_TIMEOUT: Duration = Duration::from_secs(30);

/// WhatsApp's limit on the body of a text message.
const MAX_TEXT_CHARS: usize = 4096;

/// Every `[[account]]` of the file, checked; names must be unique, also ignoring case (the
/// store files `tokens/prod.json` and `tokens/PROD.json` are one file on some filesystems).
pub(crate) fn accounts(ctx: &mut Ctx<'_>, root: &DeTable<'_>) -> Vec<AccountSettings> {
    // Lower-cased name -> (line, name as written) of its first use.
    let mut first_use: HashMap<String, (usize, String)> = HashMap::new();
    let mut accounts = Vec::new();
    for (table, span) in ctx.array_of_tables(root, PATH) {
        let account = account(ctx, table, &span);
        if let Some(item) = table.get("name").filter(|_| !account.name.is_empty()) {
            let line = ctx.line(&item.span());
            if let Some((first_line, first_name)) = first_use.get(&account.name.to_lowercase()) {
                let problem = if *first_name == account.name {
                    format!("duplicate account name (first used on line {first_line})")
                } else {
                    format!(
                        "account name differs only by case from {first_name:?} on line {first_line}"
                    )
                };
                let invalid =
                    Invalid::new(problem, "a name no other [[account]] uses, ignoring case");
                let shown = Some(ctx.shown(item));
                ctx.issue(&item.span(), "account.name".to_string(), shown, invalid);
            } else {
                first_use.insert(account.name.to_lowercase(), (line, account.name.clone()));
            }
        }
        accounts.push(account);
    }
    accounts
}

/// One account's table: an `[[account]]` or an account file's top level (`accounts_dir.rs`).
pub(crate) fn account(
    ctx: &mut Ctx<'_>,
    table: &DeTable<'_>,
    span: &Range<usize>,
) -> AccountSettings {
    ctx.check_keys(table, PATH, "[[account]]", ACCOUNT_KEYS);
    if !table.contains_key("name") {
        ctx.missing(span, PATH, "name", values::ACCOUNT_NAME_ALLOWED);
    }
    let timeout =
        |text: &str| values::duration_in(text, Duration::from_secs(1), Duration::from_secs(600));
    AccountSettings {
        name: ctx
            .checked(table, PATH, "name", values::account_name)
            .unwrap_or_default(),
        app_id: ctx.id(table, PATH, "app-id", values::digits_id),
        app_secret: secret(ctx, table, PATH, "app-secret"),
        access_token: secret(ctx, table, PATH, "access-token"),
        long_lived_token: secret(ctx, table, PATH, "long-lived-token"),
        phone_number_id: ctx.id(table, PATH, "phone-number-id", values::digits_id),
        business_account_id: ctx.id(table, PATH, "business-account-id", values::digits_id),
        env_file: publish_file(ctx, table, "env-file"),
        token_file: publish_file(ctx, table, "token-file"),
        token_file_mode: ctx
            .checked(table, PATH, "token-file-mode", token_file_mode)
            .unwrap_or(DEFAULT_TOKEN_FILE_MODE),
        on_refresh: ctx.argv(table, PATH, "on-refresh"),
        on_refresh_timeout: ctx
            .checked(table, PATH, "on-refresh-timeout", timeout)
            .unwrap_or(DEFAULT_ON_REFRESH_TIMEOUT),
        on_refresh_env: on_refresh_env(ctx, table),
        on_publish: super::on_publish::on_publish(ctx, table),
        test_message: test_message(ctx, table),
        profile: super::account_profile::profile(ctx, table, PATH),
    }
}

/// `env-file` or `token-file`: its directory must exist; tokentop never creates it (a typo in
/// the path would otherwise publish the token where nothing reads it).
fn publish_file(ctx: &mut Ctx<'_>, table: &DeTable<'_>, key: &str) -> Option<PathBuf> {
    let path = ctx
        .checked(table, PATH, key, values::non_empty)
        .map(|path| ctx.resolve(&path))?;
    let dir = path.parent().filter(|dir| !dir.as_os_str().is_empty())?;
    let problem = if !dir.is_dir() {
        format!(
            "the directory {} does not exist (tokentop does not create it)",
            dir.display()
        )
    } else {
        // Following symlinks, as the write does: a device, FIFO or socket there would be
        // replaced by a file holding the token.
        match std::fs::metadata(&path) {
            Ok(metadata) if !metadata.is_file() => format!(
                "{} is {}, not a regular file (tokentop replaces the file on every publish)",
                path.display(),
                super::capped_read::kind_of(&metadata)
            ),
            _ => return Some(path),
        }
    };
    let item = table.get(key)?;
    let shown = Some(ctx.shown(item));
    let invalid = Invalid::new(
        problem,
        "a regular file (or a new name) in an existing directory",
    );
    ctx.issue(&item.span(), format!("{PATH}.{key}"), shown, invalid);
    None
}

/// `token-file-mode = "0640"`: octal, as `chmod` takes it; never readable by others (the file
/// holds a live token).
fn token_file_mode(text: &str) -> Result<u32, Invalid> {
    let allowed = TOKEN_FILE_MODES
        .iter()
        .map(|mode| format!("\"{mode:04o}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let allowed = format!("one of {allowed}, as a string (never readable by others)");
    TOKEN_FILE_MODES
        .into_iter()
        .find(|mode| format!("{mode:04o}") == text.trim())
        .ok_or_else(|| {
            let problem = if text.trim().is_empty() {
                "no mode".to_string()
            } else {
                format!("mode {text:?} is not allowed for a file holding a token")
            };
            Invalid::new(problem, allowed)
        })
}

/// Variables tokentop sets for the hook itself, or that hold the secrets it must not see.
const NOT_PASSED: &[&str] = &[
    "TOKENTOP_ACCOUNT",
    "TOKENTOP_EXPIRES_AT",
    "WHATSAPP_APP_SECRET",
    "WHATSAPP_ACCESS_TOKEN",
    "WHATSAPP_REFRESH_TOKEN",
];

/// `on-refresh-env = ["AWS_PROFILE", ...]`: names of variables passed on to the hook.
fn on_refresh_env(ctx: &mut Ctx<'_>, table: &DeTable<'_>) -> Vec<String> {
    const ALLOWED: &str = "an array of environment variable names (letters, digits and _, not \
        starting with a digit), e.g. [\"AWS_PROFILE\", \"KUBECONFIG\"]; not the token \
        variables (the hook reads the new token on stdin) nor TOKENTOP_ACCOUNT/EXPIRES_AT";
    let Some(item) = table.get("on-refresh-env") else {
        return Vec::new();
    };
    let names: Option<Vec<String>> = super::reader::string_array(item)
        .map(|names| names.into_iter().map(str::to_string).collect());
    let bad = match &names {
        None => Some("not an array of strings".to_string()),
        Some(names) => names
            .iter()
            .find(|name| !is_env_name(name) || NOT_PASSED.contains(&name.as_str()))
            .map(|name| format!("{name:?} cannot be passed on")),
    };
    match (names, bad) {
        (Some(names), None) => names,
        (_, problem) => {
            let shown = Some(ctx.shown(item));
            let problem = problem.unwrap_or_default();
            let invalid = Invalid::new(problem, ALLOWED);
            ctx.issue(
                &item.span(),
                "account.on-refresh-env".to_string(),
                shown,
                invalid,
            );
            Vec::new()
        }
    }
}

fn is_env_name(name: &str) -> bool {
    name.len() <= 128
        && name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn test_message(ctx: &mut Ctx<'_>, account: &DeTable<'_>) -> TestMessageSettings {
    let mut message = TestMessageSettings::default();
    let Some((table, _)) = ctx.table(account, PATH, "test-message") else {
        return message;
    };
    let path = "account.test-message";
    ctx.check_keys(table, path, "[account.test-message]", TEST_MESSAGE_KEYS);
    message.to = ctx.id(table, path, "to", values::phone_number);
    if let Some(template) = ctx.checked(table, path, "template", template_name) {
        message.template = template;
    }
    if let Some(language) = ctx.checked(table, path, "language", values::non_empty) {
        message.language = language;
    }
    message.text = ctx.checked(table, path, "text", message_text);
    message
}

/// Template names are lower-case words joined by underscores in WhatsApp Manager.
fn template_name(text: &str) -> Result<String, Invalid> {
    let valid = !text.is_empty()
        && text.len() <= 512
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if valid {
        Ok(text.to_string())
    } else {
        Err(Invalid::new(
            "not a template name",
            "lower-case letters, digits and _, e.g. \"hello_world\"",
        ))
    }
}

fn message_text(text: &str) -> Result<String, Invalid> {
    let chars = text.chars().count();
    if text.trim().is_empty() || chars > MAX_TEXT_CHARS {
        Err(Invalid::new(
            format!("text of {chars} characters"),
            format!("1 to {MAX_TEXT_CHARS} characters"),
        ))
    } else {
        Ok(text.to_string())
    }
}
