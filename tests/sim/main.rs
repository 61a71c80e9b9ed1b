//! The Graph client and the simulator over real loopback HTTP, and the daemon's proxy and serve
//! fronts.
//! One test binary for the whole layer (issue 19): each module is a former `tests/*.rs` crate.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../support/json_shape.rs"]
mod json_shape;
#[path = "../support/mod.rs"]
mod support;

mod client_vs_sim;
mod graph_errors;
mod graph_fixtures;
mod graph_request_counts;
mod graph_request_shape;
mod graph_versions;
mod hostile_exchange;
mod phone_batch;
mod proxy_sim;
mod proxy_undelivered;
mod serve_classes;
mod serve_sim;
mod signup_sim;
mod sim_control;
mod sim_meta;
mod sim_shapes;
mod sim_webhooks;
mod token_endpoint_sim;
mod webhook_relay;
