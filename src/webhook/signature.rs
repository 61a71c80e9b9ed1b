//! `X-Hub-Signature-256`: HMAC-SHA256 of the raw body with the app secret, as Meta signs
//! webhooks (REFERENCE.md section 13.3), checked in constant time before anything is parsed.

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

/// The header Meta signs webhooks with.
pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";

const PREFIX: &str = "sha256=";

/// Why a body was not accepted as Meta's. Never carries the body or a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("no X-Hub-Signature-256 header")]
    Missing,
    #[error("X-Hub-Signature-256 is not `sha256=` and 64 hex digits")]
    Malformed,
    #[error("X-Hub-Signature-256 matches no configured app secret")]
    Mismatch,
}

/// The header value Meta would send for `body` signed with `secret`: `sha256=<64 hex>`.
pub fn sign(secret: &SecretString, body: &[u8]) -> String {
    format!(
        "{PREFIX}{}",
        hex::encode(mac(secret, body).finalize().into_bytes())
    )
}

/// Which of `secrets` signed `body` (its index), given the header's value. Every secret is
/// tried, in constant time each: the body does not name its app, and one relay may serve
/// several apps.
pub fn verify(
    header: Option<&str>,
    body: &[u8],
    secrets: &[&SecretString],
) -> Result<usize, SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let digest = header
        .trim()
        .strip_prefix(PREFIX)
        .filter(|hex| hex.len() == 64)
        .and_then(|hex| hex::decode(hex).ok())
        .ok_or(SignatureError::Malformed)?;
    secrets
        .iter()
        .position(|secret| mac(secret, body).verify_slice(&digest).is_ok())
        .ok_or(SignatureError::Mismatch)
}

fn mac(secret: &SecretString, body: &[u8]) -> Hmac<Sha256> {
    // HMAC takes a key of any length, so this never fails.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes()) {
        Ok(mac) => mac,
        Err(hmac::digest::InvalidLength) => unreachable!("HMAC accepts keys of every length"),
    };
    mac.update(body);
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(text: &str) -> SecretString {
        SecretString::from(text.to_string())
    }

    #[test]
    fn a_known_vector_matches() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let signed = sign(&secret("Jefe"), b"what do ya want for nothing?");
        assert_eq!(
            signed,
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn the_signing_app_is_found_among_several() {
        let (a, b) = (secret("app-a-secret"), secret("app-b-secret"));
        let body = br#"{"object":"whatsapp_business_account","entry":[]}"#;
        let header = sign(&b, body);
        assert_eq!(verify(Some(&header), body, &[&a, &b]), Ok(1));
        assert_eq!(
            verify(Some(&header), body, &[&a]),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn tampered_missing_malformed_and_reserialised_bodies_fail() {
        let key = secret("app-secret");
        let body = br#"{"object": "whatsapp_business_account", "entry": []}"#;
        let header = sign(&key, body);
        let tampered = br#"{"object": "whatsapp_business_account", "entry": [1]}"#;
        assert_eq!(
            verify(Some(&header), tampered, &[&key]),
            Err(SignatureError::Mismatch)
        );
        // The same JSON re-serialised (no spaces) is other bytes: it must fail.
        let value: serde_json::Value = serde_json::from_slice(body).unwrap();
        let reserialised = serde_json::to_vec(&value).unwrap();
        assert_ne!(reserialised, body);
        assert_eq!(
            verify(Some(&header), &reserialised, &[&key]),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(verify(None, body, &[&key]), Err(SignatureError::Missing));
        for bad in [
            "sha1=abc",
            "sha256=zz",
            "sha256=",
            &header[..header.len() - 1],
        ] {
            assert_eq!(
                verify(Some(bad), body, &[&key]),
                Err(SignatureError::Malformed),
                "{bad}"
            );
        }
        assert_eq!(
            verify(Some(&header), body, &[]),
            Err(SignatureError::Mismatch)
        );
    }
}
