//! `tokentop check [--json]`: one inspection of every account, monitoring-plugin exit codes.
//!
//! Exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN. Overall status is the worst account's, in the
//! order CRITICAL > UNKNOWN > WARNING > OK. The `--json` shape is documented in the README.

use std::process::ExitCode;
use std::time::Duration;

use serde::Serialize;

use super::common::{
    EXIT_UNKNOWN, format_left, load_settings, one_shot_options, require_accounts, shutdown,
    start_engine, wait_settled,
};
use crate::cli::{CheckArgs, GlobalArgs};
use crate::config::{RefreshPolicy, Settings};
use crate::engine::AccountSnapshot;
use crate::engine::history::{HistoryEvent, HistoryLog, Outcome};
use crate::graph::Expiry;

/// Monitoring-plugin status of one account or of the whole check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    Ok,
    Warning,
    Unknown,
    Critical,
}

impl Status {
    pub fn exit_code(self) -> u8 {
        match self {
            Status::Ok => 0,
            Status::Warning => 1,
            Status::Critical => 2,
            Status::Unknown => 3,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::Warning => "WARNING",
            Status::Critical => "CRITICAL",
            Status::Unknown => "UNKNOWN",
        }
    }
}

/// One token's expiry in the JSON report.
#[derive(Debug, Clone, Serialize)]
pub struct ExpiryReport {
    /// Unix seconds; `null` when it never expires or is unknown.
    pub expires_at: Option<i64>,
    pub never: bool,
    pub seconds_left: Option<i64>,
}

/// One account in the JSON report.
#[derive(Debug, Clone, Serialize)]
pub struct AccountReport {
    pub name: String,
    pub status: Status,
    pub state: String,
    pub reasons: Vec<String>,
    pub token_type: Option<String>,
    pub access_token: Option<String>,
    pub access_expiry: Option<ExpiryReport>,
    /// `null` when the access token is its own long-lived token.
    pub long_lived_token: Option<String>,
    pub long_lived_expiry: Option<ExpiryReport>,
    pub data_access_expiry: Option<ExpiryReport>,
    pub missing_scopes: Vec<String>,
    pub action_hint: Option<String>,
}

/// The whole JSON report.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub status: Status,
    pub exit_code: u8,
    pub checked_at: i64,
    pub accounts: Vec<AccountReport>,
}

pub async fn run(global: &GlobalArgs, args: &CheckArgs) -> anyhow::Result<ExitCode> {
    let _guard;
    let settings = match load_settings(global).and_then(|s| require_accounts(&s).map(|()| s)) {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("tokentop check: UNKNOWN - {err:#}");
            return Ok(ExitCode::from(EXIT_UNKNOWN));
        }
    };
    _guard = crate::logging::init(
        &settings.data_dir,
        crate::logging::Console::Stderr { verbose: false },
    );
    let report = inspect_all(&settings).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for account in &report.accounts {
            println!("{}", account_line(account));
        }
    }
    Ok(ExitCode::from(report.exit_code))
}

pub async fn inspect_all(settings: &Settings) -> anyhow::Result<CheckReport> {
    let (handle, mut events) = start_engine(settings, one_shot_options())?;
    let names: Vec<String> = settings.accounts.iter().map(|a| a.name.clone()).collect();
    let limit = settings.graph.request_timeout + Duration::from_secs(5);
    let latest = wait_settled(&mut events, &names, limit).await;
    shutdown(&handle, &mut events).await;
    let failing = failing_refreshes(&HistoryLog::new(&settings.data_dir));
    let now = chrono::Utc::now().timestamp();
    let accounts: Vec<AccountReport> = names
        .iter()
        .map(|name| {
            let snapshot = latest
                .get(name)
                .cloned()
                .unwrap_or_else(|| AccountSnapshot::new(name));
            account_report(&snapshot, &settings.refresh, now, failing.contains(name))
        })
        .collect();
    let status = accounts
        .iter()
        .map(|a| a.status)
        .max()
        .unwrap_or(Status::Unknown);
    Ok(CheckReport {
        status,
        exit_code: status.exit_code(),
        checked_at: now,
        accounts,
    })
}

/// Accounts whose most recent refresh in history failed.
fn failing_refreshes(history: &HistoryLog) -> Vec<String> {
    let mut last: std::collections::HashMap<String, Outcome> = Default::default();
    for entry in history.load().unwrap_or_default() {
        if entry.event == HistoryEvent::Refresh && entry.outcome != Outcome::Skipped {
            last.insert(entry.account, entry.outcome);
        }
    }
    last.into_iter()
        .filter(|(_, outcome)| *outcome == Outcome::Failed)
        .map(|(name, _)| name)
        .collect()
}

fn expiry_report(expiry: Expiry, now: i64) -> ExpiryReport {
    match expiry {
        Expiry::Never => ExpiryReport {
            expires_at: None,
            never: true,
            seconds_left: None,
        },
        Expiry::Unknown => ExpiryReport {
            expires_at: None,
            never: false,
            seconds_left: None,
        },
        Expiry::At(at) => ExpiryReport {
            expires_at: Some(at),
            never: false,
            seconds_left: Some(at - now),
        },
    }
}

/// Status of one account and why: a pure function, unit-tested below.
pub fn account_report(
    snapshot: &AccountSnapshot,
    policy: &RefreshPolicy,
    now: i64,
    refresh_failing: bool,
) -> AccountReport {
    let mut reasons = Vec::new();
    let mut status = Status::Ok;
    let mut raise = |to: Status, reason: String, reasons: &mut Vec<String>| {
        status = status.max(to);
        reasons.push(reason);
    };
    let warn_secs = i64::try_from(policy.warn_before.as_secs()).unwrap_or(i64::MAX);
    let critical_secs = i64::try_from(policy.critical_before.as_secs()).unwrap_or(i64::MAX);
    if let Some(problem) = &snapshot.config_problem {
        raise(
            Status::Unknown,
            format!("not configured: {problem}"),
            &mut reasons,
        );
    } else if snapshot.access.is_none() {
        let why = snapshot
            .last_error
            .clone()
            .unwrap_or_else(|| "no answer from the Graph API".into());
        raise(Status::Unknown, why, &mut reasons);
    }
    if snapshot.state.is_critical() {
        raise(
            Status::Critical,
            snapshot.state.label().to_string(),
            &mut reasons,
        );
    }
    let tokens = [
        ("access token", &snapshot.access),
        ("long-lived token", &snapshot.long_lived),
    ];
    for (what, inspection) in tokens {
        if let Some(Expiry::At(at)) = inspection.as_ref().map(|i| i.expiry()) {
            let left = at - now;
            if left <= critical_secs {
                raise(
                    Status::Critical,
                    format!("{what} expires in {}", format_left(left)),
                    &mut reasons,
                );
            } else if left <= warn_secs {
                raise(
                    Status::Warning,
                    format!("{what} expires in {}", format_left(left)),
                    &mut reasons,
                );
            }
        }
    }
    if refresh_failing && !snapshot.state.is_critical() {
        raise(
            Status::Warning,
            "last refresh failed".to_string(),
            &mut reasons,
        );
    }
    if !snapshot.missing_scopes.is_empty() {
        let missing = snapshot.missing_scopes.join(", ");
        raise(
            Status::Warning,
            format!("missing scopes: {missing}"),
            &mut reasons,
        );
    }
    let info = snapshot.access.as_ref().map(|i| &i.info);
    AccountReport {
        name: snapshot.name.clone(),
        status,
        state: snapshot.state.label().to_string(),
        reasons,
        token_type: info.and_then(|i| i.token_type.clone()),
        access_token: snapshot.access_token_masked.clone(),
        access_expiry: info.map(|i| expiry_report(i.expiry(), now)),
        long_lived_token: snapshot.long_lived_token_masked.clone(),
        long_lived_expiry: snapshot
            .long_lived
            .as_ref()
            .map(|i| expiry_report(i.expiry(), now)),
        data_access_expiry: info.map(|i| expiry_report(i.data_access_expiry(), now)),
        missing_scopes: snapshot.missing_scopes.clone(),
        action_hint: snapshot.action_hint.clone(),
    }
}

fn describe(expiry: &Option<ExpiryReport>) -> String {
    match expiry {
        Some(ExpiryReport { never: true, .. }) => "never".to_string(),
        Some(ExpiryReport {
            seconds_left: Some(left),
            ..
        }) => format_left(*left),
        _ => "unknown".to_string(),
    }
}

/// `production: OK - valid; access 41d 03:12:45 (SYSTEM_USER EAAG…x9Qf); long-lived same token; data access never; scopes ok`
pub fn account_line(report: &AccountReport) -> String {
    let long_lived = match &report.long_lived_token {
        None => "same token".to_string(),
        Some(_) => describe(&report.long_lived_expiry),
    };
    let scopes = if report.missing_scopes.is_empty() {
        "ok".to_string()
    } else {
        format!("missing {}", report.missing_scopes.join(", "))
    };
    let mut line = format!(
        "{}: {} - {}; access {} ({} {}); long-lived {}; data access {}; scopes {}",
        report.name,
        report.status.label(),
        report.state,
        describe(&report.access_expiry),
        report.token_type.as_deref().unwrap_or("type unknown"),
        report.access_token.as_deref().unwrap_or("no token"),
        long_lived,
        describe(&report.data_access_expiry),
        scopes
    );
    if !report.reasons.is_empty() {
        line.push_str(&format!(" [{}]", report.reasons.join("; ")));
    }
    if let Some(hint) = &report.action_hint {
        line.push_str(&format!("\n  what to do: {hint}"));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Inspection, TokenState};
    use crate::graph::TokenInfo;

    const NOW: i64 = 1_800_000_000;

    fn snapshot(expires_at: i64, valid: bool) -> AccountSnapshot {
        let info: TokenInfo = serde_json::from_value(serde_json::json!({
            "is_valid": valid, "type": "SYSTEM_USER", "expires_at": expires_at,
            "scopes": ["whatsapp_business_management", "whatsapp_business_messaging"]
        }))
        .unwrap();
        let mut s = AccountSnapshot::new("a");
        s.access = Some(Inspection {
            checked_at: chrono::Utc::now(),
            info,
        });
        s.state = if valid {
            TokenState::Valid
        } else {
            TokenState::Expired
        };
        s
    }

    fn status(s: &AccountSnapshot, failing: bool) -> Status {
        account_report(s, &RefreshPolicy::default(), NOW, failing).status
    }

    #[test]
    fn far_expiry_is_ok_and_never_is_ok() {
        assert_eq!(
            status(&snapshot(NOW + 30 * 86_400, true), false),
            Status::Ok
        );
        assert_eq!(status(&snapshot(0, true), false), Status::Ok);
    }

    #[test]
    fn inside_warn_before_is_warning_inside_critical_before_is_critical() {
        assert_eq!(
            status(&snapshot(NOW + 3 * 86_400, true), false),
            Status::Warning
        );
        assert_eq!(status(&snapshot(NOW + 3600, true), false), Status::Critical);
    }

    #[test]
    fn dead_states_are_critical() {
        assert_eq!(status(&snapshot(NOW - 10, false), false), Status::Critical);
        let mut s = snapshot(NOW + 30 * 86_400, true);
        s.state = TokenState::ReauthRequired { reason: "x".into() };
        assert_eq!(status(&s, false), Status::Critical);
    }

    #[test]
    fn failing_refresh_is_warning() {
        assert_eq!(
            status(&snapshot(NOW + 30 * 86_400, true), true),
            Status::Warning
        );
    }

    #[test]
    fn uninspectable_account_is_unknown() {
        let mut s = AccountSnapshot::new("a");
        s.last_error = Some("connection refused".into());
        assert_eq!(status(&s, false), Status::Unknown);
        let mut s = AccountSnapshot::new("a");
        s.config_problem = Some("missing app-secret".into());
        assert_eq!(status(&s, false), Status::Unknown);
    }

    #[test]
    fn overall_order_is_critical_unknown_warning_ok() {
        assert!(Status::Critical > Status::Unknown);
        assert!(Status::Unknown > Status::Warning);
        assert!(Status::Warning > Status::Ok);
    }
}
