//! `tokentop onboard`: turn an Embedded Signup code into a running account (REFERENCE.md 14):
//! exchange the code, inspect the business token, find the WABA and phone number, store the
//! token and write the account file into `[accounts] dir` (or, with `[accounts] source =
//! "redis"`, as the account's entry in Redis, which every member picks up at once).
//!
//! The code is a secret (it buys the customer's token): it is never logged, printed or
//! quoted in an error.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use secrecy::SecretString;
use serde_json::json;

use super::account_store::AccountStore;
use super::common::load_settings;
use super::onboard_file::{AccountFile, app_account, app_secret_toml, source_table};
use crate::cli::{GlobalArgs, OnboardArgs};
use crate::cluster::account_entries::Added;
use crate::config::{Settings, TokenKind};
use crate::engine::store::new_token::{new_token_expiry, vet_new_token};
use crate::engine::token_class::classify;
use crate::format::format_unix;
use crate::graph::{AppCredentials, GraphClient, WabaPhone, whatsapp_target_ids};

/// Longest code read from stdin: Meta's codes are a few hundred characters.
const MAX_CODE_BYTES: u64 = 4096;

/// What was found and written, as printed.
struct Onboarded {
    name: String,
    /// The account file, or `redis:{key}/{name}`.
    file: PathBuf,
    /// What a running daemon does with it.
    pickup: &'static str,
    class: &'static str,
    expires_at: Option<i64>,
    waba_id: String,
    phone: WabaPhone,
}

pub async fn run(global: &GlobalArgs, args: &OnboardArgs) -> anyhow::Result<ExitCode> {
    let settings = load_settings(global)?;
    let _guard = crate::logging::init(
        &settings.data_dir,
        crate::logging::Console::Stderr { verbose: false },
    );
    match onboard(&settings, args).await {
        Ok(done) => {
            print(&done, args.json);
            Ok(ExitCode::SUCCESS)
        }
        Err(err) => {
            eprintln!("tokentop onboard: {err:#}");
            Ok(ExitCode::FAILURE)
        }
    }
}

async fn onboard(settings: &Settings, args: &OnboardArgs) -> anyhow::Result<Onboarded> {
    let store = AccountStore::of(settings)?.context(
        "onboarding writes one file per account: add `[accounts]` with `dir = \"accounts.d\"` \
         to the config file (and create the directory), or `source = \"redis\"` beside \
         [cluster], first",
    )?;
    if let Some(name) = &args.name {
        check_name_free(settings, &store, name).await?;
    }
    let source = app_account(settings, args.account_app.as_deref())?;
    let source_table = source_table(settings, &store, &source.name).await?;
    let secret_toml = app_secret_toml(&source_table, &source.name)?;
    let app = AppCredentials {
        // `app_account` only returns accounts with both.
        app_id: source.app_id.clone().unwrap_or_default(),
        app_secret: source.app_secret.clone().unwrap_or_default(),
    };
    let code = read_code(&args.code)?;
    let client = GraphClient::new(&settings.graph).context("cannot set up the Graph API client")?;
    let exchanged = client.exchange_code(&app, &code).await.map_err(|err| {
        anyhow::anyhow!(
            "Meta refused the code: {err}\n  what to do: a code works once and for about 30 \
             seconds; have the customer run Embedded Signup again and exchange the new code at once"
        )
    })?;
    let token = exchanged.access_token;
    let now = chrono::Utc::now().timestamp();
    let inspected = client.debug_token(&app, &token).await;
    let info = vet_new_token(&app.app_id, &token, inspected)
        .map_err(|err| anyhow::anyhow!("the new token failed inspection: {}", err.message))?;
    let expires_at = new_token_expiry(&info, exchanged.expires_in_secs, now);
    let waba_id = choose_waba(&whatsapp_target_ids(&info), args.waba.as_deref())?;
    let phones = client
        .waba_phone_numbers(&app, &token, &waba_id)
        .await
        .with_context(|| format!("cannot list the phone numbers of WABA {waba_id}"))?;
    let phone = choose_phone(&phones, &waba_id, args.phone.as_deref())?;
    let name = match &args.name {
        Some(name) => name.clone(),
        None => {
            let name = format!("wa-{}", phone.id);
            check_name_free(settings, &store, &name).await?;
            name
        }
    };
    super::exchange::store(settings, &name, None, &token, expires_at, now).await?;
    let text = AccountFile {
        name: &name,
        app_id: &app.app_id,
        app_secret_toml: &secret_toml,
        phone_number_id: &phone.id,
        waba_id: &waba_id,
    }
    .text();
    let file = store.place(&name);
    if store.write(&name, &text, false).await? == Added::Exists {
        anyhow::bail!("{}", taken(&file));
    }
    Ok(Onboarded {
        name,
        file,
        pickup: store.pickup_note(),
        class: classify(Some(&info), Some(TokenKind::Business)).word(),
        expires_at,
        waba_id,
        phone,
    })
}

/// Refuses a name that is invalid or already an account (ignoring case, as the config does),
/// before anything is stored under it.
async fn check_name_free(
    settings: &Settings,
    store: &AccountStore,
    name: &str,
) -> anyhow::Result<()> {
    crate::config::account_name(name).map_err(|_| {
        anyhow::anyhow!(
            "--name {name:?} is not a valid account name: {}",
            crate::config::ACCOUNT_NAME_ALLOWED
        )
    })?;
    if let Some(taken) = settings
        .accounts
        .iter()
        .find(|a| a.name.eq_ignore_ascii_case(name))
    {
        anyhow::bail!(
            "an account named {} already exists: choose another --name",
            taken.name
        );
    }
    if store.exists(name).await? {
        anyhow::bail!("{}", taken(&store.place(name)));
    }
    Ok(())
}

fn taken(place: &std::path::Path) -> String {
    format!(
        "{} already exists: choose another --name (onboarding never replaces an account)",
        place.display()
    )
}

/// The code from the argument, or from stdin's first line when it is `-`.
fn read_code(given: &str) -> anyhow::Result<SecretString> {
    let text = if given == "-" {
        if std::io::stdin().is_terminal() {
            eprint!("Embedded Signup code: ");
        }
        super::exchange::read_capped_line(std::io::stdin().lock(), MAX_CODE_BYTES).map_err(
            |_| {
                anyhow::anyhow!(
                    "cannot read the code from stdin (one line, at most {MAX_CODE_BYTES} bytes)"
                )
            },
        )?
    } else {
        given.to_string()
    };
    let code = text.trim();
    if code.is_empty() {
        anyhow::bail!("the code is empty");
    }
    // The code travels in a query string: refuse what is not one plain word rather than
    // quoting it back.
    if !code.chars().all(|c| c.is_ascii_graphic()) {
        anyhow::bail!("the code is not a code (it holds spaces or control characters)");
    }
    Ok(SecretString::from(code.to_string()))
}

/// The WABA to onboard: the only one the token covers, or `--waba` among several.
fn choose_waba(ids: &[String], wanted: Option<&str>) -> anyhow::Result<String> {
    match (wanted, ids) {
        (Some(wanted), ids) if ids.is_empty() || ids.iter().any(|id| id == wanted) => {
            Ok(wanted.to_string())
        }
        (Some(wanted), ids) => anyhow::bail!(
            "--waba {wanted} is not among the WABAs the token covers: {}",
            ids.join(", ")
        ),
        (None, [only]) => Ok(only.clone()),
        (None, []) => anyhow::bail!(
            "the token's debug_token names no WhatsApp Business Account (no target_ids): pass \
             --waba with the id from the Embedded Signup session"
        ),
        (None, ids) => anyhow::bail!(
            "the token covers several WhatsApp Business Accounts; choose one with --waba: {}",
            ids.join(", ")
        ),
    }
}

/// The phone number to onboard: the WABA's only one, or `--phone` among several.
fn choose_phone(
    phones: &[WabaPhone],
    waba_id: &str,
    wanted: Option<&str>,
) -> anyhow::Result<WabaPhone> {
    let listed = || {
        phones
            .iter()
            .map(|p| match &p.display_phone_number {
                Some(shown) => format!("{} ({shown})", p.id),
                None => p.id.clone(),
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    match (wanted, phones) {
        (_, []) => anyhow::bail!(
            "WABA {waba_id} has no phone number yet: add one in WhatsApp Manager, then run \
             Embedded Signup again"
        ),
        (Some(wanted), phones) => phones
            .iter()
            .find(|p| p.id == wanted)
            .cloned()
            .with_context(|| {
                format!(
                    "--phone {wanted} is not a number of WABA {waba_id}: {}",
                    listed()
                )
            }),
        (None, [only]) => Ok(only.clone()),
        (None, _) => anyhow::bail!(
            "WABA {waba_id} has several phone numbers; choose one with --phone: {}",
            listed()
        ),
    }
}

fn print(done: &Onboarded, as_json: bool) {
    let expires = done
        .expires_at
        .map_or_else(|| "never".to_string(), format_unix);
    let display = done.phone.display_phone_number.as_deref().unwrap_or("");
    if as_json {
        let value = json!({
            "account": done.name,
            "file": done.file,
            "class": done.class,
            "expires_at": done.expires_at,
            "waba_id": done.waba_id,
            "phone_number_id": done.phone.id,
            "display_phone_number": display,
        });
        say(format_args!("{value}"));
        return;
    }
    say(format_args!("account {}: onboarded", done.name));
    say(format_args!(
        "  token class: {} (expires {expires})",
        done.class
    ));
    say(format_args!("  WABA: {}", done.waba_id));
    say(format_args!("  phone number: {} {display}", done.phone.id));
    say(format_args!("  account file: {}", done.file.display()));
    say(format_args!(
        "  the token is in tokentop's store; {}",
        done.pickup
    ));
}

/// One line on stdout; a closed stdout is ignored (the exit status tells the outcome).
fn say(line: std::fmt::Arguments<'_>) {
    let _ = super::stdout::line(line);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn several_wabas_need_a_choice_among_them() {
        let both = ids(&["11", "22"]);
        let err = choose_waba(&both, None).unwrap_err().to_string();
        assert!(err.contains("11, 22") && err.contains("--waba"), "{err}");
        assert_eq!(choose_waba(&both, Some("22")).unwrap(), "22");
        assert!(choose_waba(&both, Some("33")).is_err());
        assert_eq!(choose_waba(&ids(&["11"]), None).unwrap(), "11");
        assert!(choose_waba(&[], None).is_err());
    }

    #[test]
    fn several_phones_are_listed_with_their_numbers() {
        let phone = |id: &str, shown: &str| WabaPhone {
            id: id.to_string(),
            display_phone_number: Some(shown.to_string()),
            verified_name: None,
        };
        let phones = [phone("1", "+1 555"), phone("2", "+1 556")];
        let err = choose_phone(&phones, "9", None).unwrap_err().to_string();
        assert!(err.contains("1 (+1 555), 2 (+1 556)"), "{err}");
        assert_eq!(choose_phone(&phones, "9", Some("2")).unwrap().id, "2");
        assert!(choose_phone(&[], "9", None).is_err());
    }
}
