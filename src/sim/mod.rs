//! The Graph API simulator: a stateful stand-in for the endpoints tokentop uses.
//!
//! [`RunningSim::start`] serves the Graph endpoints of REFERENCE.md (debug_token, exchange,
//! revoke, messages, phone-number fields, WABA analytics, batch), plus media upload (from
//! Meta's Upload Media documentation), on loopback, and control endpoints under `/_sim/` to
//! mint and invalidate tokens, read request counts and the message log, inject faults, and
//! declare Graph API versions dead (`/_sim/versions`: their calls are then served as the oldest
//! live version, which the `facebook-api-version` header of every answer names).
//! [`SimHandle`] does the same in-process. Embedded Signup (`signup.rs`): `/_sim/codes` mints
//! one-time codes that `oauth/access_token?code=` exchanges once for a customer's business token.
//!
//! Like Meta, it posts signed webhooks to a target URL once one is set: statuses after each
//! accepted send, and account, quality and template events on request (`/_sim/webhooks/...`).
//!
//! It answers as Meta does: POST bodies as JSON, form or multipart (nested values as JSON
//! strings), the token from the query, body or bearer header, authentication before routing,
//! Meta's error shapes and messages (expiry times in US Pacific time).

mod analytics;
mod batch;
mod control;
pub mod demo;
mod encodings;
mod envelope;
mod faults;
mod graph;
/// JSON shapes for the unit tests, shared with `tests/sim/sim_webhooks.rs`.
#[cfg(test)]
#[path = "../../tests/support/json_shape.rs"]
mod json_shape;
mod media;
mod message_types;
mod messages;
mod node_auth;
mod oauth;
mod pacific;
mod phone;
mod request;
mod server;
mod signup;
mod state;
mod token;
mod usage;
mod versions;
mod webhook_control;
mod webhook_events;
mod webhook_handle;
mod webhook_payloads;
mod webhook_settings;
mod webhooks;

use std::time::Duration;

use secrecy::SecretString;

pub use faults::Faults;
pub use phone::SimPhone;
pub use server::RunningSim;
pub use state::{SentMessage, SimHandle, SimStats, UploadedMedia};
pub use token::{MintedToken, TokenKind};
pub use versions::SimVersions;
pub use webhook_events::{
    ACCOUNT_EVENTS, AccountUpdate, DEFAULT_OWNER_BUSINESS_ID, DEFAULT_PARTNER_BUSINESS_ID,
    DEFAULT_WABA_ID, Nesting, OtherInfo, PhoneQualityUpdate, RejectionInfo, TemplateQualityUpdate,
    TemplateStatusUpdate,
};
pub use webhook_payloads::FAILURE_CODES;
pub use webhook_settings::{
    Delay, MAX_STATUSES_PER_POST, WebhookError, WebhookSettings, WebhookStats, parse_webhook_url,
};

/// App id of the simulated app when none is given.
pub const DEFAULT_APP_ID: &str = "100000000000001";

/// App secret of the simulated app when none is given (a test value, never a real one).
pub const DEFAULT_APP_SECRET: &str = "sim-app-secret";

const DAY_SECS: u64 = 86_400;

/// How the simulated app behaves: its credentials and the lifetimes of the tokens it mints.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// App id that `client_id` and the app token must carry.
    pub app_id: String,
    /// App secret that `client_secret`, the app token and `appsecret_proof` are checked against.
    pub app_secret: SecretString,
    /// Refuse token-carrying calls without a correct `appsecret_proof`.
    pub require_proof: bool,
    /// Lifetime of a long-lived USER token minted by exchanging a short-lived one.
    pub long_lived_lifetime: Duration,
    /// Lifetime of a SYSTEM_USER token renewed with `set_token_expires_in_60_days=true`.
    pub system_user_lifetime: Duration,
    /// Lifetime of a short-lived USER token minted through `/_sim/tokens` without a lifetime.
    pub short_lived_lifetime: Duration,
    /// How status and account webhooks are posted once a target is set.
    pub webhooks: WebhookSettings,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            app_id: DEFAULT_APP_ID.to_string(),
            app_secret: SecretString::from(DEFAULT_APP_SECRET),
            require_proof: false,
            long_lived_lifetime: Duration::from_secs(60 * DAY_SECS),
            system_user_lifetime: Duration::from_secs(60 * DAY_SECS),
            short_lived_lifetime: Duration::from_secs(3600),
            webhooks: WebhookSettings::default(),
        }
    }
}
