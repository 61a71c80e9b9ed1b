//! A token record as Redis holds it, checked field by field before anything uses it: a record
//! that is not tokentop's (or was tampered with) is refused with the field named, never used.

use secrecy::{ExposeSecret, SecretString};

use crate::engine::coordinator::Versioned;
use crate::engine::store::StoredTokens;
use crate::graph::check_token_shape;

/// The record's fields as the read script returns them: version, access, long_lived,
/// expires_at, origin, writer, fence.
pub type RawRecord = Vec<Option<String>>;

/// The highest version a record may hold: Lua numbers are doubles, exact up to 2^53.
pub const MAX_VERSION: i64 = (1 << 53) - 1;

/// How far ahead of this host's clock a version (a `refreshed_at` stamp) may be: clocks of
/// members differ by seconds, not days.
pub const MAX_VERSION_AHEAD_SECS: i64 = 24 * 60 * 60;

/// The record, or `Ok(None)` when there is none; `Err` names the bad field. `now_unix` bounds
/// the version: one far in the future would stamp every later write after it.
pub fn decode(raw: &RawRecord, now_unix: i64) -> Result<Option<Versioned>, String> {
    let field = |i: usize| raw.get(i).and_then(|v| v.as_deref());
    let Some(version) = field(0) else {
        return Ok(None);
    };
    let version: i64 = version
        .parse()
        .ok()
        .filter(|v| *v > 0)
        .ok_or("version is not a positive whole number")?;
    if version > MAX_VERSION.min(now_unix.saturating_add(MAX_VERSION_AHEAD_SECS)) {
        return Err(format!(
            "version {version} is more than a day ahead of this host's clock (or past 2^53)"
        ));
    }
    let access = field(1).ok_or("access is missing")?;
    check_token_shape(access).map_err(|problem| format!("access: {problem}"))?;
    let long_lived = match field(2).filter(|v| !v.is_empty()) {
        Some(token) => {
            check_token_shape(token).map_err(|problem| format!("long_lived: {problem}"))?;
            Some(SecretString::from(token.to_string()))
        }
        None => None,
    };
    let expires_at = match field(3).filter(|v| !v.is_empty()) {
        Some(at) => Some(
            at.parse::<i64>()
                .map_err(|_| "expires_at is not a unix time")?,
        ),
        None => None,
    };
    Ok(Some(Versioned {
        tokens: StoredTokens {
            access_token: SecretString::from(access.to_string()),
            long_lived_token: long_lived,
            expires_at,
            refreshed_at: version,
            origin_fingerprint: field(4).unwrap_or_default().to_string(),
        },
        version,
        writer: field(5).map(str::to_string),
    }))
}

/// The write script's record arguments 4..=7: access, long-lived, expires_at, origin.
pub fn encode(tokens: &StoredTokens) -> [String; 4] {
    [
        tokens.access_token.expose_secret().to_string(),
        tokens
            .long_lived_token
            .as_ref()
            .map(|t| t.expose_secret().to_string())
            .unwrap_or_default(),
        tokens
            .expires_at
            .map(|at| at.to_string())
            .unwrap_or_default(),
        tokens.origin_fingerprint.clone(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_900_000_000;

    fn raw(fields: &[Option<&str>]) -> RawRecord {
        fields.iter().map(|f| f.map(str::to_string)).collect()
    }

    #[test]
    fn a_record_round_trips() {
        let tokens = StoredTokens {
            access_token: SecretString::from("EAAGaccesstokenvalue1"),
            long_lived_token: None,
            expires_at: Some(1_900_000_000),
            refreshed_at: 5,
            origin_fingerprint: "abcd".into(),
        };
        let [access, long_lived, expires_at, origin] = encode(&tokens);
        let record = raw(&[
            Some("42"),
            Some(&access),
            Some(&long_lived),
            Some(&expires_at),
            Some(&origin),
            Some("web-1"),
            Some("3"),
        ]);
        let decoded = decode(&record, NOW).unwrap().unwrap();
        assert_eq!(decoded.version, 42);
        assert_eq!(
            decoded.tokens.access_token.expose_secret(),
            "EAAGaccesstokenvalue1"
        );
        assert_eq!(decoded.tokens.expires_at, Some(1_900_000_000));
        assert!(decoded.tokens.long_lived_token.is_none());
        assert_eq!(decoded.writer.as_deref(), Some("web-1"));
    }

    #[test]
    fn no_version_is_no_record() {
        assert!(
            decode(&raw(&[None, None, None, None, None, None, None]), NOW)
                .unwrap()
                .is_none()
        );
        assert!(decode(&Vec::new(), NOW).unwrap().is_none());
    }

    #[test]
    fn bad_fields_are_named_and_never_used() {
        let bad_token = raw(&[
            Some("7"),
            Some("EAAGinjected\nX=1token"),
            None,
            None,
            None,
            None,
            None,
        ]);
        let err = decode(&bad_token, NOW).unwrap_err();
        assert!(err.starts_with("access:"), "{err}");
        assert!(!err.contains("injected"), "{err}");
        let bad_version = raw(&[
            Some("-1"),
            Some("EAAGaccesstokenvalue1"),
            None,
            None,
            None,
            None,
            None,
        ]);
        assert!(decode(&bad_version, NOW).unwrap_err().contains("version"));
        let bad_expiry = raw(&[
            Some("7"),
            Some("EAAGaccesstokenvalue1"),
            None,
            Some("soon"),
            None,
            None,
            None,
        ]);
        assert!(decode(&bad_expiry, NOW).unwrap_err().contains("expires_at"));
    }

    #[test]
    fn a_version_past_2_pow_53_or_days_ahead_is_refused() {
        let record = |version: &str| {
            raw(&[
                Some(version),
                Some("EAAGaccesstokenvalue1"),
                None,
                None,
                None,
                None,
                None,
            ])
        };
        for version in [
            i64::MAX.to_string(),
            (MAX_VERSION + 1).to_string(),
            (NOW + MAX_VERSION_AHEAD_SECS + 1).to_string(),
        ] {
            let err = decode(&record(&version), NOW).unwrap_err();
            assert!(err.contains("ahead"), "{version}: {err}");
        }
        let near = (NOW + 60).to_string();
        assert_eq!(
            decode(&record(&near), NOW).unwrap().unwrap().version,
            NOW + 60
        );
        // An i64::MAX clock does not overflow the bound.
        assert!(decode(&record("5"), i64::MAX).unwrap().is_some());
    }
}
