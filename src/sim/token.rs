//! Simulated access tokens: their kinds, records, lifetimes and validity.

use rand::Rng;
use rand::distr::Alphanumeric;
use serde::{Deserialize, Serialize};

use super::pacific::meta_time;

/// Random characters after the `EAAG` prefix, about as many as Meta's tokens carry.
const TOKEN_RANDOM_CHARS: usize = 180;

/// How long after issue a USER token's data access lapses (Meta: 90 days).
pub(crate) const DATA_ACCESS_SECS: i64 = 90 * 86_400;

/// The kind of a simulated token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TokenKind {
    /// A short-lived USER token (hours), exchangeable for a long-lived one.
    #[serde(rename = "USER")]
    ShortLivedUser,
    /// A long-lived USER token (about 60 days); re-exchanging does not extend it.
    #[serde(rename = "LONG_LIVED_USER")]
    LongLivedUser,
    /// A SYSTEM_USER token, never expiring or renewable for 60 days at a time.
    #[serde(rename = "SYSTEM_USER")]
    SystemUser,
    /// A customer's business integration system user token from Embedded Signup ("BISU"):
    /// never expiring by default or 60 days; `debug_token` reports it as `SYSTEM_USER`
    /// (REFERENCE.md 14.2).
    #[serde(rename = "BUSINESS")]
    Business,
}

impl TokenKind {
    /// The `type` that `debug_token` reports: both user kinds are `USER`.
    pub(crate) fn debug_type(self) -> &'static str {
        match self {
            TokenKind::ShortLivedUser | TokenKind::LongLivedUser => "USER",
            TokenKind::SystemUser | TokenKind::Business => "SYSTEM_USER",
        }
    }
}

/// A token minted by the simulator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MintedToken {
    /// The token string, `EAAG` followed by random alphanumerics.
    pub access_token: String,
    /// Unix seconds of expiry; `None` when it never expires.
    pub expires_at: Option<i64>,
}

/// Why a token stopped working before its expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Invalidation {
    /// Invalidated through the control API (a password change or security reset at Meta).
    Invalidated,
    /// Revoked through `oauth/revoke`.
    Revoked,
}

/// What the simulator remembers about one token.
#[derive(Debug, Clone)]
pub(crate) struct TokenRecord {
    pub kind: TokenKind,
    pub issued_at: i64,
    pub expires_at: Option<i64>,
    pub invalidation: Option<Invalidation>,
}

/// The state of a presented token at a given time.
#[derive(Debug, Clone)]
pub(crate) enum TokenStatus {
    Valid(TokenRecord),
    Expired(TokenRecord),
    Invalidated(TokenRecord, Invalidation),
    Unknown,
}

impl TokenStatus {
    pub(crate) fn of(record: Option<&TokenRecord>, now: i64) -> TokenStatus {
        let Some(record) = record else {
            return TokenStatus::Unknown;
        };
        if let Some(why) = record.invalidation {
            return TokenStatus::Invalidated(record.clone(), why);
        }
        match record.expires_at {
            Some(expires_at) if expires_at <= now => TokenStatus::Expired(record.clone()),
            _ => TokenStatus::Valid(record.clone()),
        }
    }

    /// The `subcode` that `debug_token` reports for a dead token.
    pub(crate) fn subcode(&self) -> i64 {
        match self {
            TokenStatus::Expired(_) => 463,
            TokenStatus::Invalidated(..) => 460,
            TokenStatus::Valid(_) | TokenStatus::Unknown => 467,
        }
    }

    /// Meta's message for a dead token, as `debug_token` and the 190 envelopes carry it.
    pub(crate) fn error_message(&self, now: i64) -> String {
        match self {
            TokenStatus::Expired(record) => format!(
                "Error validating access token: Session has expired on {}. The current time is {}.",
                meta_time(record.expires_at.unwrap_or(now)),
                meta_time(now)
            ),
            TokenStatus::Invalidated(_, Invalidation::Invalidated) => {
                "Error validating access token: The session has been invalidated because the user \
                 changed their password or Facebook has changed the session for security reasons."
                    .to_string()
            }
            TokenStatus::Invalidated(_, Invalidation::Revoked) => {
                "Error validating access token: The session was invalidated explicitly using an \
                 API call."
                    .to_string()
            }
            TokenStatus::Valid(_) | TokenStatus::Unknown => {
                "Invalid OAuth access token - Cannot parse access token".to_string()
            }
        }
    }
}

/// A fresh token string: `EAAG` plus random alphanumerics.
pub(crate) fn new_token_string() -> String {
    let random: String = rand::rng()
        .sample_iter(Alphanumeric)
        .take(TOKEN_RANDOM_CHARS)
        .map(char::from)
        .collect();
    format!("EAAG{random}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(expires_at: Option<i64>) -> TokenRecord {
        TokenRecord {
            kind: TokenKind::LongLivedUser,
            issued_at: 0,
            expires_at,
            invalidation: None,
        }
    }

    #[test]
    fn token_expires_exactly_at_expires_at() {
        assert!(matches!(
            TokenStatus::of(Some(&record(Some(10))), 9),
            TokenStatus::Valid(_)
        ));
        assert!(matches!(
            TokenStatus::of(Some(&record(Some(10))), 10),
            TokenStatus::Expired(_)
        ));
        assert!(matches!(
            TokenStatus::of(Some(&record(None)), i64::MAX),
            TokenStatus::Valid(_)
        ));
    }

    #[test]
    fn invalidation_wins_over_validity() {
        let mut dead = record(None);
        dead.invalidation = Some(Invalidation::Invalidated);
        let status = TokenStatus::of(Some(&dead), 0);
        assert_eq!(status.subcode(), 460);
    }

    #[test]
    fn expired_message_names_both_times() {
        let status = TokenStatus::of(Some(&record(Some(1_668_613_551))), 1_668_750_000);
        let message = status.error_message(1_668_750_000);
        assert!(message.starts_with("Error validating access token: Session has expired on "));
        assert!(message.contains("16-Nov-22 07:45:51 PST"), "{message}");
    }

    #[test]
    fn token_strings_look_like_meta_tokens() {
        let token = new_token_string();
        assert!(token.starts_with("EAAG"));
        assert_eq!(token.len(), 4 + TOKEN_RANDOM_CHARS);
        assert!(token.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(token, new_token_string());
    }
}
