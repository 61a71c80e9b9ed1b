//! `tokentop demo`: the dashboard on the built-in simulator with three demo accounts; no
//! config, credentials or network needed.

use std::process::ExitCode;

use super::common::start_engine_served;
use super::watch::dashboard;
use crate::cli::WatchArgs;
use crate::engine::EngineOptions;
use crate::logging::{Console, init};
use crate::sim::demo::Demo;

pub async fn run(args: &WatchArgs) -> anyhow::Result<ExitCode> {
    // Kept alive for the whole run: it owns the simulator and the demo's temp dir.
    let demo = Demo::start().await?;
    let _log_guard = init(&demo.settings.data_dir, Console::None);
    tracing::info!(sim = %demo.sim.base_url(), "tokentop demo started");
    let (handle, events) =
        start_engine_served(&demo.settings, EngineOptions::default(), &args.serve).await?;
    let script = demo.run_script(handle.clone());
    let result = dashboard(&demo.settings, handle, events, Vec::new()).await;
    script.abort();
    result
}
