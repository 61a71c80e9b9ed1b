//! TLS on a listener itself (the webhook relay's: Meta posts only to HTTPS; `[serve]`'s, which
//! hands out tokens off loopback only with it): PEM certificate chain and key, read again on
//! SIGHUP (a renewed certificate needs no restart), handshakes done beside the accept loop so
//! a slow client never holds the others up.

use std::io;
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use futures_util::stream::FuturesUnordered;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::config::TlsFiles;

/// A handshake must finish within this, or the connection is dropped.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes in progress at once; past it, new connections wait in the kernel's backlog.
const MAX_PENDING_HANDSHAKES: usize = 256;

/// The server config from `files`, with errors that name the file and what is wrong.
pub fn load(files: &TlsFiles) -> anyhow::Result<Arc<ServerConfig>> {
    crate::graph::install_tls_provider();
    let certs = certificates(&files.cert)?;
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|err| {
        anyhow::anyhow!(
            "{}: no PEM private key read ({err}); tls-key must be the key of tls-cert",
            files.key.display()
        )
    })?;
    let config = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .with_context(|| {
            format!(
                "{} and {} do not make a certificate and its key",
                files.cert.display(),
                files.key.display()
            )
        })?;
    Ok(Arc::new(config))
}

fn certificates(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|err| anyhow::anyhow!("{}: cannot read it ({err})", path.display()))?
        .collect::<Result<_, _>>()
        .map_err(|err| {
            anyhow::anyhow!("{}: not a PEM certificate chain ({err})", path.display())
        })?;
    if certs.is_empty() {
        bail!(
            "{}: no certificate in it; tls-cert must be a PEM chain (server certificate first)",
            path.display()
        );
    }
    Ok(certs)
}

/// The current server config, swapped whole when the files are read again.
#[derive(Clone)]
pub struct ReloadableConfig {
    files: TlsFiles,
    current: Arc<RwLock<Arc<ServerConfig>>>,
}

impl ReloadableConfig {
    pub fn load(files: &TlsFiles) -> anyhow::Result<Self> {
        Ok(Self {
            files: files.clone(),
            current: Arc::new(RwLock::new(load(files)?)),
        })
    }

    fn current(&self) -> Arc<ServerConfig> {
        // A panic while swapping left the old or the new config whole: use it.
        self.current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Reads the files again; on any problem the config in use stays and the error says why.
    pub fn reload(&self) -> anyhow::Result<()> {
        let fresh = load(&self.files)?;
        *self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = fresh;
        Ok(())
    }

    /// Reloads on every SIGHUP for the life of the process.
    pub fn reload_on_sighup(&self, name: &'static str) {
        let config = self.clone();
        tokio::spawn(async move {
            let Ok(mut hangups) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            else {
                tracing::warn!(
                    "{name}: cannot watch SIGHUP: the certificate is read only at start"
                );
                return;
            };
            while hangups.recv().await.is_some() {
                match config.reload() {
                    Ok(()) => tracing::info!("{name}: SIGHUP: certificate and key read again"),
                    Err(err) => tracing::error!(
                        "{name}: SIGHUP: keeping the certificate in use, the new one is refused: {err:#}"
                    ),
                }
            }
        });
    }
}

/// A TCP listener whose connections come out with their TLS handshake done.
pub struct TlsListener {
    tcp: TcpListener,
    config: ReloadableConfig,
    handshakes: FuturesUnordered<BoxFuture<'static, Option<TlsStream<TcpStream>>>>,
}

impl TlsListener {
    pub fn new(tcp: TcpListener, config: ReloadableConfig) -> Self {
        Self {
            tcp,
            config,
            handshakes: FuturesUnordered::new(),
        }
    }

    fn start_handshake(&mut self, stream: TcpStream) {
        let _ = stream.set_nodelay(true);
        let acceptor = TlsAcceptor::from(self.config.current());
        self.handshakes.push(Box::pin(async move {
            // A failed or stalled handshake (a scanner, plain HTTP) ends only its connection.
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => Some(tls),
                _ => None,
            }
        }));
    }
}

impl super::Accept for TlsListener {
    type Io = TlsStream<TcpStream>;

    async fn accept(&mut self) -> io::Result<Self::Io> {
        loop {
            let room = self.handshakes.len() < MAX_PENDING_HANDSHAKES;
            tokio::select! {
                accepted = self.tcp.accept(), if room => {
                    let (stream, _) = accepted?;
                    self.start_handshake(stream);
                }
                Some(done) = self.handshakes.next(), if !self.handshakes.is_empty() => {
                    if let Some(tls) = done {
                        return Ok(tls);
                    }
                }
            }
        }
    }
}
