//! Embedded Signup (REFERENCE.md 14): `POST /_sim/codes` mints a one-time code for a simulated
//! customer, `oauth/access_token?code=` exchanges it once for a business token whose
//! `debug_token` carries the customer's WABA ids, `/{waba-id}/phone_numbers` lists the
//! customer's numbers and `/me?fields=client_business_id` names its portfolio.

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use rand::Rng;
use rand::distr::Alphanumeric;
use serde::Deserialize;
use serde_json::{Value, json};

use super::control::{bad_request, parse_body};
use super::envelope::{GraphError, GraphResponse};
use super::node_auth::authorize;
use super::request::GraphRequest;
use super::state::{SimHandle, expiry_after};
use super::token::TokenKind;

/// Random characters of a minted code (Meta's codes are a few hundred; the length is not used).
const CODE_RANDOM_CHARS: usize = 64;
/// The portfolio id `/me?fields=client_business_id` answers when the body names none.
const DEFAULT_CLIENT_BUSINESS_ID: &str = "200000000000001";
/// What a reused, expired or unknown code answers; REFERENCE.md 14.2 knows no specific code.
const BAD_CODE: &str = "Invalid verification code format or the code was already used.";

/// One phone number of a simulated customer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CustomerPhone {
    pub id: String,
    #[serde(default = "default_display_number")]
    pub display_phone_number: String,
}

/// One WABA of a simulated customer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CustomerWaba {
    pub id: String,
    #[serde(default)]
    pub phones: Vec<CustomerPhone>,
}

/// `POST /_sim/codes` body: the customer behind the code. Every field is optional.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Customer {
    #[serde(default = "default_wabas")]
    pub wabas: Vec<CustomerWaba>,
    /// 0 (the default): the business token never expires; otherwise it expires after these days.
    #[serde(default)]
    pub expires_in_days: u64,
    /// The WhatsApp scopes whose `granular_scopes` entries carry the WABA ids.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    #[serde(default = "default_business_id")]
    pub client_business_id: String,
}

fn default_display_number() -> String {
    "15550100001".to_string()
}

fn default_wabas() -> Vec<CustomerWaba> {
    vec![CustomerWaba {
        id: "300000000000001".to_string(),
        phones: vec![CustomerPhone {
            id: "400000000000001".to_string(),
            display_phone_number: default_display_number(),
        }],
    }]
}

fn default_scopes() -> Vec<String> {
    [
        "whatsapp_business_management",
        "whatsapp_business_messaging",
    ]
    .map(str::to_string)
    .to_vec()
}

fn default_business_id() -> String {
    DEFAULT_CLIENT_BUSINESS_ID.to_string()
}

/// Codes not yet exchanged, and the customer behind each business token minted from one.
#[derive(Debug, Default)]
pub(crate) struct Signups {
    codes: HashMap<String, Customer>,
    tokens: HashMap<String, Customer>,
}

/// `POST /_sim/codes`: an empty body is the default customer (one WABA, one phone).
pub(crate) async fn mint_code(State(sim): State<SimHandle>, body: Bytes) -> Response {
    tracing::debug!("POST /_sim/codes");
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        &body
    };
    let customer: Customer = match parse_body(body) {
        Ok(customer) => customer,
        Err(message) => return bad_request(message),
    };
    if customer.wabas.is_empty() || customer.wabas.iter().any(|waba| waba.id.is_empty()) {
        return bad_request("`wabas` needs at least one WABA with an `id`".to_string());
    }
    let code: String = rand::rng()
        .sample_iter(Alphanumeric)
        .take(CODE_RANDOM_CHARS)
        .map(char::from)
        .collect();
    sim.lock().signups.codes.insert(code.clone(), customer);
    (StatusCode::OK, Json(json!({ "code": code }))).into_response()
}

/// `GET /{v}/oauth/access_token?client_id&client_secret&code` (no `grant_type`): the code's
/// business token, once; a second use answers code 100 like an unknown code.
pub(crate) fn exchange_code(
    sim: &SimHandle,
    request: &GraphRequest,
    now: i64,
) -> Result<Value, GraphError> {
    super::oauth::check_client(sim, request)?;
    let code = request.param("code").unwrap_or_default();
    let mut state = sim.lock();
    let Some(customer) = state.signups.codes.remove(code) else {
        return Err(GraphError::invalid_param(BAD_CODE));
    };
    let expires_at = (customer.expires_in_days > 0).then(|| {
        let lifetime = std::time::Duration::from_secs(customer.expires_in_days * 86_400);
        expiry_after(now, lifetime)
    });
    let minted = state.insert_token(TokenKind::Business, now, expires_at);
    state
        .signups
        .tokens
        .insert(minted.access_token.clone(), customer);
    // The shape of fixtures/es_code_exchange_response.json.
    Ok(json!({"access_token": minted.access_token, "token_type": "bearer"}))
}

/// Gives an onboarded token's `debug_token` data its customer's scopes, each with the WABA
/// ids as `target_ids` (strings, newest first as Meta orders them).
pub(crate) fn add_target_ids(sim: &SimHandle, token: &str, data: &mut Value) {
    let state = sim.lock();
    let Some(customer) = state.signups.tokens.get(token) else {
        return;
    };
    if !data.get("is_valid").is_some_and(|v| v == true) {
        return;
    }
    let ids: Vec<&str> = customer.wabas.iter().rev().map(|w| w.id.as_str()).collect();
    data["scopes"] = json!(customer.scopes);
    data["granular_scopes"] = customer
        .scopes
        .iter()
        .map(|scope| json!({"scope": scope, "target_ids": ids}))
        .collect();
}

/// Whether the request is one this file serves: `/{waba-id}/phone_numbers` or `/me`.
pub(crate) fn serves(request: &GraphRequest) -> bool {
    matches!(segments(request).as_slice(), [_, "phone_numbers"] | ["me"])
}

fn segments(request: &GraphRequest) -> Vec<&str> {
    let mut parts: Vec<&str> = request.path.split('/').filter(|s| !s.is_empty()).collect();
    if parts.first().is_some_and(|first| first.starts_with('v')) {
        parts.remove(0);
    }
    parts
}

/// Answers `GET /{waba-id}/phone_numbers` or `GET /me` with an onboarded business token.
pub(crate) fn serve(sim: &SimHandle, request: &GraphRequest, now: i64) -> GraphResponse {
    match try_serve(sim, request, now) {
        Ok(body) => GraphResponse::ok(&body),
        Err(error) => error.response(),
    }
}

fn try_serve(sim: &SimHandle, request: &GraphRequest, now: i64) -> Result<Value, GraphError> {
    let parts = segments(request);
    let object = parts.join("/");
    if request.method != Method::GET {
        return Err(GraphError::unsupported(request.method.as_str(), &object));
    }
    authorize(sim, request, now)?;
    let token = request.access_token().unwrap_or_default();
    let state = sim.lock();
    let customer = state.signups.tokens.get(token);
    match (parts.as_slice(), customer) {
        (["me"], Some(customer)) => Ok(json!({
            "client_business_id": customer.client_business_id,
            "id": "100000000000100",
        })),
        ([waba_id, "phone_numbers"], Some(customer)) => customer
            .wabas
            .iter()
            .find(|waba| waba.id == *waba_id)
            .map(phone_numbers)
            .ok_or_else(|| GraphError::unsupported("GET", waba_id)),
        ([first, ..], _) => Err(GraphError::unsupported("GET", first)),
        ([], _) => Err(GraphError::unsupported("GET", "")),
    }
}

/// REFERENCE.md 14.4 step 3.
fn phone_numbers(waba: &CustomerWaba) -> Value {
    let data: Vec<Value> = waba
        .phones
        .iter()
        .map(|phone| {
            json!({
                "verified_name": "tokentop simulator",
                "code_verification_status": "VERIFIED",
                "display_phone_number": phone.display_phone_number,
                "quality_rating": "GREEN",
                "platform_type": "CLOUD_API",
                "throughput": {"level": "STANDARD"},
                "last_onboarded_time": "2026-12-01T10:00:00+0000",
                "webhook_configuration": {"application": "https://webhook.example.com/whatsapp"},
                "id": phone.id,
            })
        })
        .collect();
    json!({"data": data, "paging": {"cursors": {"before": "QVFI", "after": "QVFI"}}})
}
