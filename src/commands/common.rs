//! What the headless commands share: settings loading, engine start, waiting for results.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::mpsc::UnboundedReceiver;

use crate::cli::GlobalArgs;
use crate::config::{self, EnvSnapshot, Overrides, Settings};
use crate::engine::coordinator::Coordinator;
use crate::engine::coordinator::local::LocalCoordinator;
use crate::engine::{Engine, EngineEvent, EngineHandle, EngineOptions, HealthPolling};
use crate::graph::GraphClient;

/// `41d 03:12:45`, or `expired 00:02:00 ago`: the same words as on the dashboard.
pub use crate::format::left as format_left;

/// Exit code of a config error in commands that follow the monitoring-plugin convention.
pub const EXIT_UNKNOWN: u8 = 3;

/// Command-line overrides from the global flags.
pub fn overrides(global: &GlobalArgs) -> Overrides {
    Overrides {
        config: global.config.clone(),
        data_dir: global.data_dir.clone(),
        graph_url: global.graph_url.clone(),
    }
}

/// Loads settings from flags, env and file; every problem is in the error, one per line.
pub fn load_settings(global: &GlobalArgs) -> anyhow::Result<Settings> {
    config::load(&overrides(global), &EnvSnapshot::from_process()).map_err(invalid)
}

/// Like [`load_settings`], reading only the first `count` files of `[accounts] dir`
/// ([`config::load_first_files`]).
pub fn load_first_settings(global: &GlobalArgs, count: usize) -> anyhow::Result<Settings> {
    config::load_first_files(&overrides(global), &EnvSnapshot::from_process(), count)
        .map_err(invalid)
}

fn invalid(errors: config::ConfigErrors) -> anyhow::Error {
    anyhow::anyhow!("invalid configuration:\n{errors}")
}

/// Settings that must name at least one account.
pub fn require_accounts(settings: &Settings) -> anyhow::Result<()> {
    if settings.accounts.is_empty() {
        anyhow::bail!(
            "no accounts configured: add an [[account]] to {} or set WHATSAPP_APP_ID, \
             WHATSAPP_APP_SECRET and WHATSAPP_ACCESS_TOKEN (see `tokentop config init`)",
            settings
                .config_path
                .as_ref()
                .map_or("the config file".to_string(), |p| p.display().to_string())
        );
    }
    Ok(())
}

/// Where leases and tokens live: Redis with `[cluster]`, else the data dir.
pub fn coordinator(settings: &Settings) -> anyhow::Result<Arc<dyn Coordinator>> {
    if settings.cluster.redis_url.is_some() {
        let redis = crate::cluster::RedisCoordinator::start(&settings.cluster, &settings.data_dir)?;
        Ok(Arc::new(redis))
    } else {
        Ok(Arc::new(LocalCoordinator::new(&settings.data_dir)))
    }
}

/// Starts the engine on the real Graph API client.
pub fn start_engine(
    settings: &Settings,
    options: EngineOptions,
) -> anyhow::Result<(EngineHandle, UnboundedReceiver<EngineEvent>)> {
    let client = GraphClient::new(&settings.graph).context("cannot set up the Graph API client")?;
    start_engine_on(settings, client, options)
}

/// Starts the engine on `client`, for a command that reads the client's own records after.
pub fn start_engine_on(
    settings: &Settings,
    client: GraphClient,
    mut options: EngineOptions,
) -> anyhow::Result<(EngineHandle, UnboundedReceiver<EngineEvent>)> {
    if options.coordinator.is_none() {
        options.coordinator = Some(coordinator(settings)?);
    }
    Ok(Engine::start(settings, Arc::new(client), options))
}

/// Starts the engine, the Graph API proxy when `[proxy] listen` is set, and the `/metrics`
/// endpoint in front of its events when `--listen` or `[serve] listen` asks for it. Read
/// events from the returned receiver.
pub async fn start_engine_served(
    settings: &Settings,
    options: EngineOptions,
    serve: &crate::cli::ServeArgs,
) -> anyhow::Result<(EngineHandle, UnboundedReceiver<EngineEvent>)> {
    let mut options = options;
    let client = GraphClient::new(&settings.graph).context("cannot set up the Graph API client")?;
    if options.coordinator.is_none() {
        options.coordinator = Some(coordinator(settings)?);
    }
    let serve_options = crate::serve::ServeOptions::from_settings(settings, serve.listen);
    let counts = client.request_counts();
    let served_versions = client.served_versions();
    let (handle, events) = Engine::start(settings, Arc::new(client), options);
    crate::memory::spawn_releases();
    let proxy = match crate::proxy::start(settings, handle.token_broker()).await {
        Ok(proxy) => proxy,
        Err(err) => {
            handle.send(crate::engine::EngineCommand::Shutdown);
            return Err(err);
        }
    };
    let relay = match crate::webhook::start(settings).await {
        Ok(Some(relay)) => {
            if proxy.is_some() {
                // Both sides of a message: the proxy's accepted sends and Meta's statuses.
                handle.join_proxied_sends(settings.webhook.undelivered_after);
            }
            let stats = relay.stats();
            relay.run_in_background(handle.clone());
            Some(stats)
        }
        Ok(None) => None,
        Err(err) => {
            handle.send(crate::engine::EngineCommand::Shutdown);
            return Err(err.context("cannot start the webhook relay ([webhook])"));
        }
    };
    let Some(serve_options) = serve_options else {
        return Ok((handle, events));
    };
    match crate::serve::start(
        &serve_options,
        settings,
        handle.clone(),
        events,
        Some(counts),
        Some(served_versions),
        relay,
    )
    .await
    {
        Ok(serving) => Ok((handle, serving.events)),
        Err(err) => {
            handle.send(crate::engine::EngineCommand::Shutdown);
            Err(err)
        }
    }
}

/// Options for one-shot commands: look, refresh only when asked.
pub fn one_shot_options() -> EngineOptions {
    EngineOptions {
        auto_refresh: false,
        periodic_checks: false,
        log_sources: false,
        health: HealthPolling::Off,
        write_summary: false,
        ..EngineOptions::default()
    }
}

/// Asks the engine to stop and waits (bounded) until it has persisted and stopped.
pub async fn shutdown(handle: &EngineHandle, events: &mut UnboundedReceiver<EngineEvent>) {
    handle.send(crate::engine::EngineCommand::Shutdown);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while let Ok(Some(event)) = tokio::time::timeout_at(deadline, events.recv()).await {
        if event == EngineEvent::Stopped {
            break;
        }
    }
}

/// The account a single-account command applies to: the named one, or the only one.
pub fn pick_account(settings: &Settings, name: Option<&str>) -> anyhow::Result<String> {
    let names: Vec<&str> = settings.accounts.iter().map(|a| a.name.as_str()).collect();
    match name {
        Some(name) if names.contains(&name) => Ok(name.to_string()),
        Some(name) => anyhow::bail!(
            "no account named {name:?}; configured accounts: {}",
            names.join(", ")
        ),
        None if names.len() == 1 => Ok(names[0].to_string()),
        None => anyhow::bail!(
            "{} accounts are configured; name one of: {}",
            names.len(),
            names.join(", ")
        ),
    }
}

/// Resolves with the name of the first SIGINT or SIGTERM.
pub async fn stop_signal() -> &'static str {
    stop_signal_from_now().await
}

/// [`stop_signal`] listening from the call, not from the first poll: a SIGTERM between the
/// two (the dashboard's engine start-up, its terminal already in raw mode) is answered once
/// the future is awaited instead of killing the process with the terminal left raw.
pub fn stop_signal_from_now() -> impl std::future::Future<Output = &'static str> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate());
        let int = signal(SignalKind::interrupt());
        async move {
            match (term, int) {
                (Ok(mut term), Ok(mut int)) => tokio::select! {
                    _ = term.recv() => "SIGTERM",
                    _ = int.recv() => "SIGINT",
                },
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                    "SIGINT"
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
            "Ctrl-C"
        }
    }
}
