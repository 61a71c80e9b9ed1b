//! The cluster's budget (issue 13): Redis round trips per account per check interval at rest
//! (goal: at most 2), and the time from a refresh on one member to the new token on another
//! (goal: under 1 s at the median on loopback).
//!
//! `cargo bench --bench cluster`: a real `redis-server` on a free loopback port, the simulator,
//! and two engines in this process, each with its own Redis coordinator ("a" and "b") and data
//! dir, watching the same 100 accounts (60-day tokens: nothing is due). Phase 1 counts member
//! a's round trips over six check intervals (10 s each) after start-up. Phase 2 forces a
//! refresh of one account after another on a and times, from a's history row of the stored
//! token to b's snapshot holding the new token (b has re-read and inspected it).
//! `TOKENTOP_BENCH_ROUNDS` sets phase 2's number of refreshes (default 50).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokentop::cluster::RedisCoordinator;
use tokentop::config::{EnvSnapshot, Overrides, Settings};
use tokentop::engine::history::{HistoryEvent, Outcome};
use tokentop::engine::{Engine, EngineCommand, EngineEvent, EngineOptions};
use tokentop::graph::GraphClient;
use tokentop::sim::{DEFAULT_APP_ID, DEFAULT_APP_SECRET, RunningSim, SimConfig, TokenKind};
use tokio::sync::mpsc::UnboundedReceiver;

const ACCOUNTS: usize = 100;
const CHECK_INTERVAL: Duration = Duration::from_secs(10);
const INTERVALS: u32 = 6;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

struct Member {
    coordinator: Arc<RedisCoordinator>,
    handle: tokentop::engine::EngineHandle,
    events: UnboundedReceiver<EngineEvent>,
    _dir: tempfile::TempDir,
}

async fn run() {
    let mut redis = start_redis();
    tokentop::graph::install_tls_provider();
    let sim = RunningSim::start(SimConfig::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let tokens: Vec<String> = (0..ACCOUNTS)
        .map(|_| {
            sim.handle()
                .mint_token(
                    TokenKind::SystemUser,
                    Some(Duration::from_secs(60 * 86_400)),
                )
                .access_token
        })
        .collect();
    let mut a = member(&sim, &redis.1, "a", &tokens).await;
    let mut b = member(&sim, &redis.1, "b", &tokens).await;
    // Start-up: every account inspected and read once on both members.
    tokio::time::sleep(Duration::from_secs(5)).await;
    drain(&mut a.events);
    drain(&mut b.events);

    let before = a.coordinator.round_trips();
    let started = Instant::now();
    let rest = CHECK_INTERVAL * INTERVALS;
    while started.elapsed() < rest {
        tokio::time::sleep(Duration::from_millis(200)).await;
        drain(&mut a.events);
        drain(&mut b.events);
    }
    let trips = a.coordinator.round_trips() - before;
    let intervals = started.elapsed().as_secs_f64() / CHECK_INTERVAL.as_secs_f64();
    let per_account = trips as f64 / ACCOUNTS as f64 / intervals;
    println!(
        "at rest: {trips} round trips in {:.0} s for {ACCOUNTS} accounts = {per_account:.2} per account per check interval of {} s (goal: at most 2); heartbeats are {} s apart per process",
        started.elapsed().as_secs_f64(),
        CHECK_INTERVAL.as_secs(),
        10
    );

    let rounds: usize = std::env::var("TOKENTOP_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let mut delays = Vec::new();
    for round in 0..rounds {
        let account = format!("acct{}", round % ACCOUNTS);
        delays.push(propagation(&mut a, &mut b, &account, round as u64).await);
    }
    delays.sort();
    let pick = |q: f64| delays[((delays.len() - 1) as f64 * q).round() as usize];
    println!(
        "refresh on a -> new token on b, {} refreshes: median {:.1} ms, p90 {:.1} ms, max {:.1} ms (goal: median under 1 s)",
        delays.len(),
        ms(pick(0.5)),
        ms(pick(0.9)),
        ms(pick(1.0))
    );
    redis.0.kill().unwrap();
    let _ = redis.0.wait();
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn drain(events: &mut UnboundedReceiver<EngineEvent>) {
    while events.try_recv().is_ok() {}
}

/// Forces a refresh of `account` on a; returns the time from a's stored token (its history
/// row) to b's snapshot with a token other than the one it had.
async fn propagation(a: &mut Member, b: &mut Member, account: &str, request_id: u64) -> Duration {
    drain(&mut b.events);
    a.handle.send(EngineCommand::ForceRefresh {
        account: Some(account.to_string()),
        request_id,
    });
    let stored_at = loop {
        match a.events.recv().await.unwrap() {
            EngineEvent::History(entry)
                if entry.account == account
                    && entry.event() == HistoryEvent::Refresh
                    && entry.outcome == Outcome::Ok =>
            {
                break Instant::now();
            }
            _ => {}
        }
    };
    let new_mask = loop {
        if let EngineEvent::Account(snapshot) = a.events.recv().await.unwrap()
            && snapshot.name == account
            && let Some(mask) = &snapshot.access_token_masked
        {
            break mask.clone();
        }
    };
    loop {
        let event = tokio::time::timeout(Duration::from_secs(30), b.events.recv())
            .await
            .expect("b never switched to the new token")
            .unwrap();
        if let EngineEvent::Account(snapshot) = event
            && snapshot.name == account
            && snapshot.access_token_masked.as_deref() == Some(new_mask.as_str())
        {
            return stored_at.elapsed();
        }
    }
}

async fn member(sim: &RunningSim, redis_url: &str, name: &str, tokens: &[String]) -> Member {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    let mut text = format!(
        "[refresh]\ncheck-interval = \"{}s\"\n\n[cluster]\nredis-url = \"{redis_url}\"\nmember = \"{name}\"\n\n",
        CHECK_INTERVAL.as_secs()
    );
    for (i, token) in tokens.iter().enumerate() {
        text.push_str(&format!(
            "[[account]]\nname = \"acct{i}\"\napp-id = \"{DEFAULT_APP_ID}\"\napp-secret = \"{DEFAULT_APP_SECRET}\"\naccess-token = \"{token}\"\n\n"
        ));
    }
    std::fs::write(&config, text).unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
    let overrides = Overrides {
        config: Some(config),
        data_dir: Some(dir.path().join("data")),
        graph_url: Some(sim.base_url()),
    };
    let settings: Settings = tokentop::config::load(&overrides, &EnvSnapshot::default()).unwrap();
    let coordinator =
        Arc::new(RedisCoordinator::start(&settings.cluster, &settings.data_dir).unwrap());
    let client = GraphClient::new(&settings.graph).unwrap();
    let options = EngineOptions {
        coordinator: Some(coordinator.clone()),
        ..EngineOptions::default()
    };
    let (handle, events) = Engine::start(&settings, Arc::new(client), options);
    Member {
        coordinator,
        handle,
        events,
        _dir: dir,
    }
}

/// `redis-server` on a free loopback port without persistence, and its URL.
fn start_redis() -> (std::process::Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = std::process::Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("redis-server is not installed: run scripts/test once (it installs it) or apt-get install redis-server");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "redis-server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    (child, format!("redis://127.0.0.1:{port}"))
}
