//! Phone health after the first round: one slice of the accounts each minute (`spread.rs`),
//! so a fleet's phone reads are spread over the check-interval in full 50-read batches instead
//! of one burst, and each account is still read once per interval.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::health::{Poller, poll_round};
use crate::engine::account::Shared;
use crate::engine::directory::{AccountDirectory, DirectoryEntry, DirectoryWatch};
use crate::engine::spread::Rotation;

/// The poller's steady state: the directory it follows and the pollers of its accounts (in
/// the order of `current`'s entries).
pub(super) struct Steady {
    pub directory: DirectoryWatch,
    pub current: Arc<AccountDirectory>,
    pub pollers: Vec<Poller>,
    pub interval: Duration,
}

impl Steady {
    /// Polls slice after slice until the engine stops listening or the directory is gone.
    pub(super) async fn run(
        mut self,
        shared: &Shared,
        new_poller: impl Fn(&Arc<DirectoryEntry>) -> Poller,
    ) {
        let slots = self.current.slices().slots();
        let phase = rand::random::<f64>();
        let mut rotation = Rotation::new(Instant::now(), self.interval, slots, phase);
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(rotation.next_at()) => {}
                changed = self.directory.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    self.current = self.directory.borrow_and_update().clone();
                    let pollers = std::mem::take(&mut self.pollers);
                    self.pollers = follow(pollers, &self.current, &new_poller);
                    continue;
                }
            }
            let now = Instant::now();
            while let Some(slot) = rotation.due(now) {
                let group = self.current.in_slot(slot);
                if !group.is_empty() && !poll_round(shared, &mut self.pollers, group).await {
                    return;
                }
            }
        }
    }
}

/// The pollers of `directory`'s accounts: an unchanged account keeps its poller (its usage
/// and alert state), a new or restarted one gets a new poller.
fn follow(
    pollers: Vec<Poller>,
    directory: &AccountDirectory,
    new_poller: impl Fn(&Arc<DirectoryEntry>) -> Poller,
) -> Vec<Poller> {
    let mut kept: HashMap<*const DirectoryEntry, Poller> = pollers
        .into_iter()
        .map(|poller| (Arc::as_ptr(&poller.entry), poller))
        .collect();
    directory
        .entries()
        .iter()
        .map(|entry| {
            kept.remove(&Arc::as_ptr(entry))
                .unwrap_or_else(|| new_poller(entry))
        })
        .collect()
}
