//! `tokentop templates [--json] [--account NAME]`: the message templates the webhook relay
//! heard of, paused, disabled, rejected and red ones first.
//!
//! Exit 0, or 1 when any template listed is PAUSED, DISABLED or of quality RED (sends of it
//! fail or soon will); 2 when `--account` names no account with a business-account-id. The
//! `--json` shape is documented in docs/json.md.

use std::process::ExitCode;

use serde::Serialize;

use super::common::load_settings;
use super::stdout;
use crate::cli::{GlobalArgs, TemplatesArgs};
use crate::config::Settings;
use crate::format::format_unix;
use crate::webhook::template_table::{Attention, TemplateRecord, TemplateTable, account_of};

const EXIT_ATTENTION: u8 = 1;
const EXIT_USAGE: u8 = 2;

/// One template in `--json`.
#[derive(Debug, Serialize)]
struct TemplateJson<'a> {
    /// `ok`, `warning` or `critical`.
    severity: Attention,
    account: &'a str,
    waba_id: &'a str,
    /// A string: template ids exceed what a JSON reader using doubles keeps exactly.
    template_id: String,
    name: &'a str,
    language: &'a str,
    category: Option<&'a str>,
    status: Option<&'a str>,
    status_since: Option<String>,
    reason: Option<&'a str>,
    detail: Option<&'a str>,
    disable_date: Option<&'a str>,
    quality: Option<&'a str>,
    previous_quality: Option<&'a str>,
    quality_since: Option<String>,
}

pub async fn run(global: &GlobalArgs, args: &TemplatesArgs) -> anyhow::Result<ExitCode> {
    let settings = load_settings(global)?;
    let accounts: Vec<(String, Option<String>)> = settings
        .accounts
        .iter()
        .map(|a| (a.name.clone(), a.business_account_id.clone()))
        .collect();
    let waba = match wanted_waba(&settings, args) {
        Ok(waba) => waba,
        Err(problem) => {
            eprintln!("tokentop templates: {problem}");
            return Ok(ExitCode::from(EXIT_USAGE));
        }
    };
    let (table, problem) = TemplateTable::read(&settings.data_dir);
    if let Some(problem) = problem {
        eprintln!("tokentop templates: {problem}");
    }
    let rows: Vec<TemplateRecord> = table
        .worst_first()
        .into_iter()
        .filter(|r| waba.as_ref().is_none_or(|w| &r.waba_id == w))
        .collect();
    let code = if rows.iter().any(|r| r.attention() == Attention::Critical) {
        ExitCode::from(EXIT_ATTENTION)
    } else {
        ExitCode::SUCCESS
    };
    match print(&rows, &accounts, args.json, &settings) {
        // Whoever reads the exit code still gets it, even with the output cut off.
        Err(err) if stdout::is_closed(&err) => {}
        other => other?,
    }
    Ok(code)
}

/// The WABA of `--account`, or why there is none.
fn wanted_waba(settings: &Settings, args: &TemplatesArgs) -> Result<Option<String>, String> {
    let Some(name) = &args.account else {
        return Ok(None);
    };
    let Some(account) = settings.accounts.iter().find(|a| &a.name == name) else {
        let names: Vec<&str> = settings.accounts.iter().map(|a| a.name.as_str()).collect();
        return Err(format!(
            "no [[account]] is named {name:?} (the accounts: {})",
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        ));
    };
    match &account.business_account_id {
        Some(waba) => Ok(Some(waba.clone())),
        None => Err(format!(
            "account {name:?} has no business-account-id: templates are known by their WABA; set it on the [[account]]"
        )),
    }
}

fn print(
    rows: &[TemplateRecord],
    accounts: &[(String, Option<String>)],
    json: bool,
    settings: &Settings,
) -> anyhow::Result<()> {
    if json {
        let listed: Vec<TemplateJson> = rows.iter().map(|r| to_json(r, accounts)).collect();
        return stdout::line(serde_json::to_string_pretty(&listed)?);
    }
    if rows.is_empty() {
        eprintln!(
            "no templates yet in {}: the webhook relay ([webhook] listen) records them as Meta reports them",
            settings
                .data_dir
                .join(crate::webhook::template_table::TEMPLATES_FILE)
                .display()
        );
        return Ok(());
    }
    for line in text_lines(rows, accounts) {
        stdout::line(line.trim_end())?;
    }
    Ok(())
}

fn to_json<'a>(
    r: &'a TemplateRecord,
    accounts: &'a [(String, Option<String>)],
) -> TemplateJson<'a> {
    let time = |unix: Option<i64>| {
        unix.and_then(|u| chrono::DateTime::from_timestamp(u, 0))
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
    };
    TemplateJson {
        severity: r.attention(),
        account: account_of(&r.waba_id, accounts),
        waba_id: &r.waba_id,
        template_id: r.template_id.to_string(),
        name: &r.name,
        language: &r.language,
        category: r.category.as_deref(),
        status: r.status.as_deref(),
        status_since: time(r.status_since),
        reason: r.reason.as_deref(),
        detail: r.detail.as_deref(),
        disable_date: r.disable_date.as_deref(),
        quality: r.quality.as_deref(),
        previous_quality: r.previous_quality.as_deref(),
        quality_since: time(r.quality_since),
    }
}

/// A header and one line per template, columns as wide as their widest cell:
/// `CRITICAL  shop  order_shipped_v2  en  UTILITY  PAUSED  RED  2026-11-28 14:03:12 UTC  FIRST_PAUSE`
fn text_lines(rows: &[TemplateRecord], accounts: &[(String, Option<String>)]) -> Vec<String> {
    let header = [
        "", "ACCOUNT", "TEMPLATE", "LANG", "CATEGORY", "STATUS", "QUALITY", "SINCE", "REASON",
    ]
    .map(str::to_string);
    let dash = || "-".to_string();
    let mut table = vec![header];
    for r in rows {
        table.push([
            r.attention().label().to_string(),
            account_of(&r.waba_id, accounts).to_string(),
            r.name.clone(),
            r.language.clone(),
            r.category.clone().unwrap_or_else(dash),
            r.status.clone().unwrap_or_else(dash),
            r.quality.clone().unwrap_or_else(dash),
            r.changed_at().map_or_else(dash, format_unix),
            r.reason_text(),
        ]);
    }
    let mut widths = [0usize; 9];
    for cells in &table {
        for (width, cell) in widths.iter_mut().zip(cells) {
            *width = (*width).max(cell.chars().count());
        }
    }
    table
        .iter()
        .map(|cells| {
            cells
                .iter()
                .zip(widths)
                .map(|(cell, width)| format!("{cell:<width$}"))
                .collect::<Vec<_>>()
                .join("  ")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(name: &str, status: &str, quality: Option<&str>) -> TemplateRecord {
        TemplateRecord {
            waba_id: "111".into(),
            template_id: 9_007_199_254_740_993,
            name: name.into(),
            language: "en".into(),
            category: Some("UTILITY".into()),
            status: Some(status.into()),
            status_since: Some(1_796_201_744),
            reason: None,
            detail: None,
            disable_date: None,
            quality: quality.map(str::to_string),
            previous_quality: None,
            quality_since: None,
        }
    }

    #[test]
    fn lines_are_aligned_marked_and_name_the_account() {
        let accounts = vec![("shop".to_string(), Some("111".to_string()))];
        let lines = text_lines(
            &[
                record("promo", "PAUSED", Some("RED")),
                record("a", "APPROVED", None),
            ],
            &accounts,
        );
        assert_eq!(lines.len(), 3);
        assert!(
            lines[0].starts_with("          ACCOUNT  TEMPLATE"),
            "{}",
            lines[0]
        );
        assert!(
            lines[1].starts_with("CRITICAL  shop     promo"),
            "{}",
            lines[1]
        );
        assert!(
            lines[1].contains("PAUSED    RED      2026-12-02"),
            "{}",
            lines[1]
        );
        assert!(lines[2].starts_with("OK        shop     a"), "{}", lines[2]);
    }

    #[test]
    fn json_keeps_the_id_exact_as_a_string() {
        let record = record("promo", "DISABLED", None);
        let json = serde_json::to_value(to_json(&record, &[])).unwrap();
        assert_eq!(json["template_id"], "9007199254740993");
        assert_eq!(json["account"], "111");
        assert_eq!(json["severity"], "critical");
        assert_eq!(json["status_since"], "2026-12-02T08:55:44Z");
    }
}
