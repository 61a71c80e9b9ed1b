//! `tokentop exchange`: turn a short-lived token into a long-lived one, store it for an
//! account, and print the `WHATSAPP_*` lines (masked unless `--reveal`).
//!
//! The secret and the token are never taken from argv: env, a hidden prompt, or stdin.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::Context;
use secrecy::{ExposeSecret, SecretString};

use super::common::load_settings;
use crate::cli::{ExchangeArgs, GlobalArgs};
use crate::config::{AccountSettings, Settings};
use crate::engine::history::HistoryLog;
use crate::engine::history::cause::Cause;
use crate::engine::reauth_hint;
use crate::engine::store::new_token::{new_token_expiry, vet_new_token};
use crate::engine::store::token_write::{Committed, NewToken, TokenWrite};
use crate::engine::store::{TokenStore, fingerprint};
use crate::format::format_unix;
use crate::graph::{AppCredentials, GraphClient};
use crate::mask::mask;

pub async fn run(global: &GlobalArgs, args: &ExchangeArgs) -> anyhow::Result<ExitCode> {
    let settings = load_settings(global)?;
    let _guard = crate::logging::init(
        &settings.data_dir,
        crate::logging::Console::Stderr { verbose: false },
    );
    let configured = settings
        .accounts
        .iter()
        .find(|a| a.name == args.account)
        .map(AsRef::as_ref);
    let app = AppCredentials {
        app_id: app_id(args, configured)?,
        app_secret: app_secret(configured)?,
    };
    let short_lived = short_lived_token(args)?;
    let client = GraphClient::new(&settings.graph).context("cannot set up the Graph API client")?;
    let exchanged = match client.exchange(&app, &short_lived, args.system_user).await {
        Ok(exchanged) => exchanged,
        Err(err) => {
            eprintln!(
                "tokentop exchange: account {}: Meta refused the exchange: {err}",
                args.account
            );
            eprintln!(
                "  what to do: {}",
                reauth_hint(&args.account, args.system_user)
            );
            return Ok(ExitCode::FAILURE);
        }
    };
    let token = exchanged.access_token;
    let now = chrono::Utc::now().timestamp();
    let inspected = client.debug_token(&app, &token).await;
    let info = match vet_new_token(&app.app_id, &token, inspected) {
        Ok(info) => info,
        Err(err) => {
            eprintln!(
                "tokentop exchange: account {}: nothing was stored: {}",
                args.account, err.message
            );
            eprintln!(
                "  what to do: run the exchange again; if it keeps failing, mint a new token"
            );
            return Ok(ExitCode::FAILURE);
        }
    };
    let expires_at = new_token_expiry(&info, exchanged.expires_in_secs, now);
    store(
        &settings,
        &args.account,
        configured,
        &token,
        expires_at,
        now,
    )
    .await?;
    let kind = info.token_type.unwrap_or_else(|| "token".to_string());
    match expires_at {
        Some(at) => say(format_args!(
            "account {}: exchanged for a {kind} that expires {} (in {})",
            args.account,
            format_unix(at),
            super::common::format_left(at.saturating_sub(now))
        )),
        None => say(format_args!(
            "account {}: exchanged for a {kind} that does not expire",
            args.account
        )),
    }
    say(format_args!(
        "stored in {}",
        TokenStore::new(&settings.data_dir)
            .path_for(&args.account)
            .display()
    ));
    print_env_lines(&app.app_id, &token, args.reveal);
    Ok(ExitCode::SUCCESS)
}

/// The engine's storage protocol ([`TokenWrite`]), as a refresh runs it.
pub(super) async fn store(
    settings: &Settings,
    account: &str,
    configured: Option<&AccountSettings>,
    token: &SecretString,
    expires_at: Option<i64>,
    now: i64,
) -> anyhow::Result<()> {
    let coordinator = super::common::coordinator(settings)?;
    // No version known but the one re-read; an unreadable store is replaced: the exchanged
    // token is the one to keep.
    let mut write = TokenWrite::begin(coordinator.as_ref(), account, 0).await?;
    let configured_credential =
        configured.and_then(|a| a.long_lived_token.as_ref().or(a.access_token.as_ref()));
    let has_separate_long_lived = configured.is_some_and(|a| a.long_lived_token.is_some());
    let new = NewToken {
        token: token.clone(),
        expires_at,
        exchanged_at: now,
        long_lived: has_separate_long_lived.then(|| token.clone()),
        // The configured token is older than this one: the store wins at the next start.
        origin_fingerprint: configured_credential.map(fingerprint).unwrap_or_default(),
    };
    let row = match write.commit(new, Cause::Exchange, None).await {
        Committed::Stored { row, .. } => row,
        Committed::Deferred { row } => {
            say(format_args!(
                "{} is unreachable: the token is kept in {} and stored there when a tokentop daemon on this host reconnects",
                coordinator.backend(),
                settings.data_dir.display()
            ));
            row
        }
        Committed::Failed { error, .. } => return Err(error.into()),
        Committed::TakenOver { .. } => anyhow::bail!(
            "another tokentop process stored a token for {account} while this exchange ran; nothing was replaced (run `tokentop check {account}`)"
        ),
    };
    coordinator.record(&row);
    HistoryLog::new(&settings.data_dir).append(&row)?;
    // `write`, and with it the lease, is dropped here: after the row was recorded.
    Ok(())
}

fn print_env_lines(app_id: &str, token: &SecretString, reveal: bool) {
    let shown = if reveal {
        token.expose_secret().to_string()
    } else {
        mask(token)
    };
    say(format_args!("WHATSAPP_APP_ID={app_id}"));
    say(format_args!("WHATSAPP_ACCESS_TOKEN={shown}"));
    say(format_args!("WHATSAPP_REFRESH_TOKEN={shown}"));
    if !reveal {
        say(format_args!(
            "# values masked; pass --reveal to print them in full (they will be in your terminal scrollback)"
        ));
    }
}

fn app_id(args: &ExchangeArgs, configured: Option<&AccountSettings>) -> anyhow::Result<String> {
    if let Some(id) = args.app_id.clone().or_else(|| env_value("WHATSAPP_APP_ID")) {
        return Ok(id);
    }
    if let Some(id) = configured.and_then(|a| a.app_id.clone()) {
        return Ok(id);
    }
    let id = prompt_visible("Meta app id: ")?;
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
        anyhow::bail!("the app id must be digits, e.g. 634974688087057");
    }
    Ok(id)
}

fn app_secret(configured: Option<&AccountSettings>) -> anyhow::Result<SecretString> {
    if let Some(secret) = env_value("WHATSAPP_APP_SECRET") {
        return Ok(SecretString::from(secret));
    }
    if let Some(secret) = configured.and_then(|a| a.app_secret.clone()) {
        return Ok(secret);
    }
    if !std::io::stdin().is_terminal() {
        anyhow::bail!(
            "no app secret: set WHATSAPP_APP_SECRET, configure the account's app-secret, or run on a terminal to be asked"
        );
    }
    let secret = rpassword::prompt_password("Meta app secret (hidden): ")
        .context("cannot read the app secret")?;
    non_empty(secret, "app secret")
}

/// Longest line read from stdin for the token: far more than any token, far less than memory.
const MAX_STDIN_LINE_BYTES: u64 = 16 * 1024;

fn short_lived_token(args: &ExchangeArgs) -> anyhow::Result<SecretString> {
    if args.token_stdin || !std::io::stdin().is_terminal() {
        let line = read_capped_line(std::io::stdin().lock(), MAX_STDIN_LINE_BYTES)
            .context("cannot read the token from stdin")?;
        return token_from(line, "token on stdin");
    }
    let token = rpassword::prompt_password("Short-lived user token (hidden): ")
        .context("cannot read the token")?;
    token_from(token, "token")
}

/// The first line of `input`, refusing one longer than `max_bytes` instead of reading on.
pub(super) fn read_capped_line(input: impl BufRead, max_bytes: u64) -> anyhow::Result<String> {
    let mut bytes = Vec::new();
    input.take(max_bytes + 1).read_until(b'\n', &mut bytes)?;
    if bytes.len() as u64 > max_bytes {
        anyhow::bail!("the first line is longer than {max_bytes} bytes; a token is one short line");
    }
    String::from_utf8(bytes).map_err(|_| anyhow::anyhow!("the token is not valid UTF-8 text"))
}

/// A token typed or piped in: trimmed, non-empty and well-formed (the error never quotes it).
fn token_from(value: String, what: &str) -> anyhow::Result<SecretString> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        anyhow::bail!("the {what} is empty");
    }
    crate::graph::check_token_shape(trimmed)
        .map_err(|problem| anyhow::anyhow!("the {what} is not a token: {problem}"))?;
    Ok(SecretString::from(trimmed.to_string()))
}

fn non_empty(value: String, what: &str) -> anyhow::Result<SecretString> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        anyhow::bail!("the {what} is empty");
    }
    Ok(SecretString::from(trimmed.to_string()))
}

fn prompt_visible(question: &str) -> anyhow::Result<String> {
    if !std::io::stdin().is_terminal() {
        anyhow::bail!(
            "no app id: pass --app-id, set WHATSAPP_APP_ID, or run on a terminal to be asked"
        );
    }
    eprint!("{question}");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim().to_string())
}

fn env_value(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// One line of the report on stdout. A closed stdout (`| head`) is ignored: the command still
/// finishes its work and its exit status still tells the outcome.
fn say(line: std::fmt::Arguments<'_>) {
    let _ = super::stdout::line(line);
}
