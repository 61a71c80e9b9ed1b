//! `tokentop history --summary [--since 30d] [--account A] [--json]`: the monthly-review
//! digest per account: refreshes and their success rate, re-auth events, sends, top failure
//! codes (from `history.jsonl`, see `engine/history_digest.rs`) and days until the long-lived
//! token and data access run out (one inspection of each token, as `check` does).

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::common::{load_settings, one_shot_options, shutdown, start_engine};
use super::stdout;
use crate::cli::{GlobalArgs, HistoryArgs};
use crate::config::Settings;
use crate::engine::history::HistoryEntry;
use crate::engine::history::digest::{AccountDigest, digest};
use crate::engine::{AccountSnapshot, EngineEvent};
use crate::graph::Expiry;

const DAY_SECS: i64 = 86_400;
/// Characters after the label column in the human output, so a line stays within 80 columns.
const VALUE_CHARS: usize = 60;

/// When something runs out, in whole days.
#[derive(Debug, Clone, Default, Serialize)]
struct Lifetime {
    /// Unix seconds; `null` when it never expires or is not known.
    expires_at: Option<i64>,
    never: bool,
    /// Whole days left, rounded down (negative once past); `null` when never or not known.
    days_left: Option<i64>,
}

/// One account in the summary.
#[derive(Debug, Clone, Serialize)]
struct AccountSummary {
    #[serde(flatten)]
    digest: AccountDigest,
    configured: bool,
    /// `null` when the token could not be inspected (see `inspection_error`).
    long_lived_expiry: Option<Lifetime>,
    /// The access token is its own long-lived token (renewed with each refresh).
    long_lived_is_access_token: bool,
    data_access_expiry: Option<Lifetime>,
    inspection_error: Option<String>,
}

/// The whole summary.
#[derive(Debug, Clone, Serialize)]
struct Summary {
    /// The span, e.g. `30d`.
    since: String,
    from: i64,
    to: i64,
    accounts: Vec<AccountSummary>,
}

pub async fn run(global: &GlobalArgs, args: &HistoryArgs) -> anyhow::Result<ExitCode> {
    let span_secs = i64::try_from(args.since.as_secs()).unwrap_or(i64::MAX);
    if span_secs <= 0 {
        anyhow::bail!("--since must be at least 1s, e.g. 7d or 30d");
    }
    let settings = load_settings(global)?;
    // Bounded: the history file is compacted past 8 MiB (`DEFAULT_SIZE_CAP_BYTES`), the
    // cluster's stream read to its newest rows.
    let (history, _) = super::history_source::load(&settings).await?;
    let names = account_names(&settings, &history, args.account.as_deref())?;
    let now = Utc::now();
    let snapshots = inspect(&settings, &names).await;
    let summary = summarize(&settings, &history, &names, &snapshots, span_secs, now);
    if args.json {
        stdout::line(serde_json::to_string_pretty(&summary)?)?;
    } else {
        for line in human(&summary) {
            stdout::line(line)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The configured accounts, then those only in history, or only `only` (which must be one of
/// them).
fn account_names(
    settings: &Settings,
    history: &[HistoryEntry],
    only: Option<&str>,
) -> anyhow::Result<Vec<String>> {
    let mut names: Vec<String> = settings.accounts.iter().map(|a| a.name.clone()).collect();
    let mut unconfigured: Vec<String> = Vec::new();
    for entry in history {
        if !names.contains(&entry.account) && !unconfigured.contains(&entry.account) {
            unconfigured.push(entry.account.clone());
        }
    }
    unconfigured.sort();
    names.extend(unconfigured);
    match only {
        None => Ok(names),
        Some(name) if names.iter().any(|n| n == name) => Ok(vec![name.to_string()]),
        Some(name) => anyhow::bail!(
            "no account named {name:?} in the config or the history; known accounts: {}",
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        ),
    }
}

/// One inspection of each configured account among `names`, bounded in time; an account
/// whose inspection did not finish is missing.
async fn inspect(settings: &Settings, names: &[String]) -> HashMap<String, AccountSnapshot> {
    let mut latest = HashMap::new();
    let wanted: Vec<&String> = names
        .iter()
        .filter(|n| settings.accounts.iter().any(|a| &a.name == *n))
        .collect();
    if wanted.is_empty() {
        return latest;
    }
    let Ok((handle, mut events)) = start_engine(settings, one_shot_options()) else {
        return latest;
    };
    let limit = settings.graph.request_timeout * 2 + Duration::from_secs(5);
    let deadline = tokio::time::Instant::now() + limit;
    let done = |latest: &HashMap<String, AccountSnapshot>| {
        wanted
            .iter()
            .all(|n| latest.get(*n).is_some_and(AccountSnapshot::settled))
    };
    while !done(&latest) {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(EngineEvent::Account(snapshot))) => {
                latest.insert(snapshot.name.clone(), Arc::unwrap_or_clone(snapshot));
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    shutdown(&handle, &mut events).await;
    latest
}

fn summarize(
    settings: &Settings,
    history: &[HistoryEntry],
    names: &[String],
    snapshots: &HashMap<String, AccountSnapshot>,
    span_secs: i64,
    now: DateTime<Utc>,
) -> Summary {
    let span = span_label(span_secs);
    let accounts = names
        .iter()
        .map(|name| {
            let configured = settings.accounts.iter().any(|a| &a.name == name);
            let mut summary = AccountSummary {
                digest: digest(history, name, &span, span_secs, now),
                configured,
                long_lived_expiry: None,
                long_lived_is_access_token: false,
                data_access_expiry: None,
                inspection_error: None,
            };
            match snapshots.get(name) {
                Some(snapshot) => lifetimes(&mut summary, snapshot, now.timestamp()),
                None if configured => {
                    summary.inspection_error = Some("no answer in time".to_string());
                }
                None => summary.inspection_error = Some("not configured".to_string()),
            }
            summary
        })
        .collect();
    Summary {
        since: span,
        from: now.timestamp().saturating_sub(span_secs),
        to: now.timestamp(),
        accounts,
    }
}

fn lifetimes(summary: &mut AccountSummary, snapshot: &AccountSnapshot, now: i64) {
    let Some(access) = &snapshot.access else {
        summary.inspection_error = Some(
            snapshot
                .config_problem
                .clone()
                .or_else(|| snapshot.last_error.clone())
                .unwrap_or_else(|| "not inspected".to_string()),
        );
        return;
    };
    summary.long_lived_is_access_token = snapshot.long_lived_token_masked.is_none();
    let long_lived = match &snapshot.long_lived {
        Some(inspection) => Some(inspection.expiry()),
        None if summary.long_lived_is_access_token => Some(access.expiry()),
        // A separate long-lived token whose inspection failed.
        None => None,
    };
    summary.long_lived_expiry = long_lived.map(|e| lifetime(e, now));
    summary.data_access_expiry = Some(lifetime(access.info.data_access_expiry(), now));
}

fn lifetime(expiry: Expiry, now: i64) -> Lifetime {
    match expiry {
        Expiry::Never => Lifetime {
            never: true,
            ..Lifetime::default()
        },
        Expiry::Unknown => Lifetime::default(),
        Expiry::At(at) => Lifetime {
            expires_at: Some(at),
            never: false,
            days_left: Some(at.saturating_sub(now).div_euclid(DAY_SECS)),
        },
    }
}

/// `30d`, `36h`, `90m`, `45s`: the span in its largest unit that divides it.
fn span_label(secs: i64) -> String {
    match secs {
        s if s % DAY_SECS == 0 => format!("{}d", s / DAY_SECS),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

fn date(unix: i64) -> String {
    DateTime::<Utc>::from_timestamp(unix, 0)
        .map_or_else(|| unix.to_string(), |t| t.format("%Y-%m-%d").to_string())
}

fn percent(value: Option<f64>) -> String {
    value.map_or_else(String::new, |p| format!(" ({p:.1}%)"))
}

/// `in 59 days (2027-01-28)`, `never`, `expired 3 days ago (2026-11-27)`, `unknown (why)`.
fn describe_lifetime(lifetime: Option<&Lifetime>, why: Option<&str>) -> String {
    match lifetime {
        Some(Lifetime { never: true, .. }) => "never expires".to_string(),
        Some(Lifetime {
            expires_at: Some(at),
            days_left: Some(days),
            ..
        }) if *days >= 0 => format!("expires in {days} days ({})", date(*at)),
        Some(Lifetime {
            expires_at: Some(at),
            days_left: Some(days),
            ..
        }) => format!("expired {} days ago ({})", days.saturating_neg(), date(*at)),
        _ => match why {
            Some(why) => format!("unknown ({})", fit(why, 50)),
            None => "unknown".to_string(),
        },
    }
}

fn fit(text: &str, chars: usize) -> String {
    if text.chars().count() <= chars {
        return text.to_string();
    }
    let cut: String = text.chars().take(chars.saturating_sub(1)).collect();
    format!("{cut}…")
}

/// The human summary: a heading, then one block per account, labels in one column.
fn human(summary: &Summary) -> Vec<String> {
    let mut lines = vec![format!(
        "history summary: last {} ({} to {})",
        summary.since,
        date(summary.from),
        date(summary.to)
    )];
    if summary.accounts.is_empty() {
        lines.push("no accounts configured and no history yet".to_string());
    }
    for account in &summary.accounts {
        lines.push(String::new());
        lines.extend(account_block(account));
    }
    lines
}

/// `1 alert`, `2 alerts`.
fn plural(count: u32, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

fn field(label: &str, value: String) -> String {
    format!("  {label:<17} {value}")
}

fn account_block(account: &AccountSummary) -> Vec<String> {
    let d = &account.digest;
    let heading = if account.configured {
        d.account.clone()
    } else {
        format!("{} (not configured)", d.account)
    };
    let r = &d.refreshes;
    let mut refreshes = match r.attempted {
        0 => "no refreshes".to_string(),
        _ => format!(
            "{}/{} ok{}",
            r.succeeded,
            r.attempted,
            percent(r.success_percent)
        ),
    };
    if r.skipped > 0 {
        refreshes.push_str(&format!(", {} skipped", r.skipped));
    }
    if !r.failures.is_empty() {
        refreshes.push_str(&format!("; failed: {}", r.failure_words()));
    }
    let s = &d.sends;
    let test_sends = match s.test_sent {
        0 => "none".to_string(),
        _ => format!(
            "{}/{} accepted{}",
            s.test_accepted,
            s.test_sent,
            percent(s.test_success_percent)
        ),
    };
    let why = account.inspection_error.as_deref();
    let long_lived = describe_lifetime(account.long_lived_expiry.as_ref(), why);
    let mut lines = vec![
        heading,
        field("refreshes", refreshes),
        field(
            "re-auth",
            format!(
                "{}, {} by `tokentop exchange`",
                plural(d.reauth.alerts, "alert"),
                plural(d.reauth.exchanges, "exchange")
            ),
        ),
        field("test sends", test_sends),
        field("proxy sends", format!("{} failed", s.proxy_failed)),
        field(
            "long-lived token",
            if account.long_lived_is_access_token {
                format!("{long_lived}, the access token itself")
            } else {
                long_lived
            },
        ),
        field(
            "data access",
            describe_lifetime(account.data_access_expiry.as_ref(), why),
        ),
    ];
    if d.top_failures.is_empty() {
        lines.push(field("top failures", "none".to_string()));
    }
    for (i, failure) in d.top_failures.iter().enumerate() {
        let label = if i == 0 { "top failures" } else { "" };
        let text = format!(
            "{:>3}× {:<7} {}: {}",
            failure.count,
            failure.label(),
            failure.class,
            failure.title
        );
        lines.push(field(label, fit(&text, VALUE_CHARS)));
    }
    lines
}
