//! The telemetry hub: classifies log lines, keeps pattern and delivery aggregates, and sends
//! them to clients as batched lines and periodic snapshots.
//!
//! Bounded everywhere: lines are batched (only the newest [`MAX_LINES_PER_BATCH`] of a burst
//! are forwarded), aggregates live in fixed minute buckets, and the source channel is bounded
//! so a flood of lines slows the readers, never the engine.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use regex::Regex;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::account_delivery::AccountDelivery;
use super::delivery::{DeliverySource, DeliveryWindows};
use super::failure_bursts::BurstWatch;
use super::line_pacing::LinePacing;
use super::logs::{
    LineBatch, PatternCounts, PatternSet, SourceEvent, StatusOutcome, StatusTracker,
};
use super::totals::Totals;
use super::types::{ClassifiedLine, MessageSource};
use crate::config::{DEFAULT_FAILURE_BURST, PatternRole};
use crate::engine::clock::Clock;
use crate::engine::events::{EngineCommand, EngineEvent};
use crate::graph::DataPoint;

/// Lines forwarded per batch; older lines of a burst are only counted.
pub const MAX_LINES_PER_BATCH: usize = 500;
/// Snapshots are sent at most this often.
const SNAPSHOT_MIN_INTERVAL: Duration = Duration::from_secs(1);
/// Even without news, a snapshot is re-sent this often so windows age visibly.
const SNAPSHOT_REFRESH_INTERVAL: Duration = Duration::from_secs(30);
/// The next snapshot's time when nothing would change in it (a timer far away, not none).
const NOTHING_TO_REFRESH: Duration = Duration::from_secs(365 * 86_400);
/// The summary file for `check` is rewritten at most this often.
const SUMMARY_WRITE_INTERVAL: Duration = Duration::from_secs(10);
/// Capacity of the bounded channel from the log sources.
pub const SOURCE_CHANNEL_CAPACITY: usize = 4096;
/// The windows the delivery rates are reported over.
pub const WINDOWS: [Duration; 3] = [
    Duration::from_secs(15 * 60),
    Duration::from_secs(3600),
    Duration::from_secs(24 * 3600),
];
const SPARKLINE_BUCKETS: usize = 12;
/// Hours of the 24 h delivery-rate line.
const RATE_LINE_BUCKETS: usize = 24;
/// The sources of the 24 h delivery-rate line: the application's own sends. Test sends are
/// too few to draw, and WABA analytics arrive as daily totals.
const RATE_LINE_SOURCES: [DeliverySource; 3] = [
    DeliverySource::Logs,
    DeliverySource::Proxy,
    DeliverySource::Webhooks,
];
const TOP_FAILURES: usize = 5;

/// What the rest of the engine tells the hub.
#[derive(Debug, Clone)]
pub(crate) enum TelemetryInput {
    /// A message send finished: a test send, or one through the Graph API proxy.
    Send {
        via: SentVia,
        account: String,
        at: DateTime<Utc>,
        delivered: bool,
        failure_code: Option<i64>,
        failure_title: Option<String>,
    },
    /// Message statuses from Meta's webhooks, received by the relay.
    WebhookStatuses(Vec<super::logs::WebhookStatus>),
    /// Analytics data points of one account (complete half hours only).
    Analytics {
        account: String,
        points: Vec<DataPoint>,
    },
    /// Proxied sends Meta accepted and did not deliver in time (`wamid_join.rs`).
    ProxyUndelivered(Box<super::wamid_join::ProxyUndelivered>),
    /// The accounts changed (a reload): phone-number id -> account, for webhook statuses.
    PhoneAccounts(HashMap<String, String>),
}

/// Who sent a message tokentop saw the answer to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SentVia {
    TestSend,
    Proxy,
}

/// The hub's state; runs as one task.
pub(crate) struct TelemetryHub {
    patterns: PatternSet,
    counts: PatternCounts,
    windows: DeliveryWindows,
    tracker: StatusTracker,
    events: mpsc::UnboundedSender<EngineEvent>,
    clock: Clock,
    pending: VecDeque<ClassifiedLine>,
    skipped: u64,
    dirty: bool,
    /// Shared names, so 50k held lines do not each own a copy.
    source_names: Vec<Arc<str>>,
    pattern_names: Vec<Arc<str>>,
    /// Sources whose lines are webhook payloads: their statuses count, not their text.
    webhook_sources: Vec<String>,
    /// Where the latest snapshot is written for `tokentop check` (daemon and dashboard only).
    summary: Option<super::summary_file::SummaryFile>,
    last_summary_write: Option<Instant>,
    /// A change was not written to the summary yet (it came within the write interval): a
    /// snapshot is made when the interval ends, not only 30 s later.
    summary_behind: bool,
    /// Exact counts since start (the windows above forget, the line batches skip).
    totals: Totals,
    /// The wamid join's latest counts, once it runs (proxy and relay both on).
    proxy_undelivered: Option<super::wamid_join::ProxyUndelivered>,
    /// The relay's statuses per configured account.
    account_delivery: AccountDelivery,
    /// Failures in bulk per account, for one history row per burst.
    bursts: BurstWatch,
    /// Where a burst goes to be written by its account (none: bursts are not written).
    commands: Option<mpsc::UnboundedSender<EngineCommand>>,
}

/// Meta's errors show up in app logs as "(#131047) ...". A constant pattern: `None` is
/// impossible, and would only mean no codes are extracted.
static META_ERROR_CODE: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"\(#(\d{1,7})\)").ok());

impl TelemetryHub {
    pub fn new(
        patterns: PatternSet,
        events: mpsc::UnboundedSender<EngineEvent>,
        clock: Clock,
        summary_path: Option<std::path::PathBuf>,
        webhook_sources: Vec<String>,
        phone_accounts: HashMap<String, String>,
    ) -> Self {
        let count = patterns.patterns().len();
        let pattern_names = patterns
            .patterns()
            .iter()
            .map(|p| Arc::from(p.name.as_str()))
            .collect();
        Self {
            patterns,
            counts: PatternCounts::new(count),
            windows: DeliveryWindows::new(),
            tracker: StatusTracker::default(),
            events,
            clock,
            pending: VecDeque::new(),
            skipped: 0,
            dirty: true,
            totals: Totals::new(phone_accounts),
            summary: summary_path.map(super::summary_file::SummaryFile::new),
            last_summary_write: None,
            summary_behind: false,
            webhook_sources,
            source_names: Vec::new(),
            pattern_names,
            proxy_undelivered: None,
            account_delivery: AccountDelivery::default(),
            bursts: BurstWatch::new(DEFAULT_FAILURE_BURST),
            commands: None,
        }
    }

    /// Failed webhook statuses of an account reaching `threshold` in one minute (0: never)
    /// become one history row, written by the account through `commands`.
    pub fn report_bursts(
        mut self,
        threshold: u64,
        commands: mpsc::UnboundedSender<EngineCommand>,
    ) -> Self {
        self.bursts = BurstWatch::new(threshold);
        self.commands = Some(commands);
        self
    }

    /// Runs until both input channels are closed.
    pub async fn run(
        mut self,
        mut sources: mpsc::Receiver<SourceEvent>,
        mut inputs: mpsc::UnboundedReceiver<TelemetryInput>,
    ) {
        let mut pacing = LinePacing::new();
        let mut last_snapshot = Instant::now() - SNAPSHOT_MIN_INTERVAL;
        let (mut sources_open, mut inputs_open) = (true, true);
        // Re-sending an unchanged snapshot ages its windows and keeps the summary file fresh;
        // with neither (no data yet, no summary file) it would say nothing new, every 30 s.
        let mut seen_data = false;
        while sources_open || inputs_open {
            let next_snapshot = if self.dirty {
                last_snapshot + SNAPSHOT_MIN_INTERVAL
            } else if let Some(written) = self.last_summary_write.filter(|_| self.summary_behind) {
                (written + SUMMARY_WRITE_INTERVAL).min(last_snapshot + SNAPSHOT_REFRESH_INTERVAL)
            } else if seen_data || self.summary.is_some() {
                last_snapshot + SNAPSHOT_REFRESH_INTERVAL
            } else {
                last_snapshot + NOTHING_TO_REFRESH
            };
            let wake = pacing.due().map_or(next_snapshot, |f| f.min(next_snapshot));
            tokio::select! {
                event = sources.recv(), if sources_open => match event {
                    Some(event) => {
                        seen_data = true;
                        self.on_source_event(event);
                        // What came with it (one read of a file) goes in the same batch.
                        for _ in 0..MAX_LINES_PER_BATCH {
                            let Ok(event) = sources.try_recv() else { break };
                            self.on_source_event(event);
                        }
                        if pacing.lines_arrived(Instant::now()) {
                            pacing.flushed(Instant::now(), self.flush_lines());
                        }
                    }
                    None => sources_open = false,
                },
                input = inputs.recv(), if inputs_open => match input {
                    Some(input) => {
                        seen_data = true;
                        self.on_input(input);
                    }
                    None => inputs_open = false,
                },
                () = tokio::time::sleep_until(wake) => {
                    if pacing.due().is_some_and(|due| due <= Instant::now()) {
                        pacing.flushed(Instant::now(), self.flush_lines());
                    }
                    if Instant::now() >= next_snapshot {
                        // Lines that went into the counts reach clients before the counts do.
                        pacing.flushed(Instant::now(), self.flush_lines());
                        self.send_snapshot();
                        last_snapshot = Instant::now();
                    }
                }
            }
        }
        self.flush_lines();
    }

    pub(crate) fn on_source_event(&mut self, event: SourceEvent) {
        match event {
            SourceEvent::Line(line) => {
                self.on_line(line.source, line.received_at, line.text, line.truncated)
            }
            SourceEvent::Lines(batch) => self.on_lines(batch),
            SourceEvent::Status(status) => self.observe_status(DeliverySource::Logs, &status),
            // Counted as `on_line` counts an unmatched line the batch skips.
            SourceEvent::Unmatched { source, lines } => {
                let source = self.shared_name(source);
                self.totals.record_unmatched_lines(&source, lines);
                self.skipped += lines;
                self.dirty = true;
            }
            SourceEvent::Notice { source, message } => {
                let _ = self
                    .events
                    .send(EngineEvent::SourceNotice { source, message });
            }
        }
    }

    /// A message status (from a `webhook-json` log, or from the relay): counted once per
    /// message as its furthest state, under `source`'s delivery rate.
    fn observe_status(&mut self, source: DeliverySource, status: &super::logs::WebhookStatus) {
        let progress = self.tracker.observe_progress(status);
        let phone = status.phone_number_id.as_deref();
        if let Some(transition) = &progress.outcome {
            self.windows.record_outcome(source, transition);
            self.totals.record_webhook(phone, transition);
            self.dirty = true;
        }
        // Per account from the relay only: the truth source `check` and the fleet view show.
        if source != DeliverySource::Webhooks {
            return;
        }
        let Some(account) = self.totals.account_of(phone).map(str::to_string) else {
            return;
        };
        self.account_delivery.record(&account, status, &progress);
        self.dirty = true;
        if let Some(StatusOutcome::Failed(errors)) = progress.outcome.as_ref().map(|t| &t.outcome) {
            let now = self.clock.now_unix();
            if let Some(burst) = self.bursts.failed(&account, errors, now) {
                self.write_burst(burst);
            }
        }
    }

    /// Bursts whose minute has ended go to their accounts.
    fn close_bursts(&mut self) {
        for burst in self.bursts.tick(self.clock.now_unix()) {
            self.write_burst(burst);
        }
    }

    fn write_burst(&self, burst: super::failure_bursts::FailureBurst) {
        if let Some(commands) = &self.commands {
            let _ = commands.send(EngineCommand::FailureBurst(burst));
        }
    }

    fn on_line(&mut self, source: String, at: DateTime<Utc>, text: String, truncated: bool) {
        let is_webhook = self.webhook_sources.contains(&source);
        let source = self.shared_name(source);
        self.on_text(&source, is_webhook, at, Cow::Owned(text), truncated, true);
    }

    /// A catch-up read's lines, each counted as `on_line` counts it. Of a batch longer than
    /// the line batch the clients get, the older lines would only be pushed out of it by the
    /// newer: they are counted as skipped without being kept first.
    fn on_lines(&mut self, mut batch: LineBatch) {
        let is_webhook = self.webhook_sources.contains(&batch.source);
        let source = self.shared_name(std::mem::take(&mut batch.source));
        let kept_from = batch.len().saturating_sub(MAX_LINES_PER_BATCH);
        for (i, (text, truncated)) in batch.lines().enumerate() {
            let keep = i >= kept_from;
            let text = Cow::Borrowed(text);
            self.on_text(
                &source,
                is_webhook,
                batch.received_at,
                text,
                truncated,
                keep,
            );
        }
    }

    /// Classifies and counts one line; `keep` puts it in the next line batch (else it is
    /// skipped, as the batch would have pushed it out).
    fn on_text(
        &mut self,
        source: &Arc<str>,
        is_webhook: bool,
        at: DateTime<Utc>,
        text: Cow<'_, str>,
        truncated: bool,
        keep: bool,
    ) {
        // A backend that logs its own token must not put it on the screen.
        let text = match crate::mask::mask_meta_tokens(&text) {
            Cow::Borrowed(_) => text,
            Cow::Owned(masked) => Cow::Owned(masked),
        };
        let (mut pattern, mut level, mut line_role) = (None, None, None);
        if let Some(found) = self.patterns.classify(&text) {
            self.counts.record(at, source, &text, &found);
            pattern = self.pattern_names.get(found.index).cloned();
            level = Some(found.level);
            line_role = found.role;
            // A webhook payload's text would double-count what its statuses already say.
            let role = found.role.filter(|_| !is_webhook);
            match role {
                Some(PatternRole::Delivered) => {
                    self.windows.record(DeliverySource::Logs, at, true);
                    self.totals.record_log_outcome(true, None);
                }
                Some(PatternRole::Failed) => {
                    self.windows.record(DeliverySource::Logs, at, false);
                    let code = self.meta_error_code(&text);
                    if let Some(code) = code {
                        self.windows.record_failure_code(at, code, None);
                    }
                    self.totals.record_log_outcome(false, code);
                }
                None => {}
            }
        }
        // Every line counts, matched or not, and before the batch may skip it.
        self.totals.record_line(source, pattern.as_ref(), level);
        self.dirty = true;
        if !keep {
            self.skipped += 1;
            return;
        }
        if self.pending.len() >= MAX_LINES_PER_BATCH {
            self.pending.pop_front();
            self.skipped += 1;
        }
        self.pending.push_back(ClassifiedLine {
            source: source.clone(),
            received_at: at,
            text: text.into_owned().into_boxed_str(),
            truncated,
            pattern,
            level,
            role: line_role,
        });
    }

    /// One allocation per source name, shared by all its lines.
    fn shared_name(&mut self, source: String) -> Arc<str> {
        if let Some(name) = self.source_names.iter().find(|n| ***n == *source) {
            return name.clone();
        }
        let name: Arc<str> = source.into();
        self.source_names.push(name.clone());
        name
    }

    fn meta_error_code(&self, text: &str) -> Option<i64> {
        META_ERROR_CODE
            .as_ref()?
            .captures(text)?
            .get(1)?
            .as_str()
            .parse()
            .ok()
    }

    fn on_input(&mut self, input: TelemetryInput) {
        match input {
            TelemetryInput::WebhookStatuses(statuses) => {
                for status in statuses {
                    self.observe_status(DeliverySource::Webhooks, &status);
                }
                self.close_bursts();
            }
            TelemetryInput::Send {
                via,
                account,
                at,
                delivered,
                failure_code,
                failure_title,
            } => {
                let (window, total) = match via {
                    SentVia::TestSend => (DeliverySource::TestSends, MessageSource::Test),
                    SentVia::Proxy => (DeliverySource::Proxy, MessageSource::Proxy),
                };
                self.windows.record(window, at, delivered);
                self.totals
                    .record_send(total, &account, delivered, failure_code);
                if let Some(code) = failure_code {
                    self.windows.record_failure_code(at, code, failure_title);
                }
            }
            TelemetryInput::Analytics { account, points } => {
                self.record_analytics(&account, &points)
            }
            TelemetryInput::ProxyUndelivered(counts) => self.proxy_undelivered = Some(*counts),
            TelemetryInput::PhoneAccounts(phones) => self.totals.set_phone_accounts(phones),
        }
        self.dirty = true;
    }

    /// Polls overlap: only points not counted before go into the windows and the totals.
    fn record_analytics(&mut self, account: &str, points: &[DataPoint]) {
        for point in self.totals.new_analytics_points(account, points) {
            let at = DateTime::from_timestamp(point.end, 0).unwrap_or_default();
            let failed = point.sent.saturating_sub(point.delivered);
            self.windows
                .record_many(DeliverySource::Analytics, at, point.delivered, failed);
            self.totals
                .record_analytics_point(account, point.delivered, failed);
        }
    }

    /// Forwards the waiting lines; false when there were none.
    pub(crate) fn flush_lines(&mut self) -> bool {
        if self.pending.is_empty() {
            return false;
        }
        let lines: Vec<ClassifiedLine> = self.pending.drain(..).collect();
        let skipped = std::mem::take(&mut self.skipped);
        let _ = self.events.send(EngineEvent::LogLines { lines, skipped });
        true
    }

    fn send_snapshot(&mut self) {
        self.close_bursts();
        let snapshot = self.snapshot(self.clock.now());
        self.dirty = false;
        self.write_summary(&snapshot);
        let _ = self.events.send(EngineEvent::Telemetry(Box::new(snapshot)));
    }
}

#[path = "hub_snapshot.rs"]
mod snapshot;

#[cfg(test)]
#[path = "hub_tests.rs"]
mod tests;
