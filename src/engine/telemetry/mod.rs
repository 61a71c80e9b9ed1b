//! Telemetry beside the tokens: the application's log lines (sources, patterns, webhook
//! statuses), delivery windows, phone-number health and WABA analytics, and the hub that
//! turns them into snapshots for clients.
//!
//! `logs/` follows and classifies; `hub.rs` aggregates and batches; `delivery.rs` keeps the
//! rolling rates; `health.rs` polls phone health (a first round, `health_rounds.rs`, then one
//! slice a minute, `health_slices.rs`; batched by `phone_reads.rs`) and analytics; `totals.rs` keeps the exact counts since start;
//! `types.rs` holds the owned data sent to clients; `wamid_join.rs` joins proxied sends with
//! their status webhooks; `account_delivery.rs` keeps the relay's statuses per account and
//! `failure_bursts.rs` turns failures in bulk into history rows; `summary_file.rs` keeps the
//! summary file `check` runs read.

mod account_delivery;
pub mod delivery;
pub mod failure_bursts;
pub mod health;
mod health_rounds;
mod health_slices;
mod hub;
mod line_pacing;
pub mod logs;
mod phone_reads;
pub mod summary_file;
mod totals;
pub mod types;
mod usage_alerts;
pub mod wamid_join;

pub(crate) use hub::*;
