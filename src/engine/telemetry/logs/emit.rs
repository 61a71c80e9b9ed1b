//! Turning raw lines into source events, and sending them without outliving shutdown.

use std::sync::Arc;

use chrono::Utc;
use tokio::sync::{Semaphore, mpsc, watch};

use super::batch::LineBatch;
use super::line::RawLine;
use super::webhook::parse_webhook_line;
use super::{LogLine, SourceEvent};
use crate::config::LogFormat;

/// Why a source task stops: the consumer went away or shutdown was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stop;

/// Per-source conversion of lines into events.
#[derive(Debug)]
pub(crate) struct Emitter {
    pub source: String,
    format: LogFormat,
    bad_json_reported: bool,
}

impl Emitter {
    pub fn new(source: &str, format: LogFormat) -> Self {
        Self {
            source: source.to_string(),
            format,
            bad_json_reported: false,
        }
    }

    /// The line itself, then (for webhook sources) its statuses.
    pub fn line_events(&mut self, raw: RawLine, out: &mut impl FnMut(SourceEvent)) {
        let (text, truncated) = raw.into_text();
        let parsed = (self.format == LogFormat::WebhookJson && !text.trim().is_empty())
            .then(|| parse_webhook_line(&text));
        out(SourceEvent::Line(LogLine {
            source: self.source.clone(),
            received_at: Utc::now(),
            text,
            truncated,
        }));
        match parsed {
            Some(Ok(statuses)) => statuses
                .into_iter()
                .for_each(|s| out(SourceEvent::Status(s))),
            // Reported once: a source that is not webhook JSON at all would flood otherwise.
            Some(Err(reason)) if !self.bad_json_reported => {
                self.bad_json_reported = true;
                out(self.notice(format!(
                    "a line is not a webhook payload ({reason}); further such lines are not reported"
                )));
            }
            _ => {}
        }
    }

    pub fn notice(&self, message: impl Into<String>) -> SourceEvent {
        SourceEvent::Notice {
            source: self.source.clone(),
            message: message.into(),
        }
    }
}

/// Sends one event, giving up when the receiver is closed or shutdown is asked for.
pub(crate) async fn send(
    tx: &mpsc::Sender<SourceEvent>,
    shutdown: &mut watch::Receiver<bool>,
    event: SourceEvent,
) -> Result<(), Stop> {
    tokio::select! {
        sent = tx.send(event) => sent.map_err(|_| Stop),
        () = stopped(shutdown) => Err(Stop),
    }
}

/// Sends a batch of lines once one of `slots` is free, which the batch holds until the hub
/// drops it; gives up as [`send`] does.
pub(crate) async fn send_batch(
    tx: &mpsc::Sender<SourceEvent>,
    shutdown: &mut watch::Receiver<bool>,
    slots: &Arc<Semaphore>,
    mut batch: LineBatch,
) -> Result<(), Stop> {
    let slot = tokio::select! {
        slot = slots.clone().acquire_owned() => slot.map_err(|_| Stop)?,
        () = stopped(shutdown) => return Err(Stop),
    };
    batch.hold(slot);
    send(tx, shutdown, SourceEvent::Lines(batch)).await
}

/// Resolves once shutdown is `true` or its sender is gone.
pub(crate) async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    loop {
        if *shutdown.borrow_and_update() {
            return;
        }
        if shutdown.changed().await.is_err() {
            return;
        }
    }
}

/// Sleeps for `duration` unless shutdown comes first.
pub(crate) async fn sleep(
    duration: std::time::Duration,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<(), Stop> {
    tokio::select! {
        () = tokio::time::sleep(duration) => Ok(()),
        () = stopped(shutdown) => Err(Stop),
    }
}
