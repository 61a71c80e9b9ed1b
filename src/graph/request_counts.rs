//! Cumulative counts of every HTTP request [`GraphClient`](super::GraphClient) makes, by
//! endpoint and outcome, for a Prometheus counter.
//!
//! A fixed table of atomics behind an `Arc`: clones share it, counting never blocks a request,
//! and the label sets are closed (8 endpoints × 6 outcomes), so cardinality is bounded.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use secrecy::SecretString;

use super::body::Received;
use super::error::{ErrorClass, GraphError};
use super::parse;

/// What a request called; chosen at the call site, which knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Endpoint {
    DebugToken,
    OauthAccessToken,
    Revoke,
    Messages,
    PhoneNumber,
    Analytics,
    /// One batch request, however many items it carries.
    Batch,
    Other,
}

impl Endpoint {
    pub const ALL: [Endpoint; 8] = [
        Self::DebugToken,
        Self::OauthAccessToken,
        Self::Revoke,
        Self::Messages,
        Self::PhoneNumber,
        Self::Analytics,
        Self::Batch,
        Self::Other,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Self::DebugToken => "debug_token",
            Self::OauthAccessToken => "oauth_access_token",
            Self::Revoke => "revoke",
            Self::Messages => "messages",
            Self::PhoneNumber => "phone_number",
            Self::Analytics => "analytics",
            Self::Batch => "batch",
            Self::Other => "other",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// How a request ended, at the HTTP level (a batch's items are not looked at).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RequestOutcome {
    Ok,
    Transient,
    RateLimited,
    TokenDead,
    Permission,
    Other,
}

impl RequestOutcome {
    pub const ALL: [RequestOutcome; 6] = [
        Self::Ok,
        Self::Transient,
        Self::RateLimited,
        Self::TokenDead,
        Self::Permission,
        Self::Other,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Transient => "transient",
            Self::RateLimited => "rate_limited",
            Self::TokenDead => "token_dead",
            Self::Permission => "permission",
            Self::Other => "other",
        }
    }

    /// The outcome of a request that failed with `class`.
    pub fn from_class(class: ErrorClass) -> Self {
        match class {
            ErrorClass::TokenDead => Self::TokenDead,
            ErrorClass::Permission => Self::Permission,
            ErrorClass::RateLimited => Self::RateLimited,
            ErrorClass::Transient => Self::Transient,
            ErrorClass::MessageLevel | ErrorClass::Other | ErrorClass::Local => Self::Other,
        }
    }

    /// The HTTP-level outcome of a request: a 2xx JSON answer without an `error` object is
    /// `ok`, anything else the class of the error the caller's parsing sees.
    pub(crate) fn of(result: &Result<Received, GraphError>, secrets: &[&SecretString]) -> Self {
        match result {
            Ok(received) => match parse::check_answer(received.raw(), secrets) {
                Ok(_) => Self::Ok,
                Err(err) => Self::from_class(err.class),
            },
            Err(err) => Self::from_class(err.class),
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

const CELLS: usize = Endpoint::ALL.len() * RequestOutcome::ALL.len();

/// Requests made so far, by endpoint and outcome; cheap to clone, clones share the counts.
#[derive(Debug, Clone)]
pub struct RequestCounts {
    cells: Arc<[AtomicU64; CELLS]>,
}

impl Default for RequestCounts {
    fn default() -> Self {
        Self::new()
    }
}

impl RequestCounts {
    pub fn new() -> Self {
        Self {
            cells: Arc::new(std::array::from_fn(|_| AtomicU64::new(0))),
        }
    }

    /// Counts one request.
    pub fn record(&self, endpoint: Endpoint, outcome: RequestOutcome) {
        // Both indexes are enum discriminants below their ALL lengths, so the cell exists.
        if let Some(cell) = self.cells.get(cell_index(endpoint, outcome)) {
            cell.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Requests of one endpoint with one outcome.
    pub fn get(&self, endpoint: Endpoint, outcome: RequestOutcome) -> u64 {
        self.cells
            .get(cell_index(endpoint, outcome))
            .map_or(0, |cell| cell.load(Ordering::Relaxed))
    }

    /// Every endpoint × outcome pair, zeros included, in [`Endpoint::ALL`] then
    /// [`RequestOutcome::ALL`] order.
    pub fn snapshot(&self) -> Vec<(Endpoint, RequestOutcome, u64)> {
        Endpoint::ALL
            .iter()
            .flat_map(|endpoint| {
                RequestOutcome::ALL
                    .iter()
                    .map(move |outcome| (*endpoint, *outcome, self.get(*endpoint, *outcome)))
            })
            .collect()
    }
}

fn cell_index(endpoint: Endpoint, outcome: RequestOutcome) -> usize {
    endpoint.index() * RequestOutcome::ALL.len() + outcome.index()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_distinct_and_indexes_match_all() {
        for (i, endpoint) in Endpoint::ALL.iter().enumerate() {
            assert_eq!(endpoint.index(), i);
        }
        for (i, outcome) in RequestOutcome::ALL.iter().enumerate() {
            assert_eq!(outcome.index(), i);
        }
        let mut labels: Vec<_> = Endpoint::ALL.iter().map(|e| e.label()).collect();
        labels.sort_unstable();
        labels.dedup();
        assert_eq!(labels.len(), Endpoint::ALL.len());
    }

    #[test]
    fn clones_share_counts_and_snapshot_lists_every_pair() {
        let counts = RequestCounts::new();
        let clone = counts.clone();
        clone.record(Endpoint::Batch, RequestOutcome::RateLimited);
        clone.record(Endpoint::Batch, RequestOutcome::RateLimited);
        counts.record(Endpoint::Other, RequestOutcome::Other);
        let snapshot = counts.snapshot();
        assert_eq!(snapshot.len(), 48);
        assert!(snapshot.contains(&(Endpoint::Batch, RequestOutcome::RateLimited, 2)));
        assert!(snapshot.contains(&(Endpoint::Other, RequestOutcome::Other, 1)));
        assert_eq!(snapshot.iter().map(|(_, _, n)| n).sum::<u64>(), 3);
    }

    #[test]
    fn error_classes_map_to_outcomes() {
        assert_eq!(
            RequestOutcome::from_class(ErrorClass::TokenDead),
            RequestOutcome::TokenDead
        );
        assert_eq!(
            RequestOutcome::from_class(ErrorClass::MessageLevel),
            RequestOutcome::Other
        );
        assert_eq!(
            RequestOutcome::from_class(ErrorClass::Local),
            RequestOutcome::Other
        );
    }
}
