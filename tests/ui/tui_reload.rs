#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The dashboard following a reload of the accounts: a new account's row at once, a removed
//! one gone (and not brought back by its stopping actor's last snapshot), and a log-panel line
//! naming the change and every skipped account file.

use crate::dashboard_support;

use std::sync::Arc;

use dashboard_support::*;
use tokentop::config::{ConfigIssue, InvalidAccountFile};
use tokentop::engine::EngineEvent;
use tokentop::engine::accounts_diff::AccountsDiff;
use tokentop::engine::reload::AccountsChange;
use tokentop::tui::App;

fn names(app: &App) -> Vec<String> {
    app.fleet_rows()
        .into_iter()
        .map(|i| app.accounts[i].name().to_string())
        .collect()
}

fn screen(app: &App, width: u16, height: u16) -> String {
    let mut terminal =
        ratatui::Terminal::new(ratatui::backend::TestBackend::new(width, height)).unwrap();
    terminal
        .draw(|frame| tokentop::ui::render(frame, app))
        .unwrap();
    terminal.backend().to_string()
}

/// Eight fleet accounts; the reload removes the first, adds `newco-01` and skips `bad.toml`.
fn reloaded() -> App {
    let mut app = fleet_app(8);
    let mut settings = fleet_settings(9);
    let removed = settings.accounts.remove(0);
    Arc::make_mut(&mut settings.accounts[7]).name = "newco-01".to_string();
    let issue = ConfigIssue {
        file: Some("/etc/tokentop/accounts.d/bad.toml".into()),
        line: Some(2),
        key: "account.app-id".into(),
        value: Some("\"12x\"".into()),
        problem: "not a Meta id".into(),
        allowed: "digits".into(),
    };
    let change = AccountsChange {
        diff: AccountsDiff {
            added: vec!["newco-01".into()],
            removed: vec![removed.name.clone()],
            ..AccountsDiff::default()
        },
        accounts: settings.accounts,
        invalid_files: vec![InvalidAccountFile {
            path: "/etc/tokentop/accounts.d/bad.toml".into(),
            issues: vec![issue],
        }],
        refused: None,
    };
    engine(&mut app, EngineEvent::AccountsChanged(Box::new(change)));
    app
}

#[test]
fn a_reload_adds_and_removes_rows_at_once() {
    let before = names(&fleet_app(8));
    let gone = fleet_name(0);
    assert!(before.contains(&gone));
    let mut app = reloaded();
    let after = names(&app);
    assert_eq!(after.len(), 8, "{after:?}");
    assert!(after.contains(&"newco-01".to_string()), "{after:?}");
    assert!(!after.contains(&gone), "{after:?}");
    // The removed account's actor may still send a snapshot while it stops.
    engine(
        &mut app,
        EngineEvent::Account(std::sync::Arc::new(fleet_snapshot(0))),
    );
    assert!(!names(&app).contains(&gone));
}

#[test]
fn a_reload_is_told_in_the_log_panel_with_every_skipped_file() {
    let app = reloaded();
    let lines: Vec<String> = app.logs.all().map(|l| l.text.to_string()).collect();
    let summary = format!(
        "[tokentop] accounts reloaded (8 running): added newco-01; removed {}; invalid /etc/tokentop/accounts.d/bad.toml",
        fleet_name(0)
    );
    assert!(lines.contains(&summary), "{lines:#?}");
    let skipped = "[tokentop] skipped: /etc/tokentop/accounts.d/bad.toml:2: account.app-id = \"12x\": not a Meta id; allowed: digits";
    assert!(lines.iter().any(|l| l == skipped), "{lines:#?}");
    insta::assert_snapshot!("fleet_after_reload_120x40", screen(&app, 120, 40));
}

#[test]
fn events_after_a_reload_reach_the_right_rows() {
    let mut app = reloaded();
    for name in ["newco-01".to_string(), fleet_name(3)] {
        let message = format!("alert for {name}");
        engine(
            &mut app,
            EngineEvent::Alert {
                account: name.clone(),
                message: message.clone(),
            },
        );
        let view = app.accounts.iter().find(|v| v.name() == name).unwrap();
        assert_eq!(
            view.last_alert.as_ref().map(|(_, m)| m.as_str()),
            Some(message.as_str())
        );
    }
    let alerted = app
        .accounts
        .iter()
        .filter(|v| v.last_alert.is_some())
        .count();
    assert_eq!(alerted, 2);
}
