//! The `check` report: each account's monitoring status and why, for `check` and `/status`.
//!
//! One model for both: `tokentop check` builds it from one run of the engine, a running
//! daemon's `/status` from the engine's events ([`Known`] is what each knows). Every rule is a
//! pure function of that, so it is unit-tested without a network or a Redis.
//!
//! | file | what lives there |
//! |---|---|
//! | `model.rs` | the report's shape: [`CheckReport`], [`AccountReport`], [`Status`] and its exit code |
//! | `rules.rs` | one account's status and reasons ([`account_report`]) |
//! | `known.rs` | what is known when a report is made, and the whole report from it ([`build_report`]) |
//! | `cluster.rs` | the `[cluster]` part: whether Redis answered ([`cluster_report`]) |
//! | `graph_version.rs` | the configured Graph API version against the day Meta stops serving it ([`graph_version_report`]) |
//! | `text.rs` | the report in words, one line per account ([`account_line`]) |
//! | `account_files.rs` | account files of `[accounts] dir` that were skipped: a WARNING each ([`invalid_file_reports`]) |

mod account_files;
mod cluster;
#[cfg(test)]
mod fixtures;
mod graph_version;
mod known;
mod model;
mod rules;
mod text;

pub use account_files::{InvalidFileReport, invalid_file_line, invalid_file_reports};
pub use cluster::{CLUSTER_REMEDY, ClusterReport, cluster_line, cluster_report};
pub use graph_version::{GraphVersionReport, graph_version_line, graph_version_report};
pub use known::{
    Known, build_report, logs_rate_of, proxy_undelivered_of, webhook_accounts_of, webhooks_rate_of,
};
pub use model::{
    AccountReport, CheckReport, DeliveryReport, ExpiryReport, Extras, HeadroomReport, PhoneReport,
    Status, UndeliveredReport, exit_code,
};
pub use rules::{HEADROOM_WARN_PERCENT, account_report};
pub use text::account_line;
