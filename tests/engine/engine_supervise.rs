//! Issue 8 item 6: extreme expiry values and panics never silently lose an account: the engine
//! keeps inspecting, restarts a panicked account task (bounded) and reports it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support;

use std::sync::Arc;

use support::fake_source::{FakeSource, Panics};
use support::{START, run_for, settings, states};
use tokentop::config::AccountSettings;
use tokentop::engine::history::HistoryEvent;
use tokentop::engine::history::cause::{AlertKind, Cause};
use tokentop::engine::{
    Clock, Engine, EngineCommand, EngineEvent, EngineOptions, HealthPolling, TokenState,
};
use tokio::sync::mpsc::UnboundedReceiver;

fn account(name: &str, token: &str) -> AccountSettings {
    crate::account::account(name)
        .app("1234", "fake-app-secret")
        .access_token(token)
        .build()
}

fn start(
    dir: &std::path::Path,
    clock: Clock,
    fake: Arc<FakeSource>,
    accounts: Vec<AccountSettings>,
) -> (
    tokentop::engine::EngineHandle,
    UnboundedReceiver<EngineEvent>,
) {
    let options = EngineOptions {
        clock,
        log_sources: false,
        health: HealthPolling::Off,
        write_summary: false,
        ..EngineOptions::default()
    };
    Engine::start(&settings(dir, accounts), fake, options)
}

fn alerts<'a>(events: &'a [EngineEvent], name: &str) -> Vec<&'a str> {
    events
        .iter()
        .filter_map(|e| match e {
            EngineEvent::Alert { account, message } if account == name => Some(message.as_str()),
            _ => None,
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn extreme_expiries_neither_panic_nor_stop_inspection() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::virtual_at(START);
    let fake = FakeSource::panicking(clock.clone(), Panics::Never);
    let cases = [
        ("max", i64::MAX, START),
        ("maxold", i64::MAX, i64::MIN),
        ("min", i64::MIN, START),
        ("minus", -1, i64::MAX),
    ];
    let accounts = cases
        .iter()
        .map(|&(name, expires_at, issued_at)| account(name, &fake.put(name, expires_at, issued_at)))
        .collect();
    let (_handle, mut events) = start(dir.path(), clock, fake.clone(), accounts);
    let seen = run_for(&mut events, 3 * 3600 + 1800).await;
    for (name, ..) in cases {
        // startup + a check every hour (±10%): the account's task is still alive.
        let inspected = fake.inspected(name);
        assert!(inspected >= 3, "{name}: inspected {inspected} times");
        assert!(
            alerts(&seen, name).iter().all(|m| !m.contains("panicked")),
            "{name}: {:?}",
            alerts(&seen, name)
        );
    }
    assert_eq!(states(&seen, "max").last(), Some(&TokenState::Valid));
    assert!(matches!(
        states(&seen, "min").last(),
        Some(TokenState::ReauthRequired { .. })
    ));
}

#[tokio::test(start_paused = true)]
async fn panicking_account_task_is_reported_and_restarted() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::virtual_at(START);
    let fake = FakeSource::panicking(clock.clone(), Panics::FirstExchangeOf("a"));
    let a = fake.put("a", START + 100, START);
    let b = fake.put("b", START + 100, START);
    let (_handle, mut events) = start(
        dir.path(),
        clock,
        fake.clone(),
        vec![account("a", &a), account("b", &b)],
    );
    let seen = run_for(&mut events, 300).await;
    let a_alerts = alerts(&seen, "a");
    assert!(
        a_alerts
            .iter()
            .any(|m| m.contains("panicked") && m.contains("first exchange of a")),
        "{a_alerts:?}"
    );
    assert!(seen.iter().any(|e| matches!(e, EngineEvent::History(h)
        if h.account == "a" && h.cause == Cause::Alert(AlertKind::Restarted))));
    let history = std::fs::read_to_string(dir.path().join("history.jsonl")).unwrap();
    assert!(history.contains("was restarted"), "{history}");
    // The restarted task inspected at start, then refreshed on: a never lapsed for good.
    assert!(
        fake.inspected("a") >= 2,
        "a inspected {}",
        fake.inspected("a")
    );
    assert!(
        fake.exchanged("a") >= 3,
        "a exchanged {}",
        fake.exchanged("a")
    );
    let a_states = states(&seen, "a");
    assert!(
        !matches!(
            a_states.last(),
            Some(TokenState::Failed { .. } | TokenState::Expired)
        ),
        "{a_states:?}"
    );
    // b: untouched, refreshed on its own schedule (every ~67 s of a 100 s lifetime).
    assert!(alerts(&seen, "b").is_empty(), "{:?}", alerts(&seen, "b"));
    assert!(
        fake.exchanged("b") >= 4,
        "b exchanged {}",
        fake.exchanged("b")
    );
    assert!(!states(&seen, "b").contains(&TokenState::Expired));
}

#[tokio::test(start_paused = true)]
async fn account_that_keeps_panicking_is_given_up_and_shown_failed() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::virtual_at(START);
    let fake = FakeSource::panicking(clock.clone(), Panics::EveryExchangeOf("a"));
    let a = fake.put("a", START + 100, START);
    let b = fake.put("b", START + 100, START);
    let (handle, mut events) = start(
        dir.path(),
        clock,
        fake.clone(),
        vec![account("a", &a), account("b", &b)],
    );
    let mut seen = run_for(&mut events, 200).await;
    // The first panic plus five restarts, then no more tries.
    assert_eq!(fake.exchanged("a"), 6);
    let last = states(&seen, "a").last().cloned();
    let Some(TokenState::Failed { reason }) = last else {
        panic!("a is {last:?}");
    };
    assert!(reason.contains("panicked 6 times"), "{reason}");
    assert!(reason.contains("exchange 6 of a"), "{reason}");
    assert_eq!(alerts(&seen, "a").len(), 6, "{:?}", alerts(&seen, "a"));
    handle.send(EngineCommand::ForceRefresh {
        account: Some("a".into()),
        request_id: 9,
    });
    seen.extend(run_for(&mut events, 5).await);
    handle.send(EngineCommand::Shutdown);
    seen.extend(run_for(&mut events, 10).await);
    let report = seen
        .iter()
        .find_map(|e| match e {
            EngineEvent::RefreshFinished {
                request_id: 9,
                report,
            } => Some(report.clone()),
            _ => None,
        })
        .unwrap();
    assert!(
        !report.ok && report.message.contains("panicked"),
        "{report:?}"
    );
    assert!(seen.iter().any(|e| matches!(e, EngineEvent::Stopped)));
    assert_eq!(fake.exchanged("a"), 6);
    assert!(
        fake.exchanged("b") >= 2,
        "b exchanged {}",
        fake.exchanged("b")
    );
    assert!(alerts(&seen, "b").is_empty());
}

#[tokio::test(start_paused = true)]
async fn panicking_inspection_is_an_error_and_inspection_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::virtual_at(START);
    let fake = FakeSource::panicking(clock.clone(), Panics::FirstInspection);
    let a = fake.put("a", START + 86_400, START);
    let (handle, mut events) = start(dir.path(), clock, fake.clone(), vec![account("a", &a)]);
    let mut seen = run_for(&mut events, 5).await;
    assert!(seen.iter().any(|e| matches!(e, EngineEvent::History(h)
        if h.event() == HistoryEvent::Inspect
            && h.error.as_ref().is_some_and(|e| e.message.contains("inspection panicked")))));
    handle.send(EngineCommand::Recheck { account: None });
    seen.extend(run_for(&mut events, 5).await);
    assert_eq!(fake.inspected("a"), 1);
    assert_eq!(states(&seen, "a").last(), Some(&TokenState::Valid));
}
