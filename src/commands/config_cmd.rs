//! `tokentop config check|path|init`: validate, locate or create the config file.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

use super::stdout;
use crate::cli::{ConfigCommand, GlobalArgs};
use crate::config::{self, AccountSettings, EXAMPLE_CONFIG, EnvSnapshot, Overrides, Settings};
use crate::mask::mask;

/// Runs one `config` subcommand with the global flags and the process environment.
pub async fn run(global: &GlobalArgs, command: &ConfigCommand) -> anyhow::Result<ExitCode> {
    let overrides = Overrides {
        config: global.config.clone(),
        data_dir: global.data_dir.clone(),
        graph_url: global.graph_url.clone(),
    };
    let env = EnvSnapshot::from_process();
    match command {
        ConfigCommand::Check => check(&overrides, &env),
        ConfigCommand::Path => path(&overrides, &env),
        ConfigCommand::Init => init(&overrides, &env),
    }
}

fn check(overrides: &Overrides, env: &EnvSnapshot) -> anyhow::Result<ExitCode> {
    match config::load(overrides, env) {
        Ok(settings) if !settings.account_files.invalid.is_empty() => {
            print_summary(&settings)?;
            let skipped = &settings.account_files.invalid;
            for issue in skipped.iter().flat_map(|file| &file.issues) {
                eprintln!("{issue}");
            }
            let count = skipped.len();
            let noun = if count == 1 { "file" } else { "files" };
            eprintln!("config check: {count} account {noun} skipped (the other accounts run)");
            Ok(ExitCode::FAILURE)
        }
        Ok(settings) => {
            print_summary(&settings)?;
            stdout::line("config ok")?;
            Ok(ExitCode::SUCCESS)
        }
        Err(errors) => {
            for issue in &errors.issues {
                eprintln!("{issue}");
            }
            let count = errors.issues.len();
            let noun = if count == 1 { "problem" } else { "problems" };
            eprintln!("config check: {count} {noun} found");
            Ok(ExitCode::FAILURE)
        }
    }
}

fn print_summary(settings: &Settings) -> anyhow::Result<()> {
    match &settings.config_path {
        Some(path) => stdout::line(format_args!("config: {}", path.display()))?,
        None => stdout::line("config: none (built-in defaults and environment)")?,
    }
    stdout::line(format_args!("data: {}", settings.data_dir.display()))?;
    stdout::line(format_args!(
        "graph: {}/{}",
        crate::config::url_without_password(&settings.graph.base_url),
        settings.graph.version
    ))?;
    if settings.accounts.is_empty() {
        stdout::line("accounts: none (add an [[account]] or set WHATSAPP_* variables)")?;
    }
    if let Some(dir) = &settings.account_files.dir {
        stdout::line(format_args!("accounts dir: {}", dir.display()))?;
    }
    if let Some(key) = &settings.account_files.redis_key {
        stdout::line(format_args!("accounts from Redis: the hash {key}"))?;
    }
    // One write for the lot: 10,000 accounts are 10,000 lines.
    let mut lines = String::new();
    for account in &settings.accounts {
        lines.push_str(&account_line(account));
        lines.push('\n');
    }
    stdout::text(&lines)?;
    for file in &settings.account_files.invalid {
        stdout::line(format_args!(
            "account file skipped: {} ({} problems)",
            file.path.display(),
            file.issues.len()
        ))?;
    }
    Ok(())
}

/// One line per account: ids, masked tokens and what it still lacks.
fn account_line(account: &AccountSettings) -> String {
    let or_dash = |value: &Option<String>| value.clone().unwrap_or_else(|| "-".to_string());
    let access = account
        .access_token
        .as_ref()
        .map_or_else(|| "-".to_string(), mask);
    let long_lived = account
        .long_lived_token
        .as_ref()
        .map_or_else(|| "same as access token".to_string(), mask);
    let missing = missing_parts(account);
    let missing = if missing.is_empty() {
        "nothing".to_string()
    } else {
        missing.join(", ")
    };
    format!(
        "account {}: app-id {}, access-token {access}, long-lived-token {long_lived}, phone-number-id {}; missing: {missing}",
        account.name,
        or_dash(&account.app_id),
        or_dash(&account.phone_number_id),
    )
}

/// What the account needs for refreshes (app id, secret, a token) and for test sends.
fn missing_parts(account: &AccountSettings) -> Vec<&'static str> {
    let checks = [
        (account.app_id.is_none(), "app-id (needed to refresh)"),
        (
            account.app_secret.is_none(),
            "app-secret (needed to refresh)",
        ),
        (
            account.access_token.is_none() && account.long_lived_token.is_none(),
            "access-token",
        ),
        (
            account.phone_number_id.is_none(),
            "phone-number-id (needed to send)",
        ),
        (
            account.test_message.to.is_none(),
            "test-message.to (needed for test sends)",
        ),
    ];
    checks
        .into_iter()
        .filter_map(|(is_missing, what)| is_missing.then_some(what))
        .collect()
}

fn path(overrides: &Overrides, env: &EnvSnapshot) -> anyhow::Result<ExitCode> {
    match config::discover_config_path(overrides, env) {
        Some(path) => {
            let state = if path.exists() { "exists" } else { "not found" };
            stdout::line(format_args!("config: {} ({state})", path.display()))?;
        }
        None => stdout::line("config: none (no home directory; use --config or TOKENTOP_CONFIG)")?,
    }
    stdout::line(format_args!(
        "data: {}",
        config::discover_data_dir(overrides, env).display()
    ))?;
    Ok(ExitCode::SUCCESS)
}

fn init(overrides: &Overrides, env: &EnvSnapshot) -> anyhow::Result<ExitCode> {
    let Some(path) = config::discover_config_path(overrides, env) else {
        eprintln!("tokentop: no home directory to put the config in; pass --config PATH");
        return Ok(ExitCode::FAILURE);
    };
    if path.exists() {
        eprintln!(
            "tokentop: {} already exists; not overwriting it (edit it, or remove it first)",
            path.display()
        );
        return Ok(ExitCode::FAILURE);
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    match write_new_private(&path, EXAMPLE_CONFIG) {
        Ok(()) => {
            // The file is written: a closed stdout must not turn that into a failure.
            let told = stdout::line(format_args!("wrote {}", path.display()))
                .and_then(|()| stdout::line("edit it, then run `tokentop config check`"));
            match told {
                Err(err) if !stdout::is_closed(&err) => Err(err),
                _ => Ok(ExitCode::SUCCESS),
            }
        }
        // Lost a race with another writer: still never overwrite.
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
            eprintln!(
                "tokentop: {} already exists; not overwriting it",
                path.display()
            );
            Ok(ExitCode::FAILURE)
        }
        Err(err) => Err(err).with_context(|| format!("cannot write {}", path.display())),
    }
}

/// Creates `path` (failing if it exists) readable by the owner only, since it may later hold
/// plain secrets.
fn write_new_private(path: &Path, text: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}
