#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! End to end: the real dashboard loop on a TestBackend, driven by a scripted key stream,
//! with the real engine talking HTTP to the in-process simulator. Pressing r must put a new
//! forced-refresh row with a later expiry on screen; q must end the loop.

use crate::dashboard_support;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures_util::stream;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use secrecy::ExposeSecret;
use tokentop::config::{GraphSettings, Settings};
use tokentop::engine::history::Outcome;
use tokentop::engine::history::cause::{Cause, Trigger};
use tokentop::engine::{Engine, EngineCommand, EngineEvent, EngineOptions};
use tokentop::graph::GraphClient;
use tokentop::sim::{RunningSim, SimConfig, TokenKind};
use tokentop::tui::{App, Msg};
use tokio::sync::mpsc;

/// Generous for loopback HTTP on a busy 2-core machine; the test ends as soon as it can.
const WAIT_LIMIT: Duration = Duration::from_secs(30);

fn settings(sim: &RunningSim, config: &SimConfig, token: String, data_dir: PathBuf) -> Settings {
    let mut settings = dashboard_support::settings();
    settings.data_dir = data_dir;
    settings.graph = GraphSettings {
        base_url: sim.base_url(),
        ..GraphSettings::default()
    };
    settings.accounts = vec![
        dashboard_support::account::account("production")
            .app(&config.app_id, config.app_secret.expose_secret())
            .access_token(&token)
            .on_refresh_timeout(Duration::from_secs(10))
            .build()
            .into(),
    ];
    settings
}

/// Waits (bounded) for the first tapped event that `pick` maps to a value.
async fn wait_for<T>(
    tap: &mut mpsc::UnboundedReceiver<EngineEvent>,
    what: &str,
    mut pick: impl FnMut(&EngineEvent) -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + WAIT_LIMIT;
    loop {
        match tokio::time::timeout_at(deadline, tap.recv()).await {
            Ok(Some(event)) => {
                if let Some(value) = pick(&event) {
                    return value;
                }
            }
            Ok(None) => panic!("engine events ended while waiting for {what}"),
            Err(_) => panic!("timed out waiting for {what}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pressing_r_shows_a_new_history_row_with_a_later_expiry_then_q_quits() {
    let config = SimConfig::default();
    let sim = RunningSim::start(config.clone(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    // One hour left: not due for a scheduled refresh, so the only refresh is the forced one.
    let token = sim
        .handle()
        .mint_token(TokenKind::SystemUser, Some(Duration::from_secs(3600)));
    let dir = tempfile::tempdir().unwrap();
    let settings = settings(&sim, &config, token.access_token, dir.path().join("data"));
    let client = GraphClient::new(&settings.graph).unwrap();
    let (engine, mut engine_events) =
        Engine::start(&settings, Arc::new(client), EngineOptions::default());

    // Forward engine events to the loop, and a copy to the test (after the loop's copy, so
    // whatever the test has seen is already queued for the loop).
    let (loop_tx, mut loop_events) = mpsc::unbounded_channel();
    let (tap_tx, mut tap) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(event) = engine_events.recv().await {
            let _ = loop_tx.send(event.clone());
            let _ = tap_tx.send(event);
        }
    });
    let (keys_tx, keys_rx) = mpsc::unbounded_channel::<Msg>();
    let keys = Box::pin(stream::unfold(keys_rx, |mut rx| async move {
        rx.recv().await.map(|msg| (msg, rx))
    }));

    let mut app = App::new(&settings, dir.path().join("tokentop.log"), Utc::now());
    let loop_engine = engine.clone();
    let running = tokio::spawn(async move {
        let mut terminal = Terminal::new(TestBackend::new(120, 40)).unwrap();
        let result = tokentop::tui::run(
            &mut terminal,
            &mut app,
            keys,
            &loop_engine,
            &mut loop_events,
        )
        .await;
        (result, terminal, app)
    });

    let first_expiry = wait_for(&mut tap, "the first inspection", |event| match event {
        EngineEvent::Account(s) => s.access_expires_at(),
        _ => None,
    })
    .await;

    keys_tx.send(dashboard_support::ch('r')).unwrap();
    let new_expiry = wait_for(&mut tap, "a forced refresh row", |event| match event {
        EngineEvent::History(e)
            if e.cause == Cause::Refresh(Trigger::Forced) && e.outcome == Outcome::Ok =>
        {
            e.new_expires_at_unix()
        }
        _ => None,
    })
    .await;
    assert!(
        new_expiry > first_expiry + 86_400,
        "{new_expiry} vs {first_expiry}"
    );
    // The refreshed snapshot and RefreshFinished may come in either order.
    let mut finished = false;
    let mut refreshed_expiry = None;
    wait_for(
        &mut tap,
        "the refresh to finish and its snapshot",
        |event| {
            match event {
                EngineEvent::RefreshFinished { report, .. } => {
                    assert!(report.ok, "{report:?}");
                    finished = true;
                }
                EngineEvent::Account(s) => {
                    refreshed_expiry = s
                        .access_expires_at()
                        .filter(|at| *at > first_expiry + 86_400);
                }
                _ => {}
            }
            (finished && refreshed_expiry.is_some()).then_some(())
        },
    )
    .await;
    let refreshed_expiry = refreshed_expiry.unwrap();

    keys_tx.send(dashboard_support::ch('q')).unwrap();
    let (result, terminal, app) = tokio::time::timeout(WAIT_LIMIT, running)
        .await
        .expect("q ends the loop")
        .unwrap();
    result.unwrap();

    let view = &app.accounts[0];
    assert!(view.refresh_pending.is_none(), "refreshing… cleared");
    assert_eq!(view.snapshot.access_expires_at(), Some(refreshed_expiry));
    assert!(
        view.history
            .iter()
            .any(|e| e.cause == Cause::Refresh(Trigger::Forced))
    );
    let screen = terminal.backend().to_string();
    assert!(screen.contains("forced"), "{screen}");
    assert!(screen.contains("ok") && screen.contains("+60d"), "{screen}");
    assert!(!screen.contains("refreshing…"), "{screen}");
    assert!(
        screen.contains("59d 23:") || screen.contains("60d 00:00:0"),
        "{screen}"
    );

    engine.send(EngineCommand::Shutdown);
    sim.shutdown().await;
}

#[tokio::test]
async fn the_loop_ends_when_its_input_ends_and_draws_first() {
    let settings = dashboard_support::settings();
    let (engine, _commands) = {
        // An engine with no accounts: the loop must not depend on any event arriving.
        let mut settings = settings.clone();
        settings.accounts.clear();
        let dir = tempfile::tempdir().unwrap();
        settings.data_dir = dir.path().to_path_buf();
        let client = GraphClient::new(&settings.graph).unwrap();
        Engine::start(&settings, Arc::new(client), EngineOptions::default())
    };
    let mut app = dashboard_support::new_app();
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
    let (_tx, mut events) = mpsc::unbounded_channel();
    let input = Box::pin(stream::iter(vec![dashboard_support::ch('2')]));
    tokentop::tui::run(&mut terminal, &mut app, input, &engine, &mut events)
        .await
        .unwrap();
    assert_eq!(app.selected, 1, "the scripted key was applied");
    assert!(terminal.backend().to_string().contains("▸2 staging"));
}
