#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The simulator answers as Meta does (issue 9, section 2): request encodings, authentication
//! before routing, appsecret_proof, every message type, mark-as-read, phone-number fields,
//! debug_token callers and input shapes, client_credentials, and Pacific-time expiry messages.
//! Real loopback HTTP with reqwest against `RunningSim`.

use std::collections::BTreeSet;

use hmac::{Hmac, Mac};
use reqwest::{Client, RequestBuilder, StatusCode};
use serde_json::{Value, json};
use sha2::Sha256;
use tokentop::sim::{DEFAULT_APP_ID, RunningSim, SimConfig, TokenKind};

const V: &str = "v25.0";
const PHONE: &str = "106540352242922";
const SECRET: &str = "sim-app-secret";

struct Sim {
    sim: RunningSim,
    client: Client,
}

impl Sim {
    async fn start() -> Sim {
        Sim::with(false).await
    }

    async fn with(require_proof: bool) -> Sim {
        let config = SimConfig {
            require_proof,
            ..SimConfig::default()
        };
        let sim = RunningSim::start(config, "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        tokentop::graph::install_tls_provider();
        Sim {
            sim,
            client: Client::new(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{V}{path}", self.sim.base_url())
    }

    fn token(&self) -> String {
        self.sim
            .handle()
            .mint_token(TokenKind::SystemUser, None)
            .access_token
    }

    fn expired_token(&self, expires_at: i64) -> String {
        self.sim
            .handle()
            .mint_token_expiring_at(TokenKind::LongLivedUser, expires_at)
            .access_token
    }

    fn messages(&self) -> RequestBuilder {
        self.client.post(self.url(&format!("/{PHONE}/messages")))
    }

    async fn send_json(&self, token: &str, body: &Value) -> (StatusCode, Value) {
        reply(self.messages().bearer_auth(token).json(body)).await
    }

    async fn get(&self, path: &str, query: &[(&str, &str)]) -> (StatusCode, Value) {
        reply(self.client.get(self.url(path)).query(query)).await
    }
}

async fn reply(request: RequestBuilder) -> (StatusCode, Value) {
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|err| panic!("{status} not JSON ({err}): {text}"));
    (status, body)
}

fn app_token() -> String {
    format!("{DEFAULT_APP_ID}|{SECRET}")
}

fn proof(token: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(token.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

fn keys(value: &Value) -> BTreeSet<String> {
    value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {value}"))
        .keys()
        .cloned()
        .collect()
}

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn template() -> Value {
    json!({"messaging_product":"whatsapp","to":"15551234567","type":"template",
        "template":{"name":"hello_world","language":{"code":"en_US"}}})
}

/// The error object of an envelope, checked against `code`.
fn error(body: &Value, code: i64) -> &Value {
    assert_eq!(body["error"]["code"], code, "{body}");
    &body["error"]
}

/// A multipart/form-data body with `fields`, built by hand (boundary fixed for the test).
fn multipart(fields: &[(&str, &str)]) -> (String, Vec<u8>) {
    let boundary = "tokentopBoundary7MA4YWxk";
    let mut body = String::new();
    for (name, value) in fields {
        body.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        ));
    }
    body.push_str(&format!("--{boundary}--\r\n"));
    (
        format!("multipart/form-data; boundary={boundary}"),
        body.into_bytes(),
    )
}

// ---------------------------------------------------------------------------------------------
// Request encodings
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_send_is_accepted_as_json_form_and_multipart_with_nested_json_strings() {
    let sim = Sim::start().await;
    let token = sim.token();
    let nested = r#"{"language":{"code":"en_US"},"name":"hello_world"}"#;
    let fields = [
        ("messaging_product", "whatsapp"),
        ("to", "15551234567"),
        ("type", "template"),
        ("template", nested),
        ("access_token", token.as_str()),
    ];
    let (status, form) = reply(sim.messages().form(&fields)).await;
    assert_eq!(status, StatusCode::OK, "form: {form}");
    let (content_type, body) = multipart(&fields);
    let (status, multi) = reply(
        sim.messages()
            .header("Content-Type", content_type)
            .body(body),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "multipart: {multi}");
    let (status, json_reply) = sim.send_json(&token, &template()).await;
    assert_eq!(status, StatusCode::OK, "json: {json_reply}");
    for answer in [&form, &multi, &json_reply] {
        assert_eq!(answer["contacts"][0]["wa_id"], "15551234567", "{answer}");
        assert_eq!(answer["messages"][0]["message_status"], "accepted");
    }

    // A nested value that is not JSON is refused naming the parameter, as JSON would be.
    let mut broken = fields;
    broken[3] = ("template", "hello_world");
    let (status, body) = reply(sim.messages().form(&broken)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let details = error(&body, 100)["error_data"]["details"].as_str().unwrap();
    assert!(details.contains("name"), "{body}");
}

#[tokio::test]
async fn the_token_and_proof_are_found_in_query_form_json_body_and_bearer() {
    let sim = Sim::with(true).await;
    let token = sim.token();
    let good = proof(&token);
    let query = sim
        .messages()
        .query(&[("access_token", &token), ("appsecret_proof", &good)])
        .json(&template());
    let bearer = sim
        .messages()
        .bearer_auth(&token)
        .query(&[("appsecret_proof", &good)])
        .json(&template());
    let mut in_json = template();
    in_json["access_token"] = json!(token);
    in_json["appsecret_proof"] = json!(good);
    let json_body = sim.messages().json(&in_json);
    let form = sim.messages().form(&[
        ("messaging_product", "whatsapp"),
        ("to", "15551234567"),
        ("text", r#"{"body":"hi"}"#),
        ("access_token", &token),
        ("appsecret_proof", &good),
    ]);
    let (content_type, body) = multipart(&[
        ("messaging_product", "whatsapp"),
        ("to", "15551234567"),
        ("type", "text"),
        ("text", r#"{"body":"hi"}"#),
        ("access_token", &token),
        ("appsecret_proof", &good),
    ]);
    let multi = sim
        .messages()
        .header("Content-Type", content_type)
        .body(body);
    for (what, request) in [
        ("query", query),
        ("bearer", bearer),
        ("json body", json_body),
        ("form body", form),
        ("multipart body", multi),
    ] {
        let (status, body) = reply(request).await;
        assert_eq!(status, StatusCode::OK, "{what}: {body}");
    }
    // The same JSON body without its proof is refused with Meta's missing-proof answer.
    in_json.as_object_mut().unwrap().remove("appsecret_proof");
    let (status, body) = reply(sim.messages().json(&in_json)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let expected = fixture("error_appsecret_proof_missing.json");
    let error = error(&body, 100);
    assert_eq!(error["message"], expected["error"]["message"]);
    assert_eq!(error["type"], expected["error"]["type"]);
}

// ---------------------------------------------------------------------------------------------
// Authentication before routing
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_dead_token_gets_190_on_unknown_paths_and_wrong_methods() {
    let sim = Sim::start().await;
    let expired = sim.expired_token(1_665_039_600);
    let invalidated = sim.token();
    assert!(sim.sim.handle().invalidate(&invalidated));
    let password = fixture("error_session_invalidated_password.json");
    for token in [expired.as_str(), invalidated.as_str(), "EAAGneverminted"] {
        for (method, path) in [
            ("GET", "/nonsense/path"),
            ("GET", "/me"),
            ("DELETE", &format!("/{PHONE}") as &str),
            ("GET", &format!("/{PHONE}/messages")),
        ] {
            let request = sim
                .client
                .request(method.parse().unwrap(), sim.url(path))
                .bearer_auth(token);
            let (status, body) = reply(request).await;
            // Meta answers 401 on /messages and 400 elsewhere; the code is what counts.
            let expected = if path.ends_with("/messages") {
                StatusCode::UNAUTHORIZED
            } else {
                StatusCode::BAD_REQUEST
            };
            assert_eq!(status, expected, "{method} {path}: {body}");
            let error = error(&body, 190);
            assert_eq!(error["type"], "OAuthException");
            if token == invalidated {
                assert_eq!(error["message"], password["error"]["message"]);
            }
        }
    }
    // No token learns nothing either: Meta's code 104, on unknown paths and nodes alike.
    for path in ["/nonsense".to_string(), format!("/{PHONE}")] {
        let (status, body) = sim.get(&path, &[]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(
            error(&body, 104)["message"],
            "An access token is required to request this resource."
        );
    }
    // Only a valid token learns that a path does not exist (code 100, subcode 33).
    let valid = sim.token();
    let (status, body) = reply(sim.client.get(sim.url("/nonsense")).bearer_auth(&valid)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error(&body, 100)["error_subcode"], 33);
    let (_, body) = reply(
        sim.client
            .get(sim.url(&format!("/{PHONE}/messages")))
            .bearer_auth(&valid),
    )
    .await;
    assert!(
        error(&body, 100)["message"]
            .as_str()
            .unwrap()
            .starts_with("Unsupported get request")
    );
}

// ---------------------------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------------------------

fn message(kind: &str, content: Value) -> Value {
    let mut body = json!({"messaging_product":"whatsapp","recipient_type":"individual",
        "to":"15551234567","type": kind});
    body[kind] = content;
    body
}

#[tokio::test]
async fn every_cloud_api_message_type_is_accepted_and_validated() {
    let sim = Sim::start().await;
    let token = sim.token();
    let button = json!({"type":"button","body":{"text":"Pick one"},"action":{"buttons":[
        {"type":"reply","reply":{"id":"yes","title":"Yes"}}]}});
    let list = json!({"type":"list","body":{"text":"Menu"},"action":{"button":"Open",
        "sections":[{"title":"Main","rows":[{"id":"r1","title":"Row"}]}]}});
    let cta = json!({"type":"cta_url","body":{"text":"Visit"},"action":{"name":"cta_url",
        "parameters":{"display_text":"Site","url":"https://example.com"}}});
    let flow = json!({"type":"flow","body":{"text":"Sign up"},"action":{"name":"flow",
        "parameters":{"flow_message_version":"3","flow_cta":"Open","flow_id":"1234"}}});
    let contacts = json!({"messaging_product":"whatsapp","to":"15551234567","type":"contacts",
        "contacts":[{"name":{"formatted_name":"Ann Lee","first_name":"Ann"},
                     "phones":[{"phone":"+15550100002","type":"WORK"}]}]});
    let accepted = [
        message("text", json!({"body":"hello","preview_url":false})),
        template(),
        message("image", json!({"id":"1479537139650973"})),
        message(
            "image",
            json!({"link":"https://example.com/i.jpg","caption":"c"}),
        ),
        message("audio", json!({"id":"1"})),
        message("video", json!({"link":"https://example.com/v.mp4"})),
        message("document", json!({"id":"1","filename":"a.pdf"})),
        message("sticker", json!({"link":"https://example.com/s.webp"})),
        message(
            "location",
            json!({"latitude":37.48,"longitude":-122.14,"name":"HQ"}),
        ),
        contacts,
        message("interactive", button),
        message("interactive", list),
        message("interactive", cta),
        message("interactive", flow),
        message(
            "reaction",
            json!({"message_id":"wamid.HBgL","emoji":"\u{1F600}"}),
        ),
    ];
    for body in &accepted {
        let (status, reply) = sim.send_json(&token, body).await;
        assert_eq!(status, StatusCode::OK, "{body} -> {reply}");
        assert!(
            reply["messages"][0]["id"]
                .as_str()
                .unwrap()
                .starts_with("wamid.")
        );
        // message_status is template pacing: only template sends carry it.
        let is_template = body["type"] == "template";
        assert_eq!(
            reply["messages"][0].get("message_status").is_some(),
            is_template,
            "{reply}"
        );
    }
    let refused = [
        (message("text", json!({"preview_url":true})), "body"),
        (message("template", json!({"name":"hello_world"})), "code"),
        (
            message("image", json!({"caption":"no media"})),
            "id or link",
        ),
        (message("location", json!({"latitude":1.0})), "longitude"),
        (
            json!({"messaging_product":"whatsapp","to":"1","type":"contacts","contacts":[{"name":{}}]}),
            "formatted_name",
        ),
        (
            message(
                "interactive",
                json!({"type":"button","body":{"text":"x"},"action":{}}),
            ),
            "buttons",
        ),
        (
            message(
                "interactive",
                json!({"type":"list","body":{"text":"x"},
                "action":{"button":"b","sections":[{"rows":[{"id":"r"}]}]}}),
            ),
            "title",
        ),
        (
            message(
                "interactive",
                json!({"type":"cta_url","body":{"text":"x"},
                "action":{"parameters":{"url":"https://example.com"}}}),
            ),
            "display_text",
        ),
        (
            message(
                "interactive",
                json!({"type":"flow","body":{"text":"x"},
                "action":{"parameters":{"flow_id":"1"}}}),
            ),
            "flow_cta",
        ),
        (message("reaction", json!({"emoji":"x"})), "message_id"),
        (message("fax", json!({})), "fax"),
    ];
    for (body, name) in refused {
        let (status, reply) = sim.send_json(&token, &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let error = error(&reply, 100);
        assert_eq!(error["message"], "(#100) Invalid parameter", "{reply}");
        assert_eq!(error["error_data"]["messaging_product"], "whatsapp");
        let details = error["error_data"]["details"].as_str().unwrap();
        assert!(details.contains(name), "{details} should name {name}");
    }
}

#[tokio::test]
async fn mark_as_read_answers_success_with_and_without_typing_indicator() {
    let sim = Sim::start().await;
    let token = sim.token();
    let read = json!({"messaging_product":"whatsapp","status":"read","message_id":"wamid.HBgL1"});
    let mut typing = read.clone();
    typing["typing_indicator"] = json!({"type":"text"});
    for body in [read, typing] {
        let (status, reply) = sim.send_json(&token, &body).await;
        assert_eq!(status, StatusCode::OK, "{reply}");
        assert_eq!(reply, json!({"success": true}));
    }
    let (status, reply) = sim
        .send_json(
            &token,
            &json!({"messaging_product":"whatsapp","status":"read"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        error(&reply, 100)["message"]
            .as_str()
            .unwrap()
            .contains("message_id")
    );
    let bad_indicator = json!({"messaging_product":"whatsapp","status":"read",
        "message_id":"wamid.x","typing_indicator":{"type":"audio"}});
    let (status, _) = sim.send_json(&token, &bad_indicator).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

// ---------------------------------------------------------------------------------------------
// Phone-number fields
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn phone_number_default_fields_and_every_documented_field() {
    let sim = Sim::start().await;
    let token = sim.token();
    let (status, body) = sim
        .get(&format!("/{PHONE}"), &[("access_token", &token)])
        .await;
    assert_eq!(status, StatusCode::OK);
    let default: BTreeSet<String> = [
        "verified_name",
        "code_verification_status",
        "display_phone_number",
        "quality_rating",
        "platform_type",
        "throughput",
        "webhook_configuration",
        "id",
    ]
    .map(String::from)
    .into();
    assert_eq!(keys(&body), default, "{body}");
    assert_eq!(body["platform_type"], "CLOUD_API");
    assert!(body["webhook_configuration"]["application"].is_string());

    let documented = "code_verification_status,platform_type,name_status,account_mode,\
        is_official_business_account,throughput,webhook_configuration,health_status,\
        whatsapp_business_manager_messaging_limit,messaging_limit_tier,status,\
        display_phone_number,verified_name,quality_rating";
    let (status, body) = sim
        .get(
            &format!("/{PHONE}"),
            &[("fields", documented), ("access_token", &token)],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for field in documented.split(',') {
        assert!(!body[field].is_null(), "{field} missing from {body}");
    }
    assert_eq!(body["account_mode"], "LIVE");
    assert_eq!(body["is_official_business_account"], false);
    assert_eq!(body["name_status"], "APPROVED");
    assert_eq!(body["code_verification_status"], "VERIFIED");
    assert_eq!(
        body["whatsapp_business_manager_messaging_limit"],
        body["messaging_limit_tier"]
    );

    let (status, body) = sim
        .get(
            &format!("/{PHONE}"),
            &[("fields", "status,colour"), ("access_token", &token)],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        error(&body, 100)["message"],
        "(#100) Tried accessing nonexisting field (colour) on node type (WhatsAppBusinessPhoneNumber)"
    );
}

// ---------------------------------------------------------------------------------------------
// debug_token and client_credentials
// ---------------------------------------------------------------------------------------------

async fn client_credentials(sim: &Sim) -> (StatusCode, Value) {
    sim.get(
        "/oauth/access_token",
        &[
            ("client_id", DEFAULT_APP_ID),
            ("client_secret", SECRET),
            ("grant_type", "client_credentials"),
        ],
    )
    .await
}

#[tokio::test]
async fn client_credentials_answers_an_app_token_as_meta() {
    let sim = Sim::start().await;
    let (status, body) = client_credentials(&sim).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        keys(&body),
        ["access_token", "token_type"].map(String::from).into()
    );
    assert_eq!(body["token_type"], "bearer");
    let token = body["access_token"].as_str().unwrap();
    assert!(token.starts_with(&format!("{DEFAULT_APP_ID}|")), "{token}");
    let (status, body) = sim
        .get(
            "/oauth/access_token",
            &[
                ("client_id", DEFAULT_APP_ID),
                ("client_secret", "wrong"),
                ("grant_type", "client_credentials"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    error(&body, 101);
}

#[tokio::test]
async fn debug_token_callers_app_token_minted_app_token_and_tokens_of_the_app() {
    let sim = Sim::start().await;
    let input = sim.token();
    let (_, minted) = client_credentials(&sim).await;
    let minted = minted["access_token"].as_str().unwrap().to_string();
    let user = sim
        .sim
        .handle()
        .mint_token(TokenKind::LongLivedUser, None)
        .access_token;
    for caller in [app_token(), minted, user, input.clone()] {
        let (status, body) = sim
            .get(
                "/debug_token",
                &[("input_token", &input), ("access_token", &caller)],
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["data"]["is_valid"], true);
    }
    let refusal = fixture("error_debug_token_caller_not_allowed.json");
    for query in [
        vec![("input_token", input.as_str())],
        vec![
            ("input_token", input.as_str()),
            ("access_token", "999999999|othersecret"),
        ],
    ] {
        let (status, body) = sim.get("/debug_token", &query).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let error = error(&body, 100);
        assert_eq!(error["message"], refusal["error"]["message"]);
        assert_eq!(error["type"], refusal["error"]["type"]);
    }
}

#[tokio::test]
async fn debug_token_input_shapes_follow_the_fixtures_and_fields_are_honoured() {
    let sim = Sim::start().await;
    let app = app_token();
    let inspect = |input: String| {
        let app = app.clone();
        let sim = &sim;
        async move {
            sim.get(
                "/debug_token",
                &[("input_token", input.as_str()), ("access_token", &app)],
            )
            .await
        }
    };
    let cases = [
        (
            "garbage-not-a-token".to_string(),
            "debug_token_cannot_parse.json",
        ),
        (
            format!("{DEFAULT_APP_ID}|forged"),
            "debug_token_invalid_signature.json",
        ),
        (app_token(), "debug_token_app_token.json"),
    ];
    for (input, name) in cases {
        let (status, body) = inspect(input).await;
        assert_eq!(status, StatusCode::OK, "{name}: {body}");
        let expected = fixture(name);
        assert_eq!(
            keys(&body["data"]),
            keys(&expected["data"]),
            "{name}: {body}"
        );
        assert_eq!(body["data"]["is_valid"], expected["data"]["is_valid"]);
        if let Some(error) = expected["data"].get("error") {
            assert_eq!(body["data"]["error"], *error, "{name}");
        } else {
            assert_eq!(body["data"]["type"], "APP");
        }
    }
    let input = sim.token();
    let (status, body) = sim
        .get(
            "/debug_token",
            &[
                ("input_token", input.as_str()),
                ("access_token", &app),
                ("fields", "is_valid,expires_at"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"data": {"is_valid": true, "expires_at": 0}}));
}

// ---------------------------------------------------------------------------------------------
// Pacific time
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn expiry_messages_carry_pacific_time_like_meta() {
    let sim = Sim::start().await;
    // 2022-10-06 07:00:00 UTC, the expiry of fixtures/error_access_token_session_expired.json.
    let expired = sim.expired_token(1_665_039_600);
    let (status, body) = sim
        .get(&format!("/{PHONE}"), &[("access_token", &expired)])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let message = error(&body, 190)["message"].as_str().unwrap().to_string();
    let prefix = "Error validating access token: Session has expired on Thursday, \
                  06-Oct-22 00:00:00 PDT. The current time is ";
    assert!(message.starts_with(prefix), "{message}");
    let current = &message[prefix.len()..];
    assert!(
        current.ends_with(" PST.") || current.ends_with(" PDT."),
        "{message}"
    );
    let (_, inspected) = sim
        .get(
            "/debug_token",
            &[
                ("input_token", expired.as_str()),
                ("access_token", &app_token()),
            ],
        )
        .await;
    assert_eq!(inspected["data"]["error"]["message"], message.as_str());
    assert_eq!(inspected["data"]["error"]["subcode"], 463);
}

#[tokio::test]
async fn control_api_mints_an_already_expired_token_and_refuses_two_expiries() {
    let sim = Sim::start().await;
    let control = format!("{}/_sim/tokens", sim.sim.base_url());
    let (status, body) = reply(
        sim.client
            .post(&control)
            .json(&json!({"type": "LONG_LIVED_USER", "expires_at": 1_665_039_600})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["expires_at"], 1_665_039_600);
    let token = body["access_token"].as_str().unwrap();
    let (_, inspected) = sim
        .get(
            "/debug_token",
            &[("input_token", token), ("access_token", &app_token())],
        )
        .await;
    assert_eq!(inspected["data"]["is_valid"], false);
    assert_eq!(inspected["data"]["expires_at"], 1_665_039_600);
    let (status, body) = reply(
        sim.client
            .post(&control)
            .json(&json!({"type": "USER", "expires_at": 1, "lifetime_secs": 5})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["message"].as_str().unwrap().contains("not both"),
        "{body}"
    );
}
