//! A listener served by threads of its own, each a single-threaded runtime with its own accept
//! loop on the same socket, as nginx's workers: a connection, its requests and the upstream
//! calls they make stay on one thread. On the shared multi-threaded runtime, each request hopped
//! between worker threads (the connection's task, the upstream connection's task, the wake-ups
//! in between), which added about 60 us to a proxied request at one connection (issue 21).

use std::sync::Arc;

use anyhow::Context;
use tokio::sync::Semaphore;

use super::bind::{bind_tcp, bind_unix};
use super::{Limits, Service};
use crate::config::Listen;

/// Threads for a listener: one per core, at most [`MAX_THREADS`].
pub fn thread_count() -> usize {
    std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .clamp(1, MAX_THREADS)
}

/// A busy proxy is bound by the Graph API and the network long before this many cores.
pub const MAX_THREADS: usize = 8;

/// A bound socket each thread can take its own handle of.
enum Bound {
    Tcp(std::net::TcpListener),
    Unix(std::os::unix::net::UnixListener),
}

impl Bound {
    fn try_clone(&self) -> std::io::Result<Bound> {
        Ok(match self {
            Bound::Tcp(listener) => Bound::Tcp(listener.try_clone()?),
            Bound::Unix(listener) => Bound::Unix(listener.try_clone()?),
        })
    }

    /// Serves on the runtime this runs in.
    async fn serve(
        self,
        app: impl Service,
        limits: Limits,
        open: Arc<Semaphore>,
    ) -> std::io::Result<()> {
        match self {
            Bound::Tcp(listener) => {
                let listener = tokio::net::TcpListener::from_std(listener)?;
                super::serve_within(listener, app, limits, open).await;
            }
            Bound::Unix(listener) => {
                let listener = tokio::net::UnixListener::from_std(listener)?;
                super::serve_within(listener, app, limits, open).await;
            }
        }
        Ok(())
    }
}

/// Binds `listen` (the value of config key `key`) and serves it on `threads` threads named
/// `name`, each with the service `app_for_thread` makes for it (state a thread keeps to
/// itself, such as a connection pool, is made there). Returns the address clients use.
pub async fn serve<S: Service>(
    listen: &Listen,
    threads: usize,
    name: &str,
    mut app_for_thread: impl FnMut() -> anyhow::Result<S>,
    limits: Limits,
    key: &'static str,
) -> anyhow::Result<String> {
    let (bound, shown) = match listen {
        Listen::Tcp(addr) => {
            let listener = bind_tcp(addr, key).await?;
            let local = listener
                .local_addr()
                .context("cannot read the bound address")?;
            (Bound::Tcp(listener.into_std()?), format!("http://{local}"))
        }
        Listen::Unix(path) => {
            let listener = bind_unix(path, key)?;
            let shown = format!("unix:{}", path.display());
            (Bound::Unix(listener.into_std()?), shown)
        }
    };
    let open = Arc::new(Semaphore::new(limits.max_connections));
    for _ in 0..threads.max(1) {
        let bound = bound
            .try_clone()
            .context("cannot share the listening socket")?;
        let app = app_for_thread()?;
        let open = open.clone();
        std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                let served = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .and_then(|runtime| runtime.block_on(bound.serve(app, limits, open)));
                if let Err(err) = served {
                    tracing::error!("{}: a listener thread stopped: {err}", limits.name);
                }
            })
            .context("cannot start a listener thread")?;
    }
    Ok(shown)
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test]
    async fn every_thread_answers_and_the_connection_cap_is_shared() {
        let listen = Listen::Tcp("127.0.0.1:0".parse().unwrap());
        let mut made = 0;
        let limits = Limits {
            max_connections: 3,
            ..Limits::new("test")
        };
        let shown = serve(
            &listen,
            2,
            "test-listener",
            || {
                made += 1;
                let answer = format!("thread {made}");
                let router = axum::Router::new()
                    .route("/", axum::routing::get(move || async move { answer }));
                Ok(hyper_util::service::TowerToHyperService::new(router))
            },
            limits,
            "[test] listen",
        )
        .await
        .unwrap();
        assert_eq!(made, 2);
        let addr = shown.trim_start_matches("http://").to_string();
        // Three connections kept open take every slot, whichever thread accepted them.
        let mut held = Vec::new();
        for _ in 0..3 {
            let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
            stream
                .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                .await
                .unwrap();
            let mut head = [0u8; 12];
            stream.read_exact(&mut head).await.unwrap();
            assert_eq!(&head, b"HTTP/1.1 200");
            held.push(stream);
        }
        let mut fourth = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let mut seen = Vec::new();
        fourth.read_to_end(&mut seen).await.unwrap();
        assert!(seen.is_empty(), "{seen:?}");
    }
}
