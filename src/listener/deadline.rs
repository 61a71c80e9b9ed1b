//! The head-and-idle deadline of one connection: a client must send each request head within
//! the listener's timeout of the connection opening or of the previous answer's end, or the
//! connection is closed (idle keep-alive connections and slow-loris heads alike). hyper's own
//! header-read timeout did this by boxing and arming a timer for every request head and
//! dropping it once the head was read, a timer-wheel insert and removal and an allocation per
//! request (issue 21); here one timer per connection is armed when it opens and moved only
//! when it fires, and a request costs two atomic stores and a clock read.

use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::http::{Request, Response};
use futures_util::FutureExt;
use futures_util::future::{Join, Map, Ready};
use hyper::body::{Frame, Incoming, SizeHint};
use tokio::time::Instant;

/// What one connection's deadline reads: requests in flight, and when the last one ended.
struct State {
    opened: Instant,
    /// Requests taken and not answered to their body's end (one at a time in HTTP/1.1).
    busy: AtomicU32,
    /// When the last answer ended, in nanoseconds after `opened` (0: none yet).
    idle_since_ns: AtomicU64,
}

impl State {
    fn idle_since(&self) -> Instant {
        self.opened + Duration::from_nanos(self.idle_since_ns.load(Ordering::Acquire))
    }

    /// At `now`, when the timer fired: the next time to look, or `None` when the client has
    /// been waited for the whole `limit` without sending a head.
    fn next_check(&self, now: Instant, limit: Duration) -> Option<Instant> {
        if self.busy.load(Ordering::Acquire) > 0 {
            // A request in flight (its body, the upstream call, a long answer) is bounded by
            // the service's own timeouts, not this one.
            return Some(now + limit);
        }
        let due = self.idle_since() + limit;
        (due > now).then_some(due)
    }
}

/// The deadline of one connection: wrap its service with [`Deadline::service`] and drive the
/// connection with [`Deadline::drive`].
#[derive(Clone)]
pub struct Deadline {
    state: Arc<State>,
    limit: Duration,
}

impl Deadline {
    pub fn new(limit: Duration) -> Self {
        Self {
            state: Arc::new(State {
                opened: Instant::now(),
                busy: AtomicU32::new(0),
                idle_since_ns: AtomicU64::new(0),
            }),
            limit,
        }
    }

    /// `service` with every request counted in flight until its answer's body is dropped
    /// (hyper drops it once it is written, or when the connection ends).
    pub fn service<S>(&self, service: S) -> Tracked<S> {
        Tracked {
            inner: service,
            state: self.state.clone(),
        }
    }

    /// Drives `connection` to its end, or drops it (closing the socket) once the client left
    /// it without a request head for the whole limit; `None` then.
    pub async fn drive<F: Future>(self, connection: F) -> Option<F::Output> {
        let mut connection = pin!(connection);
        let mut timer = pin!(tokio::time::sleep_until(self.state.opened + self.limit));
        poll_fn(|cx| {
            if let Poll::Ready(done) = connection.as_mut().poll(cx) {
                return Poll::Ready(Some(done));
            }
            // Polling a registered timer is a few atomics; it is re-armed only when it fires.
            while timer.as_mut().poll(cx).is_ready() {
                match self.state.next_check(Instant::now(), self.limit) {
                    Some(next) => timer.as_mut().reset(next),
                    None => return Poll::Ready(None),
                }
            }
            Poll::Pending
        })
        .await
    }
}

/// A request in flight; when dropped, the connection waits for the next head from now.
pub struct Busy(Arc<State>);

impl Busy {
    fn begin(state: &Arc<State>) -> Self {
        state.busy.fetch_add(1, Ordering::AcqRel);
        Busy(state.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        let since = Instant::now().saturating_duration_since(self.0.opened);
        let since_ns = u64::try_from(since.as_nanos()).unwrap_or(u64::MAX);
        self.0.idle_since_ns.store(since_ns, Ordering::Release);
        self.0.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A connection's service, counting its requests in flight.
#[derive(Clone)]
pub struct Tracked<S> {
    inner: S,
    state: Arc<State>,
}

type Answered<B, E> = Result<Response<TrackedBody<B>>, E>;

/// A function pointer, not a closure, so that the future's type can be named without a box.
type Attach<B, E> = fn((Result<Response<B>, E>, Busy)) -> Answered<B, E>;

fn attach<B, E>((answer, busy): (Result<Response<B>, E>, Busy)) -> Answered<B, E> {
    answer.map(|response| response.map(|body| TrackedBody { body, _busy: busy }))
}

impl<S, B> hyper::service::Service<Request<Incoming>> for Tracked<S>
where
    S: hyper::service::Service<Request<Incoming>, Response = Response<B>>,
{
    type Response = Response<TrackedBody<B>>;
    type Error = S::Error;
    type Future = Map<Join<S::Future, Ready<Busy>>, Attach<B, S::Error>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let busy = Busy::begin(&self.state);
        futures_util::future::join(self.inner.call(request), futures_util::future::ready(busy))
            .map(attach as Attach<B, S::Error>)
    }
}

/// An answer's body, holding its request in flight until it is dropped.
pub struct TrackedBody<B> {
    body: B,
    _busy: Busy,
}

impl<B> hyper::body::Body for TrackedBody<B>
where
    B: hyper::body::Body + Unpin,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
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
    use std::convert::Infallible;

    use axum::Router;
    use axum::routing::get;
    use bytes::Bytes;
    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
    use tokio::sync::mpsc;

    use super::*;
    use crate::listener::{Accept, Limits};

    const LIMIT: Duration = Duration::from_secs(10);

    /// In-memory connections, so that the paused clock orders every step.
    struct Duplexes(mpsc::UnboundedReceiver<DuplexStream>);

    impl Accept for Duplexes {
        type Io = DuplexStream;
        async fn accept(&mut self) -> std::io::Result<DuplexStream> {
            match self.0.recv().await {
                Some(io) => Ok(io),
                None => std::future::pending().await,
            }
        }
    }

    /// A listener with `/` (at once), `/slow` (after 2.5 limits) and `/drip` (four chunks over
    /// two limits); returns a way to connect to it.
    fn start() -> impl Fn() -> DuplexStream {
        let app = Router::new()
            .route("/", get(|| async { "ok" }))
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(LIMIT * 5 / 2).await;
                    "slow"
                }),
            )
            .route(
                "/drip",
                get(|| async {
                    let chunks = futures_util::stream::unfold(0, |sent| async move {
                        if sent == 4 {
                            return None;
                        }
                        tokio::time::sleep(LIMIT / 2).await;
                        Some((Ok::<_, Infallible>(Bytes::from_static(b"drop")), sent + 1))
                    });
                    axum::body::Body::from_stream(chunks)
                }),
            );
        let (connect, accepted) = mpsc::unbounded_channel();
        let limits = Limits {
            head_and_idle_timeout: LIMIT,
            ..Limits::new("test")
        };
        let open = Arc::new(tokio::sync::Semaphore::new(8));
        let service = hyper_util::service::TowerToHyperService::new(app);
        tokio::spawn(super::super::serve_within(
            Duplexes(accepted),
            service,
            limits,
            open,
        ));
        move || {
            let (client, server) = tokio::io::duplex(64 * 1024);
            connect.send(server).unwrap();
            client
        }
    }

    /// Reads until what was read ends with `end`; the answer so far.
    async fn read_until(client: &mut DuplexStream, end: &[u8]) -> Vec<u8> {
        let mut seen = Vec::new();
        while !seen.ends_with(end) {
            let mut chunk = [0u8; 1024];
            let n = client.read(&mut chunk).await.unwrap();
            assert!(n > 0, "closed before {end:?}: {seen:?}");
            seen.extend_from_slice(&chunk[..n]);
        }
        seen
    }

    /// Waits for the server to close the connection; when it did. The bound (on the paused
    /// clock) only keeps a broken deadline from hanging the test.
    async fn closed(client: &mut DuplexStream) -> Instant {
        let mut rest = Vec::new();
        tokio::time::timeout(LIMIT * 10, client.read_to_end(&mut rest))
            .await
            .expect("the server kept the connection open")
            .unwrap();
        assert!(rest.is_empty(), "{rest:?}");
        Instant::now()
    }

    #[tokio::test(start_paused = true)]
    async fn a_head_sent_a_line_at_a_time_is_cut_off_at_the_limit() {
        let connect = start();
        let mut client = connect();
        let opened = Instant::now();
        client
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        // A header line every 3 s: never idle for long, never a whole head.
        let mut cut_at = None;
        for _ in 0..10 {
            tokio::select! {
                at = closed(&mut client) => { cut_at = Some(at); break; }
                () = tokio::time::sleep(Duration::from_secs(3)) => {}
            }
            if client.write_all(b"X-Slow: yes\r\n").await.is_err() {
                cut_at = Some(Instant::now());
                break;
            }
        }
        let cut_at = cut_at.expect("the slow head was never cut off");
        assert!(cut_at >= opened + LIMIT, "{:?}", cut_at - opened);
        assert!(
            cut_at <= opened + LIMIT + Duration::from_secs(3),
            "{:?}",
            cut_at - opened
        );
    }

    #[tokio::test(start_paused = true)]
    async fn long_requests_and_answers_are_not_cut_and_idle_time_counts_from_the_last_answer() {
        let connect = start();
        let mut client = connect();
        let asked = Instant::now();
        client
            .write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let answer = read_until(&mut client, b"slow").await;
        assert!(answer.starts_with(b"HTTP/1.1 200"), "{answer:?}");
        assert!(Instant::now() >= asked + LIMIT * 2);
        client
            .write_all(b"GET /drip HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let answer = read_until(&mut client, b"0\r\n\r\n").await;
        assert!(answer.starts_with(b"HTTP/1.1 200"), "{answer:?}");
        let answered = Instant::now();
        let cut_at = closed(&mut client).await;
        assert!(cut_at >= answered + LIMIT, "{:?}", cut_at - answered);
        assert!(cut_at < answered + LIMIT + Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_that_never_sends_a_head_is_closed_at_the_limit() {
        let connect = start();
        let mut client = connect();
        let opened = Instant::now();
        let cut_at = closed(&mut client).await;
        assert!(cut_at >= opened + LIMIT);
        assert!(cut_at < opened + LIMIT + Duration::from_secs(1));
    }
}
