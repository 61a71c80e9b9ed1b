#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `App::update` for every key, click and engine event: state changes and returned effects.

use crate::dashboard_support;

use crossterm::event::{KeyCode, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use dashboard_support::*;
use tokentop::config::PatternLevel;
use tokentop::engine::history::cause::{SendChannel, Trigger};
use tokentop::engine::history::{HistoryEntry, Outcome};
use tokentop::engine::{EngineCommand, EngineEvent, RefreshReport, SendReport, TokenState};
use tokentop::tui::{
    App, Effect, Focus, MAX_HISTORY_ROWS, MAX_PAUSED_LINES, Msg, Overlay, PAGE_ROWS,
};

fn refresh_id(effects: &[Effect]) -> u64 {
    match effects {
        [Effect::Send(EngineCommand::ForceRefresh { request_id, .. })] => *request_id,
        other => panic!("expected one ForceRefresh, got {other:?}"),
    }
}

fn refresh_report(account: &str, ok: bool) -> RefreshReport {
    RefreshReport {
        account: account.to_string(),
        ok,
        message: if ok { "refreshed" } else { "190 expired" }.to_string(),
        new_expires_at: ok.then_some(tokentop::graph::Expiry::At(now_unix() + 60 * DAY)),
        error: (!ok).then(|| tokentop::engine::RefreshError {
            message: "190 expired".into(),
            class: tokentop::graph::ErrorClass::TokenDead,
            code: Some(190),
            subcode: None,
            remedy: "mint a new token".into(),
        }),
        failed_steps: Vec::new(),
    }
}

fn send_report(account: &str) -> SendReport {
    SendReport {
        account: account.to_string(),
        accepted: true,
        to: Some("15551234567".to_string()),
        message_id: Some("wamid.X".to_string()),
        message_status: Some("accepted".to_string()),
        error: None,
        error_code: None,
        error_title: None,
        refreshed: false,
        latency_ms: 210,
    }
}

fn click(app: &mut App, column: u16, row: u16) -> Vec<Effect> {
    app.update(Msg::Mouse(MouseEvent {
        kind: MouseEventKind::Down(MouseButton::Left),
        column,
        row,
        modifiers: KeyModifiers::NONE,
    }))
}

// ---- r ----

#[test]
fn r_forces_one_refresh_of_the_selected_account_until_it_finishes() {
    let mut app = new_app();
    let effects = app.update(ch('r'));
    let id = refresh_id(&effects);
    assert_eq!(
        effects,
        [Effect::Send(EngineCommand::ForceRefresh {
            account: Some("production".to_string()),
            request_id: id
        })]
    );
    assert_eq!(app.accounts[0].refresh_pending, Some(id));
    assert!(
        app.update(ch('r')).is_empty(),
        "r while one is pending is ignored"
    );

    engine(
        &mut app,
        EngineEvent::RefreshFinished {
            request_id: id,
            report: refresh_report("production", true),
        },
    );
    assert_eq!(app.accounts[0].refresh_pending, None);
    assert!(app.accounts[0].last_refresh.as_ref().unwrap().1.ok);
    let again = refresh_id(&app.update(ch('r')));
    assert_ne!(again, id, "each request has its own id");
}

#[test]
fn refresh_pending_is_per_account() {
    let mut app = new_app();
    refresh_id(&app.update(ch('r')));
    app.update(ch('2'));
    let effects = app.update(ch('r'));
    assert!(matches!(
        &effects[..],
        [Effect::Send(EngineCommand::ForceRefresh { account: Some(a), .. })] if a == "staging"
    ));
}

#[test]
fn refreshing_is_shown_until_refresh_finished() {
    let mut app = app_with(healthy("production"));
    app.update(ch('r'));
    let screen = render(&app);
    assert!(screen.contains("refreshing…"), "{screen}");
}

// ---- t ----

#[test]
fn t_asks_for_confirmation_naming_the_recipient_and_y_sends() {
    let mut app = app_with(healthy("production"));
    assert!(
        app.update(ch('t')).is_empty(),
        "nothing is sent before confirming"
    );
    assert_eq!(
        app.overlay,
        Some(Overlay::ConfirmSend {
            account: "production".to_string(),
            to: "15551234567".to_string()
        })
    );
    let effects = app.update(ch('y'));
    let [
        Effect::Send(EngineCommand::SendTest {
            account,
            to,
            request_id,
        }),
    ] = &effects[..]
    else {
        panic!("expected SendTest, got {effects:?}");
    };
    assert_eq!(account, "production");
    assert_eq!(to.as_deref(), Some("15551234567"));
    assert_eq!(app.overlay, None);
    assert_eq!(app.accounts[0].send_pending, Some(*request_id));
}

#[test]
fn enter_also_confirms_the_test_message() {
    let mut app = app_with(healthy("production"));
    app.update(ch('t'));
    let effects = app.update(key(KeyCode::Enter));
    assert!(matches!(
        &effects[..],
        [Effect::Send(EngineCommand::SendTest { .. })]
    ));
}

#[test]
fn n_and_esc_cancel_the_test_message() {
    for cancel in [ch('n'), key(KeyCode::Esc)] {
        let mut app = app_with(healthy("production"));
        app.update(ch('t'));
        assert!(
            app.update(cancel).is_empty(),
            "cancel neither sends nor quits"
        );
        assert_eq!(app.overlay, None);
        assert_eq!(app.accounts[0].send_pending, None);
    }
}

#[test]
fn other_keys_keep_the_confirmation_open() {
    let mut app = app_with(healthy("production"));
    app.update(ch('t'));
    assert!(app.update(ch('r')).is_empty());
    assert!(matches!(app.overlay, Some(Overlay::ConfirmSend { .. })));
}

#[test]
fn t_without_recipient_says_how_to_set_one() {
    let mut app = new_app();
    app.update(ch('3'));
    assert!(app.update(ch('t')).is_empty());
    let Some(Overlay::Notice { text, .. }) = &app.overlay else {
        panic!("expected a notice, got {:?}", app.overlay);
    };
    assert!(text.contains("[account.test-message]"), "{text}");
    assert!(
        text.contains("/home/op/.config/tokentop/config.toml"),
        "{text}"
    );
    assert!(app.update(ch('x')).is_empty(), "any key closes a notice");
    assert_eq!(app.overlay, None);
}

#[test]
fn send_finished_records_the_last_test_message_and_clears_pending() {
    let mut app = new_app();
    app.update(ch('t'));
    let effects = app.update(ch('y'));
    let [Effect::Send(EngineCommand::SendTest { request_id, .. })] = &effects[..] else {
        panic!("{effects:?}");
    };
    engine(
        &mut app,
        EngineEvent::SendFinished {
            request_id: *request_id,
            report: send_report("production"),
        },
    );
    assert_eq!(app.accounts[0].send_pending, None);
    let (at, report) = app.accounts[0].last_send.clone().unwrap();
    assert_eq!(at, fixed_now());
    assert_eq!(report.message_status.as_deref(), Some("accepted"));
}

#[test]
fn another_clients_send_does_not_clear_our_pending_send() {
    let mut app = new_app();
    app.update(ch('t'));
    app.update(ch('y'));
    engine(
        &mut app,
        EngineEvent::SendFinished {
            request_id: 29,
            report: send_report("production"),
        },
    );
    assert!(app.accounts[0].send_pending.is_some());
    assert!(
        app.accounts[0].last_send.is_some(),
        "still the latest test message"
    );
}

// ---- account selection ----

#[test]
fn tab_and_shift_tab_cycle_accounts() {
    let mut app = new_app();
    app.update(key(KeyCode::Tab));
    assert_eq!(app.selected, 1);
    app.update(key(KeyCode::Tab));
    app.update(key(KeyCode::Tab));
    assert_eq!(app.selected, 0, "wraps around");
    app.update(key(KeyCode::BackTab));
    assert_eq!(app.selected, 2);
}

#[test]
fn digits_pick_an_account_and_ignore_missing_ones() {
    let mut app = new_app();
    app.update(ch('3'));
    assert_eq!(app.selected, 2);
    app.update(ch('9'));
    assert_eq!(app.selected, 2, "no ninth account");
    app.update(ch('1'));
    assert_eq!(app.selected, 0);
}

#[test]
fn clicking_a_tab_selects_its_account() {
    let mut app = app_with(healthy("production"));
    app.update(Msg::Resize {
        width: 80,
        height: 24,
    });
    let header = render(&app).lines().next().unwrap().to_string();
    let column = header.chars().position(|c| c == 'l').unwrap(); // "legacy"
    click(&mut app, u16::try_from(column).unwrap() - 1, 0);
    assert_eq!(app.selected, 2, "{header}");
    click(&mut app, 3, 0);
    assert_eq!(app.selected, 2, "a click on the brand selects nothing");
    click(&mut app, u16::try_from(column).unwrap(), 5);
    assert_eq!(app.selected, 2, "only the header row holds tabs");
}

#[test]
fn clicks_are_ignored_when_mouse_is_off() {
    let mut app = app_with(healthy("production"));
    app.mouse = false;
    let header = render(&app).lines().next().unwrap().to_string();
    let column = header.chars().position(|c| c == 'l').unwrap();
    click(&mut app, u16::try_from(column).unwrap(), 0);
    assert_eq!(app.selected, 0);
}

// ---- focus and scrolling ----

#[test]
fn f_and_arrows_move_focus_between_history_and_logs() {
    let mut app = new_app();
    assert_eq!(app.focus, Focus::History);
    app.update(ch('f'));
    assert_eq!(app.focus, Focus::Logs);
    app.update(key(KeyCode::Left));
    assert_eq!(app.focus, Focus::History);
    app.update(key(KeyCode::Right));
    assert_eq!(app.focus, Focus::Logs);
}

fn many_history_rows(app: &mut App, count: usize) {
    for i in 0..count {
        let mut entry = HistoryEntry::new("production", Trigger::Scheduled, Outcome::Ok);
        entry.detail = Some(format!("row {i}"));
        engine(app, EngineEvent::History(Box::new(entry)));
    }
}

#[test]
fn arrows_and_pages_scroll_the_history_within_bounds() {
    let mut app = new_app();
    many_history_rows(&mut app, 30);
    app.update(key(KeyCode::Down));
    assert_eq!(app.accounts[0].history_scroll, 1);
    app.update(key(KeyCode::PageDown));
    assert_eq!(app.accounts[0].history_scroll, 1 + PAGE_ROWS);
    app.update(key(KeyCode::Up));
    assert_eq!(app.accounts[0].history_scroll, PAGE_ROWS);
    for _ in 0..10 {
        app.update(key(KeyCode::PageDown));
    }
    assert_eq!(
        app.accounts[0].history_scroll, 29,
        "stops at the oldest row"
    );
    for _ in 0..10 {
        app.update(key(KeyCode::PageUp));
    }
    assert_eq!(app.accounts[0].history_scroll, 0, "stops at the newest row");
}

#[test]
fn arrows_and_pages_scroll_the_logs_back_in_time() {
    let mut app = new_app();
    let lines = (0..40)
        .map(|i| log_line(i, None, &format!("line {i}")))
        .collect();
    engine(&mut app, EngineEvent::LogLines { lines, skipped: 0 });
    app.update(ch('f'));
    app.update(key(KeyCode::Up));
    assert_eq!(app.log_scroll, 1);
    app.update(key(KeyCode::PageUp));
    assert_eq!(app.log_scroll, 1 + PAGE_ROWS);
    app.update(key(KeyCode::PageDown));
    app.update(key(KeyCode::Down));
    assert_eq!(app.log_scroll, 0);
    app.update(key(KeyCode::Down));
    assert_eq!(app.log_scroll, 0, "already at the newest line");
    app.update(key(KeyCode::PageUp));
    app.update(key(KeyCode::End));
    assert_eq!(app.log_scroll, 0, "End returns to the newest line");
}

#[test]
fn scrolled_logs_stay_in_place_when_lines_arrive() {
    let mut app = new_app();
    let lines = (0..40).map(|i| log_line(i, None, "old")).collect();
    engine(&mut app, EngineEvent::LogLines { lines, skipped: 0 });
    app.update(ch('f'));
    app.update(key(KeyCode::PageUp));
    let lines = (0..3).map(|i| log_line(i, None, "new")).collect();
    engine(&mut app, EngineEvent::LogLines { lines, skipped: 0 });
    assert_eq!(app.log_scroll, PAGE_ROWS + 3);
}

// ---- filter ----

fn type_text(app: &mut App, text: &str) {
    for c in text.chars() {
        app.update(ch(c));
    }
}

#[test]
fn slash_filters_log_lines_by_regex_on_enter() {
    let mut app = app_with(healthy("production"));
    app.update(ch('/'));
    type_text(&mut app, "refresh(ed|ing)");
    assert!(
        matches!(&app.overlay, Some(Overlay::Filter { input, .. }) if input == "refresh(ed|ing)")
    );
    assert!(app.logs.filter().is_none(), "nothing applies before Enter");
    app.update(key(KeyCode::Enter));
    assert_eq!(app.overlay, None);
    assert_eq!(app.logs.filter().unwrap().as_str(), "refresh(ed|ing)");
    let shown: Vec<_> = app
        .logs
        .visible_newest_first()
        .map(|l| l.text.clone())
        .collect();
    assert_eq!(shown.len(), 2, "{shown:?}");
}

#[test]
fn a_bad_regex_shows_its_error_and_keeps_the_old_filter() {
    let mut app = app_with(healthy("production"));
    app.update(ch('/'));
    type_text(&mut app, "WARN");
    app.update(key(KeyCode::Enter));
    app.update(ch('/'));
    app.update(key(KeyCode::Backspace));
    type_text(&mut app, "(");
    app.update(key(KeyCode::Enter));
    let Some(Overlay::Filter {
        error: Some(error),
        input,
    }) = &app.overlay
    else {
        panic!("expected the prompt with an error, got {:?}", app.overlay);
    };
    assert_eq!(input, "WAR(");
    assert!(error.contains("unclosed"), "{error}");
    assert_eq!(app.logs.filter().unwrap().as_str(), "WARN");
    let screen = render(&app);
    assert!(screen.contains("bad regex"), "{screen}");
    app.update(key(KeyCode::Esc));
    assert_eq!(
        app.overlay, None,
        "Esc closes the prompt, not the dashboard"
    );
    assert_eq!(app.logs.filter().unwrap().as_str(), "WARN");
}

#[test]
fn an_empty_filter_clears_it_and_esc_cancels_typing() {
    let mut app = new_app();
    app.update(ch('/'));
    type_text(&mut app, "x");
    app.update(key(KeyCode::Enter));
    app.update(ch('/'));
    type_text(&mut app, "yz");
    assert!(app.update(key(KeyCode::Esc)).is_empty());
    assert_eq!(
        app.logs.filter().unwrap().as_str(),
        "x",
        "Esc keeps the old filter"
    );
    app.update(ch('/'));
    app.update(ctrl('u'));
    app.update(key(KeyCode::Enter));
    assert!(app.logs.filter().is_none());
}

#[test]
fn keys_typed_in_the_prompt_are_not_commands() {
    let mut app = new_app();
    app.update(ch('/'));
    assert!(app.update(ch('q')).is_empty());
    assert!(app.update(ch('r')).is_empty());
    assert!(matches!(&app.overlay, Some(Overlay::Filter { input, .. }) if input == "qr"));
}

// ---- pause ----

#[test]
fn p_pauses_the_log_panel_and_buffers_new_lines() {
    let mut app = new_app();
    app.update(ch('p'));
    assert!(app.logs.is_paused());
    let lines = (0..5).map(|i| log_line(i, None, "held")).collect();
    engine(&mut app, EngineEvent::LogLines { lines, skipped: 0 });
    assert_eq!(app.logs.len(), 0, "not shown while paused");
    assert_eq!(app.logs.paused_len(), 5);
    assert!(render(&app).contains("paused"));
    app.update(ch('p'));
    assert!(!app.logs.is_paused());
    assert_eq!(app.logs.len(), 5);
}

#[test]
fn the_pause_buffer_is_bounded() {
    let mut app = new_app();
    app.update(ch('p'));
    let lines = (0..MAX_PAUSED_LINES + 7)
        .map(|_| log_line(0, None, "x"))
        .collect();
    engine(&mut app, EngineEvent::LogLines { lines, skipped: 0 });
    assert_eq!(app.logs.paused_len(), MAX_PAUSED_LINES);
    assert_eq!(app.logs.dropped_while_paused, 7);
}

// ---- help and quitting ----

#[test]
fn question_mark_opens_help_and_esc_or_question_mark_closes_it() {
    for close in [key(KeyCode::Esc), ch('?')] {
        let mut app = new_app();
        app.update(ch('?'));
        assert_eq!(app.overlay, Some(Overlay::Help));
        assert!(app.update(close).is_empty(), "closing help does not quit");
        assert_eq!(app.overlay, None);
    }
}

#[test]
fn help_lists_the_config_and_log_file_paths() {
    let mut app = new_app();
    app.update(ch('?'));
    let screen = render(&app);
    assert!(
        screen.contains("/home/op/.config/tokentop/config.toml"),
        "{screen}"
    );
    assert!(screen.contains("tokentop.log.2026-03-14"), "{screen}");
}

#[test]
fn q_esc_and_ctrl_c_quit() {
    for quit in [ch('q'), key(KeyCode::Esc), ctrl('c')] {
        let mut app = new_app();
        assert_eq!(app.update(quit), [Effect::Quit]);
    }
}

#[test]
fn ctrl_c_quits_even_from_an_overlay_and_q_from_help() {
    let mut app = new_app();
    app.update(ch('/'));
    assert_eq!(app.update(ctrl('c')), [Effect::Quit]);
    let mut app = new_app();
    app.update(ch('?'));
    assert_eq!(app.update(ch('q')), [Effect::Quit]);
}

#[test]
fn quit_message_from_a_signal_quits() {
    assert_eq!(new_app().update(Msg::Quit), [Effect::Quit]);
}

// ---- clock and size ----

#[test]
fn tick_sets_the_clock_and_resize_the_size() {
    let mut app = new_app();
    let later = fixed_now() + chrono::Duration::seconds(5);
    assert!(app.update(Msg::Tick(later)).is_empty());
    assert_eq!(app.now, later);
    app.update(Msg::Resize {
        width: 100,
        height: 30,
    });
    assert_eq!(app.size, (100, 30));
}

// ---- engine events ----

#[test]
fn account_snapshots_replace_the_known_state_and_add_new_accounts() {
    let mut app = new_app();
    engine(
        &mut app,
        EngineEvent::Account(std::sync::Arc::new(reauth("legacy"))),
    );
    assert!(matches!(
        app.accounts[2].snapshot.state,
        TokenState::ReauthRequired { .. }
    ));
    engine(
        &mut app,
        EngineEvent::Account(std::sync::Arc::new(healthy("extra"))),
    );
    assert_eq!(app.accounts.len(), 4);
}

#[test]
fn history_rows_go_to_their_account_and_are_bounded() {
    let mut app = new_app();
    for entry in history_rows("staging") {
        engine(&mut app, EngineEvent::History(Box::new(entry)));
    }
    assert_eq!(app.accounts[1].history.len(), 4);
    assert!(app.accounts[0].history.is_empty());
    many_history_rows(&mut app, MAX_HISTORY_ROWS + 5);
    assert_eq!(app.accounts[0].history.len(), MAX_HISTORY_ROWS);
    assert_eq!(
        app.accounts[0].history.back().unwrap().detail.as_deref(),
        Some(format!("row {}", MAX_HISTORY_ROWS + 4).as_str())
    );
}

#[test]
fn load_history_seeds_the_panels() {
    let mut app = new_app();
    app.load_history(
        history_rows("production")
            .into_iter()
            .chain(history_rows("nobody")),
    );
    assert_eq!(app.accounts[0].history.len(), 4);
    assert_eq!(app.accounts[0].history_scroll, 0);
}

#[test]
fn a_failed_refresh_report_is_shown() {
    let mut app = app_with(healthy("production"));
    let id = refresh_id(&app.update(ch('r')));
    engine(
        &mut app,
        EngineEvent::RefreshFinished {
            request_id: id,
            report: refresh_report("production", false),
        },
    );
    assert!(render(&app).contains("forced refresh FAILED: 190 expired"));
}

#[test]
fn alerts_are_shown_on_their_account() {
    let mut app = app_with(healthy("production"));
    engine(
        &mut app,
        EngineEvent::Alert {
            account: "production".to_string(),
            message: "publish failing: env file not writable".to_string(),
        },
    );
    assert_eq!(
        app.accounts[0].last_alert.as_ref().unwrap().1,
        "publish failing: env file not writable"
    );
    assert!(render(&app).contains("ALERT: publish failing"));
}

#[test]
fn log_lines_are_kept_counted_and_bounded() {
    let mut app = new_app();
    app.logs = tokentop::tui::LogBuffer::with_capacity(3);
    let lines = vec![
        log_line(4, Some(PatternLevel::Error), "e"),
        log_line(3, Some(PatternLevel::Warn), "w"),
        log_line(2, Some(PatternLevel::Ok), "o"),
        log_line(1, Some(PatternLevel::Ok), "o2"),
    ];
    engine(&mut app, EngineEvent::LogLines { lines, skipped: 9 });
    assert_eq!(app.logs.len(), 3);
    assert_eq!(
        app.logs.counts().error,
        0,
        "the evicted error line is no longer counted"
    );
    assert_eq!(app.logs.counts().ok, 2);
    assert_eq!(app.logs.skipped_by_engine, 9);
}

#[test]
fn telemetry_and_phone_snapshots_are_stored() {
    let mut app = new_app();
    engine(&mut app, EngineEvent::Telemetry(Box::new(telemetry())));
    assert_eq!(app.telemetry.as_ref().unwrap().levels_1h.warn, 3);
    engine(&mut app, EngineEvent::Phone(Box::new(phone("staging"))));
    assert!(app.accounts[1].phone.is_some());
    assert!(app.accounts[0].phone.is_none());
}

#[test]
fn phone_news_lasts_until_the_next_poll_and_only_for_its_number() {
    let mut app = new_app();
    // Before any poll: a bare snapshot carries the news.
    let news = phone_news("staging", "FLAGGED", "TIER_250", 5);
    engine(&mut app, EngineEvent::PhoneNews(Box::new(news.clone())));
    let phone_now = app.accounts[1].phone.as_ref().unwrap();
    assert!(phone_now.health.is_none());
    assert_eq!(phone_now.webhook.as_ref(), Some(&news));
    // A poll brings Graph's view and drops the news.
    engine(&mut app, EngineEvent::Phone(Box::new(phone("staging"))));
    assert!(app.accounts[1].phone.as_ref().unwrap().webhook.is_none());
    // News about another number of the same WABA is not this account's.
    let mut other = phone_news("staging", "DOWNGRADE", "TIER_50", 1);
    other.display_phone_number = Some("15559990000".to_string());
    engine(&mut app, EngineEvent::PhoneNews(Box::new(other)));
    assert!(app.accounts[1].phone.as_ref().unwrap().webhook.is_none());
    engine(&mut app, EngineEvent::PhoneNews(Box::new(news)));
    assert!(app.accounts[1].phone.as_ref().unwrap().webhook.is_some());
}

#[test]
fn source_notices_appear_in_the_log_panel() {
    let mut app = new_app();
    engine(
        &mut app,
        EngineEvent::SourceNotice {
            source: "backend".to_string(),
            message: "file was rotated".to_string(),
        },
    );
    let line = app.logs.visible_newest_first().next().unwrap();
    assert_eq!(&*line.text, "[tokentop] file was rotated");
    assert_eq!(line.level, None);
}

#[test]
fn stopped_marks_the_engine_as_stopped() {
    let mut app = new_app();
    assert!(render(&app).contains("● live"));
    engine(&mut app, EngineEvent::Stopped);
    assert!(!app.engine_running);
    assert!(render(&app).contains("■ stopped"));
}

fn render(app: &App) -> String {
    let mut terminal = ratatui::Terminal::new(ratatui::backend::TestBackend::new(120, 40)).unwrap();
    terminal
        .draw(|frame| tokentop::ui::render(frame, app))
        .unwrap();
    terminal.backend().to_string()
}

fn refresh_row(secs_ago: i64, outcome: Outcome) -> HistoryEntry {
    let mut entry = HistoryEntry::new("production", Trigger::Scheduled, outcome);
    entry.time = fixed_now() - chrono::Duration::seconds(secs_ago);
    entry
}

/// (succeeded, attempted) of each window of the cached rate, and when it was computed.
fn cached_rates(app: &App) -> (chrono::DateTime<chrono::Utc>, Vec<(u32, u32)>) {
    let (at, rates) = app.accounts[0].refresh_rates.clone().unwrap();
    let counts = rates
        .windows
        .iter()
        .map(|w| (w.succeeded, w.attempted))
        .collect();
    (at, counts)
}

#[test]
fn the_refresh_success_rate_is_cached_until_a_refresh_row_arrives_or_a_minute_passes() {
    let mut app = new_app();
    assert!(app.accounts[0].refresh_rates.is_none());
    engine(
        &mut app,
        EngineEvent::History(Box::new(refresh_row(3600, Outcome::Ok))),
    );
    assert_eq!(cached_rates(&app), (fixed_now(), vec![(1, 1); 3]));
    // Send rows do not change the rate: no recomputation.
    let mut send = HistoryEntry::new("production", SendChannel::Proxy, Outcome::Failed);
    send.time = fixed_now();
    app.update(Msg::Tick(fixed_now() + chrono::Duration::seconds(30)));
    engine(&mut app, EngineEvent::History(Box::new(send)));
    assert_eq!(cached_rates(&app).0, fixed_now());
    // A failed refresh is counted at once.
    engine(
        &mut app,
        EngineEvent::History(Box::new(refresh_row(60, Outcome::Failed))),
    );
    let later = fixed_now() + chrono::Duration::seconds(30);
    assert_eq!(cached_rates(&app), (later, vec![(1, 2); 3]));
    assert!(render(&app).contains("refresh ok 24h 1/2 · 7d 1/2 · 30d 1/2 (1 unknown)"));
    // A day later both rows left the 24 h window; the next tick after a minute says so.
    let day_later = fixed_now() + chrono::Duration::days(1);
    app.update(Msg::Tick(day_later));
    assert_eq!(
        cached_rates(&app),
        (day_later, vec![(0, 0), (1, 2), (1, 2)])
    );
    assert!(render(&app).contains("24h no refreshes · 7d 1/2"));
}

#[test]
fn ticks_keep_only_the_selected_accounts_refresh_rate_current() {
    let mut app = new_app();
    for name in ["production", "staging"] {
        let mut row = HistoryEntry::new(name, Trigger::Scheduled, Outcome::Ok);
        row.time = fixed_now() - chrono::Duration::seconds(3600);
        engine(&mut app, EngineEvent::History(Box::new(row)));
    }
    let computed_at = |app: &App, i: usize| app.accounts[i].refresh_rates.as_ref().unwrap().0;
    let later = fixed_now() + chrono::Duration::seconds(120);
    app.update(Msg::Tick(later));
    assert_eq!(
        computed_at(&app, 0),
        later,
        "the selected account's rate follows"
    );
    assert_eq!(
        computed_at(&app, 1),
        fixed_now(),
        "an account not drawn waits"
    );
    app.update(ch('2'));
    assert_eq!(app.selected, 1);
    assert_eq!(
        computed_at(&app, 1),
        later,
        "brought up to date once selected"
    );
}
