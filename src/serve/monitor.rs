//! The monitor task: owns the metrics and the live status, applies the engine's events to
//! them, and answers the HTTP handlers' queries with owned values.

use tokio::sync::{mpsc, oneshot};

use super::account_set_metrics::AccountSetMetrics;
use super::metrics::{Format, Metrics};
use super::status::LiveStatus;
use crate::config::Settings;
use crate::engine::history::HistoryEntry;
use crate::engine::{EngineCommand, EngineEvent, EngineHandle, RequestId};
use crate::graph::{RequestCounts, ServedVersions};
use crate::report::CheckReport;

/// Health checks waiting for their pong; more than this and the oldest is answered "no".
const MAX_PENDING_PINGS: usize = 64;

/// What a handler asks.
pub enum Query {
    /// The exposition in `Format`, gzip-compressed when the flag says so.
    Metrics(
        Format,
        bool,
        oneshot::Sender<Result<bytes::Bytes, std::fmt::Error>>,
    ),
    Status(oneshot::Sender<Box<CheckReport>>),
    /// `Ok` when ready, else the accounts still waiting for their first inspection.
    Ready(oneshot::Sender<Result<(), Vec<String>>>),
    /// Answered when the engine's pong comes back.
    Health(oneshot::Sender<()>),
}

enum MonitorMsg {
    Event(EngineEvent),
    Query(Query),
}

/// The handlers' and the tee's way to the monitor task.
#[derive(Clone)]
pub struct MonitorLink {
    tx: mpsc::UnboundedSender<MonitorMsg>,
}

impl MonitorLink {
    /// Asks the monitor; `None` when it has stopped or dropped the question.
    pub async fn ask<T>(&self, query: impl FnOnce(oneshot::Sender<T>) -> Query) -> Option<T> {
        let (reply, answer) = oneshot::channel();
        self.tx.send(MonitorMsg::Query(query(reply))).ok()?;
        answer.await.ok()
    }
}

struct Monitor {
    /// `tokentop_accounts`, `tokentop_account_files_invalid`.
    account_set: AccountSetMetrics,
    metrics: Metrics,
    status: LiveStatus,
    engine: EngineHandle,
    graph_requests: Option<RequestCounts>,
    relay: Option<crate::webhook::RelayStats>,
    token_reads: Option<super::token_metrics::TokenReadMetrics>,
    pending_pings: Vec<(RequestId, oneshot::Sender<()>)>,
    next_ping: RequestId,
}

/// What the Graph client records for the metrics and the status, when there is one.
pub struct GraphRecords {
    pub requests: Option<RequestCounts>,
    pub served_versions: Option<ServedVersions>,
}

pub fn spawn(
    settings: Settings,
    history: Vec<HistoryEntry>,
    engine: EngineHandle,
    graph: GraphRecords,
    relay: Option<crate::webhook::RelayStats>,
    token_reads: Option<super::token_metrics::TokenReadMetrics>,
) -> MonitorLink {
    let names: Vec<String> = settings.accounts.iter().map(|a| a.name.clone()).collect();
    let mut metrics = Metrics::new(&names);
    let configured = &settings.graph;
    let sunset = crate::graph::versions::sunset_of(&configured.version, &configured.sunsets);
    // The end of the last usable day.
    if let Some(end) = sunset.and_then(|day| day.and_hms_opt(23, 59, 59)) {
        metrics.graph_version_sunset(&configured.version, end.and_utc().timestamp());
    }
    // The last refresh before a restart is when the last successful one happened.
    for entry in &history {
        metrics.observe(&EngineEvent::History(Box::new(entry.clone())));
    }
    if let Some(reads) = &token_reads {
        metrics.register_outside(|registry| reads.register(registry));
    }
    let account_set = AccountSetMetrics::new(&settings);
    metrics.register_outside(|registry| account_set.register(registry));
    let mut status = LiveStatus::new(settings, history);
    if let Some(served) = graph.served_versions {
        status.watch_served_versions(served);
    }
    let monitor = Monitor {
        account_set,
        metrics,
        status,
        engine,
        graph_requests: graph.requests,
        relay,
        token_reads,
        pending_pings: Vec::new(),
        next_ping: 1,
    };
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(monitor.run(rx));
    MonitorLink { tx }
}

/// Forwards every engine event to the returned receiver, and the ones the monitor needs to
/// the monitor too. Keeps feeding the monitor after the reader has gone.
pub fn tee(
    mut events: mpsc::UnboundedReceiver<EngineEvent>,
    monitor: MonitorLink,
) -> mpsc::UnboundedReceiver<EngineEvent> {
    let (out, reader) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            if matters_to_monitor(&event) {
                let _ = monitor.tx.send(MonitorMsg::Event(event.clone()));
            }
            let _ = out.send(event);
        }
    });
    reader
}

fn matters_to_monitor(event: &EngineEvent) -> bool {
    matches!(
        event,
        EngineEvent::Account(_)
            | EngineEvent::History(_)
            | EngineEvent::Phone(_)
            | EngineEvent::PhoneNews(_)
            | EngineEvent::Telemetry(_)
            | EngineEvent::Cluster(_)
            | EngineEvent::AccountsChanged(_)
            | EngineEvent::Pong { .. }
    )
}

impl Monitor {
    async fn run(mut self, mut inbox: mpsc::UnboundedReceiver<MonitorMsg>) {
        while let Some(message) = inbox.recv().await {
            match message {
                MonitorMsg::Event(event) => self.event(&event),
                MonitorMsg::Query(query) => self.answer(query),
            }
        }
    }

    fn event(&mut self, event: &EngineEvent) {
        if let EngineEvent::Pong { request_id } = event {
            let (answered, waiting) = std::mem::take(&mut self.pending_pings)
                .into_iter()
                .partition(|(id, _)| id <= request_id);
            self.pending_pings = waiting;
            for (_, reply) in answered {
                let _ = reply.send(());
            }
            return;
        }
        if self.account_set.follow(event, &mut self.metrics) {
            // A removed account's stopping actor may still send: its series stay gone.
            self.status.observe(event);
            return;
        }
        self.metrics.observe(event);
        self.status.observe(event);
    }

    fn answer(&mut self, query: Query) {
        match query {
            Query::Metrics(format, gzip, reply) => {
                if let Some(counts) = &self.graph_requests {
                    self.metrics.graph_requests(counts);
                }
                if let Some(relay) = &self.relay {
                    self.metrics.webhook_relay(relay);
                }
                if self.token_reads.as_ref().is_some_and(|r| r.take_changed()) {
                    self.metrics.outside_changed();
                }
                let body = if gzip {
                    self.metrics.render_gzip(format)
                } else {
                    self.metrics.render(format)
                };
                let _ = reply.send(body);
            }
            Query::Status(reply) => {
                let _ = reply.send(Box::new(self.status.report(chrono::Utc::now())));
            }
            Query::Ready(reply) => {
                let answer = if self.status.ready() {
                    Ok(())
                } else {
                    Err(self
                        .status
                        .waiting_for()
                        .into_iter()
                        .map(String::from)
                        .collect())
                };
                let _ = reply.send(answer);
            }
            Query::Health(reply) => self.ping(reply),
        }
    }

    fn ping(&mut self, reply: oneshot::Sender<()>) {
        let request_id = self.next_ping;
        self.next_ping = self.next_ping.wrapping_add(1);
        // A stopped engine drops `reply` here: the probe answers 503 at once.
        if !self.engine.send(EngineCommand::Ping { request_id }) {
            return;
        }
        if self.pending_pings.len() >= MAX_PENDING_PINGS {
            // Dropping the oldest answers its probe with "no answer" at once.
            self.pending_pings.remove(0);
        }
        self.pending_pings.push((request_id, reply));
    }
}
