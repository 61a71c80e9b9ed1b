//! [`ServedVersions`]: the Graph API version Meta says produced each answer (the
//! `facebook-api-version` header, REFERENCE.md section 15), and every call Meta answered with
//! another version than the one requested: a dead version's calls are not refused but silently
//! served as a newer one, so the header is the only sign.
//!
//! Cheap to clone (clones share the record). An answer in the version asked for costs a header
//! read and a comparison, no lock; only an upgraded call takes the lock, and each (requested,
//! served) pair is kept and logged once. The header is checked before it is kept or logged: a
//! value that is not a short `vNN.N` is dropped unread.

use std::sync::{Arc, Mutex, PoisonError};

use reqwest::header::HeaderMap;

use super::client::parse_version;
use super::versions::NEWEST_VERSION;

/// The response header naming the version that answered (header names are case-insensitive).
pub const API_VERSION_HEADER: &str = "facebook-api-version";

/// Longest header value read: `v` + five digits + `.` + five digits. Meta's are `v25.0`.
const MAX_VERSION_CHARS: usize = 12;

/// Most distinct upgrades kept: one configured version meets a handful in its whole life, so
/// more means a front that invents versions, and it must not grow the record without end.
const MAX_UPGRADES: usize = 16;

/// A call to `requested` that Meta answered as `served`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upgrade {
    pub requested: String,
    pub served: String,
}

/// The upgraded calls seen so far by a [`GraphClient`](super::GraphClient) and its clones.
#[derive(Debug, Clone, Default)]
pub struct ServedVersions {
    upgrades: Arc<Mutex<Vec<Upgrade>>>,
}

/// What one answer's header said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HeaderVersion {
    /// No header (an old front, a proxy that drops it): nothing is known.
    Absent,
    /// A well-formed version.
    Version(String),
    /// Not a version, or too long to be one; its length only, never its text.
    Invalid { len: usize },
}

/// Reads `facebook-api-version` from `headers`, accepting only a short `vNN.N`.
pub(crate) fn header_version(headers: &HeaderMap) -> HeaderVersion {
    let Some(value) = headers.get(API_VERSION_HEADER) else {
        return HeaderVersion::Absent;
    };
    let len = value.len();
    match value.to_str() {
        Ok(text) if len <= MAX_VERSION_CHARS && parse_version(text).is_ok() => {
            HeaderVersion::Version(text.to_string())
        }
        _ => HeaderVersion::Invalid { len },
    }
}

impl ServedVersions {
    pub fn new() -> Self {
        Self::default()
    }

    /// Notes the answer to a call for `requested`: an upgrade is kept and, the first time its
    /// pair is seen, logged as a warning naming both versions and what to change.
    pub(crate) fn observe(&self, requested: &str, headers: &HeaderMap) {
        match header_version(headers) {
            HeaderVersion::Absent => {}
            HeaderVersion::Version(served) if served == requested => {}
            HeaderVersion::Version(served) => {
                let upgrade = Upgrade {
                    requested: requested.to_string(),
                    served,
                };
                if self.keep(&upgrade) {
                    tracing::warn!(
                        requested = %upgrade.requested,
                        served = %upgrade.served,
                        "{}",
                        upgrade_words(&upgrade.requested, &upgrade.served)
                    );
                }
            }
            HeaderVersion::Invalid { len } => tracing::debug!(
                len,
                "ignored a {API_VERSION_HEADER} header that is not a Graph API version"
            ),
        }
    }

    /// Keeps `upgrade`; true when its pair is new (and there was room for it).
    fn keep(&self, upgrade: &Upgrade) -> bool {
        let mut upgrades = self.upgrades.lock().unwrap_or_else(PoisonError::into_inner);
        if upgrades.contains(upgrade) || upgrades.len() >= MAX_UPGRADES {
            return false;
        }
        upgrades.push(upgrade.clone());
        true
    }

    /// Every upgrade seen, oldest first.
    pub fn upgrades(&self) -> Vec<Upgrade> {
        self.upgrades
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The version Meta last answered `requested`'s calls with, when that was another one.
    /// Meta never serves a dead version again, so an upgrade seen once stays true.
    pub fn served_as(&self, requested: &str) -> Option<String> {
        self.upgrades
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .rev()
            .find(|upgrade| upgrade.requested == requested)
            .map(|upgrade| upgrade.served.clone())
    }
}

/// What to say about calls to `requested` answered as `served`, and what to change.
pub fn upgrade_words(requested: &str, served: &str) -> String {
    format!(
        "Meta answered Graph API {requested} calls as {served} (the {API_VERSION_HEADER} header): \
         {requested} is no longer served, so every call silently behaves as {served}; set \
         [graph] version = \"{NEWEST_VERSION}\" (the newest) after checking the changelog"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(value: &[u8]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(API_VERSION_HEADER, HeaderValue::from_bytes(value).unwrap());
        headers
    }

    #[test]
    fn only_a_short_version_is_read() {
        assert_eq!(header_version(&HeaderMap::new()), HeaderVersion::Absent);
        assert_eq!(
            header_version(&headers(b"v22.0")),
            HeaderVersion::Version("v22.0".to_string())
        );
        let huge = format!("v{}.0", "9".repeat(4000));
        for bad in [
            b"22.0".as_slice(),
            b"v22",
            b"v22.0; drop",
            b"V22.0",
            b"v99999.99999x",
            huge.as_bytes(),
            b"v\xff.0",
        ] {
            assert_eq!(
                header_version(&headers(bad)),
                HeaderVersion::Invalid { len: bad.len() },
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn an_upgrade_is_kept_once_per_pair_and_the_latest_is_served_as() {
        let served = ServedVersions::new();
        let clone = served.clone();
        served.observe("v21.0", &headers(b"v21.0"));
        served.observe("v21.0", &HeaderMap::new());
        served.observe("v21.0", &headers(b"not a version"));
        assert!(served.upgrades().is_empty());
        assert_eq!(served.served_as("v21.0"), None);
        for _ in 0..3 {
            clone.observe("v21.0", &headers(b"v22.0"));
        }
        served.observe("v21.0", &headers(b"v23.0"));
        assert_eq!(served.upgrades().len(), 2);
        assert_eq!(served.served_as("v21.0").as_deref(), Some("v23.0"));
        assert_eq!(served.served_as("v25.0"), None);
    }

    #[test]
    fn a_front_inventing_versions_cannot_grow_the_record() {
        let served = ServedVersions::new();
        for minor in 0..1000 {
            served.observe("v21.0", &headers(format!("v30.{minor}").as_bytes()));
        }
        assert_eq!(served.upgrades().len(), MAX_UPGRADES);
    }

    #[test]
    fn the_words_name_both_versions_and_the_newest() {
        let words = upgrade_words("v21.0", "v22.0");
        for part in ["v21.0", "v22.0", NEWEST_VERSION, "[graph] version"] {
            assert!(words.contains(part), "{part} missing: {words}");
        }
    }
}
