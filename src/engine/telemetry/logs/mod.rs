//! Log telemetry: file and command followers, the pattern classifier, status webhooks.
//!
//! Each `[[log]]` source runs as one tokio task that sends [`SourceEvent`]s into a bounded
//! channel; the consumer classifies lines with a [`PatternSet`], counts them in
//! [`PatternCounts`] and feeds webhook statuses through a [`StatusTracker`].

mod batch;
mod catchup;
mod catchup_exact;
mod change;
mod command;
mod counts;
mod emit;
mod file;
mod fingerprint;
mod line;
#[cfg(target_os = "linux")]
mod notifier;
mod patterns;
mod prefilter;
mod pricing;
mod safety;
mod status;
mod webhook;
pub(crate) mod window;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::config::{LogInput, LogSourceSettings};

pub use batch::{LineBatch, MAX_BATCH_LINES, MAX_BATCH_TEXT_BYTES};
pub use catchup::{PARALLEL_MIN_BYTES, classify_file};
pub use change::POLL_INTERVAL;
pub use command::{FIRST_RESTART_DELAY, MAX_QUEUED_EVENTS, MAX_RESTART_DELAY, STABLE_RUN};
pub use counts::{DEFAULT_RECENT_MATCHES, PatternCounts, RecentMatch};
pub use file::{CatchUpSettings, TAIL_LINES};
pub use line::{LineAssembler, LogLine, MAX_LINE_BYTES, RawLine};
pub use patterns::{Match, PatternError, PatternSet, default_patterns};
pub use pricing::{Pricing, PricingCategory};
pub use safety::SAFETY_POLL_INTERVAL;
pub use status::{
    DEFAULT_TRACKED_MESSAGES, OutcomeTransition, StatusOutcome, StatusProgress, StatusTracker,
};
pub use webhook::{DeliveryStatus, StatusError, WebhookStatus, parse_webhook_line, statuses_in};

/// What a log source reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceEvent {
    Line(LogLine),
    /// Lines of a catch-up read the hub must classify (matches, and lines whose text it
    /// changes), in file order: each counts exactly as the same [`SourceEvent::Line`] would.
    Lines(LineBatch),
    /// Complete lines of a catch-up read that matched no pattern, counted but not sent one by
    /// one: none of them is among the newest lines a burst shows (those come as `Line`s).
    Unmatched {
        source: String,
        lines: u64,
    },
    /// A message status from a `webhook-json` source (sent after its line).
    Status(WebhookStatus),
    /// Something about the source itself: rotated, truncated, missing, appeared, command
    /// exited and restarting, lines dropped.
    Notice {
        source: String,
        message: String,
    },
}

/// Starts one task per source, all sending into `tx` (call it inside a tokio runtime).
///
/// Tasks stop when every receiver of `tx` is gone, when `true` is sent on `shutdown`, or
/// when the shutdown sender is dropped. File sources wait for a slow receiver (their data
/// stays on disk); command sources keep reading and drop their oldest queued lines instead,
/// reporting how many in a [`SourceEvent::Notice`].
pub fn spawn_sources(
    sources: &[LogSourceSettings],
    tx: mpsc::Sender<SourceEvent>,
    shutdown: watch::Receiver<bool>,
) -> Vec<JoinHandle<()>> {
    spawn_sources_with(sources, None, tx, shutdown)
}

/// [`spawn_sources`] whose plain-text file sources classify long catch-up reads themselves
/// (on both cores) when `catch_up` is given, sending matching lines and a count of the rest.
///
/// File sources share one safety poll (a thread of its own, not among the handles
/// returned), which ends with them or at shutdown.
pub fn spawn_sources_with(
    sources: &[LogSourceSettings],
    catch_up: Option<CatchUpSettings>,
    tx: mpsc::Sender<SourceEvent>,
    shutdown: watch::Receiver<bool>,
) -> Vec<JoinHandle<()>> {
    let mut safety_slots = Vec::new();
    let tasks = sources
        .iter()
        .map(|source| {
            let emitter = emit::Emitter::new(&source.name, source.format);
            let (tx, shutdown) = (tx.clone(), shutdown.clone());
            match &source.input {
                LogInput::File(path) => {
                    // Webhook payloads must each be parsed for their statuses.
                    let catch_up = catch_up
                        .clone()
                        .filter(|_| source.format != crate::config::LogFormat::WebhookJson);
                    let slot = safety::SafetySlot::new(path);
                    safety_slots.push(std::sync::Arc::downgrade(&slot));
                    let follow =
                        file::follow_file(path.clone(), slot, emitter, catch_up, tx, shutdown);
                    tokio::spawn(follow)
                }
                LogInput::Command(argv) => {
                    tokio::spawn(command::run_command(argv.clone(), emitter, tx, shutdown))
                }
            }
        })
        .collect();
    if !safety_slots.is_empty() {
        safety::start(safety_slots, shutdown);
    }
    tasks
}
