//! Issue 8 item 6: extreme expiry values and panics never silently lose an account: the engine
//! keeps inspecting, restarts a panicked account task (bounded) and reports it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use secrecy::{ExposeSecret, SecretString};
use tokentop::config::{
    AccountSettings, GraphSettings, PatternSettings, RefreshBefore, RefreshPolicy, Settings,
    TestMessageSettings, UiSettings,
};
use tokentop::engine::history::HistoryEvent;
use tokentop::engine::source::AnalyticsWindow;
use tokentop::engine::{
    Clock, Engine, EngineCommand, EngineEvent, EngineOptions, HealthPolling, TokenSource,
    TokenState,
};
use tokentop::graph::{
    Analytics, AppCredentials, ErrorClass, ExchangedToken, GraphError, OutgoingMessage,
    PhoneHealth, SendResult, TokenInfo, WithUsage,
};
use tokio::sync::mpsc::UnboundedReceiver;

const START: i64 = 1_800_000_000;

/// When the fake panics (test code may).
#[derive(Clone, Copy, PartialEq)]
enum Panics {
    Never,
    /// On the first exchange of the named account's token.
    FirstExchangeOf(&'static str),
    /// On every exchange of the named account's token.
    EveryExchangeOf(&'static str),
    /// On the first `inspect_many` call.
    FirstInspection,
}

/// Tokens are named `EAAGfake<account>Z…` (lowercase names), so the fake knows whose token it sees.
struct Fake {
    clock: Clock,
    panics: Panics,
    /// token -> (expires_at, issued_at)
    tokens: Mutex<HashMap<String, (i64, i64)>>,
    inspections: Mutex<HashMap<String, u32>>,
    inspect_calls: Mutex<u32>,
    exchanges: Mutex<HashMap<String, u32>>,
    counter: Mutex<u32>,
}

impl Fake {
    fn new(clock: Clock, panics: Panics) -> Arc<Self> {
        Arc::new(Self {
            clock,
            panics,
            tokens: Mutex::new(HashMap::new()),
            inspections: Mutex::new(HashMap::new()),
            inspect_calls: Mutex::new(0),
            exchanges: Mutex::new(HashMap::new()),
            counter: Mutex::new(0),
        })
    }

    fn put(&self, account: &str, expires_at: i64, issued_at: i64) -> String {
        let mut n = self.counter.lock().unwrap();
        *n += 1;
        let token = format!("EAAGfake{account}Z{:06}xxxxxxxxxxxxxxxx", *n);
        self.tokens
            .lock()
            .unwrap()
            .insert(token.clone(), (expires_at, issued_at));
        token
    }

    fn account_of(token: &str) -> String {
        let rest = token.trim_start_matches("EAAGfake");
        rest.split('Z').next().unwrap_or_default().to_string()
    }

    fn info(&self, token: &str) -> TokenInfo {
        let now = self.clock.now_unix();
        let value = match self.tokens.lock().unwrap().get(token) {
            Some(&(expires_at, issued_at)) => serde_json::json!({
                "is_valid": expires_at == 0 || expires_at > now, "type": "SYSTEM_USER",
                "expires_at": expires_at, "issued_at": issued_at,
                "data_access_expires_at": expires_at,
                "scopes": ["whatsapp_business_management", "whatsapp_business_messaging"],
            }),
            None => serde_json::json!({"is_valid": false}),
        };
        serde_json::from_value(value).unwrap()
    }

    fn inspected(&self, account: &str) -> u32 {
        self.inspections
            .lock()
            .unwrap()
            .get(account)
            .copied()
            .unwrap_or(0)
    }

    fn exchanged(&self, account: &str) -> u32 {
        self.exchanges
            .lock()
            .unwrap()
            .get(account)
            .copied()
            .unwrap_or(0)
    }

    fn unsupported() -> GraphError {
        GraphError::without_envelope(ErrorClass::Permission, "not in this fake")
    }
}

impl TokenSource for Fake {
    fn inspect_many<'a>(
        &'a self,
        _app: &'a AppCredentials,
        tokens: &'a [SecretString],
    ) -> BoxFuture<'a, Result<Vec<Result<TokenInfo, GraphError>>, GraphError>> {
        Box::pin(async move {
            let call = {
                let mut calls = self.inspect_calls.lock().unwrap();
                *calls += 1;
                *calls
            };
            if call == 1 && self.panics == Panics::FirstInspection {
                panic!("fake source panics on the first inspection");
            }
            let mut counts = self.inspections.lock().unwrap();
            Ok(tokens
                .iter()
                .map(|t| {
                    *counts
                        .entry(Fake::account_of(t.expose_secret()))
                        .or_default() += 1;
                    Ok(self.info(t.expose_secret()))
                })
                .collect())
        })
    }

    fn exchange<'a>(
        &'a self,
        _app: &'a AppCredentials,
        token: &'a SecretString,
        _sixty: bool,
    ) -> BoxFuture<'a, Result<ExchangedToken, GraphError>> {
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let account = Fake::account_of(token.expose_secret());
            let count = {
                let mut exchanges = self.exchanges.lock().unwrap();
                let n = exchanges.entry(account.clone()).or_default();
                *n += 1;
                *n
            };
            match self.panics {
                Panics::FirstExchangeOf(a) if a == account && count == 1 => {
                    panic!("fake source panics on the first exchange of {a}")
                }
                Panics::EveryExchangeOf(a) if a == account => {
                    panic!("fake source panics on exchange {count} of {a}")
                }
                _ => {}
            }
            let now = self.clock.now_unix();
            let new = self.put(&account, now + 100, now);
            Ok(ExchangedToken {
                access_token: SecretString::from(new),
                token_type: Some("bearer".into()),
                expires_in_secs: Some(100),
            })
        })
    }

    fn send<'a>(
        &'a self,
        _app: &'a AppCredentials,
        _token: &'a SecretString,
        _phone: &'a str,
        _message: &'a OutgoingMessage,
    ) -> BoxFuture<'a, Result<WithUsage<SendResult>, GraphError>> {
        Box::pin(async { Err(Fake::unsupported()) })
    }

    fn phone_health<'a>(
        &'a self,
        _app: &'a AppCredentials,
        _token: &'a SecretString,
        _phone: &'a str,
    ) -> BoxFuture<'a, Result<WithUsage<PhoneHealth>, GraphError>> {
        Box::pin(async { Err(Fake::unsupported()) })
    }

    fn analytics<'a>(
        &'a self,
        _app: &'a AppCredentials,
        _token: &'a SecretString,
        _waba: &'a str,
        _window: AnalyticsWindow,
    ) -> BoxFuture<'a, Result<WithUsage<Analytics>, GraphError>> {
        Box::pin(async { Err(Fake::unsupported()) })
    }
}

fn settings(data_dir: &std::path::Path, accounts: Vec<AccountSettings>) -> Settings {
    Settings {
        config_path: None,
        data_dir: data_dir.to_path_buf(),
        graph: GraphSettings::default(),
        refresh: RefreshPolicy {
            check_interval: Duration::from_secs(3600),
            refresh_before: RefreshBefore::ShareOfLifetime(33),
            ..RefreshPolicy::default()
        },
        accounts,
        logs: Vec::new(),
        patterns: PatternSettings::default(),
        ui: UiSettings::default(),
        serve: Default::default(),
        proxy: Default::default(),
    }
}

fn account(name: &str, token: &str) -> AccountSettings {
    AccountSettings {
        name: name.to_string(),
        app_id: Some("1234".into()),
        app_secret: Some(SecretString::from("fake-app-secret")),
        access_token: Some(SecretString::from(token)),
        long_lived_token: None,
        phone_number_id: None,
        business_account_id: None,
        env_file: None,
        on_refresh: None,
        on_refresh_env: Vec::new(),
        on_refresh_timeout: Duration::from_secs(5),
        test_message: TestMessageSettings::default(),
    }
}

fn start(
    dir: &std::path::Path,
    clock: Clock,
    fake: Arc<Fake>,
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

/// Drains events for `secs` of virtual time, returning them.
async fn run_for(events: &mut UnboundedReceiver<EngineEvent>, secs: u64) -> Vec<EngineEvent> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    let mut seen = Vec::new();
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Some(event) => seen.push(event),
                None => return seen,
            },
            () = tokio::time::sleep_until(deadline) => return seen,
        }
    }
}

fn states(events: &[EngineEvent], name: &str) -> Vec<TokenState> {
    events
        .iter()
        .filter_map(|e| match e {
            EngineEvent::Account(s) if s.name == name => Some(s.state.clone()),
            _ => None,
        })
        .collect()
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
    let fake = Fake::new(clock.clone(), Panics::Never);
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
    let fake = Fake::new(clock.clone(), Panics::FirstExchangeOf("a"));
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
        if h.account == "a" && h.event == HistoryEvent::Alert && h.trigger == "restarted")));
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
    let fake = Fake::new(clock.clone(), Panics::EveryExchangeOf("a"));
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
    let fake = Fake::new(clock.clone(), Panics::FirstInspection);
    let a = fake.put("a", START + 86_400, START);
    let (handle, mut events) = start(dir.path(), clock, fake.clone(), vec![account("a", &a)]);
    let mut seen = run_for(&mut events, 5).await;
    assert!(seen.iter().any(|e| matches!(e, EngineEvent::History(h)
        if h.event == HistoryEvent::Inspect
            && h.error.as_ref().is_some_and(|e| e.message.contains("inspection panicked")))));
    handle.send(EngineCommand::Recheck { account: None });
    seen.extend(run_for(&mut events, 5).await);
    assert_eq!(fake.inspected("a"), 1);
    assert_eq!(states(&seen, "a").last(), Some(&TokenState::Valid));
}
