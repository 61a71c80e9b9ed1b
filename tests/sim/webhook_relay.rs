//! The webhook relay over real HTTP: Meta's handshake, signatures over the raw bytes, body
//! limits, slow clients, and duplicates (issue 22).

use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use tokentop::webhook::queue::{QueueOptions, WebhookQueue};
use tokentop::webhook::server::{PostResult, Relay, RelayCounters, router};
use tokentop::webhook::signature::sign;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const STATUSES: &str = include_str!("../fixtures/webhook_statuses_batch_mixed.json");
const UNINSTALLED: &str =
    include_str!("../fixtures/webhook_account_update_partner_app_uninstalled.json");
const VERIFY_TOKEN: &str = "meatball-verify-7f3c";

fn secret(text: &str) -> SecretString {
    SecretString::from(text.to_string())
}

struct Running {
    url: String,
    addr: std::net::SocketAddr,
    counters: Arc<RelayCounters>,
    _dir: tempfile::TempDir,
}

/// A relay for two apps' secrets on a loopback port, its queue in a temp dir.
async fn start_relay(max_body: usize, body_read_timeout: Duration) -> Running {
    tokentop::graph::install_tls_provider();
    let dir = tempfile::tempdir().unwrap();
    let options = QueueOptions::new(dir.path().join("webhooks"), 64 << 20, vec!["app".into()]);
    let queue = WebhookQueue::open(options).await.unwrap();
    let secrets = vec![secret("first-app-secret"), secret("second-app-secret")];
    let mut relay = Relay::new(secrets, secret(VERIFY_TOKEN), queue, max_body);
    relay.body_read_timeout = body_read_timeout;
    let counters = relay.counters.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let limits = tokentop::listener::Limits::new("test relay");
    tokio::spawn(tokentop::listener::serve(
        listener,
        router(Arc::new(relay), "/webhook"),
        limits,
    ));
    Running {
        url: format!("http://{addr}/webhook"),
        addr,
        counters,
        _dir: dir,
    }
}

async fn post(url: &str, body: &[u8], signature: Option<&str>) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_vec());
    if let Some(signature) = signature {
        request = request.header("x-hub-signature-256", signature);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn the_handshake_echoes_the_challenge_only_for_the_verify_token() {
    let relay = start_relay(4 << 20, Duration::from_secs(30)).await;
    let good = format!(
        "{}?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token={VERIFY_TOKEN}",
        relay.url
    );
    let answer = reqwest::get(&good).await.unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["content-type"], "text/plain");
    // Byte for byte: no quotes, no newline, not parsed as a number.
    assert_eq!(answer.text().await.unwrap(), "1158201444");
    let leading_zero = good.replace("1158201444", "0042");
    assert_eq!(
        reqwest::get(&leading_zero)
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "0042"
    );
    for bad in [
        good.replace(VERIFY_TOKEN, "wrong"),
        good.replace("subscribe", "unsubscribe"),
        good.replace("&hub.challenge=1158201444", ""),
        relay.url.clone(),
    ] {
        let answer = reqwest::get(&bad).await.unwrap();
        assert_eq!(answer.status(), 403, "{bad}");
        assert!(!answer.text().await.unwrap().contains(VERIFY_TOKEN));
    }
    assert_eq!(
        relay
            .counters
            .handshakes_ok
            .load(std::sync::atomic::Ordering::Relaxed),
        2
    );
    assert_eq!(
        relay
            .counters
            .handshakes_refused
            .load(std::sync::atomic::Ordering::Relaxed),
        4
    );
}

#[tokio::test]
async fn signatures_are_checked_over_the_raw_bytes_with_each_apps_secret() {
    let relay = start_relay(4 << 20, Duration::from_secs(30)).await;
    let body = STATUSES.as_bytes();
    let first = sign(&secret("first-app-secret"), body);
    let second = sign(&secret("second-app-secret"), UNINSTALLED.as_bytes());
    assert_eq!(post(&relay.url, body, Some(&first)).await.status(), 200);
    // Another app served by the same relay.
    assert_eq!(
        post(&relay.url, UNINSTALLED.as_bytes(), Some(&second))
            .await
            .status(),
        200
    );
    // Meta's retry of the first body: acknowledged, not queued again.
    assert_eq!(post(&relay.url, body, Some(&first)).await.status(), 200);

    let reserialised =
        serde_json::to_vec(&serde_json::from_slice::<serde_json::Value>(body).unwrap()).unwrap();
    let mut tampered = body.to_vec();
    let at = tampered.iter().position(|b| *b == b'8').unwrap();
    tampered[at] = b'9';
    let refused: [(&[u8], Option<String>); 5] = [
        (&reserialised, Some(first.clone())),
        (&tampered, Some(first.clone())),
        (body, None),
        (body, Some(sign(&secret("some-other-app"), body))),
        (body, Some("sha256=".to_string() + &"0".repeat(64))),
    ];
    for (bytes, signature) in refused {
        let answer = post(&relay.url, bytes, signature.as_deref()).await;
        assert_eq!(answer.status(), 401, "{signature:?}");
    }
    let counters = &relay.counters;
    assert_eq!(counters.posts(PostResult::Ok), 2);
    assert_eq!(counters.posts(PostResult::Duplicate), 1);
    assert_eq!(counters.posts(PostResult::BadSignature), 5);
}

#[tokio::test]
async fn a_body_over_the_limit_gets_413_declared_or_chunked() {
    let relay = start_relay(1024, Duration::from_secs(30)).await;
    let big = vec![b' '; 4096];
    let signature = sign(&secret("first-app-secret"), &big);
    assert_eq!(post(&relay.url, &big, Some(&signature)).await.status(), 413);
    // Chunked: no Content-Length to refuse up front; the cap applies while reading.
    let chunks = futures_util::stream::iter(
        (0..8).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![b' '; 512]))),
    );
    let answer = reqwest::Client::new()
        .post(&relay.url)
        .header("x-hub-signature-256", &signature)
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 413);
    assert_eq!(relay.counters.posts(PostResult::TooLarge), 2);
    assert_eq!(relay.counters.posts(PostResult::Ok), 0);
}

#[tokio::test]
async fn a_client_that_stops_sending_its_body_gets_408_and_others_are_served() {
    let relay = start_relay(4 << 20, Duration::from_millis(500)).await;
    let mut slow = TcpStream::connect(relay.addr).await.unwrap();
    slow.write_all(
        b"POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\nX-Hub-Signature-256: sha256=00\r\n\r\n{\"object\":",
    )
    .await
    .unwrap();
    // Meanwhile a whole delivery goes through.
    let body = STATUSES.as_bytes();
    let signature = sign(&secret("first-app-secret"), body);
    assert_eq!(post(&relay.url, body, Some(&signature)).await.status(), 200);
    let mut answer = vec![0u8; 1024];
    let read = tokio::time::timeout(Duration::from_secs(10), slow.read(&mut answer))
        .await
        .expect("the stalled request was never answered")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..read]);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert_eq!(relay.counters.posts(PostResult::Incomplete), 1);
}

fn tls_files(dir: &std::path::Path, name: &str) -> tokentop::config::TlsFiles {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls");
    let (cert, key) = (dir.join("relay.crt"), dir.join("relay.key"));
    std::fs::copy(fixtures.join(format!("relay-{name}.crt")), &cert).unwrap();
    std::fs::copy(fixtures.join(format!("relay-{name}.key")), &key).unwrap();
    tokentop::config::TlsFiles { cert, key }
}

fn client_trusting(name: &str) -> reqwest::Client {
    let pem = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(format!("tests/fixtures/tls/ca-{name}.crt")),
    )
    .unwrap();
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .build()
        .unwrap()
}

#[tokio::test]
async fn tls_on_the_listener_serves_https_and_takes_a_new_certificate_on_reload() {
    use tokentop::listener::tls::{ReloadableConfig, TlsListener};
    tokentop::graph::install_tls_provider();
    let dir = tempfile::tempdir().unwrap();
    let files = tls_files(dir.path(), "a");
    let config = ReloadableConfig::load(&files).unwrap();
    let app = axum::Router::new().route("/webhook", axum::routing::get(|| async { "hello" }));
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    let limits = tokentop::listener::Limits::new("test relay");
    tokio::spawn(tokentop::listener::serve(
        TlsListener::new(tcp, config.clone()),
        app,
        limits,
    ));
    let url = format!("https://localhost:{}/webhook", addr.port());

    // A client that stalls in the handshake (plain HTTP here) holds nobody else up.
    let mut stalled = TcpStream::connect(addr).await.unwrap();
    stalled
        .write_all(b"GET /webhook HTTP/1.1\r\n")
        .await
        .unwrap();
    let answer = client_trusting("a").get(&url).send().await.unwrap();
    assert_eq!(answer.text().await.unwrap(), "hello");
    assert!(client_trusting("b").get(&url).send().await.is_err());
    assert!(
        reqwest::get(format!("http://127.0.0.1:{}/webhook", addr.port()))
            .await
            .is_err()
    );

    // A renewed certificate: read again on reload (SIGHUP in the daemon), new connections get it.
    tls_files(dir.path(), "b");
    config.reload().unwrap();
    let answer = client_trusting("b").get(&url).send().await.unwrap();
    assert_eq!(answer.text().await.unwrap(), "hello");
    // A broken renewal keeps the certificate in use, and says which file is wrong.
    std::fs::write(&files.key, "not a key").unwrap();
    let err = format!("{:#}", config.reload().unwrap_err());
    assert!(err.contains("relay.key"), "{err}");
    assert!(client_trusting("b").get(&url).send().await.is_ok());
    drop(stalled);
}

#[tokio::test]
async fn tls_files_that_do_not_fit_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = tls_files(dir.path(), "a");
    let other = tls_files(&tempfile::tempdir().unwrap().keep(), "b");
    files.key = other.key;
    let err = format!("{:#}", tokentop::listener::tls::load(&files).unwrap_err());
    assert!(
        err.contains("do not make a certificate and its key"),
        "{err}"
    );
    std::fs::write(&files.cert, "").unwrap();
    let err = format!("{:#}", tokentop::listener::tls::load(&files).unwrap_err());
    assert!(err.contains("no certificate"), "{err}");
}
