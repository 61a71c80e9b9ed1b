//! The HTTP endpoint for on-call tools (`[serve] listen`, `--listen`): `/metrics` for
//! Prometheus, `/healthz` and `/readyz` for probes, `/status` for the live `check --json`, and
//! with `token-endpoint = true` the accounts' tokens for their readers (`token_endpoint`),
//! which it serves only on loopback or with TLS (`tls-cert`, `tls-key`).
//!
//! ```text
//!  engine events ──► tee ──► the daemon's / dashboard's own loop (unchanged)
//!                     │
//!                     └──► monitor task (owns Metrics + LiveStatus) ◄── queries ── HTTP handlers
//! ```
//!
//! The monitor task is the only owner of the metrics and the status: handlers ask it through
//! a channel and get owned answers, so nothing is shared behind a lock. `/healthz` sends the
//! engine a ping and waits for its pong to come back through the tee, which proves that the
//! engine's router and the event path both answer.

mod account_info_metrics;
mod account_set_metrics;
pub mod cluster_metrics;
mod http;
pub mod labels;
pub mod metrics;
mod monitor;
pub mod publish_metrics;
mod series_order;
mod state_sets;
pub mod status;
pub mod token_endpoint;
pub mod token_metrics;
mod undelivered_metrics;
pub mod webhook_metrics;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, bail};
use secrecy::SecretString;
use tokio::sync::mpsc::UnboundedReceiver;

use crate::config::{Settings, TlsFiles};
use crate::engine::history::HistoryLog;
use crate::engine::{EngineEvent, EngineHandle};
use crate::graph::{RequestCounts, ServedVersions};

pub use metrics::{Format, Metrics};

/// Where to listen and who may ask.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub listen: SocketAddr,
    pub bearer_token: Option<SecretString>,
    /// `[serve] tls-cert` and `tls-key`: HTTPS on the listener itself.
    pub tls: Option<TlsFiles>,
}

impl ServeOptions {
    /// `--listen` over `[serve] listen`; `None` when neither is set (serving is off).
    pub fn from_settings(settings: &Settings, listen_flag: Option<SocketAddr>) -> Option<Self> {
        let listen = listen_flag.or(settings.serve.listen)?;
        Some(Self {
            listen,
            bearer_token: settings.serve.bearer_token.clone(),
            tls: settings.serve.tls.clone(),
        })
    }
}

/// A running endpoint.
pub struct Serving {
    /// The address actually bound (the port is chosen by the OS for port 0).
    pub local_addr: SocketAddr,
    /// The engine's events, to read instead of the engine's own receiver.
    pub events: UnboundedReceiver<EngineEvent>,
}

/// Binds `options.listen`, starts the monitor and the HTTP server, and puts a tee between
/// the engine's events and their reader.
pub async fn start(
    options: &ServeOptions,
    settings: &Settings,
    engine: EngineHandle,
    events: UnboundedReceiver<EngineEvent>,
    graph_requests: Option<RequestCounts>,
    served_versions: Option<ServedVersions>,
    relay: Option<crate::webhook::RelayStats>,
) -> anyhow::Result<Serving> {
    let token_endpoint = settings.serve.token_endpoint;
    if token_endpoint && options.tls.is_none() && !options.listen.ip().is_loopback() {
        bail!(
            "[serve] token-endpoint = true on {}, which is not loopback, without TLS: the tokens would cross the network in the clear; set [serve] tls-cert and tls-key, or listen on 127.0.0.1 (a sidecar reaches it there)",
            options.listen
        );
    }
    let tls = options
        .tls
        .as_ref()
        .map(crate::listener::tls::ReloadableConfig::load)
        .transpose()
        .context("[serve] tls-cert / tls-key")?;
    let listener =
        crate::listener::bind::bind_tcp(&options.listen, "[serve] listen / --listen").await?;
    let local_addr = listener
        .local_addr()
        .context("cannot read the bound address")?;
    if !local_addr.ip().is_loopback() && options.bearer_token.is_none() {
        tracing::warn!(
            "serving on {local_addr}, which is not loopback, without [serve] bearer-token: anyone who reaches it can read the metrics and status"
        );
    }
    let history = HistoryLog::new(&settings.data_dir)
        .load()
        .unwrap_or_else(|err| {
            tracing::warn!("/status starts without the history file: {err}");
            Vec::new()
        });
    let graph = monitor::GraphRecords {
        requests: graph_requests,
        served_versions,
    };
    let token_reads = token_endpoint.then(|| allowed_reads(settings));
    let broker = engine.token_broker();
    let monitor = monitor::spawn(
        settings.clone(),
        history,
        engine,
        graph,
        relay,
        token_reads.clone(),
    );
    let events = monitor::tee(events, monitor.clone());
    let mut app = http::router(monitor, options.bearer_token.clone());
    if let Some(reads) = token_reads {
        let endpoint = token_endpoint::TokenEndpoint::new(settings, broker, reads);
        app = app.merge(token_endpoint::router(Arc::new(endpoint)));
    }
    let limits = crate::listener::Limits::new("the /metrics endpoint");
    let scheme = match tls {
        Some(config) => {
            config.reload_on_sighup("the /metrics endpoint");
            let listener = crate::listener::tls::TlsListener::new(listener, config);
            tokio::spawn(crate::listener::serve(listener, app, limits));
            "https"
        }
        None => {
            tokio::spawn(crate::listener::serve(listener, app, limits));
            "http"
        }
    };
    let tokens = if token_endpoint {
        format!(" and {}", token_endpoint::ROUTE)
    } else {
        String::new()
    };
    tracing::info!(
        "serving /metrics, /healthz, /readyz, /status{tokens} on {scheme}://{local_addr}"
    );
    Ok(Serving { local_addr, events })
}

/// The read metrics, with a series for every (account, reader) the config allows.
fn allowed_reads(settings: &Settings) -> token_metrics::TokenReadMetrics {
    let pairs: Vec<(String, String)> = settings
        .accounts
        .iter()
        .flat_map(|account| {
            let readers = settings.serve.token_readers_of(&account.name);
            readers
                .into_iter()
                .map(|reader| (account.name.clone(), reader))
        })
        .collect();
    token_metrics::TokenReadMetrics::new(pairs.iter().map(|(a, r)| (a.as_str(), r.as_str())))
}
