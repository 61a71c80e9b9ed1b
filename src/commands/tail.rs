//! `tokentop tail [--source NAME] [--level LEVEL]`: print classified lines from the configured
//! log sources as they arrive, for on-call use over ssh without the dashboard.

use std::io::Write;
use std::process::ExitCode;

use super::common::{load_settings, start_engine, stop_signal};
use crate::cli::{GlobalArgs, TailArgs};
use crate::config::PatternLevel;
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
                    for line in lines.iter().filter(|l| shown(l, min_level)) {
                        // A closed pipe (`| head`) ends the command quietly.
                        if writeln!(out, "{}", format_line(line)).is_err() {
                            return Ok(ExitCode::SUCCESS);
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

    #[test]
    fn line_format_shows_level_and_pattern_as_words() {
        let text = format_line(&line(Some(PatternLevel::Error)));
        assert_eq!(
            text,
            "1970-01-01T00:00:00Z backend    error p                hello"
        );
    }
}
