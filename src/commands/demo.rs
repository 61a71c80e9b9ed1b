//! `tokentop demo`: the built-in simulator with three demo accounts; no config, credentials or
//! network needed.

use std::process::ExitCode;

use super::check::{account_line, inspect_all};
use crate::sim::demo::Demo;

pub async fn run() -> anyhow::Result<ExitCode> {
    let demo = Demo::start().await?;
    println!("tokentop demo: simulator at {}", demo.sim.base_url());
    let report = inspect_all(&demo.settings).await?;
    for account in &report.accounts {
        println!("{}", account_line(account));
    }
    println!("overall: {}", report.status.label());
    Ok(ExitCode::SUCCESS)
}
