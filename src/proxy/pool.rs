//! The keep-alive connections of one listener thread to the Graph host, driven with hyper's
//! own HTTP/1 connection API. `hyper_util`'s pooled client did the same with more per request:
//! a boxed future, a pool keyed and hashed by scheme and host (looked up twice), a connector
//! cloned for a connect that a pooled connection made unneeded, and the connection's address
//! info put into every answer's extensions (a map allocated per answer); issue 21's profile
//! counted a fifth of the proxy thread's allocations there.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::http::{HeaderValue, Request, Response, Uri, header};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use tokio::time::Instant;

use super::bodies::UpstreamBody;
use super::upstream::UpstreamError;

/// An idle connection, and since when.
struct Idle {
    sender: SendRequest<UpstreamBody>,
    since: Instant,
}

/// Connections to one host, most recently used first out.
pub struct Pool<C> {
    connector: C,
    /// `scheme://host[:port]`, what the connector connects to.
    origin: Uri,
    /// The `Host` header every request carries.
    host: HeaderValue,
    idle: Mutex<VecDeque<Idle>>,
    max_idle: usize,
    idle_timeout: Duration,
}

impl<C> Pool<C>
where
    C: axum::ServiceExt<Uri> + Clone + Send + Sync + 'static,
    C::Response: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    C::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    C::Future: Send,
{
    /// `None` when `origin` has no host.
    pub fn new(
        connector: C,
        origin: &Uri,
        max_idle: usize,
        idle_timeout: Duration,
    ) -> Option<Self> {
        let authority = origin.authority()?;
        let host = HeaderValue::from_str(authority.as_str()).ok()?;
        let origin = Uri::builder()
            .scheme(origin.scheme()?.clone())
            .authority(authority.clone())
            .path_and_query("/")
            .build()
            .ok()?;
        Some(Self {
            connector,
            origin,
            host,
            idle: Mutex::new(VecDeque::new()),
            max_idle,
            idle_timeout,
        })
    }

    /// Sends `request` (whose URI holds the path and query; scheme and host are this pool's)
    /// on an idle connection or a new one. A request that a reused connection closed before
    /// taking it (the host ended an idle connection meanwhile) goes on another.
    pub async fn send(
        self: &Arc<Self>,
        mut request: Request<UpstreamBody>,
    ) -> Result<Response<Incoming>, UpstreamError> {
        request
            .headers_mut()
            .insert(header::HOST, self.host.clone());
        loop {
            let (mut sender, reused) = match self.checkout() {
                Some(sender) => (sender, true),
                None => (self.connect().await?, false),
            };
            match sender.try_send_request(request).await {
                Ok(response) => {
                    self.give_back(sender);
                    return Ok(response);
                }
                Err(mut err) => match err.take_message() {
                    Some(unsent) if reused => request = unsent,
                    _ => return Err(UpstreamError::SendFailed),
                },
            }
        }
    }

    /// The most recently used idle connection that is still open; older ones past the idle
    /// timeout are closed on the way.
    fn checkout(&self) -> Option<SendRequest<UpstreamBody>> {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        while let Some(entry) = idle.pop_back() {
            if entry.since.elapsed() < self.idle_timeout && entry.sender.is_ready() {
                return Some(entry.sender);
            }
        }
        None
    }

    /// Back into the pool once the connection can take the next request: at once when the
    /// answer was read whole already (the usual small answer), else when its body ends.
    fn give_back(self: &Arc<Self>, mut sender: SendRequest<UpstreamBody>) {
        if sender.is_ready() {
            self.keep(sender);
            return;
        }
        let pool = self.clone();
        tokio::spawn(async move {
            if sender.ready().await.is_ok() {
                pool.keep(sender);
            }
        });
    }

    fn keep(&self, sender: SendRequest<UpstreamBody>) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        while idle.len() >= self.max_idle.max(1)
            || idle
                .front()
                .is_some_and(|oldest| oldest.since.elapsed() >= self.idle_timeout)
        {
            idle.pop_front();
        }
        idle.push_back(Idle {
            sender,
            since: Instant::now(),
        });
    }

    /// A new connection (TCP, then TLS for https), its I/O driven by a task of its own.
    async fn connect(&self) -> Result<SendRequest<UpstreamBody>, UpstreamError> {
        let mut connector = self.connector.clone();
        std::future::poll_fn(|cx| connector.poll_ready(cx))
            .await
            .map_err(|_| UpstreamError::Unreachable)?;
        let io = connector
            .call(self.origin.clone())
            .await
            .map_err(|_| UpstreamError::Unreachable)?;
        let (sender, connection) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(|_| UpstreamError::Unreachable)?;
        // The connection ends when the host closes it or every sender is dropped.
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(sender)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use hyper_util::client::legacy::connect::HttpConnector;
    use hyper_util::rt::TokioIo;

    use super::*;

    /// A host on loopback answering `ok` to each request, counting the connections it took;
    /// with `one_answer_each` it closes every connection after its first answer, as a host
    /// ending idle keep-alive connections does.
    async fn host(one_answer_each: bool) -> (Uri, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin: Uri = format!("http://{}", listener.local_addr().unwrap())
            .parse()
            .unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counted = accepted.clone();
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                counted.fetch_add(1, Ordering::SeqCst);
                let service = hyper::service::service_fn(|request: Request<Incoming>| async move {
                    let host = request.headers().get(header::HOST).cloned();
                    let mut answer = Response::new(format!("ok {}", request.uri()));
                    if let Some(host) = host {
                        answer.headers_mut().insert("x-host", host);
                    }
                    Ok::<_, std::convert::Infallible>(answer)
                });
                let mut http = hyper::server::conn::http1::Builder::new();
                http.keep_alive(!one_answer_each);
                tokio::spawn(http.serve_connection(TokioIo::new(stream), service));
            }
        });
        (origin, accepted)
    }

    fn pool(origin: &Uri) -> Arc<Pool<HttpConnector>> {
        let mut connector = HttpConnector::new();
        connector.enforce_http(false);
        Arc::new(Pool::new(connector, origin, 4, Duration::from_secs(90)).unwrap())
    }

    async fn get(pool: &Arc<Pool<HttpConnector>>, path: &'static str) -> (String, String) {
        let request = Request::get(Uri::from_static(path))
            .body(UpstreamBody::Whole(bytes::Bytes::new()))
            .unwrap();
        let answer = pool.send(request).await.unwrap();
        let host = answer.headers()["x-host"].to_str().unwrap().to_string();
        let body = super::super::bodies::read_whole(answer.into_body(), 1024)
            .await
            .unwrap();
        (String::from_utf8(body.to_vec()).unwrap(), host)
    }

    #[tokio::test]
    async fn requests_go_in_origin_form_with_the_host_and_reuse_the_connection() {
        let (origin, accepted) = host(false).await;
        let pool = pool(&origin);
        for path in ["/v21.0/1/messages?a=1", "/v21.0/2"] {
            let (body, host) = get(&pool, path).await;
            assert_eq!(body, format!("ok {path}"));
            assert_eq!(host, origin.authority().unwrap().as_str());
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_connection_the_host_closed_is_not_used_again() {
        let (origin, accepted) = host(true).await;
        let pool = pool(&origin);
        for _ in 0..3 {
            assert_eq!(get(&pool, "/x").await.0, "ok /x");
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 3);
    }
}
