//! One file per subcommand; [`run`] dispatches. The only layer that prints to stdout.

mod account_store;
mod accounts_cmd;
mod check;
mod common;
mod completions;
mod config_cmd;
mod daemon;
mod demo;
mod doctor;
mod exchange;
mod history_chart;
mod history_cmd;
mod history_source;
mod history_summary;
mod man;
mod onboard;
mod onboard_file;
mod refresh_cmd;
mod reload_cmd;
mod reload_record;
mod reloader;
mod sd_notify;
mod send_test;
mod service;
mod sim_cmd;
mod stdout;
mod tail;
mod templates;
mod watch;

use std::process::ExitCode;

use crate::cli::{Cli, Command, WatchArgs};

pub use stdout::StdoutClosed;

/// Runs the parsed command line and returns the process exit code.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        None => watch::run(&cli.global, &WatchArgs::default()).await,
        Some(Command::Watch(args)) => watch::run(&cli.global, &args).await,
        Some(Command::Demo(args)) => demo::run(&args).await,
        Some(Command::Daemon(args)) => daemon::run(&cli.global, &args).await,
        Some(Command::Check(args)) => check::run(&cli.global, &args).await,
        Some(Command::Refresh(args)) => refresh_cmd::run(&cli.global, &args).await,
        Some(Command::Reload(args)) => reload_cmd::run(&cli.global, &args).await,
        Some(Command::SendTest(args)) => send_test::run(&cli.global, &args).await,
        Some(Command::Exchange(args)) => exchange::run(&cli.global, &args).await,
        Some(Command::Onboard(args)) => onboard::run(&cli.global, &args).await,
        Some(Command::Accounts(command)) => accounts_cmd::run(&cli.global, &command).await,
        Some(Command::History(args)) => history_cmd::run(&cli.global, &args).await,
        Some(Command::Tail(args)) => tail::run(&cli.global, &args).await,
        Some(Command::Templates(args)) => templates::run(&cli.global, &args).await,
        Some(Command::Sim(args)) => sim_cmd::run(args).await,
        Some(Command::Doctor(args)) => doctor::run(&cli.global, &args).await,
        Some(Command::Config(c)) => config_cmd::run(&cli.global, &c).await,
        Some(Command::Completions(args)) => completions::run(&args),
        Some(Command::Man) => man::run(),
    }
}
