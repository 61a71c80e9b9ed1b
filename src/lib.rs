//! # tokentop
//!
//! Keeps WhatsApp Business (Cloud) API access tokens alive and shows how long each has left.
//!
//! ## Map of the codebase
//!
//! | module | what lives there |
//! |---|---|
//! | [`cli`] | clap definitions of every subcommand and global flag (no logic) |
//! | [`commands`] | one file per subcommand; the only place that prints to stdout |
//! | [`config`] | config file discovery, parsing with spans, validation, secrets, env overrides |
//! | [`graph`] | the Meta Graph API client: typed requests/responses, error classes, `appsecret_proof`, usage headers |
//! | [`sim`] | the Graph API simulator (`tokentop sim`, tests, the demo) |
//! | [`engine`] | the engine: per-account actors in `engine/account/` (a pure lifecycle state machine, the actor doing its I/O, refresh, supervision), the new-token rule, schedule, store, history, publish, hooks, sends; the urgency rule (`engine::urgency`: OK/WARNING/CRITICAL and the remedy, for the dashboard, `check` and alerts alike); `engine/telemetry/` (log sources and patterns, the hub, delivery windows, phone health, analytics) |
//! | [`format`] | words for times and levels shared by the dashboard and the commands: countdowns, clock times, durations |
//! | [`logging`] | tracing setup: stderr (text or JSON) for headless commands, daily files in the data dir opened without following symlinks |
//! | [`mask`] | the one way a token is ever shown: `EAAG…x9Qf` |
//! | [`serve`] | the HTTP endpoint for on-call tools: Prometheus `/metrics`, `/healthz`, `/readyz`, `/status`; fed by a tee of the engine's events |
//! | [`tui`] | the dashboard: terminal lifecycle, event loop, `App` state + pure `update(msg)`, key map |
//! | [`ui`] | pure render functions of the dashboard, one file per panel; terminal-only shapes (bars, sparklines) |
//!
//! Data flow: `commands` (or the dashboard) start an [`engine::Engine`] on [`config::Settings`]
//! and a [`engine::TokenSource`] (the [`graph::GraphClient`], or a fake in tests); they send
//! [`engine::EngineCommand`]s and read [`engine::EngineEvent`]s with owned snapshots.
//!
//! Layering rule: `engine`, `graph` and `sim` never import terminal code (`tui`, `ui`,
//! ratatui, crossterm). Secrets are `secrecy::SecretString` from the moment they are read;
//! only the HTTP layer in `graph` exposes them.

pub mod cli;
pub mod commands;
pub mod config;
pub mod engine;
pub mod format;
pub mod graph;
pub mod logging;
pub mod mask;
pub mod serve;
pub mod sim;
pub mod tui;
pub mod ui;
