//! Deployment and the outside world: config files, packaging, systemd, Prometheus, real client
//! libraries, publish recipes, and property tests.
//! One test binary for the whole layer (issue 19): each module is a former `tests/*.rs` crate.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../support/account.rs"]
mod account;
mod prop_support;
mod recipes;
#[path = "../support/mod.rs"]
mod support;

mod bounded_reads;
mod config;
mod config_classes;
mod deb_assets;
mod docs;
mod kubernetes_deploy;
mod layering;
mod prometheus_rules;
mod prop_config;
mod prop_graph;
mod prop_logs;
mod publish_recipes;
mod python_clients;
mod systemd;
mod token_endpoint_config;
