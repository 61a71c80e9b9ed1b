//! Control endpoints under `/_sim/`: mint and invalidate tokens, stats, the message log,
//! faults, phone health (and, from `webhook_control`, webhooks; from `versions`, dead Graph
//! API versions).

use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use super::faults::Faults;
use super::phone::SimPhone;
use super::state::SimHandle;
use super::token::TokenKind;

/// `POST /_sim/tokens` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MintRequest {
    #[serde(rename = "type")]
    kind: TokenKind,
    /// Seconds until expiry; 0 means never; absent means the kind's usual lifetime.
    lifetime_secs: Option<u64>,
    /// Unix seconds of expiry instead of a lifetime; may be in the past (an expired token).
    expires_at: Option<i64>,
}

pub(crate) fn router() -> Router<SimHandle> {
    Router::new()
        .route("/_sim/tokens", post(mint))
        .route("/_sim/tokens/{token}/invalidate", post(invalidate))
        .route("/_sim/stats", axum::routing::get(stats))
        .route("/_sim/messages", axum::routing::get(sent_messages))
        .route("/_sim/faults", post(set_faults).delete(clear_faults))
        .route("/_sim/phones/{id}", post(set_phone))
        .route("/_sim/codes", post(super::signup::mint_code))
        .merge(super::webhook_control::router())
        .merge(super::versions::router())
}

pub(crate) fn bad_request(message: String) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "message": message }))).into_response()
}

/// Parses a control body; on failure the message names the offending field.
pub(crate) fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|err| format!("body is not JSON: {err}"))?;
    match serde_json::from_value::<T>(value.clone()) {
        Ok(parsed) => Ok(parsed),
        Err(err) => {
            // serde's type errors do not say which field; retry each field alone to find it.
            if let Value::Object(map) = &value {
                for (key, field) in map {
                    let alone = Value::Object(Map::from_iter([(key.clone(), field.clone())]));
                    if let Err(field_err) = serde_json::from_value::<T>(alone) {
                        let text = field_err.to_string();
                        if !text.starts_with("missing field") {
                            return Err(format!("field `{key}`: {text}"));
                        }
                    }
                }
            }
            Err(err.to_string())
        }
    }
}

async fn mint(State(sim): State<SimHandle>, body: Bytes) -> Response {
    tracing::debug!("POST /_sim/tokens");
    let request: MintRequest = match parse_body(&body) {
        Ok(request) => request,
        Err(message) => return bad_request(message),
    };
    if let Some(expires_at) = request.expires_at {
        if request.lifetime_secs.is_some() {
            return bad_request("give `lifetime_secs` or `expires_at`, not both".to_string());
        }
        let minted = sim.mint_token_expiring_at(request.kind, expires_at);
        return Json(json!({"access_token": minted.access_token, "expires_at": expires_at}))
            .into_response();
    }
    let config = sim.config();
    let lifetime = match (request.lifetime_secs, request.kind) {
        (Some(0), _) | (None, TokenKind::SystemUser | TokenKind::Business) => None,
        (Some(secs), _) => Some(Duration::from_secs(secs)),
        (None, TokenKind::ShortLivedUser) => Some(config.short_lived_lifetime),
        (None, TokenKind::LongLivedUser) => Some(config.long_lived_lifetime),
    };
    let minted = sim.mint_token(request.kind, lifetime);
    Json(json!({
        "access_token": minted.access_token,
        "expires_at": minted.expires_at.unwrap_or(0),
    }))
    .into_response()
}

async fn invalidate(State(sim): State<SimHandle>, Path(token): Path<String>) -> Response {
    // The path holds a token: log the route, never the value.
    tracing::debug!("POST /_sim/tokens/{{token}}/invalidate");
    if sim.invalidate(&token) {
        Json(json!({"invalidated": true})).into_response()
    } else {
        (
            StatusCode::NOT_FOUND,
            Json(json!({"invalidated": false, "message": "unknown token"})),
        )
            .into_response()
    }
}

async fn stats(State(sim): State<SimHandle>) -> Response {
    tracing::debug!("GET /_sim/stats");
    Json(sim.stats()).into_response()
}

async fn sent_messages(State(sim): State<SimHandle>) -> Response {
    tracing::debug!("GET /_sim/messages");
    Json(sim.sent_messages()).into_response()
}

async fn set_faults(State(sim): State<SimHandle>, body: Bytes) -> Response {
    tracing::debug!("POST /_sim/faults");
    let faults: Faults = match parse_body(&body) {
        Ok(faults) => faults,
        Err(message) => return bad_request(message),
    };
    if let Err(message) = faults.validate() {
        return bad_request(message);
    }
    sim.set_faults(faults.clone());
    Json(faults).into_response()
}

async fn clear_faults(State(sim): State<SimHandle>) -> Response {
    tracing::debug!("DELETE /_sim/faults");
    sim.clear_faults();
    Json(Faults::default()).into_response()
}

async fn set_phone(State(sim): State<SimHandle>, Path(id): Path<String>, body: Bytes) -> Response {
    tracing::debug!(phone_number_id = %id, "POST /_sim/phones/{{id}}");
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return bad_request(format!(
            "phone number id \"{id}\" is not allowed: use decimal digits, as Graph ids are"
        ));
    }
    let phone: SimPhone = match parse_body(&body) {
        Ok(phone) => phone,
        Err(message) => return bad_request(message),
    };
    sim.set_phone(&id, phone.clone());
    Json(phone).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_errors_name_the_field() {
        let err = parse_body::<Faults>(br#"{"latency_ms":"slow","malformed_probability":0}"#)
            .unwrap_err();
        assert!(err.starts_with("field `latency_ms`"), "{err}");
        let err = parse_body::<MintRequest>(br#"{"type":"PAGE"}"#).unwrap_err();
        assert!(
            err.contains("`type`") && err.contains("SYSTEM_USER"),
            "{err}"
        );
        let err = parse_body::<MintRequest>(br#"{"lifetime_secs":5}"#).unwrap_err();
        assert!(err.contains("missing field `type`"), "{err}");
        let err = parse_body::<SimPhone>(br#"{"colour":"red"}"#).unwrap_err();
        assert!(err.contains("colour"), "{err}");
        assert!(
            parse_body::<Faults>(b"{not json")
                .unwrap_err()
                .starts_with("body is not JSON")
        );
    }
}
