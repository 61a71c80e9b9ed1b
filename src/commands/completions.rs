//! `tokentop completions SHELL`: the shell's completion script, generated from the clap
//! definitions so that it never drifts from the command line.

use std::process::ExitCode;

use clap::CommandFactory;

use super::stdout;
use crate::cli::{Cli, CompletionsArgs};

pub fn run(args: &CompletionsArgs) -> anyhow::Result<ExitCode> {
    stdout::text(&script(args.shell))?;
    Ok(ExitCode::SUCCESS)
}

/// The completion script for `shell`, as text.
pub fn script(shell: clap_complete::Shell) -> String {
    let mut command = Cli::command();
    let mut buffer = Vec::new();
    clap_complete::generate(shell, &mut command, "tokentop", &mut buffer);
    String::from_utf8_lossy(&buffer).into_owned()
}
