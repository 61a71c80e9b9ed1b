//! `tokentop sim`: runs the Graph API simulator on loopback until SIGINT or SIGTERM.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use secrecy::SecretString;

use crate::cli::SimArgs;
use crate::sim::{DEFAULT_APP_SECRET, RunningSim, SimConfig};

/// Environment variable that supplies the app secret when `--app-secret` is absent.
const APP_SECRET_ENV: &str = "TOKENTOP_SIM_APP_SECRET";

/// Starts the simulator, prints its address, and serves until a termination signal.
pub async fn run(args: SimArgs) -> anyhow::Result<ExitCode> {
    let long_lived_lifetime = parse_duration("--long-lived-lifetime", &args.long_lived_lifetime)?;
    let system_user_lifetime =
        parse_duration("--system-user-lifetime", &args.system_user_lifetime)?;
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
        ..SimConfig::default()
    };
    let app_id = config.app_id.clone();
    let sim = RunningSim::start(config, args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let mut stdout = std::io::stdout().lock();
    writeln!(
        stdout,
        "tokentop sim listening on {} (app id {app_id}, app secret from {secret_source})",
        sim.base_url()
    )?;
    stdout.flush()?;
    drop(stdout);
    super::common::stop_signal().await;
    sim.shutdown().await;
    Ok(ExitCode::SUCCESS)
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
