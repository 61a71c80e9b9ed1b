//! # tokentop
//!
//! Keeps WhatsApp Business (Cloud) API access tokens alive and shows how long each has left.
//!
//! The map of the codebase, one table per directory, is `docs/ARCHITECTURE.md` in the
//! repository (`tests/docs.rs` fails when a module is missing from it or a row names a file
//! that is gone).
//!
//! Data flow: `commands` (or the dashboard) start an [`engine::Engine`] on [`config::Settings`]
//! and a [`engine::TokenSource`] (the [`graph::GraphClient`], or a fake in tests); they send
//! [`engine::EngineCommand`]s and read [`engine::EngineEvent`]s with owned snapshots.
//!
//! Layering rule: `engine`, `graph` and `sim` never import terminal code (`tui`, `ui`,
//! ratatui, crossterm).

pub mod bearer;
pub mod cli;
pub mod cluster;
pub mod commands;
pub mod config;
pub mod engine;
pub mod format;
pub mod graph;
pub mod logging;
pub mod mask;
pub mod proxy;
pub mod serve;
pub mod sim;
pub mod tui;
pub mod ui;
