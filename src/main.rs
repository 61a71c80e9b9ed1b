//! The `tokentop` binary: parse the command line, run the command, map errors to exit codes.

use std::process::ExitCode;

use clap::Parser;
use tokentop::cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("tokentop: cannot start the async runtime: {err}");
            return ExitCode::from(3);
        }
    };
    match runtime.block_on(tokentop::commands::run(cli)) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("tokentop: {err:#}");
            ExitCode::FAILURE
        }
    }
}
