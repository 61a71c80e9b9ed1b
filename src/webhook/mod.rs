//! The webhook relay: Meta's signed webhooks received, verified, stored durably and fanned out.
//!
//! A POST from Meta is checked against `X-Hub-Signature-256` over its raw bytes
//! ([`signature`]), appended to the durable queue (on disk, or the cluster's Redis stream)
//! before Meta gets its 200 ([`queue`]), and forwarded byte for byte, with Meta's own
//! signature header, to every destination in order until each acknowledges it ([`forward`]).

pub mod account_events;
pub mod forward;
mod payload;
pub mod phone_events;
pub mod queue;
pub mod server;
pub mod signature;
pub mod status_counts;
pub mod stored;
pub mod template_events;
pub mod template_table;

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::{mpsc, watch};

use crate::config::{ForwardSettings, Settings};
use forward::{Destination, ForwardReport};
use queue::{QueueOptions, RedisQueueOptions, WebhookQueue};
use server::{Relay, RelayCounters};

/// What `/metrics` shows of the relay, read at scrape time: requests by result, each
/// destination's forwards by outcome, and the queue.
#[derive(Clone)]
pub struct RelayStats {
    pub requests: Arc<RelayCounters>,
    pub forwards: Arc<ForwardCounters>,
    pub queue: WebhookQueue,
    pub statuses: Arc<std::sync::Mutex<status_counts::StatusCounts>>,
    /// Stored bodies that were forwarded but not read (the reader was behind).
    pub unread: Arc<stored::UnreadCount>,
}

/// Forward attempts by destination and outcome (`delivered`, `failed`, `not_wanted`).
#[derive(Debug, Default)]
pub struct ForwardCounters {
    counts: std::sync::Mutex<std::collections::BTreeMap<(String, &'static str), u64>>,
}

impl ForwardCounters {
    fn count(&self, report: &ForwardReport) {
        let outcome = match report.outcome {
            forward::ForwardOutcome::Delivered { .. } => "delivered",
            forward::ForwardOutcome::NotWanted => "not_wanted",
            forward::ForwardOutcome::Failed { .. } => "failed",
        };
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        *counts
            .entry((report.destination.clone(), outcome))
            .or_default() += 1;
    }

    /// (destination, outcome, total) for every pair seen.
    pub fn snapshot(&self) -> Vec<(String, &'static str, u64)> {
        let counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        counts
            .iter()
            .map(|((destination, outcome), total)| (destination.clone(), *outcome, *total))
            .collect()
    }
}

/// A running relay: where it listens, its numbers, and the forwarders' reports.
pub struct RunningRelay {
    pub address: String,
    stats: RelayStats,
    pub reports: mpsc::UnboundedReceiver<ForwardReport>,
    /// Every newly stored body, for the statuses and account events read from it.
    pub stored: mpsc::UnboundedReceiver<stored::StoredBody>,
    /// The app ids of the accounts: an `account_update` about another app is not ours.
    app_ids: Vec<String>,
    /// The templates Meta reported, kept in `<data dir>/templates.json`.
    templates: Arc<std::sync::Mutex<template_table::TemplateTable>>,
    stop: watch::Sender<bool>,
}

impl RunningRelay {
    /// Stops the forwarders (a body in flight is sent again after a restart).
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }

    /// The relay's numbers for `/metrics`.
    pub fn stats(&self) -> RelayStats {
        self.stats.clone()
    }

    /// Keeps the relay running for the life of the process: the statuses of each stored body
    /// go to the engine's delivery counts, and each destination's failures are logged when
    /// they start and when they end (not every retry).
    pub fn run_in_background(mut self, engine: crate::engine::EngineHandle) {
        tokio::spawn(async move {
            let mut failing: std::collections::HashSet<String> = Default::default();
            // No destination (or none left) closes the reports; stored bodies still count.
            let mut reports_open = true;
            loop {
                tokio::select! {
                    report = self.reports.recv(), if reports_open => match report {
                        Some(report) => {
                            self.stats.forwards.count(&report);
                            log_report(report, &mut failing);
                        }
                        None => reports_open = false,
                    },
                    body = self.stored.recv() => match body {
                        Some(stored) => self.read_stored(&engine, &stored.body).await,
                        None => break,
                    },
                }
            }
            drop(self.stop);
        });
    }

    /// What a stored body says, read once: its account events (revocations), phone quality
    /// news, its template changes, and its message statuses (into the engine's delivery
    /// counts and the relay's own). A body that does not parse was still Meta's (its signature held) and is
    /// forwarded all the same.
    async fn read_stored(&self, engine: &crate::engine::EngineHandle, body: &[u8]) {
        let value = match serde_json::from_slice::<serde_json::Value>(body) {
            Ok(value) => value,
            Err(err) => {
                tracing::warn!(
                    "a signed webhook body was forwarded but not read: not JSON ({err})"
                );
                return;
            }
        };
        apply_account_updates(engine, &value, &self.app_ids);
        apply_phone_updates(engine, &value);
        let now = chrono::Utc::now().timestamp();
        let templates = template_events::template_updates_in(&value, now);
        if !templates.is_empty() {
            record_templates(&self.templates, templates).await;
        }
        match crate::engine::telemetry::logs::statuses_in(value) {
            Ok(statuses) if statuses.is_empty() => {}
            Ok(statuses) => {
                self.stats
                    .statuses
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .observe(&statuses);
                engine.report_webhook_statuses(statuses);
            }
            Err(why) => {
                tracing::warn!("a signed webhook body was forwarded but not counted: {why}")
            }
        }
    }
}

/// Template changes into the table, and its file written (and fsynced) off the runtime's
/// threads.
async fn record_templates(
    table: &Arc<std::sync::Mutex<template_table::TemplateTable>>,
    updates: Vec<template_events::TemplateUpdate>,
) {
    let table = table.clone();
    let recorded = tokio::task::spawn_blocking(move || {
        table
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .record(&updates);
    });
    if let Err(err) = recorded.await {
        tracing::warn!("the template table was not updated: {err}");
    }
}

/// Revocations and reinstatements in a stored body, to the accounts of their WABA.
fn apply_account_updates(
    engine: &crate::engine::EngineHandle,
    body: &serde_json::Value,
    app_ids: &[String],
) {
    for update in account_events::account_updates_in(body) {
        let Some(change) = update.access_change() else {
            continue;
        };
        if let Some(app) = &update.partner_app_id
            && !app_ids.contains(app)
        {
            tracing::info!(
                "account_update {} for WABA {} is about app {app}, not one of the accounts': ignored",
                update.event,
                update.waba_id
            );
            continue;
        }
        tracing::info!(
            "account_update {} for WABA {}",
            update.event,
            update.waba_id
        );
        engine.send(crate::engine::EngineCommand::AccountAccess {
            waba_id: update.waba_id,
            change,
        });
    }
}

/// A number's new messaging limit or flag, to the accounts of its WABA at once.
fn apply_phone_updates(engine: &crate::engine::EngineHandle, body: &serde_json::Value) {
    for update in phone_events::phone_quality_updates_in(body) {
        let Some(waba_id) = update.waba_id else {
            continue;
        };
        tracing::info!(
            "phone_number_quality_update {} for WABA {waba_id}: limit {}",
            update.event.as_deref().unwrap_or("-"),
            update.current_limit.as_deref().unwrap_or("-")
        );
        let news = crate::engine::telemetry_types::PhoneNews {
            account: String::new(),
            event: update.event,
            current_limit: update.current_limit,
            old_limit: update.old_limit,
            display_phone_number: update.display_phone_number,
            at: chrono::Utc::now(),
        };
        engine.send(crate::engine::EngineCommand::PhoneNews { waba_id, news });
    }
}

fn log_report(report: ForwardReport, failing: &mut std::collections::HashSet<String>) {
    match report.outcome {
        forward::ForwardOutcome::NotWanted => {}
        forward::ForwardOutcome::Delivered { .. } => {
            if failing.remove(&report.destination) {
                tracing::info!(
                    destination = %report.destination,
                    "webhook destination answers again: delivering the queued webhooks"
                );
            }
        }
        forward::ForwardOutcome::Failed { reason, retry_in } => {
            if failing.insert(report.destination.clone()) {
                tracing::warn!(
                    destination = %report.destination,
                    "webhook destination failed ({reason}): webhooks stay queued, retrying in {} s and on",
                    retry_in.as_secs()
                );
            }
        }
    }
}

/// Starts the relay when `[webhook] listen` is set: the queue (in `<data dir>/webhooks`, or
/// the cluster's Redis), one forwarder per destination, then the listener.
pub async fn start(settings: &Settings) -> anyhow::Result<Option<RunningRelay>> {
    let config = &settings.webhook;
    let Some(listen) = &config.listen else {
        return Ok(None);
    };
    let secrets = app_secrets(settings)?;
    let Some(verify_token) = config.verify_token.clone() else {
        bail!("[webhook] listen is set without verify-token: Meta's handshake could never succeed");
    };
    let destinations = destinations(settings)?;
    let names = destinations.iter().map(|d| d.name.clone()).collect();
    let queue = open_queue(settings, names).await?;
    let (stop, stopped) = watch::channel(false);
    let (report_tx, reports) = mpsc::unbounded_channel();
    let client = forward_client()?;
    for destination in destinations {
        tokio::spawn(forward::run(
            queue.clone(),
            destination,
            client.clone(),
            report_tx.clone(),
            stopped.clone(),
        ));
    }
    let (stored_tx, stored) = stored::channel(stored::MAX_PENDING_BYTES, stored::MAX_WAIT);
    let unread = stored_tx.unread();
    let max_body = usize::try_from(config.max_body).unwrap_or(usize::MAX);
    let mut relay = Relay::new(secrets, verify_token, queue.clone(), max_body);
    relay.stored = Some(stored_tx);
    let stats = RelayStats {
        requests: relay.counters.clone(),
        forwards: Arc::default(),
        queue,
        unread,
        statuses: Arc::new(std::sync::Mutex::new(status_counts::StatusCounts::new(
            settings
                .accounts
                .iter()
                .filter_map(|a| Some((a.phone_number_id.clone()?, a.name.clone())))
                .collect(),
        ))),
    };
    let app = server::router(Arc::new(relay), &config.path);
    let address = serve(listen, config.tls.as_ref(), app).await?;
    tracing::info!("webhook relay listening on {address}{}", config.path);
    Ok(Some(RunningRelay {
        address,
        stats,
        reports,
        stored,
        app_ids: settings
            .accounts
            .iter()
            .filter_map(|a| a.app_id.clone())
            .collect(),
        templates: Arc::new(std::sync::Mutex::new(template_table::TemplateTable::load(
            &settings.data_dir,
        ))),
        stop,
    }))
}

/// The queue: with `[cluster] redis-url` the cluster's Redis stream (shared by the members, so
/// a body accepted by any of them is forwarded by the cluster), else `<data dir>/webhooks`.
async fn open_queue(
    settings: &Settings,
    destinations: Vec<String>,
) -> anyhow::Result<WebhookQueue> {
    let max_queue = settings.webhook.max_queue;
    let queue = if settings.cluster.redis_url.is_some() {
        let options = RedisQueueOptions::new(settings.cluster.clone(), max_queue, destinations);
        WebhookQueue::open_redis(options)
    } else {
        let dir = settings.data_dir.join("webhooks");
        WebhookQueue::open(QueueOptions::new(dir, max_queue, destinations)).await
    };
    let queue = queue.context("cannot open the webhook queue")?;
    tracing::info!("webhook queue: in {}", queue.backend());
    Ok(queue)
}

/// Binds `[webhook] listen`, with TLS on the listener itself when `tls-cert` and `tls-key` are
/// set (read again on SIGHUP).
async fn serve(
    listen: &crate::config::Listen,
    tls: Option<&crate::config::TlsFiles>,
    app: axum::Router,
) -> anyhow::Result<String> {
    use crate::listener::{Limits, bind, tls::ReloadableConfig, tls::TlsListener};
    const KEY: &str = "[webhook] listen";
    let limits = Limits::new("the webhook relay");
    let Some(files) = tls else {
        return bind::serve(listen, app, limits, KEY).await;
    };
    let crate::config::Listen::Tcp(addr) = listen else {
        bail!(
            "[webhook] tls-cert with a unix: socket: TLS belongs to whatever listens in front of the socket; remove tls-cert and tls-key, or listen on an address"
        );
    };
    let config = ReloadableConfig::load(files).context("[webhook] tls-cert / tls-key")?;
    config.reload_on_sighup("the webhook relay");
    let tcp = bind::bind_tcp(addr, KEY).await?;
    let local = tcp.local_addr().context("cannot read the bound address")?;
    tokio::spawn(crate::listener::serve(
        TlsListener::new(tcp, config),
        app,
        limits,
    ));
    Ok(format!("https://{local}"))
}

/// Every distinct app secret of the accounts: a body is Meta's if one of them signed it.
fn app_secrets(settings: &Settings) -> anyhow::Result<Vec<SecretString>> {
    let mut secrets: Vec<SecretString> = Vec::new();
    for secret in settings
        .accounts
        .iter()
        .filter_map(|a| a.app_secret.as_ref())
    {
        if !secrets
            .iter()
            .any(|known| known.expose_secret() == secret.expose_secret())
        {
            secrets.push(secret.clone());
        }
    }
    if secrets.is_empty() {
        bail!(
            "[webhook] needs the app secret of the app Meta signs webhooks for: set app-secret on the [[account]]s"
        );
    }
    Ok(secrets)
}

fn destinations(settings: &Settings) -> anyhow::Result<Vec<Destination>> {
    settings
        .webhook
        .forward
        .iter()
        .map(|forward| destination(settings, forward))
        .collect()
}

/// A destination with its account filter: the ids (WABA and phone number) of the named
/// accounts, matched against the body's `"id"` and `"phone_number_id"` values.
fn destination(settings: &Settings, forward: &ForwardSettings) -> anyhow::Result<Destination> {
    let url = reqwest::Url::parse(&forward.url)
        .with_context(|| format!("[[webhook.forward]] {}: bad url", forward.name))?;
    if forward.accounts.is_empty() {
        return Ok(Destination::new(forward.name.clone(), url));
    }
    let mut ids: Vec<String> = Vec::new();
    for name in &forward.accounts {
        let Some(account) = settings.accounts.iter().find(|a| &a.name == name) else {
            bail!(
                "[[webhook.forward]] {}: accounts names {name:?}, which is not an [[account]]",
                forward.name
            );
        };
        let known: Vec<&String> = [&account.business_account_id, &account.phone_number_id]
            .into_iter()
            .flatten()
            .collect();
        if known.is_empty() {
            bail!(
                "[[webhook.forward]] {}: account {name:?} has neither business-account-id nor phone-number-id, so no webhook can be told to be about it",
                forward.name
            );
        }
        ids.extend(known.into_iter().cloned());
    }
    let wants = move |body: &[u8]| ids_in(body).iter().any(|id| ids.contains(id));
    let mut destination = Destination::new(forward.name.clone(), url);
    destination.wants = Some(Arc::new(wants));
    Ok(destination)
}

/// The WABA ids (`entry[].id`, `waba_info.waba_id`) and phone-number ids a body is about.
fn ids_in(body: &[u8]) -> Vec<String> {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Vec::new();
    };
    let mut ids = Vec::new();
    collect_ids(&value, &mut ids);
    ids
}

fn collect_ids(value: &serde_json::Value, ids: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, inner) in map {
                if matches!(key.as_str(), "id" | "waba_id" | "phone_number_id")
                    && let Some(id) = inner.as_str()
                {
                    ids.push(id.to_string());
                }
                collect_ids(inner, ids);
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_ids(v, ids)),
        _ => {}
    }
}

/// The forwarders' HTTP client: rustls, no redirects (a body goes where it was configured).
fn forward_client() -> anyhow::Result<reqwest::Client> {
    crate::graph::install_tls_provider();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10))
        .build()
        .context("cannot set up the webhook forwarders' HTTP client")
}
