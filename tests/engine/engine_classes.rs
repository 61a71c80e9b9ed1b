//! Token classes end to end (issue 23 §3): every class minted by the simulator and classified
//! by the engine, a 60-day system-user token renewed with `set_token_expires_in_60_days`, a
//! 60-day business token refused an exchange with its deadline up front, and (on tokio's paused
//! clock) a never-expiring business token that is inspected for 90 days and never exchanged.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use support::START;
use support::fake_source::{ExchangeMode, FakeSource};
use tokentop::config::{AccountSettings, Settings, TokenKind};
use tokentop::engine::{
    AccountSnapshot, Clock, Engine, EngineCommand, EngineEvent, EngineHandle, EngineOptions,
    HealthPolling, TokenClass, TokenState,
};
use tokentop::graph::{Expiry, GraphClient};
use tokentop::sim::{DEFAULT_APP_ID, DEFAULT_APP_SECRET, RunningSim, SimConfig, TokenKind as Sim};
use tokio::sync::mpsc::UnboundedReceiver;

const DAY: u64 = 86_400;

fn account(name: &str, token: &str, kind: Option<TokenKind>) -> AccountSettings {
    crate::account::account(name)
        .app(DEFAULT_APP_ID, DEFAULT_APP_SECRET)
        .access_token(token)
        .phone_number_id("106540352242922")
        .token_kind(kind)
        .build()
}

async fn start_sim() -> RunningSim {
    RunningSim::start(SimConfig::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

fn sim_settings(
    sim: &RunningSim,
    dir: &std::path::Path,
    accounts: Vec<AccountSettings>,
) -> Settings {
    let mut settings = support::settings(dir, accounts);
    settings.graph.base_url = sim.base_url();
    settings.graph.request_timeout = Duration::from_secs(10);
    settings
}

fn start(settings: &Settings) -> (EngineHandle, UnboundedReceiver<EngineEvent>) {
    let client = GraphClient::new(&settings.graph).unwrap();
    Engine::start(settings, Arc::new(client), EngineOptions::default())
}

fn exchanges(sim: &RunningSim) -> u64 {
    let stats = sim.handle().stats();
    stats.by_endpoint.get("exchange").copied().unwrap_or(0)
}

/// Latest snapshots by name until every one of `names` is inspected (real time, bounded).
async fn inspected_all(
    events: &mut UnboundedReceiver<EngineEvent>,
    names: &[&str],
) -> HashMap<String, AccountSnapshot> {
    let mut latest: HashMap<String, AccountSnapshot> = HashMap::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !names
        .iter()
        .all(|n| latest.get(*n).is_some_and(|s| s.access.is_some()))
    {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(EngineEvent::Account(s))) => {
                latest.insert(s.name.clone(), std::sync::Arc::unwrap_or_clone(s));
            }
            Ok(Some(_)) => {}
            _ => panic!("not every account was inspected: {latest:#?}"),
        }
    }
    latest
}

/// The report of forced refresh `request_id`.
async fn refresh_report(
    engine: &EngineHandle,
    events: &mut UnboundedReceiver<EngineEvent>,
    account: &str,
    request_id: u64,
) -> tokentop::engine::RefreshReport {
    engine.send(EngineCommand::ForceRefresh {
        account: Some(account.to_string()),
        request_id,
    });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(EngineEvent::RefreshFinished {
                request_id: id,
                report,
            })) if id == request_id => {
                return report;
            }
            Ok(Some(_)) => {}
            _ => panic!("no refresh report for {account}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_class_minted_by_the_simulator_is_classified() {
    let sim = start_sim().await;
    let handle = sim.handle();
    let sixty_days = Some(Duration::from_secs(60 * DAY));
    let mint = |kind, lifetime| handle.mint_token(kind, lifetime).access_token;
    let app_token = format!("{DEFAULT_APP_ID}|{DEFAULT_APP_SECRET}");
    let cases = [
        (
            "short",
            mint(Sim::ShortLivedUser, Some(Duration::from_secs(3600))),
            None,
            TokenClass::UserShort,
        ),
        (
            "long",
            mint(Sim::LongLivedUser, sixty_days),
            None,
            TokenClass::UserLong,
        ),
        (
            "sys-never",
            mint(Sim::SystemUser, None),
            None,
            TokenClass::SystemNever,
        ),
        (
            "sys-60d",
            mint(Sim::SystemUser, sixty_days),
            Some(TokenKind::SystemUser),
            TokenClass::System60d,
        ),
        (
            "biz-never",
            mint(Sim::Business, None),
            Some(TokenKind::Business),
            TokenClass::BusinessNever,
        ),
        (
            "biz-60d",
            mint(Sim::Business, sixty_days),
            Some(TokenKind::Business),
            TokenClass::Business60d,
        ),
        // A business token the config does not call one: a system user's, as debug_token says.
        (
            "biz-unsaid",
            mint(Sim::Business, None),
            None,
            TokenClass::SystemNever,
        ),
        ("app", app_token, None, TokenClass::App),
    ];
    let dir = tempfile::tempdir().unwrap();
    let accounts = cases
        .iter()
        .map(|(name, token, kind, _)| account(name, token, *kind))
        .collect();
    let (engine, mut events) = start(&sim_settings(&sim, dir.path(), accounts));
    let names: Vec<&str> = cases.iter().map(|c| c.0).collect();
    let latest = inspected_all(&mut events, &names).await;
    for (name, _, _, class) in &cases {
        assert_eq!(latest[*name].token_class, *class, "{name}");
    }
    let biz = &latest["biz-60d"];
    let hint = biz.action_hint.clone().unwrap_or_default();
    assert!(hint.contains("Embedded Signup again"), "{hint}");
    assert!(hint.starts_with("re-auth needed before "), "{hint}");
    assert_eq!(biz.next_refresh_at, None, "no exchange is planned");
    let app = &latest["app"];
    assert!(
        app.action_hint
            .as_deref()
            .unwrap_or("")
            .contains("cannot send")
    );
    assert_eq!(exchanges(&sim), 0);
    engine.send(EngineCommand::Shutdown);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sixty_day_system_user_token_is_renewed_for_sixty_days_with_the_flag() {
    let sim = start_sim().await;
    // 30 days left: without the flag the simulator would keep that expiry.
    let token = sim
        .handle()
        .mint_token(Sim::SystemUser, Some(Duration::from_secs(30 * DAY)))
        .access_token;
    let dir = tempfile::tempdir().unwrap();
    let accounts = vec![account("sys", &token, None)];
    let (engine, mut events) = start(&sim_settings(&sim, dir.path(), accounts));
    let latest = inspected_all(&mut events, &["sys"]).await;
    assert_eq!(latest["sys"].token_class, TokenClass::System60d);
    let report = refresh_report(&engine, &mut events, "sys", 1).await;
    assert!(report.ok, "{report:?}");
    let now = chrono::Utc::now().timestamp();
    let Some(Expiry::At(at)) = report.new_expires_at else {
        panic!("{report:?}");
    };
    let days = (at - now) / 86_400;
    assert!((59..=60).contains(&days), "renewed for {days} days");
    assert_eq!(exchanges(&sim), 1);
    engine.send(EngineCommand::Shutdown);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn business_tokens_are_not_exchanged_unless_the_config_allows_it() {
    let sim = start_sim().await;
    let handle = sim.handle();
    let sixty = Some(Duration::from_secs(60 * DAY));
    let never = handle.mint_token(Sim::Business, None).access_token;
    let sixty_day = handle.mint_token(Sim::Business, sixty).access_token;
    let dir = tempfile::tempdir().unwrap();
    let business = Some(TokenKind::Business);
    let accounts = vec![
        account("never", &never, business),
        account("sixty", &sixty_day, business),
    ];
    let (engine, mut events) = start(&sim_settings(&sim, dir.path(), accounts.clone()));
    inspected_all(&mut events, &["never", "sixty"]).await;
    for (i, name) in ["never", "sixty"].into_iter().enumerate() {
        let report = refresh_report(&engine, &mut events, name, i as u64 + 1).await;
        assert!(!report.ok, "{report:?}");
        assert!(report.message.contains("not exchanged"), "{report:?}");
    }
    assert_eq!(exchanges(&sim), 0);
    engine.send(EngineCommand::Shutdown);

    // With renew-business-tokens, the 60-day one is exchanged with the flag.
    let dir = tempfile::tempdir().unwrap();
    let mut settings = sim_settings(&sim, dir.path(), accounts);
    settings.refresh.renew_business_tokens = true;
    let (engine, mut events) = start(&settings);
    let latest = inspected_all(&mut events, &["never", "sixty"]).await;
    assert!(latest["sixty"].next_refresh_at.is_some());
    let report = refresh_report(&engine, &mut events, "sixty", 3).await;
    assert!(report.ok, "{report:?}");
    assert_eq!(exchanges(&sim), 1);
    engine.send(EngineCommand::Shutdown);
}

/// Options for months on the paused clock: no phone polls, log sources or summary file (the
/// summary is written every 10 s, which takes real time even on a paused clock).
fn months_options(clock: Clock) -> EngineOptions {
    EngineOptions {
        clock,
        health: HealthPolling::Off,
        log_sources: false,
        write_summary: false,
        ..EngineOptions::default()
    }
}

/// Account snapshots and alerts for `secs` of virtual time; the telemetry snapshots (one per
/// 30 s) are dropped, or three months of them would fill the memory.
async fn run_months(events: &mut UnboundedReceiver<EngineEvent>, secs: u64) -> Vec<EngineEvent> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    let mut kept = Vec::new();
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Some(event @ (EngineEvent::Account(_) | EngineEvent::Alert { .. })) => {
                    kept.push(event);
                }
                Some(_) => {}
                None => return kept,
            },
            () = tokio::time::sleep_until(deadline) => return kept,
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_never_expiring_business_token_is_only_inspected_for_ninety_days() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::virtual_at(START);
    let fake = FakeSource::new(clock.clone(), ExchangeMode::Renew { lifetime_secs: 100 });
    let token = fake.mint("SYSTEM_USER", None);
    let mut settings = support::settings(
        dir.path(),
        vec![account("acme", &token, Some(TokenKind::Business))],
    );
    // Meta asks for a check at least daily: the longest interval that still does it (each
    // inspection writes history, which takes real time even on a paused clock).
    settings.refresh.check_interval = Duration::from_secs(20 * 3600);
    let (_engine, mut events) = Engine::start(&settings, fake.clone(), months_options(clock));
    let seen = run_months(&mut events, 90 * DAY).await;
    assert!(fake.exchanges.lock().unwrap().is_empty(), "never exchanged");
    let inspections = *fake.inspections.lock().unwrap();
    assert!(inspections >= 90, "{inspections} inspections in 90 days");
    let last = seen
        .iter()
        .rev()
        .find_map(|e| match e {
            EngineEvent::Account(s) => Some(s.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(last.token_class, TokenClass::BusinessNever);
    assert_eq!(last.state, TokenState::NeverExpires);
    assert_eq!(last.next_refresh_at, None);
    assert_eq!(last.action_hint, None, "nothing for a person to do");
}

#[tokio::test(start_paused = true)]
async fn a_sixty_day_business_token_says_its_deadline_once_and_is_never_exchanged() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::virtual_at(START);
    let fake = FakeSource::new(clock.clone(), ExchangeMode::Renew { lifetime_secs: 100 });
    let token = fake.mint("SYSTEM_USER", Some(60 * 86_400));
    let mut settings = support::settings(
        dir.path(),
        vec![account("acme", &token, Some(TokenKind::Business))],
    );
    settings.refresh.check_interval = Duration::from_secs(20 * 3600);
    let (_engine, mut events) = Engine::start(&settings, fake.clone(), months_options(clock));
    let seen = run_months(&mut events, 59 * DAY).await;
    let hint = seen.iter().rev().find_map(|e| match e {
        EngineEvent::Account(s) => s.action_hint.clone(),
        _ => None,
    });
    assert!(
        hint.is_some_and(|h| h.contains("Embedded Signup again")),
        "the remedy stays on screen"
    );
    assert!(fake.exchanges.lock().unwrap().is_empty());
    let alerts: Vec<&String> = seen
        .iter()
        .filter_map(|e| match e {
            EngineEvent::Alert { message, .. } => Some(message),
            _ => None,
        })
        .collect();
    assert_eq!(alerts.len(), 1, "one alert for the deadline: {alerts:#?}");
    assert!(alerts[0].contains("Embedded Signup again"), "{}", alerts[0]);
    assert!(alerts[0].contains("re-auth needed before"), "{}", alerts[0]);
}
