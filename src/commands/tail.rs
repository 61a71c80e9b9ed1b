//! `tokentop tail [--source NAME] [--level LEVEL]`: print classified lines from the configured
//! log sources as they arrive, for on-call use over ssh without the dashboard.

use std::io::Write;
use std::process::ExitCode;

use super::common::{load_settings, start_engine, stop_signal};
use crate::cli::{GlobalArgs, TailArgs};
use crate::config::{LogFormat, PatternLevel};
use crate::engine::logs::{DeliveryStatus, WebhookStatus, parse_webhook_line};
use crate::engine::telemetry_types::ClassifiedLine;
use crate::engine::{EngineEvent, EngineOptions, HealthPolling};

pub async fn run(global: &GlobalArgs, args: &TailArgs) -> anyhow::Result<ExitCode> {
    let mut settings = load_settings(global)?;
    let min_level = args.level.as_deref().map(parse_level).transpose()?;
    if let Some(name) = &args.source {
        let known: Vec<String> = settings.logs.iter().map(|l| l.name.clone()).collect();
        settings.logs.retain(|l| &l.name == name);
        if settings.logs.is_empty() {
            anyhow::bail!(
                "no [[log]] source named {name:?}; configured sources: {}",
                list(&known)
            );
        }
    }
    if settings.logs.is_empty() {
        anyhow::bail!(
            "no [[log]] sources configured: add one to the config file, e.g.\n[[log]]\nname = \"backend\"\nfile = \"/var/log/app.log\""
        );
    }
    let _guard = crate::logging::init(
        &settings.data_dir,
        crate::logging::Console::Stderr { verbose: false },
    );
    let webhook_sources: Vec<String> = settings
        .logs
        .iter()
        .filter(|l| l.format == LogFormat::WebhookJson)
        .map(|l| l.name.clone())
        .collect();
    // Only the log sources: no accounts, no network.
    settings.accounts.clear();
    let options = EngineOptions {
        auto_refresh: false,
        periodic_checks: false,
        health: HealthPolling::Off,
        write_summary: false,
        ..EngineOptions::default()
    };
    let (handle, mut events) = start_engine(&settings, options)?;
    let stop = stop_signal();
    tokio::pin!(stop);
    let mut out = std::io::stdout().lock();
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Some(EngineEvent::LogLines { lines, skipped }) => {
                    if skipped > 0 {
                        eprintln!("… {skipped} lines skipped in a burst (still counted)");
                    }
                    for line in &lines {
                        let webhook = webhook_sources.iter().any(|s| **s == *line.source);
                        for text in render(line, webhook, min_level) {
                            // A closed pipe (`| head`) ends the command quietly.
                            if writeln!(out, "{text}").is_err() {
                                return Ok(ExitCode::SUCCESS);
                            }
                        }
                    }
                    let _ = out.flush();
                }
                Some(EngineEvent::SourceNotice { source, message }) => eprintln!("[{source}] {message}"),
                Some(EngineEvent::Stopped) | None => break,
                Some(_) => {}
            },
            _ = &mut stop => {
                handle.send(crate::engine::EngineCommand::Shutdown);
                break;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}

fn parse_level(text: &str) -> anyhow::Result<PatternLevel> {
    match text.to_ascii_lowercase().as_str() {
        "ok" => Ok(PatternLevel::Ok),
        "warn" | "warning" => Ok(PatternLevel::Warn),
        "error" => Ok(PatternLevel::Error),
        other => anyhow::bail!("--level {other:?} is not a level; allowed: ok, warn, error"),
    }
}

/// Without `--level` every line is shown; with it, only matched lines at that level or above.
fn shown(line: &ClassifiedLine, min_level: Option<PatternLevel>) -> bool {
    match min_level {
        None => true,
        Some(min) => line.level.is_some_and(|level| level >= min),
    }
}

/// The printed lines for one source line: a webhook payload becomes one line per status it
/// holds (the payload itself is not printed); anything else is printed as it came.
pub fn render(
    line: &ClassifiedLine,
    webhook: bool,
    min_level: Option<PatternLevel>,
) -> Vec<String> {
    let statuses = webhook
        .then(|| parse_webhook_line(&line.text).ok())
        .flatten()
        .filter(|statuses| !statuses.is_empty());
    let Some(statuses) = statuses else {
        return if shown(line, min_level) {
            vec![format_line(line)]
        } else {
            Vec::new()
        };
    };
    statuses
        .iter()
        .filter(|status| min_level.is_none_or(|min| status_level(status) >= min))
        .map(|status| format_status(line, status))
        .collect()
}

/// A failed message is an error; every other status is progress.
fn status_level(status: &WebhookStatus) -> PatternLevel {
    if status.status == DeliveryStatus::Failed {
        PatternLevel::Error
    } else {
        PatternLevel::Ok
    }
}

/// `… hooks      error failed           wamid.X to 15551234567: 131026 Message undeliverable`
pub fn format_status(line: &ClassifiedLine, status: &WebhookStatus) -> String {
    let mut text = format!(
        "{} {:<10} {:<5} {:<16} {} to {}",
        line.received_at.format("%Y-%m-%dT%H:%M:%SZ"),
        line.source,
        crate::format::level_word(Some(status_level(status))),
        status.status.as_str(),
        status.message_id,
        status.recipient().unwrap_or("-"),
    );
    let errors: Vec<String> = status
        .errors
        .iter()
        .map(|e| match &e.title {
            Some(title) => format!("{} {title}", e.code),
            None => e.code.to_string(),
        })
        .collect();
    if !errors.is_empty() {
        text.push_str(": ");
        text.push_str(&errors.join("; "));
    }
    text
}

/// `14:01:02 backend  warn  token-expiring  WhatsApp token is expired or expiring soon, refreshing...`
pub fn format_line(line: &ClassifiedLine) -> String {
    let level = crate::format::level_word(line.level);
    format!(
        "{} {:<10} {:<5} {:<16} {}{}",
        line.received_at.format("%Y-%m-%dT%H:%M:%SZ"),
        line.source,
        level,
        line.pattern.as_deref().unwrap_or("-"),
        line.text,
        if line.truncated {
            " …[truncated]"
        } else {
            ""
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(level: Option<PatternLevel>) -> ClassifiedLine {
        ClassifiedLine {
            source: "backend".into(),
            received_at: chrono::DateTime::from_timestamp(0, 0).unwrap(),
            text: "hello".into(),
            truncated: false,
            pattern: level.map(|_| "p".into()),
            level,
            role: None,
        }
    }

    #[test]
    fn level_filter_keeps_matched_lines_at_or_above() {
        let warn = Some(PatternLevel::Warn);
        assert!(shown(&line(None), None));
        assert!(!shown(&line(None), warn));
        assert!(!shown(&line(Some(PatternLevel::Ok)), warn));
        assert!(shown(&line(Some(PatternLevel::Warn)), warn));
        assert!(shown(&line(Some(PatternLevel::Error)), warn));
    }

    #[test]
    fn bad_level_names_the_allowed_ones() {
        let err = parse_level("loud").unwrap_err().to_string();
        assert!(err.contains("ok, warn, error"), "{err}");
        assert_eq!(parse_level("WARN").unwrap(), PatternLevel::Warn);
    }

    fn webhook_line(text: &str) -> ClassifiedLine {
        ClassifiedLine {
            source: "hooks".into(),
            text: text.into(),
            ..line(None)
        }
    }

    /// A status webhook the way current Graph API versions send it under per-message pricing:
    /// `pricing` has `type`, there is no `conversation` object, and a business-scoped user id
    /// sits beside the phone number. The shape follows Meta's status webhook reference
    /// (developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/
    /// messages/status) with the PMP `pricing` as relayed verbatim in partner-docs.gupshup.io/
    /// docs/pmp-events; the BSUID field name is an assumption, not quoted from Meta.
    const PMP_FAILED_AND_READ: &str = r#"{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},"statuses":[{"id":"wamid.AAA","status":"read","timestamp":"1750263773","recipient_id":"16505551234","recipient_user_id":"US.13491208655302741918","pricing":{"billable":true,"pricing_model":"PMP","type":"regular","category":"utility"}},{"id":"wamid.BBB","status":"failed","timestamp":"1750263774","recipient_user_id":"US.13491208655302741918","errors":[{"code":131049,"title":"This message was not delivered to maintain healthy ecosystem engagement.","message":"x","error_data":{"details":"y"}}]}]}}]}]}"#;

    #[test]
    fn webhook_line_prints_each_status_with_its_level() {
        let printed = render(&webhook_line(PMP_FAILED_AND_READ), true, None);
        assert_eq!(
            printed,
            [
                "1970-01-01T00:00:00Z hooks      ok    read             wamid.AAA to 16505551234",
                "1970-01-01T00:00:00Z hooks      error failed           wamid.BBB to \
                 US.13491208655302741918: 131049 This message was not delivered to maintain \
                 healthy ecosystem engagement.",
            ]
        );
        assert!(printed.iter().all(|l| !l.contains('{')), "{printed:?}");
    }

    #[test]
    fn level_filter_applies_to_statuses() {
        let printed = render(
            &webhook_line(PMP_FAILED_AND_READ),
            true,
            Some(PatternLevel::Warn),
        );
        assert_eq!(printed.len(), 1, "{printed:?}");
        assert!(printed[0].contains(" error failed "), "{printed:?}");
    }

    #[test]
    fn webhook_line_without_statuses_is_printed_as_it_came() {
        let printed = render(&webhook_line(r#"{"entry":[]}"#), true, None);
        assert_eq!(printed.len(), 1);
        assert!(printed[0].ends_with(r#"{"entry":[]}"#), "{printed:?}");
        // A plain source's JSON line is never taken apart.
        let plain = render(&webhook_line(PMP_FAILED_AND_READ), false, None);
        assert_eq!(plain.len(), 1);
    }

    #[test]
    fn line_format_shows_level_and_pattern_as_words() {
        let text = format_line(&line(Some(PatternLevel::Error)));
        assert_eq!(
            text,
            "1970-01-01T00:00:00Z backend    error p                hello"
        );
    }
}
