#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Token classes and owner labels on screen (issue 23 §3-4): the token panel names the class,
//! the fleet view gets a CLASS column once a class is known, and its filter takes class,
//! purpose and owner-label words.

use crate::dashboard_support;

use dashboard_support::*;
use insta::assert_snapshot;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use tokentop::config::Purpose;
use tokentop::engine::{AccountSnapshot, EngineEvent, TokenClass};
use tokentop::tui::App;

fn screen(app: &App, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal
        .draw(|frame| tokentop::ui::render(frame, app))
        .unwrap();
    terminal.backend().to_string()
}

/// Fleet account `i` with a class, a purpose and a team label that differ per account.
fn classified(i: usize) -> AccountSnapshot {
    let mut s = fleet_snapshot(i);
    s.token_class = TokenClass::ALL[i % TokenClass::ALL.len()];
    s.purpose = [Purpose::Both, Purpose::Messaging, Purpose::Management][i % 3];
    let team = if (i / 8).is_multiple_of(2) {
        "payments"
    } else {
        "ops"
    };
    s.labels.insert("team".to_string(), team.to_string());
    s
}

fn classified_fleet(count: usize) -> App {
    let mut app = fleet_app(count);
    for i in 0..count {
        engine(
            &mut app,
            EngineEvent::Account(std::sync::Arc::new(classified(i))),
        );
    }
    app
}

#[test]
fn the_fleet_shows_a_class_column_once_classes_are_known() {
    let app = classified_fleet(24);
    let wide = screen(&app, 120, 30);
    assert!(wide.contains("CLASS"), "{wide}");
    assert!(wide.contains("biz-60d"), "{wide}");
    assert_snapshot!("fleet_classes_120x30", wide);
    // At 80 columns the class goes first: the table stays as it was.
    assert!(!screen(&app, 80, 24).contains("CLASS"));
}

#[test]
fn the_fleet_filters_by_owner_label_and_class() {
    let mut app = classified_fleet(24);
    app.update(ch('/'));
    for c in "team=payments class=business-60d".chars() {
        app.update(ch(c));
    }
    let rows = app.fleet_rows();
    assert!(!rows.is_empty());
    for row in &rows {
        let snapshot = &app.accounts[*row].snapshot;
        assert_eq!(snapshot.labels["team"], "payments");
        assert_eq!(snapshot.token_class, TokenClass::Business60d);
    }
    let expected = (0..24usize)
        .filter(|i| (i / 8).is_multiple_of(2) && TokenClass::ALL[i % 8] == TokenClass::Business60d)
        .count();
    assert_eq!(rows.len(), expected);
    assert_eq!(expected, 2);
    assert_snapshot!("fleet_filter_label_class_120x30", screen(&app, 120, 30));
}

#[test]
fn a_class_change_refilters_the_fleet() {
    let mut app = classified_fleet(24);
    app.update(ch('/'));
    for c in "class=app".chars() {
        app.update(ch(c));
    }
    let before = app.fleet_rows().len();
    let mut moved = classified(0);
    moved.token_class = TokenClass::App;
    engine(&mut app, EngineEvent::Account(std::sync::Arc::new(moved)));
    assert_eq!(app.fleet_rows().len(), before + 1);
}

#[test]
fn a_label_changed_by_a_reload_refilters_the_fleet() {
    let mut app = classified_fleet(24);
    app.update(ch('/'));
    for c in "team=payments".chars() {
        app.update(ch(c));
    }
    let before = app.fleet_rows().len();
    // Account 0 is on payments; its file now says ops (same class, same count).
    let mut moved = classified(0);
    moved.labels.insert("team".to_string(), "ops".to_string());
    engine(&mut app, EngineEvent::Account(std::sync::Arc::new(moved)));
    assert_eq!(app.fleet_rows().len(), before - 1);
}

#[test]
fn the_token_panel_names_the_class() {
    let mut snapshot = healthy("production");
    snapshot.token_class = TokenClass::Business60d;
    snapshot.action_hint = Some(
        "re-auth needed before 2026-05-13 12:00:00 UTC: Meta documents no renewal of a 60-day \
         business token: the customer must run Embedded Signup again"
            .to_string(),
    );
    let app = app_with(snapshot);
    let text = screen(&app, 120, 40);
    assert!(text.contains("business-60d"), "{text}");
    assert_snapshot!("token_panel_business_60d_120x40", text);
}
