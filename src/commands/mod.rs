//! One file per subcommand; [`run`] dispatches. The only layer that prints to stdout.

mod sim_cmd;

use std::process::ExitCode;

use crate::cli::{Cli, Command};

/// Runs the parsed command line and returns the process exit code.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        None | Some(Command::Watch) => not_yet("watch"),
        Some(Command::Demo) => not_yet("demo"),
        Some(Command::Daemon) => not_yet("daemon"),
        Some(Command::Check(_)) => not_yet("check"),
        Some(Command::Refresh(_)) => not_yet("refresh"),
        Some(Command::SendTest(_)) => not_yet("send-test"),
        Some(Command::Exchange(_)) => not_yet("exchange"),
        Some(Command::History(_)) => not_yet("history"),
        Some(Command::Tail(_)) => not_yet("tail"),
        Some(Command::Sim(args)) => sim_cmd::run(args).await,
        Some(Command::Config(_)) => not_yet("config"),
    }
}

fn not_yet(name: &str) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`tokentop {name}` is not available in this build yet")
}
