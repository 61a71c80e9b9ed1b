//! The rule a new token must pass before it replaces a working one.
//!
//! An exchange answer can be empty, cut short or hostile. A new token is accepted only when it
//! is well-formed and its own `debug_token` inspection says it is valid for this app; anything
//! else fails the refresh as a transient error (retried with backoff), and the working token
//! stays in the store, the env-file and the hooks. Pure, so the engine and `tokentop exchange`
//! apply the same rule after their own I/O.

use secrecy::{ExposeSecret, SecretString};

use crate::graph::{ErrorClass, Expiry, GraphError, TokenInfo, check_token_shape};

/// Checks a freshly exchanged `token` against its inspection (`inspected`).
///
/// An inspection without an `app_id` is tolerated (Meta always sends one for a valid token,
/// so only test doubles omit it); one naming another app is refused.
pub fn vet_new_token(
    app_id: &str,
    token: &SecretString,
    inspected: Result<TokenInfo, GraphError>,
) -> Result<TokenInfo, GraphError> {
    check_token_shape(token.expose_secret())
        .map_err(|problem| refused(format!("the exchange answer is not usable: {problem}")))?;
    let info = inspected.map_err(|err| {
        refused(format!(
            "the new token could not be inspected, so it was not used: {}",
            err.message
        ))
    })?;
    if !info.is_valid {
        let why = info
            .error
            .as_ref()
            .map(|e| format!(" ({})", e.message))
            .unwrap_or_default();
        return Err(refused(format!(
            "Meta says the new token is not valid{why}, so it was not used"
        )));
    }
    if let Some(other) = info.app_id.as_deref().filter(|id| *id != app_id) {
        return Err(refused(format!(
            "the new token belongs to app {other}, not to app {app_id}, so it was not used"
        )));
    }
    Ok(info)
}

/// When a vetted new token expires (`None`: never): its own inspection decides; the exchange
/// answer's `expires_in` only fills in when the inspection left the expiry out.
pub fn new_token_expiry(info: &TokenInfo, expires_in_secs: Option<u64>, now: i64) -> Option<i64> {
    match info.expiry() {
        Expiry::At(at) => Some(at),
        Expiry::Never => None,
        Expiry::Unknown => expires_in_secs.map(|secs| now.saturating_add_unsigned(secs)),
    }
}

/// Transient, whatever Meta said about the new token: the working credential is not at fault,
/// so this must never lead to re-auth, only to a later retry.
fn refused(message: String) -> GraphError {
    GraphError::without_envelope(ErrorClass::Transient, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    const APP: &str = "100000000000001";

    fn token(text: &str) -> SecretString {
        SecretString::from(text.to_string())
    }

    fn info(json: serde_json::Value) -> TokenInfo {
        serde_json::from_value(json).unwrap()
    }

    fn good() -> SecretString {
        token("EAAGm0PX4ZCpsBAKZCZAabcdefghijklmnop1234")
    }

    #[test]
    fn the_inspection_decides_the_expiry_and_expires_in_only_fills_in() {
        let now = 1_800_000_000;
        let at = info(serde_json::json!({"is_valid": true, "expires_at": now + 60}));
        let never = info(serde_json::json!({"is_valid": true, "expires_at": 0}));
        let unknown = info(serde_json::json!({"is_valid": true}));
        assert_eq!(new_token_expiry(&at, Some(5_183_944), now), Some(now + 60));
        assert_eq!(new_token_expiry(&never, Some(5_183_944), now), None);
        assert_eq!(new_token_expiry(&unknown, Some(100), now), Some(now + 100));
        assert_eq!(new_token_expiry(&unknown, None, now), None);
        assert_eq!(
            new_token_expiry(&unknown, Some(u64::MAX), i64::MAX - 1),
            Some(i64::MAX)
        );
    }

    #[test]
    fn a_valid_token_of_this_app_is_accepted() {
        let inspected = info(serde_json::json!({"is_valid": true, "app_id": APP}));
        assert!(vet_new_token(APP, &good(), Ok(inspected)).is_ok());
    }

    #[test]
    fn empty_or_blank_tokens_are_refused_before_anything_else() {
        let inspected = || Ok(info(serde_json::json!({"is_valid": true})));
        for bad in ["", "   ", "EAAG\nINJECTED=1xxxxxxxxxxxxxxx"] {
            let err = vet_new_token(APP, &token(bad), inspected()).unwrap_err();
            assert_eq!(err.class, ErrorClass::Transient);
            assert!(err.message.contains("not usable"), "{}", err.message);
        }
    }

    #[test]
    fn an_invalid_or_foreign_or_uninspectable_token_is_refused_as_transient() {
        let dead = info(serde_json::json!({
            "is_valid": false, "error": {"code": 190, "message": "Cannot parse access token"}
        }));
        let foreign = info(serde_json::json!({"is_valid": true, "app_id": "999"}));
        let mut unreachable = GraphError::without_envelope(ErrorClass::TokenDead, "boom");
        unreachable.code = Some(190);
        for (inspected, expected) in [
            (Ok(dead), "not valid (Cannot parse access token)"),
            (Ok(foreign), "belongs to app 999"),
            (Err(unreachable), "could not be inspected"),
        ] {
            let err = vet_new_token(APP, &good(), inspected).unwrap_err();
            assert_eq!(err.class, ErrorClass::Transient, "{}", err.message);
            assert!(err.message.contains(expected), "{}", err.message);
        }
    }
}
