//! The bearer-token check of tokentop's two HTTP listeners: `[serve] bearer-token` on
//! `/metrics` and `/status`, and `[proxy] client-token` on the Graph API proxy.

use axum::http::{HeaderMap, HeaderValue, header};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

/// The expected token, kept as its SHA-256 so the comparison takes the same time whatever
/// the guess (and the token itself is not kept).
#[derive(Debug, Clone, Copy)]
pub struct BearerCheck {
    expected: Option<[u8; 32]>,
}

impl BearerCheck {
    /// Without a token, every request is allowed.
    pub fn new(token: Option<&SecretString>) -> Self {
        Self {
            expected: token.map(|t| digest(t.expose_secret().trim())),
        }
    }

    /// True when no token is required, or the request carries it as `Authorization: Bearer`.
    pub fn allows(&self, headers: &HeaderMap) -> bool {
        match self.expected {
            None => true,
            Some(expected) => bearer_token(headers).map(digest) == Some(expected),
        }
    }
}

fn digest(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

/// The token of an `Authorization: Bearer` header; the scheme is case-insensitive (RFC 9110),
/// so `bearer x` from a hand-written client counts too.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Says on a 401 which scheme a listener wants (RFC 6750).
pub fn add_challenge(headers: &mut HeaderMap) {
    headers.insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"tokentop\""),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::AUTHORIZATION, value.parse().unwrap());
            bearer_token(&headers).map(str::to_string)
        };
        assert_eq!(with("Bearer abc").as_deref(), Some("abc"));
        assert_eq!(with("bearer  abc ").as_deref(), Some("abc"));
        assert_eq!(with("BEARER abc").as_deref(), Some("abc"));
        assert_eq!(with("Basic abc"), None);
        assert_eq!(with("Bearer "), None);
        assert_eq!(with("abc"), None, "a token without a scheme is no bearer");
        assert_eq!(bearer_token(&HeaderMap::new()), None);
    }

    #[test]
    fn only_the_configured_token_is_allowed() {
        let headers = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::AUTHORIZATION, value.parse().unwrap());
            headers
        };
        let token = SecretString::from("scrape-me");
        let check = BearerCheck::new(Some(&token));
        assert!(check.allows(&headers("Bearer scrape-me")));
        assert!(!check.allows(&headers("Bearer scrape-you")));
        assert!(!check.allows(&headers("Basic scrape-me")));
        assert!(!check.allows(&HeaderMap::new()));
        assert!(BearerCheck::new(None).allows(&HeaderMap::new()));
    }
}
