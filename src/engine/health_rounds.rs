//! Which accounts take their first health poll together.
//!
//! An account's first poll waits for its first inspection (so its token and scopes are known),
//! at most [`FIRST_INSPECTION_WAIT`], as before batching. Accounts whose inspections land
//! together (batched inspection delivers a whole app's answers at once) are handed out as one
//! group, so their phone reads share batch requests; an account that lands much later gets a
//! group of its own instead of holding the others back.

use std::time::Duration;

use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use futures_util::stream::FuturesUnordered;
use tokio::sync::watch;
use tokio::time::Instant;

use super::account::{AccountLink, TokenView};

/// The longest the first poll of an account waits for its first inspection.
pub(crate) const FIRST_INSPECTION_WAIT: Duration = Duration::from_secs(30);
/// Once an account is ready, others that become ready within this much of the previous one
/// join its group. Inspection answers of one app arrive together, so this only has to cover
/// the account tasks taking them in, even on a busy machine.
const SETTLE: Duration = Duration::from_secs(1);

/// Hands out groups of account indices as their first inspections land.
pub(crate) struct Arrivals {
    waits: FuturesUnordered<BoxFuture<'static, usize>>,
    outstanding: Vec<bool>,
    deadline: Instant,
}

impl Arrivals {
    pub(crate) fn new(links: &[AccountLink]) -> Self {
        let waits = links
            .iter()
            .enumerate()
            .map(|(index, link)| {
                // Without app credentials an account is never inspected: nothing to wait for.
                let inspected = link.app.is_some();
                let rx = link.token.clone();
                let wait: BoxFuture<'static, usize> =
                    Box::pin(first_inspection(rx, inspected, index));
                wait
            })
            .collect();
        Self {
            waits,
            outstanding: vec![true; links.len()],
            deadline: Instant::now() + FIRST_INSPECTION_WAIT,
        }
    }

    /// The next accounts to poll together; empty once every account has been handed out.
    /// After the deadline every account not yet handed out is in the group, ready or not.
    pub(crate) async fn next_group(&mut self) -> Vec<usize> {
        let mut group = Vec::new();
        loop {
            let until = if group.is_empty() {
                self.deadline
            } else {
                self.deadline.min(Instant::now() + SETTLE)
            };
            tokio::select! {
                ready = self.waits.next() => match ready {
                    Some(index) => self.hand_out(index, &mut group),
                    None => break,
                },
                () = tokio::time::sleep_until(until) => break,
            }
        }
        if Instant::now() >= self.deadline {
            self.waits.clear();
            for index in 0..self.outstanding.len() {
                self.hand_out(index, &mut group);
            }
        }
        group
    }

    fn hand_out(&mut self, index: usize, group: &mut Vec<usize>) {
        if let Some(outstanding) = self.outstanding.get_mut(index)
            && *outstanding
        {
            *outstanding = false;
            group.push(index);
        }
    }
}

async fn first_inspection(
    mut rx: watch::Receiver<TokenView>,
    inspected: bool,
    index: usize,
) -> usize {
    if inspected {
        // A closed channel (the account task is gone) counts as ready: polling reports it.
        let _ = rx.wait_for(|view| view.missing_scopes.is_some()).await;
    }
    index
}
