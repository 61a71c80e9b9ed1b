#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Issue 12 section 3: the real `tokentop daemon` with `[proxy] listen`, in front of the
//! in-process simulator (which requires `appsecret_proof`, so a send only succeeds with the
//! account's token and a correct proof), driven by a real HTTP client.

use crate::support;

use std::collections::HashSet;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::time::Duration;

use serde_json::{Value, json};
use support::proxy::{PHONE_ID, ProxyAddr, ProxyDaemon, config, unix_request, wait_until};
use tokentop::sim::{DEFAULT_APP_SECRET, RunningSim, SimConfig, TokenKind};

const TO: &str = "15551234567";
const LOOPBACK: &str = "listen = \"127.0.0.1:0\"";

/// A proxy on loopback for one account holding `token`, with the simulator's app secret.
async fn loopback_proxy(sim: &RunningSim, token: &str) -> ProxyDaemon {
    let account = format!("access-token = \"{token}\"");
    ProxyDaemon::start(
        sim,
        &config(LOOPBACK, "", DEFAULT_APP_SECRET, &account),
        &[],
    )
    .await
}

async fn start_sim() -> RunningSim {
    tokentop::graph::install_tls_provider();
    RunningSim::start(
        SimConfig {
            require_proof: true,
            ..SimConfig::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap()
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

fn messages_path() -> String {
    format!("/v25.0/{PHONE_ID}/messages")
}

fn text_send(body: &str) -> Value {
    json!({"messaging_product": "whatsapp", "to": TO, "type": "text", "text": {"body": body}})
}

/// What the simulator answers for an accepted send to `to` with `wamid`, byte for byte.
fn accepted_body(to: &str, wamid: &str) -> String {
    let wa_id: String = to.chars().filter(char::is_ascii_digit).collect();
    json!({
        "messaging_product": "whatsapp",
        "contacts": [{"input": to, "wa_id": wa_id}],
        "messages": [{"id": wamid}],
    })
    .to_string()
}

fn system_user(sim: &RunningSim) -> String {
    sim.handle()
        .mint_token(TokenKind::SystemUser, None)
        .access_token
}

fn stat(sim: &RunningSim, endpoint: &str) -> u64 {
    sim.handle()
        .stats()
        .by_endpoint
        .get(endpoint)
        .copied()
        .unwrap_or(0)
}

/// Status, headers and body text of a response.
async fn read(response: reqwest::Response) -> (u16, reqwest::header::HeaderMap, String) {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.text().await.unwrap())
}

fn assert_meta_headers(headers: &reqwest::header::HeaderMap, what: &str) {
    let usage = headers
        .get("x-business-use-case-usage")
        .unwrap_or_else(|| panic!("{what}: no X-Business-Use-Case-Usage in {headers:?}"));
    let usage: Value = serde_json::from_str(usage.to_str().unwrap()).unwrap();
    assert!(usage.get(PHONE_ID).is_some(), "{what}: {usage}");
    assert!(headers.get("x-app-usage").is_some(), "{what}: {headers:?}");
    assert_eq!(
        headers.get("content-type").unwrap(),
        "application/json; charset=UTF-8",
        "{what}"
    );
}

/// A multipart body as Meta's Upload Media documentation describes it, with a binary file.
fn media_body(boundary: &str, file: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, value) in [("messaging_product", "whatsapp"), ("type", "image/png")] {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"logo.png\"\r\n\
             Content-Type: image/png\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    body
}

/// Bytes that are not UTF-8 and hold CR LF and a would-be boundary prefix.
fn binary_file(len: usize) -> Vec<u8> {
    let mut file = vec![
        0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n', 0xff, 0x00,
    ];
    file.extend((0..len.saturating_sub(file.len())).map(|i| (i * 7 % 256) as u8));
    file
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_form_and_media_reach_meta_with_the_accounts_token_and_proof() {
    let sim = start_sim().await;
    let token = system_user(&sim);
    let daemon = loopback_proxy(&sim, &token).await;
    let http = http();
    let url = format!("{}{}", daemon.url(), messages_path());

    // JSON
    let response = http
        .post(&url)
        .json(&text_send("json send"))
        .send()
        .await
        .unwrap();
    let (status, headers, body) = read(response).await;
    assert_eq!(status, 200, "{body}\n{}", daemon.stderr());
    let sent = sim.handle().sent_messages();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].access_token, token);
    assert_eq!(sent[0].text.as_deref(), Some("json send"));
    assert_eq!(body, accepted_body(TO, &sent[0].wamid));
    assert_meta_headers(&headers, "JSON send");

    // Form, with the nested value as a JSON string (as facebook-business sends it)
    let form = [
        ("messaging_product", "whatsapp"),
        ("to", "+1 555 123 4567"),
        ("type", "text"),
        ("text", r#"{"body":"form send"}"#),
    ];
    let response = http.post(&url).form(&form).send().await.unwrap();
    let (status, headers, body) = read(response).await;
    assert_eq!(status, 200, "{body}");
    let sent = sim.handle().sent_messages();
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!(sent[1].access_token, token);
    assert_eq!(sent[1].text.as_deref(), Some("form send"));
    assert_eq!(body, accepted_body("+1 555 123 4567", &sent[1].wamid));
    assert_meta_headers(&headers, "form send");

    // Multipart media upload with a binary file
    let file = binary_file(64 * 1024);
    let boundary = "tokentop-test-boundary-7d1";
    let response = http
        .post(format!("{}/v25.0/{PHONE_ID}/media", daemon.url()))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(media_body(boundary, &file))
        .send()
        .await
        .unwrap();
    let (status, headers, body) = read(response).await;
    assert_eq!(status, 200, "{body}");
    let media = sim.handle().uploaded_media();
    assert_eq!(media.len(), 1, "{media:?}");
    assert_eq!(media[0].file_len, file.len());
    assert_eq!(media[0].mime_type, "image/png");
    assert_eq!(media[0].access_token, token);
    assert_eq!(body, json!({"id": media[0].id}).to_string());
    assert_meta_headers(&headers, "media upload");
    assert_eq!(stat(&sim, "media"), 1);
    assert_eq!(stat(&sim, "exchange"), 0);
    daemon.stop().await;
}

/// With `HTTP_PROXY` in the environment naming a proxy for the Graph host, the proxy's
/// upstream requests go through it in absolute form (the request line names the Graph host),
/// not to the host directly. The simulator plays the HTTP proxy: it answers an absolute-form
/// request by its path, and the Graph host's name does not resolve, so only a request that
/// went through the proxy can be answered.
#[tokio::test]
async fn a_send_goes_through_the_http_proxy_the_environment_names() {
    let sim = start_sim().await;
    let token = system_user(&sim);
    let account = format!("access-token = \"{token}\"");
    let graph_url = "http://graph.tokentop.invalid";
    let sim_url = sim.base_url();
    let daemon = ProxyDaemon::start_with_graph_url(
        graph_url,
        &config(LOOPBACK, "", DEFAULT_APP_SECRET, &account),
        &[("HTTP_PROXY", &sim_url), ("http_proxy", &sim_url)],
    )
    .await;
    let response = http()
        .post(format!("{}{}", daemon.url(), messages_path()))
        .json(&text_send("through the proxy"))
        .send()
        .await
        .unwrap();
    let (status, _, body) = read(response).await;
    assert_eq!(status, 200, "{body}\n{}", daemon.stderr());
    let sent = sim.handle().sent_messages();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].access_token, token);
    assert_eq!(sent[0].text.as_deref(), Some("through the proxy"));
    assert_eq!(body, accepted_body(TO, &sent[0].wamid));
    daemon.stop().await;
}

/// Waits until the daemon's startup inspection is in the history: from then on the engine
/// knows the tokens' expiry (the send guard needs it).
async fn wait_inspected(daemon: &ProxyDaemon) {
    let history = daemon.data_dir().join("history.jsonl");
    wait_until(
        "the startup inspection in history.jsonl",
        support::proxy::PATIENCE,
        || {
            std::fs::read_to_string(&history)
                .is_ok_and(|text| text.contains("\"trigger\":\"startup\""))
        },
    )
    .await;
}

/// A user account whose long-lived token is good for 60 days; `access` as given.
async fn user_daemon(sim: &RunningSim, access: &str, refresh: &str) -> ProxyDaemon {
    let long_lived = sim
        .handle()
        .mint_token(TokenKind::LongLivedUser, None)
        .access_token;
    let account = format!("access-token = \"{access}\"\nlong-lived-token = \"{long_lived}\"");
    let daemon = ProxyDaemon::start(
        sim,
        &config(LOOPBACK, refresh, DEFAULT_APP_SECRET, &account),
        &[],
    )
    .await;
    wait_inspected(&daemon).await;
    daemon
}

/// 100 sends at once through the proxy, each with its own text; all must be accepted.
async fn hundred_concurrent_sends(daemon: &ProxyDaemon) {
    let http = http();
    let url = format!("{}{}", daemon.url(), messages_path());
    let sends = (0..100).map(|i| {
        let (http, url) = (http.clone(), url.clone());
        tokio::spawn(async move {
            let response = http
                .post(&url)
                .json(&text_send(&format!("concurrent {i}")))
                .send()
                .await
                .unwrap();
            read(response).await
        })
    });
    for (i, send) in futures_util::future::join_all(sends)
        .await
        .into_iter()
        .enumerate()
    {
        let (status, _, body) = send.unwrap();
        assert_eq!(status, 200, "send {i}: {body}\n{}", daemon.stderr());
    }
}

/// The message log holds each of the 100 texts exactly once, sent with one token that is not
/// `old`.
fn assert_each_sent_once(sim: &RunningSim, old: &str) {
    let sent = sim.handle().sent_messages();
    let texts: Vec<&str> = sent
        .iter()
        .filter_map(|m| m.text.as_deref())
        .filter(|t| t.starts_with("concurrent "))
        .collect();
    assert_eq!(texts.len(), 100, "{sent:?}");
    let unique: HashSet<&str> = texts.iter().copied().collect();
    assert_eq!(unique.len(), 100, "a message went twice: {texts:?}");
    let tokens: HashSet<&str> = sent
        .iter()
        .filter(|m| {
            m.text
                .as_deref()
                .is_some_and(|t| t.starts_with("concurrent "))
        })
        .map(|m| m.access_token.as_str())
        .collect();
    assert_eq!(tokens.len(), 1, "the sends used several tokens");
    assert!(!tokens.contains(old), "a send went with the expired token");
}

/// Meta says 190 (expired) although the engine still thought the token good: every request
/// meets the 190, the proxy refreshes once (single flight) and retries each request once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_is_refreshed_once_for_a_hundred_concurrent_sends() {
    let sim = start_sim().await;
    let access = sim
        .handle()
        .mint_token(
            TokenKind::LongLivedUser,
            Some(Duration::from_secs(30 * 86_400)),
        )
        .access_token;
    let daemon = user_daemon(&sim, &access, "send-guard = \"0s\"").await;
    assert!(sim.handle().expire_now(&access));
    hundred_concurrent_sends(&daemon).await;
    assert_eq!(
        stat(&sim, "exchange"),
        1,
        "{:?}\n{}",
        sim.handle().stats(),
        daemon.stderr()
    );
    assert_each_sent_once(&sim, &access);
    let stderr = daemon.stderr();
    assert!(
        stderr.contains("WhatsApp token expired, attempting refresh"),
        "{stderr}"
    );
    assert!(stderr.contains("retried=true"), "{stderr}");
    daemon.stop().await;
}

/// The token expires within the send guard: the first leases refresh it first (single flight),
/// so no send meets a 190 at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_send_guard_refreshes_once_before_a_hundred_concurrent_sends() {
    let sim = start_sim().await;
    let access = sim
        .handle()
        .mint_token(
            TokenKind::LongLivedUser,
            Some(Duration::from_secs(2 * 3600)),
        )
        .access_token;
    let daemon = user_daemon(
        &sim,
        &access,
        "send-guard = \"3h\"\nrefresh-before = \"1m\"",
    )
    .await;
    hundred_concurrent_sends(&daemon).await;
    assert_eq!(
        stat(&sim, "exchange"),
        1,
        "{:?}\n{}",
        sim.handle().stats(),
        daemon.stderr()
    );
    assert_each_sent_once(&sim, &access);
    let stderr = daemon.stderr();
    assert!(
        stderr.contains("WhatsApp token is expired or expiring soon, refreshing..."),
        "{stderr}"
    );
    assert!(!stderr.contains("retried=true"), "{stderr}");
    daemon.stop().await;
}

/// A body without its `fbtrace_id` (random per answer).
fn without_trace(body: &str) -> Value {
    let mut value: Value = serde_json::from_str(body).unwrap();
    value["error"]
        .as_object_mut()
        .unwrap()
        .remove("fbtrace_id")
        .expect("Meta's error has an fbtrace_id");
    value
}

/// An invalidated system-user token cannot be refreshed: the client gets Meta's 190 as it is,
/// the account needs re-auth, and nothing keeps calling Meta.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalidated_system_user_token_passes_metas_190_through_once() {
    let sim = start_sim().await;
    let token = system_user(&sim);
    let daemon = loopback_proxy(&sim, &token).await;
    wait_inspected(&daemon).await;
    assert!(sim.handle().invalidate(&token));
    let http = http();
    let response = http
        .post(format!("{}{}", daemon.url(), messages_path()))
        .json(&text_send("never sent"))
        .send()
        .await
        .unwrap();
    let (status, headers, body) = read(response).await;
    // What Meta answers this token directly, for comparison.
    let proof = tokentop::graph::appsecret_proof(
        &secrecy::SecretString::from(DEFAULT_APP_SECRET),
        &secrecy::SecretString::from(token.clone()),
    );
    let direct = http
        .post(format!(
            "{}{}?appsecret_proof={proof}",
            sim.base_url(),
            messages_path()
        ))
        .bearer_auth(&token)
        .json(&text_send("never sent"))
        .send()
        .await
        .unwrap();
    let (direct_status, _, direct_body) = read(direct).await;
    assert_eq!(status, direct_status, "{body}");
    assert_eq!(status, 401, "{body}");
    assert_eq!(without_trace(&body), without_trace(&direct_body));
    assert_eq!(without_trace(&body)["error"]["code"], 190);
    assert_meta_headers(&headers, "190 answer");
    assert!(sim.handle().sent_messages().is_empty());

    // The daemon's account needs re-auth: its log and history say so.
    let history = daemon.data_dir().join("history.jsonl");
    wait_until("re-auth in the history", support::proxy::PATIENCE, || {
        std::fs::read_to_string(&history)
            .is_ok_and(|t| t.contains("\"event\":\"alert\",\"trigger\":\"re-auth\""))
    })
    .await;
    daemon.wait_for_log("ERROR re-auth required").await;
    let exchanges = stat(&sim, "exchange");
    assert_eq!(exchanges, 1, "{:?}", sim.handle().stats());
    // No loop: over a few seconds, nothing more reaches Meta.
    let before = sim.handle().stats();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = sim.handle().stats();
    assert_eq!(before, after, "{}", daemon.stderr());
    // Further sends get the 190 too, each one request to Meta and no new refresh attempt.
    for _ in 0..5 {
        let response = http
            .post(format!("{}{}", daemon.url(), messages_path()))
            .json(&text_send("never sent"))
            .send()
            .await
            .unwrap();
        let (status, _, body) = read(response).await;
        assert_eq!(status, 401, "{body}");
        assert_eq!(without_trace(&body)["error"]["code"], 190);
    }
    let after_sends = sim.handle().stats();
    assert_eq!(
        after_sends.total,
        after.total + 5,
        "{after:?} then {after_sends:?}\n{}",
        daemon.stderr()
    );
    assert!(sim.handle().sent_messages().is_empty());
    let check = support::cli::tokentop(
        daemon.dir.path(),
        &[
            "--config",
            daemon.config_path().to_str().unwrap(),
            "--data-dir",
            daemon.data_dir().to_str().unwrap(),
            "--graph-url",
            &sim.base_url(),
            "check",
            "--json",
        ],
        &[],
    )
    .await;
    let report: Value = serde_json::from_slice(&check.stdout)
        .unwrap_or_else(|_| panic!("{}", support::cli::all_text(&check)));
    let reasons = report["accounts"][0]["reasons"].to_string();
    assert!(reasons.contains("re-auth required"), "{report:#}");
    assert_eq!(report["status"], "CRITICAL", "{report:#}");
    daemon.stop().await;
}

/// Every answer a client got, for the leak check.
#[derive(Default)]
struct Seen(Vec<String>);

impl Seen {
    async fn read(&mut self, response: reqwest::Response) -> (u16, String) {
        let (status, headers, body) = read(response).await;
        self.0.push(format!("{headers:?}\n{body}"));
        (status, body)
    }
}

fn assert_no_secret(label: &str, text: &str, secrets: &[&str]) {
    for secret in secrets {
        assert!(
            !text.contains(secret),
            "{label} holds a secret ({}…):\n{text}",
            &secret[..6]
        );
    }
}

/// The client's credentials never reach Meta (a junk token anywhere still sends with the
/// account's), other paths are refused, and no answer, log or history line holds a secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_credentials_are_stripped_and_nothing_leaks() {
    let sim = start_sim().await;
    let token = system_user(&sim);
    let daemon = loopback_proxy(&sim, &token).await;
    let junk = "EAAGjunkClientToken0000000000";
    let http = http();
    let url = format!("{}{}", daemon.url(), messages_path());
    let mut seen = Seen::default();

    let sends = [
        (
            "bearer",
            http.post(&url).bearer_auth(junk).json(&text_send("bearer")),
        ),
        (
            "query",
            http.post(format!("{url}?access_token={junk}&appsecret_proof=00ff"))
                .json(&text_send("query")),
        ),
        (
            "form",
            http.post(&url).form(&[
                ("access_token", junk),
                ("messaging_product", "whatsapp"),
                ("to", TO),
                ("type", "text"),
                ("text", r#"{"body":"form"}"#),
            ]),
        ),
        (
            "json",
            http.post(&url).json(&json!({
                "access_token": junk, "appsecret_proof": "00ff",
                "messaging_product": "whatsapp", "to": TO, "type": "text",
                "text": {"body": "json"},
            })),
        ),
    ];
    for (what, request) in sends {
        let (status, body) = seen.read(request.send().await.unwrap()).await;
        assert_eq!(status, 200, "{what}: {body}\n{}", daemon.stderr());
    }
    let sent = sim.handle().sent_messages();
    let texts: Vec<_> = sent.iter().filter_map(|m| m.text.as_deref()).collect();
    assert_eq!(texts, ["bearer", "query", "form", "json"]);
    assert_eq!(sent.len(), 4);
    assert!(sent.iter().all(|m| m.access_token == token), "{sent:?}");

    // A read with the junk token in the query: Meta sees the account's token.
    let (status, body) = seen
        .read(
            http.get(format!(
                "{}/v25.0/{PHONE_ID}?fields=status&access_token={junk}",
                daemon.url()
            ))
            .send()
            .await
            .unwrap(),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    // A body without a Content-Type, which Meta reads as a form: scrubbed as one.
    let untyped = format!(
        "messaging_product=whatsapp&to={TO}&type=text&text=%7B%22body%22%3A%22untyped%22%7D&access_token={junk}"
    );
    let (status, body) = seen
        .read(http.post(&url).body(untyped).send().await.unwrap())
        .await;
    assert_eq!(status, 200, "untyped: {body}");
    let last = sim.handle().sent_messages().pop().unwrap();
    assert_eq!(last.text.as_deref(), Some("untyped"));
    assert_eq!(last.access_token, token);

    // A multipart body with a credential part, in any spelling a parser accepts, is refused,
    // not rewritten.
    let boundary = "b0undary";
    for disposition in [
        "name=\"access_token\"",
        "name=access_token",
        "name = \"access_token\"",
        "name*=UTF-8''appsecret_proof",
    ] {
        let mut multipart = format!(
            "--{boundary}\r\nContent-Disposition: form-data; {disposition}\r\n\r\n{junk}\r\n"
        )
        .into_bytes();
        multipart.extend(media_body(boundary, b"file"));
        let (status, body) = seen
            .read(
                http.post(format!("{}/v25.0/{PHONE_ID}/media", daemon.url()))
                    .header(
                        "content-type",
                        format!("multipart/form-data; boundary={boundary}"),
                    )
                    .body(multipart)
                    .send()
                    .await
                    .unwrap(),
            )
            .await;
        assert_eq!(status, 400, "{disposition}: {body}");
        assert!(body.contains("access_token"), "{body}");
    }
    assert_eq!(stat(&sim, "media"), 0);

    // Outside the allow-list: 403, saying how to allow it; Meta never sees it.
    let before = sim.handle().stats().total;
    for (method, path) in [
        (
            reqwest::Method::GET,
            "/v25.0/oauth/access_token?grant_type=fb_exchange_token",
        ),
        (reqwest::Method::POST, "/oauth/access_token"),
        (reqwest::Method::GET, "/v25.0/me/accounts"),
    ] {
        let (status, body) = seen
            .read(
                http.request(method, format!("{}{path}", daemon.url()))
                    .send()
                    .await
                    .unwrap(),
            )
            .await;
        assert_eq!(status, 403, "{path}: {body}");
        assert!(body.contains("[proxy] allow"), "{body}");
        assert_eq!(
            serde_json::from_str::<Value>(&body).unwrap()["error"]["type"],
            "TokentopProxyError"
        );
    }
    assert_eq!(sim.handle().stats().total, before);

    let secrets = [token.as_str(), DEFAULT_APP_SECRET];
    for (i, answer) in seen.0.iter().enumerate() {
        assert_no_secret(&format!("answer {i}"), answer, &secrets);
    }
    let history = std::fs::read_to_string(daemon.data_dir().join("history.jsonl")).unwrap();
    assert!(history.contains("\"event\":\"inspect\""), "{history}");
    let dir = daemon.stop().await;
    let stderr = std::fs::read_to_string(dir.path().join("daemon.err")).unwrap();
    // The access log has a line per request, tokens never in it.
    assert!(
        stderr.contains(&format!("POST /v25.0/{PHONE_ID}/messages 200")),
        "{stderr}"
    );
    assert_no_secret("the daemon's stderr", &stderr, &secrets);
    assert_no_secret("the daemon's stderr", &stderr, &[junk]);
    let files = support::proxy::files_under(&dir.path().join("data"));
    assert!(!files.is_empty());
    for (path, text) in files {
        assert_no_secret(&path.display().to_string(), &text, &secrets);
    }
}

/// With `client-token`, the application must send it as a bearer token; it is not forwarded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_token_is_required_when_configured() {
    let sim = start_sim().await;
    let token = system_user(&sim);
    let client_token = "proxy-client-token-for-tests-3f9a";
    let daemon = ProxyDaemon::start(
        &sim,
        &config(
            &format!("{LOOPBACK}\nclient-token = {{ env = \"TOKENTOP_TEST_CLIENT_TOKEN\" }}"),
            "",
            DEFAULT_APP_SECRET,
            &format!("access-token = \"{token}\""),
        ),
        &[("TOKENTOP_TEST_CLIENT_TOKEN", client_token)],
    )
    .await;
    let http = http();
    let url = format!("{}{}", daemon.url(), messages_path());
    let mut seen = Seen::default();
    let missing = http.post(&url).json(&text_send("no client token"));
    let wrong = http
        .post(&url)
        .bearer_auth("not-the-client-token")
        .json(&text_send("wrong client token"));
    for (what, request) in [("missing", missing), ("wrong", wrong)] {
        let (status, body) = seen.read(request.send().await.unwrap()).await;
        assert_eq!(status, 401, "{what}: {body}");
        assert!(body.contains("client-token"), "{body}");
    }
    // The allow-list is not even consulted without the client token.
    let (status, _) = seen
        .read(
            http.get(format!("{}/v25.0/oauth/access_token", daemon.url()))
                .send()
                .await
                .unwrap(),
        )
        .await;
    assert_eq!(status, 401);
    assert_eq!(sim.handle().stats().by_endpoint.get("messages"), None);
    let (status, body) = seen
        .read(
            http.post(&url)
                .bearer_auth(client_token)
                .json(&text_send("with the client token"))
                .send()
                .await
                .unwrap(),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let sent = sim.handle().sent_messages();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].access_token, token);
    assert_eq!(body, accepted_body(TO, &sent[0].wamid));
    for answer in &seen.0 {
        assert_no_secret(
            "an answer",
            answer,
            &[&token, DEFAULT_APP_SECRET, client_token],
        );
    }
    let dir = daemon.stop().await;
    let stderr = std::fs::read_to_string(dir.path().join("daemon.err")).unwrap();
    assert_no_secret(
        "stderr",
        &stderr,
        &[&token, DEFAULT_APP_SECRET, client_token],
    );
}

/// `listen = "unix:PATH"`: a socket of mode 0660 that serves the same proxy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_over_the_unix_socket_works() {
    let sim = start_sim().await;
    let token = system_user(&sim);
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("graph.sock");
    let daemon = ProxyDaemon::start_in(
        dir,
        &sim,
        &config(
            &format!("listen = \"unix:{}\"", socket.display()),
            "",
            DEFAULT_APP_SECRET,
            &format!("access-token = \"{token}\""),
        ),
        &[],
    )
    .await;
    let ProxyAddr::Unix(logged) = &daemon.addr else {
        panic!("{:?}", daemon.addr);
    };
    assert_eq!(logged, &socket);
    let meta = std::fs::symlink_metadata(&socket).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o660);
    let body = text_send("over the socket").to_string();
    let (status, headers, answer) = unix_request(
        &socket,
        "POST",
        &messages_path(),
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
    .await;
    let answer = String::from_utf8(answer).unwrap();
    assert_eq!(status, 200, "{answer}\n{}", daemon.stderr());
    let sent = sim.handle().sent_messages();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].access_token, token);
    assert_eq!(sent[0].text.as_deref(), Some("over the socket"));
    assert_eq!(answer, accepted_body(TO, &sent[0].wamid));
    assert!(
        headers
            .iter()
            .any(|(name, _)| name == "x-business-use-case-usage"),
        "{headers:?}"
    );
    daemon.stop().await;
}

/// Bodies over `retry-body-limit` stream through (a media upload arrives whole), are never
/// sent twice: a 190 on one reaches the client, and the token is renewed for the next request.
/// Bodies over `max-request-body` are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_uploads_stream_through_and_are_not_retried() {
    let sim = start_sim().await;
    let access = sim
        .handle()
        .mint_token(
            TokenKind::LongLivedUser,
            Some(Duration::from_secs(30 * 86_400)),
        )
        .access_token;
    let long_lived = sim
        .handle()
        .mint_token(TokenKind::LongLivedUser, None)
        .access_token;
    let daemon = ProxyDaemon::start(
        &sim,
        &config(
            &format!("{LOOPBACK}\nretry-body-limit = \"4KiB\"\nmax-request-body = \"8MiB\""),
            "send-guard = \"0s\"",
            DEFAULT_APP_SECRET,
            &format!("access-token = \"{access}\"\nlong-lived-token = \"{long_lived}\""),
        ),
        &[],
    )
    .await;
    wait_inspected(&daemon).await;
    let http = http();
    let boundary = "large-upload-boundary";
    let upload = |file: Vec<u8>| {
        http.post(format!("{}/v25.0/{PHONE_ID}/media", daemon.url()))
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(media_body(boundary, &file))
    };
    // Over axum's default body limit (2 MB) too, which the simulator must not apply.
    let file = binary_file(3 << 20);
    let (status, _, body) = read(upload(file.clone()).send().await.unwrap()).await;
    assert_eq!(status, 200, "{body}\n{}", daemon.stderr());
    let media = sim.handle().uploaded_media();
    assert_eq!(media[0].file_len, file.len());
    assert_eq!(body, json!({"id": media[0].id}).to_string());

    // The token expires behind the engine's back: the streamed upload gets Meta's 190 as it
    // is (Meta saw it once), and the next upload goes with the renewed token.
    assert!(sim.handle().expire_now(&access));
    let media_before = stat(&sim, "media");
    let (status, _, body) = read(upload(file.clone()).send().await.unwrap()).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(without_trace(&body)["error"]["code"], 190, "{body}");
    assert_eq!(stat(&sim, "media"), media_before + 1);
    assert_eq!(stat(&sim, "exchange"), 1, "{}", daemon.stderr());
    let (status, _, body) = read(upload(file.clone()).send().await.unwrap()).await;
    assert_eq!(status, 200, "{body}\n{}", daemon.stderr());
    let media = sim.handle().uploaded_media();
    assert_eq!(media.len(), 2, "{media:?}");
    assert_ne!(media[1].access_token, access);
    assert_eq!(stat(&sim, "exchange"), 1);

    // A credential part after the file of a streamed upload: cut off before it goes up.
    let mut tail = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=access_token\r\n\r\nEAAGjunk\r\n"
    )
    .into_bytes();
    let mut sneaky = media_body(boundary, &binary_file(64 * 1024));
    let end = sneaky.len() - format!("--{boundary}--\r\n").len();
    tail.extend_from_slice(&sneaky[end..]);
    sneaky.truncate(end);
    sneaky.extend(tail);
    let response = http
        .post(format!("{}/v25.0/{PHONE_ID}/media", daemon.url()))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(sneaky)
        .send()
        .await
        .unwrap();
    let (status, _, body) = read(response).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("access_token"), "{body}");
    assert_eq!(sim.handle().uploaded_media().len(), 2);

    // A JSON body cannot stream: it must be read whole to lose its credentials.
    let padding = "x".repeat(8 * 1024);
    let response = http
        .post(format!("{}{}", daemon.url(), messages_path()))
        .json(
            &json!({"messaging_product": "whatsapp", "to": TO, "type": "text",
            "text": {"body": padding}, "access_token": "EAAGjunk"}),
        )
        .send()
        .await
        .unwrap();
    let (status, _, body) = read(response).await;
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("retry-body-limit"), "{body}");

    // Over max-request-body: refused before Meta sees it.
    // The proxy answers from the declared length without reading the body (a client still
    // writing it may meet a closed connection first), so only the head is sent here.
    let total = sim.handle().stats().total;
    let answer = head_only(
        daemon.url(),
        &format!(
            "POST /v25.0/{PHONE_ID}/media HTTP/1.1\r\nHost: proxy\r\n\
             Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {}\r\n\r\n",
            9 << 20
        ),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("max-request-body"), "{answer}");
    assert_eq!(sim.handle().stats().total, total);
    daemon.stop().await;
}

/// Sends a request head (no body) over TCP and reads the answer until the proxy closes.
async fn head_only(url: &str, head: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    // Until the body of the answer is in (the connection may stay open).
    while !String::from_utf8_lossy(&answer).contains("}}") {
        let read = tokio::time::timeout_at(deadline, stream.read(&mut buf))
            .await
            .expect("no answer within 30 s")
            .unwrap();
        if read == 0 {
            break;
        }
        answer.extend_from_slice(&buf[..read]);
    }
    String::from_utf8_lossy(&answer).into_owned()
}

/// The `/metrics` address the daemon logged (`serving /metrics ... on http://ADDR`).
fn metrics_url(daemon: &ProxyDaemon) -> Option<String> {
    let stderr = daemon.stderr();
    let line = stderr.lines().find(|l| l.contains("serving /metrics"))?;
    let addr = line.split("on http://").nth(1)?.split_whitespace().next()?;
    Some(format!("http://{addr}/metrics"))
}

/// Scrapes the daemon's `/metrics` until every line of `expected` is in it (30 s at most).
async fn wait_for_metrics(daemon: &ProxyDaemon, expected: &[&str]) {
    let http = http();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let scrape = match metrics_url(daemon) {
            Some(metrics) => http
                .get(&metrics)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap(),
            None => String::new(),
        };
        if expected.iter().all(|line| scrape.contains(line)) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{expected:?} never showed in /metrics:\n{scrape}\n--- stderr ---\n{}",
            daemon.stderr()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxied_sends_count_as_delivery_source_proxy_in_the_metrics() {
    let sim = start_sim().await;
    let token = system_user(&sim);
    // `[serve]` rides in the `[refresh]` slot of the helper's config: it is its own table.
    let serve = "\n[serve]\nlisten = \"127.0.0.1:0\"";
    let account = format!("access-token = \"{token}\"");
    let daemon = ProxyDaemon::start(
        &sim,
        &config(LOOPBACK, serve, DEFAULT_APP_SECRET, &account),
        &[],
    )
    .await;
    let url = format!("{}{}", daemon.url(), messages_path());
    let http = http();
    for text in ["one", "two"] {
        let response = http.post(&url).json(&text_send(text)).send().await.unwrap();
        assert_eq!(response.status(), 200);
    }
    sim.handle().set_faults(tokentop::sim::Faults {
        message_failure_code: Some(131_026),
        ..tokentop::sim::Faults::default()
    });
    let refused = http
        .post(&url)
        .json(&text_send("three"))
        .send()
        .await
        .unwrap();
    assert!(refused.status().is_client_error(), "{}", refused.status());
    sim.handle().clear_faults();

    let expected = [
        r#"tokentop_messages_total{account="main",source="proxy",outcome="delivered"} 2"#,
        r#"tokentop_messages_total{account="main",source="proxy",outcome="failed"} 1"#,
        r#"tokentop_message_failures_total{account="main",code="131026"} 1"#,
    ];
    wait_for_metrics(&daemon, &expected).await;
    // The refused send has a history row; the accepted ones do not (see docs/proxy.md).
    let history = std::fs::read_to_string(daemon.data_dir().join("history.jsonl")).unwrap();
    let proxy_rows: Vec<&str> = history
        .lines()
        .filter(|l| l.contains(r#""trigger":"proxy""#))
        .collect();
    assert_eq!(proxy_rows.len(), 1, "{history}");
    assert!(proxy_rows[0].contains("131026"), "{history}");
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_meta_meets_the_concurrency_cap_and_the_timeout_with_clear_errors() {
    let sim = start_sim().await;
    let token = system_user(&sim);
    let proxy = "listen = \"127.0.0.1:0\"\ntimeout = \"2s\"\nmax-concurrent = 1";
    let account = format!("access-token = \"{token}\"");
    let daemon =
        ProxyDaemon::start(&sim, &config(proxy, "", DEFAULT_APP_SECRET, &account), &[]).await;
    // The first inspection happens before Meta slows down.
    wait_inspected(&daemon).await;
    let slow = |latency_ms| tokentop::sim::Faults {
        latency_ms,
        ..tokentop::sim::Faults::default()
    };
    sim.handle().set_faults(slow(1500));
    let url = format!("{}{}", daemon.url(), messages_path());
    let http = http();
    let send = |text: &'static str| {
        let (http, url) = (http.clone(), url.clone());
        async move {
            let response = http.post(&url).json(&text_send(text)).send().await.unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };
    // One slot, 1.5 s per send, 2 s to wait for the slot: the first send holds it until
    // 1.5 s, the first waiter takes it then (done at 3 s), the second gives up at 2 s.
    let (a, b, c) = tokio::join!(send("one"), send("two"), send("three"));
    let mut answers = [a, b, c];
    answers.sort();
    let statuses: Vec<u16> = answers.iter().map(|(status, _)| *status).collect();
    assert_eq!(statuses, [200, 200, 503], "{answers:?}");
    assert!(answers[2].1.contains("max-concurrent"), "{answers:?}");
    assert_eq!(sim.handle().sent_messages().len(), 2);

    sim.handle().set_faults(slow(3000));
    let (status, body) = send("too slow").await;
    assert_eq!(status, 504, "{body}");
    assert!(body.contains("did not answer within 2 s"), "{body}");
    sim.handle().clear_faults();
    daemon.stop().await;
}

/// Issue 20 item 2: a 190 that is not about the lent token (here injected; in the attack, the
/// client's own credential) never makes the proxy exchange: Meta's inspection says the lent
/// token is valid, so ten such answers cost no exchange and at most one inspection, and a
/// request that carried its own credential is not even inspected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_190_about_anything_but_the_lent_token_never_renews_it() {
    let sim = start_sim().await;
    let token = system_user(&sim);
    let account = format!("access-token = \"{token}\"");
    let daemon = ProxyDaemon::start(
        &sim,
        &config(LOOPBACK, "", DEFAULT_APP_SECRET, &account),
        &[],
    )
    .await;
    wait_inspected(&daemon).await;
    let inspections_before = stat(&sim, "debug_token");
    sim.handle().set_faults(tokentop::sim::Faults {
        message_failure_code: Some(190),
        ..tokentop::sim::Faults::default()
    });
    let url = format!("{}{}", daemon.url(), messages_path());
    let http = http();
    for i in 0..10 {
        let mut request = http.post(&url).json(&text_send(&format!("try {i}")));
        if i % 2 == 1 {
            request = request.bearer_auth("EAAGclientsownbogustoken0000");
        }
        let (status, _, body) = read(request.send().await.unwrap()).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(without_trace(&body)["error"]["code"], 190, "{body}");
    }
    sim.handle().clear_faults();
    assert_eq!(stat(&sim, "exchange"), 0, "{:?}", sim.handle().stats());
    let inspections = stat(&sim, "debug_token") - inspections_before;
    assert!(inspections <= 1, "{inspections} inspections for ten 190s");
    // The working token still works.
    let (status, _, body) = read(
        http.post(&url)
            .json(&text_send("after"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        sim.handle()
            .sent_messages()
            .iter()
            .all(|m| m.access_token == token)
    );
}

/// Issue 20 item 1: every spelling of a dot segment that an HTTP client or Meta would resolve
/// is refused with 400 before routing, on TCP and on the unix socket, and nothing reaches the
/// token endpoint. (Raw request lines: an HTTP client library would resolve `..` itself.)
const WALKS_OUT: [&str; 7] = [
    "/v25.0/106540352242922/../oauth/access_token?grant_type=fb_exchange_token",
    "/106540352242922/%2e%2e/oauth/access_token",
    "/106540352242922/.%2E/oauth/access_token",
    "/106540352242922/..\\oauth/access_token",
    "/106540352242922/../../me",
    "/106540352242922/./../me/permissions",
    "http://graph.facebook.com/106540352242922/../oauth/access_token",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dot_segments_cannot_walk_out_of_the_allow_list_on_tcp_or_the_socket() {
    let sim = start_sim().await;
    let token = system_user(&sim);
    let account = format!("access-token = \"{token}\"");
    let tcp = ProxyDaemon::start(
        &sim,
        &config(LOOPBACK, "", DEFAULT_APP_SECRET, &account),
        &[],
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("graph.sock");
    let unix = ProxyDaemon::start_in(
        dir,
        &sim,
        &config(
            &format!("listen = \"unix:{}\"", socket.display()),
            "",
            DEFAULT_APP_SECRET,
            &account,
        ),
        &[],
    )
    .await;
    for path in WALKS_OUT {
        for method in ["GET", "DELETE", "POST"] {
            let head = format!(
                "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            let answer = head_only(tcp.url(), &head).await;
            assert!(
                answer.starts_with("HTTP/1.1 400"),
                "TCP {method} {path}: {answer}"
            );
            let (status, _, body) = unix_request(&socket, method, path, &[], b"").await;
            let body = String::from_utf8_lossy(&body);
            assert_eq!(status, 400, "socket {method} {path}: {body}");
        }
    }
    let stats = sim.handle().stats();
    for endpoint in ["exchange", "revoke", "unknown"] {
        assert_eq!(stats.by_endpoint.get(endpoint), None, "{stats:?}");
    }
    tcp.stop().await;
    unix.stop().await;
}

/// Issue 20 item 3: a credential in a body of a type the proxy does not rewrite is refused
/// (the simulator, like Meta, would use it), and so is a request with two Content-Types.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_credential_in_a_body_of_any_type_never_reaches_meta() {
    let sim = start_sim().await;
    let token = system_user(&sim);
    let account = format!("access-token = \"{token}\"");
    let daemon = ProxyDaemon::start(
        &sim,
        &config(LOOPBACK, "", DEFAULT_APP_SECRET, &account),
        &[],
    )
    .await;
    let url = format!("{}{}", daemon.url(), messages_path());
    let http = http();
    let form = format!(
        "messaging_product=whatsapp&to={TO}&type=text&text=%7B%22body%22%3A%22hi%22%7D&access.token=EAAGclientsown0000000"
    );
    for content_type in ["text/plain", "application/octet-stream"] {
        let response = http
            .post(&url)
            .header("content-type", content_type)
            .body(form.clone())
            .send()
            .await
            .unwrap();
        let (status, _, body) = read(response).await;
        assert_eq!(status, 400, "{content_type}: {body}");
    }
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: localhost\r\nContent-Type: image/png\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{form}",
        messages_path(),
        form.len()
    );
    let answer = head_only(daemon.url(), &head).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("more than one Content-Type"), "{answer}");
    // The same form declared as a form goes, scrubbed, with the account's token.
    let response = http
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    let (status, _, body) = read(response).await;
    assert_eq!(status, 200, "{body}");
    let sent = sim.handle().sent_messages();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].access_token, token);
}

/// Issue 20 item 7: clients sending their bodies slowly hold no upstream slot: with every
/// slot's worth of slow senders connected, another send still goes through at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_bodies_do_not_take_the_upstream_slots() {
    use tokio::io::AsyncWriteExt;
    let sim = start_sim().await;
    let token = system_user(&sim);
    let account = format!("access-token = \"{token}\"");
    let daemon = ProxyDaemon::start(
        &sim,
        &config(
            &format!("{LOOPBACK}\nmax-concurrent = 4\ntimeout = \"20s\""),
            "",
            DEFAULT_APP_SECRET,
            &account,
        ),
        &[],
    )
    .await;
    let addr = daemon.url().trim_start_matches("http://").to_string();
    let mut slow = Vec::new();
    for _ in 0..8 {
        let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let head = format!(
            "POST {} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{",
            messages_path()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        slow.push(stream);
    }
    let started = tokio::time::Instant::now();
    let response = http()
        .post(format!("{}{}", daemon.url(), messages_path()))
        .json(&text_send("while others dawdle"))
        .send()
        .await
        .unwrap();
    let (status, _, body) = read(response).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    drop(slow);
}

/// After a rotation, an application that still sends the previous token of its own (the proxy
/// replaces it) is counted as not having picked up the new one; another credential is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_still_carrying_the_previous_token_is_counted_as_stale() {
    let sim = start_sim().await;
    let access = sim
        .handle()
        .mint_token(
            TokenKind::LongLivedUser,
            Some(Duration::from_secs(2 * 3600)),
        )
        .access_token;
    let settings =
        "send-guard = \"3h\"\nrefresh-before = \"1m\"\n\n[serve]\nlisten = \"127.0.0.1:0\"";
    let daemon = user_daemon(&sim, &access, settings).await;
    let url = format!("{}{}", daemon.url(), messages_path());
    let http = http();
    // The first send rotates the token (it expires within the send guard).
    let first = http
        .post(&url)
        .json(&text_send("rotate"))
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 200, "{}", daemon.stderr());
    assert_eq!(stat(&sim, "exchange"), 1);
    for credential in [
        access.as_str(),
        "EAAGsomeoneelsestoken0000",
        access.as_str(),
    ] {
        let response = http
            .post(&url)
            .bearer_auth(credential)
            .json(&text_send("with a token of its own"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{}", daemon.stderr());
    }
    let sent = sim.handle().sent_messages();
    assert!(
        sent.iter().all(|m| m.access_token != access),
        "a send went upstream with the previous token"
    );
    wait_for_metrics(
        &daemon,
        &[r#"tokentop_proxy_stale_token_sends{account="main"} 2"#],
    )
    .await;
    let stderr = daemon.stderr();
    let warnings = stderr.matches("has not picked up the new token").count();
    assert_eq!(warnings, 1, "one warning per rotation:\n{stderr}");
    assert!(!stderr.contains(&access), "the token reached the log");
    daemon.stop().await;
}

/// The proxy serves without a router in front: every method and path reaches its own routing,
/// which refuses what is not allowed (a bare media id written to, unknown and empty paths)
/// before Meta sees it, and each refusal gets its access line, the path without the query.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_method_and_path_meets_the_proxys_own_routing_and_is_logged() {
    let sim = start_sim().await;
    let token = system_user(&sim);
    let daemon = loopback_proxy(&sim, &token).await;
    let http = http();
    let before = sim.handle().stats().total;
    let junk = "EAAGsecretinthequery";
    for (method, path, status) in [
        (reqwest::Method::DELETE, "/v25.0/987654321", 403),
        (reqwest::Method::PUT, "/v25.0/987654321", 403),
        (reqwest::Method::GET, "/", 403),
        (reqwest::Method::OPTIONS, "/v25.0/me", 403),
        (reqwest::Method::PATCH, "/v25.0/102290129340398%2Fme", 400),
    ] {
        let url = format!("{}{path}?access_token={junk}", daemon.url());
        let response = http.request(method.clone(), url).send().await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{method} {path}");
        let line = format!("{method} {path} {status} account=\"-\" retried=false total_ms=");
        daemon.wait_for_log(&line).await;
    }
    assert_eq!(sim.handle().stats().total, before);
    // A send still goes through, and is logged with its account.
    let response = http
        .post(format!("{}{}", daemon.url(), messages_path()))
        .json(&text_send("after the refusals"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    daemon
        .wait_for_log(&format!(
            "POST {} 200 account=\"main\" upstream_ms=",
            messages_path()
        ))
        .await;
    let stderr = daemon.stderr();
    assert!(!stderr.contains(junk), "{stderr}");
    assert!(!stderr.contains(&token), "{stderr}");
    // The log file has the same lines, with their target.
    let dir = daemon.stop().await;
    let logs: String = support::proxy::files_under(&dir.path().join("data").join("logs"))
        .into_iter()
        .map(|(_, text)| text)
        .collect();
    assert!(
        logs.contains(&format!(
            "  INFO tokentop::proxy: POST {} 200 account=\"main\" upstream_ms=",
            messages_path()
        )),
        "{logs}"
    );
    assert!(!logs.contains(junk) && !logs.contains(&token), "{logs}");
}
