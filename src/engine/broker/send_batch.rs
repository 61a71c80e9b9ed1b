//! Proxied sends reach the telemetry hub in batches: handed over one by one, each woke the hub's
//! task, and from the proxy's own threads that is a wake-up of another thread per request
//! (futex, eventfd, a context switch: more than the rest of the counting). The first send of a
//! batch starts a short timer on the runtime it runs on; the sends until then go over together.
//! Each keeps the time it was made, so counts per hour and minute are exact.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;

use crate::engine::telemetry::TelemetryInput;

/// How long the first send of a batch waits for others.
pub const SEND_BATCH_DELAY: Duration = Duration::from_millis(10);

/// Cheap to clone; shared by every thread that reports sends.
#[derive(Clone, Default)]
pub struct SendBatch {
    pending: Arc<Mutex<Vec<TelemetryInput>>>,
}

impl SendBatch {
    /// Queues `input` for `telemetry`; outside a runtime (nothing to time the batch) it goes
    /// at once.
    pub fn push(&self, input: TelemetryInput, telemetry: &UnboundedSender<TelemetryInput>) {
        let first = {
            let mut pending = self.lock();
            pending.push(input);
            pending.len() == 1
        };
        if !first {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.flush(telemetry);
            return;
        };
        let (batch, telemetry) = (self.clone(), telemetry.clone());
        runtime.spawn(async move {
            tokio::time::sleep(SEND_BATCH_DELAY).await;
            batch.flush(&telemetry);
        });
    }

    fn flush(&self, telemetry: &UnboundedSender<TelemetryInput>) {
        let batch = std::mem::take(&mut *self.lock());
        for input in batch {
            let _ = telemetry.send(input);
        }
    }

    /// Plain data: a panic elsewhere while it was held leaves nothing half-written.
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<TelemetryInput>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::telemetry::SentVia;

    fn send(account: &str) -> TelemetryInput {
        TelemetryInput::Send {
            via: SentVia::Proxy,
            account: account.to_string(),
            at: chrono::Utc::now(),
            delivered: true,
            failure_code: None,
            failure_title: None,
        }
    }

    fn accounts(inputs: &mut tokio::sync::mpsc::UnboundedReceiver<TelemetryInput>) -> Vec<String> {
        let mut seen = Vec::new();
        while let Ok(input) = inputs.try_recv() {
            if let TelemetryInput::Send { account, .. } = input {
                seen.push(account);
            }
        }
        seen
    }

    #[tokio::test(start_paused = true)]
    async fn sends_go_over_together_in_order_once_the_first_has_waited() {
        let (telemetry, mut inputs) = tokio::sync::mpsc::unbounded_channel();
        let batch = SendBatch::default();
        batch.push(send("a"), &telemetry);
        batch.push(send("b"), &telemetry);
        tokio::task::yield_now().await;
        assert!(accounts(&mut inputs).is_empty());
        tokio::time::sleep(SEND_BATCH_DELAY * 2).await;
        assert_eq!(accounts(&mut inputs), ["a", "b"]);
        // The next send starts a batch of its own.
        batch.push(send("c"), &telemetry);
        tokio::time::sleep(SEND_BATCH_DELAY * 2).await;
        assert_eq!(accounts(&mut inputs), ["c"]);
    }

    #[test]
    fn outside_a_runtime_a_send_goes_at_once() {
        let (telemetry, mut inputs) = tokio::sync::mpsc::unbounded_channel();
        SendBatch::default().push(send("a"), &telemetry);
        assert_eq!(accounts(&mut inputs), ["a"]);
    }
}
