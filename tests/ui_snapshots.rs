#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Whole-screen snapshots of the dashboard at 80x24, 120x40 and a too-small size, drawn with
//! a fixed clock and the mono theme so they are stable.

mod dashboard_support;

use dashboard_support::*;
use insta::assert_snapshot;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use tokentop::tui::{App, Msg};

fn screen(app: &App, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal
        .draw(|frame| tokentop::ui::render(frame, app))
        .unwrap();
    terminal.backend().to_string()
}

fn both_sizes(name: &str, app: &App) {
    assert_snapshot!(format!("{name}_80x24"), screen(app, 80, 24));
    assert_snapshot!(format!("{name}_120x40"), screen(app, 120, 40));
}

#[test]
fn healthy_account() {
    both_sizes("healthy", &app_with(healthy("production")));
}

#[test]
fn expiring_account() {
    both_sizes("expiring", &app_with(expiring("staging")));
}

#[test]
fn reauth_required_account() {
    both_sizes("reauth", &app_with(reauth("legacy")));
}

#[test]
fn help_overlay() {
    let mut app = app_with(healthy("production"));
    app.update(ch('?'));
    both_sizes("help", &app);
}

#[test]
fn test_message_confirmation() {
    let mut app = app_with(healthy("production"));
    app.update(ch('t'));
    both_sizes("confirm_send", &app);
}

#[test]
fn too_small_terminal() {
    let app = app_with(healthy("production"));
    assert_snapshot!("too_small_59x16", screen(&app, 59, 16));
    assert_snapshot!("too_small_80x15", screen(&app, 80, 15));
}

#[test]
fn countdown_moves_with_the_clock() {
    let mut app = app_with(healthy("production"));
    let before = screen(&app, 80, 24);
    app.update(Msg::Tick(fixed_now() + chrono::Duration::seconds(1)));
    let after = screen(&app, 80, 24);
    assert!(before.contains("41d 03:12:45"), "{before}");
    assert!(after.contains("41d 03:12:44"), "{after}");
}

#[test]
fn states_are_written_as_words_not_only_colours() {
    let screen = screen(&app_with(reauth("legacy")), 120, 40);
    assert!(screen.contains("re-auth required"));
    assert!(screen.contains("RE-AUTH REQUIRED"));
    assert!(screen.contains("tokentop exchange"));
}

#[test]
fn expired_and_invalid_tokens_get_the_banner_too() {
    let mut expired = healthy("production");
    expired.state = tokentop::engine::TokenState::Expired;
    let drawn = screen(&app_with(expired), 80, 24);
    assert!(drawn.contains("✗ TOKEN EXPIRED"), "{drawn}");
    assert!(drawn.contains("press r to refresh now"), "{drawn}");

    let mut invalid = healthy("production");
    invalid.state = tokentop::engine::TokenState::Invalid {
        code: Some(190),
        subcode: Some(460),
    };
    let drawn = screen(&app_with(invalid), 80, 24);
    assert!(drawn.contains("✗ TOKEN INVALID (190/460)"), "{drawn}");
    assert!(drawn.contains("✗ invalid (190/460)"), "{drawn}");
}

#[test]
fn a_long_reason_wraps_and_is_cut_after_two_lines() {
    let mut snapshot = reauth("legacy");
    snapshot.state = tokentop::engine::TokenState::ReauthRequired {
        reason: "word ".repeat(60),
    };
    let screen = screen(&app_with(snapshot), 80, 24);
    assert!(screen.contains("word …"), "{screen}");
    assert!(
        screen.contains("ACCESS TOKEN"),
        "the countdowns stay visible: {screen}"
    );
}
