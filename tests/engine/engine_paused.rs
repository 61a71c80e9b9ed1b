//! Engine schedule and state transitions under tokio's paused clock with a fake token source.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support;

use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use support::fake_source::{ExchangeMode, FakeSource};
use support::{START, run_for, settings, states};
use tokentop::config::{AccountSettings, RefreshBefore, Settings};
use tokentop::engine::history::cause::{Cause, Trigger};
use tokentop::engine::{
    AccountSnapshot, Clock, Engine, EngineCommand, EngineEvent, EngineHandle, EngineOptions,
    TokenState,
};
use tokentop::graph::ErrorClass;
use tokio::sync::mpsc::UnboundedReceiver;

fn account(name: &str, token: &str) -> AccountSettings {
    crate::account::account(name)
        .app("1234", "fake-app-secret")
        .access_token(token)
        .phone_number_id("5550001")
        .test_recipient(Some("15551234567"))
        .build()
}

/// One paused-clock run: a temp data dir, a virtual clock at [`START`] and a fake token
/// source on that clock.
struct Rig {
    dir: tempfile::TempDir,
    clock: Clock,
    fake: Arc<FakeSource>,
}

/// A run whose fake source answers exchanges with `mode`.
fn rig(mode: ExchangeMode) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::virtual_at(START);
    let fake = FakeSource::new(clock.clone(), mode);
    Rig { dir, clock, fake }
}

impl Rig {
    /// `support::settings` for `accounts`, in this run's data dir.
    fn settings(&self, accounts: Vec<AccountSettings>) -> Settings {
        settings(self.dir.path(), accounts)
    }

    /// The engine's defaults on this run's clock.
    fn options(&self) -> EngineOptions {
        EngineOptions {
            clock: self.clock.clone(),
            ..EngineOptions::default()
        }
    }

    /// Starts the engine over `cfg` with the fake source and [`Rig::options`].
    fn start(&self, cfg: &Settings) -> (EngineHandle, UnboundedReceiver<EngineEvent>) {
        Engine::start(cfg, self.fake.clone(), self.options())
    }
}

/// The newest account snapshot among `events`.
fn last_snapshot(events: &[EngineEvent]) -> AccountSnapshot {
    events
        .iter()
        .rev()
        .find_map(|e| match e {
            EngineEvent::Account(s) => Some((**s).clone()),
            _ => None,
        })
        .expect("an account snapshot")
}

#[tokio::test(start_paused = true)]
async fn short_lived_token_is_refreshed_before_expiry_repeatedly() {
    let rig = rig(ExchangeMode::Renew { lifetime_secs: 100 });
    let token = rig.fake.mint("SYSTEM_USER", Some(100));
    let (_handle, mut events) = rig.start(&rig.settings(vec![account("a", &token)]));
    let seen = run_for(&mut events, 1000).await;
    let exchanges = rig.fake.exchanges.lock().unwrap().clone();
    // 33% of a 100 s lifetime: a refresh every ~67 s, never later than expiry.
    assert!(
        exchanges.len() >= 12,
        "only {} refreshes in 1000 s",
        exchanges.len()
    );
    assert!(
        exchanges.len() <= 16,
        "{} refreshes in 1000 s",
        exchanges.len()
    );
    assert!(
        exchanges[0] - START <= 67 && exchanges[0] - START >= 60,
        "{exchanges:?}"
    );
    let all = states(&seen, "a");
    assert!(all.contains(&TokenState::Refreshing));
    assert!(!all.contains(&TokenState::Expired), "token lapsed: {all:?}");
    assert!(seen.iter().any(
        |e| matches!(e, EngineEvent::History(h) if h.cause == Cause::Refresh(Trigger::Scheduled))
    ));
}

#[tokio::test(start_paused = true)]
async fn never_expiring_token_is_only_inspected() {
    let rig = rig(ExchangeMode::Renew { lifetime_secs: 100 });
    let token = rig.fake.mint("SYSTEM_USER", None);
    let (_handle, mut events) = rig.start(&rig.settings(vec![account("a", &token)]));
    let seen = run_for(&mut events, 3 * 3600).await;
    assert!(rig.fake.exchanges.lock().unwrap().is_empty());
    assert_eq!(states(&seen, "a").last(), Some(&TokenState::NeverExpires));
    // startup + checks every hour (±10%)
    let inspections = *rig.fake.inspections.lock().unwrap();
    assert!((3..=5).contains(&inspections), "{inspections} inspections");
}

#[tokio::test(start_paused = true)]
async fn transient_failures_back_off_from_ten_seconds_doubling() {
    let rig = rig(ExchangeMode::Fail(ErrorClass::Transient, 2));
    let token = rig.fake.mint("SYSTEM_USER", Some(3000));
    let (_handle, mut events) = rig.start(&rig.settings(vec![account("a", &token)]));
    let seen = run_for(&mut events, 2500).await;
    let times = rig.fake.exchanges.lock().unwrap().clone();
    let gaps: Vec<i64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    let expected = [10, 20, 40, 80, 160, 300, 300];
    for (gap, base) in gaps.iter().zip(expected) {
        assert!(*gap >= base && *gap <= base * 6 / 5 + 1, "gaps {gaps:?}");
    }
    assert!(
        states(&seen, "a")
            .iter()
            .any(|s| matches!(s, TokenState::Backoff { .. }))
    );
    // Retries never pass expiry (START + 3000).
    assert!(times.iter().all(|t| *t < START + 3000), "{times:?}");
}

#[tokio::test(start_paused = true)]
async fn dead_long_lived_token_requires_reauth_without_retry_loop() {
    let rig = rig(ExchangeMode::Fail(ErrorClass::TokenDead, 190));
    let token = rig.fake.mint("USER", Some(300));
    let (_handle, mut events) = rig.start(&rig.settings(vec![account("a", &token)]));
    let seen = run_for(&mut events, 6 * 3600).await;
    assert_eq!(
        rig.fake.exchanges.lock().unwrap().len(),
        1,
        "retried a dead token"
    );
    let last = states(&seen, "a").last().cloned().unwrap();
    assert!(
        matches!(last, TokenState::ReauthRequired { .. }),
        "{last:?}"
    );
    assert!(seen.iter().any(
        |e| matches!(e, EngineEvent::Alert { message, .. } if message.contains("tokentop exchange"))
    ));
}

#[tokio::test(start_paused = true)]
async fn concurrent_sends_hitting_190_share_one_refresh() {
    let rig = rig(ExchangeMode::Renew {
        lifetime_secs: 5000,
    });
    let token = rig.fake.mint("USER", Some(5000));
    let long_lived = rig.fake.mint("USER", Some(50_000));
    let mut acct = account("a", &token);
    acct.long_lived_token = Some(SecretString::from(long_lived));
    let (handle, mut events) = rig.start(&rig.settings(vec![acct]));
    run_for(&mut events, 5).await;
    // Meta invalidates the access token early: every send with it now gets 190.
    rig.fake
        .tokens
        .lock()
        .unwrap()
        .get_mut(&token)
        .unwrap()
        .expires_at = START + 1;
    for id in 0..100 {
        handle.send(EngineCommand::SendTest {
            account: "a".into(),
            to: None,
            request_id: id,
        });
    }
    let seen = run_for(&mut events, 30).await;
    let reports: Vec<_> = seen
        .iter()
        .filter_map(|e| match e {
            EngineEvent::SendFinished { report, .. } => Some(report.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(reports.len(), 100);
    assert!(
        reports.iter().all(|r| r.accepted),
        "{:?}",
        reports.iter().find(|r| !r.accepted)
    );
    assert_eq!(rig.fake.exchanges.lock().unwrap().len(), 1);
    // each send: one failed attempt and one retry
    assert_eq!(*rig.fake.sends.lock().unwrap(), 200);
}

#[tokio::test(start_paused = true)]
async fn forced_refresh_reports_and_stored_token_wins_at_next_start() {
    let rig = rig(ExchangeMode::Renew {
        lifetime_secs: 5000,
    });
    let token = rig.fake.mint("SYSTEM_USER", Some(5000));
    let cfg = rig.settings(vec![account("a", &token)]);
    let (handle, mut events) = rig.start(&cfg);
    run_for(&mut events, 2).await;
    handle.send(EngineCommand::ForceRefresh {
        account: Some("a".into()),
        request_id: 7,
    });
    let seen = run_for(&mut events, 5).await;
    let report = seen
        .iter()
        .find_map(|e| match e {
            EngineEvent::RefreshFinished {
                request_id: 7,
                report,
            } => Some(report.clone()),
            _ => None,
        })
        .unwrap();
    assert!(report.ok, "{report:?}");
    handle.send(EngineCommand::Shutdown);
    let rest = run_for(&mut events, 5).await;
    assert!(rest.iter().any(|e| matches!(e, EngineEvent::Stopped)));

    // Restart with the same (now stale) configured token: the stored one is used.
    let (_handle, mut events) = rig.start(&cfg);
    let seen = run_for(&mut events, 2).await;
    let masked = last_snapshot(&seen).access_token_masked.unwrap();
    assert_eq!(masked, "EAAG…xxxx");
    assert_eq!(rig.fake.exchanges.lock().unwrap().len(), 1);
    let store = std::fs::read_to_string(rig.dir.path().join("tokens/a.json")).unwrap();
    assert!(!store.contains(&token), "store still holds the old token");
}

#[tokio::test(start_paused = true)]
async fn missing_credentials_are_reported_not_refreshed() {
    let rig = rig(ExchangeMode::Renew { lifetime_secs: 100 });
    let mut acct = account("a", "EAAGwhatever-token-value");
    acct.app_secret = None;
    let (_handle, mut events) = rig.start(&rig.settings(vec![acct]));
    let seen = run_for(&mut events, 60).await;
    let snapshot = last_snapshot(&seen);
    assert_eq!(
        snapshot.config_problem.as_deref(),
        Some("missing app-secret")
    );
    assert!(rig.fake.exchanges.lock().unwrap().is_empty());
    assert_eq!(*rig.fake.inspections.lock().unwrap(), 0);
}

#[tokio::test(start_paused = true)]
async fn refresh_before_longer_than_the_lifetime_does_not_refresh_back_to_back() {
    let rig = rig(ExchangeMode::Renew { lifetime_secs: 100 });
    let token = rig.fake.mint("SYSTEM_USER", Some(100));
    let mut cfg = rig.settings(vec![account("a", &token)]);
    cfg.refresh.refresh_before = RefreshBefore::Fixed(Duration::from_secs(15 * 60));
    let (_handle, mut events) = rig.start(&cfg);
    let seen = run_for(&mut events, 300).await;
    let times = rig.fake.exchanges.lock().unwrap().clone();
    assert!(
        times.len() >= 10,
        "the token must still be kept alive: {times:?}"
    );
    assert!(times.windows(2).all(|w| w[1] - w[0] >= 10), "{times:?}");
    assert!(!states(&seen, "a").contains(&TokenState::Expired));
}

#[tokio::test(start_paused = true)]
async fn rate_limit_usage_above_80_percent_raises_one_alert() {
    let rig = rig(ExchangeMode::Renew { lifetime_secs: 100 });
    *rig.fake.usage_percent.lock().unwrap() = 85;
    let token = rig.fake.mint("SYSTEM_USER", None);
    let mut cfg = rig.settings(vec![account("a", &token)]);
    cfg.refresh.check_interval = Duration::from_secs(60);
    let (_handle, mut events) = rig.start(&cfg);
    let seen = run_for(&mut events, 600).await;
    let alerts: Vec<_> = seen
        .iter()
        .filter(|e| matches!(e, EngineEvent::Alert { message, .. } if message.contains("85%")))
        .collect();
    assert_eq!(alerts.len(), 1, "one alert per crossing, not one per poll");
    let polls = seen
        .iter()
        .filter(|e| matches!(e, EngineEvent::Phone(_)))
        .count();
    assert!(polls >= 8, "{polls} polls in 10 minutes");
}

#[tokio::test(start_paused = true)]
async fn early_invalidation_shows_invalid_with_what_to_do_and_no_retry_loop() {
    let rig = rig(ExchangeMode::Renew { lifetime_secs: 100 });
    let token = rig.fake.mint("SYSTEM_USER", None);
    let mut cfg = rig.settings(vec![account("a", &token)]);
    cfg.refresh.check_interval = Duration::from_secs(60);
    let (_handle, mut events) = rig.start(&cfg);
    run_for(&mut events, 5).await;
    rig.fake.invalidated.lock().unwrap().push(token.clone());
    let seen = run_for(&mut events, 3600).await;
    let last = last_snapshot(&seen);
    assert_eq!(
        last.state,
        TokenState::Invalid {
            code: Some(190),
            subcode: Some(460)
        }
    );
    assert!(last.state.is_critical());
    assert!(last.action_hint.unwrap().contains("System users"));
    assert!(
        rig.fake.exchanges.lock().unwrap().is_empty(),
        "an invalid token is not exchanged"
    );
}

#[tokio::test(start_paused = true)]
async fn inspecting_1000_accounts_takes_at_most_20_http_requests() {
    let rig = rig(ExchangeMode::Renew { lifetime_secs: 100 });
    let accounts = (0..1000)
        .map(|i| account(&format!("acct{i}"), &rig.fake.mint("SYSTEM_USER", None)))
        .collect();
    let (_handle, mut events) = rig.start(&rig.settings(accounts));
    let seen = run_for(&mut events, 10).await;
    let inspected = seen
        .iter()
        .filter(|e| matches!(e, EngineEvent::Account(s) if s.state == TokenState::NeverExpires))
        .count();
    assert!(inspected >= 1000, "{inspected}");
    // GraphClient::debug_tokens sends one HTTP request per 50 tokens of a call.
    let sizes = rig.fake.inspect_sizes.lock().unwrap().clone();
    let requests: usize = sizes.iter().map(|n| n.div_ceil(50)).sum();
    assert!(requests <= 20, "{requests} requests for {sizes:?}");
}

/// Issue 10: the daemon's health rounds read the phones of 1,000 accounts together every
/// check-interval (one batched read per app: 20 HTTP requests for the Graph client), never
/// one request per account, and every account still gets its snapshot each round.
#[tokio::test(start_paused = true)]
async fn health_rounds_read_1000_phones_together_every_interval() {
    let rig = rig(ExchangeMode::Renew { lifetime_secs: 100 });
    let accounts = (0..1000)
        .map(|i| account(&format!("acct{i}"), &rig.fake.mint("SYSTEM_USER", None)))
        .collect();
    let mut cfg = rig.settings(accounts);
    cfg.refresh.check_interval = Duration::from_secs(60);
    let (_handle, mut events) = rig.start(&cfg);
    let seen = run_for(&mut events, 200).await;
    assert_eq!(*rig.fake.single_phone_reads.lock().unwrap(), 0);
    let batches = rig.fake.phone_batches.lock().unwrap().clone();
    // Rounds at start, then every 60 s ±10%: at least 3 in 200 s.
    assert!(batches.len() >= 3, "{batches:?}");
    assert!(batches.iter().all(|n| *n == 1000), "{batches:?}");
    let requests: usize = batches.iter().map(|n| n.div_ceil(50)).sum();
    assert_eq!(requests, 20 * batches.len());
    let snapshots = seen
        .iter()
        .filter(|e| matches!(e, EngineEvent::Phone(p) if p.health.is_some()))
        .count();
    assert_eq!(snapshots, 1000 * batches.len());
}

/// Issue 8 item 1: an exchange answer whose token is empty, blank, injects a line, or is not
/// valid at Meta fails the refresh; the working token stays in memory, the store and the
/// env-file, and the refresh is retried with backoff, never sent to re-auth.
#[tokio::test(start_paused = true)]
async fn unusable_exchange_answers_never_replace_the_working_token() {
    let answers = [
        "",
        "   ",
        "EAAGgoodlookingtoken123\nINJECTED_VAR=pwned",
        "EAAGwelformedbutunknowntoMeta0000000000",
    ];
    for answer in answers {
        let rig = rig(ExchangeMode::Answer(answer));
        let token = rig.fake.mint("SYSTEM_USER", Some(3000));
        let env_file = rig.dir.path().join("app.env");
        let original_env = format!("OTHER=1\nWHATSAPP_ACCESS_TOKEN={token}\n");
        std::fs::write(&env_file, &original_env).unwrap();
        let mut acct = account("a", &token);
        acct.env_file = Some(env_file.clone());
        let (_handle, mut events) = rig.start(&rig.settings(vec![acct]));
        let seen = run_for(&mut events, 2500).await;

        let times = rig.fake.exchanges.lock().unwrap().clone();
        assert!(
            times.len() >= 3,
            "{answer:?}: retried with backoff: {times:?}"
        );
        assert!(
            times.windows(2).all(|w| w[1] - w[0] >= 10),
            "{answer:?}: backoff gaps {times:?}"
        );
        let states = states(&seen, "a");
        assert!(
            states
                .iter()
                .any(|s| matches!(s, TokenState::Backoff { .. })),
            "{answer:?}: {states:?}"
        );
        assert!(
            !states
                .iter()
                .any(|s| matches!(s, TokenState::ReauthRequired { .. })),
            "{answer:?}: the working token is not dead: {states:?}"
        );
        let snapshot = last_snapshot(&seen);
        assert_eq!(
            snapshot.access_token_masked.as_deref(),
            Some(tokentop::mask::mask_str(&token).as_str()),
            "{answer:?}"
        );
        assert_eq!(
            std::fs::read_to_string(&env_file).unwrap(),
            original_env,
            "{answer:?}"
        );
        let stored = tokentop::engine::store::TokenStore::new(rig.dir.path())
            .load("a")
            .unwrap()
            .map(|t| t.access_token.expose_secret().to_string());
        assert!(
            stored.is_none() || stored.as_deref() == Some(token.as_str()),
            "{answer:?}: the store holds {stored:?}"
        );
        let failure = seen.iter().find_map(|e| match e {
            EngineEvent::History(h) if h.outcome == tokentop::engine::history::Outcome::Failed => {
                h.error.as_ref().map(|e| e.message.clone())
            }
            _ => None,
        });
        let failure = failure.expect("a failed refresh in history");
        assert!(!failure.contains("INJECTED"), "{failure}");
    }
}

/// Issue 8 item 1: a restart republishes when the env-file holds an older token than the
/// current one; a one-shot command (no auto refresh) never writes it.
#[tokio::test(start_paused = true)]
async fn a_restart_republishes_a_stale_env_file() {
    for auto_refresh in [true, false] {
        let rig = rig(ExchangeMode::Renew {
            lifetime_secs: 3000,
        });
        let token = rig.fake.mint("SYSTEM_USER", Some(3000));
        let env_file = rig.dir.path().join("app.env");
        let stale = "KEEP=1\nWHATSAPP_ACCESS_TOKEN=EAAGanoldertokenanoldertoken\n";
        std::fs::write(&env_file, stale).unwrap();
        let mut acct = account("a", &token);
        acct.env_file = Some(env_file.clone());
        let options = EngineOptions {
            auto_refresh,
            ..rig.options()
        };
        let (_handle, mut events) =
            Engine::start(&rig.settings(vec![acct]), rig.fake.clone(), options);
        run_for(&mut events, 5).await;
        let text = std::fs::read_to_string(&env_file).unwrap();
        if auto_refresh {
            assert_eq!(text, format!("KEEP=1\nWHATSAPP_ACCESS_TOKEN={token}\n"));
        } else {
            assert_eq!(text, stale, "a one-shot command changed the env-file");
        }
        assert!(
            rig.fake.exchanges.lock().unwrap().is_empty(),
            "no exchange needed"
        );
    }
}

/// Issue 10: a re-auth alert says until when sending goes on, in the words `check` and the
/// dashboard use ("re-auth needed within 59d"), with the date.
#[tokio::test(start_paused = true)]
async fn a_reauth_alert_carries_the_deadline_check_shows() {
    let rig = rig(ExchangeMode::Renew { lifetime_secs: 100 });
    let access = rig.fake.mint("USER", Some(59 * 86_400 + 3600));
    let dead_long_lived = rig.fake.mint_at("USER", START - 10);
    let mut acct = account("a", &access);
    acct.long_lived_token = Some(SecretString::from(dead_long_lived.as_str()));
    let (_handle, mut events) = rig.start(&rig.settings(vec![acct]));
    let seen = run_for(&mut events, 10).await;
    let alerts = history_alerts(&seen);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert!(
        alerts[0].starts_with("re-auth needed before 2027-03-15 09:00:00 UTC (within 59d); "),
        "{alerts:?}"
    );
    assert!(alerts[0].contains("tokentop exchange"), "{alerts:?}");
}

fn history_alerts(events: &[EngineEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            EngineEvent::Alert { message, .. } => Some(message.clone()),
            _ => None,
        })
        .collect()
}

/// Issue 10: exchanging a long-lived user token that is running out gives a token capped at
/// its expiry. Once an exchange cannot extend the expiry, scheduled refreshes stop (instead of
/// coming faster and faster with shrinking gains) and the account says re-auth is needed by
/// when.
#[tokio::test(start_paused = true)]
async fn an_exchange_that_cannot_extend_the_expiry_stops_scheduled_refreshes() {
    let rig = rig(ExchangeMode::SameExpiry);
    let long_lived = rig.fake.mint("USER", Some(4000));
    let access = rig.fake.mint("USER", Some(1000));
    let mut acct = account("a", &access);
    acct.long_lived_token = Some(SecretString::from(long_lived.as_str()));
    let (_handle, mut events) = rig.start(&rig.settings(vec![acct]));
    let seen = run_for(&mut events, 3900).await;
    let exchanges = rig.fake.exchanges.lock().unwrap().clone();
    assert_eq!(
        exchanges.len(),
        1,
        "one exchange, then no more: {exchanges:?}"
    );
    let snapshot = last_snapshot(&seen);
    let hint = snapshot.action_hint.clone().unwrap_or_default();
    assert!(hint.contains("re-auth needed before"), "{hint}");
    assert_eq!(snapshot.next_refresh_at, None);
    assert_eq!(snapshot.state, TokenState::Valid);
    let alerts = history_alerts(&seen);
    assert_eq!(
        alerts
            .iter()
            .filter(|a| a.contains("re-auth needed before"))
            .count(),
        1,
        "{alerts:?}"
    );
}

/// Issue 10: an exchange that returns a long-lived user token expiring later than the
/// configured long-lived token makes it the account's long-lived token (stored, shown, used
/// next), so the old one running out does not force a re-auth.
#[tokio::test(start_paused = true)]
async fn a_later_long_lived_user_token_replaces_the_configured_one() {
    let rig = rig(ExchangeMode::RenewUser {
        lifetime_secs: 6000,
    });
    let long_lived = rig.fake.mint("USER", Some(2000));
    let access = rig.fake.mint("USER", Some(1000));
    let mut acct = account("a", &access);
    acct.long_lived_token = Some(SecretString::from(long_lived.as_str()));
    let (_handle, mut events) = rig.start(&rig.settings(vec![acct]));
    let seen = run_for(&mut events, 2500).await;
    let snapshot = last_snapshot(&seen);
    assert!(
        !matches!(snapshot.state, TokenState::ReauthRequired { .. }),
        "{:?}",
        snapshot.state
    );
    let stored = tokentop::engine::store::TokenStore::new(rig.dir.path())
        .load("a")
        .unwrap()
        .unwrap();
    let stored_long_lived = stored.long_lived_token.unwrap().expose_secret().to_string();
    assert_ne!(
        stored_long_lived, long_lived,
        "the configured long-lived token was kept"
    );
    assert_eq!(
        snapshot.long_lived_token_masked.as_deref(),
        Some(tokentop::mask::mask_str(&stored_long_lived).as_str())
    );
}

/// A coordinator on the data dir whose writes end as the test says: refused with an
/// unreadable stored token, or deferred (the shared store away).
#[derive(Debug)]
struct WritesEndAs {
    local: tokentop::engine::coordinator::local::LocalCoordinator,
    refused: bool,
}

impl tokentop::engine::coordinator::Coordinator for WritesEndAs {
    fn backend(&self) -> &'static str {
        "test store"
    }
    fn lease_time(&self) -> Duration {
        self.local.lease_time()
    }
    fn acquire<'a>(
        &'a self,
        account: &'a str,
        max_wait: Duration,
    ) -> futures_util::future::BoxFuture<
        'a,
        Result<tokentop::engine::coordinator::Lease, tokentop::engine::coordinator::CoordError>,
    > {
        self.local.acquire(account, max_wait)
    }
    fn load<'a>(
        &'a self,
        account: &'a str,
    ) -> futures_util::future::BoxFuture<
        'a,
        Result<
            Option<tokentop::engine::coordinator::Versioned>,
            tokentop::engine::coordinator::CoordError,
        >,
    > {
        self.local.load(account)
    }
    fn store<'a>(
        &'a self,
        _account: &'a str,
        _lease: &'a tokentop::engine::coordinator::Lease,
        _tokens: &'a tokentop::engine::store::StoredTokens,
        _seen_version: i64,
    ) -> futures_util::future::BoxFuture<
        'a,
        Result<
            tokentop::engine::coordinator::WriteOutcome,
            tokentop::engine::coordinator::CoordError,
        >,
    > {
        use tokentop::engine::coordinator::WriteOutcome;
        let outcome = if self.refused {
            WriteOutcome::Refused { current: None }
        } else {
            WriteOutcome::Deferred
        };
        Box::pin(async move { Ok(outcome) })
    }
}

/// Issue 20 items 5 and 9: a forced refresh whose write was refused for a stored token that
/// cannot be read fails (it exited 0 before), and one whose write was only deferred reports
/// where the new token is, so a one-shot `refresh` exits 1.
#[tokio::test(start_paused = true)]
async fn a_refused_or_deferred_write_is_not_reported_as_a_clean_refresh() {
    for refused in [true, false] {
        let rig = rig(ExchangeMode::Renew {
            lifetime_secs: 5000,
        });
        let token = rig.fake.mint("SYSTEM_USER", Some(5000));
        let cfg = rig.settings(vec![account("a", &token)]);
        let coordinator = WritesEndAs {
            local: tokentop::engine::coordinator::local::LocalCoordinator::new(rig.dir.path()),
            refused,
        };
        let options = EngineOptions {
            coordinator: Some(Arc::new(coordinator)),
            ..rig.options()
        };
        let (handle, mut events) = Engine::start(&cfg, rig.fake.clone(), options);
        run_for(&mut events, 2).await;
        handle.send(EngineCommand::ForceRefresh {
            account: Some("a".into()),
            request_id: 9,
        });
        let seen = run_for(&mut events, 5).await;
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
        assert!(!report.ok, "refused {refused}: {report:?}");
        if refused {
            let error = report.error.unwrap();
            assert!(error.message.contains("cannot be read"), "{error:?}");
            // The working token stays in use.
            let masked = last_snapshot(&seen).access_token_masked.unwrap();
            assert!(token.ends_with(&masked[masked.len() - 4..]), "{masked}");
        } else {
            let steps = report.failed_steps.join("; ");
            assert!(steps.contains("test store is unreachable"), "{steps}");
            assert!(steps.contains("tokens"), "{steps}");
        }
    }
}
