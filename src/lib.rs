//! # tokentop
//!
//! Keeps WhatsApp Business (Cloud) API access tokens alive and shows how long each has left.
//!
//! The map of the codebase, one table per directory, is `docs/ARCHITECTURE.md` in the
//! repository (`tests/system/docs.rs` fails when a module is missing from it or a row names a file
//! that is gone).
//!
//! Data flow: `commands` (or the dashboard) start an [`engine::Engine`] on [`config::Settings`]
//! and a [`engine::TokenSource`] (the [`graph::GraphClient`], or a fake in tests); they send
//! [`engine::EngineCommand`]s and read [`engine::EngineEvent`]s with owned snapshots.
//!
//! Layering rules (held by `tests/system/layering.rs`): `engine`, `graph` and `sim` never import
//! terminal code (`tui`, `ui`, ratatui, crossterm); no top-level module imports one that
//! imports it back (`tui` and `ui`, the dashboard's two halves, are the one allowed pair), so
//! `commands` starts `serve` and both read [`report`], which reads neither.
//!
//! Secrets are `secrecy::SecretString` from the moment they are read, exposed only where they
//! leave the process or are compared: the Graph client's requests (`graph`), the proxy's
//! upstream request (`proxy/target.rs`), the token store and the Redis record
//! (`engine/store`, `cluster`), the publish targets (`engine/publish`: env-file, token file,
//! the hook's stdin), `tokentop exchange --reveal`, the bearer checks, the shape check of a new
//! token, and [`mask`] (which shows only its ends).

pub mod bearer;
pub mod cli;
pub mod cluster;
pub mod commands;
pub mod config;
pub mod engine;
pub mod format;
pub mod graph;
pub mod listener;
pub mod logging;
pub mod mask;
pub mod memory;
pub mod proxy;
pub mod report;
pub mod serve;
pub mod sim;
pub mod tui;
pub mod ui;
pub mod webhook;
