//! The Graph client's Embedded Signup calls against the simulator (issue 23 part 2): a code
//! exchanged once, the WABA ids `debug_token` reports under any WhatsApp scope, the phone
//! numbers of a covered WABA and the refusal of another.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use secrecy::SecretString;
use serde_json::{Value, json};
use tokentop::config::GraphSettings;
use tokentop::graph::{AppCredentials, GraphClient, whatsapp_target_ids};
use tokentop::sim::{RunningSim, SimConfig};

struct Env {
    sim: RunningSim,
    client: GraphClient,
    app: AppCredentials,
}

async fn start() -> Env {
    tokentop::graph::install_tls_provider();
    let config = SimConfig::default();
    let app = AppCredentials::new(config.app_id.clone(), config.app_secret.clone());
    let sim = RunningSim::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let settings = GraphSettings {
        base_url: sim.base_url(),
        ..GraphSettings::default()
    };
    let client = GraphClient::new(&settings).unwrap();
    Env { sim, client, app }
}

async fn mint_code(sim: &RunningSim, customer: Value) -> SecretString {
    SecretString::from(crate::support::cli::mint_signup_code(sim, customer).await)
}

#[tokio::test]
async fn a_code_buys_one_business_token_covering_the_customers_wabas() {
    let env = start().await;
    let customer = json!({
        "wabas": [
            {"id": "330000000000001", "phones": [{"id": "430000000000001", "display_phone_number": "+1 555-0133"}]},
            {"id": "330000000000002"},
        ],
        "scopes": ["whatsapp_business_manage_events"],
        "expires_in_days": 60,
    });
    let code = mint_code(&env.sim, customer).await;
    let token = env.client.exchange_code(&env.app, &code).await.unwrap();
    let token = token.access_token;

    let info = env.client.debug_token(&env.app, &token).await.unwrap();
    assert!(info.is_valid);
    assert_eq!(info.token_type.as_deref(), Some("SYSTEM_USER"));
    let expires_at = info.expires_at.unwrap();
    let sixty_days = chrono::Utc::now().timestamp() + 60 * 86_400;
    assert!((expires_at - sixty_days).abs() < 60, "{expires_at}");
    // Newest onboarding first, as Meta orders them.
    assert_eq!(
        whatsapp_target_ids(&info),
        ["330000000000002", "330000000000001"]
    );

    let phones = env
        .client
        .waba_phone_numbers(&env.app, &token, "330000000000001")
        .await
        .unwrap();
    assert_eq!(phones.len(), 1);
    assert_eq!(phones[0].id, "430000000000001");
    assert_eq!(
        phones[0].display_phone_number.as_deref(),
        Some("+1 555-0133")
    );

    // A WABA the token does not cover: Meta's missing-permission answer.
    let err = env
        .client
        .waba_phone_numbers(&env.app, &token, "339999999999999")
        .await
        .unwrap_err();
    assert_eq!(err.code, Some(100), "{err}");
    assert!(err.message.contains("missing permissions"), "{err}");

    // The code is used up.
    let err = env.client.exchange_code(&env.app, &code).await.unwrap_err();
    assert_eq!(err.code, Some(100), "{err}");
    assert!(err.message.contains("already used"), "{err}");
}

#[tokio::test]
async fn an_unknown_code_is_refused_and_never_quoted() {
    let env = start().await;
    let code = SecretString::from("AQBxNotACodeTheSimulatorMinted".to_string());
    let err = env.client.exchange_code(&env.app, &code).await.unwrap_err();
    assert_eq!(err.code, Some(100), "{err}");
    assert!(!err.to_string().contains("AQBxNotACode"), "{err}");
}

#[tokio::test]
async fn me_names_the_customers_portfolio() {
    let env = start().await;
    let code = mint_code(&env.sim, json!({"client_business_id": "250000000000001"})).await;
    let token = env.client.exchange_code(&env.app, &code).await.unwrap();
    let answer: Value = reqwest::Client::new()
        .get(format!("{}/v25.0/me", env.sim.base_url()))
        .query(&[("fields", "client_business_id")])
        .bearer_auth(secrecy::ExposeSecret::expose_secret(&token.access_token))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["client_business_id"], "250000000000001");
}
