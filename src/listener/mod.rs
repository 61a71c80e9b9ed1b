//! The accept loop of tokentop's HTTP listeners (the proxy, `[serve]`, the webhook relay): a
//! cap on open connections, and a timeout on reading each request head, which also closes a
//! keep-alive connection left idle between requests (`deadline.rs`). `axum::serve` has
//! neither, so half-open or idle clients piled up until the daemon ran out of file descriptors
//! (and history and telemetry writes failed with it).

pub mod bind;
mod deadline;
pub mod threads;
pub mod tls;

use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::Semaphore;
use tokio::time::Instant;

/// How long a client may take to send a request head, and how long a keep-alive connection
/// may sit idle before the next one (nginx's `keepalive_timeout` default).
pub const HEAD_AND_IDLE_TIMEOUT: Duration = Duration::from_secs(75);

/// Connections open at once per listener; more are closed at once, with a log line.
pub const MAX_CONNECTIONS: usize = 1024;

/// At most one "too many connections" line per this long: a flood must not flood the log.
const FULL_LOG_EVERY: Duration = Duration::from_secs(10);

/// After a failed accept (out of file descriptors, say): wait before the next, rather than
/// spinning on the error.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// How a listener serves: its name for log lines and its limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// "the Graph API proxy", "the /metrics endpoint": names the listener in log lines.
    pub name: &'static str,
    pub max_connections: usize,
    pub head_and_idle_timeout: Duration,
}

impl Limits {
    pub fn new(name: &'static str) -> Self {
        Self {
            name,
            max_connections: MAX_CONNECTIONS,
            head_and_idle_timeout: HEAD_AND_IDLE_TIMEOUT,
        }
    }
}

/// A listener that hands out connections: TCP or a Unix socket.
pub trait Accept: Send + 'static {
    type Io: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    fn accept(&mut self) -> impl Future<Output = io::Result<Self::Io>> + Send;
}

impl Accept for tokio::net::TcpListener {
    type Io = tokio::net::TcpStream;
    async fn accept(&mut self) -> io::Result<Self::Io> {
        let (stream, _) = tokio::net::TcpListener::accept(self).await?;
        // Small answers go out at once, as axum::serve did.
        let _ = stream.set_nodelay(true);
        Ok(stream)
    }
}

impl Accept for tokio::net::UnixListener {
    type Io = tokio::net::UnixStream;
    async fn accept(&mut self) -> io::Result<Self::Io> {
        let (stream, _) = tokio::net::UnixListener::accept(self).await?;
        Ok(stream)
    }
}

/// Serves `app` on `listener` until the process ends (HTTP/1.1, as before).
pub async fn serve(listener: impl Accept, app: Router, limits: Limits) {
    let open = Arc::new(Semaphore::new(limits.max_connections));
    serve_within(listener, TowerToHyperService::new(app), limits, open).await;
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What a listener serves: an axum `Router` (as a hyper service), or a hyper service of its
/// own (the proxy's, which has no routes to look up); one clone per connection.
pub trait Service:
    hyper::service::Service<
        Request<Incoming>,
        Response = Response<Self::Body>,
        Error: Into<BoxError> + Send,
        Future: Send + 'static,
    > + Clone
    + Send
    + 'static
{
    type Body: hyper::body::Body<Data: Send, Error: Into<BoxError>> + Send + Unpin + 'static;
}

impl<S, B> Service for S
where
    S: hyper::service::Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Error: Into<BoxError> + Send,
    S::Future: Send + 'static,
    B: hyper::body::Body + Send + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    type Body = B;
}

/// As [`serve`], the open connections counted in `open`, which other accept loops of the same
/// listener share (`threads.rs`).
pub async fn serve_within(
    mut listener: impl Accept,
    app: impl Service,
    limits: Limits,
    open: Arc<Semaphore>,
) {
    let mut http = hyper::server::conn::http1::Builder::new();
    // hyper's own header-read timeout (30 s unless set) armed a boxed timer per request head;
    // each connection's `Deadline` keeps the same limit with one timer per connection.
    http.timer(TokioTimer::new()).header_read_timeout(None);
    let mut last_full_log: Option<Instant> = None;
    loop {
        let io = match listener.accept().await {
            Ok(io) => io,
            Err(err) => {
                tracing::warn!("{}: cannot accept a connection: {err}", limits.name);
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let Ok(permit) = open.clone().try_acquire_owned() else {
            if last_full_log.is_none_or(|at| at.elapsed() >= FULL_LOG_EVERY) {
                tracing::warn!(
                    "{}: {} connections are open, the most it keeps; closing new ones until some end (idle ones close after {} s)",
                    limits.name,
                    limits.max_connections,
                    limits.head_and_idle_timeout.as_secs()
                );
                last_full_log = Some(Instant::now());
            }
            drop(io);
            continue;
        };
        let deadline = deadline::Deadline::new(limits.head_and_idle_timeout);
        let connection = http
            .serve_connection(TokioIo::new(io), deadline.service(app.clone()))
            .with_upgrades();
        tokio::spawn(async move {
            // A client that goes away or times out ends only its own connection.
            let _ = deadline.drive(connection).await;
            drop(permit);
        });
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    use super::*;

    async fn start(max_connections: usize, timeout: Duration) -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new().route("/", axum::routing::get(|| async { "ok" }));
        let limits = Limits {
            name: "test",
            max_connections,
            head_and_idle_timeout: timeout,
        };
        tokio::spawn(serve(listener, app, limits));
        addr
    }

    /// Reads until the server closes the connection; the bound only keeps a broken test from
    /// hanging.
    async fn closed_by_server(stream: &mut TcpStream) -> Vec<u8> {
        let mut seen = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut seen))
            .await
            .expect("the server kept the connection open")
            .unwrap();
        seen
    }

    #[tokio::test]
    async fn idle_and_slow_heads_are_closed_and_the_cap_holds() {
        let addr = start(2, Duration::from_millis(300)).await;
        // Idle after one request on a keep-alive connection, and a head that never ends.
        let mut idle = TcpStream::connect(addr).await.unwrap();
        idle.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut slow = TcpStream::connect(addr).await.unwrap();
        slow.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        // Both slots are taken: a third connection is closed without an answer.
        let mut third = TcpStream::connect(addr).await.unwrap();
        assert!(closed_by_server(&mut third).await.is_empty());
        let answered = closed_by_server(&mut idle).await;
        assert!(answered.starts_with(b"HTTP/1.1 200"), "{answered:?}");
        closed_by_server(&mut slow).await;
        // The slots are free again.
        let mut next = TcpStream::connect(addr).await.unwrap();
        next.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        assert!(
            closed_by_server(&mut next)
                .await
                .starts_with(b"HTTP/1.1 200")
        );
    }
}
