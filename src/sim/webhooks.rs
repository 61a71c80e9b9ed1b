//! Outgoing webhooks as Meta sends them: after each accepted send the simulator posts signed
//! status webhooks (`sent`, then `delivered` and maybe `read`, or `failed`) to a target URL,
//! batched, concurrent and retried with backoff; account-level events go out on request.

use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use secrecy::SecretString;
use serde_json::Value;
use tokio::sync::watch;

use super::state::now_unix;
use super::webhook_payloads::{MessageFacts, StatusKind, StatusUpdate, status, statuses_body};
use super::webhook_settings::{
    MAX_STATUSES_PER_POST, WebhookError, WebhookSettings, WebhookStats, origin, parse_webhook_url,
};
use crate::webhook::signature::sign;

/// Where webhooks go; the generation tells a retry whether its target is still the current one.
#[derive(Clone)]
struct Target {
    url: reqwest::Url,
    secret: SecretString,
    generation: u64,
}

#[derive(Default)]
struct OutboxState {
    target: Option<Target>,
    /// Statuses that fell due, waiting for the batch window to close.
    batch: Vec<StatusUpdate>,
    /// A flush task is waiting on the window or draining the batch.
    flushing: bool,
}

/// The webhooks in flight: the target, the batch being gathered, the counters.
pub(crate) struct Outbox {
    settings: WebhookSettings,
    app_secret: SecretString,
    state: Mutex<OutboxState>,
    stats: watch::Sender<WebhookStats>,
    generation: watch::Sender<u64>,
    client: OnceLock<Option<reqwest::Client>>,
}

/// The phone a send went out from, as the status webhooks name it.
#[derive(Debug, Clone)]
pub(crate) struct SendingPhone {
    pub waba_id: String,
    pub display_phone_number: String,
    pub phone_number_id: String,
}

/// What happens to one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Failed,
    /// `sent` only: the phone never comes online.
    Silent,
    Delivered,
    Read,
}

impl Fate {
    fn status_count(self) -> u64 {
        match self {
            Fate::Failed | Fate::Silent => 1,
            Fate::Delivered => 2,
            Fate::Read => 3,
        }
    }
}

impl Outbox {
    pub(crate) fn new(settings: WebhookSettings, app_secret: SecretString) -> Outbox {
        Outbox {
            settings,
            app_secret,
            state: Mutex::new(OutboxState::default()),
            stats: watch::Sender::new(WebhookStats::default()),
            generation: watch::Sender::new(0),
            client: OnceLock::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, OutboxState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn stats(&self) -> WebhookStats {
        self.stats.borrow().clone()
    }

    pub(crate) fn target_url(&self) -> Option<String> {
        self.lock().target.as_ref().map(|t| t.url.to_string())
    }

    /// Sets (or with `None` clears) the target. Bodies still being retried for the previous
    /// target are dropped: they were signed for it.
    pub(crate) fn set_target(
        &self,
        url: Option<&str>,
        secret: Option<SecretString>,
    ) -> Result<(), WebhookError> {
        let url = url.map(parse_webhook_url).transpose()?;
        let mut state = self.lock();
        let generation = *self.generation.borrow() + 1;
        state.target = url.map(|url| Target {
            url,
            secret: secret
                .or_else(|| self.settings.secret.clone())
                .unwrap_or_else(|| self.app_secret.clone()),
            generation,
        });
        self.generation.send_replace(generation);
        Ok(())
    }

    /// Waits until no status is scheduled and no body is pending; `false` on timeout.
    pub(crate) async fn wait_idle(&self, timeout: Duration) -> bool {
        let mut stats = self.stats.subscribe();
        let idle = stats.wait_for(|s| s.scheduled == 0 && s.pending == 0);
        matches!(tokio::time::timeout(timeout, idle).await, Ok(Ok(_)))
    }

    /// Schedules the statuses of a send Meta just accepted, when a target is set.
    pub(crate) fn message_accepted(self: &Arc<Self>, phone: SendingPhone, facts: MessageFacts) {
        if self.lock().target.is_none() {
            return;
        }
        let fate = self.draw_fate();
        let count = fate.status_count();
        let cap = self.settings.max_scheduled_statuses;
        let admitted = self.stats.send_if_modified(|s| {
            let fits = s.scheduled + count <= cap;
            if fits {
                s.scheduled += count;
            } else {
                s.dropped_statuses += count;
            }
            fits
        });
        if !admitted {
            tracing::warn!(
                cap,
                "simulated webhooks: too many statuses waiting; dropped some"
            );
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.stats.send_modify(|s| {
                s.scheduled -= count;
                s.dropped_statuses += count;
            });
            return;
        };
        runtime.spawn(Arc::clone(self).play(fate, phone, facts));
    }

    fn draw_fate(&self) -> Fate {
        let percent = |share: u8| rand::random_range(0..100u8) < share;
        if percent(self.settings.failure_percent) {
            Fate::Failed
        } else if percent(self.settings.silent_percent) {
            Fate::Silent
        } else if percent(self.settings.read_percent) {
            Fate::Read
        } else {
            Fate::Delivered
        }
    }

    /// Lets one message's statuses fall due one after the other.
    async fn play(self: Arc<Self>, fate: Fate, phone: SendingPhone, facts: MessageFacts) {
        let settings = &self.settings;
        let update = |kind: StatusKind, with_pricing: bool| StatusUpdate {
            waba_id: phone.waba_id.clone(),
            display_phone_number: phone.display_phone_number.clone(),
            phone_number_id: phone.phone_number_id.clone(),
            status: status(
                &facts,
                kind,
                now_unix(),
                with_pricing,
                settings.failure_code,
            ),
        };
        tokio::time::sleep(settings.sent_after.draw()).await;
        if fate == Fate::Failed {
            self.fall_due(update(StatusKind::Failed, false));
            return;
        }
        self.fall_due(update(StatusKind::Sent, true));
        if fate == Fate::Silent {
            return;
        }
        tokio::time::sleep(settings.delivered_after.draw()).await;
        // Pricing comes on `sent` and on exactly one of delivered/read: here, delivered.
        self.fall_due(update(StatusKind::Delivered, true));
        if fate == Fate::Read {
            tokio::time::sleep(settings.read_after.draw()).await;
            self.fall_due(update(StatusKind::Read, false));
        }
    }

    /// Adds a status to the batch; the first one in starts the window.
    fn fall_due(self: &Arc<Self>, update: StatusUpdate) {
        let start_flush = {
            let mut state = self.lock();
            state.batch.push(update);
            !std::mem::replace(&mut state.flushing, true)
        };
        if start_flush {
            tokio::spawn(Arc::clone(self).flush());
        }
    }

    /// After the window, posts the batch in bodies of at most [`MAX_STATUSES_PER_POST`].
    async fn flush(self: Arc<Self>) {
        if !self.settings.batch_window.is_zero() {
            tokio::time::sleep(self.settings.batch_window).await;
        }
        loop {
            let (chunk, target) = {
                let mut state = self.lock();
                let take = state.batch.len().min(MAX_STATUSES_PER_POST);
                let chunk: Vec<StatusUpdate> = state.batch.drain(..take).collect();
                if chunk.is_empty() {
                    state.flushing = false;
                    return;
                }
                (chunk, state.target.clone())
            };
            let count = chunk.len() as u64;
            let Some(target) = target else {
                self.stats.send_modify(|s| {
                    s.scheduled -= count;
                    s.dropped_statuses += count;
                });
                continue;
            };
            self.stats.send_modify(|s| {
                s.scheduled -= count;
                s.statuses += count;
            });
            self.post(target, &statuses_body(&chunk));
        }
    }

    /// Posts an account-level event to the current target.
    pub(crate) fn post_event(self: &Arc<Self>, body: &Value) -> Result<(), WebhookError> {
        let target = self.lock().target.clone().ok_or(WebhookError::NoTarget)?;
        self.stats.send_modify(|s| s.events += 1);
        self.post(target, body);
        Ok(())
    }

    /// Signs `body` once and delivers it in its own task, so posts run concurrently.
    fn post(self: &Arc<Self>, target: Target, body: &Value) {
        let cap = self.settings.max_pending_posts;
        let admitted = self.stats.send_if_modified(|s| {
            let fits = s.pending < cap;
            if fits {
                s.pending += 1;
                s.posted += 1;
            }
            fits
        });
        if !admitted {
            tracing::warn!(
                cap,
                "simulated webhooks: too many posts unacknowledged; dropped one"
            );
            self.stats.send_modify(|s| s.dropped_posts += 1);
            return;
        }
        let body = Bytes::from(body.to_string());
        let signature = sign(&target.secret, &body);
        tokio::spawn(Arc::clone(self).deliver(target, body, signature));
    }

    /// POSTs until a 2xx, the same bytes and signature every time: at once, then backing off.
    async fn deliver(self: Arc<Self>, target: Target, body: Bytes, signature: String) {
        let started = Instant::now();
        let mut generation = self.generation.subscribe();
        let mut wait = Duration::ZERO;
        let mut retry = false;
        loop {
            self.stats.send_modify(|s| {
                s.attempts += 1;
                s.retried += u64::from(retry);
            });
            match self.attempt(&target, &body, &signature).await {
                Ok(()) => {
                    self.stats.send_modify(|s| {
                        s.pending -= 1;
                        s.acknowledged += 1;
                    });
                    return;
                }
                Err(why) => {
                    tracing::debug!(to = %origin(&target.url), "simulated webhook not taken: {why}")
                }
            }
            if started.elapsed() + wait > self.settings.give_up_after {
                tracing::warn!(to = %origin(&target.url), "simulated webhook given up after retrying");
                return self.give_up();
            }
            let replaced = tokio::select! {
                () = tokio::time::sleep(wait) => false,
                _ = generation.wait_for(|current| *current != target.generation) => true,
            };
            if replaced {
                return self.give_up();
            }
            retry = true;
            wait = next_wait(wait, &self.settings);
        }
    }

    fn give_up(&self) {
        self.stats.send_modify(|s| {
            s.pending -= 1;
            s.dropped_posts += 1;
        });
    }

    async fn attempt(&self, target: &Target, body: &Bytes, signature: &str) -> Result<(), String> {
        let client = self
            .client
            .get_or_init(|| self.build_client())
            .as_ref()
            .ok_or("no HTTP client could be built")?;
        let response = client
            .post(target.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(crate::webhook::signature::SIGNATURE_HEADER, signature)
            .body(body.clone())
            .send()
            .await
            .map_err(|err| err.without_url().to_string())?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!("answered {}", response.status()))
        }
    }

    fn build_client(&self) -> Option<reqwest::Client> {
        crate::graph::install_tls_provider();
        reqwest::Client::builder()
            .timeout(self.settings.request_timeout)
            // Meta's spelling of the headers, for receivers that (wrongly) match case.
            .http1_title_case_headers()
            // A redirect is not a 2xx: Meta retries it like any failure.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|err| tracing::warn!("simulated webhooks: no HTTP client: {err}"))
            .ok()
    }
}

/// Meta's retry schedule: at once, then `retry_initial`, doubling up to `retry_max`.
fn next_wait(wait: Duration, settings: &WebhookSettings) -> Duration {
    if wait.is_zero() {
        settings.retry_initial
    } else {
        wait.saturating_mul(2).min(settings.retry_max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_start_at_once_then_double_up_to_the_cap() {
        let settings = WebhookSettings::default();
        let mut wait = Duration::ZERO;
        let mut waits_secs = Vec::new();
        for _ in 0..9 {
            wait = next_wait(wait, &settings);
            waits_secs.push(wait.as_secs());
        }
        assert_eq!(waits_secs, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
    }
}
