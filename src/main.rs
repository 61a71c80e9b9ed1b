//! The `tokentop` binary: parse the command line, run the command, map errors to exit codes.

use std::process::ExitCode;

use clap::Parser;
use tokentop::cli::Cli;
use tokentop::commands::StdoutClosed;

fn main() -> ExitCode {
    tokentop::memory::limit_arenas();
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
        // The reader of our output went away (`| head`): nothing to report to anyone.
        Err(err) if err.downcast_ref::<StdoutClosed>().is_some() => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("tokentop: {err:#}");
            ExitCode::FAILURE
        }
    }
}
