//! The engine's two message types, named by direction: commands in, events out.

use serde::Serialize;

use super::history::HistoryEntry;
use super::state::AccountSnapshot;
use super::telemetry_types::{ClassifiedLine, PhoneNews, PhoneSnapshot, TelemetrySnapshot};
use crate::graph::{ErrorClass, Expiry};

/// Identifies a command so its result event can be matched by the caller.
pub type RequestId = u64;

/// What a client asks the engine to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineCommand {
    /// Refresh now (`None` = every account).
    ForceRefresh {
        account: Option<String>,
        request_id: RequestId,
    },
    /// Send the account's test message through the send guard, optionally to another number.
    SendTest {
        account: String,
        to: Option<String>,
        request_id: RequestId,
    },
    /// Inspect now (`None` = every account).
    Recheck { account: Option<String> },
    /// Answer with [`EngineEvent::Pong`]: proves the command router and the client's event
    /// loop are both alive (the `/healthz` probe).
    Ping { request_id: RequestId },
    /// Meta said by webhook (`account_update`) that the app's access to the WhatsApp Business
    /// Account `waba_id` was taken away or given back; applies to the accounts configured
    /// with that `business-account-id`.
    AccountAccess {
        waba_id: String,
        change: AccessChange,
    },
    /// Meta said by webhook (`phone_number_quality_update`) that a number of the WhatsApp
    /// Business Account `waba_id` changed its messaging limit or was flagged: told at once to
    /// the clients of the accounts configured with that `business-account-id`.
    PhoneNews { waba_id: String, news: PhoneNews },
    /// Many of an account's messages failed in one minute (Meta's status webhooks): one
    /// history row for the burst, written by the account.
    FailureBurst(crate::engine::telemetry::failure_bursts::FailureBurst),
    /// The accounts the configuration names now: new ones start, removed ones stop, changed
    /// ones restart on their stored token; answered with [`EngineEvent::AccountsChanged`].
    ApplyAccounts(Box<super::reload::AccountsUpdate>),
    /// Finish in-flight refreshes, persist, and stop.
    Shutdown,
}

/// What Meta said about the app's access to a customer's account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessChange {
    /// Taken away (`event`: `PARTNER_APP_UNINSTALLED`, `PARTNER_REMOVED`, `ACCOUNT_DELETED`,
    /// `DISABLED_UPDATE` with a ban): no refresh can help.
    Revoked { event: String },
    /// Given back (`PARTNER_APP_INSTALLED`, a ban lifted): believed once the token inspects
    /// valid.
    Restored { event: String },
}

/// How a forced refresh ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RefreshReport {
    pub account: String,
    /// The exchange worked and every step after it too.
    pub ok: bool,
    /// What happened, for people: "refreshed, expires ...", "skipped: ...", the error.
    pub message: String,
    /// The new token's expiry; `None` when there is no new token (the refresh failed).
    pub new_expires_at: Option<Expiry>,
    /// Why the refresh failed, when it did.
    pub error: Option<RefreshError>,
    /// Steps after a successful exchange that failed (storing, publishing), one line each.
    pub failed_steps: Vec<String>,
}

/// A refresh that failed: what kind, Meta's code when Meta answered, and what to do.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RefreshError {
    pub message: String,
    /// What kind of failure, so callers advise without reading the message.
    pub class: ErrorClass,
    pub code: Option<i64>,
    pub subcode: Option<i64>,
    /// What the operator should do.
    pub remedy: String,
}

impl RefreshError {
    /// A failure inside tokentop (shutdown, lock, missing settings).
    pub fn local(message: &str, remedy: &str) -> Self {
        Self {
            message: message.to_string(),
            class: ErrorClass::Local,
            code: None,
            subcode: None,
            remedy: remedy.to_string(),
        }
    }
}

/// How a send ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SendReport {
    pub account: String,
    pub accepted: bool,
    pub to: Option<String>,
    pub message_id: Option<String>,
    pub message_status: Option<String>,
    /// The error, e.g. "131026 Message Undeliverable", when not accepted.
    pub error: Option<String>,
    pub error_code: Option<i64>,
    /// Meta's short title of the error (`error_user_title`), e.g. "Message Undeliverable".
    pub error_title: Option<String>,
    /// True when the send had to refresh the token first or after a 190.
    pub refreshed: bool,
    pub latency_ms: u64,
}

impl SendReport {
    /// A send that has not succeeded (yet): `error` says why, when known.
    pub fn not_accepted(account: &str, to: Option<String>, error: Option<String>) -> Self {
        Self {
            account: account.to_string(),
            accepted: false,
            to,
            message_id: None,
            message_status: None,
            error,
            error_code: None,
            error_title: None,
            refreshed: false,
            latency_ms: 0,
        }
    }
}

/// What the engine tells its clients. Owned data only.
#[derive(Debug, Clone, PartialEq)]
pub enum EngineEvent {
    /// The latest state of one account (sent on every change).
    Account(std::sync::Arc<AccountSnapshot>),
    /// A line was added to the history.
    History(Box<HistoryEntry>),
    RefreshFinished {
        request_id: RequestId,
        report: RefreshReport,
    },
    SendFinished {
        request_id: RequestId,
        report: SendReport,
    },
    /// Something a person must see now (re-auth required, permission lost, publish failing).
    Alert { account: String, message: String },
    /// New lines from the `[[log]]` sources, batched (about every 100 ms). In a burst only
    /// the newest lines are sent; `skipped` counts the others (they are still counted in
    /// the telemetry aggregates).
    LogLines {
        lines: Vec<ClassifiedLine>,
        skipped: u64,
    },
    /// Pattern and delivery aggregates, about once a second when they change.
    Telemetry(Box<TelemetrySnapshot>),
    /// Phone-number health and rate-limit usage of one account.
    Phone(Box<PhoneSnapshot>),
    /// Meta's webhook news about an account's number, for its latest [`PhoneSnapshot`]
    /// ([`PhoneSnapshot::take_news`]) until the next poll.
    PhoneNews(Box<PhoneNews>),
    /// A log source's own news: rotated, truncated, missing, command exited.
    SourceNotice { source: String, message: String },
    /// The answer to [`EngineCommand::Ping`].
    Pong { request_id: RequestId },
    /// The cluster's members, leases and reachability (only with a shared coordinator).
    Cluster(Box<super::coordinator::ClusterStatus>),
    /// The set of accounts changed (or a reload was refused): what was added, removed,
    /// changed, the account files skipped, and the accounts running now.
    AccountsChanged(Box<super::reload::AccountsChange>),
    /// Every account task has finished; no more events follow.
    Stopped,
}
