//! The proxy's HTTP client to the Graph API: keep-alive connections of its own (`pool.rs`) on
//! hyper's HTTP/1 connections, with rustls verified by the platform verifier as reqwest's, so a
//! request costs no URL parsing or client layers it does not need (reqwest's were a third of
//! the proxy's CPU per request).
//! When the environment sends the Graph host through an HTTP proxy (`HTTPS_PROXY` and kin,
//! which reqwest honours), requests go through reqwest as they always did.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use anyhow::Context as _;
use axum::http::{Request, Response, Uri};
use bytes::Bytes;
use hyper::body::{Frame, SizeHint};
use hyper_util::client::legacy::connect::HttpConnector;
use tokio::time::{Instant, Sleep};

use super::bodies::{BoxError, FromGraph, UpstreamBody};
use super::pool::Pool;

type Connector = hyper_rustls::HttpsConnector<HttpConnector>;

/// Why no answer came back; each maps to one of the proxy's own errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamError {
    /// Nothing within `[proxy] timeout`.
    Timeout,
    /// No connection (refused, reset, DNS, TLS).
    Unreachable,
    /// Connected, but the request could not be sent (its body failed or was cut off).
    SendFailed,
}

/// The client, cheap to share.
pub struct Upstream {
    client: Via,
    timeout: Duration,
}

enum Via {
    Direct(Arc<Pool<Connector>>),
    /// The environment names an HTTP proxy for the Graph host; requests go to `origin`
    /// (`scheme://host[:port]`) with their path and query.
    SystemProxy {
        client: reqwest::Client,
        origin: String,
    },
}

/// reqwest's TCP settings, kept as they were: keep-alive probes, and a user timeout so a dead
/// peer does not hold a pooled connection.
const TCP_KEEPALIVE: Duration = Duration::from_secs(15);
const TCP_KEEPALIVE_RETRIES: u32 = 3;
const TCP_USER_TIMEOUT: Duration = Duration::from_secs(30);
/// How long an idle upstream connection is kept (reqwest's default).
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

impl Upstream {
    /// A client for `graph_base` (`[graph] base-url`) keeping up to `max_idle` idle
    /// connections, each request bounded by `timeout` from its start to its answer's end.
    pub fn new(graph_base: &Uri, timeout: Duration, max_idle: usize) -> anyhow::Result<Self> {
        crate::graph::install_tls_provider();
        let proxied = hyper_util::client::proxy::matcher::Matcher::from_system()
            .intercept(graph_base)
            .is_some();
        let client = if proxied {
            let client = reqwest::Client::builder()
                .timeout(timeout)
                .redirect(reqwest::redirect::Policy::none())
                .pool_max_idle_per_host(max_idle)
                .build()
                .context("cannot set up the proxy's HTTP client")?;
            let origin = match (graph_base.scheme_str(), graph_base.authority()) {
                (Some(scheme), Some(authority)) => format!("{scheme}://{authority}"),
                _ => anyhow::bail!("[graph] base-url has no scheme or host"),
            };
            Via::SystemProxy { client, origin }
        } else {
            Via::Direct(Arc::new(direct_pool(graph_base, max_idle)?))
        };
        Ok(Self { client, timeout })
    }

    /// Sends `request`, whose URI is the path and query (the origin form of a request line);
    /// the answer's body ends in an error once the timeout has passed.
    pub async fn send(
        &self,
        request: Request<UpstreamBody>,
    ) -> Result<Response<FromGraph>, UpstreamError> {
        match &self.client {
            Via::Direct(pool) => {
                let deadline = Instant::now() + self.timeout;
                let response = tokio::time::timeout_at(deadline, pool.send(request))
                    .await
                    .map_err(|_| UpstreamError::Timeout)??;
                Ok(response.map(|body| FromGraph::Direct(Deadline::new(body, deadline))))
            }
            Via::SystemProxy { client, origin } => {
                let mut request = request.map(|body| match body {
                    UpstreamBody::Whole(bytes) => reqwest::Body::from(bytes),
                    UpstreamBody::Stream(stream) => reqwest::Body::wrap_stream(stream),
                });
                let absolute = format!("{origin}{}", request.uri());
                *request.uri_mut() =
                    Uri::try_from(absolute).map_err(|_| UpstreamError::Unreachable)?;
                let request =
                    reqwest::Request::try_from(request).map_err(|_| UpstreamError::Unreachable)?;
                let response = client.execute(request).await.map_err(|err| {
                    if err.is_timeout() {
                        UpstreamError::Timeout
                    } else if err.is_body() || err.is_request() && !err.is_connect() {
                        UpstreamError::SendFailed
                    } else {
                        UpstreamError::Unreachable
                    }
                })?;
                Ok(http_response(response)
                    .map(|body| FromGraph::Proxied(axum::body::Body::new(body))))
            }
        }
    }
}

fn http_response(response: reqwest::Response) -> Response<reqwest::Body> {
    response.into()
}

/// Keep-alive HTTP/1.1 to the Graph host, TLS as reqwest sets it up (every protocol version
/// rustls has, the platform's verifier, ALPN http/1.1), no connect timeout but the request's.
/// The TLS configuration of every listener thread's client: made once, because each
/// making loads the platform's certificate verifier and its roots; a clone shares them.
static TLS: std::sync::OnceLock<rustls::ClientConfig> = std::sync::OnceLock::new();

fn tls_config() -> anyhow::Result<rustls::ClientConfig> {
    if let Some(tls) = TLS.get() {
        return Ok(tls.clone());
    }
    let provider = rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| std::sync::Arc::new(rustls::crypto::ring::default_provider()));
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(rustls::ALL_VERSIONS)
        .context("cannot set up TLS for the proxy")?;
    let tls = hyper_rustls::ConfigBuilderExt::try_with_platform_verifier(tls)
        .context("cannot load the platform's certificate verifier for the proxy")?
        .with_no_client_auth();
    Ok(TLS.get_or_init(|| tls).clone())
}

fn direct_pool(graph_base: &Uri, max_idle: usize) -> anyhow::Result<Pool<Connector>> {
    let tls = tls_config()?;
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    // Small requests and answers go out at once, on both legs.
    http.set_nodelay(true);
    http.set_keepalive(Some(TCP_KEEPALIVE));
    http.set_keepalive_interval(Some(TCP_KEEPALIVE));
    http.set_keepalive_retries(Some(TCP_KEEPALIVE_RETRIES));
    http.set_tcp_user_timeout(Some(TCP_USER_TIMEOUT));
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Pool::new(connector, graph_base, max_idle, POOL_IDLE_TIMEOUT)
        .context("[graph] base-url has no host")
}

/// An answer's body that fails once `deadline` passes, as reqwest's total timeout did. The
/// timer is armed only when the body has to wait.
pub struct Deadline<B> {
    body: B,
    deadline: Instant,
    timer: Option<Pin<Box<Sleep>>>,
}

impl<B> Deadline<B> {
    fn new(body: B, deadline: Instant) -> Self {
        Self {
            body,
            deadline,
            timer: None,
        }
    }
}

impl<B> hyper::body::Body for Deadline<B>
where
    B: hyper::body::Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.body).poll_frame(cx) {
            return Poll::Ready(frame.map(|frame| frame.map_err(Into::into)));
        }
        let deadline = this.deadline;
        let timer = this
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(
                "the Graph API's answer did not end within [proxy] timeout".into(),
            ))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::body::Body as _;

    /// A body that never sends anything.
    struct Silent;

    impl hyper::body::Body for Silent {
        type Data = Bytes;
        type Error = std::io::Error;
        fn poll_frame(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
            Poll::Pending
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_still_waiting_at_the_deadline_fails() {
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut body = std::pin::pin!(Deadline::new(Silent, deadline));
        let frame = std::future::poll_fn(|cx| body.as_mut().poll_frame(cx)).await;
        assert!(matches!(frame, Some(Err(_))));
        assert!(Instant::now() >= deadline);
    }

    fn get(url: &str) -> Request<UpstreamBody> {
        Request::get(url)
            .body(UpstreamBody::Whole(Bytes::new()))
            .unwrap()
    }

    /// A TLS server on loopback with the test CA's `localhost` certificate, which nothing
    /// trusts; it only completes handshakes.
    fn untrusted_tls_server() -> u16 {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tls");
        let chain: Vec<CertificateDer<'static>> =
            CertificateDer::pem_file_iter(dir.join("leaf.pem"))
                .unwrap()
                .map(Result::unwrap)
                .collect();
        let key = PrivateKeyDer::from_pem_file(dir.join("leaf.key")).unwrap();
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        let config = std::sync::Arc::new(config);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let Ok(mut connection) = rustls::ServerConnection::new(config.clone()) else {
                    continue;
                };
                while connection.is_handshaking() && connection.complete_io(&mut stream).is_ok() {}
            }
        });
        port
    }

    #[tokio::test]
    async fn a_graph_host_that_refuses_or_is_not_trusted_is_unreachable() {
        // A port nothing listens on: bound, then closed.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        let base: Uri = format!("http://127.0.0.1:{port}").parse().unwrap();
        let upstream = Upstream::new(&base, Duration::from_secs(10), 4).unwrap();
        let refused = upstream.send(get("/v21.0/me")).await;
        assert_eq!(refused.err(), Some(UpstreamError::Unreachable));
        // TLS is verified: the test CA is no root of this machine.
        let port = untrusted_tls_server();
        let base: Uri = format!("https://localhost:{port}").parse().unwrap();
        let upstream = Upstream::new(&base, Duration::from_secs(10), 4).unwrap();
        let untrusted = upstream.send(get("/v21.0/me")).await;
        assert_eq!(untrusted.err(), Some(UpstreamError::Unreachable));
    }

    #[tokio::test]
    async fn a_body_that_is_there_passes_without_a_timer() {
        let deadline = Instant::now();
        let body = Deadline::new(axum::body::Body::from("answer"), deadline);
        assert_eq!(body.size_hint().exact(), Some(6));
        let bytes = axum::body::to_bytes(axum::body::Body::new(body), 64)
            .await
            .unwrap();
        assert_eq!(&bytes[..], b"answer");
    }
}
