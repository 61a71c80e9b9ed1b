//! Settings, counters and errors of the simulator's outgoing webhooks, and what a target URL
//! may be.

use std::time::Duration;

use secrecy::SecretString;
use serde::Serialize;

/// Meta puts at most 1,000 updates in one POST (REFERENCE.md 13.3).
pub const MAX_STATUSES_PER_POST: usize = 1000;

/// A random delay between `min` and `max` (both inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delay {
    pub min: Duration,
    pub max: Duration,
}

impl Delay {
    pub const ZERO: Delay = Delay::fixed(Duration::ZERO);

    pub const fn fixed(delay: Duration) -> Delay {
        Delay {
            min: delay,
            max: delay,
        }
    }

    pub const fn between_ms(min_ms: u64, max_ms: u64) -> Delay {
        Delay {
            min: Duration::from_millis(min_ms),
            max: Duration::from_millis(max_ms),
        }
    }

    pub(crate) fn draw(self) -> Duration {
        if self.max <= self.min {
            return self.min;
        }
        rand::random_range(self.min..=self.max)
    }
}

/// How the simulated Meta posts webhooks: outcomes, timing, retries and bounds.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// Signs webhooks when a target is set without its own secret; the app secret when `None`.
    pub secret: Option<SecretString>,
    /// Share of sends (0-100) that fail: one `failed` status with `errors[]`, nothing else.
    pub failure_percent: u8,
    /// Share of the sends that do not fail (0-100) that get `sent` and nothing after (a phone
    /// that never comes online), for the proxy's undelivered count.
    pub silent_percent: u8,
    /// Share of delivered sends (0-100) that are also read.
    pub read_percent: u8,
    /// The error code of `failed` statuses (131026 "Message undeliverable" by default).
    pub failure_code: i64,
    /// From the send to its `sent` (or `failed`).
    pub sent_after: Delay,
    /// From `sent` to `delivered`.
    pub delivered_after: Delay,
    /// From `delivered` to `read`.
    pub read_after: Delay,
    /// Statuses due within this window of the first go out in one POST.
    pub batch_window: Duration,
    /// A failed POST is retried at once, then after this, doubling up to `retry_max`.
    pub retry_initial: Duration,
    pub retry_max: Duration,
    /// A body not acknowledged after this long is dropped (Meta gives up after 7 days).
    pub give_up_after: Duration,
    /// Timeout of one POST.
    pub request_timeout: Duration,
    /// Bodies posted and not yet acknowledged; a body past this is dropped and counted.
    pub max_pending_posts: u64,
    /// Statuses waiting for their moment; statuses of sends past this are dropped and counted.
    pub max_scheduled_statuses: u64,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            secret: None,
            failure_percent: 0,
            silent_percent: 0,
            read_percent: 50,
            failure_code: 131026,
            sent_after: Delay::between_ms(50, 100),
            delivered_after: Delay::between_ms(150, 250),
            read_after: Delay::between_ms(500, 1500),
            batch_window: Duration::from_millis(100),
            retry_initial: Duration::from_secs(1),
            retry_max: Duration::from_secs(60),
            give_up_after: Duration::from_secs(7 * 86_400),
            request_timeout: Duration::from_secs(10),
            max_pending_posts: 10_000,
            max_scheduled_statuses: 100_000,
        }
    }
}

impl WebhookSettings {
    /// No delays, no batching window, retries 10 ms apart: for tests.
    pub fn immediate() -> WebhookSettings {
        WebhookSettings {
            sent_after: Delay::ZERO,
            delivered_after: Delay::ZERO,
            read_after: Delay::ZERO,
            batch_window: Duration::ZERO,
            retry_initial: Duration::from_millis(10),
            retry_max: Duration::from_millis(100),
            ..WebhookSettings::default()
        }
    }
}

/// Webhook counters since the simulator started (`GET /_sim/webhooks`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WebhookStats {
    /// Statuses waiting for their moment or for their batch.
    pub scheduled: u64,
    /// Bodies posted (each counted once, however often it was retried).
    pub posted: u64,
    /// Statuses in posted bodies.
    pub statuses: u64,
    /// Account-level events posted (account_update, quality, template).
    pub events: u64,
    /// HTTP POSTs made, first tries and retries.
    pub attempts: u64,
    /// POSTs after a failed one (non-2xx answer or no connection).
    pub retried: u64,
    /// Bodies answered 2xx.
    pub acknowledged: u64,
    /// Bodies posted and neither acknowledged nor dropped.
    pub pending: u64,
    /// Statuses never posted: no target when they fell due, or past `max_scheduled_statuses`.
    pub dropped_statuses: u64,
    /// Bodies given up: past `max_pending_posts`, their target replaced or cleared, or
    /// unacknowledged after `give_up_after`.
    pub dropped_posts: u64,
}

/// Why an event was not posted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("no webhook target is set: PUT /_sim/webhooks/target or `tokentop sim --webhook-url`")]
    NoTarget,
    #[error("{0}")]
    Invalid(String),
}

/// Scheme, host and port only: a target's path or query may hold a token of the receiver's.
pub(crate) fn origin(url: &reqwest::Url) -> String {
    url.origin().ascii_serialization()
}

/// An `http://` or `https://` URL with a host.
pub fn parse_webhook_url(text: &str) -> Result<reqwest::Url, WebhookError> {
    let invalid = |why: &str| {
        WebhookError::Invalid(format!(
            "webhook URL \"{text}\" {why}; use http://HOST[:PORT]/PATH or https://..."
        ))
    };
    let url = reqwest::Url::parse(text).map_err(|err| invalid(&format!("is not a URL ({err})")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("is neither http nor https"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("has no host"));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_stay_within_their_bounds() {
        let delay = Delay::between_ms(50, 100);
        for _ in 0..100 {
            let drawn = delay.draw();
            assert!(drawn >= delay.min && drawn <= delay.max, "{drawn:?}");
        }
        assert_eq!(Delay::between_ms(9, 3).draw(), Duration::from_millis(9));
        assert_eq!(Delay::ZERO.draw(), Duration::ZERO);
    }

    #[test]
    fn only_http_urls_with_a_host_are_targets() {
        assert!(parse_webhook_url("https://relay.example/webhook?x=1").is_ok());
        assert!(parse_webhook_url("http://127.0.0.1:8090/webhook").is_ok());
        for bad in [
            "",
            "relay.example/webhook",
            "ftp://relay.example/",
            "unix:/tmp/sock",
        ] {
            let err = parse_webhook_url(bad).unwrap_err().to_string();
            assert!(err.contains("https://"), "{bad}: {err}");
        }
    }

    #[test]
    fn the_origin_leaves_out_path_and_query() {
        let url = parse_webhook_url("https://relay.example:8443/hook?token=abc").unwrap();
        assert_eq!(origin(&url), "https://relay.example:8443");
    }
}
