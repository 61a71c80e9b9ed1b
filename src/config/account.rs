//! `[[account]]` tables and their `[account.test-message]`.

use std::collections::HashMap;
use std::ops::Range;
use std::time::Duration;

use toml::de::DeTable;

use super::issues::Invalid;
use super::reader::Ctx;
use super::secrets::secret;
use super::settings::{AccountSettings, TestMessageSettings};
use super::values;

const ACCOUNT_KEYS: &[&str] = &[
    "name",
    "app-id",
    "app-secret",
    "access-token",
    "long-lived-token",
    "phone-number-id",
    "business-account-id",
    "env-file",
    "on-refresh",
    "on-refresh-timeout",
    "test-message",
];
const TEST_MESSAGE_KEYS: &[&str] = &["to", "template", "language", "text"];
const PATH: &str = "account";

/// Default time limit of an `on-refresh` command.
pub(crate) const DEFAULT_ON_REFRESH_TIMEOUT: Duration = Duration::from_secs(30);

/// WhatsApp's limit on the body of a text message.
const MAX_TEXT_CHARS: usize = 4096;

/// Every `[[account]]` of the file, checked; names must be unique.
pub(crate) fn accounts(ctx: &mut Ctx<'_>, root: &DeTable<'_>) -> Vec<AccountSettings> {
    let mut first_line_of_name: HashMap<String, usize> = HashMap::new();
    let mut accounts = Vec::new();
    for (table, span) in ctx.array_of_tables(root, PATH) {
        let account = account(ctx, table, &span);
        if let Some(item) = table.get("name").filter(|_| !account.name.is_empty()) {
            let line = ctx.line(&item.span());
            if let Some(first_line) = first_line_of_name.get(&account.name) {
                let problem = format!("duplicate account name (first used on line {first_line})");
                let invalid = Invalid::new(problem, "a name no other [[account]] uses");
                let shown = Some(ctx.shown(item));
                ctx.issue(&item.span(), "account.name".to_string(), shown, invalid);
            } else {
                first_line_of_name.insert(account.name.clone(), line);
            }
        }
        accounts.push(account);
    }
    accounts
}

fn account(ctx: &mut Ctx<'_>, table: &DeTable<'_>, span: &Range<usize>) -> AccountSettings {
    ctx.check_keys(table, PATH, "[[account]]", ACCOUNT_KEYS);
    if !table.contains_key("name") {
        ctx.missing(
            span,
            PATH,
            "name",
            "1 to 32 characters from A-Z, a-z, 0-9, _ and -",
        );
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
        env_file: ctx
            .checked(table, PATH, "env-file", values::non_empty)
            .map(|path| ctx.resolve(&path)),
        on_refresh: ctx.argv(table, PATH, "on-refresh"),
        on_refresh_timeout: ctx
            .checked(table, PATH, "on-refresh-timeout", timeout)
            .unwrap_or(DEFAULT_ON_REFRESH_TIMEOUT),
        test_message: test_message(ctx, table),
    }
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
