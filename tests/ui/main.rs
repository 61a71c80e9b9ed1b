//! The dashboard: `App::update`, whole-screen snapshots, the real loop, and the binary in tmux.
//! One test binary for the whole layer (issue 19): each module is a former `tests/*.rs` crate.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../dashboard_support/mod.rs"]
mod dashboard_support;

mod tmux_smoke;
mod tui_app;
mod tui_first_frame;
mod tui_fleet;
mod tui_loop;
mod tui_redraws;
mod tui_reload;
mod ui_charts;
mod ui_classes;
mod ui_cluster;
mod ui_snapshots;
mod ui_templates;
