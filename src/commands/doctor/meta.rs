//! Steps 4 to 8, asked of Meta: the app secret, the access and long-lived tokens, the phone
//! number and its webhooks.

use secrecy::SecretString;

use super::label;
use super::report::{Outcome, Report};
use crate::config::AccountSettings;
use crate::engine::reauth_hint;
use crate::format::{format_unix, left};
use crate::graph::{
    AppCredentials, ErrorClass, Expiry, GraphClient, GraphError, TokenInfo, WHATSAPP_SCOPES,
};

const WRONG_SECRET: &str = "the app secret is wrong or belongs to another app: check app-id/\
    app-secret in Meta App Dashboard > Settings > Basic";

const STEPS: [&str; 5] = [
    "app secret",
    "access token",
    "long-lived token",
    "phone number",
    "webhooks",
];

/// Prints steps 4 to 8 as skipped, each needing `needs`.
pub fn skip_all(report: &mut Report, account: &AccountSettings, needs: &str) -> anyhow::Result<()> {
    for step in STEPS {
        report.step(&label(step, account), &Outcome::skip(needs))?;
    }
    Ok(())
}

/// Steps 4 to 8 for one account whose secrets resolved.
pub async fn account_steps(
    report: &mut Report,
    client: &GraphClient,
    account: &AccountSettings,
) -> anyhow::Result<()> {
    let token = account
        .access_token
        .as_ref()
        .or(account.long_lived_token.as_ref());
    let (Some(app_id), Some(secret), Some(token)) = (&account.app_id, &account.app_secret, token)
    else {
        return skip_all(report, account, "the account's secrets");
    };
    let app = AppCredentials::new(app_id.clone(), secret.clone());
    let now = chrono::Utc::now().timestamp();
    let inspected = client.debug_token(&app, token).await;
    let app_ok = report.step(
        &label("app secret", account),
        &app_secret(&inspected, app_id),
    )?;
    let access = match (&account.access_token, &inspected) {
        (None, _) => {
            Outcome::pass("none configured: tokentop exchanges the long-lived token for one")
        }
        (Some(_), Ok(info)) => token_outcome(info, account, now),
        (Some(_), Err(_)) => Outcome::skip("the right app secret (debug_token uses the app token)"),
    };
    let access_usable = !matches!(access, Outcome::Fail { .. });
    report.step(&label("access token", account), &access)?;
    let long_lived = long_lived(client, &app, account, &inspected, now, app_ok).await;
    report.step(&label("long-lived token", account), &long_lived)?;
    phone_steps(report, client, &app, token, account, access_usable).await
}

/// Steps 7 and 8, with the access token (or the long-lived one when it is the only token).
async fn phone_steps(
    report: &mut Report,
    client: &GraphClient,
    app: &AppCredentials,
    token: &SecretString,
    account: &AccountSettings,
    token_usable: bool,
) -> anyhow::Result<()> {
    let (phone_label, webhooks_label) =
        (label("phone number", account), label("webhooks", account));
    let Some(phone_id) = &account.phone_number_id else {
        let none = Outcome::pass("no phone-number-id configured: nothing to check");
        report.step(&phone_label, &none)?;
        return report.step(&webhooks_label, &none).map(|_| ());
    };
    if !token_usable {
        let needs = Outcome::skip("a valid access token");
        report.step(&phone_label, &needs)?;
        return report.step(&webhooks_label, &needs).map(|_| ());
    }
    let (health, details) = tokio::join!(
        client.phone_health(app, token, phone_id),
        client.phone_details(app, token, phone_id)
    );
    let name_status = details.as_ref().ok().and_then(|d| d.name_status.clone());
    let health = health.map(|h| h.value);
    let phone = super::phone::phone_outcome(&health, name_status.as_deref(), account);
    report.step(&phone_label, &phone)?;
    let webhooks = if health.is_ok() {
        super::phone::webhooks_outcome(&details)
    } else {
        Outcome::skip("the phone number readable")
    };
    report.step(&webhooks_label, &webhooks).map(|_| ())
}

/// Step 4: the app token (app id | app secret) could inspect the token.
fn app_secret(inspected: &Result<TokenInfo, GraphError>, app_id: &str) -> Outcome {
    match inspected {
        Ok(_) => Outcome::pass(format!(
            "the app token of app {app_id} inspects tokens (debug_token answered)"
        )),
        Err(err) if err.class == ErrorClass::Transient || err.class == ErrorClass::RateLimited => {
            Outcome::fail(format!("debug_token failed: {err}"), retry_text())
        }
        Err(err) => Outcome::fail(format!("Meta refused the app token: {err}"), WRONG_SECRET),
    }
}

pub(super) fn retry_text() -> String {
    "Meta or the network failed for now: run `tokentop doctor` again in a minute; if it \
     persists, see https://metastatus.com"
        .to_string()
}

/// Step 6: the separate long-lived token, when there is one.
async fn long_lived(
    client: &GraphClient,
    app: &AppCredentials,
    account: &AccountSettings,
    inspected: &Result<TokenInfo, GraphError>,
    now: i64,
    app_ok: bool,
) -> Outcome {
    let Some(long_lived) = &account.long_lived_token else {
        return Outcome::pass("none configured: the access token is refreshed from itself");
    };
    if !app_ok {
        return Outcome::skip("the right app secret (debug_token uses the app token)");
    }
    let info = match (&account.access_token, inspected) {
        (None, Ok(info)) => Ok(info.clone()),
        _ => inspect(client, app, long_lived).await,
    };
    match info {
        Ok(info) => token_outcome(&info, account, now),
        Err(err) => Outcome::fail(format!("debug_token failed: {err}"), retry_text()),
    }
}

async fn inspect(
    client: &GraphClient,
    app: &AppCredentials,
    token: &SecretString,
) -> Result<TokenInfo, GraphError> {
    client.debug_token(app, token).await
}

/// Steps 5 and 6: valid, of this app, not expired, with the WhatsApp scopes.
fn token_outcome(info: &TokenInfo, account: &AccountSettings, now: i64) -> Outcome {
    let reauth = reauth_hint(&account.name, info.is_system_user());
    if !info.is_valid {
        let why = info
            .error
            .as_ref()
            .map_or_else(|| "no reason given".to_string(), dead_reason);
        let found = match info.expiry() {
            Expiry::At(at) if at <= now => format!("not valid, {}: {why}", left(at - now)),
            _ => format!("not valid: {why}"),
        };
        return Outcome::fail(found, reauth);
    }
    let app_id = account.app_id.as_deref().unwrap_or_default();
    if let Some(other) = info.app_id.as_deref().filter(|id| *id != app_id) {
        return Outcome::fail(
            format!("issued for app {other}, not app-id {app_id}"),
            format!("use a token of app {app_id}, or set app-id and app-secret to app {other}'s"),
        );
    }
    if let Expiry::At(at) = info.expiry()
        && at <= now
    {
        return Outcome::fail(left(at - now), reauth);
    }
    let missing = info.missing_whatsapp_scopes();
    if !missing.is_empty() {
        return Outcome::fail(
            format!("lacks the scopes {}", missing.join(", ")),
            format!(
                "{reauth}; grant {} when generating it",
                WHATSAPP_SCOPES.join(" and ")
            ),
        );
    }
    let kind = info.token_type.as_deref().unwrap_or("unknown type");
    Outcome::pass(format!(
        "valid {kind} token, {}, scopes {} present",
        expiry_words(info.expiry(), now),
        WHATSAPP_SCOPES.join(" and ")
    ))
}

fn dead_reason(error: &crate::graph::TokenInfoError) -> String {
    let mut why = error.message.clone();
    match (error.code, error.subcode) {
        (Some(code), Some(sub)) => why.push_str(&format!(" (code {code}, subcode {sub})")),
        (Some(code), None) => why.push_str(&format!(" (code {code})")),
        _ => {}
    }
    why
}

fn expiry_words(expiry: Expiry, now: i64) -> String {
    match expiry {
        Expiry::Never => "never expires".to_string(),
        Expiry::At(at) => format!("{} left (expires {})", left(at - now), format_unix(at)),
        Expiry::Unknown => "expiry unknown".to_string(),
    }
}
