//! The real `tokentop` binary, command by command, against the in-process simulator.
//! One test binary for the whole layer (issue 19): each module is a former `tests/*.rs` crate.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../dashboard_support/mod.rs"]
mod dashboard_support;
#[path = "../support/mod.rs"]
mod support;

mod accounts_redis_cli;
mod commands_sim;
mod completions_man;
mod config_cli;
mod doctor;
mod graph_versions_cli;
mod history_chart_cli;
mod logs_daemon;
mod onboard_cli;
mod operator_messages;
mod publish_notify_cli;
mod refresh_rates;
mod reload_cli;
mod sim_cli;
mod stdout_closed;
mod telemetry_cli;
mod templates_cli;
mod webhook_daemon;
