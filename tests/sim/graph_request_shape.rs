//! The client's requests against a recording mock server: paths, query parameters, proofs,
//! headers and bodies, plus parsing of canned REFERENCE.md answers and secret hygiene.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use tokentop::config::GraphSettings;
use tokentop::graph::{
    AppCredentials, ErrorClass, Expiry, Granularity, GraphClient, GraphError, OutgoingMessage,
    appsecret_proof,
};

const APP_ID: &str = "634974688087057";
const APP_SECRET: &str = "f3c1a9e2b7d84c0e9a1b2c3d4e5f6a7b";
const TOKEN: &str = "EAAGm0PX4ZCpsBAKtokenvalueZBZCx9Qf";
/// HMAC-SHA256(key = APP_SECRET, msg = TOKEN), computed once with Python's `hmac` module.
const KNOWN_PROOF: &str = "3ec4d4ed01a7a0fbec2cbe4c571ffa7432385ef0ca8770cdfedb520ffb6b33a2";
const PHONE_ID: &str = "106540352242922";
const WABA_ID: &str = "102290129340398";

const DEBUG_TOKEN_BODY: &str = r#"{"data":{
  "app_id":"634974688087057","type":"SYSTEM_USER","application":"Lucky Shrub",
  "data_access_expires_at":0,"expires_at":0,"is_valid":true,"issued_at":1712099387,
  "scopes":["whatsapp_business_management","whatsapp_business_messaging"],
  "granular_scopes":[{"scope":"whatsapp_business_management","target_ids":["102290129340398"]},
                     {"scope":"whatsapp_business_messaging"}],
  "user_id":"104169029247128"}}"#;
const SEND_BODY: &str = r#"{"messaging_product":"whatsapp","contacts":[{"input":"+15551234567","wa_id":"15551234567"}],
     "messages":[{"id":"wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJCOTY3NDc0NDFDRUI3NTA0Q0UA","message_status":"accepted"}]}"#;
const HEALTH_BODY: &str = r#"{"verified_name":"Lucky Shrub","display_phone_number":"15550783881","quality_rating":"GREEN",
 "status":"CONNECTED","throughput":{"level":"STANDARD"},
 "whatsapp_business_manager_messaging_limit":"TIER_250",
 "health_status":{"can_send_message":"LIMITED","entities":[
   {"entity_type":"PHONE_NUMBER","id":"106540352242922","can_send_message":"AVAILABLE"},
   {"entity_type":"WABA","id":"102290129340398","can_send_message":"LIMITED",
    "additional_info":["Your WhatsApp Business Account has reached its messaging limit"]},
   {"entity_type":"BUSINESS","id":"1","can_send_message":"BLOCKED",
    "errors":[{"error_code":141006,"error_description":"...","possible_solution":"..."}]}]},
 "id":"106540352242922"}"#;
const ANALYTICS_BODY: &str = r#"{"analytics":{"phone_numbers":["15550783881"],"granularity":"HALF_HOUR","data_points":[
  {"start":1732780800,"end":1732782600,"sent":1204,"delivered":1188}]},"id":"102290129340398"}"#;
const APP_USAGE: &str = r#"{"call_count":28,"total_time":25,"total_cputime":25}"#;
const BUSINESS_USAGE: &str = r#"{"102290129340398":[{"type":"whatsapp_business_management","call_count":1,"total_cputime":1,"total_time":1,"estimated_time_to_regain_access":0},{"type":"whatsapp","call_count":61,"total_cputime":1,"total_time":1,"estimated_time_to_regain_access":0}]}"#;

// ---------------------------------------------------------------- mock server

#[derive(Debug, Clone)]
struct Recorded {
    method: String,
    path: String,
    query: HashMap<String, String>,
    headers: HeaderMap,
    body: String,
}

impl Recorded {
    fn form(&self) -> HashMap<String, String> {
        form_decode(&self.body).into_iter().collect()
    }
}

struct Canned {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
    delay: Option<Duration>,
}

fn ok(body: &str) -> Canned {
    reply(200, body)
}

fn reply(status: u16, body: &str) -> Canned {
    Canned {
        status,
        headers: Vec::new(),
        body: body.to_string(),
        delay: None,
    }
}

type Responder = Arc<dyn Fn(&Recorded) -> Canned + Send + Sync>;

#[derive(Clone)]
struct MockState {
    requests: Arc<Mutex<Vec<Recorded>>>,
    responder: Responder,
}

struct Mock {
    base_url: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

impl Mock {
    async fn start(responder: impl Fn(&Recorded) -> Canned + Send + Sync + 'static) -> Self {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let state = MockState {
            requests: requests.clone(),
            responder: Arc::new(responder),
        };
        let app = Router::new().fallback(handle).with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { base_url, requests }
    }

    fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    fn only_request(&self) -> Recorded {
        let requests = self.requests();
        assert_eq!(requests.len(), 1, "{requests:#?}");
        requests.into_iter().next().unwrap()
    }

    fn client(&self, version: &str) -> GraphClient {
        client_for(&self.base_url, version, Duration::from_secs(5))
    }
}

async fn handle(
    State(state): State<MockState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, HeaderMap, String) {
    let recorded = Recorded {
        method: method.to_string(),
        path: uri.path().to_string(),
        query: form_decode(uri.query().unwrap_or("")).into_iter().collect(),
        headers,
        body: String::from_utf8(body.to_vec()).unwrap(),
    };
    state.requests.lock().unwrap().push(recorded.clone());
    let canned = (state.responder)(&recorded);
    if let Some(delay) = canned.delay {
        tokio::time::sleep(delay).await;
    }
    let mut out = HeaderMap::new();
    out.insert("content-type", HeaderValue::from_static("application/json"));
    for (name, value) in canned.headers {
        out.insert(
            HeaderName::from_static(name),
            HeaderValue::from_str(&value).unwrap(),
        );
    }
    (
        StatusCode::from_u16(canned.status).unwrap(),
        out,
        canned.body,
    )
}

/// `application/x-www-form-urlencoded` decoding, written here so the test does not share the
/// client's encoder.
fn form_decode(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(name), percent_decode(value))
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                out.push(u8::from_str_radix(&text[i + 1..i + 3], 16).unwrap());
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

/// HMAC-SHA256 from its definition (RFC 2104), independent of the client's `hmac` crate use.
fn hmac_sha256_hex(key: &[u8], message: &[u8]) -> String {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let inner_pad: Vec<u8> = block.iter().map(|b| b ^ 0x36).collect();
    let outer_pad: Vec<u8> = block.iter().map(|b| b ^ 0x5c).collect();
    let inner = Sha256::new()
        .chain_update(&inner_pad)
        .chain_update(message)
        .finalize();
    let outer = Sha256::new()
        .chain_update(&outer_pad)
        .chain_update(inner)
        .finalize();
    hex::encode(outer)
}

fn client_for(base_url: &str, version: &str, request_timeout: Duration) -> GraphClient {
    GraphClient::new(&GraphSettings {
        base_url: base_url.to_string(),
        version: version.to_string(),
        request_timeout,
        ..GraphSettings::default()
    })
    .unwrap()
}

fn app() -> AppCredentials {
    AppCredentials {
        app_id: APP_ID.to_string(),
        app_secret: SecretString::from(APP_SECRET),
    }
}

fn token() -> SecretString {
    SecretString::from(TOKEN)
}

fn template() -> OutgoingMessage {
    OutgoingMessage::Template {
        to: "15551234567".to_string(),
        name: "hello_world".to_string(),
        language: "en_US".to_string(),
    }
}

fn assert_user_call(request: &Recorded) {
    let expected = hmac_sha256_hex(APP_SECRET.as_bytes(), TOKEN.as_bytes());
    assert_eq!(expected, KNOWN_PROOF);
    assert_eq!(
        request.query.get("appsecret_proof").map(String::as_str),
        Some(KNOWN_PROOF)
    );
    assert_eq!(
        request.headers.get("authorization").unwrap(),
        &format!("Bearer {TOKEN}")
    );
}

// ---------------------------------------------------------------- tests

#[test]
fn appsecret_proof_is_lowercase_hex_hmac() {
    assert_eq!(
        appsecret_proof(&SecretString::from(APP_SECRET), &token()),
        KNOWN_PROOF
    );
    let long_key = "k".repeat(100);
    assert_eq!(
        appsecret_proof(&SecretString::from(long_key.clone()), &token()),
        hmac_sha256_hex(long_key.as_bytes(), TOKEN.as_bytes())
    );
}

#[tokio::test]
async fn debug_token_uses_the_app_token_and_no_proof() {
    let mock = Mock::start(|_| ok(DEBUG_TOKEN_BODY)).await;
    let info = mock
        .client("v25.0")
        .debug_token(&app(), &token())
        .await
        .unwrap();

    let request = mock.only_request();
    assert_eq!(request.method, "GET");
    assert_eq!(request.path, "/v25.0/debug_token");
    assert_eq!(request.query.get("input_token").unwrap(), TOKEN);
    assert_eq!(
        request.query.get("access_token").unwrap(),
        &format!("{APP_ID}|{APP_SECRET}")
    );
    assert!(!request.query.contains_key("appsecret_proof"));
    assert!(request.headers.get("authorization").is_none());

    assert!(info.is_valid && info.is_system_user());
    assert_eq!(info.expiry(), Expiry::Never);
    assert_eq!(info.data_access_expiry(), Expiry::Never);
    assert_eq!(
        info.granular_scopes[0].target_ids,
        vec![WABA_ID.to_string()]
    );
    assert!(info.granular_scopes[1].target_ids.is_empty());
    assert!(info.missing_whatsapp_scopes().is_empty());
}

#[tokio::test]
async fn debug_token_of_a_dead_token_is_ok_with_the_in_body_error() {
    let body = r#"{"data":{"is_valid":false,"expires_at":0,"error":{"code":190,"message":"The session has been invalidated","subcode":460}}}"#;
    let mock = Mock::start(move |_| ok(body)).await;
    let info = mock
        .client("v25.0")
        .debug_token(&app(), &token())
        .await
        .unwrap();
    assert!(!info.is_valid);
    let error = info.error.unwrap();
    assert_eq!((error.code, error.subcode), (Some(190), Some(460)));
    assert_eq!(info.expires_at, Some(0));
    assert_eq!(info.issued_at, None);
}

#[tokio::test]
async fn exchange_sends_the_60_day_flag_only_when_asked() {
    let mock = Mock::start(|r| {
        if r.query.contains_key("set_token_expires_in_60_days") {
            ok(r#"{"access_token":"EAAGnewnewnewnewnew60d","token_type":"bearer","expires_in":5183944}"#)
        } else {
            ok(r#"{"access_token":"EAAGnewnewnewnewnewnew","token_type":"bearer"}"#)
        }
    })
    .await;
    let client = mock.client("v25.0");
    let plain = client.exchange(&app(), &token(), false).await.unwrap();
    let sixty = client.exchange(&app(), &token(), true).await.unwrap();

    let requests = mock.requests();
    assert_eq!(requests.len(), 2);
    for request in &requests {
        assert_eq!(request.method, "GET");
        assert_eq!(request.path, "/v25.0/oauth/access_token");
        assert_eq!(request.query["grant_type"], "fb_exchange_token");
        assert_eq!(request.query["client_id"], APP_ID);
        assert_eq!(request.query["client_secret"], APP_SECRET);
        assert_eq!(request.query["fb_exchange_token"], TOKEN);
        assert!(!request.query.contains_key("appsecret_proof"));
    }
    assert!(
        !requests[0]
            .query
            .contains_key("set_token_expires_in_60_days")
    );
    assert_eq!(requests[1].query["set_token_expires_in_60_days"], "true");

    assert_eq!(plain.access_token.expose_secret(), "EAAGnewnewnewnewnewnew");
    assert_eq!(plain.expires_in_secs, None);
    assert_eq!(sixty.access_token.expose_secret(), "EAAGnewnewnewnewnew60d");
    assert_eq!(sixty.token_type.as_deref(), Some("bearer"));
    assert_eq!(sixty.expires_in_secs, Some(5_183_944));
    assert!(!format!("{sixty:?}").contains("EAAGnew"));
}

#[tokio::test]
async fn revoke_accepts_string_or_bool_success() {
    let answers = Arc::new(Mutex::new(vec![
        r#"{"success":false}"#,
        r#"{"success":true}"#,
        r#"{"success":"true"}"#,
    ]));
    let mock = Mock::start(move |_| ok(answers.lock().unwrap().pop().unwrap())).await;
    let client = mock.client("v25.0");
    let new = SecretString::from("EAAGreplacementreplacement");
    client.revoke(&app(), &token(), &new).await.unwrap();
    client.revoke(&app(), &token(), &new).await.unwrap();
    let err = client.revoke(&app(), &token(), &new).await.unwrap_err();
    assert_eq!(err.class, ErrorClass::Other);
    assert_eq!(err.http_status, Some(200));
    assert!(err.to_string().contains("did not revoke"), "{err}");

    let request = &mock.requests()[0];
    assert_eq!(request.path, "/v25.0/oauth/revoke");
    assert_eq!(request.query["client_id"], APP_ID);
    assert_eq!(request.query["client_secret"], APP_SECRET);
    assert_eq!(request.query["revoke_token"], TOKEN);
    assert_eq!(request.query["access_token"], "EAAGreplacementreplacement");
}

#[tokio::test]
async fn send_template_and_text_bodies_auth_proof_and_usage() {
    let mock = Mock::start(|_| Canned {
        headers: vec![
            ("x-app-usage", APP_USAGE.to_string()),
            ("x-business-use-case-usage", BUSINESS_USAGE.to_string()),
        ],
        ..ok(SEND_BODY)
    })
    .await;
    let client = mock.client("v25.0");
    let sent = client
        .send_message(&app(), &token(), PHONE_ID, &template())
        .await
        .unwrap();
    let text = OutgoingMessage::Text {
        to: "15551234567".to_string(),
        body: "tokentop test".to_string(),
    };
    client
        .send_message(&app(), &token(), PHONE_ID, &text)
        .await
        .unwrap();

    let requests = mock.requests();
    for request in &requests {
        assert_eq!(request.method, "POST");
        assert_eq!(request.path, format!("/v25.0/{PHONE_ID}/messages"));
        assert_user_call(request);
        assert_eq!(request.headers["content-type"], "application/json");
    }
    let bodies: Vec<serde_json::Value> = requests
        .iter()
        .map(|r| serde_json::from_str(&r.body).unwrap())
        .collect();
    assert_eq!(
        bodies[0],
        serde_json::json!({"messaging_product":"whatsapp","to":"15551234567","type":"template",
            "template":{"name":"hello_world","language":{"code":"en_US"}}})
    );
    assert_eq!(
        bodies[1],
        serde_json::json!({"messaging_product":"whatsapp","recipient_type":"individual",
            "to":"15551234567","type":"text","text":{"body":"tokentop test"}})
    );

    assert_eq!(
        sent.value.message_id.as_deref(),
        Some("wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJCOTY3NDc0NDFDRUI3NTA0Q0UA")
    );
    assert_eq!(sent.value.message_status.as_deref(), Some("accepted"));
    assert_eq!(sent.value.wa_id.as_deref(), Some("15551234567"));
    let app_usage = sent.usage.app.unwrap();
    assert_eq!((app_usage.call_count, app_usage.total_time), (28, 25));
    assert_eq!(sent.usage.business.len(), 2);
    assert_eq!(sent.usage.business[0].business_id, WABA_ID);
    assert_eq!(sent.usage.max_percent(), Some(61));
}

#[tokio::test]
async fn send_without_contacts_or_status_and_without_usage_headers() {
    let mock = Mock::start(|_| ok(r#"{"messages":[{"id":"wamid.X"}]}"#)).await;
    let sent = mock
        .client("v25.0")
        .send_message(&app(), &token(), PHONE_ID, &template())
        .await
        .unwrap();
    assert_eq!(sent.value.message_id.as_deref(), Some("wamid.X"));
    assert_eq!((sent.value.message_status, sent.value.wa_id), (None, None));
    assert!(sent.usage.app.is_none() && sent.usage.business.is_empty());
}

#[tokio::test]
async fn health_fields_depend_on_the_version() {
    let old_body = r#"{"id":"106540352242922","status":"CONNECTED","messaging_limit_tier":"TIER_1K","throughput":{"level":"HIGH"}}"#;
    let mock = Mock::start(move |r| {
        if r.path.starts_with("/v23.0") {
            ok(old_body)
        } else {
            ok(HEALTH_BODY)
        }
    })
    .await;
    let new = mock
        .client("v25.0")
        .phone_health(&app(), &token(), PHONE_ID)
        .await
        .unwrap();
    let old = mock
        .client("v23.0")
        .phone_health(&app(), &token(), PHONE_ID)
        .await
        .unwrap();

    let requests = mock.requests();
    assert_eq!(requests[0].path, format!("/v25.0/{PHONE_ID}"));
    assert_eq!(
        requests[0].query["fields"],
        "display_phone_number,verified_name,quality_rating,status,throughput,health_status,whatsapp_business_manager_messaging_limit"
    );
    assert_eq!(requests[1].path, format!("/v23.0/{PHONE_ID}"));
    assert_eq!(
        requests[1].query["fields"],
        "display_phone_number,verified_name,quality_rating,status,throughput,health_status,messaging_limit_tier"
    );
    requests.iter().for_each(assert_user_call);
    assert_eq!(requests[0].method, "GET");

    let health = new.value;
    assert_eq!(health.verified_name.as_deref(), Some("Lucky Shrub"));
    assert_eq!(health.quality_rating.as_deref(), Some("GREEN"));
    assert_eq!(health.throughput_level.as_deref(), Some("STANDARD"));
    assert_eq!(health.messaging_limit.as_deref(), Some("TIER_250"));
    let status = health.health.unwrap();
    assert_eq!(status.can_send_message.as_deref(), Some("LIMITED"));
    assert_eq!(status.entities.len(), 3);
    assert_eq!(status.entities[1].additional_info.len(), 1);
    assert_eq!(status.entities[2].errors[0].error_code, Some(141_006));

    assert_eq!(old.value.messaging_limit.as_deref(), Some("TIER_1K"));
    assert_eq!(old.value.throughput_level.as_deref(), Some("HIGH"));
    assert_eq!(old.value.health, None);
}

#[tokio::test]
async fn analytics_field_expression_and_data_points() {
    let mock = Mock::start(|_| ok(ANALYTICS_BODY)).await;
    let client = mock.client("v25.0");
    let analytics = client
        .waba_analytics(
            &app(),
            &token(),
            WABA_ID,
            1_732_780_800,
            1_732_867_200,
            Granularity::HalfHour,
        )
        .await
        .unwrap();
    client
        .waba_analytics(&app(), &token(), WABA_ID, 1, 2, Granularity::Day)
        .await
        .unwrap();
    client
        .waba_analytics(&app(), &token(), WABA_ID, 1, 2, Granularity::Month)
        .await
        .unwrap();

    let requests = mock.requests();
    assert_eq!(requests[0].path, format!("/v25.0/{WABA_ID}"));
    assert_eq!(
        requests[0].query["fields"],
        "analytics.start(1732780800).end(1732867200).granularity(HALF_HOUR)"
    );
    assert_eq!(
        requests[1].query["fields"],
        "analytics.start(1).end(2).granularity(DAY)"
    );
    assert_eq!(
        requests[2].query["fields"],
        "analytics.start(1).end(2).granularity(MONTH)"
    );
    requests.iter().for_each(assert_user_call);

    let value = analytics.value;
    assert_eq!(value.phone_numbers, vec!["15550783881".to_string()]);
    assert_eq!(value.granularity.as_deref(), Some("HALF_HOUR"));
    assert_eq!(value.data_points.len(), 1);
    let point = value.data_points[0];
    assert_eq!(
        (point.start, point.end, point.sent, point.delivered),
        (1_732_780_800, 1_732_782_600, 1204, 1188)
    );
}

/// Answers a batch: each item is a debug_token answer naming its token in `user_id`; the
/// token `null-me` gets `null`, the token `dead-me` an error body.
fn batch_responder(request: &Recorded) -> Canned {
    let items: Vec<serde_json::Value> = serde_json::from_str(&request.form()["batch"]).unwrap();
    let answers: Vec<serde_json::Value> = items
        .iter()
        .map(|item| {
            assert_eq!(item["method"], "GET");
            let relative = item["relative_url"].as_str().unwrap();
            let query = relative.strip_prefix("v25.0/debug_token?").expect(relative);
            let params: HashMap<String, String> = form_decode(query).into_iter().collect();
            assert_eq!(params.len(), 1, "only input_token in {relative}");
            let input = &params["input_token"];
            match input.as_str() {
                "null-me" => serde_json::Value::Null,
                "dead-me" => serde_json::json!({"code":400,"headers":[],
                    "body": r#"{"error":{"message":"Invalid OAuth access token.","type":"OAuthException","code":190}}"#}),
                _ => serde_json::json!({"code":200,
                    "headers":[{"name":"Content-Type","value":"application/json"}],
                    "body": serde_json::json!({"data":{"is_valid":true,"user_id":input}}).to_string()}),
            }
        })
        .collect();
    ok(&serde_json::Value::Array(answers).to_string())
}

#[tokio::test]
async fn batch_debug_token_chunks_of_50_in_order_with_per_item_errors() {
    let mock = Mock::start(batch_responder).await;
    let mut tokens: Vec<String> = (0..120).map(|i| format!("tok-{i}")).collect();
    tokens[7] = "tok 7&access_token=evil|+%".to_string();
    tokens[61] = "null-me".to_string();
    tokens[99] = "dead-me".to_string();
    let secrets: Vec<SecretString> = tokens
        .iter()
        .map(|t| SecretString::from(t.clone()))
        .collect();

    let results = mock
        .client("v25.0")
        .debug_tokens(&app(), &secrets)
        .await
        .unwrap();

    let requests = mock.requests();
    let sizes: Vec<usize> = requests
        .iter()
        .map(|r| {
            serde_json::from_str::<Vec<serde_json::Value>>(&r.form()["batch"])
                .unwrap()
                .len()
        })
        .collect();
    assert_eq!(sizes, vec![50, 50, 20]);
    for request in &requests {
        assert_eq!(request.method, "POST");
        assert_eq!(request.path, "/");
        assert_eq!(
            request.form()["access_token"],
            format!("{APP_ID}|{APP_SECRET}")
        );
        assert_eq!(request.form().len(), 2);
        assert!(request.query.is_empty());
    }

    assert_eq!(results.len(), 120);
    for (index, result) in results.iter().enumerate() {
        match index {
            61 => assert_eq!(result.as_ref().unwrap_err().class, ErrorClass::Transient),
            99 => {
                let err = result.as_ref().unwrap_err();
                assert_eq!(
                    (err.class, err.code, err.http_status),
                    (ErrorClass::TokenDead, Some(190), Some(400))
                );
            }
            _ => assert_eq!(
                result.as_ref().unwrap().user_id.as_deref(),
                Some(tokens[index].as_str())
            ),
        }
    }
}

#[tokio::test]
async fn batch_of_no_tokens_makes_no_request() {
    let mock = Mock::start(batch_responder).await;
    let results = mock
        .client("v25.0")
        .debug_tokens(&app(), &[])
        .await
        .unwrap();
    assert!(results.is_empty());
    assert!(mock.requests().is_empty());
}

#[tokio::test]
async fn batch_answer_that_is_an_error_fails_the_whole_call() {
    let mock = Mock::start(|_| {
        reply(
            400,
            r#"{"error":{"message":"bad app token","type":"OAuthException","code":190}}"#,
        )
    })
    .await;
    let err = mock
        .client("v25.0")
        .debug_tokens(&app(), &[token()])
        .await
        .unwrap_err();
    assert_eq!(err.class, ErrorClass::TokenDead);
}

#[tokio::test]
async fn rate_limited_send_gets_retry_after_from_usage_header() {
    let mock = Mock::start(|_| Canned {
        headers: vec![(
            "x-business-use-case-usage",
            r#"{"102290129340398":[{"type":"whatsapp","call_count":100,"total_cputime":5,"total_time":5,"estimated_time_to_regain_access":3}]}"#.to_string(),
        )],
        ..reply(400, r#"{"error":{"message":"(#80007) Rate limit issues","type":"OAuthException","code":80007,"fbtrace_id":"AbC"}}"#)
    })
    .await;
    let err = mock
        .client("v25.0")
        .send_message(&app(), &token(), PHONE_ID, &template())
        .await
        .unwrap_err();
    assert_eq!(err.class, ErrorClass::RateLimited);
    assert_eq!(err.retry_after, Some(Duration::from_secs(180)));
    assert_eq!(err.fbtrace_id.as_deref(), Some("AbC"));
}

#[tokio::test]
async fn a_2xx_body_with_an_error_object_is_an_error() {
    let mock = Mock::start(|_| ok(r#"{"error":{"message":"(#131047) Re-engagement message","type":"OAuthException","code":131047,"error_user_title":"Message failed"}}"#)).await;
    let err = mock
        .client("v25.0")
        .send_message(&app(), &token(), PHONE_ID, &template())
        .await
        .unwrap_err();
    assert_eq!(err.class, ErrorClass::MessageLevel);
    assert_eq!(err.http_status, Some(200));
    assert_eq!(err.user_title.as_deref(), Some("Message failed"));
}

#[tokio::test]
async fn html_5xx_is_transient() {
    let mock = Mock::start(|_| reply(503, "<html>Service Unavailable</html>")).await;
    let err = mock
        .client("v25.0")
        .phone_health(&app(), &token(), PHONE_ID)
        .await
        .unwrap_err();
    assert_eq!(err.class, ErrorClass::Transient);
    assert_eq!(err.http_status, Some(503));
    assert!(
        err.message
            .contains("not JSON (HTTP 503): <html>Service Unavailable</html>")
    );
}

#[tokio::test]
async fn timeout_is_transient() {
    let mock = Mock::start(|_| Canned {
        delay: Some(Duration::from_secs(10)),
        ..ok(DEBUG_TOKEN_BODY)
    })
    .await;
    let client = client_for(&mock.base_url, "v25.0", Duration::from_millis(200));
    let started = std::time::Instant::now();
    let err = client.debug_token(&app(), &token()).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "gave up in time"
    );
    assert_eq!(err.class, ErrorClass::Transient);
    assert_eq!((err.code, err.http_status), (None, None));
    assert!(
        err.message.contains("no answer within 200 ms"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn connection_refused_is_transient() {
    let base_url = refused_base_url().await;
    let err = client_for(&base_url, "v25.0", Duration::from_secs(5))
        .debug_token(&app(), &token())
        .await
        .unwrap_err();
    assert_eq!(err.class, ErrorClass::Transient);
    assert!(
        err.message
            .starts_with("could not connect to the Graph API"),
        "{}",
        err.message
    );
}

/// A base URL on a port that was just free: connecting is refused.
async fn refused_base_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

#[tokio::test]
async fn base_url_trailing_slash_is_dropped() {
    let mock = Mock::start(|_| ok(DEBUG_TOKEN_BODY)).await;
    let client = client_for(
        &format!("{}/", mock.base_url),
        "v25.0",
        Duration::from_secs(5),
    );
    assert_eq!(client.base_url(), mock.base_url);
    assert_eq!(client.version(), "v25.0");
    client.debug_token(&app(), &token()).await.unwrap();
    assert_eq!(mock.only_request().path, "/v25.0/debug_token");
}

#[test]
fn new_rejects_bad_versions_and_urls_with_clear_messages() {
    for version in ["25.0", "v25", "latest", "v25.0/", ""] {
        let err = GraphClient::new(&GraphSettings {
            version: version.to_string(),
            ..GraphSettings::default()
        })
        .unwrap_err();
        assert!(err.message.contains("e.g. v25.0"), "{}", err.message);
        assert!(
            err.to_string()
                .starts_with("Graph API client: graph API version"),
            "{err}"
        );
    }
    let err = GraphClient::new(&GraphSettings {
        base_url: "graph.facebook.com".to_string(),
        ..GraphSettings::default()
    })
    .unwrap_err();
    assert!(
        err.message.contains("https://graph.facebook.com"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn bad_node_ids_are_refused_before_any_request() {
    let mock = Mock::start(|_| ok(SEND_BODY)).await;
    let client = mock.client("v25.0");
    let err = client
        .send_message(&app(), &token(), "../debug_token", &template())
        .await
        .unwrap_err();
    assert!(err.message.contains("phone number id"), "{}", err.message);
    let err = client
        .waba_analytics(&app(), &token(), WABA_ID, 10, 10, Granularity::Day)
        .await
        .unwrap_err();
    assert!(
        err.message.contains("must be after start"),
        "{}",
        err.message
    );
    assert!(mock.requests().is_empty());
}

// ---------------------------------------------------------------- secrets

#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl Write for LogBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogBuffer {
    type Writer = LogBuffer;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Echoes whatever secrets it was sent back into its error answers.
fn echoing_responder(request: &Recorded) -> Canned {
    let echo = format!(
        "token={} secret={} proof={} auth={:?} body={}",
        request
            .query
            .get("input_token")
            .or(request.query.get("fb_exchange_token"))
            .cloned()
            .unwrap_or_default(),
        request
            .query
            .get("client_secret")
            .cloned()
            .unwrap_or_default(),
        request
            .query
            .get("appsecret_proof")
            .cloned()
            .unwrap_or_default(),
        request.headers.get("authorization"),
        request.body,
    );
    let envelope = serde_json::json!({"error": {"message": format!("Invalid OAuth access token: {echo}"),
        "type": "OAuthException", "code": 190, "error_user_title": echo, "fbtrace_id": "Aecho"}});
    match request.path.as_str() {
        "/v25.0/debug_token" => reply(400, &envelope.to_string()),
        "/v25.0/oauth/access_token" => reply(500, &format!("<html>{echo}</html>")),
        p if p.ends_with("/messages") => reply(502, &format!("upstream said {echo}")),
        "/" => ok(
            &serde_json::json!([{"code": 400, "headers": [], "body": envelope.to_string()}, null])
                .to_string(),
        ),
        _ => ok(&envelope.to_string()),
    }
}

#[tokio::test]
async fn secrets_never_reach_logs_or_errors() {
    let logs = LogBuffer::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(logs.clone())
        .with_ansi(false)
        .finish();
    let _guard = crate::support::trace_capture::set_default(subscriber);

    let mock = Mock::start(echoing_responder).await;
    let client = mock.client("v25.0");
    let refused = client_for(&refused_base_url().await, "v25.0", Duration::from_secs(5));
    let (app, token) = (app(), token());
    let mut errors: Vec<GraphError> = vec![
        client.debug_token(&app, &token).await.unwrap_err(),
        client.exchange(&app, &token, true).await.unwrap_err(),
        client
            .send_message(&app, &token, PHONE_ID, &template())
            .await
            .unwrap_err(),
        client
            .phone_health(&app, &token, PHONE_ID)
            .await
            .unwrap_err(),
        refused.debug_token(&app, &token).await.unwrap_err(),
        refused
            .send_message(&app, &token, PHONE_ID, &template())
            .await
            .unwrap_err(),
    ];
    let batch = client
        .debug_tokens(&app, &[token.clone(), token.clone()])
        .await
        .unwrap();
    errors.extend(batch.into_iter().map(Result::unwrap_err));

    // The mock really did echo the secrets, so redaction is what keeps them out.
    assert!(
        mock.requests()
            .iter()
            .any(|r| r.query.values().any(|v| v == TOKEN))
    );
    assert_eq!(errors[0].class, ErrorClass::TokenDead);
    assert!(
        errors[0].message.contains("EAAG…x9Qf"),
        "{}",
        errors[0].message
    );
    assert_eq!(errors[2].class, ErrorClass::Transient);
    assert_eq!(errors[4].class, ErrorClass::Transient);

    let log_text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        log_text.contains("graph request"),
        "logs were captured: {log_text}"
    );
    assert!(log_text.contains("/v25.0/debug_token"), "{log_text}");
    let mut texts = vec![log_text];
    for err in &errors {
        texts.push(err.to_string());
        texts.push(format!("{err:?}"));
        texts.push(serde_json::to_string(err).unwrap());
    }
    for text in &texts {
        for secret in [TOKEN, APP_SECRET, KNOWN_PROOF] {
            assert!(
                !text.contains(secret),
                "secret {secret} leaked into: {text}"
            );
        }
        assert!(
            !text.contains("tokenvalue"),
            "part of the token leaked into: {text}"
        );
    }
}
