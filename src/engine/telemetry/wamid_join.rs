//! Proxied sends joined with Meta's status webhooks by wamid: a send Meta accepted that has no
//! `delivered`, `read` or `failed` within `[webhook] undelivered-after` counts as undelivered.
//!
//! [`WamidJoin`] is a pure state machine over unix milliseconds given by the caller; [`run`]
//! is its task, fed by the proxy's accepted sends and the relay's statuses, and woken by a
//! timer only while something is tracked. Memory is bounded: at most [`MAX_TRACKED`] messages
//! (the oldest evicted and counted), and at most [`MAX_EARLY`] statuses that came before their
//! send was reported (Meta's webhook can beat the proxy's own bookkeeping).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::hub::TelemetryInput;
use super::logs::DeliveryStatus;
use crate::engine::clock::Clock;

/// Messages waiting for their fate at most; the oldest goes first.
pub const MAX_TRACKED: usize = 100_000;
/// Statuses of wamids not (yet) reported as sent through the proxy, remembered briefly.
pub const MAX_EARLY: usize = 10_000;
/// How long a status may wait for its send to be reported.
const EARLY_KEEP_MS: i64 = 5 * 60 * 1000;
/// A message past its deadline is still resolved by a late status for this long after it was
/// accepted, then forgotten (it stays counted as undelivered).
const OVERDUE_KEEP_MS: i64 = 24 * 3600 * 1000;
const MINUTE_MS: i64 = 60_000;
const HOUR_MINUTES: i64 = 60;

/// What the join is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum JoinInput {
    /// Meta accepted a send through the proxy and answered with this wamid.
    Accepted {
        wamid: String,
        account: String,
        at_ms: i64,
    },
    /// Statuses from the relay: (wamid, status); `sent` changes nothing.
    Statuses(Vec<(String, DeliveryStatus)>),
}

/// Undelivered proxied sends per account, for `check`, `/status`, `/metrics` and the
/// dashboard. Present only while both the proxy and the relay run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxyUndelivered {
    /// `[webhook] undelivered-after`.
    pub undelivered_after_secs: u64,
    /// One row per account that sent through the proxy, by name.
    pub accounts: Vec<UndeliveredRow>,
    /// Messages dropped unresolved before their deadline because [`MAX_TRACKED`] were waiting.
    pub evicted_total: u64,
}

/// One account's proxied sends that Meta accepted and did not deliver in time.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UndeliveredRow {
    pub account: String,
    /// Every send that passed its deadline without `delivered`, `read` or `failed`.
    pub undelivered_total: u64,
    /// Those of them still without a status now (a late delivery takes one away).
    pub overdue: u64,
    /// Undelivered sends per minute (unix minute, count), the last hour's only.
    pub recent: Vec<(i64, u64)>,
}

impl UndeliveredRow {
    /// Sends that passed their deadline in the hour before `now_ms`.
    pub fn in_last_hour(&self, now_ms: i64) -> u64 {
        let since = now_ms.div_euclid(MINUTE_MS) - HOUR_MINUTES;
        self.recent
            .iter()
            .filter(|(minute, _)| *minute > since)
            .map(|(_, count)| count)
            .sum()
    }
}

/// One message waiting for its fate.
#[derive(Debug, Clone, Copy)]
struct Tracked {
    account: usize,
    accepted_ms: i64,
    seq: u64,
}

#[derive(Debug, Default)]
struct AccountCounts {
    name: String,
    undelivered_total: u64,
    overdue: u64,
    recent: VecDeque<(i64, u64)>,
}

/// The join's state; every method takes the time as unix milliseconds.
#[derive(Debug)]
pub struct WamidJoin {
    deadline_ms: i64,
    capacity: usize,
    accounts: Vec<AccountCounts>,
    tracked: HashMap<Arc<str>, Tracked>,
    /// Every tracked wamid in the order it was accepted.
    order: BTreeMap<u64, Arc<str>>,
    /// Tracked messages with a seq below this are past their deadline.
    overdue_from: u64,
    next_seq: u64,
    evicted: u64,
    /// Resolving statuses whose send was not reported yet: wamid -> when seen.
    early: HashMap<Arc<str>, i64>,
    early_order: VecDeque<Arc<str>>,
    /// Something a report shows changed since [`Self::take_changed`].
    changed: bool,
}

impl WamidJoin {
    pub fn new(undelivered_after: Duration) -> Self {
        Self::with_capacity(undelivered_after, MAX_TRACKED)
    }

    pub fn with_capacity(undelivered_after: Duration, capacity: usize) -> Self {
        Self {
            deadline_ms: i64::try_from(undelivered_after.as_millis()).unwrap_or(i64::MAX),
            capacity: capacity.max(1),
            accounts: Vec::new(),
            tracked: HashMap::new(),
            order: BTreeMap::new(),
            overdue_from: 0,
            next_seq: 0,
            evicted: 0,
            early: HashMap::new(),
            early_order: VecDeque::new(),
            changed: true,
        }
    }

    /// Messages waiting for a status (within or past their deadline).
    pub fn tracked(&self) -> usize {
        self.tracked.len()
    }

    /// Applies one input at `now_ms` (after the sweep that time calls for).
    pub(crate) fn apply(&mut self, input: JoinInput, now_ms: i64) {
        self.sweep(now_ms);
        match input {
            JoinInput::Accepted {
                wamid,
                account,
                at_ms,
            } => self.accepted(&wamid, &account, at_ms),
            JoinInput::Statuses(statuses) => {
                for (wamid, status) in statuses {
                    self.status(&wamid, status, now_ms);
                }
            }
        }
    }

    /// A send Meta accepted, at `at_ms`.
    pub fn accepted(&mut self, wamid: &str, account: &str, at_ms: i64) {
        let account = self.account_index(account);
        if self.tracked.contains_key(wamid) || self.early.remove(wamid).is_some() {
            return;
        }
        while self.tracked.len() >= self.capacity {
            self.evict_oldest();
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let wamid: Arc<str> = Arc::from(wamid);
        self.order.insert(seq, wamid.clone());
        self.tracked.insert(
            wamid,
            Tracked {
                account,
                accepted_ms: at_ms,
                seq,
            },
        );
    }

    /// A status of `wamid`: `delivered`, `read`, `played` and `failed` resolve it.
    pub fn status(&mut self, wamid: &str, status: DeliveryStatus, now_ms: i64) {
        if status == DeliveryStatus::Sent {
            return;
        }
        let Some(found) = self.tracked.remove(wamid) else {
            self.remember_early(wamid, now_ms);
            return;
        };
        self.order.remove(&found.seq);
        if found.seq < self.overdue_from
            && let Some(counts) = self.accounts.get_mut(found.account)
        {
            counts.overdue = counts.overdue.saturating_sub(1);
            self.changed = true;
        }
    }

    /// Marks every message past its deadline at `now_ms` undelivered (once), and forgets
    /// overdue ones past [`OVERDUE_KEEP_MS`] and early statuses past [`EARLY_KEEP_MS`].
    pub fn sweep(&mut self, now_ms: i64) {
        let due: Vec<(u64, Arc<str>)> = self
            .order
            .range(self.overdue_from..)
            .take_while(|(_, wamid)| {
                self.tracked
                    .get(*wamid)
                    .is_some_and(|t| t.accepted_ms.saturating_add(self.deadline_ms) <= now_ms)
            })
            .map(|(seq, wamid)| (*seq, wamid.clone()))
            .collect();
        for (seq, wamid) in due {
            self.overdue_from = seq + 1;
            if let Some(found) = self.tracked.get(&wamid).copied() {
                let minute = found
                    .accepted_ms
                    .saturating_add(self.deadline_ms)
                    .div_euclid(MINUTE_MS);
                self.count_undelivered(found.account, minute);
            }
        }
        while let Some((&seq, wamid)) = self.order.first_key_value() {
            let stale = seq < self.overdue_from
                && self
                    .tracked
                    .get(wamid)
                    .is_none_or(|t| t.accepted_ms.saturating_add(OVERDUE_KEEP_MS) <= now_ms);
            if !stale {
                break;
            }
            self.drop_oldest();
        }
        while let Some(wamid) = self.early_order.front() {
            let seen = self.early.get(wamid).copied();
            if seen.is_some_and(|at| at.saturating_add(EARLY_KEEP_MS) > now_ms) {
                break;
            }
            if let Some(wamid) = self.early_order.pop_front() {
                self.early.remove(&wamid);
            }
        }
        let hour_ago = now_ms.div_euclid(MINUTE_MS) - HOUR_MINUTES;
        for counts in &mut self.accounts {
            while counts.recent.front().is_some_and(|(m, _)| *m <= hour_ago) {
                counts.recent.pop_front();
                self.changed = true;
            }
        }
    }

    /// When [`Self::sweep`] has something to do next: the next deadline, the next overdue
    /// message to forget or the next early status to forget; `None` when nothing is
    /// tracked (the task then sleeps until an input comes).
    pub fn next_wake_ms(&self) -> Option<i64> {
        let deadline = self
            .order
            .range(self.overdue_from..)
            .next()
            .and_then(|(_, wamid)| self.tracked.get(wamid))
            .map(|t| t.accepted_ms.saturating_add(self.deadline_ms));
        let forget = self
            .order
            .first_key_value()
            .filter(|(seq, _)| **seq < self.overdue_from)
            .and_then(|(_, wamid)| self.tracked.get(wamid))
            .map(|t| t.accepted_ms.saturating_add(OVERDUE_KEEP_MS));
        let early = self
            .early_order
            .front()
            .and_then(|wamid| self.early.get(wamid))
            .map(|at| at.saturating_add(EARLY_KEEP_MS));
        [deadline, forget, early].into_iter().flatten().min()
    }

    /// True once after anything a report shows changed.
    pub fn take_changed(&mut self) -> bool {
        std::mem::take(&mut self.changed)
    }

    /// The counts per account, by name.
    pub fn snapshot(&self) -> ProxyUndelivered {
        let mut accounts: Vec<UndeliveredRow> = self
            .accounts
            .iter()
            .map(|counts| UndeliveredRow {
                account: counts.name.clone(),
                undelivered_total: counts.undelivered_total,
                overdue: counts.overdue,
                recent: counts.recent.iter().copied().collect(),
            })
            .collect();
        accounts.sort_by(|a, b| a.account.cmp(&b.account));
        ProxyUndelivered {
            undelivered_after_secs: u64::try_from(self.deadline_ms / 1000).unwrap_or(0),
            accounts,
            evicted_total: self.evicted,
        }
    }

    fn account_index(&mut self, account: &str) -> usize {
        if let Some(index) = self.accounts.iter().position(|a| a.name == account) {
            return index;
        }
        self.accounts.push(AccountCounts {
            name: account.to_string(),
            ..AccountCounts::default()
        });
        self.changed = true;
        self.accounts.len() - 1
    }

    fn count_undelivered(&mut self, account: usize, minute: i64) {
        let Some(counts) = self.accounts.get_mut(account) else {
            return;
        };
        counts.undelivered_total += 1;
        counts.overdue += 1;
        match counts.recent.back_mut() {
            Some((last, count)) if *last == minute => *count += 1,
            _ => counts.recent.push_back((minute, 1)),
        }
        self.changed = true;
    }

    /// The oldest message goes to make room: counted when it was still within its deadline
    /// (its fate is now unknown).
    fn evict_oldest(&mut self) {
        let Some(seq) = self.order.first_key_value().map(|(seq, _)| *seq) else {
            return;
        };
        if seq >= self.overdue_from {
            self.evicted += 1;
            self.changed = true;
        }
        self.drop_oldest();
    }

    /// Forgets the oldest message; an overdue one leaves the gauge.
    fn drop_oldest(&mut self) {
        let Some((seq, wamid)) = self.order.pop_first() else {
            return;
        };
        let Some(found) = self.tracked.remove(&wamid) else {
            return;
        };
        if seq < self.overdue_from
            && let Some(counts) = self.accounts.get_mut(found.account)
        {
            counts.overdue = counts.overdue.saturating_sub(1);
            self.changed = true;
        }
    }

    fn remember_early(&mut self, wamid: &str, now_ms: i64) {
        if self.early.contains_key(wamid) {
            return;
        }
        if self.early_order.len() >= MAX_EARLY
            && let Some(oldest) = self.early_order.pop_front()
        {
            self.early.remove(&oldest);
        }
        let wamid: Arc<str> = Arc::from(wamid);
        self.early.insert(wamid.clone(), now_ms);
        self.early_order.push_back(wamid);
    }
}

/// Runs the join until its inputs close: each change a report shows goes to the hub; the
/// timer runs only while something is tracked.
pub(crate) async fn run(
    mut join: WamidJoin,
    clock: Clock,
    mut inputs: mpsc::UnboundedReceiver<JoinInput>,
    hub: mpsc::UnboundedSender<TelemetryInput>,
) {
    loop {
        if join.take_changed() {
            let snapshot = join.snapshot();
            if hub
                .send(TelemetryInput::ProxyUndelivered(Box::new(snapshot)))
                .is_err()
            {
                return;
            }
        }
        let wake = join.next_wake_ms().map(|at_ms| {
            let wait_ms = at_ms.saturating_sub(clock.now().timestamp_millis());
            tokio::time::Instant::now() + Duration::from_millis(u64::try_from(wait_ms).unwrap_or(0))
        });
        let timer = async {
            match wake {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            input = inputs.recv() => match input {
                Some(input) => join.apply(input, clock.now().timestamp_millis()),
                None => return,
            },
            () = timer => join.sweep(clock.now().timestamp_millis()),
        }
    }
}

#[cfg(test)]
#[path = "wamid_join_tests.rs"]
mod tests;
