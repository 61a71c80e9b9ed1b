//! # tokentop
//!
//! Keeps WhatsApp Business (Cloud) API access tokens alive and shows how long each has left.
//!
//! ## Map of the codebase
//!
//! | module | what lives there |
//! |---|---|
//! | [`bearer`] | the bearer-token check of the two HTTP listeners (`/metrics`, the proxy) |
//! | [`cli`] | clap definitions of every subcommand and global flag (no logic) |
//! | [`cluster`] | `[cluster]`: the Redis coordinator (leases with fences, compare-and-set writes in Lua, pub/sub announcements, heartbeats, the history stream, the data dir as cache) |
//! | [`commands`] | one file per subcommand (`history_chart.rs` draws `history --chart`); the only place that prints to stdout |
//! | [`config`] | config file discovery, parsing with spans, validation, secrets, env overrides |
//! | [`graph`] | the Meta Graph API client: typed requests/responses, error classes, `appsecret_proof`, usage headers |
//! | [`sim`] | the Graph API simulator (`tokentop sim`, tests, the demo) |
//! | [`engine`] | the token engine and the telemetry beside it; the files below |
//! | [`format`] | words for times and levels shared by the dashboard and the commands: countdowns, clock times, durations (no engine types) |
//! | [`logging`] | tracing setup: stderr (text or JSON) for headless commands, daily files in the data dir opened without following symlinks |
//! | [`mask`] | the one way a token is ever shown: `EAAG…x9Qf` |
//! | [`proxy`] | the Graph API proxy: applications send their Graph requests without a token; it adds the account's token and proof, refreshes inside the send guard, and retries once after a 190 |
//! | [`report`] | the `check` report, one model for `check` and `/status`: `model.rs` its shape, status and exit code; `rules.rs` each account's status and why; `known.rs` what is known and the report built from it; `cluster.rs` the `[cluster]` part; `text.rs` its lines; pure functions, unit-tested without a network |
//! | [`serve`] | the HTTP endpoint for on-call tools: Prometheus `/metrics` (`cluster_metrics.rs`: the `[cluster]` families), `/healthz`, `/readyz`, `/status`; fed by a tee of the engine's events |
//! | [`tui`] | the dashboard: terminal lifecycle, event loop, `App` state + pure `update(msg)`, key map |
//! | [`ui`] | pure render functions of the dashboard, one file per panel (`cluster.rs`: the `[cluster]` row and the `C` overlay); terminal-only shapes (bars, sparklines); the braille charts (`charts`, `lifetime_chart` also drawn by `history --chart`, `delivery_chart`, `plot`) |
//!
//! Inside `engine/`:
//!
//! | path | what lives there |
//! |---|---|
//! | `engine/mod.rs` | `Engine::start`, the handle, the command loop |
//! | `engine/account/` | one account: `phase.rs` the pure lifecycle state (`Phase`, `plan`, `Action`s), `actor.rs` the run loop and timers, `inspect.rs` inspections and performing actions, `refresh.rs` the refresh procedure, `supervise.rs` restarts after a panic |
//! | `engine/new_token.rs` | the rule a new token must pass, and its expiry |
//! | `engine/token_write.rs` | the one storage path of a new token (lease, re-read, compare-and-set, history row), for refresh and `exchange` |
//! | `engine/coordinator/` | the `Coordinator` trait (who may refresh, where tokens live), `local.rs` (lock file and data dir), `status.rs` (the cluster as clients see it), and when to refresh without a lease |
//! | `engine/store.rs`, `engine/lock.rs`, `engine/atomic_file.rs`, `engine/private_fs.rs` | the token store, the cross-process lock, atomic and symlink-safe file access |
//! | `engine/history.rs` | `history.jsonl` |
//! | `engine/refresh_stats.rs`, `engine/history_digest.rs` | from history rows: the refresh success rate over 24 h / 7 d / 30 d (`check`, `/status`, the dashboard), and the digest of `history --summary` |
//! | `engine/lifetime.rs` | the token lifetime series (time left over time, failed refreshes) folded from history rows, for the dashboard chart and `history --chart` |
//! | `engine/schedule.rs` | when to refresh, how to back off |
//! | `engine/urgency.rs` | the one urgency rule and re-auth wording, for the dashboard, `check` and alerts |
//! | `engine/publish.rs`, `engine/hook.rs` | env-file and on-refresh command |
//! | `engine/sends.rs`, `engine/inspector.rs`, `engine/source.rs` | the send guard, batched inspection, the `TokenSource` seam |
//! | `engine/events.rs`, `engine/state.rs`, `engine/clock.rs` | commands in, events and snapshots out; the clock |
//! | `engine/telemetry/` | log sources and patterns (`logs/`), the hub, delivery windows, phone health, analytics |
//!
//! Data flow: `commands` (or the dashboard) start an [`engine::Engine`] on [`config::Settings`]
//! and a [`engine::TokenSource`] (the [`graph::GraphClient`], or a fake in tests); they send
//! [`engine::EngineCommand`]s and read [`engine::EngineEvent`]s with owned snapshots.
//!
//! Layering rules (held by `tests/layering.rs`): `engine`, `graph` and `sim` never import
//! terminal code (`tui`, `ui`, ratatui, crossterm); no top-level module imports one that
//! imports it back (`tui` and `ui`, the dashboard's two halves, are the one allowed pair), so
//! `commands` starts `serve` and both read [`report`], which reads neither. Secrets are `secrecy::SecretString` from the moment they are read;
//! only the HTTP layer in `graph` exposes them.

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
pub mod report;
pub mod serve;
pub mod sim;
pub mod tui;
pub mod ui;
