//! The relay's HTTP side: Meta's GET handshake, and its signed POSTs, each answered 200 only
//! once the body is stored.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use secrecy::{ExposeSecret, SecretString};

use super::queue::{Accepted, QueueError, WebhookQueue};
use super::signature::{SIGNATURE_HEADER, verify};

/// A body must arrive within this once its head did: a client trickling bytes holds a
/// connection, not the relay.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// The queue's fill at which the relay warns (once per crossing, and again when it drains).
pub const QUEUE_WARN_FILL: f64 = 0.8;
/// Refused signatures are logged at most this often (with how many since), so a flood of
/// forged posts does not flood the log.
const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(10);

/// What became of one POST; the label of `tokentop_webhook_requests_total{result}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostResult {
    Ok,
    Duplicate,
    BadSignature,
    TooLarge,
    /// The queue is at `max-queue`: 503, and Meta retries.
    Full,
    /// The body did not arrive in time, or the connection broke while it was read.
    Incomplete,
    /// The queue could not store it: 500, and Meta retries.
    StoreFailed,
    /// The queue's Redis (`[cluster]`) is unreachable: 503, and Meta retries.
    Unavailable,
}

impl PostResult {
    pub const ALL: [PostResult; 8] = [
        Self::Ok,
        Self::Duplicate,
        Self::BadSignature,
        Self::TooLarge,
        Self::Full,
        Self::Incomplete,
        Self::StoreFailed,
        Self::Unavailable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Duplicate => "duplicate",
            Self::BadSignature => "bad_signature",
            Self::TooLarge => "too_large",
            Self::Full => "queue_full",
            Self::Incomplete => "incomplete",
            Self::StoreFailed => "store_failed",
            Self::Unavailable => "queue_unavailable",
        }
    }
}

/// Requests by outcome, for `/metrics` and the dashboard.
#[derive(Debug, Default)]
pub struct RelayCounters {
    posts: [AtomicU64; 8],
    pub handshakes_ok: AtomicU64,
    pub handshakes_refused: AtomicU64,
}

impl RelayCounters {
    pub fn posts(&self, result: PostResult) -> u64 {
        self.posts[result as usize].load(Ordering::Relaxed)
    }

    fn count(&self, result: PostResult) {
        self.posts[result as usize].fetch_add(1, Ordering::Relaxed);
    }
}

/// What the relay's handlers share.
pub struct Relay {
    /// The app secrets a signature may be made with (one per app served).
    pub secrets: Vec<SecretString>,
    pub verify_token: SecretString,
    pub queue: WebhookQueue,
    pub max_body: usize,
    /// How long a body may take to arrive ([`BODY_READ_TIMEOUT`]).
    pub body_read_timeout: Duration,
    pub counters: Arc<RelayCounters>,
    /// Every newly stored body, for the statuses and account events read from it.
    pub stored: Option<super::stored::StoredSender>,
    refusals: std::sync::Mutex<RefusalLog>,
    /// Whether the queue was last seen over [`QUEUE_WARN_FILL`].
    filling: std::sync::atomic::AtomicBool,
}

impl Relay {
    pub fn new(
        secrets: Vec<SecretString>,
        verify_token: SecretString,
        queue: WebhookQueue,
        max_body: usize,
    ) -> Self {
        Self {
            secrets,
            verify_token,
            queue,
            max_body,
            body_read_timeout: BODY_READ_TIMEOUT,
            counters: Arc::default(),
            stored: None,
            refusals: std::sync::Mutex::new(RefusalLog::default()),
            filling: std::sync::atomic::AtomicBool::new(false),
        }
    }
}

/// GET (the handshake) and POST (deliveries) on `path`; anything else is 404 or 405.
pub fn router(relay: Arc<Relay>, path: &str) -> Router {
    Router::new()
        .route(path, get(handshake).post(deliver))
        .with_state(relay)
}

/// `hub.mode=subscribe` with the right `hub.verify_token`: the challenge back, byte for byte,
/// as plain text. Anything else: 403, and Meta leaves the URL unverified.
async fn handshake(State(relay): State<Arc<Relay>>, RawQuery(query): RawQuery) -> Response {
    let (mut mode, mut token, mut challenge) = (None, None, None);
    for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match key.as_ref() {
            "hub.mode" => mode = Some(value.into_owned()),
            "hub.verify_token" => token = Some(value.into_owned()),
            "hub.challenge" => challenge = Some(value.into_owned()),
            _ => {}
        }
    }
    let expected = relay.verify_token.expose_secret().as_bytes();
    let token_ok = token.is_some_and(|t| constant_time_eq(t.as_bytes(), expected));
    match challenge {
        Some(challenge) if mode.as_deref() == Some("subscribe") && token_ok => {
            relay.counters.handshakes_ok.fetch_add(1, Ordering::Relaxed);
            tracing::info!("webhook handshake accepted: Meta verified the callback URL");
            ([(header::CONTENT_TYPE, "text/plain")], challenge).into_response()
        }
        _ => {
            relay
                .counters
                .handshakes_refused
                .fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                "webhook handshake refused: hub.mode must be subscribe and hub.verify_token must match [webhook] verify-token"
            );
            (StatusCode::FORBIDDEN, "verification refused\n").into_response()
        }
    }
}

/// Reads the raw body (capped, timed), checks its signature before anything else, stores it,
/// and only then answers 200.
async fn deliver(State(relay): State<Arc<Relay>>, headers: HeaderMap, body: Body) -> Response {
    let read = read_body(body, &headers, relay.max_body, relay.body_read_timeout);
    let result = match read.await {
        Err(result) => result,
        Ok(bytes) => verify_and_store(&relay, &headers, bytes).await,
    };
    relay.counters.count(result);
    answer(result)
}

async fn verify_and_store(relay: &Relay, headers: &HeaderMap, body: Bytes) -> PostResult {
    let signature = headers
        .get(SIGNATURE_HEADER)
        .map(|value| value.to_str().unwrap_or(""));
    let secrets: Vec<&SecretString> = relay.secrets.iter().collect();
    if let Err(err) = verify(signature, &body, &secrets) {
        relay.refused(&err.to_string());
        return PostResult::BadSignature;
    }
    let signature = signature.unwrap_or_default().to_string();
    match relay.queue.accept(body.clone(), signature).await {
        Ok(Accepted::Queued { .. }) => {
            relay.watch_fill();
            if let Some(stored) = &relay.stored {
                stored.send(body).await;
            }
            PostResult::Ok
        }
        Ok(Accepted::Duplicate { .. }) => PostResult::Duplicate,
        Err(QueueError::Full { max_bytes }) => {
            tracing::warn!(
                "webhook queue full ({max_bytes} bytes not yet forwarded, [webhook] max-queue): answering 503, Meta will retry"
            );
            PostResult::Full
        }
        // Larger than the whole queue may hold: Meta's retry would never fit either.
        Err(QueueError::TooLarge { .. }) => PostResult::TooLarge,
        // The connection logs an outage once, when it starts (and when it ends).
        Err(QueueError::Unavailable { .. }) => PostResult::Unavailable,
        Err(err) => {
            tracing::error!("cannot store a webhook (answering 500, Meta will retry): {err}");
            PostResult::StoreFailed
        }
    }
}

fn answer(result: PostResult) -> Response {
    match result {
        PostResult::Ok | PostResult::Duplicate => {
            (StatusCode::OK, "EVENT_RECEIVED").into_response()
        }
        PostResult::BadSignature => (
            StatusCode::UNAUTHORIZED,
            "bad or missing X-Hub-Signature-256\n",
        )
            .into_response(),
        PostResult::TooLarge => (
            StatusCode::PAYLOAD_TOO_LARGE,
            "body over [webhook] max-body\n",
        )
            .into_response(),
        PostResult::Full => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "60")],
            "queue full, retry later\n",
        )
            .into_response(),
        PostResult::Unavailable => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "10")],
            "queue unavailable, retry later\n",
        )
            .into_response(),
        PostResult::Incomplete => {
            (StatusCode::REQUEST_TIMEOUT, "the body did not arrive\n").into_response()
        }
        PostResult::StoreFailed => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot store, retry later\n",
        )
            .into_response(),
    }
}

/// The whole body, at most `max` bytes, within `timeout`.
async fn read_body(
    body: Body,
    headers: &HeaderMap,
    max: usize,
    timeout: Duration,
) -> Result<Bytes, PostResult> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > max as u64) {
        return Err(PostResult::TooLarge);
    }
    let capacity = declared.map_or(16 * 1024, |length| length as usize);
    let read = async {
        let mut buffer = BytesMut::with_capacity(capacity);
        let mut stream = body.into_data_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|_| PostResult::Incomplete)?;
            if buffer.len().saturating_add(chunk.len()) > max {
                return Err(PostResult::TooLarge);
            }
            buffer.extend_from_slice(&chunk);
        }
        Ok(buffer.freeze())
    };
    tokio::time::timeout(timeout, read)
        .await
        .unwrap_or(Err(PostResult::Incomplete))
}

/// Equal bytes, compared without stopping at the first difference.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Refused signatures since the last log line.
#[derive(Default)]
struct RefusalLog {
    last: Option<Instant>,
    unlogged: u64,
}

impl Relay {
    /// Warns when the queue crosses [`QUEUE_WARN_FILL`] (a destination is not taking its
    /// webhooks), and says when it is back under.
    fn watch_fill(&self) {
        let fill = self.queue.fill_ratio();
        let over = fill >= QUEUE_WARN_FILL;
        if self.filling.swap(over, Ordering::Relaxed) == over {
            return;
        }
        if over {
            tracing::warn!(
                "the webhook queue is {:.0}% full: a destination is not taking its webhooks; at 100% Meta gets 503 and retries ([webhook] max-queue)",
                fill * 100.0
            );
        } else {
            tracing::info!(
                "the webhook queue is under {:.0}% full again",
                QUEUE_WARN_FILL * 100.0
            );
        }
    }

    /// Logs a refused signature without the body, at most every [`REFUSAL_LOG_EVERY`].
    fn refused(&self, why: &str) {
        let mut log = self.refusals.lock().unwrap_or_else(|p| p.into_inner());
        log.unlogged += 1;
        if log.last.is_some_and(|at| at.elapsed() < REFUSAL_LOG_EVERY) {
            return;
        }
        tracing::warn!(
            "webhook refused with 401: {why} ({} refused since the last message); the app secret in [[account]] must be the one of the app Meta signs for",
            log.unlogged
        );
        log.last = Some(Instant::now());
        log.unlogged = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_tokens_compare_equal_and_others_do_not() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secrets"));
    }
}
