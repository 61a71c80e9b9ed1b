//! Step 3: the Graph API host of `[graph] base-url` resolves, accepts a connection and, for
//! https, completes a TLS handshake with a certificate this machine trusts.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use super::certificate::{self, Standing};
use super::report::Outcome;
use crate::config::{GraphSettings, url_without_password};

/// Longest wait for DNS, for the connection and for the handshake, each.
const STEP_TIMEOUT: Duration = Duration::from_secs(10);

const CHECK_URL: &str = "check [graph] base-url (or --graph-url / TOKENTOP_GRAPH_URL)";

/// DNS, TCP and TLS to the Graph API host.
pub async fn network_step(graph: &GraphSettings) -> Outcome {
    let shown = url_without_password(&graph.base_url);
    let url = match reqwest::Url::parse(&graph.base_url) {
        Ok(url) => url,
        Err(err) => return Outcome::fail(format!("{shown} is not a URL: {err}"), CHECK_URL),
    };
    let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
        return Outcome::fail(format!("{shown} names no host"), CHECK_URL);
    };
    let addrs = match resolve(host, port).await {
        Ok(addrs) => addrs,
        Err(problem) => {
            let todo = format!(
                "check this machine's DNS (`getent hosts {host}`, /etc/resolv.conf) and {CHECK_URL}"
            );
            return Outcome::fail(format!("cannot resolve {host}: {problem}"), todo);
        }
    };
    let (stream, addr) = match connect(&addrs).await {
        Ok(connected) => connected,
        Err(problem) => return unreachable(host, port, &addrs, &problem),
    };
    let found = format!(
        "{host} resolves to {}, port {port} accepts connections",
        addr.ip()
    );
    if url.scheme() == "http" {
        let note = "plain HTTP (simulator or test setup): no TLS to check";
        return Outcome::pass_noted(found, note);
    }
    tls_outcome(stream, host, graph, found).await
}

async fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
    match tokio::time::timeout(STEP_TIMEOUT, tokio::net::lookup_host((host, port))).await {
        Ok(Ok(addrs)) => {
            let addrs: Vec<SocketAddr> = addrs.collect();
            if addrs.is_empty() {
                Err("no addresses".to_string())
            } else {
                Ok(addrs)
            }
        }
        Ok(Err(err)) => Err(err.to_string()),
        Err(_) => Err(format!("no answer within {}s", STEP_TIMEOUT.as_secs())),
    }
}

/// The first address that accepts a connection, or the last problem.
async fn connect(addrs: &[SocketAddr]) -> Result<(tokio::net::TcpStream, SocketAddr), String> {
    let mut problem = String::new();
    for addr in addrs {
        match tokio::time::timeout(STEP_TIMEOUT, tokio::net::TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => return Ok((stream, *addr)),
            Ok(Err(err)) => problem = format!("{addr}: {err}"),
            Err(_) => problem = format!("{addr}: no answer within {}s", STEP_TIMEOUT.as_secs()),
        }
    }
    Err(problem)
}

fn unreachable(host: &str, port: u16, addrs: &[SocketAddr], problem: &str) -> Outcome {
    let count = addrs.len();
    let noun = if count == 1 { "address" } else { "addresses" };
    Outcome::fail(
        format!("{host} resolves ({count} {noun}) but no connection to port {port}: {problem}"),
        format!(
            "{CHECK_URL}; for the simulator, is `tokentop sim` running on that port? Otherwise \
             a firewall or an egress proxy blocks outgoing connections to port {port}"
        ),
    )
}

/// The handshake's facts, then an HTTPS request that verifies the certificate as every Graph
/// call will.
async fn tls_outcome(
    stream: tokio::net::TcpStream,
    host: &str,
    graph: &GraphSettings,
    found: String,
) -> Outcome {
    let todo = "check the system clock (`date`), the CA certificates (ca-certificates package) \
                and any TLS-inspecting proxy between this machine and Meta";
    let name = host.to_string();
    let handshake = match stream.into_std() {
        Ok(stream) => tokio::task::spawn_blocking(move || handshake(stream, name))
            .await
            .unwrap_or_else(|err| Err(format!("the handshake task failed: {err}"))),
        Err(err) => Err(err.to_string()),
    };
    let (version, chain, leaf) = match handshake {
        Ok(facts) => facts,
        Err(problem) => {
            return Outcome::fail(format!("{found}, but TLS failed: {problem}"), todo);
        }
    };
    let noun = if chain == 1 {
        "certificate"
    } else {
        "certificates"
    };
    let mut facts = format!("{version} handshake ok, certificate chain of {chain} {noun}");
    let now = chrono::Utc::now().timestamp();
    let standing = leaf
        .as_deref()
        .map(|der| certificate::read(der).map(|f| certificate::standing(&f, now)));
    let mut soon = None;
    match standing {
        Some(Ok(Standing::Fine(text))) => facts = format!("{facts}, {text}"),
        Some(Ok(Standing::Soon(text))) => {
            facts = format!("{facts}, {text}");
            soon = Some(
                "the certificate expires soon: Meta renews well before, so check for a TLS-inspecting proxy serving its own",
            );
        }
        Some(Ok(Standing::Expired(text))) => {
            return Outcome::fail(format!("{found}, {facts}, {text}"), todo);
        }
        Some(Err(problem)) => facts = format!("{facts}, {problem}"),
        None => {}
    }
    match (trusted(graph).await, soon) {
        (Ok(()), None) => Outcome::pass(format!("{found}, {facts}, trusted")),
        (Ok(()), Some(note)) => Outcome::pass_noted(format!("{found}, {facts}, trusted"), note),
        (Err(problem), _) => Outcome::fail(
            format!("{found}, {facts}, but the certificate is not trusted: {problem}"),
            todo,
        ),
    }
}

/// An HTTPS request through the Graph client's own TLS stack: any HTTP answer means the
/// certificate verified.
async fn trusted(graph: &GraphSettings) -> Result<(), String> {
    let client = crate::graph::GraphClient::new(graph).map_err(|err| err.to_string())?;
    match client.http.get(client.base_url()).send().await {
        Ok(_) => Ok(()),
        Err(err) => Err(chain_text(&err.without_url())),
    }
}

/// An error and its causes, `: `-joined.
fn chain_text(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

/// A blocking TLS handshake; the protocol version, the number of certificates sent and the
/// server's own certificate (DER). The chain is not verified here (no root store is at hand):
/// [`trusted`] does that.
fn handshake(
    stream: std::net::TcpStream,
    host: String,
) -> Result<(String, usize, Option<Vec<u8>>), String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|err| err.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(RecordOnly(provider)))
        .with_no_client_auth();
    let name = ServerName::try_from(host).map_err(|err| err.to_string())?;
    let mut connection =
        rustls::ClientConnection::new(Arc::new(config), name).map_err(|err| err.to_string())?;
    stream
        .set_nonblocking(false)
        .and_then(|()| stream.set_read_timeout(Some(STEP_TIMEOUT)))
        .and_then(|()| stream.set_write_timeout(Some(STEP_TIMEOUT)))
        .map_err(|err| err.to_string())?;
    let mut stream = stream;
    while connection.is_handshaking() {
        connection
            .complete_io(&mut stream)
            .map_err(|err| err.to_string())?;
    }
    let version = connection
        .protocol_version()
        .map_or_else(|| "TLS".to_string(), tls_name);
    let certificates = connection.peer_certificates().unwrap_or_default();
    let leaf = certificates.first().map(|cert| cert.as_ref().to_vec());
    Ok((version, certificates.len(), leaf))
}

fn tls_name(version: rustls::ProtocolVersion) -> String {
    match version {
        rustls::ProtocolVersion::TLSv1_3 => "TLS 1.3".to_string(),
        rustls::ProtocolVersion::TLSv1_2 => "TLS 1.2".to_string(),
        other => format!("{other:?}"),
    }
}

/// Accepts any chain (checked by [`trusted`] instead) but still checks the handshake's
/// signatures, so the facts reported are those of a real handshake.
#[derive(Debug)]
struct RecordOnly(Arc<CryptoProvider>);

impl ServerCertVerifier for RecordOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
