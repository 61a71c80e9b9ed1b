//! The token engine: accounts (`account/`), schedule, store and its write path (`token_write`),
//! history, publish, sends, and the telemetry beside them (`telemetry/`).
//!
//! Started once per process with [`Engine::start`]. Clients (the dashboard and every headless
//! command) send [`EngineCommand`]s through the [`EngineHandle`] and read [`EngineEvent`]s
//! carrying owned snapshots. Nothing here knows about the terminal.

mod account;
pub mod accounts_diff;
pub mod broker;
pub mod clock;
pub mod consumers;
pub mod coordinator;
pub(crate) mod directory;
pub mod events;
pub mod fs;
pub mod history;
mod inspector;
pub mod publish;
pub mod reload;
mod revocations;
pub mod schedule;
pub mod send_rows;
mod sends;
pub mod source;
pub mod spread;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod token_class;
pub mod urgency;

// The telemetry modules keep their engine-level paths for clients and tests.
pub use telemetry::{delivery, health, logs, types as telemetry_types};

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

pub use account::LOG_NOT_CONFIGURED;
pub use account::reauth_hint;
pub use account::{LOG_REFRESH_FAILED, LOG_REFRESHED};
pub use clock::Clock;
pub use events::{
    AccessChange, EngineCommand, EngineEvent, RefreshError, RefreshReport, RequestId, SendReport,
};
pub use sends::{LOG_EXPIRED_ATTEMPTING, LOG_EXPIRING_REFRESHING};
pub use source::TokenSource;
pub use state::{AccountSnapshot, Inspection, TokenState};
pub use token_class::TokenClass;

use account::spawn_account;
use account::{AccountLink, AccountMsg, Shared};
use directory::{AccountDirectory, DirectoryEntry, DirectoryWatch};
use history::HistoryLog;
use history::cause::Trigger;

use crate::config::Settings;

/// How an engine runs.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Refresh on schedule. Off for one-shot commands that must only look (`check`).
    pub auto_refresh: bool,
    /// Inspect every `check-interval`. Off for one-shot commands.
    pub periodic_checks: bool,
    /// Follow the `[[log]]` sources.
    pub log_sources: bool,
    /// Phone-number health and analytics polling.
    pub health: HealthPolling,
    /// Keep `<data dir>/telemetry.json` current for one-shot `check` runs.
    pub write_summary: bool,
    pub clock: Clock,
    /// Leases and the token store; `None` for the data dir alone (one host).
    pub coordinator: Option<Arc<dyn coordinator::Coordinator>>,
}

/// How often phone health (and analytics, at most every 15 min) are polled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthPolling {
    Off,
    /// Once at start (`check`).
    Once,
    /// Every `check-interval`.
    Periodic,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            auto_refresh: true,
            periodic_checks: true,
            log_sources: true,
            health: HealthPolling::Periodic,
            write_summary: true,
            clock: Clock::System,
            coordinator: None,
        }
    }
}

/// The client side of a running engine: send commands with it.
#[derive(Clone)]
pub struct EngineHandle {
    commands: mpsc::UnboundedSender<EngineCommand>,
    broker: broker::TokenBroker,
    /// Into the telemetry hub: statuses the webhook relay received.
    telemetry: mpsc::UnboundedSender<telemetry::TelemetryInput>,
}

impl EngineHandle {
    /// Lends tokens to a sender outside the engine (the Graph API proxy).
    pub fn token_broker(&self) -> broker::TokenBroker {
        self.broker.clone()
    }

    /// Counts message statuses from Meta's webhooks (the relay's) under their own delivery
    /// source, each message's furthest state once, as statuses from `webhook-json` logs are.
    /// False when the engine has stopped.
    pub fn report_webhook_statuses(&self, statuses: Vec<logs::WebhookStatus>) -> bool {
        if let Some(feed) = self.broker.wamid_feed() {
            let resolving: Vec<(String, logs::DeliveryStatus)> = statuses
                .iter()
                .filter(|s| s.status != logs::DeliveryStatus::Sent)
                .map(|s| (s.message_id.clone(), s.status))
                .collect();
            if !resolving.is_empty() {
                let _ = feed.send(telemetry::wamid_join::JoinInput::Statuses(resolving));
            }
        }
        self.telemetry
            .send(telemetry::TelemetryInput::WebhookStatuses(statuses))
            .is_ok()
    }

    /// Joins the proxy's accepted sends with the relay's statuses by wamid: call once both
    /// run. A send without `delivered`, `read` or `failed` after `undelivered_after` counts as
    /// undelivered in the telemetry snapshot (`proxy_undelivered`).
    pub fn join_proxied_sends(&self, undelivered_after: Duration) {
        self.broker.start_wamid_join(undelivered_after);
    }

    /// Sends a command; returns false when the engine has stopped.
    pub fn send(&self, command: EngineCommand) -> bool {
        self.commands.send(command).is_ok()
    }
}

/// Starting point of the engine.
pub struct Engine;

impl Engine {
    /// Starts one actor per account and the command router. Events arrive on the returned
    /// receiver until [`EngineEvent::Stopped`].
    pub fn start(
        settings: &Settings,
        source: Arc<dyn TokenSource>,
        options: EngineOptions,
    ) -> (EngineHandle, mpsc::UnboundedReceiver<EngineEvent>) {
        let (event_tx, event_rx) = mpsc::unbounded_channel();
        let (command_tx, command_rx) = mpsc::unbounded_channel();
        let (telemetry_tx, telemetry_rx) = mpsc::unbounded_channel();
        let coordinator = options.coordinator.clone().unwrap_or_else(|| {
            Arc::new(coordinator::local::LocalCoordinator::new(
                &settings.data_dir,
            ))
        });
        let notices = coordinator.take_notices();
        let shared = Arc::new(Shared {
            inspector: inspector::Inspector::spawn(source.clone()),
            source,
            policy: settings.refresh.clone(),
            clock: options.clock.clone(),
            coordinator,
            history: HistoryLog::new(&settings.data_dir),
            data_dir: settings.data_dir.clone(),
            events: event_tx.clone(),
            telemetry: telemetry_tx.clone(),
            poll_permits: Arc::new(tokio::sync::Semaphore::new(health::CONCURRENT_POLLS)),
            auto_refresh: options.auto_refresh,
            revocations: revocations::Revocations::load(&settings.data_dir),
            serve: settings.serve.clone(),
        });
        let stop_sources = start_telemetry(
            settings,
            &options,
            (event_tx, command_tx.clone()),
            telemetry_rx,
        );
        let mut entries = Vec::with_capacity(settings.accounts.len());
        let mut tasks = HashMap::with_capacity(settings.accounts.len());
        for account in &settings.accounts {
            let (link, task) = spawn_account(shared.clone(), account.clone());
            tasks.insert(account.name.clone(), task);
            entries.push(DirectoryEntry::new(link));
        }
        let slices = spread::Slices::new(spread::slot_count(settings.refresh.check_interval));
        let directory = AccountDirectory::new(entries, slices);
        let (directory, directory_rx) = watch::channel(Arc::new(directory));
        let mut pollers = Vec::new();
        // One poller for every account, so that their phone reads share batch requests.
        if options.health != HealthPolling::Off {
            pollers.push(tokio::spawn(health::poll_accounts(
                directory_rx.clone(),
                shared.clone(),
                telemetry_tx.clone(),
                settings.refresh.check_interval,
                options.health == HealthPolling::Once,
            )));
        }
        if let Some(notices) = notices {
            tokio::spawn(route_notices(
                notices,
                directory_rx.clone(),
                shared.events.clone(),
            ));
        }
        let broker = broker::TokenBroker::new(directory_rx, shared.clone());
        if !settings.account_files.invalid.is_empty() {
            // The files skipped at start, for the clients that show them.
            let change = reload::AccountsChange {
                accounts: settings.accounts.clone(),
                invalid_files: settings.account_files.invalid.clone(),
                ..reload::AccountsChange::default()
            };
            let _ = shared
                .events
                .send(EngineEvent::AccountsChanged(Box::new(change)));
        }
        let router = Router {
            shared,
            directory,
            tasks,
            stopping: Vec::new(),
            pollers,
            stop_sources,
        };
        let check_interval = options
            .periodic_checks
            .then_some(settings.refresh.check_interval);
        tokio::spawn(router.run(command_rx, check_interval));
        (
            EngineHandle {
                commands: command_tx,
                broker,
                telemetry: telemetry_tx,
            },
            event_rx,
        )
    }
}

/// Routes commands to account actors and runs the periodic inspection.
struct Router {
    shared: Arc<Shared>,
    /// The running accounts, followed by the poller, the notices and the broker.
    directory: watch::Sender<Arc<AccountDirectory>>,
    /// Each running account's actor task, by name.
    tasks: HashMap<String, JoinHandle<()>>,
    /// Actors of removed accounts, finishing an in-flight refresh.
    stopping: Vec<JoinHandle<()>>,
    pollers: Vec<JoinHandle<()>>,
    stop_sources: watch::Sender<bool>,
}

/// Starts the log sources and the telemetry hub; returns the switch that stops the sources.
fn start_telemetry(
    settings: &Settings,
    options: &EngineOptions,
    (events, commands): (
        mpsc::UnboundedSender<EngineEvent>,
        mpsc::UnboundedSender<EngineCommand>,
    ),
    inputs: mpsc::UnboundedReceiver<telemetry::TelemetryInput>,
) -> watch::Sender<bool> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let (source_tx, source_rx) = mpsc::channel(telemetry::SOURCE_CHANNEL_CAPACITY);
    let patterns = match logs::PatternSet::new(&settings.patterns) {
        Ok(patterns) => patterns,
        Err(err) => {
            // Config validation compiles every regex first, so this is a defensive fallback.
            let _ = events.send(EngineEvent::Alert {
                account: String::new(),
                message: err.to_string(),
            });
            return stop_tx;
        }
    };
    if options.log_sources {
        let catch_up = logs::CatchUpSettings {
            patterns: std::sync::Arc::new(patterns.clone()),
            min_bytes: logs::PARALLEL_MIN_BYTES,
        };
        logs::spawn_sources_with(&settings.logs, Some(catch_up), source_tx, stop_rx);
    }
    let summary = options
        .write_summary
        .then(|| settings.data_dir.join(TELEMETRY_SUMMARY_FILE));
    let webhook_sources = settings
        .logs
        .iter()
        .filter(|l| l.format == crate::config::LogFormat::WebhookJson)
        .map(|l| l.name.clone())
        .collect();
    let phone_accounts = phone_accounts(settings.accounts.iter().map(AsRef::as_ref));
    let hub = telemetry::TelemetryHub::new(
        patterns,
        events,
        options.clock.clone(),
        summary,
        webhook_sources,
        phone_accounts,
    )
    .report_bursts(settings.webhook.failure_burst, commands);
    tokio::spawn(hub.run(source_rx, inputs));
    stop_tx
}

/// Phone-number id -> account name, for the statuses of Meta's webhooks.
fn phone_accounts<'a>(
    accounts: impl IntoIterator<Item = &'a crate::config::AccountSettings>,
) -> HashMap<String, String> {
    let mut phone_accounts = HashMap::new();
    for account in accounts {
        if let Some(phone) = &account.phone_number_id {
            // Two accounts on one number: its statuses count for the first.
            phone_accounts
                .entry(phone.clone())
                .or_insert_with(|| account.name.clone());
        }
    }
    phone_accounts
}

/// The latest telemetry snapshot of a running daemon or dashboard, for `check`.
pub const TELEMETRY_SUMMARY_FILE: &str = "telemetry.json";

impl Router {
    async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<EngineCommand>,
        check_interval: Option<Duration>,
    ) {
        // Routine re-inspections, one slice of the accounts at a time (`spread.rs`); their
        // first inspection was at start.
        let slots = self.current().slices().slots();
        let now = tokio::time::Instant::now();
        let mut rotation =
            check_interval.map(|i| spread::Rotation::new(now, i, slots, rand::random::<f64>()));
        loop {
            let next_check = rotation.as_ref().map(spread::Rotation::next_at);
            let timer = async {
                match next_check {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                command = commands.recv() => match command {
                    None | Some(EngineCommand::Shutdown) => break,
                    Some(EngineCommand::ApplyAccounts(update)) => self.apply_accounts(*update).await,
                    Some(command) => self.dispatch(command),
                },
                () = timer => {
                    let now = tokio::time::Instant::now();
                    while let Some(slot) = rotation.as_mut().and_then(|r| r.due(now)) {
                        self.recheck_slot(slot);
                    }
                }
            }
        }
        let _ = self.stop_sources.send(true);
        for poller in &self.pollers {
            poller.abort();
        }
        for link in self.current().links() {
            let _ = link.tx.send(AccountMsg::Shutdown);
        }
        // Each actor finishes its in-flight refresh (and persists it) before it reads Shutdown.
        for task in self.tasks.into_values().chain(self.stopping) {
            let _ = task.await;
        }
        let _ = self.shared.events.send(EngineEvent::Stopped);
    }

    /// Re-inspects the accounts of one slice of the check-interval.
    fn recheck_slot(&self, slot: usize) {
        let current = self.current();
        for &index in current.in_slot(slot) {
            if let Some(entry) = current.entries().get(index) {
                let _ = entry.link.tx.send(AccountMsg::Recheck);
            }
        }
    }

    fn dispatch(&self, command: EngineCommand) {
        match command {
            EngineCommand::Recheck { account } => {
                self.for_accounts(account.as_deref(), |link| {
                    let _ = link.tx.send(AccountMsg::Recheck);
                });
            }
            EngineCommand::ForceRefresh {
                account,
                request_id,
            } => {
                self.for_accounts(account.as_deref(), |link| {
                    tokio::spawn(forced_refresh(
                        link.clone(),
                        self.shared.clone(),
                        request_id,
                    ));
                });
                self.report_unknown(account.as_deref(), request_id);
            }
            EngineCommand::SendTest {
                account,
                to,
                request_id,
            } => match self.current().link(&account) {
                Some(link) => {
                    tokio::spawn(send_test(link.clone(), self.shared.clone(), to, request_id));
                }
                None => {
                    let error = Some(self.current().unknown_account(&account));
                    let report = SendReport::not_accepted(&account, to, error);
                    let _ = self
                        .shared
                        .events
                        .send(EngineEvent::SendFinished { request_id, report });
                }
            },
            EngineCommand::AccountAccess { waba_id, change } => {
                let mut matched = false;
                for link in self.current().links() {
                    if link.settings.business_account_id.as_deref() == Some(waba_id.as_str()) {
                        matched = true;
                        let _ = link.tx.send(AccountMsg::Access(change.clone()));
                    }
                }
                if !matched {
                    tracing::info!(
                        "Meta's account_update about WABA {waba_id} names no [[account]] (business-account-id): nothing to change"
                    );
                }
            }
            EngineCommand::PhoneNews { waba_id, news } => self.phone_news(&waba_id, news),
            EngineCommand::FailureBurst(burst) => {
                self.for_accounts(Some(&burst.account.clone()), |link| {
                    let _ = link
                        .tx
                        .send(AccountMsg::FailureBurst(Box::new(burst.clone())));
                });
            }
            EngineCommand::Ping { request_id } => {
                let _ = self.shared.events.send(EngineEvent::Pong { request_id });
            }
            EngineCommand::ApplyAccounts(_) | EngineCommand::Shutdown => {}
        }
    }

    /// Meta's phone news to the clients of the WABA's accounts, at once; a downgrade or a flag
    /// also gets a history row.
    fn phone_news(&self, waba_id: &str, news: telemetry_types::PhoneNews) {
        let at = self.shared.clock.now();
        let mut matched = false;
        for link in self.current().links() {
            if link.settings.business_account_id.as_deref() != Some(waba_id) {
                continue;
            }
            matched = true;
            let news = telemetry_types::PhoneNews {
                account: link.settings.name.clone(),
                at,
                ..news.clone()
            };
            if news.is_setback() {
                let mut entry = history::HistoryEntry::new(
                    &news.account,
                    history::cause::AlertKind::PhoneQuality,
                    history::Outcome::Failed,
                );
                entry.detail = Some(phone_news_words(&news));
                self.shared.record(entry);
            }
            let _ = self
                .shared
                .events
                .send(EngineEvent::PhoneNews(Box::new(news)));
        }
        if !matched {
            tracing::info!(
                "Meta's phone_number_quality_update about WABA {waba_id} names no [[account]] (business-account-id): not shown"
            );
        }
    }

    /// The running accounts now (the directory is only replaced by the router itself).
    fn current(&self) -> Arc<AccountDirectory> {
        self.directory.borrow().clone()
    }

    fn for_accounts(&self, account: Option<&str>, f: impl FnMut(&AccountLink)) {
        let current = self.current();
        match account {
            Some(name) => current.link(name).into_iter().for_each(f),
            None => current.links().for_each(f),
        }
    }

    fn report_unknown(&self, account: Option<&str>, request_id: RequestId) {
        let current = self.current();
        if let Some(name) = account
            && current.get(name).is_none()
        {
            let message = current.unknown_account(name);
            let report = RefreshReport {
                account: name.to_string(),
                ok: false,
                error: Some(RefreshError::local(
                    &message,
                    "name one of the configured accounts (`tokentop config check` lists them)",
                )),
                message,
                new_expires_at: None,
                failed_steps: Vec::new(),
            };
            let _ = self
                .shared
                .events
                .send(EngineEvent::RefreshFinished { request_id, report });
        }
    }
}

/// "Meta said by webhook: FLAGGED, messaging limit TIER_250 (was TIER_1K)".
fn phone_news_words(news: &telemetry_types::PhoneNews) -> String {
    let mut words = format!(
        "Meta said by webhook: {}",
        news.event.as_deref().unwrap_or("a new messaging limit")
    );
    if let Some(limit) = &news.current_limit {
        words.push_str(&format!(", messaging limit {limit}"));
    }
    if let Some(old) = &news.old_limit {
        words.push_str(&format!(" (was {old})"));
    }
    words
}

/// Hands a shared coordinator's notices to the accounts (a token changed) and the clients
/// (the cluster's status).
async fn route_notices(
    mut notices: mpsc::UnboundedReceiver<coordinator::CoordinatorNotice>,
    directory: DirectoryWatch,
    events: mpsc::UnboundedSender<EngineEvent>,
) {
    use coordinator::CoordinatorNotice;
    while let Some(notice) = notices.recv().await {
        let current = directory.borrow().clone();
        match notice {
            CoordinatorNotice::TokenChanged { account } => {
                if let Some(link) = current.link(&account) {
                    let _ = link.tx.send(AccountMsg::StoreChanged);
                }
            }
            CoordinatorNotice::Resync => {
                for link in current.links() {
                    let _ = link.tx.send(AccountMsg::StoreChanged);
                }
            }
            CoordinatorNotice::Status(status) => {
                if events.send(EngineEvent::Cluster(Box::new(status))).is_err() {
                    break;
                }
            }
        }
    }
}

async fn forced_refresh(link: AccountLink, shared: Arc<Shared>, request_id: RequestId) {
    let result = link.refresh(Trigger::Forced, None).await;
    let report = match result {
        Ok(done) => RefreshReport {
            account: link.settings.name.clone(),
            ok: done.problems.is_empty(),
            message: done.message,
            new_expires_at: Some(
                done.expires_at
                    .map_or(crate::graph::Expiry::Never, crate::graph::Expiry::At),
            ),
            error: None,
            failed_steps: done.problems,
        },
        Err(failure) => RefreshReport {
            account: link.settings.name.clone(),
            ok: false,
            message: failure.message.clone(),
            new_expires_at: None,
            error: Some(failure),
            failed_steps: Vec::new(),
        },
    };
    let _ = shared
        .events
        .send(EngineEvent::RefreshFinished { request_id, report });
}

async fn send_test(
    link: AccountLink,
    shared: Arc<Shared>,
    to: Option<String>,
    request_id: RequestId,
) {
    let report = match sends::test_message(&link, to.as_deref()) {
        Ok(message) => {
            let (report, entry) = sends::send_guarded(
                &link,
                shared.source.as_ref(),
                &shared.policy,
                &shared.clock,
                &message,
            )
            .await;
            shared.record(entry);
            let _ = shared.telemetry.send(telemetry::TelemetryInput::Send {
                via: telemetry::SentVia::TestSend,
                account: link.settings.name.clone(),
                at: shared.clock.now(),
                delivered: report.accepted,
                failure_code: report.error_code,
                failure_title: report.error_title.clone(),
            });
            report
        }
        Err(reason) => SendReport::not_accepted(&link.settings.name, to, Some(reason)),
    };
    let _ = shared
        .events
        .send(EngineEvent::SendFinished { request_id, report });
}
