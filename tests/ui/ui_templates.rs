#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The `T` overlay (issue 22): the template table the webhook relay keeps, worst first,
//! marked in symbols and words, scrollable, closed like the other overlays; the table is read
//! by the loop when the overlay opens and again only while it stays open.

use crate::dashboard_support;

use std::path::PathBuf;

use chrono::Duration;
use crossterm::event::KeyCode;
use dashboard_support::*;
use insta::assert_snapshot;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use tokentop::tui::{App, Effect, Msg, Overlay, TEMPLATES_REREAD_SECS, TemplatesView, View};
use tokentop::webhook::template_events::template_updates;
use tokentop::webhook::template_table::{TemplateRecord, TemplateTable};

/// The WABA of the dashboard's accounts (production is the first to name it).
const WABA: &str = "102290129340398";

fn screen(app: &App, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal
        .draw(|frame| tokentop::ui::render(frame, app))
        .unwrap();
    terminal.backend().to_string()
}

fn record(
    id: u64,
    name: &str,
    status: &str,
    quality: Option<&str>,
    hours_ago: i64,
) -> TemplateRecord {
    let at = fixed_now().timestamp() - hours_ago * 3600;
    TemplateRecord {
        waba_id: WABA.to_string(),
        template_id: id,
        name: name.to_string(),
        language: "en_US".to_string(),
        category: Some("MARKETING".to_string()),
        status: Some(status.to_string()),
        status_since: Some(at),
        reason: None,
        detail: None,
        disable_date: None,
        quality: quality.map(str::to_string),
        previous_quality: None,
        quality_since: quality.map(|_| at),
    }
}

/// Five templates in the order the table gives them (worst first).
fn rows() -> Vec<TemplateRecord> {
    let mut paused = record(11, "spring_sale", "PAUSED", Some("RED"), 2);
    paused.detail = Some("FIRST_PAUSE: Paused for 3 hours after low quality".to_string());
    let mut disabled = record(12, "old_promo", "DISABLED", None, 30);
    disabled.disable_date = Some("1773446400".to_string());
    let mut rejected = record(13, "winter_sale_reminder", "REJECTED", None, 5);
    rejected.reason = Some("INVALID_FORMAT".to_string());
    rejected.waba_id = "418305927716254".to_string();
    let mut order = record(14, "order_shipped_v2", "APPROVED", Some("GREEN"), 48);
    order.category = Some("UTILITY".to_string());
    vec![
        paused,
        disabled,
        rejected,
        order,
        record(15, "otp_login", "APPROVED", None, 200),
    ]
}

fn view(rows: Vec<TemplateRecord>) -> TemplatesView {
    TemplatesView {
        rows,
        read_at: fixed_now(),
        problem: None,
    }
}

/// The dashboard with the overlay open and the table read.
fn with_templates(rows: Vec<TemplateRecord>) -> App {
    let mut app = app_with(healthy("production"));
    let effects = app.update(ch('T'));
    assert_eq!(
        effects,
        vec![Effect::ReadTemplates(PathBuf::from(
            "/home/op/.local/share/tokentop"
        ))]
    );
    assert_eq!(app.overlay, Some(Overlay::Templates { scroll: 0 }));
    assert!(app.update(Msg::Templates(view(rows))).is_empty());
    app
}

#[test]
fn the_overlay_lists_worst_first_with_marks_accounts_and_reasons() {
    let app = with_templates(rows());
    let text = screen(&app, 120, 40);
    assert_snapshot!("templates_overlay_120x40", text);
    let line = |name: &str| text.lines().find(|l| l.contains(name)).unwrap().to_string();
    assert!(line("spring_sale").contains("✗ production"), "{text}");
    assert!(
        line("spring_sale").contains("PAUSED     RED     2h ago"),
        "{text}"
    );
    assert!(
        line("old_promo").contains("disabled from 2026-03-14"),
        "{text}"
    );
    // Not one of the accounts' WABA: the id itself names it.
    assert!(line("winter_sale").contains("! 41830592771…"), "{text}");
    assert!(line("otp_login").contains("✓ production"), "{text}");
    assert!(text.contains("5 templates · ✗ 2 paused, disabled or red · ! 1 rejected"));
}

#[test]
fn a_long_table_scrolls_and_says_what_lies_beyond() {
    let many: Vec<TemplateRecord> = (0..60)
        .map(|i| {
            record(
                100 + i,
                &format!("template_{i:02}"),
                "APPROVED",
                None,
                i as i64,
            )
        })
        .collect();
    let mut app = with_templates(many);
    let top = screen(&app, 120, 40);
    assert!(
        top.contains("template_00") && !top.contains("template_59"),
        "{top}"
    );
    assert!(
        top.contains("template_31") && !top.contains("template_32"),
        "{top}"
    );
    assert!(top.contains("↓ 28 more"), "{top}");
    app.update(key(KeyCode::PageDown));
    app.update(key(KeyCode::Down));
    assert_eq!(app.overlay, Some(Overlay::Templates { scroll: 11 }));
    let down = screen(&app, 120, 40);
    assert!(
        !down.contains("template_10 ") && down.contains("template_11"),
        "{down}"
    );
    assert!(down.contains("↑ 11 more"), "{down}");
    app.update(key(KeyCode::End));
    assert_eq!(app.overlay, Some(Overlay::Templates { scroll: 59 }));
    app.update(key(KeyCode::Down));
    assert_eq!(app.overlay, Some(Overlay::Templates { scroll: 59 }));
    app.update(key(KeyCode::Home));
    assert_eq!(app.overlay, Some(Overlay::Templates { scroll: 0 }));
}

#[test]
fn esc_and_t_close_it_and_q_quits() {
    for close in [key(KeyCode::Esc), ch('T'), key(KeyCode::Enter)] {
        let mut app = with_templates(rows());
        assert!(app.update(close).is_empty());
        assert_eq!(app.overlay, None);
    }
    let mut app = with_templates(rows());
    assert_eq!(app.update(ch('q')), vec![Effect::Quit]);
}

#[test]
fn the_fleet_view_opens_it_too() {
    let mut app = fleet_app(12);
    assert_eq!(app.view, View::Fleet);
    let effects = app.update(ch('T'));
    assert!(matches!(effects.as_slice(), [Effect::ReadTemplates(_)]));
    assert_eq!(app.overlay, Some(Overlay::Templates { scroll: 0 }));
}

#[test]
fn the_table_is_read_again_only_while_the_overlay_is_open() {
    let mut app = with_templates(rows());
    let soon = fixed_now() + Duration::seconds(TEMPLATES_REREAD_SECS - 1);
    assert!(app.update(Msg::Tick(soon)).is_empty());
    let later = fixed_now() + Duration::seconds(TEMPLATES_REREAD_SECS);
    assert!(matches!(
        app.update(Msg::Tick(later)).as_slice(),
        [Effect::ReadTemplates(_)]
    ));
    app.update(key(KeyCode::Esc));
    let much_later = later + Duration::seconds(60);
    assert!(app.update(Msg::Tick(much_later)).is_empty());
}

#[test]
fn a_shorter_table_read_again_keeps_the_scroll_inside_it() {
    let mut app = with_templates(rows());
    app.update(key(KeyCode::End));
    assert_eq!(app.overlay, Some(Overlay::Templates { scroll: 4 }));
    app.update(Msg::Templates(view(rows().into_iter().take(2).collect())));
    assert_eq!(app.overlay, Some(Overlay::Templates { scroll: 1 }));
}

#[test]
fn the_view_reads_the_relays_file_and_says_a_bad_one() {
    let dir = tempfile::tempdir().unwrap();
    let empty = TemplatesView::read(dir.path(), fixed_now());
    assert!(empty.rows.is_empty() && empty.problem.is_none());
    let mut table = TemplateTable::load(dir.path());
    for body in [
        include_str!("../fixtures/webhook_message_template_quality_update.json"),
        include_str!("../fixtures/webhook_message_template_status_update.json"),
    ] {
        table.apply(&template_updates(body.as_bytes(), 0));
    }
    table.save().unwrap();
    let read = TemplatesView::read(dir.path(), fixed_now());
    let names: Vec<&str> = read.rows.iter().map(|r| r.name.as_str()).collect();
    // Both are warnings (yellow, rejected): the later change comes first.
    assert_eq!(names, ["order_shipped_v2", "winter_sale_reminder"]);
    std::fs::write(dir.path().join("templates.json"), "{").unwrap();
    let bad = TemplatesView::read(dir.path(), fixed_now());
    assert!(bad.rows.is_empty());
    let mut app = with_templates(Vec::new());
    app.update(Msg::Templates(bad));
    let text = screen(&app, 120, 40);
    assert!(text.contains("0 templates · /"), "{text}");
    assert!(text.contains("No templates yet"), "{text}");
}

#[test]
fn help_lists_the_key() {
    for mut app in [new_app(), fleet_app(12)] {
        app.update(ch('?'));
        let text = screen(&app, 120, 40);
        assert!(text.contains("T               message templates"), "{text}");
    }
}

/// Never a panic, whatever the size, read or not yet.
#[test]
fn every_small_size_draws() {
    let mut app = app_with(healthy("production"));
    app.update(ch('T'));
    for templates in [None, Some(view(rows())), Some(view(Vec::new()))] {
        app.templates = templates;
        for width in [1, 20, 59, 60, 61, 80] {
            for height in [1, 3, 5, 8, 15, 16, 17, 24] {
                screen(&app, width, height);
            }
        }
    }
}
