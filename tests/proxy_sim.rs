#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Issue 12 section 3: the real `tokentop daemon` with `[proxy] listen`, in front of the
//! in-process simulator (which requires `appsecret_proof`, so a send only succeeds with the
//! account's token and a correct proof), driven by a real HTTP client.

mod support;

use std::collections::HashSet;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::time::Duration;

use serde_json::{Value, json};
use support::proxy::{PHONE_ID, ProxyAddr, ProxyDaemon, config, unix_request, wait_until};
use tokentop::sim::{DEFAULT_APP_SECRET, RunningSim, SimConfig, TokenKind};

const TO: &str = "15551234567";
const LOOPBACK: &str = "listen = \"127.0.0.1:0\"";

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
    let mut file = vec![0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n', 0xff, 0x00];
    file.extend((0..len.saturating_sub(file.len())).map(|i| (i * 7 % 256) as u8));
    file
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_form_and_media_reach_meta_with_the_accounts_token_and_proof() {
    let sim = start_sim().await;
    let token = system_user(&sim);
    let daemon = ProxyDaemon::start(
        &sim,
        &config(
            LOOPBACK,
            "",
            DEFAULT_APP_SECRET,
            &format!("access-token = \"{token}\""),
        ),
        &[],
    )
    .await;
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
