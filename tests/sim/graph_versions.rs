//! Issue 24, the upgraded-version header over real HTTP: the simulator's `/_sim/versions`
//! (set, read, refuse, revive), its `facebook-api-version` on every Graph answer, and the
//! Graph client noting a dead version's calls served as a newer one, logging it once, and
//! never reading or logging a header that is not a version.

use crate::support::trace_capture::Captured;
use std::time::Duration;

use reqwest::{Client, StatusCode};
use secrecy::SecretString;
use serde_json::{Value, json};
use tokentop::config::GraphSettings;
use tokentop::graph::{AppCredentials, GraphClient, Upgrade};
use tokentop::sim::{
    DEFAULT_APP_ID, DEFAULT_APP_SECRET, Faults, RunningSim, SimConfig, SimVersions, TokenKind,
};

const PHONE: &str = "106540352242922";
const HEADER: &str = "facebook-api-version";

async fn start_sim() -> RunningSim {
    tokentop::graph::install_tls_provider();
    RunningSim::start(SimConfig::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

fn http() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

fn client_for(base_url: &str, version: &str) -> GraphClient {
    GraphClient::new(&GraphSettings {
        base_url: base_url.to_string(),
        version: version.to_string(),
        request_timeout: Duration::from_secs(10),
        ..GraphSettings::default()
    })
    .unwrap()
}

fn app() -> AppCredentials {
    AppCredentials::new(
        DEFAULT_APP_ID.to_string(),
        SecretString::from(DEFAULT_APP_SECRET),
    )
}

/// The header and status of `GET path` with a valid app token.
async fn served(sim: &RunningSim, token: &str, path: &str) -> (StatusCode, Option<String>) {
    let app_token = format!("{DEFAULT_APP_ID}|{DEFAULT_APP_SECRET}");
    let response = http()
        .get(format!("{}{path}", sim.base_url()))
        .query(&[("input_token", token), ("access_token", &app_token)])
        .send()
        .await
        .unwrap();
    let header = response
        .headers()
        .get(HEADER)
        .map(|v| v.to_str().unwrap().to_string());
    (response.status(), header)
}

async fn control(sim: &RunningSim, method: reqwest::Method, body: Option<Value>) -> (u16, Value) {
    let mut request = http().request(method, format!("{}/_sim/versions", sim.base_url()));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn sim_versions_are_set_read_refused_and_revived_over_http() {
    let sim = start_sim().await;
    let (status, state) = control(&sim, reqwest::Method::GET, None).await;
    assert_eq!(status, 200);
    assert_eq!(
        state,
        json!({"dead": [], "oldest_live": "v20.0", "app_default": "v27.0"})
    );

    let (status, state) = control(
        &sim,
        reqwest::Method::POST,
        Some(json!({"dead": ["v21.0"]})),
    )
    .await;
    assert_eq!(status, 200, "{state}");
    assert_eq!(state["dead"], json!(["v20.0", "v21.0"]));
    assert_eq!(state["oldest_live"], "v22.0");
    let (_, read) = control(&sim, reqwest::Method::GET, None).await;
    assert_eq!(read, state);
    let typed: SimVersions = serde_json::from_value(read).unwrap();
    assert_eq!(typed, sim.handle().versions());

    let allowed = "allowed: v20.0, v21.0, v22.0, v23.0, v24.0, v25.0, v26.0";
    for (body, says) in [
        (json!({"dead": ["v27.0"]}), "newest"),
        (
            json!({"dead": ["v19.0"]}),
            "not a version the simulator serves",
        ),
        (json!({"dead": ["latest"]}), "not a Graph API version"),
        (json!({"dead": "v21.0"}), "field `dead`"),
        (json!({"dead": ["v21.0"], "alive": []}), "alive"),
        (json!({}), "missing field `dead`"),
    ] {
        let (status, reply) = control(&sim, reqwest::Method::POST, Some(body.clone())).await;
        assert_eq!(status, 400, "{body} -> {reply}");
        let message = reply["message"].as_str().unwrap();
        assert!(message.contains(says), "{body}: {message}");
        if says != "alive" && says != "missing field `dead`" && body["dead"].is_array() {
            assert!(message.starts_with("field `dead`: "), "{message}");
            assert!(message.contains(allowed), "{message}");
        }
    }
    // A refusal changed nothing.
    assert_eq!(sim.handle().versions().oldest_live, "v22.0");

    let (status, state) = control(&sim, reqwest::Method::DELETE, None).await;
    assert_eq!((status, &state["dead"]), (200, &json!([])));
}

/// Every Graph answer names its version: the requested one, the oldest live one for a dead
/// version (with no error), the app's default for an unversioned path, and a faulted answer too.
#[tokio::test]
async fn every_graph_answer_names_the_version_that_served_it() {
    let sim = start_sim().await;
    let token = sim
        .handle()
        .mint_token(TokenKind::SystemUser, None)
        .access_token;
    let asks = |path: &'static str| served(&sim, &token, path);
    assert_eq!(
        asks("/v21.0/debug_token").await,
        (StatusCode::OK, Some("v21.0".to_string()))
    );
    assert_eq!(asks("/debug_token").await.1.as_deref(), Some("v27.0"));

    sim.handle().set_dead_versions(&["v21.0"]).unwrap();
    let before = sim.handle().stats().total;
    for path in ["/v21.0/debug_token", "/v20.0/debug_token"] {
        let (status, version) = asks(path).await;
        assert_eq!(status, StatusCode::OK, "{path}: a dead version is no error");
        assert_eq!(version.as_deref(), Some("v22.0"), "{path}");
    }
    assert_eq!(sim.handle().stats().total, before + 2);
    assert_eq!(asks("/v25.0/debug_token").await.1.as_deref(), Some("v25.0"));

    sim.handle().set_faults(Faults {
        error_5xx_probability: 1.0,
        ..Faults::default()
    });
    let (status, version) = asks("/v21.0/debug_token").await;
    assert!(status.is_server_error());
    assert_eq!(version.as_deref(), Some("v22.0"));
}

fn capture() -> (Captured, tracing::subscriber::DefaultGuard) {
    crate::support::trace_capture::capture(tracing::Level::DEBUG)
}

#[tokio::test]
async fn the_client_notes_a_dead_versions_calls_and_warns_once() {
    let sim = start_sim().await;
    let handle = sim.handle();
    let token = SecretString::from(handle.mint_token(TokenKind::SystemUser, None).access_token);
    let client = client_for(&sim.base_url(), "v21.0");
    let (captured, guard) = capture();

    // Live: nothing to note.
    client.debug_token(&app(), &token).await.unwrap();
    assert!(client.served_versions().upgrades().is_empty());

    handle.set_dead_versions(&["v21.0"]).unwrap();
    for _ in 0..3 {
        let info = client.debug_token(&app(), &token).await.unwrap();
        assert!(info.is_valid, "a dead version's call still answers");
    }
    client.phone_health(&app(), &token, PHONE).await.unwrap();
    // A batch goes to the unversioned `/`, answered in the app's default version: no upgrade.
    client
        .debug_tokens(&app(), std::slice::from_ref(&token))
        .await
        .unwrap();
    drop(guard);
    assert_eq!(handle.stats().by_endpoint.get("batch"), Some(&1));

    let served = client.clone().served_versions();
    assert_eq!(
        served.upgrades(),
        [Upgrade {
            requested: "v21.0".to_string(),
            served: "v22.0".to_string(),
        }]
    );
    assert_eq!(served.served_as("v21.0").as_deref(), Some("v22.0"));
    let logs = captured.text();
    let warnings: Vec<&str> = logs
        .lines()
        .filter(|line| line.contains("WARN") && line.contains("calls as v22.0"))
        .collect();
    assert_eq!(
        warnings.len(),
        1,
        "one warning for four upgraded calls:\n{logs}"
    );
    for part in ["Graph API v21.0 calls", "[graph] version = \"v27.0\""] {
        assert!(
            warnings[0].contains(part),
            "{part} missing: {}",
            warnings[0]
        );
    }
    assert!(!logs.contains("calls as v27.0"), "{logs}");
}

/// A front answering with a `facebook-api-version` that is no version (huge, or with text in
/// it) is not believed and not logged: the upgrade record stays empty.
#[tokio::test]
async fn a_header_that_is_no_version_is_neither_kept_nor_logged() {
    let huge = format!("v{}.0", "7".repeat(6000));
    for value in [huge.as_str(), "v22.0 <script>", "twenty-two"] {
        let header = value.to_string();
        let front = axum::Router::new().fallback(move || {
            let header = header.clone();
            async move {
                (
                    [(HEADER, header)],
                    r#"{"data":{"app_id":"100000000000001","type":"SYSTEM_USER","is_valid":true,"expires_at":0,"scopes":[]}}"#,
                )
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, front).await.unwrap() });
        let client = client_for(&base_url, "v21.0");
        let (captured, guard) = capture();
        let token = SecretString::from("EAAGhostilefront00000000000000");
        client.debug_token(&app(), &token).await.unwrap();
        drop(guard);
        assert!(
            client.served_versions().upgrades().is_empty(),
            "{value:.40}"
        );
        let logs = captured.text();
        assert!(
            !logs.contains(value),
            "the header reached the log:\n{logs:.2000}"
        );
        assert!(
            logs.contains(&format!("len={}", value.len())),
            "the dropped header is not mentioned by its length:\n{logs:.2000}"
        );
    }
}
