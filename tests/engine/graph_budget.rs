//! Issue 23 part 5: after start-up, re-inspections and phone reads are spread over the
//! check-interval (one slice a minute, in full 50-item batches), each account once per
//! interval, and a small fleet costs no more requests than before. Paused clock, fake source.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use support::fake_source::{ExchangeMode, FakeSource};
use support::{START, run_for, settings};
use tokentop::config::{AccountSettings, Settings};
use tokentop::engine::reload::AccountsUpdate;
use tokentop::engine::{Clock, Engine, EngineCommand, EngineEvent, EngineHandle, EngineOptions};
use tokio::sync::mpsc::UnboundedReceiver;

const INTERVAL_SECS: i64 = 15 * 60;
const BATCH: usize = 50;

fn account(name: &str, token: &str) -> AccountSettings {
    crate::account::account(name)
        .app("1234", "fake-app-secret")
        .access_token(token)
        .phone_number_id("5550001")
        .build()
}

struct Fleet {
    _dir: tempfile::TempDir,
    fake: Arc<FakeSource>,
    cfg: Settings,
}

/// `count` never-expiring accounts of one app at the default 15-minute check-interval.
fn fleet(count: usize) -> Fleet {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeSource::new(
        Clock::virtual_at(START),
        ExchangeMode::Renew { lifetime_secs: 100 },
    );
    let accounts = (0..count)
        .map(|i| {
            let name = format!("acct{i}");
            account(&name, &fake.mint_for(&name, "SYSTEM_USER"))
        })
        .collect();
    let mut cfg = settings(dir.path(), accounts);
    cfg.refresh.check_interval = Duration::from_secs(INTERVAL_SECS as u64);
    Fleet {
        _dir: dir,
        fake,
        cfg,
    }
}

impl Fleet {
    fn start(&self) -> (EngineHandle, UnboundedReceiver<EngineEvent>) {
        let options = EngineOptions {
            clock: self.fake.clock.clone(),
            ..EngineOptions::default()
        };
        Engine::start(&self.cfg, self.fake.clone(), options)
    }
}

/// HTTP requests per minute from `from` (unix seconds): each call of `log` is one request
/// per 50 items (the Graph client's batching).
fn requests_per_minute(log: &[(i64, usize)], from: i64, minutes: usize) -> Vec<usize> {
    let mut per_minute = vec![0; minutes];
    for (at, size) in log {
        if *at < from {
            continue;
        }
        if let Some(slot) = per_minute.get_mut(usize::try_from((at - from) / 60).unwrap()) {
            *slot += size.div_ceil(BATCH);
        }
    }
    per_minute
}

fn requests(log: &[(i64, usize)], from: i64) -> usize {
    log.iter()
        .filter(|(at, _)| *at >= from)
        .map(|(_, size)| size.div_ceil(BATCH))
        .sum()
}

/// Phone snapshots per account among `events`.
fn phone_polls(events: &[EngineEvent]) -> HashMap<String, usize> {
    let mut polls = HashMap::new();
    for event in events {
        if let EngineEvent::Phone(snapshot) = event {
            *polls.entry(snapshot.account.clone()).or_default() += 1;
        }
    }
    polls
}

/// 2,000 accounts (40 batches a round): after the start-up burst, no minute carries more
/// than its share (40 inspection and 40 phone requests over 15 minutes: at most 3 + 3), every
/// account is inspected and read once per interval, and batches stay full.
#[tokio::test(start_paused = true)]
async fn two_thousand_accounts_spread_their_requests_over_the_interval() {
    let fleet = fleet(2000);
    let (_handle, mut events) = fleet.start();
    // Two intervals after start-up, short of the third turn of the first slice.
    let seen = run_for(&mut events, 2 * INTERVAL_SECS as u64 + 20).await;
    let inspections = fleet.fake.inspect_log.lock().unwrap().clone();
    let phones = fleet.fake.phone_log.lock().unwrap().clone();
    // Start-up: everything at once, as before (40 + 40 requests in the first seconds).
    assert_eq!(
        requests(&inspections, START) - requests(&inspections, START + 10),
        40
    );
    assert_eq!(requests(&phones, START) - requests(&phones, START + 10), 40);
    // Steady state: 30 minutes, each minute its share.
    let inspect_minutes = requests_per_minute(&inspections, START + 10, 30);
    let phone_minutes = requests_per_minute(&phones, START + 10, 30);
    eprintln!("inspection requests a minute: {inspect_minutes:?}");
    eprintln!("phone requests a minute: {phone_minutes:?}");
    assert!(
        inspect_minutes.iter().all(|&n| n <= 3),
        "{inspect_minutes:?}"
    );
    assert!(phone_minutes.iter().all(|&n| n <= 3), "{phone_minutes:?}");
    assert_eq!(requests(&inspections, START + 10), 80, "two rounds of 40");
    assert_eq!(requests(&phones, START + 10), 80, "two rounds of 40");
    // Full batches: every call but a few is a multiple of 50.
    let partial = inspections
        .iter()
        .chain(&phones)
        .filter(|(_, size)| size % BATCH != 0)
        .count();
    assert!(partial <= 2, "{partial} part-filled calls");
    // Each account: the start-up inspection and read, then one per interval.
    for i in 0..2000 {
        let name = format!("acct{i}");
        assert_eq!(fleet.fake.inspected(&name), 3, "{name}");
    }
    let polls = phone_polls(&seen);
    assert_eq!(polls.len(), 2000);
    assert!(polls.values().all(|&n| n == 3), "{polls:?}");
}

/// Three accounts: one inspection and one phone request per interval, a whole interval
/// after start-up, as before the spread (not one a minute).
#[tokio::test(start_paused = true)]
async fn a_small_fleet_makes_no_more_requests_than_before() {
    let fleet = fleet(3);
    let (_handle, mut events) = fleet.start();
    let seen = run_for(&mut events, 2 * INTERVAL_SECS as u64 + 20).await;
    let inspections = fleet.fake.inspect_log.lock().unwrap().clone();
    let phones = fleet.fake.phone_log.lock().unwrap().clone();
    assert_eq!(requests(&inspections, START), 3, "{inspections:?}");
    assert_eq!(requests(&phones, START), 3, "{phones:?}");
    // The first re-inspection comes in the interval's last minute.
    let first_recheck = inspections.get(1).unwrap().0 - START;
    assert!(
        (INTERVAL_SECS - 60..=INTERVAL_SECS).contains(&first_recheck),
        "{first_recheck}"
    );
    assert!(phone_polls(&seen).values().all(|&n| n == 3));
}

/// A reload mid-interval: running accounts keep their slices (still read and inspected once
/// per interval), new ones join a slice, removed ones are no longer read.
#[tokio::test(start_paused = true)]
async fn a_reload_keeps_the_running_accounts_once_per_interval() {
    let fleet = fleet(300);
    let (handle, mut events) = fleet.start();
    run_for(&mut events, 5 * 60).await;
    let mut accounts = fleet.cfg.accounts.clone();
    accounts.drain(..30);
    for i in 0..40 {
        let name = format!("new{i}");
        accounts.push(account(&name, &fleet.fake.mint_for(&name, "SYSTEM_USER")).into());
    }
    let update = AccountsUpdate {
        accounts,
        ..AccountsUpdate::default()
    };
    handle.send(EngineCommand::ApplyAccounts(Box::new(update)));
    // Let the new accounts start and the first interval end, then watch one whole interval.
    run_for(&mut events, 11 * 60).await;
    let inspected_before: Vec<u32> = (30..300)
        .map(|i| fleet.fake.inspected(&format!("acct{i}")))
        .collect();
    let seen = run_for(&mut events, INTERVAL_SECS as u64).await;
    let polls = phone_polls(&seen);
    for (i, before) in (30..300).zip(inspected_before) {
        let name = format!("acct{i}");
        assert_eq!(polls.get(&name), Some(&1), "{name}");
        assert_eq!(fleet.fake.inspected(&name) - before, 1, "{name}");
    }
    for i in 0..40 {
        assert_eq!(polls.get(&format!("new{i}")), Some(&1), "new{i}");
    }
    assert!((0..30).all(|i| !polls.contains_key(&format!("acct{i}"))));
}
