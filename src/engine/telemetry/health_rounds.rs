//! Which accounts take their first health poll together.
//!
//! An account's first poll waits for its first inspection (so its token and scopes are known),
//! or for it to fail, at most [`FIRST_INSPECTION_WAIT`], as before batching. Accounts whose inspections land
//! together (batched inspection delivers a whole app's answers at once) are handed out as one
//! group, so their phone reads share batch requests; an account that lands much later gets a
//! group of its own instead of holding the others back.

use std::time::Duration;

use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use futures_util::stream::FuturesUnordered;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::engine::account::TokenView;

/// The longest the first poll of an account waits for its first inspection.
pub(crate) const FIRST_INSPECTION_WAIT: Duration = Duration::from_secs(30);
/// Once an account is ready, others that become ready within this much of the previous one
/// join its group. Inspection answers of one app arrive together, so this only has to cover
/// the account tasks taking them in, even on a busy machine: with 1,000 accounts on two
/// loaded cores a gap of over a second was seen, which split one round in two. It costs
/// nothing when every account is in: the group closes then.
const SETTLE: Duration = Duration::from_secs(3);

/// Hands out groups of account indices as their first inspections land.
pub(crate) struct Arrivals {
    waits: FuturesUnordered<BoxFuture<'static, usize>>,
    outstanding: Vec<bool>,
    deadline: Instant,
}

impl Arrivals {
    /// Every account's token channel, and whether it is inspected at all: without app
    /// credentials an account never is, so there is nothing to wait for.
    pub(crate) fn new(accounts: Vec<(bool, watch::Receiver<TokenView>)>) -> Self {
        let count = accounts.len();
        let waits = accounts
            .into_iter()
            .enumerate()
            .map(|(index, (inspected, rx))| {
                let wait: BoxFuture<'static, usize> =
                    Box::pin(first_inspection(rx, inspected, index));
                wait
            })
            .collect();
        Self {
            waits,
            outstanding: vec![true; count],
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
        // A closed channel (the account task is gone) counts as ready: polling reports it. So
        // does a failed inspection: waiting would not make Meta answer sooner, and a one-shot
        // `check` would sit out the whole wait against an unreachable Graph API.
        let _ = rx
            .wait_for(|view| view.missing_scopes.is_some() || view.settled)
            .await;
    }
    index
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inspected() -> TokenView {
        TokenView {
            missing_scopes: Some(Vec::new()),
            ..TokenView::default()
        }
    }

    fn channels(count: usize) -> (Vec<watch::Sender<TokenView>>, Arrivals) {
        let (senders, receivers): (Vec<_>, Vec<_>) = (0..count)
            .map(|_| watch::channel(TokenView::default()))
            .unzip();
        let arrivals = Arrivals::new(receivers.into_iter().map(|rx| (true, rx)).collect());
        (senders, arrivals)
    }

    #[tokio::test(start_paused = true)]
    async fn accounts_inspected_together_are_one_group() {
        let (senders, mut arrivals) = channels(3);
        for sender in &senders {
            sender.send_replace(inspected());
        }
        let mut group = arrivals.next_group().await;
        group.sort_unstable();
        assert_eq!(group, vec![0, 1, 2]);
        assert!(arrivals.next_group().await.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_late_account_gets_its_own_group_and_a_silent_one_the_deadline() {
        let (senders, mut arrivals) = channels(3);
        let started = Instant::now();
        senders[0].send_replace(inspected());
        let late = senders[1].clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(5)).await;
            late.send_replace(inspected());
        });
        assert_eq!(arrivals.next_group().await, vec![0]);
        assert!(started.elapsed() <= SETTLE, "{:?}", started.elapsed());
        assert_eq!(arrivals.next_group().await, vec![1]);
        // Account 2 is never inspected: polled anyway at the deadline, as before batching.
        assert_eq!(arrivals.next_group().await, vec![2]);
        assert!(started.elapsed() >= FIRST_INSPECTION_WAIT);
        assert!(arrivals.next_group().await.is_empty());
        drop(senders);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_first_inspection_is_polled_at_once_not_at_the_deadline() {
        let (senders, mut arrivals) = channels(1);
        let started = Instant::now();
        // Meta unreachable: the account settled on an error, its scopes are still unknown.
        senders[0].send_replace(TokenView {
            settled: true,
            ..TokenView::default()
        });
        assert_eq!(arrivals.next_group().await, vec![0]);
        assert!(started.elapsed() <= SETTLE, "{:?}", started.elapsed());
    }

    #[tokio::test(start_paused = true)]
    async fn accounts_without_app_credentials_do_not_wait() {
        let (_sender, rx) = watch::channel(TokenView::default());
        let mut arrivals = Arrivals::new(vec![(false, rx)]);
        let started = Instant::now();
        assert_eq!(arrivals.next_group().await, vec![0]);
        assert!(started.elapsed() < Duration::from_secs(1));
    }
}
