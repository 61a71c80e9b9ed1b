#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Whole-screen snapshots of the dashboard at 80x24, 120x40 and a too-small size, drawn with
//! a fixed clock and the mono theme so they are stable.

use crate::dashboard_support;

use dashboard_support::*;
use insta::assert_snapshot;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::Color;
use tokentop::config::Theme;
use tokentop::engine::{AccountSnapshot, TokenState};
use tokentop::tui::{App, Msg};

fn screen(app: &App, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal
        .draw(|frame| tokentop::ui::render(frame, app))
        .unwrap();
    terminal.backend().to_string()
}

fn buffer(app: &App, width: u16, height: u16) -> Buffer {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal
        .draw(|frame| tokentop::ui::render(frame, app))
        .unwrap();
    terminal.backend().buffer().clone()
}

/// The colours of the first cell of the first row that contains `text`.
fn colours_at(buffer: &Buffer, text: &str) -> (Color, Color) {
    let area = buffer.area;
    for y in 0..area.height {
        let row: String = (0..area.width)
            .map(|x| buffer[(x, y)].symbol().to_string())
            .collect();
        if let Some(byte) = row.find(text) {
            let x = u16::try_from(row[..byte].chars().count()).unwrap();
            let cell = &buffer[(x, y)];
            return (cell.fg, cell.bg);
        }
    }
    panic!("{text:?} is not on the screen");
}

/// Issue 10: the long-lived token is dead but the access token still sends for 59 days.
fn reauth_with_time(name: &str) -> AccountSnapshot {
    let now = now_unix();
    let mut s = reauth(name);
    s.state = TokenState::ReauthRequired {
        reason: "the long-lived token has expired".to_string(),
    };
    s.access_token_masked = Some("EAAG…a1B2".to_string());
    s.access = Some(tokentop::engine::Inspection {
        checked_at: fixed_now() - chrono::Duration::seconds(40),
        info: info("USER", now - DAY, now + 59 * DAY + 3 * 3600, now + 80 * DAY),
    });
    s.last_error = None;
    s
}

fn both_sizes(name: &str, app: &App) {
    assert_snapshot!(format!("{name}_80x24"), screen(app, 80, 24));
    assert_snapshot!(format!("{name}_120x40"), screen(app, 120, 40));
}

#[test]
fn healthy_account() {
    both_sizes("healthy", &app_with(healthy("production")));
}

/// Issue 22: Meta's `phone_number_quality_update` shows at once, with its age, until the next
/// poll.
#[test]
fn phone_news_from_a_webhook() {
    let mut app = app_with(healthy("production"));
    let news = phone_news("production", "THROUGHPUT_UPGRADE", "TIER_10K", 120);
    app.update(Msg::Engine(tokentop::engine::EngineEvent::PhoneNews(
        Box::new(news),
    )));
    let text = screen(&app, 120, 40);
    assert!(
        text.contains("phone limit TIER_10K ↑ THROUGHPUT_UPGRADE · webhook 2m ago"),
        "{text}"
    );
    assert!(
        !text.contains("TIER_1K"),
        "the polled limit is older: {text}"
    );
    both_sizes("phone_news", &app);
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
fn reauth_required_while_the_access_token_still_sends() {
    both_sizes("reauth_with_time", &app_with(reauth_with_time("legacy")));
}

/// Severity follows the time until sending stops: the dashboard colours a needed re-auth
/// yellow while the access token has weeks, red once it is inside critical-before.
#[test]
fn the_banner_is_yellow_while_the_access_token_has_time_and_red_once_it_is_dead() {
    let mut app = app_with(reauth_with_time("legacy"));
    app.theme = Theme::Dark;
    let drawn = buffer(&app, 120, 40);
    let (_, banner_bg) = colours_at(&drawn, "RE-AUTH REQUIRED");
    assert_eq!(banner_bg, Color::Yellow);
    assert_eq!(colours_at(&drawn, "re-auth required").0, Color::Yellow);
    assert_eq!(colours_at(&drawn, "59d 03:00:00").0, Color::Green);
    assert_eq!(
        colours_at(&drawn, "expired 00:10:00 ago").0,
        Color::Yellow,
        "the dead long-lived token is as urgent as the re-auth it calls for"
    );
    let text = screen(&app, 120, 40);
    assert!(text.contains("· re-auth needed within 59d"), "{text}");

    let mut soon = reauth_with_time("legacy");
    if let Some(access) = soon.access.as_mut() {
        access.info.expires_at = Some(now_unix() + 3600);
    }
    let mut app = app_with(soon);
    app.theme = Theme::Dark;
    let drawn = buffer(&app, 120, 40);
    assert_eq!(colours_at(&drawn, "RE-AUTH REQUIRED").1, Color::Red);
    assert_eq!(colours_at(&drawn, "re-auth required").0, Color::Red);

    let mut dead = app_with(reauth("legacy"));
    dead.theme = Theme::Dark;
    assert_eq!(
        colours_at(&buffer(&dead, 120, 40), "RE-AUTH REQUIRED").1,
        Color::Red
    );
}

/// Exchanges can no longer extend the token: the engine leaves a hint while the token works.
#[test]
fn a_token_that_can_no_longer_be_extended_gets_a_yellow_banner_with_the_deadline() {
    let mut capped = healthy("production");
    capped.next_refresh_at = None;
    capped.action_hint = Some(format!(
        "re-auth needed before 2026-04-24 17:15 UTC: exchanges cannot extend the token. {}",
        tokentop::engine::reauth_hint("production", true)
    ));
    let mut app = app_with(capped);
    let text = screen(&app, 120, 40);
    assert!(
        text.contains(
            "! RE-AUTH NEEDED: tokentop can no longer extend this token · re-auth needed within 41d"
        ),
        "{text}"
    );
    assert!(text.contains("Meta Business Settings"), "{text}");
    app.theme = Theme::Dark;
    assert_eq!(
        colours_at(&buffer(&app, 120, 40), "RE-AUTH NEEDED").1,
        Color::Yellow
    );
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

// ---- the fleet view (issue 14 §5) ----

#[test]
fn fleet_of_sixty_accounts() {
    both_sizes("fleet", &fleet_app(60));
}

#[test]
fn fleet_filtered_by_name() {
    let mut app = fleet_app(60);
    app.update(ch('/'));
    for c in "acme".chars() {
        app.update(ch(c));
    }
    assert_snapshot!("fleet_filter_80x24", screen(&app, 80, 24));
}

#[test]
fn fleet_help() {
    let mut app = fleet_app(60);
    app.update(ch('?'));
    assert_snapshot!("fleet_help_80x24", screen(&app, 80, 24));
}

#[test]
fn an_account_opened_from_the_fleet_offers_the_way_back() {
    let mut app = fleet_app(60);
    app.update(Msg::Key(crossterm::event::KeyEvent::new(
        crossterm::event::KeyCode::Enter,
        crossterm::event::KeyModifiers::NONE,
    )));
    assert_snapshot!("fleet_account_80x24", screen(&app, 80, 24));
}

/// NO_COLOR: every row still says its state in a symbol and a word; in colour the worst rows
/// are red and the healthy ones green.
#[test]
fn fleet_states_read_without_colour() {
    let mono = fleet_app(60);
    let text = screen(&mono, 120, 40);
    for word in [
        "✗ re-auth required",
        "✗ expired",
        "◷ expiring",
        "! backoff",
        "✓ valid",
    ] {
        assert!(text.contains(word), "{word}: {text}");
    }
    let drawn = buffer(&mono, 120, 40);
    for y in 0..drawn.area.height {
        for x in 0..drawn.area.width {
            assert_eq!(drawn[(x, y)].fg, Color::Reset, "mono has no colour");
        }
    }
    let mut app = fleet_app(60);
    app.theme = Theme::Dark;
    let drawn = buffer(&app, 120, 40);
    assert_eq!(colours_at(&drawn, "✗ expired").0, Color::Red);
    assert_eq!(colours_at(&drawn, "✓ valid").0, Color::Green);
    assert_eq!(colours_at(&drawn, "! backoff").0, Color::Yellow);
}
