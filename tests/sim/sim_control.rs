#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The simulator's `/_sim/` control endpoints: minting, expiry in real time, invalidation,
//! request counts, and fault injection. Talks raw HTTP (reqwest + serde_json).

use std::time::{Duration, Instant};

use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};
use tokentop::sim::{DEFAULT_APP_ID, RunningSim, SimConfig, SimStats};

const V: &str = "v25.0";
const PHONE: &str = "106540352242922";
const WABA: &str = "102290129340398";

struct Sim {
    sim: RunningSim,
    client: Client,
}

impl Sim {
    async fn start() -> Sim {
        let sim = RunningSim::start(SimConfig::default(), "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        tokentop::graph::install_tls_provider();
        let client = Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        Sim { sim, client }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.sim.base_url())
    }

    async fn control(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        let response = self
            .client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap();
        (response.status(), response.json().await.unwrap())
    }

    async fn mint(&self, kind: &str, lifetime_secs: u64) -> (String, i64) {
        let (status, body) = self
            .control(
                "/_sim/tokens",
                &json!({"type": kind, "lifetime_secs": lifetime_secs}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        (
            body["access_token"].as_str().unwrap().to_string(),
            body["expires_at"].as_i64().unwrap(),
        )
    }

    async fn set_faults(&self, faults: Value) {
        let (status, body) = self.control("/_sim/faults", &faults).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    async fn debug_token_response(&self, token: &str) -> Response {
        let app_token = format!("{DEFAULT_APP_ID}|sim-app-secret");
        self.client
            .get(self.url(&format!("/{V}/debug_token")))
            .query(&[("input_token", token), ("access_token", &app_token)])
            .send()
            .await
            .unwrap()
    }

    async fn debug_token(&self, token: &str) -> Value {
        self.debug_token_response(token).await.json().await.unwrap()
    }

    async fn exchange(&self, token: &str) -> (StatusCode, Value) {
        let response = self
            .client
            .get(self.url(&format!("/{V}/oauth/access_token")))
            .query(&[
                ("grant_type", "fb_exchange_token"),
                ("client_id", DEFAULT_APP_ID),
                ("client_secret", "sim-app-secret"),
                ("fb_exchange_token", token),
            ])
            .send()
            .await
            .unwrap();
        (response.status(), response.json().await.unwrap())
    }

    async fn get(&self, path: &str, query: &[(&str, &str)]) -> Response {
        self.client
            .get(self.url(path))
            .query(query)
            .send()
            .await
            .unwrap()
    }

    async fn stats(&self) -> SimStats {
        self.client
            .get(self.url("/_sim/stats"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn template() -> Value {
    json!({"messaging_product":"whatsapp","to":"15551234567","type":"template",
           "template":{"name":"hello_world","language":{"code":"en_US"}}})
}

#[tokio::test]
async fn token_with_two_second_lifetime_expires_in_real_time() {
    let sim = Sim::start().await;
    let (token, expires_at) = sim.mint("USER", 2).await;
    assert!(
        (expires_at - now() - 2).abs() <= 1,
        "expires_at {expires_at}"
    );
    assert_eq!(sim.debug_token(&token).await["data"]["is_valid"], true);
    // The wall clock has to pass expires_at; poll until it has, within a bounded deadline.
    let deadline = Instant::now() + Duration::from_secs(10);
    let dead = loop {
        let body = sim.debug_token(&token).await;
        if body["data"]["is_valid"] == false {
            break body;
        }
        assert!(
            Instant::now() < deadline,
            "token still valid 10 s after a 2 s lifetime"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(now() >= expires_at);
    assert_eq!(dead["data"]["error"]["code"], 190);
    assert_eq!(dead["data"]["error"]["subcode"], 463);
    let (status, refusal) = sim.exchange(&token).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(refusal["error"]["code"], 190);
}

#[tokio::test]
async fn mint_without_lifetime_uses_the_kind_default_and_zero_means_never() {
    let sim = Sim::start().await;
    let (status, body) = sim.control("/_sim/tokens", &json!({"type": "USER"})).await;
    assert_eq!(status, StatusCode::OK);
    assert!((body["expires_at"].as_i64().unwrap() - now() - 3600).abs() <= 2);
    let (status, body) = sim
        .control("/_sim/tokens", &json!({"type": "SYSTEM_USER"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["expires_at"], 0);
    let (token, expires_at) = sim.mint("LONG_LIVED_USER", 0).await;
    assert_eq!(expires_at, 0);
    assert_eq!(sim.debug_token(&token).await["data"]["expires_at"], 0);
}

#[tokio::test]
async fn invalidate_kills_a_token_and_404s_an_unknown_one() {
    let sim = Sim::start().await;
    let (token, _) = sim.mint("SYSTEM_USER", 0).await;
    let (status, body) = sim
        .control(&format!("/_sim/tokens/{token}/invalidate"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"invalidated": true}));
    let debug = sim.debug_token(&token).await;
    assert_eq!(debug["data"]["is_valid"], false);
    assert_eq!(debug["data"]["error"]["subcode"], 460);
    let (status, _) = sim
        .control("/_sim/tokens/EAAGnosuchtoken/invalidate", &json!({}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn stats_count_requests_per_endpoint() {
    let sim = Sim::start().await;
    let (token, _) = sim.mint("SYSTEM_USER", 0).await;
    sim.debug_token(&token).await;
    sim.debug_token(&token).await;
    sim.exchange(&token).await;
    sim.get(
        &format!("/{V}/oauth/revoke"),
        &[
            ("client_id", DEFAULT_APP_ID),
            ("client_secret", "sim-app-secret"),
            ("revoke_token", "EAAGnope"),
            ("access_token", &token),
        ],
    )
    .await;
    sim.client
        .post(sim.url(&format!("/{V}/{PHONE}/messages")))
        .bearer_auth(&token)
        .json(&template())
        .send()
        .await
        .unwrap();
    sim.get(
        &format!("/{V}/{PHONE}"),
        &[("fields", "status"), ("access_token", &token)],
    )
    .await;
    let fields = "analytics.start(0).end(1800).granularity(HALF_HOUR)";
    sim.get(
        &format!("/{V}/{WABA}"),
        &[("fields", fields), ("access_token", &token)],
    )
    .await;
    let batch = json!([{"method":"GET","relative_url":format!("{V}/debug_token?input_token={token}")},
                       {"method":"GET","relative_url":format!("{V}/{PHONE}?fields=status&access_token={token}")}]);
    sim.client
        .post(sim.url(&format!("/{V}/")))
        .form(&[
            ("access_token", format!("{DEFAULT_APP_ID}|sim-app-secret")),
            ("batch", batch.to_string()),
        ])
        .send()
        .await
        .unwrap();
    let stats = sim.stats().await;
    let expected: Vec<(&str, u64)> = vec![
        ("analytics", 1),
        ("batch", 1),
        ("debug_token", 3),
        ("exchange", 1),
        ("messages", 1),
        ("phone_number", 2),
        ("revoke", 1),
    ];
    let actual: Vec<(&str, u64)> = stats
        .by_endpoint
        .iter()
        .map(|(k, v)| (k.as_str(), *v))
        .collect();
    assert_eq!(actual, expected);
    assert_eq!(
        stats.total, 8,
        "HTTP requests; batch items are not extra requests"
    );
    assert_eq!(sim.sim.handle().stats(), stats);
}

#[tokio::test]
async fn full_5xx_fault_gives_transient_envelopes_and_clear_restores() {
    let sim = Sim::start().await;
    let (token, _) = sim.mint("SYSTEM_USER", 0).await;
    sim.set_faults(json!({"error_5xx_probability": 1.0})).await;
    for _ in 0..5 {
        let response = sim.debug_token_response(&token).await;
        let status = response.status();
        assert!(status == 500 || status == 503, "{status}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], 2);
        assert_eq!(body["error"]["is_transient"], true);
        assert_eq!(body["error"]["type"], "OAuthException");
        assert_eq!(
            body["error"]["message"],
            "An unexpected error has occurred. Please retry your request later."
        );
        assert!(body["error"]["fbtrace_id"].is_string());
    }
    let response = sim
        .client
        .delete(sim.url("/_sim/faults"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = sim.debug_token_response(&token).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"]["is_valid"], true);
}

#[tokio::test]
async fn full_rate_limit_fault_gives_code_4_or_80007_with_usage_headers() {
    let sim = Sim::start().await;
    let (token, _) = sim.mint("SYSTEM_USER", 0).await;
    sim.set_faults(json!({"rate_limit_probability": 1.0})).await;
    let response = sim.debug_token_response(&token).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let app_usage: Value =
        serde_json::from_str(response.headers()["x-app-usage"].to_str().unwrap()).unwrap();
    assert!(app_usage["call_count"].as_u64().unwrap() >= 100);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], 4);
    assert_eq!(
        body["error"]["message"],
        "(#4) Application request limit reached"
    );

    let fields = "analytics.start(0).end(1800).granularity(HALF_HOUR)";
    let response = sim
        .get(
            &format!("/{V}/{WABA}"),
            &[("fields", fields), ("access_token", &token)],
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let business: Value = serde_json::from_str(
        response.headers()["x-business-use-case-usage"]
            .to_str()
            .unwrap(),
    )
    .unwrap();
    for entry in business[WABA].as_array().unwrap() {
        assert!(entry["call_count"].as_u64().unwrap() >= 100);
        assert!(entry["estimated_time_to_regain_access"].as_u64().unwrap() > 0);
    }
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], 80007);
}

#[tokio::test]
async fn full_malformed_fault_gives_a_non_json_200() {
    let sim = Sim::start().await;
    let (token, _) = sim.mint("SYSTEM_USER", 0).await;
    sim.set_faults(json!({"malformed_probability": 1.0})).await;
    let response = sim.debug_token_response(&token).await;
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    assert!(!text.is_empty());
    assert!(serde_json::from_str::<Value>(&text).is_err(), "{text}");
}

#[tokio::test]
async fn latency_is_added_to_graph_calls_only() {
    let sim = Sim::start().await;
    let (token, _) = sim.mint("SYSTEM_USER", 0).await;
    sim.set_faults(json!({"latency_ms": 300})).await;
    let started = Instant::now();
    let response = sim.debug_token_response(&token).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn control_routes_are_unaffected_by_faults() {
    let sim = Sim::start().await;
    // A latency far above the client timeout: a control call that waited would time out.
    sim.set_faults(
        json!({"error_5xx_probability": 1.0, "malformed_probability": 1.0,
                          "rate_limit_probability": 1.0, "latency_ms": 60_000}),
    )
    .await;
    let (token, _) = sim.mint("SYSTEM_USER", 0).await;
    let (status, _) = sim
        .control(&format!("/_sim/tokens/{token}/invalidate"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(sim.stats().await.total, 0);
    let (status, _) = sim
        .control(&format!("/_sim/phones/{PHONE}"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let response = sim
        .client
        .delete(sim.url("/_sim/faults"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn message_failure_fault_answers_the_message_level_error() {
    let sim = Sim::start().await;
    let (token, _) = sim.mint("SYSTEM_USER", 0).await;
    sim.set_faults(json!({"message_failure_code": 131026}))
        .await;
    let response = sim
        .client
        .post(sim.url(&format!("/{V}/{PHONE}/messages")))
        .bearer_auth(&token)
        .json(&template())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], 131026);
    assert_eq!(body["error"]["message"], "(#131026) Message Undeliverable");
    assert!(body["error"]["error_data"]["details"].is_string());
}

#[tokio::test]
async fn phone_health_set_through_control_is_served() {
    let sim = Sim::start().await;
    let (token, _) = sim.mint("SYSTEM_USER", 0).await;
    let phone = json!({"quality_rating": "RED", "messaging_limit": "TIER_UNLIMITED",
                       "can_send_message": "BLOCKED"});
    let (status, _) = sim.control(&format!("/_sim/phones/{PHONE}"), &phone).await;
    assert_eq!(status, StatusCode::OK);
    let body: Value = sim
        .get(
            &format!("/{V}/{PHONE}"),
            &[
                (
                    "fields",
                    "quality_rating,messaging_limit_tier,health_status,status",
                ),
                ("access_token", &token),
            ],
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["quality_rating"], "RED");
    assert_eq!(body["messaging_limit_tier"], "TIER_UNLIMITED");
    assert_eq!(body["health_status"]["can_send_message"], "BLOCKED");
    assert_eq!(
        body["status"], "CONNECTED",
        "unset fields keep their defaults"
    );
}

#[tokio::test]
async fn bad_control_json_is_400_naming_the_field() {
    let sim = Sim::start().await;
    let cases = [
        ("/_sim/faults", json!({"latency_ms": "slow"}), "latency_ms"),
        (
            "/_sim/faults",
            json!({"error_5xx_probability": 2}),
            "error_5xx_probability",
        ),
        ("/_sim/faults", json!({"latncy_ms": 5}), "latncy_ms"),
        ("/_sim/tokens", json!({"type": "PAGE"}), "type"),
        ("/_sim/tokens", json!({"lifetime_secs": 5}), "type"),
        (
            "/_sim/tokens",
            json!({"type": "USER", "lifetime_secs": -1}),
            "lifetime_secs",
        ),
        (
            "/_sim/phones/123",
            json!({"quality_rating": 3}),
            "quality_rating",
        ),
    ];
    for (path, body, field) in cases {
        let (status, reply) = sim.control(path, &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path} {body}");
        let message = reply["message"].as_str().unwrap();
        assert!(message.contains(field), "{message} should name {field}");
    }
    let response = sim
        .client
        .post(sim.url("/_sim/faults"))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let reply: Value = response.json().await.unwrap();
    assert!(reply["message"].as_str().unwrap().contains("not JSON"));
}

/// `GET /_sim/messages`: every accepted send in order, with its wamid, recipient, token and
/// text; refused sends and mark-as-read are not in it. Media uploads count as `media`.
#[tokio::test]
async fn the_message_log_holds_accepted_sends_only() {
    let sim = Sim::start().await;
    let (token, _) = sim.mint("SYSTEM_USER", 0).await;
    let send = |body: Value| {
        sim.client
            .post(sim.url(&format!("/{V}/{PHONE}/messages")))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let answer: Value = send(json!({"messaging_product": "whatsapp", "to": "15551234567",
        "type": "text", "text": {"body": "first"}}))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let refused = send(json!({"messaging_product": "whatsapp", "type": "text"}))
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let read = send(json!({"messaging_product": "whatsapp", "status": "read",
        "message_id": answer["messages"][0]["id"]}))
    .await
    .unwrap();
    assert_eq!(read.status(), StatusCode::OK);
    let log: Value = sim
        .client
        .get(sim.url("/_sim/messages"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        log,
        json!([{
            "wamid": answer["messages"][0]["id"],
            "phone_number_id": PHONE,
            "to": "15551234567",
            "access_token": token,
            "text": "first",
        }])
    );

    let boundary = "XyZ";
    let mut upload = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"messaging_product\"\r\n\r\nwhatsapp\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"type\"\r\n\r\naudio/ogg\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.ogg\"\r\n\r\n"
    )
    .into_bytes();
    upload.extend_from_slice(&[0xff, 0xfe, 0x00, 0x80, b'\r', b'\n', 0x01]);
    upload.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let response = sim
        .client
        .post(sim.url(&format!("/{V}/{PHONE}/media")))
        .bearer_auth(&token)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(upload)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let media: Value = response.json().await.unwrap();
    let id = media["id"].as_str().unwrap();
    assert!(id.bytes().all(|b| b.is_ascii_digit()), "{media}");
    let uploaded = sim.sim.handle().uploaded_media();
    assert_eq!(uploaded[0].id, id);
    assert_eq!(uploaded[0].file_len, 7);
    assert_eq!(uploaded[0].mime_type, "audio/ogg");
    assert_eq!(sim.sim.handle().stats().by_endpoint["media"], 1);
}
