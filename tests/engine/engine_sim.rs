//! The real engine over real HTTP against the in-process simulator, in real time.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use tokentop::config::{AccountSettings, GraphSettings, RefreshBefore, RefreshPolicy, Settings};
use tokentop::engine::history::cause::{Cause, Trigger};
use tokentop::engine::history::{HistoryEvent, Outcome};
use tokentop::engine::store::{StoredTokens, TokenStore};
use tokentop::engine::{
    AccountSnapshot, Engine, EngineCommand, EngineEvent, EngineHandle, EngineOptions, TokenState,
};
use tokentop::graph::GraphClient;
use tokentop::sim::{DEFAULT_APP_ID, DEFAULT_APP_SECRET, Faults, RunningSim, SimConfig, TokenKind};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::Instant;

/// Starts a simulator on loopback port 0.
async fn start_sim() -> RunningSim {
    RunningSim::start(SimConfig::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

fn settings(
    sim: &RunningSim,
    data_dir: &Path,
    check_interval: Duration,
    refresh_before: RefreshBefore,
    accounts: Vec<AccountSettings>,
) -> Settings {
    Settings {
        data_dir: data_dir.to_path_buf(),
        graph: GraphSettings {
            base_url: sim.base_url(),
            request_timeout: Duration::from_secs(10),
            ..GraphSettings::default()
        },
        refresh: RefreshPolicy {
            check_interval,
            refresh_before,
            ..RefreshPolicy::default()
        },
        accounts: accounts.into_iter().map(std::sync::Arc::new).collect(),
        ..Settings::default()
    }
}

fn account(access: &str, long_lived: Option<&str>) -> AccountSettings {
    crate::account::account("main")
        .app(DEFAULT_APP_ID, DEFAULT_APP_SECRET)
        .access_token(access)
        .long_lived_token(long_lived)
        .phone_number_id("106540352242922")
        .test_recipient(Some("15551234567"))
        .build()
}

fn start_engine(settings: &Settings) -> (EngineHandle, UnboundedReceiver<EngineEvent>) {
    let client = GraphClient::new(&settings.graph).unwrap();
    Engine::start(settings, Arc::new(client), EngineOptions::default())
}

fn stat(sim: &RunningSim, endpoint: &str) -> u64 {
    sim.handle()
        .stats()
        .by_endpoint
        .get(endpoint)
        .copied()
        .unwrap_or(0)
}

/// Receives events into `seen` until `done` holds for one of them or `limit` passes.
async fn wait_for(
    events: &mut UnboundedReceiver<EngineEvent>,
    seen: &mut Vec<EngineEvent>,
    limit: Duration,
    mut done: impl FnMut(&EngineEvent) -> bool,
) -> Option<EngineEvent> {
    let deadline = Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(event)) => {
                seen.push(event.clone());
                if done(&event) {
                    return Some(event);
                }
            }
            Ok(None) | Err(_) => return None,
        }
    }
}

/// Waits until the account snapshot satisfies `done`, returning it.
async fn wait_snapshot(
    events: &mut UnboundedReceiver<EngineEvent>,
    seen: &mut Vec<EngineEvent>,
    limit: Duration,
    done: impl Fn(&AccountSnapshot) -> bool,
) -> AccountSnapshot {
    let found = wait_for(
        events,
        seen,
        limit,
        |e| matches!(e, EngineEvent::Account(s) if done(s)),
    )
    .await;
    match found {
        Some(EngineEvent::Account(snapshot)) => std::sync::Arc::unwrap_or_clone(snapshot),
        _ => panic!("no matching snapshot within {limit:?}; events: {seen:#?}"),
    }
}

/// Drains events for `span`, keeping them.
async fn drain_for(
    events: &mut UnboundedReceiver<EngineEvent>,
    seen: &mut Vec<EngineEvent>,
    span: Duration,
) {
    wait_for(events, seen, span, |_| false).await;
}

async fn stop(handle: &EngineHandle, events: &mut UnboundedReceiver<EngineEvent>) {
    handle.send(EngineCommand::Shutdown);
    let mut seen = Vec::new();
    let stopped = wait_for(events, &mut seen, Duration::from_secs(20), |e| {
        *e == EngineEvent::Stopped
    })
    .await;
    assert!(stopped.is_some(), "engine did not stop");
}

fn inspected(snapshot: &AccountSnapshot) -> bool {
    snapshot.access.is_some() && snapshot.state != TokenState::Refreshing
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_that_gets_190_refreshes_once_and_retries_once() {
    let sim = start_sim().await;
    let handle = sim.handle();
    let long_lived = handle.mint_token(TokenKind::SystemUser, None).access_token;
    let access = handle.mint_token(TokenKind::SystemUser, None).access_token;
    let dir = tempfile::tempdir().unwrap();
    let settings = settings(
        &sim,
        dir.path(),
        Duration::from_secs(3600),
        RefreshBefore::ShareOfLifetime(33),
        vec![account(&access, Some(&long_lived))],
    );
    let (engine, mut events) = start_engine(&settings);
    let mut seen = Vec::new();
    let first = wait_snapshot(&mut events, &mut seen, Duration::from_secs(10), inspected).await;
    assert_eq!(first.state, TokenState::NeverExpires);
    assert!(handle.invalidate(&access));

    engine.send(EngineCommand::SendTest {
        account: "main".into(),
        to: None,
        request_id: 7,
    });
    let finished = wait_for(&mut events, &mut seen, Duration::from_secs(20), |e| {
        matches!(e, EngineEvent::SendFinished { .. })
    })
    .await;
    let Some(EngineEvent::SendFinished { request_id, report }) = finished else {
        panic!("no SendFinished: {seen:#?}");
    };
    assert_eq!(request_id, 7);
    assert!(report.accepted, "{report:?}");
    assert!(report.refreshed, "{report:?}");
    assert!(report.message_id.is_some(), "{report:?}");
    assert_eq!(stat(&sim, "exchange"), 1);
    assert_eq!(stat(&sim, "messages"), 2);
    let refreshes: Vec<_> = seen
        .iter()
        .filter_map(|e| match e {
            EngineEvent::History(h) if h.event() == HistoryEvent::Refresh => Some(h.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(refreshes.len(), 1, "{refreshes:#?}");
    assert_eq!(refreshes[0].cause, Cause::Refresh(Trigger::AuthError));
    assert_eq!(refreshes[0].outcome, Outcome::Ok);
    stop(&engine, &mut events).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_concurrent_sends_that_get_190_share_one_exchange() {
    let sim = start_sim().await;
    let handle = sim.handle();
    let long_lived = handle.mint_token(TokenKind::SystemUser, None).access_token;
    let access = handle.mint_token(TokenKind::SystemUser, None).access_token;
    let dir = tempfile::tempdir().unwrap();
    let settings = settings(
        &sim,
        dir.path(),
        Duration::from_secs(3600),
        RefreshBefore::ShareOfLifetime(33),
        vec![account(&access, Some(&long_lived))],
    );
    let (engine, mut events) = start_engine(&settings);
    let mut seen = Vec::new();
    wait_snapshot(&mut events, &mut seen, Duration::from_secs(10), inspected).await;
    assert!(handle.invalidate(&access));

    for request_id in 0..100 {
        engine.send(EngineCommand::SendTest {
            account: "main".into(),
            to: None,
            request_id,
        });
    }
    let mut reports = Vec::new();
    wait_for(&mut events, &mut seen, Duration::from_secs(30), |e| {
        if let EngineEvent::SendFinished { report, .. } = e {
            reports.push(report.clone());
        }
        reports.len() == 100
    })
    .await;
    assert_eq!(reports.len(), 100, "only {} sends finished", reports.len());
    let refused: Vec<_> = reports.iter().filter(|r| !r.accepted).collect();
    assert!(refused.is_empty(), "{refused:#?}");
    assert_eq!(stat(&sim, "exchange"), 1, "{:?}", sim.handle().stats());
    let messages = stat(&sim, "messages");
    assert!(
        (101..=200).contains(&messages),
        "{messages} message requests"
    );
    stop(&engine, &mut events).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_long_lived_token_needs_reauth_without_a_retry_loop() {
    let sim = start_sim().await;
    let handle = sim.handle();
    // Expires the second it is minted.
    let long_lived = handle
        .mint_token(TokenKind::LongLivedUser, Some(Duration::ZERO))
        .access_token;
    let access = handle
        .mint_token(TokenKind::LongLivedUser, Some(Duration::from_secs(3600)))
        .access_token;
    let dir = tempfile::tempdir().unwrap();
    let settings = settings(
        &sim,
        dir.path(),
        Duration::from_secs(2),
        RefreshBefore::ShareOfLifetime(33),
        vec![account(&access, Some(&long_lived))],
    );
    let (engine, mut events) = start_engine(&settings);
    let mut seen = Vec::new();
    let snapshot = wait_snapshot(&mut events, &mut seen, Duration::from_secs(10), |s| {
        matches!(s.state, TokenState::ReauthRequired { .. })
    })
    .await;
    assert!(snapshot.action_hint.is_some(), "{snapshot:#?}");
    assert_eq!(snapshot.next_refresh_at, None);
    let after_start = sim.handle().stats().total;

    drain_for(&mut events, &mut seen, Duration::from_secs(15)).await;
    let stats = sim.handle().stats();
    assert!(stat(&sim, "exchange") <= 1, "{stats:?}");
    // Only the periodic inspections (every 2 s ± 10%, at most two tokens each) hit Meta.
    let grown = stats.total - after_start;
    assert!(grown <= 2 * 9, "{grown} requests in 15 s: {stats:?}");
    let inspections = stats.by_endpoint.get("debug_token").copied().unwrap_or(0);
    assert!(inspections >= 2 * 5, "checks stopped: {stats:?}");
    let states: Vec<_> = seen
        .iter()
        .filter_map(|e| match e {
            EngineEvent::Account(s) => Some(s.state.clone()),
            _ => None,
        })
        .collect();
    let last = states.last().unwrap();
    assert!(
        matches!(last, TokenState::ReauthRequired { .. }),
        "{states:?}"
    );
    let alerts = seen
        .iter()
        .filter(|e| matches!(e, EngineEvent::Alert { .. }))
        .count();
    assert_eq!(alerts, 1, "the alert repeats on every check");
    stop(&engine, &mut events).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_back_off_from_ten_seconds_and_recover_when_cleared() {
    let sim = start_sim().await;
    let handle = sim.handle();
    let access = handle
        .mint_token(TokenKind::SystemUser, Some(Duration::from_secs(7200)))
        .access_token;
    let dir = tempfile::tempdir().unwrap();
    let settings = settings(
        &sim,
        dir.path(),
        Duration::from_secs(3600),
        RefreshBefore::ShareOfLifetime(33),
        vec![account(&access, None)],
    );
    let (engine, mut events) = start_engine(&settings);
    let mut seen = Vec::new();
    wait_snapshot(&mut events, &mut seen, Duration::from_secs(10), inspected).await;
    handle.set_faults(Faults {
        error_5xx_probability: 1.0,
        ..Faults::default()
    });
    engine.send(EngineCommand::ForceRefresh {
        account: Some("main".into()),
        request_id: 1,
    });
    let started = Instant::now();
    let mut attempts: Vec<Duration> = Vec::new();
    let mut cleared = false;
    // Attempts land at 0 s, 10-12 s and 30-36 s; the faults go away before the third.
    let recovered = wait_for(&mut events, &mut seen, Duration::from_secs(45), |e| {
        match e {
            EngineEvent::History(h) if h.event() == HistoryEvent::Refresh => {
                attempts.push(started.elapsed());
                if attempts.len() == 2 {
                    handle.clear_faults();
                    cleared = true;
                }
            }
            EngineEvent::Account(s) if cleared => {
                return s.state == TokenState::Valid && s.access_token_masked.is_some();
            }
            _ => {}
        }
        false
    })
    .await;
    let Some(EngineEvent::Account(snapshot)) = recovered else {
        panic!("no recovery; attempts at {attempts:?}");
    };
    assert_eq!(attempts.len(), 3, "attempts at {attempts:?}");
    assert_eq!(stat(&sim, "exchange"), 3);
    let gap = |i: usize| (attempts[i + 1] - attempts[i]).as_secs_f64();
    // 10 s then 20 s, each plus up to 20% jitter (and whole-second rounding).
    assert!((9.0..=13.5).contains(&gap(0)), "attempts at {attempts:?}");
    assert!((19.0..=25.5).contains(&gap(1)), "attempts at {attempts:?}");
    let states: Vec<_> = seen
        .iter()
        .filter_map(|e| match e {
            EngineEvent::Account(s) => Some(s.state.clone()),
            _ => None,
        })
        .collect();
    assert!(
        states
            .iter()
            .any(|s| matches!(s, TokenState::Backoff { .. })),
        "{states:?}"
    );
    assert_eq!(snapshot.last_error, None);
    assert!(snapshot.next_refresh_at.is_some());
    let stored = TokenStore::new(dir.path()).load("main").unwrap().unwrap();
    assert_ne!(stored.access_token.expose_secret(), access);
    assert_eq!(
        handle.token_expires_at(stored.access_token.expose_secret()),
        Some(stored.expires_at)
    );
    stop(&engine, &mut events).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn newly_configured_token_is_not_reverted_to_the_stale_stored_one() {
    let sim = start_sim().await;
    let handle = sim.handle();
    let stale = handle
        .mint_token(TokenKind::LongLivedUser, Some(Duration::from_secs(86_400)))
        .access_token;
    let dir = tempfile::tempdir().unwrap();
    let store = TokenStore::new(dir.path());
    let now = chrono::Utc::now().timestamp();
    let old = StoredTokens {
        access_token: SecretString::from(stale.as_str()),
        long_lived_token: None,
        expires_at: Some(now + 86_400),
        refreshed_at: now - 100,
        origin_fingerprint: "0123456789abcdef".into(),
    };
    store.save("main", &old).unwrap();
    // The operator configured a new token; it is due for refresh right away.
    let configured = handle
        .mint_token(TokenKind::SystemUser, Some(Duration::from_secs(30)))
        .access_token;
    let settings = settings(
        &sim,
        dir.path(),
        Duration::from_secs(3600),
        RefreshBefore::Fixed(Duration::from_secs(60)),
        vec![account(&configured, None)],
    );
    let (engine, mut events) = start_engine(&settings);
    let mut seen = Vec::new();
    let refresh = wait_for(
        &mut events,
        &mut seen,
        Duration::from_secs(15),
        |e| matches!(e, EngineEvent::History(h) if h.event() == HistoryEvent::Refresh),
    )
    .await;
    let Some(EngineEvent::History(entry)) = refresh else {
        panic!("no refresh: {seen:#?}");
    };
    assert_eq!(entry.outcome, Outcome::Ok, "{entry:#?}");
    assert_eq!(stat(&sim, "exchange"), 1);
    let stored = store.load("main").unwrap().unwrap();
    let stored = stored.access_token.expose_secret();
    assert_ne!(stored, stale);
    assert_ne!(stored, configured);
    stop(&engine, &mut events).await;
}
