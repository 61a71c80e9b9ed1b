//! `[[log]]` sources, `[patterns]` and `[[pattern]]` definitions for the log tail.

use std::collections::HashMap;
use std::ops::Range;

use toml::de::DeTable;

use super::issues::Invalid;
use super::reader::Ctx;
use super::settings::{
    LogFormat, LogInput, LogSourceSettings, PatternDef, PatternLevel, PatternRole, PatternSettings,
};
use super::values;

pub(crate) const LOG_KEYS: &[&str] = &["name", "file", "command", "format"];
pub(crate) const PATTERNS_KEYS: &[&str] = &["defaults"];
pub(crate) const PATTERN_KEYS: &[&str] = &["name", "regex", "level", "role"];

/// Every `[[log]]`; names must be unique and each has exactly one of `file` and `command`.
pub(crate) fn logs(ctx: &mut Ctx<'_>, root: &DeTable<'_>) -> Vec<LogSourceSettings> {
    let mut first_line_of_name: HashMap<String, usize> = HashMap::new();
    let mut logs = Vec::new();
    for (table, span) in ctx.array_of_tables(root, "log") {
        ctx.check_keys(table, "log", "[[log]]", LOG_KEYS);
        let Some(name) = required_name(ctx, table, &span, "log") else {
            continue;
        };
        if let Some(item) = table.get("name") {
            let line = ctx.line(&item.span());
            if let Some(first_line) = first_line_of_name.get(&name) {
                let problem = format!("duplicate log name (first used on line {first_line})");
                let shown = Some(ctx.shown(item));
                let invalid = Invalid::new(problem, "a name no other [[log]] uses");
                ctx.issue(&item.span(), "log.name".to_string(), shown, invalid);
            } else {
                first_line_of_name.insert(name.clone(), line);
            }
        }
        let input = log_input(ctx, table, &span);
        let formats = [
            ("plain", LogFormat::Plain),
            ("webhook-json", LogFormat::WebhookJson),
        ];
        let format = ctx
            .choice(table, "log", "format", &formats)
            .unwrap_or_default();
        if let Some(input) = input {
            logs.push(LogSourceSettings {
                name,
                input,
                format,
            });
        }
    }
    logs
}

fn log_input(ctx: &mut Ctx<'_>, table: &DeTable<'_>, span: &Range<usize>) -> Option<LogInput> {
    const ALLOWED: &str = "exactly one of file = \"PATH\" or command = [\"program\", \"arg\", ...]";
    match (table.contains_key("file"), table.contains_key("command")) {
        (true, false) => {
            let file = ctx.checked(table, "log", "file", values::non_empty)?;
            Some(LogInput::File(ctx.resolve(&file)))
        }
        (false, true) => ctx.argv(table, "log", "command").map(LogInput::Command),
        (true, true) => {
            ctx.issue(
                span,
                "log".to_string(),
                None,
                Invalid::new("has both file and command", ALLOWED),
            );
            None
        }
        (false, false) => {
            ctx.issue(
                span,
                "log".to_string(),
                None,
                Invalid::new("has neither file nor command", ALLOWED),
            );
            None
        }
    }
}

/// `[patterns] defaults` and every `[[pattern]]`, each regex compiled once to prove it valid.
pub(crate) fn patterns(ctx: &mut Ctx<'_>, root: &DeTable<'_>) -> PatternSettings {
    let mut settings = PatternSettings::default();
    if let Some((table, _)) = ctx.table(root, "", "patterns") {
        ctx.check_keys(table, "patterns", "[patterns]", PATTERNS_KEYS);
        if let Some(use_defaults) = ctx.bool(table, "patterns", "defaults") {
            settings.use_defaults = use_defaults;
        }
    }
    for (table, span) in ctx.array_of_tables(root, "pattern") {
        if let Some(pattern) = pattern(ctx, table, &span) {
            settings.patterns.push(pattern);
        }
    }
    settings
}

fn pattern(ctx: &mut Ctx<'_>, table: &DeTable<'_>, span: &Range<usize>) -> Option<PatternDef> {
    ctx.check_keys(table, "pattern", "[[pattern]]", PATTERN_KEYS);
    let name = required_name(ctx, table, span, "pattern");
    let regex = match ctx.string(table, "pattern", "regex") {
        Some(regex) => check_regex(ctx, table, name.as_deref(), regex),
        None => {
            if !table.contains_key("regex") {
                ctx.missing(
                    span,
                    "pattern",
                    "regex",
                    "a regular expression (Rust regex syntax)",
                );
            }
            None
        }
    };
    let levels = [
        ("ok", PatternLevel::Ok),
        ("warn", PatternLevel::Warn),
        ("error", PatternLevel::Error),
    ];
    let level = ctx.choice(table, "pattern", "level", &levels);
    if !table.contains_key("level") {
        ctx.missing(span, "pattern", "level", "ok, warn, error");
    }
    let roles = [
        ("delivered", PatternRole::Delivered),
        ("failed", PatternRole::Failed),
    ];
    let role = ctx.choice(table, "pattern", "role", &roles);
    Some(PatternDef {
        name: name?,
        regex: regex?,
        level: level?,
        role,
    })
}

fn check_regex(
    ctx: &mut Ctx<'_>,
    table: &DeTable<'_>,
    name: Option<&str>,
    regex: String,
) -> Option<String> {
    let label = name.map_or_else(|| "pattern".to_string(), |name| format!("pattern {name:?}"));
    let problem = if regex.is_empty() {
        format!("{label}: an empty regex matches every line")
    } else {
        match regex::Regex::new(&regex) {
            Ok(_) => return Some(regex),
            Err(err) => format!(
                "{label}: the regex does not compile: \"{}\"",
                regex_error_summary(&err)
            ),
        }
    };
    let item = table.get("regex")?;
    let shown = Some(ctx.shown(item));
    let invalid = Invalid::new(
        problem,
        "a non-empty regular expression in Rust regex syntax",
    );
    ctx.issue(&item.span(), "pattern.regex".to_string(), shown, invalid);
    None
}

/// The regex crate's message spans several lines with a caret diagram; keep its last line, as
/// every issue is one line.
fn regex_error_summary(err: &regex::Error) -> String {
    let text = err.to_string();
    let summary = text
        .lines()
        .rev()
        .find(|line| !line.trim().is_empty())
        .unwrap_or(&text);
    summary.trim().trim_start_matches("error: ").to_string()
}

fn required_name(
    ctx: &mut Ctx<'_>,
    table: &DeTable<'_>,
    span: &Range<usize>,
    path: &str,
) -> Option<String> {
    if !table.contains_key("name") {
        ctx.missing(span, path, "name", "a non-empty string");
    }
    ctx.checked(table, path, "name", values::non_empty)
}
