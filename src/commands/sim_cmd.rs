//! `tokentop sim`: runs the Graph API simulator on loopback until SIGINT or SIGTERM.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use secrecy::SecretString;

use crate::cli::SimArgs;
use crate::sim::{DEFAULT_APP_SECRET, FAILURE_CODES, RunningSim, SimConfig, WebhookSettings};

/// Environment variable that supplies the app secret when `--app-secret` is absent.
const APP_SECRET_ENV: &str = "TOKENTOP_SIM_APP_SECRET";

/// Environment variable that supplies the secret webhooks are signed with (never a flag: a
/// command line is visible to every user of the machine); the app secret when unset.
pub const WEBHOOK_SECRET_ENV: &str = "TOKENTOP_SIM_WEBHOOK_SECRET";

/// Starts the simulator, prints its address, and serves until a termination signal.
pub async fn run(args: SimArgs) -> anyhow::Result<ExitCode> {
    let long_lived_lifetime = parse_duration("--long-lived-lifetime", &args.long_lived_lifetime)?;
    let system_user_lifetime =
        parse_duration("--system-user-lifetime", &args.system_user_lifetime)?;
    let (webhooks, webhook_secret_source) = webhook_settings(&args)?;
    let (app_secret, secret_source) = match (args.app_secret, std::env::var(APP_SECRET_ENV)) {
        (Some(secret), _) => (secret, "--app-secret".to_string()),
        (None, Ok(secret)) if !secret.is_empty() => (secret, APP_SECRET_ENV.to_string()),
        (None, _) => (DEFAULT_APP_SECRET.to_string(), "the default".to_string()),
    };
    let config = SimConfig {
        app_id: args.app_id,
        app_secret: SecretString::from(app_secret),
        require_proof: args.require_proof,
        long_lived_lifetime,
        system_user_lifetime,
        webhooks,
        ..SimConfig::default()
    };
    let app_id = config.app_id.clone();
    let sim = RunningSim::start(config, args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let webhook_note = match &args.webhook_url {
        Some(url) => {
            sim.handle()
                .set_webhook_target(url, None)
                .map_err(|err| anyhow::anyhow!("--webhook-url: {err}"))?;
            // The query is left out: it may carry a token of the receiver's.
            let shown = url.split('?').next().unwrap_or_default();
            format!("; webhooks to {shown}, signed with {webhook_secret_source}")
        }
        None => String::new(),
    };
    let mut stdout = std::io::stdout().lock();
    writeln!(
        stdout,
        "tokentop sim listening on {} (app id {app_id}, app secret from {secret_source}{webhook_note})",
        sim.base_url()
    )?;
    stdout.flush()?;
    drop(stdout);
    super::common::stop_signal().await;
    sim.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

/// Webhook settings from the flags and the environment, and where the signing secret comes
/// from (for the startup line; never the secret itself).
fn webhook_settings(args: &SimArgs) -> anyhow::Result<(WebhookSettings, &'static str)> {
    if let Some(url) = &args.webhook_url {
        crate::sim::parse_webhook_url(url)
            .map_err(|err| anyhow::anyhow!("--webhook-url: {err}"))?;
    }
    if !FAILURE_CODES.contains(&args.webhook_failure_code) {
        let allowed: Vec<String> = FAILURE_CODES.iter().map(i64::to_string).collect();
        anyhow::bail!(
            "--webhook-failure-code {}: not a code the simulator has words for; use one of {}",
            args.webhook_failure_code,
            allowed.join(", ")
        );
    }
    let (secret, source) = match std::env::var(WEBHOOK_SECRET_ENV) {
        Ok(secret) if !secret.is_empty() => (Some(SecretString::from(secret)), WEBHOOK_SECRET_ENV),
        _ => (None, "the app secret"),
    };
    let settings = WebhookSettings {
        secret,
        failure_percent: args.webhook_failure_rate,
        read_percent: args.webhook_read_rate,
        failure_code: args.webhook_failure_code,
        ..WebhookSettings::default()
    };
    Ok((settings, source))
}

/// The shared duration parser, with the flag named in the error.
fn parse_duration(flag: &str, text: &str) -> anyhow::Result<Duration> {
    crate::config::parse_duration(text)
        .map_err(|reason| anyhow::anyhow!("{flag} \"{text}\": {reason}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_unit() {
        assert_eq!(
            parse_duration("--x", "90s").unwrap(),
            Duration::from_secs(90)
        );
        assert_eq!(
            parse_duration("--x", "15m").unwrap(),
            Duration::from_secs(900)
        );
        assert_eq!(
            parse_duration("--x", "2h").unwrap(),
            Duration::from_secs(7200)
        );
        assert_eq!(
            parse_duration("--x", "60d").unwrap(),
            Duration::from_secs(5_184_000)
        );
    }

    #[test]
    fn rejects_bad_forms_naming_the_flag() {
        for bad in [
            "",
            "s",
            "60",
            "1.5h",
            "-1d",
            "ä",
            "99999999999999999999d",
            "1 d",
        ] {
            let message = parse_duration("--long-lived-lifetime", bad)
                .unwrap_err()
                .to_string();
            assert!(
                message.contains("--long-lived-lifetime"),
                "{bad}: {message}"
            );
            assert!(message.contains("\"7d\""), "{bad}: {message}");
        }
    }
}
