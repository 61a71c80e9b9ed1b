//! The Graph API proxy (`[proxy] listen`): applications send the Graph API requests they would
//! send to graph.facebook.com, without a token; the proxy adds the account's current token
//! and `appsecret_proof`, refreshes first inside the send guard, and on a 190 refreshes once
//! (single flight, shared with the engine) and retries a request whose body it kept.
//!
//! ```text
//!  app ──► listener (TCP or unix:) ──► client token? ──► route (ids, allow-list) ──► scrub
//!        ──► lend token (send guard) ──► Graph API ──► 190? renew + retry once ──► app
//! ```
//!
//! Files: `accounts.rs` (the accounts it routes by, following reloads), `route.rs` (which
//! account, allowed or not; pure), `scrub.rs` (credentials out; pure),
//! `json_keys.rs` (a JSON body's top-level keys, read without building it), `body.rs` (buffer
//! for retry or stream), `bodies.rs` (the body types, unboxed), `forward.rs` (one request), `reply.rs` (the proxy's own error
//! answers), `target.rs` (the upstream path, query and headers), `upstream.rs` (the HTTP client to the
//! Graph API), `pool.rs` (its keep-alive connections).

mod accounts;
mod bodies;
mod body;
mod forward;
mod json_keys;
mod pool;
mod reply;
pub mod route;
pub mod scrub;
mod target;
mod upstream;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::http::{HeaderMap, StatusCode};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::bearer::BearerCheck;
use crate::config::{Listen, Settings};
use crate::engine::broker::TokenBroker;
use bodies::Reply;
use body::Limits;
use reply::proxy_error;
use route::AccountIds;

/// Names the account when the path holds none of its ids.
pub const ACCOUNT_HEADER: &str = "x-tokentop-account";

/// Everything a request needs; cheap to clone. One per listener thread, sharing all but the
/// upstream client, whose connections are driven on the thread that uses them.
#[derive(Clone)]
pub struct Proxy {
    inner: Arc<Inner>,
    upstream: Arc<upstream::Upstream>,
}

pub struct Inner {
    broker: TokenBroker,
    accounts: Vec<AccountIds>,
    allow: Vec<String>,
    /// `[graph] base-url`'s path without a trailing slash, parsed once: a request's path and
    /// query go upstream after it.
    graph_path: String,
    /// `[graph] base-url`, for the upstream clients (scheme and host).
    graph_uri: axum::http::Uri,
    client_token: BearerCheck,
    /// Each account's request slots, at its index in `accounts`.
    permits: Vec<Arc<Semaphore>>,
    max_concurrent: usize,
    retry_body_limit: u64,
    max_request_body: u64,
    timeout: Duration,
}

impl std::ops::Deref for Proxy {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.inner
    }
}

impl Proxy {
    pub fn new(settings: &Settings, broker: TokenBroker) -> anyhow::Result<Self> {
        let proxy = &settings.proxy;
        let graph_base = reqwest::Url::parse(&settings.graph.base_url)
            .context("[graph] base-url is not a URL")?;
        let graph_base = target::graph_base(&graph_base);
        let graph_uri = axum::http::Uri::try_from(graph_base.as_str())
            .context("[graph] base-url is not a URL")?;
        let graph_path = target::graph_path(&graph_uri).to_string();
        let upstream = upstream::Upstream::new(&graph_uri, proxy.timeout, proxy.max_concurrent)?;
        let accounts: Vec<AccountIds> =
            accounts::account_ids(settings.accounts.iter().map(AsRef::as_ref));
        let permits = accounts
            .iter()
            .map(|_| Arc::new(Semaphore::new(proxy.max_concurrent)))
            .collect();
        Ok(Self {
            inner: Arc::new(Inner {
                broker,
                accounts,
                allow: proxy.allow.clone(),
                graph_path,
                graph_uri,
                client_token: BearerCheck::new(proxy.client_token.as_ref()),
                permits,
                max_concurrent: proxy.max_concurrent,
                retry_body_limit: proxy.retry_body_limit,
                max_request_body: proxy.max_request_body,
                timeout: proxy.timeout,
            }),
            upstream: Arc::new(upstream),
        })
    }

    /// The same proxy with an upstream client of its own, for another listener thread.
    fn with_own_upstream(&self) -> anyhow::Result<Self> {
        let upstream = upstream::Upstream::new(&self.graph_uri, self.timeout, self.max_concurrent)?;
        Ok(Self {
            inner: self.inner.clone(),
            upstream: Arc::new(upstream),
        })
    }

    fn limits(&self) -> Limits {
        Limits {
            retry_body_limit: self.retry_body_limit,
            max_request_body: self.max_request_body,
        }
    }

    /// With a client token configured, the request must carry it as a bearer token.
    #[allow(clippy::result_large_err)]
    fn check_client(&self, headers: &HeaderMap) -> Result<(), Reply> {
        if self.client_token.allows(headers) {
            return Ok(());
        }
        Err(proxy_error(
            StatusCode::UNAUTHORIZED,
            "send `Authorization: Bearer <client token>` with the token of [proxy] client-token",
        ))
    }

    /// A slot among the account's (at `index` in `accounts`) `max-concurrent` upstream
    /// requests, waiting at most the proxy timeout for one.
    async fn permit(&self, index: usize) -> Result<Option<OwnedSemaphorePermit>, Reply> {
        let Some(semaphore) = self.permits.get(index) else {
            return Ok(None);
        };
        // A free slot is taken without arming a timer (tokio's semaphore is fair: a waiting
        // request holds its place, this fails while one waits).
        if let Ok(permit) = semaphore.clone().try_acquire_owned() {
            return Ok(Some(permit));
        }
        match tokio::time::timeout(self.timeout, semaphore.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(Some(permit)),
            _ => Err(proxy_error(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!(
                    "account {} already has {} requests in flight and none finished within {} s ([proxy] max-concurrent, timeout)",
                    self.accounts.get(index).map_or("", |a| a.name.as_str()),
                    self.max_concurrent,
                    self.timeout.as_secs()
                ),
            )),
        }
    }
}

/// Binds `[proxy] listen` and serves until the process ends. Returns where it listens.
pub async fn start(settings: &Settings, broker: TokenBroker) -> anyhow::Result<Option<String>> {
    let Some(listen) = settings.proxy.listen.clone() else {
        return Ok(None);
    };
    let proxy = Proxy::new(settings, broker)?;
    // Each listener thread follows the running accounts with a proxy of its own upstream
    // client (its connections are driven on that thread).
    let mut first = Some(proxy.clone());
    let app_for_thread = || {
        let proxy = match first.take() {
            Some(proxy) => proxy,
            None => proxy.with_own_upstream()?,
        };
        Ok(accounts::service(accounts::follow(proxy)))
    };
    let limits = crate::listener::Limits::new("the Graph API proxy");
    let threads = threads();
    let shown = crate::listener::threads::serve(
        &listen,
        threads,
        "tokentop-proxy",
        app_for_thread,
        limits,
        "[proxy] listen",
    )
    .await?;
    tracing::info!("Graph API proxy on {shown}");
    Ok(Some(shown))
}

/// Environment override of the proxy's thread count (for measuring; see `threads`).
pub const THREADS_ENV: &str = "TOKENTOP_PROXY_THREADS";

/// The proxy's listener threads: `TOKENTOP_PROXY_THREADS` when set to a count, else one per
/// core (at most [`crate::listener::threads::MAX_THREADS`]).
fn threads() -> usize {
    std::env::var(THREADS_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .map_or_else(crate::listener::threads::thread_count, |n| {
            n.clamp(1, crate::listener::threads::MAX_THREADS)
        })
}

/// The address form a client uses, for messages.
pub fn describe(listen: &Listen) -> String {
    match listen {
        Listen::Tcp(addr) => format!("http://{addr}"),
        Listen::Unix(path) => format!("unix:{}", path.display()),
    }
}
