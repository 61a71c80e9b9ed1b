//! Helpers shared by the tests: a fake token source on a virtual clock and the settings, event
//! draining and state reading around it (engine tests), and runners of the real binary
//! (`cli`). Each test file takes what it needs with `mod support;`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod cli;
pub mod fake_source;
pub mod notify;
pub mod proxy;
pub mod redis_server;
pub mod serve;
pub mod trace_capture;

use std::time::Duration;

use tokentop::config::{AccountSettings, RefreshBefore, RefreshPolicy, Settings};
use tokentop::engine::{EngineEvent, TokenState};
use tokio::sync::mpsc::UnboundedReceiver;

/// The virtual clock's start: 2027-01-15.
pub const START: i64 = 1_800_000_000;

/// Settings for `accounts`: an hourly check, refresh at a third of the lifetime left.
pub fn settings(data_dir: &std::path::Path, accounts: Vec<AccountSettings>) -> Settings {
    Settings {
        data_dir: data_dir.to_path_buf(),
        refresh: RefreshPolicy {
            check_interval: Duration::from_secs(3600),
            refresh_before: RefreshBefore::ShareOfLifetime(33),
            ..RefreshPolicy::default()
        },
        accounts: accounts.into_iter().map(std::sync::Arc::new).collect(),
        ..Settings::default()
    }
}

/// Drains events for `secs` of virtual time, returning them.
pub async fn run_for(events: &mut UnboundedReceiver<EngineEvent>, secs: u64) -> Vec<EngineEvent> {
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

/// The states account `name` went through, in order.
pub fn states(events: &[EngineEvent], name: &str) -> Vec<TokenState> {
    events
        .iter()
        .filter_map(|e| match e {
            EngineEvent::Account(s) if s.name == name => Some(s.state.clone()),
            _ => None,
        })
        .collect()
}

/// Probes every 20 ms of real time until `probe` gives a value; fails the test naming `what`
/// after `limit` (a bound against hangs, not a timing assertion).
pub async fn wait_until<T>(
    what: &str,
    limit: Duration,
    mut probe: impl AsyncFnMut() -> Option<T>,
) -> T {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "waited {limit:?} for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
