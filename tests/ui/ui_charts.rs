#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The charts band (issue 14 §6): whole screens with the token lifetime sawtooth and the 24 h
//! delivery line at 80x24 (on `c`) and 120x40 (drawn unasked), read without colour, and tiny
//! terminals that must not panic.

use crate::dashboard_support;

use dashboard_support::*;
use insta::assert_snapshot;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier};
use tokentop::config::Theme;
use tokentop::engine::history::cause::Cause;
use tokentop::engine::history::lifetime::Lifetime;
use tokentop::engine::history::{HistoryEntry, HistoryEvent, Outcome};
use tokentop::engine::{AccountSnapshot, EngineEvent};
use tokentop::graph::Expiry;
use tokentop::tui::{App, Charts, Msg};

const HOUR: i64 = 3600;

fn buffer(app: &App, width: u16, height: u16) -> Buffer {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal
        .draw(|frame| tokentop::ui::render(frame, app))
        .unwrap();
    terminal.backend().buffer().clone()
}

fn screen(app: &App, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal
        .draw(|frame| tokentop::ui::render(frame, app))
        .unwrap();
    terminal.backend().to_string()
}

fn row(hours_ago: i64, event: HistoryEvent, trigger: &str, outcome: Outcome) -> HistoryEntry {
    let mut entry = HistoryEntry::new("production", Cause::parse(event, trigger), outcome);
    entry.time = fixed_now() - chrono::Duration::seconds(hours_ago * HOUR);
    entry.latency_ms = Some(300);
    if outcome == Outcome::Ok {
        entry.new_expires_at = Some(Expiry::At(entry.time.timestamp() + 24 * HOUR));
    }
    entry
}

/// Three days of 24 h tokens refreshed every 16 h; one scheduled refresh failed and its retry
/// an hour later worked.
pub fn sawtooth_history() -> Vec<HistoryEntry> {
    use HistoryEvent::Refresh;
    vec![
        row(70, Refresh, "startup", Outcome::Ok),
        row(54, Refresh, "scheduled", Outcome::Ok),
        row(38, Refresh, "scheduled", Outcome::Failed),
        row(37, Refresh, "retry", Outcome::Ok),
        row(21, Refresh, "scheduled", Outcome::Ok),
        row(5, Refresh, "scheduled", Outcome::Ok),
    ]
}

/// The account after the last refresh: 19 h left of 24.
fn short_lived() -> AccountSnapshot {
    let now = now_unix();
    let mut s = healthy("production");
    s.access = Some(tokentop::engine::Inspection {
        checked_at: fixed_now() - chrono::Duration::seconds(40),
        info: info("USER", now - 5 * HOUR, now + 19 * HOUR, now + 80 * DAY),
    });
    s.next_refresh_at = Some(now + 11 * HOUR);
    s
}

fn charts_app() -> App {
    let mut app = new_app();
    app.update(Msg::Engine(EngineEvent::Account(std::sync::Arc::new(
        short_lived(),
    ))));
    app.load_history(sawtooth_history());
    app.update(Msg::Engine(EngineEvent::Telemetry(Box::new(telemetry()))));
    app.update(Msg::Engine(EngineEvent::Phone(Box::new(phone(
        "production",
    )))));
    app.update(Msg::Engine(EngineEvent::LogLines {
        lines: log_lines(),
        skipped: 0,
    }));
    app
}

#[test]
fn charts_at_120x40_are_drawn_beside_the_logs() {
    let app = charts_app();
    let text = screen(&app, 120, 40);
    assert!(
        text.contains("Token lifetime · 3d · 4 refreshes · 1 failed ✗"),
        "{text}"
    );
    assert!(text.contains("Delivery rate 24h"), "{text}");
    assert!(text.contains("Logs: backend"), "the logs stay: {text}");
    assert_snapshot!("charts_120x40", text);
}

#[test]
fn charts_at_80x24_come_with_c_in_place_of_the_logs_and_go_with_c() {
    let mut app = charts_app();
    app.update(Msg::Resize {
        width: 80,
        height: 24,
    });
    let before = screen(&app, 80, 24);
    assert!(!before.contains("Token lifetime"), "{before}");
    assert!(
        before.contains("c chart"),
        "the footer offers the key: {before}"
    );
    app.update(ch('c'));
    assert_eq!(app.charts, Charts::Shown);
    let text = screen(&app, 80, 24);
    assert!(text.contains("r refresh"), "the footer stays: {text}");
    assert_snapshot!("charts_80x24", text);
    app.update(ch('c'));
    assert_eq!(screen(&app, 80, 24), before);
}

#[test]
fn c_hides_the_charts_of_a_tall_terminal() {
    let mut app = charts_app();
    app.update(Msg::Resize {
        width: 120,
        height: 40,
    });
    app.update(ch('c'));
    assert_eq!(app.charts, Charts::Hidden);
    assert!(!screen(&app, 120, 40).contains("Token lifetime"));
}

/// NO_COLOR: no cell has a colour, and a failed refresh is still told apart by its glyph and
/// the title's count; in colour it is red.
#[test]
fn charts_read_without_colour() {
    let mono = charts_app();
    assert_eq!(mono.theme, Theme::Mono);
    let drawn = buffer(&mono, 120, 40);
    let mut marks = 0;
    for y in 0..drawn.area.height {
        for x in 0..drawn.area.width {
            assert_eq!(drawn[(x, y)].fg, Color::Reset, "mono has no colour");
            if drawn[(x, y)].symbol() == "✗" {
                marks += 1;
            }
        }
    }
    // One in the chart, one in its title, one beside the failed row of the history.
    assert!(marks >= 2, "{marks}");
    assert_snapshot!("charts_no_color_120x40", screen(&mono, 120, 40));

    let mut app = charts_app();
    app.theme = Theme::Dark;
    let drawn = buffer(&app, 120, 40);
    let chart_mark = (0..drawn.area.height)
        .flat_map(|y| (0..drawn.area.width).map(move |x| (x, y)))
        .map(|xy| &drawn[xy])
        .find(|cell| cell.symbol() == "✗" && cell.modifier.contains(Modifier::BOLD))
        .expect("a bold ✗ in the chart");
    assert_eq!(chart_mark.fg, Color::Red);
}

#[test]
fn tiny_terminals_with_charts_do_not_panic() {
    let mut app = charts_app();
    app.charts = Charts::Shown;
    for (w, h) in [
        (1, 1),
        (20, 5),
        (60, 16),
        (61, 17),
        (60, 40),
        (300, 16),
        (80, 200),
    ] {
        let _ = screen(&app, w, h);
    }
}

/// The series is folded as rows arrive, so a frame never walks the history: the dashboard's
/// fold equals one over the whole history.
#[test]
fn the_dashboard_keeps_the_series_folded_as_rows_arrive() {
    let mut app = charts_app();
    let extra = row(0, HistoryEvent::Refresh, "forced", Outcome::Ok);
    app.update(Msg::Engine(EngineEvent::History(Box::new(extra))));
    let view = app.selected_account().unwrap();
    assert_eq!(view.lifetime, Lifetime::from_history(&view.history));
}
