//! Fan-out of queued webhooks: one task per destination POSTs each body in order, byte for
//! byte with Meta's own `X-Hub-Signature-256`, retrying with backoff until a 2xx.
//!
//! Body n+1 is not sent before body n got a 2xx, so a destination sees Meta's order. A
//! destination that is down only falls behind: its bodies wait in the queue (bounded by
//! `max-queue`), and the other destinations, each with its own task, go on.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::CONTENT_TYPE;
use tokio::sync::{mpsc, watch};

use super::queue::{QueuedWebhook, WebhookQueue};
use super::signature::SIGNATURE_HEADER;

/// How a destination is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The wait after the first failure; doubled after each further one.
    pub first_delay: Duration,
    /// The longest wait.
    pub max_delay: Duration,
    /// One attempt's limit, from connecting to the end of the answer.
    pub attempt_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            first_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(60),
            attempt_timeout: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// The wait after `failures` failures in a row (1 or more): `first_delay` doubled each
    /// time up to `max_delay`, then scaled into its upper half by `jitter` (0 to 1), so that
    /// destinations that failed together do not retry together.
    pub fn delay(&self, failures: u32, jitter: f64) -> Duration {
        let doublings = failures.saturating_sub(1).min(32);
        let base = self
            .first_delay
            .saturating_mul(1u32 << doublings.min(31))
            .min(self.max_delay);
        base.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
    }
}

/// Which bodies a destination wants (`true`: send it). Given the raw body.
pub type BodyFilter = Arc<dyn Fn(&[u8]) -> bool + Send + Sync>;

/// Where bodies go.
#[derive(Clone)]
pub struct Destination {
    /// The queue's name for it (stable across restarts: it keys the saved position).
    pub name: String,
    pub url: reqwest::Url,
    /// Bodies it does not want are acknowledged without being sent. `None`: all of them.
    pub wants: Option<BodyFilter>,
    pub retry: RetryPolicy,
}

impl Destination {
    pub fn new(name: impl Into<String>, url: reqwest::Url) -> Destination {
        Destination {
            name: name.into(),
            url,
            wants: None,
            retry: RetryPolicy::default(),
        }
    }
}

impl fmt::Debug for Destination {
    /// Without the URL: its query may hold a token.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Destination")
            .field("name", &self.name)
            .field("filtered", &self.wants.is_some())
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

/// What happened to one body at one destination. Never carries the body or a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForwardOutcome {
    Delivered {
        status: u16,
    },
    /// The destination's filter does not want it: acknowledged without sending.
    NotWanted,
    /// This attempt failed; the same body is tried again after `retry_in`.
    Failed {
        reason: String,
        retry_in: Duration,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardReport {
    pub destination: String,
    pub seq: u64,
    pub outcome: ForwardOutcome,
}

/// Forwards `destination`'s bodies until `stop` turns true (or its sender is dropped). An
/// attempt in flight then is abandoned: that body is sent again after a restart.
pub async fn run(
    queue: WebhookQueue,
    destination: Destination,
    client: reqwest::Client,
    reports: mpsc::UnboundedSender<ForwardReport>,
    mut stop: watch::Receiver<bool>,
) {
    // With Redis, one cluster member at a time forwards to a destination: given back on return.
    let _claim = queue.claim(&destination.name);
    let forwarder = Forwarder {
        queue,
        destination,
        client,
        reports,
    };
    let mut queue_failures = 0;
    loop {
        let next = tokio::select! {
            biased;
            () = stopped(&mut stop) => return,
            next = forwarder.queue.next(&forwarder.destination.name) => next,
        };
        let outcome = match next {
            Ok(webhook) => forwarder.forward(&webhook, &mut stop).await,
            Err(err) => Err(err),
        };
        match outcome {
            Ok(Some(())) => queue_failures = 0,
            Ok(None) => return,
            Err(err) => {
                // The queue's own trouble (a disk error): logged, tried again after a while.
                queue_failures += 1;
                let retry_in = forwarder
                    .destination
                    .retry
                    .delay(queue_failures, rand::random());
                tracing::error!(destination = %forwarder.destination.name, error = %err, retry_in_ms = retry_in.as_millis() as u64, "webhook forwarding: could not read or acknowledge the queue");
                if !pause(&mut stop, retry_in).await {
                    return;
                }
            }
        }
    }
}

struct Forwarder {
    queue: WebhookQueue,
    destination: Destination,
    client: reqwest::Client,
    reports: mpsc::UnboundedSender<ForwardReport>,
}

impl Forwarder {
    /// Delivers (or skips) one body and acknowledges it. `Ok(None)` when stopped first.
    async fn forward(
        &self,
        webhook: &QueuedWebhook,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<Option<()>, super::queue::QueueError> {
        let wanted = self
            .destination
            .wants
            .as_ref()
            .is_none_or(|wants| wants(&webhook.body));
        let outcome = if wanted {
            let Some(status) = self.deliver(webhook, stop).await else {
                return Ok(None);
            };
            ForwardOutcome::Delivered { status }
        } else {
            ForwardOutcome::NotWanted
        };
        self.queue.ack(&self.destination.name, webhook.seq).await?;
        self.report(webhook.seq, outcome);
        Ok(Some(()))
    }

    /// POSTs the body until a 2xx (its status), or `None` when stopped first.
    async fn deliver(
        &self,
        webhook: &QueuedWebhook,
        stop: &mut watch::Receiver<bool>,
    ) -> Option<u16> {
        let mut failures = 0;
        loop {
            let attempt = tokio::select! {
                biased;
                () = stopped(stop) => return None,
                attempt = self.post(webhook) => attempt,
            };
            match attempt {
                Ok(status) => return Some(status),
                Err(reason) => {
                    failures += 1;
                    let retry_in = self.destination.retry.delay(failures, rand::random());
                    self.report(webhook.seq, ForwardOutcome::Failed { reason, retry_in });
                    if !pause(stop, retry_in).await {
                        return None;
                    }
                }
            }
        }
    }

    /// One attempt: the status of a 2xx, or why it failed (a status or an error, no URL).
    async fn post(&self, webhook: &QueuedWebhook) -> Result<u16, String> {
        let response = self
            .client
            .post(self.destination.url.clone())
            .timeout(self.destination.retry.attempt_timeout)
            .header(CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, webhook.signature.as_str())
            .body(webhook.body.clone())
            .send()
            .await
            .map_err(describe)?;
        let status = response.status();
        // Read to the end so the connection can be reused; what it says does not matter.
        let _ = response.bytes().await;
        if status.is_success() {
            Ok(status.as_u16())
        } else {
            Err(format!("HTTP {}", status.as_u16()))
        }
    }

    fn report(&self, seq: u64, outcome: ForwardOutcome) {
        // Nobody listening is fine: the reports feed metrics, not delivery.
        let _ = self.reports.send(ForwardReport {
            destination: self.destination.name.clone(),
            seq,
            outcome,
        });
    }
}

/// Returns once `stop` is true or its sender is gone.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

/// Waits `delay`; `false` when stopped first.
async fn pause(stop: &mut watch::Receiver<bool>, delay: Duration) -> bool {
    tokio::select! {
        biased;
        () = stopped(stop) => false,
        () = tokio::time::sleep(delay) => true,
    }
}

/// A request error in words, without the URL (its query may hold a token).
fn describe(err: reqwest::Error) -> String {
    let err = err.without_url();
    if err.is_timeout() {
        return "timed out".to_string();
    }
    let mut text = if err.is_connect() {
        "could not connect".to_string()
    } else {
        err.to_string()
    };
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delay_doubles_from_the_first_up_to_the_cap_within_its_jitter() {
        let policy = RetryPolicy::default();
        let secs = |failures, jitter| policy.delay(failures, jitter).as_secs_f64();
        let expected = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0];
        for (i, base) in expected.iter().enumerate() {
            let failures = i as u32 + 1;
            assert_eq!(secs(failures, 1.0), *base, "after {failures} failures");
            assert_eq!(secs(failures, 0.0), base / 2.0, "after {failures} failures");
            let middle = secs(failures, 0.5);
            assert!(middle > base / 2.0 && middle < *base, "{middle}");
        }
        assert_eq!(secs(u32::MAX, 1.0), 60.0);
        assert_eq!(secs(3, 7.0), 4.0, "jitter above 1 is clamped");
    }

    #[test]
    fn short_bounds_for_tests_are_honoured() {
        let policy = RetryPolicy {
            first_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(100),
            attempt_timeout: Duration::from_secs(1),
        };
        assert_eq!(policy.delay(1, 1.0), Duration::from_millis(20));
        assert_eq!(policy.delay(3, 1.0), Duration::from_millis(80));
        assert_eq!(policy.delay(4, 1.0), Duration::from_millis(100));
    }

    #[test]
    fn a_destination_prints_without_its_url() {
        let url = reqwest::Url::parse("https://app.example/hook?token=secret").unwrap();
        let text = format!("{:?}", Destination::new("app", url));
        assert!(text.contains("app") && !text.contains("secret"), "{text}");
    }
}
