#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The fleet view through `App::update`: it is the default above six accounts, `F` switches
//! views, `/` filters by name, the arrows move the selection, `s` sorts, Enter opens the
//! selected account and Esc comes back.

use crate::dashboard_support;

use crossterm::event::KeyCode;
use dashboard_support::*;
use tokentop::engine::EngineEvent;
use tokentop::engine::urgency::Level;
use tokentop::tui::{App, Effect, Msg, Overlay, SortKey, View};

fn names(app: &App) -> Vec<String> {
    app.fleet_rows()
        .into_iter()
        .map(|i| app.accounts[i].name().to_string())
        .collect()
}

fn selected(app: &App) -> &str {
    app.accounts[app.selected].name()
}

fn type_text(app: &mut App, text: &str) {
    for c in text.chars() {
        assert!(app.update(ch(c)).is_empty());
    }
}

fn screen(app: &App, width: u16, height: u16) -> String {
    let mut terminal =
        ratatui::Terminal::new(ratatui::backend::TestBackend::new(width, height)).unwrap();
    terminal
        .draw(|frame| tokentop::ui::render(frame, app))
        .unwrap();
    terminal.backend().to_string()
}

#[test]
fn the_fleet_is_the_default_above_six_accounts_only() {
    assert_eq!(fleet_app(7).view, View::Fleet);
    assert_eq!(fleet_app(6).view, View::Account);
    assert_eq!(new_app().view, View::Account);
}

#[test]
fn the_first_frame_of_a_large_accounts_dir_says_the_rest_is_being_read() {
    let mut settings = fleet_settings(8);
    settings.account_files.unread = 9_992;
    let app = App::new(&settings, std::path::PathBuf::from("/tmp/log"), fixed_now());
    let first = screen(&app, 120, 20);
    let top = first.lines().next().unwrap();
    assert!(top.contains("reading 9992 more account files"), "{first}");
    assert!(!top.contains("live"), "{first}");
    let whole = App::new(
        &fleet_settings(8),
        std::path::PathBuf::from("/tmp/log"),
        fixed_now(),
    );
    let top = screen(&whole, 120, 20).lines().next().unwrap().to_string();
    assert!(top.contains("● live") && !top.contains("reading"), "{top}");
}

#[test]
fn capital_f_switches_between_the_fleet_and_the_account_view() {
    let mut app = fleet_app(60);
    assert!(app.update(ch('F')).is_empty());
    assert_eq!(app.view, View::Account);
    assert!(app.update(ch('F')).is_empty());
    assert_eq!(app.view, View::Fleet);

    let mut few = new_app();
    few.update(ch('F'));
    assert_eq!(few.view, View::Fleet, "works with few accounts too");
    few.update(ch('F'));
    assert_eq!(few.view, View::Account);
    assert!(
        few.update(key(KeyCode::Esc)).is_empty(),
        "once the fleet was shown, Esc goes back to it"
    );
    assert_eq!(few.view, View::Fleet);
}

#[test]
fn the_worst_account_is_on_top_and_enter_opens_it_and_esc_returns() {
    let mut app = fleet_app(60);
    let rows = names(&app);
    assert_eq!(rows.len(), 60);
    assert!(app.update(key(KeyCode::Enter)).is_empty());
    assert_eq!(app.view, View::Account);
    assert_eq!(selected(&app), rows[0]);
    let top = app.accounts[app.selected].snapshot.state.label();
    assert!(
        ["expired", "re-auth required"].contains(&top),
        "worst first: {top}"
    );
    assert!(
        app.update(key(KeyCode::Esc)).is_empty(),
        "Esc does not quit"
    );
    assert_eq!(app.view, View::Fleet);
    assert_eq!(selected(&app), rows[0], "the selection stays");
}

#[test]
fn arrows_pages_home_and_end_move_the_selection() {
    let mut app = fleet_app(60);
    app.update(Msg::Resize {
        width: 80,
        height: 24,
    });
    let rows = names(&app);
    app.update(key(KeyCode::Down));
    assert_eq!(selected(&app), rows[1]);
    app.update(key(KeyCode::Up));
    app.update(key(KeyCode::Up));
    assert_eq!(selected(&app), rows[0], "stops at the top");
    app.update(key(KeyCode::PageDown));
    assert_eq!(selected(&app), rows[21], "a page is the rows on screen");
    app.update(key(KeyCode::End));
    assert_eq!(selected(&app), rows[59]);
    app.update(key(KeyCode::Down));
    assert_eq!(selected(&app), rows[59]);
    app.update(key(KeyCode::PageUp));
    assert_eq!(selected(&app), rows[38]);
    app.update(key(KeyCode::Home));
    assert_eq!(selected(&app), rows[0]);
    app.update(key(KeyCode::Down));
    app.update(key(KeyCode::Enter));
    assert_eq!(selected(&app), rows[1], "Enter opens the selected row");
}

#[test]
fn slash_filters_by_name_as_you_type_and_esc_clears() {
    let mut app = fleet_app(60);
    app.update(ch('/'));
    assert!(app.fleet.editing);
    type_text(&mut app, "ACME");
    assert_eq!(
        names(&app).len(),
        5,
        "any case: acme-01 … acme-05: {:?}",
        names(&app)
    );
    assert!(names(&app).iter().all(|n| n.starts_with("acme-")));
    type_text(&mut app, "-0q");
    assert!(names(&app).is_empty(), "typing narrows");
    app.update(key(KeyCode::Backspace));
    app.update(key(KeyCode::Enter));
    assert!(!app.fleet.editing, "Enter keeps the filter");
    assert_eq!(app.fleet.filter, "ACME-0");
    assert_eq!(names(&app).len(), 5);
    app.update(key(KeyCode::Enter));
    assert_eq!(app.view, View::Account);
    assert!(selected(&app).starts_with("acme-"), "{}", selected(&app));
    app.update(key(KeyCode::Esc));
    assert_eq!(app.view, View::Fleet);
    assert_eq!(
        names(&app).len(),
        5,
        "the filter stays while in the account"
    );
    assert!(app.update(key(KeyCode::Esc)).is_empty());
    assert_eq!(app.fleet.filter, "");
    assert_eq!(names(&app).len(), 60);
    assert!(
        app.update(key(KeyCode::Esc)).is_empty(),
        "Esc with no filter never quits the fleet"
    );

    app.update(ch('/'));
    type_text(&mut app, "hotel");
    app.update(key(KeyCode::Esc));
    assert!(!app.fleet.editing);
    assert_eq!(names(&app).len(), 60, "Esc in the prompt clears");
}

#[test]
fn keys_typed_into_the_filter_do_not_act() {
    let mut app = fleet_app(60);
    app.update(ch('/'));
    type_text(&mut app, "qrFs?");
    assert_eq!(app.fleet.filter, "qrFs?");
    assert_eq!(app.view, View::Fleet);
    assert_eq!(app.fleet.sort, SortKey::Worst);
    assert_eq!(app.overlay, None);
}

#[test]
fn s_cycles_the_sort_keys() {
    let mut app = fleet_app(60);
    app.update(ch('s'));
    assert_eq!(app.fleet.sort, SortKey::Name);
    let rows = names(&app);
    let mut sorted = rows.clone();
    sorted.sort();
    assert_eq!(rows, sorted);
    for _ in 0..3 {
        app.update(ch('s'));
    }
    assert_eq!(app.fleet.sort, SortKey::Worst);
}

#[test]
fn q_quits_the_fleet_and_help_opens_over_it() {
    let mut app = fleet_app(60);
    app.update(ch('?'));
    assert_eq!(app.overlay, Some(Overlay::Help));
    assert!(screen(&app, 80, 24).contains("filter: name part"));
    app.update(key(KeyCode::Esc));
    assert_eq!(app.overlay, None);
    assert_eq!(app.update(ch('q')), [Effect::Quit]);
    assert_eq!(app.update(ctrl('c')), [Effect::Quit]);
}

#[test]
fn r_refreshes_the_account_under_the_cursor() {
    let mut app = fleet_app(60);
    let top = names(&app)[0].clone();
    let effects = app.update(ch('r'));
    assert!(
        matches!(
            &effects[..],
            [Effect::Send(tokentop::engine::EngineCommand::ForceRefresh { account: Some(a), .. })] if *a == top
        ),
        "{effects:?}"
    );
}

#[test]
fn the_fleet_never_panics_at_any_size() {
    let mut app = fleet_app(60);
    app.update(ch('/'));
    type_text(&mut app, "a");
    for width in 0..=90 {
        for height in [0, 1, 2, 3, 4, 15, 16, 17, 24] {
            // Only drawing: the test backend cannot print a zero-width screen.
            let mut terminal =
                ratatui::Terminal::new(ratatui::backend::TestBackend::new(width, height)).unwrap();
            terminal
                .draw(|frame| tokentop::ui::render(frame, &app))
                .unwrap();
        }
    }
    assert!(screen(&app, 59, 16).contains("terminal too small"));
}

#[test]
fn the_rate_column_is_metas_word_when_the_relay_has_the_accounts_statuses() {
    use tokentop::engine::EngineEvent;
    use tokentop::engine::telemetry_types::{WebhookRates, WebhookWindow};
    // Account 0 sent three test messages in the hour, one failed: 66.7%.
    let mut app = fleet_app(12);
    let name = fleet_name(0);
    let row = |app: &App| -> String {
        screen(app, 140, 30)
            .lines()
            .find(|line| line.contains(&format!("{name} ")))
            .unwrap()
            .to_string()
    };
    let before = row(&app);
    assert!(before.contains("66.7%"), "{before}");
    assert!(screen(&app, 140, 30).contains("RATE 1H"));
    // The relay saw 495 of its messages delivered and 5 failed in the hour.
    let mut telemetry = telemetry();
    let rates = WebhookRates {
        last_1h: WebhookWindow::from_counts(495, 300, 5),
        ..WebhookRates::default()
    };
    telemetry.webhook_accounts.insert(name.clone(), rates);
    engine(&mut app, EngineEvent::Telemetry(Box::new(telemetry)));
    let after = row(&app);
    assert!(after.contains("99.0%"), "{after}");
    assert!(!after.contains("66.7%"), "{after}");
    // Account 3 has no statuses: still its test sends.
    let other = fleet_name(3);
    let screen = screen(&app, 140, 30);
    let other_row = screen
        .lines()
        .find(|l| l.contains(&format!("{other} ")))
        .unwrap();
    assert!(other_row.contains("100%"), "{other_row}");
}

/// The listed rows and the counts per level (critical, unknown, warning, ok) as the fleet view
/// keeps them between frames.
fn kept_table(app: &App) -> (Vec<usize>, [usize; 4]) {
    let table = app.fleet_table();
    let counts = [Level::Critical, Level::Unknown, Level::Warning, Level::Ok]
        .map(|level| table.count(level));
    (table.rows.to_vec(), counts)
}

/// The same, made afresh from every account's urgency now.
fn fresh_table(app: &App) -> (Vec<usize>, [usize; 4]) {
    let keys = app.fleet_keys();
    let rows = tokentop::tui::fleet::order(&keys, app.fleet.sort, &app.fleet.filter);
    let counts = [Level::Critical, Level::Unknown, Level::Warning, Level::Ok]
        .map(|level| keys.iter().filter(|k| k.level == level).count());
    (rows, counts)
}

#[test]
fn the_kept_order_is_the_fresh_one_as_the_clock_runs_and_snapshots_change() {
    let mut app = fleet_app(240);
    let start = fixed_now();
    let sorts = [
        SortKey::Worst,
        SortKey::Name,
        SortKey::TimeLeft,
        SortKey::State,
    ];
    // Three days in uneven steps, then 40 more in long ones: accounts cross the warn and
    // critical windows and expire on the way.
    let steps = (0..150)
        .map(|i| i * 1_777)
        .chain((0..60).map(|i| 3 * DAY + i * 61_111));
    for (n, secs) in steps.enumerate() {
        let now = start + chrono::Duration::seconds(secs);
        app.update(Msg::Tick(now));
        app.fleet.sort = sorts[n % sorts.len()];
        app.fleet.filter = if n % 5 == 0 {
            "O".into()
        } else {
            String::new()
        };
        if n % 7 == 3 {
            // The engine reports a refreshed account: 60 days from now.
            let mut snapshot = fleet_snapshot(n * 13 % 240);
            snapshot.state = tokentop::engine::TokenState::Valid;
            if let Some(access) = snapshot.access.as_mut() {
                access.info.expires_at = Some(now.timestamp() + 60 * DAY);
                access.info.is_valid = true;
            }
            engine(
                &mut app,
                EngineEvent::Account(std::sync::Arc::new(snapshot)),
            );
        }
        assert_eq!(
            kept_table(&app),
            fresh_table(&app),
            "at +{secs} s sorted by {:?}",
            app.fleet.sort
        );
    }
    app.update(Msg::Tick(start));
    assert_eq!(kept_table(&app), fresh_table(&app), "the clock went back");
}

#[test]
fn a_tick_grades_only_the_accounts_whose_urgency_can_change() {
    let mut app = fleet_app(1000);
    let first = kept_table(&app);
    let graded = app.fleet_keys_made();
    app.update(Msg::Tick(fixed_now() + chrono::Duration::seconds(1)));
    assert_eq!(kept_table(&app), first);
    assert_eq!(
        app.fleet_keys_made(),
        graded,
        "no account changes in a second"
    );
    app.update(Msg::Tick(fixed_now() + chrono::Duration::seconds(DAY)));
    assert_eq!(kept_table(&app), fresh_table(&app));
    let regraded = app.fleet_keys_made() - graded;
    assert!(
        regraded > 0 && regraded < 1000,
        "a day later some accounts entered a window: {regraded}"
    );
}
