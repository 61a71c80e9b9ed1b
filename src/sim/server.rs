//! [`RunningSim`]: the simulator served over HTTP on a local address.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Extensions, HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::request::{GraphRequest, parse_urlencoded};
use super::state::SimHandle;
use super::{SimConfig, control, encodings, graph};

/// How long [`RunningSim::shutdown`] waits for open connections before cutting them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A simulator serving HTTP; stops on [`RunningSim::shutdown`] or when dropped.
pub struct RunningSim {
    addr: SocketAddr,
    handle: SimHandle,
    shutdown_tx: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<io::Result<()>>>,
}

impl fmt::Debug for RunningSim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunningSim")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl RunningSim {
    /// Binds `listen` (port 0 picks a free port) and serves until shut down.
    pub async fn start(config: SimConfig, listen: SocketAddr) -> io::Result<RunningSim> {
        let listener = tokio::net::TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let handle = SimHandle::new(config);
        let app = router(handle.clone());
        let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    // A dropped sender also means stop.
                    let _ = shutdown_rx.await;
                })
                .await
        });
        Ok(RunningSim {
            addr,
            handle,
            shutdown_tx: Some(shutdown_tx),
            task: Some(task),
        })
    }

    /// The address actually bound.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`: an unspecified listen address is reached over loopback.
    pub fn base_url(&self) -> String {
        let ip = match self.addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            ip => ip,
        };
        format!("http://{}", SocketAddr::new(ip, self.addr.port()))
    }

    /// A handle on the simulator's state.
    pub fn handle(&self) -> SimHandle {
        self.handle.clone()
    }

    /// Stops accepting connections and waits (briefly) for open ones to finish.
    pub async fn shutdown(mut self) {
        // A stopped Meta posts nothing more: waiting statuses and retries are dropped.
        self.handle.clear_webhook_target();
        if let Some(shutdown_tx) = self.shutdown_tx.take() {
            let _ = shutdown_tx.send(());
        }
        if let Some(task) = self.task.take() {
            let abort = task.abort_handle();
            match tokio::time::timeout(SHUTDOWN_GRACE, task).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(err))) => tracing::warn!("simulator stopped with an error: {err}"),
                Ok(Err(err)) => tracing::warn!("simulator task failed: {err}"),
                Err(_) => {
                    tracing::warn!("simulator connections still open after the grace period");
                    abort.abort();
                }
            }
        }
    }
}

impl Drop for RunningSim {
    fn drop(&mut self) {
        self.handle.clear_webhook_target();
        if let Some(shutdown_tx) = self.shutdown_tx.take() {
            let _ = shutdown_tx.send(());
        }
    }
}

/// Largest request body the simulator reads: Meta's largest media upload (documents, 100 MB
/// in the Upload Media documentation's supported media types). axum's default (2 MB) would
/// refuse ordinary image and video uploads with a 413 Meta never sends.
const MAX_BODY_BYTES: usize = 100 * 1024 * 1024;

fn router(handle: SimHandle) -> Router {
    control::router()
        .fallback(graph_fallback)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(handle)
}

/// Every path that is not a control route is a Graph request.
async fn graph_fallback(
    State(sim): State<SimHandle>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    extensions: Extensions,
    body: Bytes,
) -> Response {
    // Paths carry ids only; the query (which can hold tokens) is never logged.
    tracing::debug!(%method, path = uri.path(), "graph request");
    if uri.path().starts_with("/_sim/") || uri.path() == "/_sim" {
        let message = "unknown control endpoint; see `tokentop sim --help`";
        return (
            StatusCode::NOT_FOUND,
            axum::Json(json!({ "message": message })),
        )
            .into_response();
    }
    let mut params = parse_urlencoded(uri.query().unwrap_or_default());
    let body = encodings::decode(&headers, &extensions, body).await;
    params.extend(body.params());
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            let (scheme, token) = value.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| token.trim().to_string())
        });
    let request = GraphRequest {
        method,
        path: uri.path().to_string(),
        params,
        bearer,
        body,
    };
    graph::serve(&sim, request).await.into_response()
}
