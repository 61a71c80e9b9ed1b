//! Batched token inspection: requests from all accounts that arrive together share HTTP
//! requests (up to 50 tokens each, grouped by app), so 1,000 accounts cost 20 requests.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::{mpsc, oneshot};

use super::source::TokenSource;
use crate::graph::{AppCredentials, GraphError, MAX_BATCH_ITEMS, TokenInfo};

/// How long the inspector waits for more requests after the first (and after each window
/// in which more arrived), to batch them.
const COALESCE_WINDOW: Duration = Duration::from_millis(25);
/// Requests keep joining a batch while they keep arriving, at most this long after the first:
/// 1,000 account tasks starting on a busy machine take longer than one window, and a batch
/// cut in the middle of them costs an extra request.
const MAX_COALESCE: Duration = Duration::from_millis(500);

pub type InspectResult = Result<TokenInfo, GraphError>;

struct InspectRequest {
    app: AppCredentials,
    token: SecretString,
    reply: oneshot::Sender<InspectResult>,
    /// Already held back from one batch (see [`hold_back_partial`]).
    held_back: bool,
}

/// Cheap handle for asking the inspector task to inspect one token.
#[derive(Clone)]
pub struct Inspector {
    tx: mpsc::UnboundedSender<InspectRequest>,
}

impl Inspector {
    /// Starts the inspector task; it ends when every handle is dropped.
    pub fn spawn(source: Arc<dyn TokenSource>) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(source, rx));
        Self { tx }
    }

    /// Inspects one token, sharing an HTTP request with whatever else is asked meanwhile.
    pub async fn inspect(&self, app: &AppCredentials, token: &SecretString) -> InspectResult {
        let (reply, response) = oneshot::channel();
        let request = InspectRequest {
            app: app.clone(),
            token: token.clone(),
            reply,
            held_back: false,
        };
        if self.tx.send(request).is_err() {
            return Err(stopped());
        }
        response.await.unwrap_or_else(|_| Err(stopped()))
    }
}

fn stopped() -> GraphError {
    super::source::local_error("the inspector stopped (tokentop is shutting down)")
}

async fn run(source: Arc<dyn TokenSource>, mut rx: mpsc::UnboundedReceiver<InspectRequest>) {
    let mut carried: Vec<InspectRequest> = Vec::new();
    loop {
        let mut pending = std::mem::take(&mut carried);
        if pending.is_empty() {
            match rx.recv().await {
                Some(first) => pending.push(first),
                None => break,
            }
        }
        let cut_short = collect(&mut rx, &mut pending).await;
        for group in group_by_app(pending) {
            let group = if cut_short {
                hold_back_partial(group, &mut carried)
            } else {
                group
            };
            inspect_group(source.as_ref(), group).await;
        }
    }
}

/// Adds requests to `pending` while they keep arriving, at most [`MAX_COALESCE`]; true when
/// it was cut short with requests still arriving.
async fn collect(
    rx: &mut mpsc::UnboundedReceiver<InspectRequest>,
    pending: &mut Vec<InspectRequest>,
) -> bool {
    let started = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(COALESCE_WINDOW).await;
        let before = pending.len();
        while let Ok(more) = rx.try_recv() {
            pending.push(more);
        }
        if pending.len() == before {
            return false;
        }
        if started.elapsed() >= MAX_COALESCE {
            return true;
        }
    }
}

/// A batch cut short while requests still arrive sends its full 50s now and keeps the
/// partial rest for the next batch, which the rest of the arrivals fill (a slice of the
/// check-interval or start-up arriving over more than one window would otherwise cost a
/// part-filled request per cut). A request is held back once at most.
fn hold_back_partial(
    group: Vec<InspectRequest>,
    carried: &mut Vec<InspectRequest>,
) -> Vec<InspectRequest> {
    let partial = group.len() % MAX_BATCH_ITEMS;
    if partial == 0 || group.iter().rev().take(partial).any(|r| r.held_back) {
        return group;
    }
    let mut group = group;
    let rest = group.split_off(group.len() - partial);
    carried.extend(rest.into_iter().map(|request| InspectRequest {
        held_back: true,
        ..request
    }));
    group
}

/// Groups requests by app (the batch is authorised by one app token), keeping order.
fn group_by_app(pending: Vec<InspectRequest>) -> Vec<Vec<InspectRequest>> {
    let mut order: Vec<String> = Vec::new();
    let mut groups: HashMap<String, Vec<InspectRequest>> = HashMap::new();
    for request in pending {
        let key = format!(
            "{}|{}",
            request.app.app_id,
            super::store::fingerprint(&request.app.app_secret)
        );
        if !groups.contains_key(&key) {
            order.push(key.clone());
        }
        groups.entry(key).or_default().push(request);
    }
    order
        .into_iter()
        .filter_map(|key| groups.remove(&key))
        .collect()
}

async fn inspect_group(source: &dyn TokenSource, group: Vec<InspectRequest>) {
    let Some(app) = group.first().map(|r| r.app.clone()) else {
        return;
    };
    // The same token asked twice (access == long-lived) is inspected once. By a map: a
    // search of the list per request was quadratic (a quarter of `check`'s time at 10,000).
    let mut unique: Vec<SecretString> = Vec::new();
    let mut index_of: Vec<usize> = Vec::with_capacity(group.len());
    let mut seen: HashMap<&str, usize> = HashMap::with_capacity(group.len());
    for request in &group {
        let index = *seen
            .entry(request.token.expose_secret())
            .or_insert_with(|| {
                unique.push(request.token.clone());
                unique.len() - 1
            });
        index_of.push(index);
    }
    // A panicking source must not take batched inspection down for every account: each
    // asker gets the panic as an error (recorded in its history), and the inspector goes on.
    let results = AssertUnwindSafe(source.inspect_many(&app, &unique))
        .catch_unwind()
        .await
        .unwrap_or_else(|payload| {
            let secrets: Vec<&SecretString> = unique.iter().chain([&app.app_secret]).collect();
            let what = super::account::panic_text(payload.as_ref(), &secrets);
            tracing::error!("token inspection panicked: {what}");
            Err(super::source::local_error(&format!(
                "token inspection panicked: {what}"
            )))
        });
    for (request, index) in group.into_iter().zip(index_of) {
        let result = match &results {
            Ok(items) => items.get(index).cloned().unwrap_or_else(|| {
                Err(super::source::local_error(
                    "batch answer has fewer items than asked",
                ))
            }),
            Err(err) => Err(err.clone()),
        };
        // The asker may have given up (shutdown): nothing to do then.
        let _ = request.reply.send(result);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn requests(count: usize, held_back: bool) -> Vec<InspectRequest> {
        (0..count)
            .map(|i| InspectRequest {
                app: AppCredentials::new("1", SecretString::from("s".to_string())),
                token: SecretString::from(format!("EAAGtoken{i}")),
                reply: oneshot::channel().0,
                held_back,
            })
            .collect()
    }

    #[test]
    fn a_cut_batch_sends_its_full_fifties_and_keeps_the_rest_once() {
        let mut carried = Vec::new();
        let sent = hold_back_partial(requests(120, false), &mut carried);
        assert_eq!((sent.len(), carried.len()), (100, 20));
        assert!(carried.iter().all(|r| r.held_back));
        // Held back already: sent with the next batch, whatever its size.
        let mut again = Vec::new();
        let sent = hold_back_partial(std::mem::take(&mut carried), &mut again);
        assert_eq!((sent.len(), again.len()), (20, 0));
        // The held-back requests lead the next batch and go out in its full fifties.
        let mut next = requests(20, true);
        next.extend(requests(45, false));
        let sent = hold_back_partial(next, &mut again);
        assert_eq!((sent.len(), again.len()), (50, 15));
        assert!(sent.iter().take(20).all(|r| r.held_back));
        assert!(hold_back_partial(requests(100, false), &mut Vec::new()).len() == 100);
    }
}
