//! Secret values (`"plain"`, `{ env = "NAME" }`, `{ file = "PATH" }`, `{ credential = "NAME" }`
//! from systemd's `$CREDENTIALS_DIRECTORY`) and the file-mode check
//! that refuses plain secrets in a config file others can read, the way ssh treats keys.

use std::path::Path;

use secrecy::SecretString;
use toml::de::{DeTable, DeValue};

use super::capped_read::{MAX_SECRET_FILE_BYTES, read_capped};
use super::credential;
use super::issues::{ConfigIssue, Invalid};
use super::reader::{Ctx, Item, PlainSecret, join};

/// Shown instead of a secret value in every message.
pub(super) const SECRET_SHOWN: &str = "<secret>";

const SECRET_FORMS: &str = "a string, { env = \"NAME\" } (an environment variable), { file = \"PATH\" } (a file's trimmed content) or { credential = \"NAME\" } (a systemd credential)";

/// Reads the secret at `key`, if present; problems are reported without the secret value.
pub(crate) fn secret(
    ctx: &mut Ctx<'_>,
    table: &DeTable<'_>,
    path: &str,
    key: &str,
) -> Option<SecretString> {
    let item = table.get(key)?;
    let full_key = join(path, key);
    match item.get_ref() {
        DeValue::String(text) if text.trim().is_empty() => {
            let invalid = Invalid::new("empty secret", SECRET_FORMS);
            ctx.issue(&item.span(), full_key, Some("\"\"".to_string()), invalid);
            None
        }
        DeValue::String(text) => {
            let line = ctx.line(&item.span());
            ctx.plain_secrets.push(PlainSecret {
                key: full_key,
                line,
            });
            Some(SecretString::from(text.trim().to_string()))
        }
        DeValue::Table(reference) => from_reference(ctx, reference, item, &full_key),
        other => {
            let invalid = Invalid::new(
                format!("expected a secret, found {}", other.type_str()),
                SECRET_FORMS,
            );
            ctx.issue(
                &item.span(),
                full_key,
                Some(SECRET_SHOWN.to_string()),
                invalid,
            );
            None
        }
    }
}

/// `{ env = "NAME" }`, `{ file = "PATH" }` or `{ credential = "NAME" }`: exactly one of them.
fn from_reference(
    ctx: &mut Ctx<'_>,
    reference: &DeTable<'_>,
    item: &Item<'_>,
    full_key: &str,
) -> Option<SecretString> {
    ctx.check_keys(
        reference,
        full_key,
        full_key,
        &["env", "file", "credential"],
    );
    let env_name = ctx.string(reference, full_key, "env");
    let file = ctx.string(reference, full_key, "file");
    let credential = ctx.string(reference, full_key, "credential");
    let shown = Some(shown_reference(
        env_name.as_deref(),
        file.as_deref(),
        credential.as_deref(),
    ));
    let result = match (env_name, file, credential) {
        (Some(name), None, None) => from_env(ctx, &name),
        (None, Some(file), None) => read_secret_file(&ctx.resolve(&file))
            .map_err(|problem| Invalid::new(problem, "a readable file holding only the secret")),
        (None, None, Some(name)) => credential::read(ctx.env, &name),
        _ => Err(Invalid::new(
            "needs exactly one of env, file or credential",
            SECRET_FORMS,
        )),
    };
    result
        .map_err(|invalid| ctx.issue(&item.span(), full_key.to_string(), shown, invalid))
        .ok()
}

/// The trimmed value of the variable `name`, which must look like a variable name.
fn from_env(ctx: &Ctx<'_>, name: &str) -> Result<SecretString, Invalid> {
    if !looks_like_variable_name(name) {
        let problem = "env must name an environment variable; this looks like a secret value \
                       (not shown), which belongs in that variable instead";
        let allowed = "a variable name such as \"WHATSAPP_ACCESS_TOKEN\"";
        return Err(Invalid::new(problem, allowed));
    }
    let value = ctx
        .env
        .get(name)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty());
    value.map(SecretString::from).ok_or_else(|| {
        let problem = format!("environment variable {name} is not set or empty");
        let allowed = format!("export {name}, or give the secret another way: {SECRET_FORMS}");
        Invalid::new(problem, allowed)
    })
}

/// The reference as written, rebuilt from its known parts so that nothing else in the inline
/// table (a misplaced token) is ever echoed.
fn shown_reference(env_name: Option<&str>, file: Option<&str>, credential: Option<&str>) -> String {
    let env_part = env_name.map(|name| {
        if looks_like_variable_name(name) {
            format!("env = {name:?}")
        } else {
            format!("env = {SECRET_SHOWN}")
        }
    });
    let file_part = file.map(|path| format!("file = {path:?}"));
    let credential_part =
        credential.map(|name| format!("credential = {}", credential::shown_name(name)));
    let parts: Vec<String> = env_part
        .into_iter()
        .chain(file_part)
        .chain(credential_part)
        .collect();
    if parts.is_empty() {
        return "{}".to_string();
    }
    format!("{{ {} }}", parts.join(", "))
}

/// Variable names are short identifiers; a long mixed-case or `EAA…` value is a token pasted
/// in the wrong place, and must not be repeated in a message.
fn looks_like_variable_name(name: &str) -> bool {
    let identifier = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    let upper = name.chars().all(|c| !c.is_ascii_lowercase());
    identifier && name.len() <= 64 && !name.starts_with("EAA") && (upper || name.len() < 20)
}

/// The trimmed content; the error names the path and the cause, never the content.
pub(super) fn read_secret_file(path: &Path) -> Result<SecretString, String> {
    let content = read_capped(path, MAX_SECRET_FILE_BYTES)
        .map_err(|err| format!("cannot read {}: {err}", path.display()))?;
    let trimmed = content.trim();
    if trimmed.is_empty() {
        return Err(format!("{} is empty", path.display()));
    }
    Ok(SecretString::from(trimmed.to_string()))
}

/// Refuses plain secrets in a file whose mode lets group or others in (mode & 0o077 != 0).
pub(crate) fn check_file_mode(file: &Path, plain_secrets: &[PlainSecret]) -> Vec<ConfigIssue> {
    if plain_secrets.is_empty() {
        return Vec::new();
    }
    let Ok(metadata) = std::fs::metadata(file) else {
        return Vec::new();
    };
    check_mode(file, &metadata, plain_secrets)
}

/// [`check_file_mode`] on the metadata of `file` at hand (from the file just read).
#[cfg(unix)]
pub(crate) fn check_mode(
    file: &Path,
    metadata: &std::fs::Metadata,
    plain_secrets: &[PlainSecret],
) -> Vec<ConfigIssue> {
    use std::os::unix::fs::PermissionsExt;

    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 == 0 {
        return Vec::new();
    }
    plain_secrets
        .iter()
        .map(|secret| {
            let short_key = secret.key.rsplit('.').next().unwrap_or(&secret.key);
            ConfigIssue {
                file: Some(file.to_path_buf()),
                line: Some(secret.line),
                key: secret.key.clone(),
                value: None,
                problem: format!(
                    "holds a plain {short_key} but the file is readable by group or others (mode {mode:04o}); \
                     fix: chmod 600 {}, or use {short_key} = {{ env = \"{}\" }}",
                    file.display(),
                    env_name_for(short_key),
                ),
                allowed: String::new(),
            }
        })
        .collect()
}

/// Other platforms have no group/other mode bits to check.
#[cfg(not(unix))]
pub(crate) fn check_mode(
    _file: &Path,
    _metadata: &std::fs::Metadata,
    _plain_secrets: &[PlainSecret],
) -> Vec<ConfigIssue> {
    Vec::new()
}

/// The conventional variable for each secret key, suggested in the fix.
#[cfg_attr(not(unix), allow(dead_code))]
fn env_name_for(key: &str) -> &'static str {
    match key {
        "app-secret" => "WHATSAPP_APP_SECRET",
        "long-lived-token" => "WHATSAPP_REFRESH_TOKEN",
        "redis-url" => "TOKENTOP_REDIS_URL",
        "client-token" => "TOKENTOP_PROXY_CLIENT_TOKEN",
        "bearer-token" => "TOKENTOP_SCRAPE_TOKEN",
        _ => "WHATSAPP_ACCESS_TOKEN",
    }
}
