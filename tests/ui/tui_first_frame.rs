#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The dashboard's first frame comes from the config alone: `watch` draws it before its engine
//! starts, and the loop draws it before the engine has said anything, so a 10,000-account
//! start-up never holds it back.

use crate::dashboard_support;

use std::sync::Arc;

use futures_util::stream;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use tokentop::engine::{Engine, EngineCommand, EngineOptions};
use tokentop::graph::GraphClient;
use tokentop::tui::{App, Msg, View};
use tokio::sync::mpsc;

const FLEET: usize = 10_000;

fn fleet_app() -> App {
    App::new(
        &dashboard_support::fleet_settings(FLEET),
        "/tmp/tokentop.log".into(),
        dashboard_support::fixed_now(),
    )
}

/// The names on screen among the fleet's, in screen order.
fn names_on(screen: &str) -> Vec<String> {
    let names: std::collections::HashSet<String> =
        (0..FLEET).map(dashboard_support::fleet_name).collect();
    screen
        .lines()
        .filter_map(|line| line.split_whitespace().find(|word| names.contains(*word)))
        .map(str::to_string)
        .collect()
}

#[test]
fn the_first_frame_lists_a_page_of_the_fleet_before_any_engine_exists() {
    let mut app = fleet_app();
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).unwrap();
    tokentop::tui::draw_first(&mut terminal, &mut app).unwrap();
    assert_eq!(app.view, View::Fleet);
    assert_eq!(app.size, (120, 40), "sized to the terminal before drawing");
    let screen = terminal.backend().to_string();
    let shown = names_on(&screen);
    // 40 lines: two borders and the column header; every other line is an account.
    assert_eq!(shown.len(), 40 - 3, "{screen}");
    assert!(screen.contains(&FLEET.to_string()), "the count: {screen}");
}

#[tokio::test]
async fn the_loop_draws_the_fleet_before_the_engine_delivers_any_event() {
    let (engine, _engine_events) = {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = dashboard_support::settings();
        settings.accounts.clear();
        settings.data_dir = dir.path().to_path_buf();
        let client = GraphClient::new(&settings.graph).unwrap();
        Engine::start(&settings, Arc::new(client), EngineOptions::default())
    };
    // The engine's events are withheld: the sender lives, nothing is ever sent.
    let (_withheld, mut events) = mpsc::unbounded_channel();
    let mut app = fleet_app();
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).unwrap();
    // The input ends at once, so the loop returns after the frame it draws unprompted.
    let input = Box::pin(stream::iter(Vec::<Msg>::new()));
    tokentop::tui::run(&mut terminal, &mut app, input, &engine, &mut events)
        .await
        .unwrap();
    let screen = terminal.backend().to_string();
    assert_eq!(names_on(&screen).len(), 40 - 3, "{screen}");
    assert!(app.accounts.iter().all(|a| a.snapshot.access.is_none()));
    engine.send(EngineCommand::Shutdown);
}
