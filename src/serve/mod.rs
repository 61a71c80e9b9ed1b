//! The HTTP endpoint for on-call tools (`[serve] listen`, `--listen`): `/metrics` for
//! Prometheus, `/healthz` and `/readyz` for probes, `/status` for the live `check --json`.
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

pub mod cluster_metrics;
mod http;
pub mod labels;
pub mod metrics;
mod monitor;
pub mod publish_metrics;
pub mod status;
pub mod webhook_metrics;

use std::net::SocketAddr;

use anyhow::Context;
use secrecy::SecretString;
use tokio::sync::mpsc::UnboundedReceiver;

use crate::config::Settings;
use crate::engine::history::HistoryLog;
use crate::engine::{EngineEvent, EngineHandle};
use crate::graph::{RequestCounts, ServedVersions};

pub use metrics::{Format, Metrics};

/// Where to listen and who may ask.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub listen: SocketAddr,
    pub bearer_token: Option<SecretString>,
}

impl ServeOptions {
    /// `--listen` over `[serve] listen`; `None` when neither is set (serving is off).
    pub fn from_settings(settings: &Settings, listen_flag: Option<SocketAddr>) -> Option<Self> {
        let listen = listen_flag.or(settings.serve.listen)?;
        Some(Self {
            listen,
            bearer_token: settings.serve.bearer_token.clone(),
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
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {} ([serve] listen / --listen)",
                options.listen
            )
        })?;
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
    let monitor = monitor::spawn(settings.clone(), history, engine, graph, relay);
    let events = monitor::tee(events, monitor.clone());
    let app = http::router(monitor, options.bearer_token.clone());
    let limits = crate::listener::Limits::new("the /metrics endpoint");
    tokio::spawn(crate::listener::serve(listener, app, limits));
    tracing::info!("serving /metrics, /healthz, /readyz and /status on http://{local_addr}");
    Ok(Serving { local_addr, events })
}
