//! Routine Graph calls spread over the check-interval: each account gets a stable slice (slot)
//! of the interval, slices are filled 50 accounts of one app at a time so batches stay full,
//! and a rotation says which slice is due when (pure: callers pass `now` and the phase).
//!
//! Meta counts calls per app: one burst of every account's inspection and phone read each
//! interval (200 + 200 requests at 10,000 accounts) is what the spread avoids. The start-up
//! inspection and health round are not spread (the dashboard wants state at once).

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

use crate::graph::MAX_BATCH_ITEMS;

/// The length a slice aims at: Meta's per-app budget is watched per minute.
pub const SLOT_TARGET: Duration = Duration::from_secs(60);
/// A long interval is cut into at most this many slices (a 7-day interval: one every 2.8 h).
pub const MAX_SLOTS: usize = 60;

/// How many slices `interval` is cut into: one a minute, at least 1, at most [`MAX_SLOTS`].
pub fn slot_count(interval: Duration) -> usize {
    let minutes = interval.as_secs() / SLOT_TARGET.as_secs();
    usize::try_from(minutes)
        .unwrap_or(MAX_SLOTS)
        .clamp(1, MAX_SLOTS)
}

/// The batch an account's calls are sent in: its app (id and secret fingerprint), or none
/// (no app credentials: nothing is asked of Meta for it).
pub type AppKey = Option<String>;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Member {
    app: AppKey,
    slot: usize,
}

/// Each account's slice. Every slot held here is below `slots`, the length of `requests` and
/// of each `counts` vector, so indexing them by a member's slot cannot go out of bounds.
/// Sticky: an account keeps its slice across reloads (so it is still
/// polled once per interval), a new one is placed where it costs the fewest requests.
#[derive(Debug, Clone)]
pub struct Slices {
    slots: usize,
    members: HashMap<String, Member>,
    /// Accounts per app per slot.
    counts: HashMap<String, Vec<usize>>,
    /// Batch requests per slot (each app's accounts in it, 50 to a request).
    requests: Vec<usize>,
}

impl Default for Slices {
    fn default() -> Self {
        Self::new(1)
    }
}

impl Slices {
    pub fn new(slots: usize) -> Self {
        let slots = slots.max(1);
        Self {
            slots,
            members: HashMap::new(),
            counts: HashMap::new(),
            requests: vec![0; slots],
        }
    }

    pub fn slots(&self) -> usize {
        self.slots
    }

    /// The slice of `account`; an unknown account is in the last one.
    pub fn slot_of(&self, account: &str) -> usize {
        self.members
            .get(account)
            .map_or(self.slots - 1, |member| member.slot)
    }

    /// The accounts running now, in config order: removed ones leave their slice, an account
    /// whose app changed is placed again, the others keep theirs, new ones are placed.
    pub fn follow<'a>(&mut self, accounts: impl IntoIterator<Item = (&'a str, AppKey)>) {
        let accounts: Vec<(&str, AppKey)> = accounts.into_iter().collect();
        let wanted: HashMap<&str, &AppKey> = accounts.iter().map(|(n, a)| (*n, a)).collect();
        let leaving: Vec<String> = self
            .members
            .iter()
            .filter(|(name, member)| wanted.get(name.as_str()) != Some(&&member.app))
            .map(|(name, _)| name.clone())
            .collect();
        for name in leaving {
            self.remove(&name);
        }
        for (name, app) in accounts {
            if !self.members.contains_key(name) {
                let slot = self.place(app.as_deref());
                self.add(name, app, slot);
            }
        }
    }

    /// Batch requests each slice costs (for tests and docs: the spread's evenness).
    pub fn requests_per_slot(&self) -> &[usize] {
        &self.requests
    }

    /// Where one more account of `app` costs least: a slice whose last batch of this app has
    /// room (the fullest such), else the slice with the fewest requests. Ties go to the later
    /// slice, so a small fleet sits in the last one and is first re-checked a whole interval
    /// after start-up, as before the spread.
    fn place(&self, app: Option<&str>) -> usize {
        let last = self.slots - 1;
        let Some(app) = app else {
            return last;
        };
        if let Some(counts) = self.counts.get(app) {
            let partial = (0..self.slots)
                .rev()
                .filter(|&slot| !counts[slot].is_multiple_of(MAX_BATCH_ITEMS))
                .max_by_key(|&slot| (counts[slot], slot));
            if let Some(slot) = partial {
                return slot;
            }
        }
        (0..self.slots)
            .rev()
            .min_by_key(|&slot| self.requests[slot])
            .unwrap_or(last)
    }

    fn add(&mut self, name: &str, app: AppKey, slot: usize) {
        if let Some(key) = &app {
            let counts = self
                .counts
                .entry(key.clone())
                .or_insert_with(|| vec![0; self.slots]);
            if counts[slot].is_multiple_of(MAX_BATCH_ITEMS) {
                self.requests[slot] += 1;
            }
            counts[slot] += 1;
        }
        self.members.insert(name.to_string(), Member { app, slot });
    }

    fn remove(&mut self, name: &str) {
        let Some(member) = self.members.remove(name) else {
            return;
        };
        let Some(key) = member.app else {
            return;
        };
        if let Some(counts) = self.counts.get_mut(&key) {
            counts[member.slot] = counts[member.slot].saturating_sub(1);
            if counts[member.slot].is_multiple_of(MAX_BATCH_ITEMS) {
                self.requests[member.slot] = self.requests[member.slot].saturating_sub(1);
            }
            if counts.iter().all(|&n| n == 0) {
                self.counts.remove(&key);
            }
        }
    }
}

/// When each slice is due: slice `k` of cycle `c` at `origin + (c * slots + k + 1) * slot`,
/// one slice every `interval / slots`, so each account comes round once per interval.
///
/// `origin` is the start moment minus a phase (up to half a slice, random per process so
/// that several processes are not in lockstep): the last slice's first turn is at most one
/// interval after start-up, never later, and the first one at least half a slice after it.
#[derive(Debug, Clone)]
pub struct Rotation {
    origin: Instant,
    slot_len: Duration,
    slots: usize,
    turns: u64,
}

impl Rotation {
    /// `phase` in 0..1 (a share of half a slice), clamped.
    pub fn new(start: Instant, interval: Duration, slots: usize, phase: f64) -> Self {
        let slots = slots.max(1);
        let slot_len = interval / u32::try_from(slots).unwrap_or(u32::MAX);
        let back = slot_len.mul_f64(phase.clamp(0.0, 1.0) / 2.0);
        Self {
            origin: start.checked_sub(back).unwrap_or(start),
            slot_len,
            slots,
            turns: 0,
        }
    }

    pub fn slots(&self) -> usize {
        self.slots
    }

    /// When the next slice is due.
    pub fn next_at(&self) -> Instant {
        let ahead = u32::try_from(self.turns.saturating_add(1)).unwrap_or(u32::MAX);
        self.origin + self.slot_len.saturating_mul(ahead)
    }

    /// The slice due at `now`, if one is; each turn is handed out once, in order (a late
    /// caller gets the missed ones one after another, none is skipped).
    pub fn due(&mut self, now: Instant) -> Option<usize> {
        if now < self.next_at() {
            return None;
        }
        let slot = usize::try_from(self.turns % self.slots as u64).unwrap_or(0);
        self.turns += 1;
        Some(slot)
    }
}

#[cfg(test)]
#[path = "spread_tests.rs"]
mod tests;
