#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `GraphClient::request_counts` against the simulator over real loopback HTTP: every request
//! is counted once, under the endpoint it called and the outcome of its HTTP answer.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use tokentop::config::GraphSettings;
use tokentop::graph::{
    AppCredentials, Endpoint, ErrorClass, GraphClient, OutgoingMessage, RequestOutcome,
};
use tokentop::sim::{RunningSim, SimConfig, TokenKind};

const PHONE: &str = "106540352242922";
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

fn client_for(sim: &RunningSim) -> GraphClient {
    GraphClient::new(&GraphSettings {
        base_url: sim.base_url(),
        version: "v25.0".to_string(),
        request_timeout: REQUEST_TIMEOUT,
        ..GraphSettings::default()
    })
    .unwrap()
}

/// Invalidates `token` through the simulator's control endpoint, with a plain HTTP client
/// (so the call is not one of the Graph client's requests).
async fn invalidate(sim: &RunningSim, token: &SecretString) {
    tokentop::graph::install_tls_provider();
    let response = reqwest::Client::new()
        .post(format!(
            "{}/_sim/tokens/{}/invalidate",
            sim.base_url(),
            token.expose_secret()
        ))
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
}

/// The non-zero counts, as (endpoint label, outcome label, count), sorted.
fn nonzero(client: &GraphClient) -> Vec<(&'static str, &'static str, u64)> {
    let mut counts: Vec<_> = client
        .request_counts()
        .snapshot()
        .into_iter()
        .filter(|(_, _, n)| *n > 0)
        .map(|(e, o, n)| (e.label(), o.label(), n))
        .collect();
    counts.sort_unstable();
    counts
}

#[tokio::test]
async fn every_request_is_counted_once_by_endpoint_and_outcome() {
    let config = SimConfig::default();
    let app = AppCredentials::new(config.app_id.clone(), config.app_secret.clone());
    let sim = RunningSim::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let handle = sim.handle();
    let client = client_for(&sim);
    let mint = |kind, lifetime| SecretString::from(handle.mint_token(kind, lifetime).access_token);
    assert!(
        nonzero(&client).is_empty(),
        "a new client has counted nothing"
    );

    let short = mint(TokenKind::ShortLivedUser, Some(Duration::from_secs(3600)));
    assert!(client.debug_token(&app, &short).await.unwrap().is_valid);
    let long = client
        .exchange(&app, &short, false)
        .await
        .unwrap()
        .access_token;

    invalidate(&sim, &long).await;
    // An inspection of a dead token is a successful request: the token is the answer.
    let info = client.debug_token(&app, &long).await.unwrap();
    assert!(!info.is_valid);
    let message = OutgoingMessage::Template {
        to: "15551234567".to_string(),
        name: "hello_world".to_string(),
        language: "en_US".to_string(),
    };
    let err = client
        .send_message(&app, &long, PHONE, &message)
        .await
        .unwrap_err();
    assert_eq!(err.class, ErrorClass::TokenDead);
    let err = client.exchange(&app, &long, false).await.unwrap_err();
    assert_eq!(err.class, ErrorClass::TokenDead);
    // A batch is one request, however many items it holds (one of them dead).
    let items = client
        .debug_tokens(&app, &[short.clone(), long.clone()])
        .await
        .unwrap();
    assert_eq!(items.len(), 2);

    assert_eq!(
        nonzero(&client),
        vec![
            ("batch", "ok", 1),
            ("debug_token", "ok", 2),
            ("messages", "token_dead", 1),
            ("oauth_access_token", "ok", 1),
            ("oauth_access_token", "token_dead", 1),
        ]
    );

    // Clones share the counts; the typed accessors agree with the labels.
    let counts = client.clone().request_counts();
    let dead_sends = counts
        .snapshot()
        .into_iter()
        .find(|(e, o, _)| *e == Endpoint::Messages && *o == RequestOutcome::TokenDead)
        .map(|(_, _, n)| n);
    assert_eq!(dead_sends, Some(1));
    assert_eq!(
        counts.snapshot().len(),
        Endpoint::ALL.len() * RequestOutcome::ALL.len()
    );
}
