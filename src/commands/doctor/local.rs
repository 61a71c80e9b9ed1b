//! The steps that need no network: the config file, the secrets it names, and the places a
//! new token is published to.

use std::path::{Path, PathBuf};

use secrecy::SecretString;

use super::report::Outcome;
use crate::config::{AccountSettings, CheckedConfig, ConfigIssue, Settings};
use crate::mask::mask;

/// The config's problems, split between the steps they belong to.
pub struct Attributed {
    /// Problems of the config step (syntax, unknown keys, bad values).
    pub general: Vec<ConfigIssue>,
    /// Secret and publish-path problems, with the index of the account they are in.
    pub by_account: Vec<(Option<usize>, ConfigIssue)>,
}

/// Which step a config problem belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    General,
    Secret,
    Publish,
}

pub fn kind(issue: &ConfigIssue) -> Kind {
    match issue.key.as_str() {
        "account.app-secret" | "account.access-token" | "account.long-lived-token" => Kind::Secret,
        "account.env-file" | "account.token-file" => Kind::Publish,
        _ => Kind::General,
    }
}

/// Splits the problems: an account's secret or publish-path problem goes to that account's
/// step, everything else to the config step.
pub fn attribute(checked: &CheckedConfig) -> Attributed {
    let mut attributed = Attributed {
        general: Vec::new(),
        by_account: Vec::new(),
    };
    let count = checked.settings.accounts.len();
    // A skipped account file is the config step's: its problems name the file and line.
    let skipped = checked.settings.account_files.invalid.iter();
    attributed
        .general
        .extend(skipped.flat_map(|file| file.issues.iter().cloned()));
    for issue in &checked.issues {
        let index = account_of(issue, &checked.account_lines, count);
        match (kind(issue), index) {
            (Kind::General, _) | (_, None) => attributed.general.push(issue.clone()),
            (_, index) => attributed.by_account.push((index, issue.clone())),
        }
    }
    attributed
}

/// The account whose `[[account]]` table holds the problem's line.
fn account_of(issue: &ConfigIssue, account_lines: &[usize], count: usize) -> Option<usize> {
    match issue.line {
        Some(line) if !account_lines.is_empty() => account_lines
            .partition_point(|start| *start <= line)
            .checked_sub(1)
            .filter(|index| *index < count),
        _ if count == 1 => Some(0),
        _ => None,
    }
}

/// Every secret of the settings, to be masked in any line that would show one.
pub fn all_secrets(settings: &Settings) -> Vec<SecretString> {
    let accounts = settings.accounts.iter().flat_map(|account| {
        [
            &account.app_secret,
            &account.access_token,
            &account.long_lived_token,
        ]
    });
    let others = [
        &settings.serve.bearer_token,
        &settings.proxy.client_token,
        &settings.webhook.verify_token,
        &settings.cluster.redis_url,
    ];
    accounts
        .chain(others)
        .filter_map(|secret| secret.clone())
        .collect()
}

/// Step 1: the whole file (and environment) loads.
pub fn config_step(checked: &CheckedConfig, issues: &Attributed) -> Outcome {
    let settings = &checked.settings;
    let place = settings.config_path.as_ref().map_or_else(
        || "no config file (built-in defaults and WHATSAPP_* variables)".to_string(),
        |path| path.display().to_string(),
    );
    if !issues.general.is_empty() {
        let count = issues.general.len();
        let noun = if count == 1 { "problem" } else { "problems" };
        let source = settings.config_path.as_ref().map_or_else(
            || "the configuration".to_string(),
            |path| path.display().to_string(),
        );
        let mut found = format!("{count} {noun} in {source}");
        for issue in &issues.general {
            found.push_str(&format!("\n{issue}"));
        }
        return Outcome::fail(
            found,
            "fix each line above (the file, or the variable it names), then run `tokentop config check`",
        );
    }
    if settings.accounts.is_empty() {
        return Outcome::fail(
            format!("{place}: no accounts configured"),
            "add an [[account]] (see `tokentop config init`) or set WHATSAPP_APP_ID, \
             WHATSAPP_APP_SECRET and WHATSAPP_ACCESS_TOKEN",
        );
    }
    let names: Vec<&str> = settings.accounts.iter().map(|a| a.name.as_str()).collect();
    let noun = if names.len() == 1 {
        "account"
    } else {
        "accounts"
    };
    Outcome::pass(format!(
        "{place} loads: {} {noun} ({})",
        names.len(),
        names.join(", ")
    ))
}

/// Step 2: the account's secrets are present and readable.
pub fn secrets_step(account: &AccountSettings, issues: &[&ConfigIssue]) -> Outcome {
    let problems: Vec<String> = issues
        .iter()
        .filter(|issue| kind(issue) == Kind::Secret)
        .map(|issue| issue.to_string())
        .collect();
    if !problems.is_empty() {
        return Outcome::fail(
            problems.join("\n"),
            "set the variable, file or credential each line names (as the service's \
             environment has it), then run `tokentop doctor` again",
        );
    }
    let missing = missing(account);
    if !missing.is_empty() {
        return Outcome::fail(
            format!("not configured: {}", missing.join(", ")),
            "add them to the [[account]] (app-id and app-secret are in Meta App Dashboard > \
             Settings > Basic; secrets as { env = \"NAME\" }), or set WHATSAPP_* variables",
        );
    }
    Outcome::pass(present(account))
}

fn missing(account: &AccountSettings) -> Vec<&'static str> {
    let checks = [
        (account.app_id.is_none(), "app-id"),
        (account.app_secret.is_none(), "app-secret"),
        (
            account.access_token.is_none() && account.long_lived_token.is_none(),
            "access-token",
        ),
    ];
    checks
        .into_iter()
        .filter_map(|(is_missing, what)| is_missing.then_some(what))
        .collect()
}

fn present(account: &AccountSettings) -> String {
    let token = |secret: &Option<SecretString>| secret.as_ref().map(mask);
    let mut parts = vec![
        format!("app-id {}", account.app_id.as_deref().unwrap_or("-")),
        "app-secret set".to_string(),
    ];
    if let Some(access) = token(&account.access_token) {
        parts.push(format!("access-token {access}"));
    }
    match token(&account.long_lived_token) {
        Some(long_lived) => parts.push(format!("long-lived-token {long_lived}")),
        None => parts.push("no separate long-lived-token".to_string()),
    }
    parts.join(", ")
}

/// Step 9: env-file and token-file directories take a new file; the hook's program exists.
pub fn publish_step(account: &AccountSettings, issues: &[&ConfigIssue]) -> Outcome {
    let mut found = Vec::new();
    let mut todo = Vec::new();
    for issue in issues.iter().filter(|issue| kind(issue) == Kind::Publish) {
        found.push(issue.to_string());
        todo.push("create the directory (tokentop never creates it) or correct the path");
    }
    let files = [
        ("env-file", &account.env_file),
        ("token-file", &account.token_file),
    ];
    for (key, path) in files {
        let Some(path) = path else { continue };
        match writable_dir(path) {
            Ok(dir) => found.push(format!("{key} directory {dir} is writable")),
            Err(problem) => {
                found.push(format!("{key} {}: {problem}", path.display()));
                todo.push("fix the directory's owner or mode so the user tokentop runs as can create files in it");
            }
        }
    }
    if let Some(argv) = &account.on_refresh {
        let program = argv.first().map(String::as_str).unwrap_or_default();
        match find_program(program) {
            Ok(path) => found.push(format!(
                "on-refresh program {} is executable (not run: it would publish the current token)",
                path.display()
            )),
            Err(problem) => {
                found.push(format!("on-refresh program {program:?}: {problem}"));
                todo.push("install the program or correct on-refresh's first element (an absolute path is safest)");
            }
        }
    }
    if found.is_empty() {
        return Outcome::pass("nothing configured (no env-file, token-file or on-refresh)");
    }
    if todo.is_empty() {
        return Outcome::pass(found.join("; "));
    }
    todo.dedup();
    Outcome::fail(found.join("\n"), todo.join("; "))
}

/// Creates and removes a temporary file beside `path`; the directory's name, or why not.
fn writable_dir(path: &Path) -> Result<String, String> {
    let dir = path
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let shown = dir.display().to_string();
    if !dir.is_dir() {
        return Err(format!("the directory {shown} does not exist"));
    }
    tempfile::Builder::new()
        .prefix(".tokentop-doctor-")
        .tempfile_in(dir)
        .map(drop)
        .map(|()| shown.clone())
        .map_err(|err| format!("cannot create a file in {shown}: {err}"))
}

/// The program's path when it exists and is executable: as given when it has a `/`, else the
/// first match on PATH (the hook is started with tokentop's PATH).
fn find_program(program: &str) -> Result<PathBuf, String> {
    if program.contains('/') {
        let path = PathBuf::from(program);
        return executable(&path).map(|()| path);
    }
    let path_var = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path_var)
        .map(|dir| dir.join(program))
        .find(|candidate| executable(candidate).is_ok())
        .ok_or_else(|| "not found on PATH".to_string())
}

fn executable(path: &Path) -> Result<(), String> {
    let metadata = std::fs::metadata(path).map_err(|err| match err.kind() {
        std::io::ErrorKind::NotFound => "does not exist".to_string(),
        _ => format!("cannot be read: {err}"),
    })?;
    if !metadata.is_file() {
        return Err("is not a file".to_string());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if metadata.permissions().mode() & 0o111 == 0 {
            return Err("is not executable (chmod +x it)".to_string());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issue(key: &str, line: Option<usize>) -> ConfigIssue {
        ConfigIssue {
            file: None,
            line,
            key: key.to_string(),
            value: None,
            problem: "bad".to_string(),
            allowed: String::new(),
        }
    }

    #[test]
    fn problems_go_to_the_account_whose_table_holds_the_line() {
        let lines = [3, 10];
        assert_eq!(account_of(&issue("k", Some(2)), &lines, 2), None);
        assert_eq!(account_of(&issue("k", Some(5)), &lines, 2), Some(0));
        assert_eq!(account_of(&issue("k", Some(12)), &lines, 2), Some(1));
        assert_eq!(account_of(&issue("k", None), &[], 1), Some(0));
    }

    #[test]
    fn secret_and_path_keys_have_their_own_steps() {
        assert_eq!(kind(&issue("account.app-secret", None)), Kind::Secret);
        assert_eq!(kind(&issue("account.env-file", None)), Kind::Publish);
        assert_eq!(kind(&issue("refresh.check-interval", None)), Kind::General);
    }
}
