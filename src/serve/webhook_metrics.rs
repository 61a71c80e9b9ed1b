//! The webhook relay's metrics, registered with the first scrape that has a relay (so a
//! scrape without `[webhook]` is unchanged): requests by result, handshakes, forwards by
//! destination and outcome, the queue's depth and fill, and Meta's statuses, failures and
//! pricing categories per account.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::metrics::add_growth;
use crate::webhook::RelayStats;
use crate::webhook::server::PostResult;

type FloatGauge = Gauge<f64, AtomicU64>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    account: String,
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PricingLabels {
    account: String,
    category: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailureLabels {
    account: String,
    code: String,
}

/// Seconds from Meta's `sent` to its `delivered`: most in seconds, some after hours (a phone
/// that was off).
const DELIVERY_BUCKETS: [f64; 10] = [
    1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 21600.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DestinationLabels {
    destination: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ForwardLabels {
    destination: String,
    outcome: &'static str,
}

/// The relay's families, registered in the metrics' registry.
pub struct WebhookMetrics {
    requests: Family<ResultLabels, Counter>,
    handshakes: Family<ResultLabels, Counter>,
    forwards: Family<ForwardLabels, Counter>,
    depth: Family<DestinationLabels, Gauge>,
    queued_bytes: Family<DestinationLabels, Gauge>,
    fill: FloatGauge,
    statuses: Family<StatusLabels, Counter>,
    failures: Family<FailureLabels, Counter>,
    pricing: Family<PricingLabels, Counter>,
    delivery: Histogram,
    unread: Counter,
    counted_unread: u64,
    counted_statuses: HashMap<StatusLabels, u64>,
    counted_failures: HashMap<FailureLabels, u64>,
    counted_pricing: HashMap<PricingLabels, u64>,
    counted_requests: HashMap<ResultLabels, u64>,
    counted_handshakes: HashMap<ResultLabels, u64>,
    counted_forwards: HashMap<ForwardLabels, u64>,
}

impl WebhookMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            requests: Family::default(),
            handshakes: Family::default(),
            forwards: Family::default(),
            depth: Family::default(),
            queued_bytes: Family::default(),
            fill: FloatGauge::default(),
            statuses: Family::default(),
            failures: Family::default(),
            pricing: Family::default(),
            delivery: Histogram::new(DELIVERY_BUCKETS),
            unread: Counter::default(),
            counted_unread: 0,
            counted_statuses: HashMap::new(),
            counted_failures: HashMap::new(),
            counted_pricing: HashMap::new(),
            counted_requests: HashMap::new(),
            counted_handshakes: HashMap::new(),
            counted_forwards: HashMap::new(),
        };
        registry.register(
            "tokentop_webhook_requests",
            "Webhook POSTs from Meta by result: ok, duplicate (Meta's retry, not queued again), bad_signature, too_large, queue_full, incomplete, store_failed",
            metrics.requests.clone(),
        );
        registry.register(
            "tokentop_webhook_handshakes",
            "Meta's verification handshakes by result: ok or refused",
            metrics.handshakes.clone(),
        );
        registry.register(
            "tokentop_webhook_forward",
            "Forward attempts by destination and outcome: delivered, failed (retried), not_wanted (not about its accounts)",
            metrics.forwards.clone(),
        );
        registry.register(
            "tokentop_webhook_queue_depth",
            "Webhooks stored but not yet acknowledged by each destination",
            metrics.depth.clone(),
        );
        registry.register(
            "tokentop_webhook_queue_bytes",
            "Bytes stored but not yet acknowledged by each destination",
            metrics.queued_bytes.clone(),
        );
        registry.register(
            "tokentop_webhook_queue_fill_ratio",
            "Bytes the furthest-behind destination has not acknowledged, over [webhook] max-queue (at 1 new webhooks get 503)",
            metrics.fill.clone(),
        );
        registry.register(
            "tokentop_webhook_statuses",
            "Message statuses from Meta's webhooks by account (by phone-number id; unknown for other numbers) and status; each message's status counted once",
            metrics.statuses.clone(),
        );
        registry.register(
            "tokentop_webhook_failures",
            "Failed statuses by account and Meta's error code",
            metrics.failures.clone(),
        );
        registry.register(
            "tokentop_webhook_pricing",
            "Messages by account and Meta's pricing category (pricing.category; other for a category this version does not know), each message once per category",
            metrics.pricing.clone(),
        );
        registry.register(
            "tokentop_webhook_delivery_seconds",
            "Time from a message's sent status to its delivered (or read) status, by Meta's timestamps",
            metrics.delivery.clone(),
        );
        registry.register(
            "tokentop_webhook_unread",
            "Stored webhooks forwarded but not read for statuses and account events, because the reader was behind a flood",
            metrics.unread.clone(),
        );
        metrics
    }

    /// Brings every family up to date with the relay's numbers.
    pub fn update(&mut self, stats: &RelayStats) {
        for result in PostResult::ALL {
            let labels = ResultLabels {
                result: result.as_str(),
            };
            let total = stats.requests.posts(result);
            add_growth(&self.requests, &mut self.counted_requests, labels, total);
        }
        let handshakes = [
            ("ok", &stats.requests.handshakes_ok),
            ("refused", &stats.requests.handshakes_refused),
        ];
        for (result, total) in handshakes {
            let total = total.load(Ordering::Relaxed);
            let labels = ResultLabels { result };
            add_growth(
                &self.handshakes,
                &mut self.counted_handshakes,
                labels,
                total,
            );
        }
        for (destination, outcome, total) in stats.forwards.snapshot() {
            let labels = ForwardLabels {
                destination,
                outcome,
            };
            add_growth(&self.forwards, &mut self.counted_forwards, labels, total);
        }
        for depth in stats.queue.depth() {
            let labels = DestinationLabels {
                destination: depth.destination,
            };
            let saturate = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
            self.depth
                .get_or_create(&labels)
                .set(saturate(depth.entries));
            self.queued_bytes
                .get_or_create(&labels)
                .set(saturate(depth.bytes));
        }
        self.fill.set(stats.queue.fill_ratio());
        let unread = stats.unread.total();
        self.unread
            .inc_by(unread.saturating_sub(self.counted_unread));
        self.counted_unread = self.counted_unread.max(unread);
        let mut counts = stats
            .statuses
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for ((account, status), total) in &counts.statuses {
            let labels = StatusLabels {
                account: account.clone(),
                status,
            };
            add_growth(&self.statuses, &mut self.counted_statuses, labels, *total);
        }
        for ((account, code), total) in &counts.failures {
            let labels = FailureLabels {
                account: account.clone(),
                code: code.to_string(),
            };
            add_growth(&self.failures, &mut self.counted_failures, labels, *total);
        }
        for ((account, category), total) in &counts.pricing {
            let labels = PricingLabels {
                account: account.clone(),
                category: category.as_str(),
            };
            add_growth(&self.pricing, &mut self.counted_pricing, labels, *total);
        }
        for secs in counts.take_delivery_secs() {
            self.delivery.observe(secs);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    use crate::engine::telemetry::logs::parse_webhook_line;
    use crate::serve::{Format, Metrics};
    use crate::webhook::RelayStats;
    use crate::webhook::queue::{QueueOptions, WebhookQueue};
    use crate::webhook::status_counts::StatusCounts;

    const BATCH: &str = include_str!("../../tests/fixtures/webhook_statuses_batch_mixed.json");

    #[tokio::test]
    async fn pricing_categories_are_counted_per_account_each_message_once() {
        let dir = tempfile::tempdir().unwrap();
        let queue = WebhookQueue::open(QueueOptions::new(
            dir.path().join("webhooks"),
            1 << 20,
            vec!["app".to_string()],
        ))
        .await
        .unwrap();
        let phones = HashMap::from([("530918247716630".to_string(), "shop".to_string())]);
        let stats = RelayStats {
            requests: Arc::default(),
            forwards: Arc::default(),
            queue,
            statuses: Arc::new(Mutex::new(StatusCounts::new(phones))),
            unread: Arc::default(),
        };
        let statuses = parse_webhook_line(BATCH).unwrap();
        let scrape = |metrics: &mut Metrics| {
            metrics.webhook_relay(&stats);
            let body = metrics.render(Format::PrometheusText).unwrap();
            String::from_utf8(body.to_vec()).unwrap()
        };
        let mut metrics = Metrics::new(&["shop".to_string()]);
        stats.statuses.lock().unwrap().observe(&statuses);
        let first = scrape(&mut metrics);
        // Meta's retry of the batch between two scrapes adds nothing.
        stats.statuses.lock().unwrap().observe(&statuses);
        let second = scrape(&mut metrics);
        let pricing = |text: &str| -> Vec<String> {
            let mut lines: Vec<String> = text
                .lines()
                .filter(|l| l.starts_with("tokentop_webhook_pricing_total{"))
                .map(str::to_string)
                .collect();
            lines.sort();
            lines
        };
        assert_eq!(
            pricing(&second),
            [
                r#"tokentop_webhook_pricing_total{account="shop",category="marketing"} 1"#,
                r#"tokentop_webhook_pricing_total{account="shop",category="utility"} 1"#,
                r#"tokentop_webhook_pricing_total{account="unknown",category="authentication"} 1"#,
                r#"tokentop_webhook_pricing_total{account="unknown",category="marketing_lite"} 1"#,
            ]
            .map(str::to_string),
            "{second}"
        );
        assert_eq!(pricing(&first), pricing(&second));
        assert!(
            second.contains("# TYPE tokentop_webhook_pricing_total counter"),
            "{second}"
        );
    }
}
