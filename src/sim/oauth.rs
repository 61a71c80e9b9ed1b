//! Token endpoints: `debug_token`, `oauth/access_token` (exchange/refresh) and `oauth/revoke`.

use axum::http::{Method, StatusCode};
use rand::Rng;
use rand::distr::Alphanumeric;
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use super::envelope::{GraphError, GraphResponse};
use super::node_auth::{AppToken, BAD_SIGNATURE, Caller, app_token, authenticate};
use super::request::GraphRequest;
use super::state::{SimHandle, expiry_after};
use super::token::{DATA_ACCESS_SECS, Invalidation, TokenKind, TokenRecord, TokenStatus};

/// `application` that `debug_token` reports.
const APPLICATION_NAME: &str = "tokentop simulator";
/// `user_id` that `debug_token` reports for every token of the simulated app.
const SIM_USER_ID: &str = "100000000000100";
/// Random characters after `{app-id}|` in a client_credentials app token, about as many as Meta's.
const APP_TOKEN_RANDOM_CHARS: usize = 27;
const SCOPES: [&str; 2] = [
    "whatsapp_business_management",
    "whatsapp_business_messaging",
];

/// Meta's refusal of a `debug_token` caller that may not inspect tokens of this app
/// (fixtures/error_debug_token_caller_not_allowed.json).
const CALLER_NOT_ALLOWED: &str = "(#100) You must provide an app access token, or a user access \
     token that is an owner or developer of the app";
/// Meta's message for an input token that is no token at all (fixtures/debug_token_cannot_parse.json).
const CANNOT_PARSE: &str = "Invalid OAuth access token - Cannot parse access token";

/// `GET /{v}/debug_token?input_token=..&access_token=..[&fields=..]`.
///
/// The caller may be the app token or a valid user / system-user token of the app: Meta's docs
/// allow a developer's user token, and integrations commonly inspect a token with itself.
pub(crate) fn debug_token(sim: &SimHandle, request: &GraphRequest, now: i64) -> GraphResponse {
    if request.method != Method::GET {
        return GraphError::unsupported(request.method.as_str(), "debug_token").response();
    }
    match authenticate(sim, request, now) {
        Ok(Caller::App | Caller::Token(_)) => {}
        Ok(Caller::Anonymous | Caller::OtherApp) => {
            return GraphError::new(StatusCode::BAD_REQUEST, 100, CALLER_NOT_ALLOWED).response();
        }
        Err(error) => return error.response(),
    }
    let Some(input_token) = request.param("input_token") else {
        return GraphError::invalid_param("(#100) The parameter input_token is required")
            .response();
    };
    let mut data = inspect(sim, input_token, now);
    super::signup::add_target_ids(sim, input_token, &mut data);
    if let (Some(fields), Value::Object(map)) = (request.param("fields"), &mut data) {
        let wanted: Vec<&str> = fields.split(',').map(str::trim).collect();
        map.retain(|key, _| wanted.contains(&key.as_str()));
    }
    GraphResponse::ok(&json!({ "data": data }))
}

/// The `data` of a `debug_token` answer about `input_token`.
fn inspect(sim: &SimHandle, input_token: &str, now: i64) -> Value {
    let app_id = sim.config().app_id.as_str();
    match app_token(sim, input_token) {
        // fixtures/debug_token_app_token.json
        Some(AppToken::Ours) => {
            return json!({"app_id": app_id, "type": "APP", "application": APPLICATION_NAME,
                "is_valid": true, "scopes": []});
        }
        // fixtures/debug_token_invalid_signature.json: no app_id, no subcode.
        Some(AppToken::OtherApp | AppToken::BadSignature) => {
            return json!({"error": {"code": 190, "message": BAD_SIGNATURE},
                "is_valid": false, "scopes": []});
        }
        None => {}
    }
    let status = TokenStatus::of(sim.lock().tokens.get(input_token), now);
    match &status {
        TokenStatus::Valid(record) => valid_data(app_id, record),
        TokenStatus::Expired(record) | TokenStatus::Invalidated(record, _) => {
            dead_data(app_id, record, &status, now)
        }
        // fixtures/debug_token_cannot_parse.json: no app_id, no subcode.
        TokenStatus::Unknown => json!({
            "error": {"code": 190, "message": CANNOT_PARSE},
            "is_valid": false,
            "scopes": [],
        }),
    }
}

fn data_access_expires_at(record: &TokenRecord) -> i64 {
    match record.kind {
        TokenKind::SystemUser | TokenKind::Business => 0,
        TokenKind::ShortLivedUser | TokenKind::LongLivedUser => {
            record.issued_at.saturating_add(DATA_ACCESS_SECS)
        }
    }
}

fn valid_data(app_id: &str, record: &TokenRecord) -> Value {
    json!({
        "app_id": app_id,
        "type": record.kind.debug_type(),
        "application": APPLICATION_NAME,
        "data_access_expires_at": data_access_expires_at(record),
        "expires_at": record.expires_at.unwrap_or(0),
        "is_valid": true,
        "issued_at": record.issued_at,
        "scopes": SCOPES,
        // No target_ids: REFERENCE.md says absent means every WABA of the app.
        "granular_scopes": SCOPES.map(|scope| json!({ "scope": scope })),
        "user_id": SIM_USER_ID,
    })
}

/// The fields of `fixtures/debug_token_user_expired_463.json`: no `granular_scopes`.
fn dead_data(app_id: &str, record: &TokenRecord, status: &TokenStatus, now: i64) -> Value {
    json!({
        "app_id": app_id,
        "type": record.kind.debug_type(),
        "application": APPLICATION_NAME,
        "data_access_expires_at": data_access_expires_at(record),
        "error": {"code": 190, "message": status.error_message(now), "subcode": status.subcode()},
        "expires_at": record.expires_at.unwrap_or(0),
        "is_valid": false,
        "issued_at": record.issued_at,
        "scopes": SCOPES,
        "user_id": SIM_USER_ID,
    })
}

/// Checks `client_id` and `client_secret` against the simulated app (code 101 on mismatch).
pub(crate) fn check_client(sim: &SimHandle, request: &GraphRequest) -> Result<(), GraphError> {
    let config = sim.config();
    if request.param("client_id") != Some(config.app_id.as_str()) {
        return Err(GraphError::new(
            StatusCode::BAD_REQUEST,
            101,
            "Error validating application. Invalid application ID.",
        ));
    }
    if request.param("client_secret") != Some(config.app_secret.expose_secret()) {
        return Err(GraphError::new(
            StatusCode::BAD_REQUEST,
            101,
            "Error validating client secret.",
        ));
    }
    Ok(())
}

fn required<'a>(request: &'a GraphRequest, name: &str) -> Result<&'a str, GraphError> {
    request
        .param(name)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            GraphError::invalid_param(format!("(#100) The parameter {name} is required"))
        })
}

/// A dead or unknown token presented to an endpoint: code 190 like
/// `fixtures/error_access_token_session_expired.json` (no subcode).
pub(crate) fn dead_token_error(status: &TokenStatus, http: StatusCode, now: i64) -> GraphError {
    GraphError::new(http, 190, status.error_message(now))
}

/// `GET /{v}/oauth/access_token?grant_type=fb_exchange_token&...`: always a new token string.
pub(crate) fn exchange(sim: &SimHandle, request: &GraphRequest, now: i64) -> GraphResponse {
    match try_exchange(sim, request, now) {
        Ok(body) => GraphResponse::ok(&body),
        Err(error) => error.response(),
    }
}

fn try_exchange(sim: &SimHandle, request: &GraphRequest, now: i64) -> Result<Value, GraphError> {
    // Embedded Signup sends only client_id, client_secret and code (REFERENCE.md 14.2).
    if request.param("grant_type").is_none() && request.param("code").is_some() {
        return super::signup::exchange_code(sim, request, now);
    }
    let grant_type = required(request, "grant_type")?;
    if grant_type == "client_credentials" {
        return client_credentials(sim, request);
    }
    if grant_type != "fb_exchange_token" {
        return Err(GraphError::invalid_param(format!(
            "(#100) Unsupported grant_type \"{grant_type}\"; allowed: fb_exchange_token, \
             client_credentials"
        )));
    }
    check_client(sim, request)?;
    let source_token = required(request, "fb_exchange_token")?;
    let rolling = matches!(
        request.param("set_token_expires_in_60_days"),
        Some("true" | "1")
    );
    let config = sim.config();
    let mut state = sim.lock();
    let source = match TokenStatus::of(state.tokens.get(source_token), now) {
        TokenStatus::Valid(record) => record,
        dead => return Err(dead_token_error(&dead, StatusCode::BAD_REQUEST, now)),
    };
    let (kind, expires_at) = match source.kind {
        TokenKind::ShortLivedUser => (
            TokenKind::LongLivedUser,
            Some(expiry_after(now, config.long_lived_lifetime)),
        ),
        // Meta does not reliably extend a long-lived user token: it runs out into re-auth.
        TokenKind::LongLivedUser => (TokenKind::LongLivedUser, source.expires_at),
        TokenKind::SystemUser if rolling => (
            TokenKind::SystemUser,
            Some(expiry_after(now, config.system_user_lifetime)),
        ),
        TokenKind::SystemUser => (TokenKind::SystemUser, source.expires_at),
        // Meta documents no renewal of a business token; the simulator treats the exchange as
        // a system user's (the flag gives 60 more days, without it the expiry stays).
        TokenKind::Business if rolling => (
            TokenKind::Business,
            Some(expiry_after(now, config.system_user_lifetime)),
        ),
        TokenKind::Business => (TokenKind::Business, source.expires_at),
    };
    let minted = state.insert_token(kind, now, expires_at);
    let mut body = json!({"access_token": minted.access_token, "token_type": "bearer"});
    if let Some(expires_at) = expires_at {
        body["expires_in"] = json!(expires_at.saturating_sub(now).max(0));
    }
    Ok(body)
}

/// `grant_type=client_credentials`: an app access token `{app-id}|{random}`, as Meta mints
/// them, answered `{"access_token":..,"token_type":"bearer"}` with no expiry.
fn client_credentials(sim: &SimHandle, request: &GraphRequest) -> Result<Value, GraphError> {
    check_client(sim, request)?;
    let random: String = rand::rng()
        .sample_iter(Alphanumeric)
        .take(APP_TOKEN_RANDOM_CHARS)
        .map(char::from)
        .collect();
    let token = format!("{}|{random}", sim.config().app_id);
    sim.lock().app_tokens.insert(token.clone());
    Ok(json!({"access_token": token, "token_type": "bearer"}))
}

/// `GET /{v}/oauth/revoke?client_id&client_secret&revoke_token&access_token`.
pub(crate) fn revoke(sim: &SimHandle, request: &GraphRequest, now: i64) -> GraphResponse {
    let result = check_client(sim, request)
        .and_then(|()| required(request, "revoke_token"))
        .and_then(|revoke_token| {
            let mut state = sim.lock();
            match state.tokens.get_mut(revoke_token) {
                Some(record) => {
                    record.invalidation.get_or_insert(Invalidation::Revoked);
                    Ok(())
                }
                None => Err(dead_token_error(
                    &TokenStatus::Unknown,
                    StatusCode::BAD_REQUEST,
                    now,
                )),
            }
        });
    match result {
        Ok(()) => GraphResponse::ok(&json!({"success": "true"})),
        Err(error) => error.response(),
    }
}
