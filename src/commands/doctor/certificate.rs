//! The Graph host's certificate as on-call reads it: who issued it and when it expires.

use x509_cert::der::Decode;

use crate::format::{format_unix, left};

/// A certificate expiring sooner than this is worth a note (Meta renews well before).
const SOON_SECS: i64 = 14 * 86_400;

/// What `doctor` says about the server's certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertFacts {
    /// The issuer's distinguished name, e.g. `CN=DigiCert Global G2 TLS RSA SHA256 2020 CA1,...`.
    pub issuer: String,
    /// Unix seconds.
    pub not_after: i64,
}

/// Reads the issuer and expiry of a DER certificate; the error says what could not be read.
pub fn read(der: &[u8]) -> Result<CertFacts, String> {
    let cert = x509_cert::Certificate::from_der(der)
        .map_err(|err| format!("the server's certificate cannot be read ({err})"))?;
    let tbs = &cert.tbs_certificate;
    let not_after =
        i64::try_from(tbs.validity.not_after.to_unix_duration().as_secs()).unwrap_or(i64::MAX);
    Ok(CertFacts {
        issuer: tbs.issuer.to_string(),
        not_after,
    })
}

/// How the certificate stands at `now`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    Fine(String),
    /// Still valid, but not for long: worth saying.
    Soon(String),
    Expired(String),
}

pub fn standing(facts: &CertFacts, now: i64) -> Standing {
    let until = format_unix(facts.not_after);
    let remaining = facts.not_after.saturating_sub(now);
    let issued = format!("issued by {}", facts.issuer);
    if remaining <= 0 {
        Standing::Expired(format!("{issued}, expired {until}"))
    } else if remaining < SOON_SECS {
        Standing::Soon(format!(
            "{issued}, expires {until} (in {})",
            left(remaining)
        ))
    } else {
        Standing::Fine(format!(
            "{issued}, expires {until} (in {})",
            left(remaining)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEAF: &[u8] = include_bytes!("../../../tests/tls/leaf.der");

    #[test]
    fn reads_issuer_and_expiry() {
        let facts = read(LEAF).unwrap();
        assert!(
            facts.issuer.contains("CN=tokentop test CA"),
            "{}",
            facts.issuer
        );
        // Made with `-days 27000` on 2026-11-30: November 2100.
        assert!(
            format_unix(facts.not_after).starts_with("2100-11-"),
            "{}",
            facts.not_after
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(read(b"").is_err());
        assert!(read(&LEAF[..LEAF.len() / 2]).is_err());
        assert!(read(&[0x30; 64]).is_err());
    }

    #[test]
    fn expiry_is_judged_against_now() {
        let facts = CertFacts {
            issuer: "CN=x".into(),
            not_after: 2_000_000_000,
        };
        assert!(matches!(standing(&facts, 1_000_000_000), Standing::Fine(_)));
        assert!(matches!(
            standing(&facts, 2_000_000_000 - 86_400),
            Standing::Soon(_)
        ));
        let Standing::Expired(text) = standing(&facts, 2_000_000_001) else {
            panic!()
        };
        assert!(text.contains("expired 2033-05-18"), "{text}");
    }
}
