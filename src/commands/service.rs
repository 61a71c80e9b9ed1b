//! What `tokentop daemon` tells systemd under `Type=notify` (deploy/systemd/tokentop.service):
//! `READY=1` once every account's first inspection has finished, `STATUS=` lines a person
//! reads in `systemctl status`, `WATCHDOG=1` only when the engine answered a ping through the
//! daemon's event loop, and `STOPPING=1` on the way out. Without `$NOTIFY_SOCKET` it does
//! nothing at all.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use tokio::time::{Interval, MissedTickBehavior};

use super::sd_notify::{Notifier, watchdog_period};
use crate::config::{EnvSnapshot, Settings};
use crate::engine::{AccountSnapshot, EngineCommand, EngineEvent, EngineHandle, RequestId};

/// The id of the daemon's watchdog pings. The `/healthz` monitor (src/serve/monitor.rs) sees
/// every pong too and answers each of its waiting probes whose id is at most the pong's; it
/// numbers its own from 1, so a pong for 0 never answers a probe the engine has not.
const WATCHDOG_PING: RequestId = 0;

/// What the latest snapshot of an account said.
struct Seen {
    settled: bool,
    /// The state's word when it needs a person ("invalid", "re-auth required").
    critical: Option<&'static str>,
}

/// The daemon's side of the conversation with systemd.
pub struct ServiceLink {
    notifier: Option<Notifier>,
    watchdog: Option<Duration>,
    /// Each configured account's place in config order, by name.
    position: HashMap<String, usize>,
    seen: HashMap<String, Seen>,
    /// Accounts whose latest snapshot is settled: kept as snapshots come, so that each costs
    /// the same at 10,000 accounts as at one (counting them all per snapshot was quadratic).
    settled: usize,
    /// Accounts that need a person, by their place in config order: name and state's word.
    troubled: BTreeMap<usize, (String, &'static str)>,
    ready: bool,
    /// A watchdog ping is out and its pong has not come back yet.
    ping_out: bool,
    last_status: String,
}

impl ServiceLink {
    /// Reads `$NOTIFY_SOCKET` and `$WATCHDOG_USEC` from `env` (once, at start).
    pub fn new(env: &EnvSnapshot, settings: &Settings) -> Self {
        let notifier = Notifier::from_env(env);
        let watchdog = notifier.as_ref().and_then(|_| watchdog_period(env));
        let mut link = Self {
            notifier,
            watchdog,
            position: HashMap::new(),
            seen: HashMap::new(),
            settled: 0,
            troubled: BTreeMap::new(),
            ready: false,
            ping_out: false,
            last_status: String::new(),
        };
        link.follow_accounts(settings.accounts.iter().map(|a| a.name.as_str()));
        link
    }

    /// The accounts running now (at start, and after each reload), in config order.
    fn follow_accounts<'a>(&mut self, names: impl IntoIterator<Item = &'a str>) {
        self.position = names
            .into_iter()
            .enumerate()
            .map(|(at, name)| (name.to_string(), at))
            .collect();
        self.seen.retain(|name, _| self.position.contains_key(name));
        self.settled = self.seen.values().filter(|seen| seen.settled).count();
        self.troubled = self
            .seen
            .iter()
            .filter_map(|(name, seen)| {
                let word = seen.critical?;
                Some((*self.position.get(name)?, (name.clone(), word)))
            })
            .collect();
    }

    /// Ticks at half the watchdog interval, the first at once; `None` without a watchdog.
    pub fn watchdog_timer(&self) -> Option<Interval> {
        let mut timer = tokio::time::interval(self.watchdog?);
        timer.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Some(timer)
    }

    /// Says what the daemon is doing before the engine starts.
    pub fn starting(&mut self) {
        self.status();
    }

    /// A watchdog tick: asks the engine for a pong. With the last ping still unanswered the
    /// watchdog goes without its ping, and systemd restarts a daemon stuck for long.
    pub fn tick(&mut self, engine: &EngineHandle) {
        if self.ping_out {
            tracing::debug!("the engine has not answered the last watchdog ping yet");
            return;
        }
        self.ping_out = engine.send(EngineCommand::Ping {
            request_id: WATCHDOG_PING,
        });
    }

    /// Follows the engine's events: account snapshots for readiness and status, the pong
    /// for the watchdog.
    pub fn observe(&mut self, event: &EngineEvent) {
        match event {
            EngineEvent::Account(snapshot) => self.account(snapshot),
            // A reload: the status counts the accounts running now.
            EngineEvent::AccountsChanged(change) if change.refused.is_none() => {
                self.follow_accounts(change.accounts.iter().map(|a| a.name.as_str()));
                self.status();
            }
            EngineEvent::Pong { request_id } if *request_id == WATCHDOG_PING && self.ping_out => {
                self.ping_out = false;
                self.send("WATCHDOG=1");
            }
            _ => {}
        }
    }

    /// Tells systemd the daemon is on its way out (`why`: "SIGTERM", "the engine stopped").
    pub fn stopping(&mut self, why: &str) {
        self.send(&format!(
            "STOPPING=1\nSTATUS={why}: finishing in-flight refreshes, then exiting"
        ));
    }

    /// A watchdog tick while stopping: the wait for in-flight refreshes is bounded, so the
    /// process being alive is enough.
    pub fn still_stopping(&self) {
        self.send("WATCHDOG=1");
    }

    fn account(&mut self, snapshot: &AccountSnapshot) {
        let Some(&at) = self.position.get(&snapshot.name) else {
            return;
        };
        let critical = snapshot.state.is_critical().then(|| snapshot.state.label());
        let seen = Seen {
            settled: snapshot.settled(),
            critical,
        };
        let was_settled = self.seen.get(&snapshot.name).is_some_and(|s| s.settled);
        match (was_settled, seen.settled) {
            (false, true) => self.settled += 1,
            (true, false) => self.settled -= 1,
            _ => {}
        }
        match critical {
            Some(word) => {
                self.troubled.insert(at, (snapshot.name.clone(), word));
            }
            None => {
                self.troubled.remove(&at);
            }
        }
        self.seen.insert(snapshot.name.clone(), seen);
        if !self.ready && self.all_settled() {
            self.ready = true;
            self.send("READY=1");
        }
        self.status();
    }

    fn all_settled(&self) -> bool {
        self.settled == self.position.len()
    }

    /// Sends `STATUS=` when the words changed.
    fn status(&mut self) {
        let status = self.status_line();
        if status != self.last_status {
            self.send(&format!("STATUS={status}"));
            self.last_status = status;
        }
    }

    fn status_line(&self) -> String {
        let total = self.position.len();
        let noun = if total == 1 { "account" } else { "accounts" };
        if !self.ready {
            let done = self.settled;
            return format!("inspecting {total} {noun}: {done} of {total} done");
        }
        let troubled: Vec<String> = self
            .troubled
            .values()
            .map(|(name, word)| format!("{name} ({word})"))
            .collect();
        // After a reload, its new accounts are inspected while the others are watched.
        let inspected = if self.settled == total {
            "all inspected".to_string()
        } else {
            format!("{} of {total} inspected", self.settled)
        };
        if troubled.is_empty() {
            format!("watching {total} {noun}, {inspected}")
        } else {
            format!(
                "watching {total} {noun}, {inspected}; needs attention: {}",
                troubled.join(", ")
            )
        }
    }

    fn send(&self, message: &str) {
        if let Some(notifier) = &self.notifier {
            notifier.send(message);
        }
    }
}

/// Waits for the next watchdog tick; never, without a watchdog.
pub async fn next_tick(timer: &mut Option<Interval>) {
    match timer {
        Some(timer) => {
            timer.tick().await;
        }
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::TokenState;

    fn link(names: &[&str]) -> ServiceLink {
        let mut link = ServiceLink {
            notifier: None,
            watchdog: None,
            position: HashMap::new(),
            seen: HashMap::new(),
            settled: 0,
            troubled: BTreeMap::new(),
            ready: false,
            ping_out: false,
            last_status: String::new(),
        };
        link.follow_accounts(names.iter().copied());
        link
    }

    fn snapshot(name: &str, state: TokenState, settled: bool) -> EngineEvent {
        let mut snapshot = AccountSnapshot::new(name);
        snapshot.state = state;
        if settled {
            snapshot.last_error = Some("inspected".to_string());
        }
        EngineEvent::Account(std::sync::Arc::new(snapshot))
    }

    #[test]
    fn ready_waits_for_every_configured_account_and_the_status_says_so() {
        let mut link = link(&["a", "b"]);
        link.starting();
        assert_eq!(link.last_status, "inspecting 2 accounts: 0 of 2 done");
        link.observe(&snapshot("a", TokenState::Unknown, false));
        link.observe(&snapshot("a", TokenState::Valid, true));
        link.observe(&snapshot("stranger", TokenState::Valid, true));
        assert!(!link.ready);
        assert_eq!(link.last_status, "inspecting 2 accounts: 1 of 2 done");
        link.observe(&snapshot("b", TokenState::Valid, true));
        assert!(link.ready);
        assert_eq!(link.last_status, "watching 2 accounts, all inspected");
        let invalid = TokenState::Invalid {
            code: Some(190),
            subcode: None,
        };
        link.observe(&snapshot("b", invalid, true));
        assert_eq!(
            link.last_status,
            "watching 2 accounts, all inspected; needs attention: b (invalid)"
        );
    }

    #[test]
    fn a_reload_changes_the_accounts_counted_and_named() {
        let mut link = link(&["a", "b"]);
        let invalid = TokenState::Invalid {
            code: Some(190),
            subcode: None,
        };
        link.observe(&snapshot("a", TokenState::Valid, true));
        link.observe(&snapshot("b", invalid.clone(), true));
        assert_eq!(
            link.last_status,
            "watching 2 accounts, all inspected; needs attention: b (invalid)"
        );
        let change = crate::engine::reload::AccountsChange {
            accounts: ["c", "a"]
                .map(|n| std::sync::Arc::new(crate::engine::accounts_diff::test_account(n, "s")))
                .to_vec(),
            ..Default::default()
        };
        link.observe(&EngineEvent::AccountsChanged(Box::new(change)));
        assert_eq!(link.last_status, "watching 2 accounts, 1 of 2 inspected");
        link.observe(&snapshot("c", invalid, true));
        link.observe(&snapshot("a", TokenState::Expired, true));
        assert_eq!(
            link.last_status,
            "watching 2 accounts, all inspected; needs attention: c (invalid), a (expired)"
        );
    }

    #[test]
    fn only_the_pong_of_an_outstanding_watchdog_ping_counts() {
        let mut link = link(&["a"]);
        link.observe(&EngineEvent::Pong { request_id: 0 });
        assert!(!link.ping_out);
        link.ping_out = true;
        link.observe(&EngineEvent::Pong { request_id: 7 });
        assert!(
            link.ping_out,
            "a /healthz probe's pong is not the watchdog's"
        );
        link.observe(&EngineEvent::Pong { request_id: 0 });
        assert!(!link.ping_out);
    }
}
