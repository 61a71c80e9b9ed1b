//! Authentication of every Graph call before it is routed (a dead token gets its 190 on any
//! path), app-token recognition, and `appsecret_proof` checking when the app requires it.

use axum::http::StatusCode;
use hmac::{Hmac, Mac};
use secrecy::ExposeSecret;
use sha2::Sha256;

use super::envelope::GraphError;
use super::oauth::dead_token_error;
use super::request::{GraphRequest, Route};
use super::state::SimHandle;
use super::token::{TokenRecord, TokenStatus};

/// How far `appsecret_time` may be from now (REFERENCE.md section 5: valid 5 minutes).
const PROOF_TIME_WINDOW_SECS: i64 = 300;

/// Meta's message when a proof is required and absent (fixtures/error_appsecret_proof_missing.json).
const PROOF_MISSING: &str = "API calls from the server require an appsecret_proof argument";
/// Meta's message when a proof is present but wrong or stale.
const PROOF_INVALID: &str = "Invalid appsecret_proof provided in the API argument";
/// Meta's message for an `{app-id}|{secret}` token whose secret is wrong
/// (fixtures/debug_token_invalid_signature.json).
pub(crate) const BAD_SIGNATURE: &str = "Invalid OAuth access token signature.";

/// Who made a call, once the token (if any) passed authentication.
#[derive(Debug, Clone)]
pub(crate) enum Caller {
    /// No token at all.
    Anonymous,
    /// The simulated app's own app token (`{app-id}|{secret}` or one from client_credentials).
    App,
    /// An app token of some other app.
    OtherApp,
    /// A valid USER or SYSTEM_USER token of the simulated app.
    Token(TokenRecord),
}

/// What an `{id}|{rest}` token is to the simulated app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AppToken {
    Ours,
    OtherApp,
    BadSignature,
}

/// Classifies an app-token-shaped string (`{app-id}|...`); `None` for other tokens.
pub(crate) fn app_token(sim: &SimHandle, token: &str) -> Option<AppToken> {
    let (app_id, secret) = token.split_once('|')?;
    let config = sim.config();
    if app_id != config.app_id {
        return Some(AppToken::OtherApp);
    }
    if secret == config.app_secret.expose_secret() || sim.lock().app_tokens.contains(token) {
        Some(AppToken::Ours)
    } else {
        Some(AppToken::BadSignature)
    }
}

/// Authenticates the presented token before routing: a dead, unknown or forged token is refused
/// with code 190 whatever the path or method, and a required proof is checked.
pub(crate) fn authenticate(
    sim: &SimHandle,
    request: &GraphRequest,
    now: i64,
) -> Result<Caller, GraphError> {
    let Some(token) = request.access_token() else {
        return Ok(Caller::Anonymous);
    };
    match app_token(sim, token) {
        // An app token carries the secret itself: Meta asks it for no proof.
        Some(AppToken::Ours) => return Ok(Caller::App),
        Some(AppToken::OtherApp) => return Ok(Caller::OtherApp),
        Some(AppToken::BadSignature) => {
            return Err(GraphError::new(dead_status(request), 190, BAD_SIGNATURE));
        }
        None => {}
    }
    let record = match TokenStatus::of(sim.lock().tokens.get(token), now) {
        TokenStatus::Valid(record) => record,
        dead => return Err(dead_token_error(&dead, dead_status(request), now)),
    };
    // Calls that carry `client_secret` (exchange, revoke) prove the secret already.
    if sim.config().require_proof && request.param("client_secret").is_none() {
        check_proof(sim, request, token, now)?;
    }
    Ok(Caller::Token(record))
}

/// The HTTP status of a 190 refusal: 401 on `/messages`, 400 elsewhere, as observed at Meta.
fn dead_status(request: &GraphRequest) -> StatusCode {
    match request.route() {
        Route::Messages { .. } => StatusCode::UNAUTHORIZED,
        _ => StatusCode::BAD_REQUEST,
    }
}

/// Meta's answer to a call without any token: code 104, HTTP 400, as captured in public
/// integrations' tests.
pub(crate) fn token_required() -> GraphError {
    GraphError::new(
        StatusCode::BAD_REQUEST,
        104,
        "An access token is required to request this resource.",
    )
}

/// The USER or SYSTEM_USER token a node call (messages, phone fields, analytics) needs.
pub(crate) fn authorize(
    sim: &SimHandle,
    request: &GraphRequest,
    now: i64,
) -> Result<TokenRecord, GraphError> {
    match authenticate(sim, request, now)? {
        Caller::Token(record) => Ok(record),
        Caller::Anonymous => Err(token_required()),
        // An app token sees no WhatsApp node: Meta answers as for an object it cannot load.
        Caller::App | Caller::OtherApp => {
            let object = request.path.rsplit('/').find(|s| !s.is_empty());
            Err(GraphError::unsupported(
                request.method.as_str(),
                object.unwrap_or_default(),
            ))
        }
    }
}

fn check_proof(
    sim: &SimHandle,
    request: &GraphRequest,
    token: &str,
    now: i64,
) -> Result<(), GraphError> {
    if request
        .param("appsecret_proof")
        .is_none_or(|proof| proof.is_empty())
    {
        return Err(GraphError::invalid_param(PROOF_MISSING));
    }
    if proof_is_valid(sim, request, token, now) {
        Ok(())
    } else {
        Err(GraphError::invalid_param(PROOF_INVALID))
    }
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
        assert!(authorize(&sim, &ok, now).is_ok());
        let stale = authorize(&sim, &ok, now + 301).unwrap_err();
        assert_eq!(stale.code, 100);
    }
}
