//! The engine in-process: scheduling, refresh, publishing, the data dir, telemetry, logs and the
//! cluster.
//! One test binary for the whole layer (issue 19): each module is a former `tests/*.rs` crate.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../support/account.rs"]
mod account;
#[path = "../support/mod.rs"]
mod support;

mod accounts_reload;
mod cluster_redis;
mod data_dir_safety;
mod delivery;
mod engine_classes;
mod engine_paused;
mod engine_sim;
mod engine_supervise;
mod failure_burst;
mod graph_budget;
mod logs_classify;
mod logs_follow;
mod publish_env_file;
mod publish_hook;
mod publish_sim;
mod publish_token_file;
mod telemetry_engine;
mod webhook_queue;
mod webhook_queue_redis;
