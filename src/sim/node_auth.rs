//! Authorization of token-carrying calls (messages, phone fields, analytics), with
//! `appsecret_proof` checking when the simulated app requires it.

use axum::http::StatusCode;
use hmac::{Hmac, Mac};
use secrecy::ExposeSecret;
use sha2::Sha256;

use super::envelope::GraphError;
use super::oauth::dead_token_error;
use super::request::GraphRequest;
use super::state::SimHandle;
use super::token::{TokenRecord, TokenStatus};

/// How far `appsecret_time` may be from now (REFERENCE.md section 5: valid 5 minutes).
const PROOF_TIME_WINDOW_SECS: i64 = 300;

/// Checks the presented token (and its proof if required); `dead_status` is the HTTP status
/// of the 190 refusal, which differs between endpoints at Meta.
pub(crate) fn authorize(
    sim: &SimHandle,
    request: &GraphRequest,
    now: i64,
    dead_status: StatusCode,
) -> Result<TokenRecord, GraphError> {
    let Some(token) = request.access_token() else {
        return Err(GraphError::new(
            dead_status,
            190,
            "An access token is required to request this resource.",
        ));
    };
    let record = match TokenStatus::of(sim.lock().tokens.get(token), now) {
        TokenStatus::Valid(record) => record,
        dead => return Err(dead_token_error(&dead, dead_status, now)),
    };
    if sim.config().require_proof && !proof_is_valid(sim, request, token, now) {
        return Err(GraphError::invalid_param(
            "Invalid appsecret_proof provided in the API argument",
        ));
    }
    Ok(record)
}

fn proof_is_valid(sim: &SimHandle, request: &GraphRequest, token: &str, now: i64) -> bool {
    let Some(proof) = request.param("appsecret_proof") else {
        return false;
    };
    let Ok(proof_bytes) = hex::decode(proof) else {
        return false;
    };
    let message = match request.param("appsecret_time") {
        None => token.to_string(),
        Some(time) => match time.parse::<i64>() {
            Ok(unix) if (now - unix).abs() <= PROOF_TIME_WINDOW_SECS => format!("{token}|{time}"),
            _ => return false,
        },
    };
    let secret = sim.config().app_secret.expose_secret().as_bytes();
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(message.as_bytes());
    mac.verify_slice(&proof_bytes).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::request::parse_urlencoded;
    use crate::sim::{SimConfig, TokenKind};
    use axum::http::Method;

    fn proof(secret: &str, message: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(message.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    fn request(query: String) -> GraphRequest {
        GraphRequest {
            method: Method::GET,
            path: "/v25.0/1".into(),
            params: parse_urlencoded(&query),
            bearer: None,
            body: crate::sim::encodings::RequestBody::Empty,
        }
    }

    #[test]
    fn timed_proof_is_accepted_within_five_minutes_only() {
        let sim = SimHandle::new(SimConfig {
            require_proof: true,
            ..SimConfig::default()
        });
        let token = sim.mint_token(TokenKind::SystemUser, None).access_token;
        let now = 1_000_000;
        let fresh = proof("sim-app-secret", &format!("{token}|{now}"));
        let ok = request(format!(
            "access_token={token}&appsecret_proof={fresh}&appsecret_time={now}"
        ));
        assert!(authorize(&sim, &ok, now, StatusCode::BAD_REQUEST).is_ok());
        let stale = authorize(&sim, &ok, now + 301, StatusCode::BAD_REQUEST).unwrap_err();
        assert_eq!(stale.code, 100);
    }
}
