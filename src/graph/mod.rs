//! The Meta Graph API client: typed requests and responses, error classes, appsecret_proof.
//!
//! Everything that touches Meta goes through [`GraphClient`]; responses are parsed by pure
//! functions (re-exported here) so that captured payloads can be tested without a server.

// `GraphError` is a flat struct with public fields by design (the engine and UI read them
// directly); errors are rare next to the network round trip, so its size costs nothing.
#![allow(clippy::result_large_err)]

mod batch;
mod batch_answer;
mod body;
mod client;
mod error;
mod json_probe;
mod parse;
mod phone_batch;
mod phone_fields;
mod proof;
mod request_counts;
mod served_versions;
mod signup;
mod token_shape;
mod types;
mod usage;
pub mod versions;

pub use batch::{MAX_BATCH_ITEMS, parse_debug_token_batch};
pub use body::MAX_BODY_BYTES;
#[allow(unused_imports)] // used by the proxy, wired next
pub(crate) use body::read_capped;
pub use client::{GraphClient, install_tls_provider};
pub use error::{ErrorClass, GraphError, classify, parse_error_body};
pub use parse::MAX_EXPIRES_IN_SECS;
pub use parse::{
    parse_analytics, parse_debug_token, parse_exchange, parse_phone_health, parse_revoke,
    parse_send_result,
};
pub use phone_batch::{PhoneHealthResult, PhoneRead};
pub use phone_fields::PhoneDetails;
pub use proof::{AppCredentials, appsecret_proof};
pub use request_counts::{Endpoint, RequestCounts, RequestOutcome};
pub use served_versions::{API_VERSION_HEADER, ServedVersions, Upgrade, upgrade_words};
pub use signup::{WabaPhone, parse_code_exchange, parse_phone_numbers, whatsapp_target_ids};
pub use token_shape::{MAX_TOKEN_CHARS, MIN_TOKEN_CHARS, TokenShapeError, check_token_shape};
pub use types::{
    Analytics, DataPoint, ExchangedToken, Expiry, GranularScope, Granularity, HealthEntity,
    HealthError, HealthStatus, OutgoingMessage, PhoneHealth, SendResult, TokenInfo, TokenInfoError,
    WHATSAPP_SCOPES, WithUsage,
};
pub use usage::{AppUsage, BusinessUsage, Usage, UsageHeaders, parse_usage};
