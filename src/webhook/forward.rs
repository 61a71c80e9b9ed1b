//! Fan-out of queued webhooks to their destinations (a stand-in while it is written).

use std::sync::Arc;
use std::time::Duration;

use super::queue::WebhookQueue;

pub struct Destination {
    pub name: String,
    pub url: reqwest::Url,
    pub wants: Option<Arc<dyn Fn(&[u8]) -> bool + Send + Sync>>,
}

pub enum ForwardOutcome {
    Delivered { status: u16 },
    NotWanted,
    Failed { reason: String, retry_in: Duration },
}

pub struct ForwardReport {
    pub destination: String,
    pub seq: u64,
    pub outcome: ForwardOutcome,
}

pub async fn run(
    _queue: WebhookQueue,
    _destination: Destination,
    _client: reqwest::Client,
    _reports: tokio::sync::mpsc::UnboundedSender<ForwardReport>,
    _stop: tokio::sync::watch::Receiver<bool>,
) {
}
