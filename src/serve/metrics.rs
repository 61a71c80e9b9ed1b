//! The Prometheus metrics: families of the `prometheus-client` crate, updated from the
//! engine's events and rendered as Prometheus text (0.0.4) or OpenMetrics.
//!
//! Names and labels are a stable interface, documented in docs/metrics.md. Every label
//! value comes from a bounded set: account names from the config, fixed enums, and Meta error
//! codes capped by the telemetry totals. Nothing unbounded (message ids, texts) is a label.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;

use bytes::Bytes;
use prometheus_client::encoding::{EncodeLabelSet, prometheus_text, text};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::cluster_metrics::ClusterMetrics;
use super::labels::{self, quality_label, status_label, trigger_label};
use super::state_sets::StateSets;
use crate::engine::history::{HistoryEntry, HistoryEvent, Outcome};
use crate::engine::telemetry_types::{PhoneSnapshot, TelemetrySnapshot};
use crate::engine::{AccountSnapshot, EngineEvent};
use crate::graph::{Expiry, RequestCounts};

type FloatGauge = Gauge<f64, AtomicU64>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct AccountLabels {
    account: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    account: String,
    token: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefreshLabels {
    account: String,
    trigger: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GraphLabels {
    endpoint: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MessageLabels {
    account: String,
    source: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailureLabels {
    account: String,
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UsageLabels {
    account: String,
    header: &'static str,
    metric: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LogLineLabels {
    source: String,
    pattern: String,
    level: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabels {
    version: &'static str,
}

/// Buckets of `tokentop_refresh_duration_seconds`, in seconds. Few on purpose: the histogram
/// is per account, and at 1,000 accounts each bucket is 1,000 lines of every scrape.
const REFRESH_DURATION_BUCKETS: [f64; 7] = [0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

fn refresh_duration_histogram() -> Histogram {
    Histogram::new(REFRESH_DURATION_BUCKETS)
}

/// How a scrape wants its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub enum Format {
    /// `text/plain; version=0.0.4`, what Prometheus asks for by default and people read.
    PrometheusText = 0,
    /// `application/openmetrics-text; version=1.0.0`.
    OpenMetrics = 1,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::PrometheusText => prometheus_text::CONTENT_TYPE,
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }

    /// OpenMetrics when the `Accept` header names it, else the Prometheus text format.
    pub fn from_accept(accept: Option<&str>) -> Self {
        match accept {
            Some(accept) if accept.contains("application/openmetrics-text") => Format::OpenMetrics,
            _ => Format::PrometheusText,
        }
    }
}

/// Every metric tokentop exports.
pub struct Metrics {
    registry: Registry,
    token_expiry: Family<TokenLabels, FloatGauge>,
    /// `tokentop_token_state`, `tokentop_phone_quality` and `tokentop_phone_status`.
    state_sets: StateSets,
    token_valid: Family<AccountLabels, Gauge>,
    missing_scopes: Family<AccountLabels, Gauge>,
    refreshes: Family<RefreshLabels, Counter>,
    refresh_duration: Family<AccountLabels, Histogram, fn() -> Histogram>,
    last_success: Family<AccountLabels, Gauge>,
    publish: super::publish_metrics::PublishMetrics,
    info: super::account_info_metrics::AccountInfoMetrics,
    graph_requests: Family<GraphLabels, Counter>,
    messages: Family<MessageLabels, Counter>,
    message_failures: Family<FailureLabels, Counter>,
    rate_limit_usage: Family<UsageLabels, FloatGauge>,
    log_lines: Family<LogLineLabels, Counter>,
    /// Registered with the first cluster status, so a scrape without `[cluster]` is unchanged.
    cluster: Option<ClusterMetrics>,
    webhook: Option<super::webhook_metrics::WebhookMetrics>,
    /// Registered with the first snapshot of the wamid join (proxy and relay both on).
    undelivered: Option<super::undelivered_metrics::UndeliveredMetrics>,
    /// Cumulative totals already added to the counters fed from totals, so that each new
    /// snapshot adds only its growth.
    counted: Counted,
    /// The last gzip rendering of each format, until something changes: an idle daemon
    /// scraped every second (Prometheus asks for gzip) encodes nothing. A plain rendering is
    /// not kept: it is ten times the size (2.4 MB at 1,000 accounts), and plain scrapes are a
    /// person with curl.
    cached: [Option<Bytes>; 2],
    /// The length of the last plain rendering: the next one starts with that much room, so
    /// it is written once instead of through every doubling of its buffer.
    last_len: usize,
}

#[derive(Default)]
struct Counted {
    graph: HashMap<GraphLabels, u64>,
    messages: HashMap<MessageLabels, u64>,
    failures: HashMap<FailureLabels, u64>,
    log_lines: HashMap<LogLineLabels, u64>,
}

impl Metrics {
    /// The metrics of these accounts, each in state `unknown` until its first snapshot.
    pub fn new(accounts: &[String]) -> Self {
        let mut metrics = Self {
            registry: Registry::default(),
            token_expiry: Family::default(),
            state_sets: StateSets::default(),
            token_valid: Family::default(),
            missing_scopes: Family::default(),
            refreshes: Family::default(),
            refresh_duration: Family::new_with_constructor(refresh_duration_histogram),
            last_success: Family::default(),
            publish: Default::default(),
            info: Default::default(),
            graph_requests: Family::default(),
            messages: Family::default(),
            message_failures: Family::default(),
            rate_limit_usage: Family::default(),
            log_lines: Family::default(),
            cluster: None,
            webhook: None,
            undelivered: None,
            counted: Counted::default(),
            cached: [None, None],
            last_len: 0,
        };
        let mut registry = Registry::default();
        metrics.register(&mut registry);
        metrics.registry = registry;
        for account in accounts {
            metrics.state_sets.set_token_state(account, "unknown");
            metrics
                .token_valid
                .get_or_create(&account_labels(account))
                .set(0);
        }
        metrics
    }

    fn register(&self, registry: &mut Registry) {
        let build_info = Family::<VersionLabels, Gauge>::default();
        build_info
            .get_or_create(&VersionLabels {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        registry.register("tokentop_build_info", "tokentop's version", build_info);
        let r = registry;
        r.register(
            "tokentop_token_expiry_timestamp_seconds",
            "When the token expires (unix seconds; +Inf = never); token is access, long_lived or data_access",
            self.token_expiry.clone(),
        );
        r.register(
            "tokentop_token_valid",
            "1 when Meta's last inspection said the access token is valid",
            self.token_valid.clone(),
        );
        r.register(
            "tokentop_token_missing_scopes",
            "Required permissions the access token lacks",
            self.missing_scopes.clone(),
        );
        r.register(
            "tokentop_refreshes",
            "Refreshes by trigger and outcome (ok, failed, skipped)",
            self.refreshes.clone(),
        );
        r.register(
            "tokentop_refresh_duration_seconds",
            "How long refreshes took, exchange to stored",
            self.refresh_duration.clone(),
        );
        r.register(
            "tokentop_last_successful_refresh_timestamp_seconds",
            "When the last refresh by this process succeeded (unix seconds)",
            self.last_success.clone(),
        );
        self.publish.register(r);
        self.info.register(r);
        r.register(
            "tokentop_graph_requests",
            "HTTP requests to the Graph API by endpoint and outcome",
            self.graph_requests.clone(),
        );
        r.register(
            "tokentop_messages",
            "Message outcomes (delivered, failed) by source: logs, webhook, test, waba",
            self.messages.clone(),
        );
        r.register(
            "tokentop_message_failures",
            "Failed messages by Meta error code",
            self.message_failures.clone(),
        );
        r.register(
            "tokentop_rate_limit_usage_ratio",
            "Share of Meta's rate limit used (1 = throttled) from the usage headers",
            self.rate_limit_usage.clone(),
        );
        r.register(
            "tokentop_log_lines",
            "Lines read from the [[log]] sources by matching pattern and level",
            self.log_lines.clone(),
        );
        r.register_collector(Box::new(self.state_sets.clone()));
    }

    /// Applies one engine event.
    pub fn observe(&mut self, event: &EngineEvent) {
        match event {
            EngineEvent::Account(snapshot) => self.account(snapshot),
            EngineEvent::History(entry) => self.history(entry),
            EngineEvent::Phone(phone) => self.phone(phone),
            EngineEvent::Telemetry(snapshot) => self.telemetry(snapshot),
            EngineEvent::Cluster(status) => self
                .cluster
                .get_or_insert_with(|| ClusterMetrics::register(&mut self.registry))
                .observe(status),
            _ => return,
        }
        self.cached = [None, None];
    }

    /// Brings the Graph request counters up to date with the client's totals.
    pub fn graph_requests(&mut self, counts: &RequestCounts) {
        let mut grew = false;
        for (endpoint, outcome, total) in counts.snapshot() {
            let labels = GraphLabels {
                endpoint: endpoint.label(),
                outcome: outcome.label(),
            };
            grew |= add_growth(&self.graph_requests, &mut self.counted.graph, labels, total);
        }
        if grew {
            self.cached = [None, None];
        }
    }

    /// `tokentop_graph_version_sunset_timestamp_seconds{version}`: when Meta stops serving the
    /// configured Graph API version (its last usable day's end), when a date is known.
    pub fn graph_version_sunset(&mut self, version: &str, sunset_unix: i64) {
        #[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
        struct GraphVersionLabels {
            version: String,
        }
        let gauge: Family<GraphVersionLabels, Gauge> = Family::default();
        gauge
            .get_or_create(&GraphVersionLabels {
                version: version.to_string(),
            })
            .set(sunset_unix);
        self.registry.register(
            "tokentop_graph_version_sunset_timestamp_seconds",
            "When Meta stops serving the configured Graph API version (unix seconds; calls are then served by a newer version without an error)",
            gauge,
        );
        self.cached = [None, None];
    }

    /// Brings the webhook relay's families up to date (registered at the first call). The
    /// queue's gauges move without an event, so the exposition is encoded again.
    pub fn webhook_relay(&mut self, stats: &crate::webhook::RelayStats) {
        self.webhook
            .get_or_insert_with(|| {
                super::webhook_metrics::WebhookMetrics::register(&mut self.registry)
            })
            .update(stats);
        self.cached = [None, None];
    }

    /// Registers families kept outside these metrics (the token endpoint's, which its
    /// handlers count into), rendered with the rest.
    pub fn register_outside(&mut self, register: impl FnOnce(&mut Registry)) {
        register(&mut self.registry);
        self.cached = [None, None];
    }

    /// Families registered with [`Self::register_outside`] changed: encode again.
    pub fn outside_changed(&mut self) {
        self.cached = [None, None];
    }

    /// The exposition gzip-compressed, as Prometheus asks for it: at 1,000 accounts a tenth
    /// of the plain size. Compressed again only after a change.
    pub fn render_gzip(&mut self, format: Format) -> Result<Bytes, std::fmt::Error> {
        let slot = format as usize;
        if let Some(cached) = &self.cached[slot] {
            return Ok(cached.clone());
        }
        let plain = self.encode_unordered(format)?;
        let mut encoder = flate2::write::GzEncoder::new(
            Vec::with_capacity(plain.len() / 8),
            flate2::Compression::fast(),
        );
        // In account order: the repeats then lie within gzip's window (a third smaller).
        for line in super::series_order::ordered_lines(&plain) {
            // Writing to a Vec cannot fail; an error here would be an encoder bug.
            std::io::Write::write_all(&mut encoder, line.as_bytes())
                .map_err(|_| std::fmt::Error)?;
        }
        drop(plain);
        let mut compressed = encoder.finish().map_err(|_| std::fmt::Error)?;
        compressed.shrink_to_fit();
        let bytes = Bytes::from(compressed);
        self.cached[slot] = Some(bytes.clone());
        Ok(bytes)
    }

    /// The whole exposition as plain text, its series in account order within each family,
    /// encoded at each call (see `cached`).
    pub fn render(&mut self, format: Format) -> Result<Bytes, std::fmt::Error> {
        let plain = self.encode_unordered(format)?;
        Ok(Bytes::from(super::series_order::ordered(&plain)))
    }

    /// The exposition as the client library writes it (its series in hash order), in memory
    /// no larger than its text.
    fn encode_unordered(&mut self, format: Format) -> Result<String, std::fmt::Error> {
        let room = (self.last_len + self.last_len / 16).max(256 * 1024);
        let mut out = String::with_capacity(room);
        match format {
            Format::PrometheusText => prometheus_text::encode(&mut out, &self.registry)?,
            Format::OpenMetrics => text::encode(&mut out, &self.registry)?,
        }
        out.shrink_to_fit();
        self.last_len = out.len();
        Ok(out)
    }

    /// The gauges of accounts a reload removed go, so no alert fires for an account that
    /// is not there; counters and the rate-limit usage stay until a restart.
    pub fn forget_accounts(&mut self, names: &[String]) {
        for account in names {
            let labels = account_labels(account);
            self.token_valid.remove(&labels);
            self.missing_scopes.remove(&labels);
            self.last_success.remove(&labels);
            self.state_sets.forget(account);
            for token in ["access", "long_lived", "data_access"] {
                let account = account.clone();
                self.token_expiry.remove(&TokenLabels { account, token });
            }
            self.publish.forget(account);
            self.info.forget(account);
        }
        self.cached = [None, None];
    }

    fn account(&mut self, snapshot: &AccountSnapshot) {
        let name = &snapshot.name;
        self.state_sets
            .set_token_state(name, labels::state_label(&snapshot.state));
        let info = snapshot.access.as_ref().map(|i| &i.info);
        let valid = info.is_some_and(|i| i.is_valid);
        self.token_valid
            .get_or_create(&account_labels(name))
            .set(i64::from(valid));
        let missing = i64::try_from(snapshot.missing_scopes.len()).unwrap_or(i64::MAX);
        self.missing_scopes
            .get_or_create(&account_labels(name))
            .set(missing);
        let long_lived = snapshot.long_lived.as_deref().map(|i| i.info.expiry());
        let expiries = [
            ("access", info.map(|i| i.expiry())),
            ("long_lived", long_lived),
            ("data_access", info.map(|i| i.data_access_expiry())),
        ];
        for (token, expiry) in expiries {
            let labels = TokenLabels {
                account: name.clone(),
                token,
            };
            match expiry {
                Some(Expiry::At(at)) => {
                    // Unix seconds are exact in an f64 for 285 million years.
                    self.token_expiry.get_or_create(&labels).set(at as f64);
                }
                Some(Expiry::Never) => {
                    self.token_expiry.get_or_create(&labels).set(f64::INFINITY);
                }
                Some(Expiry::Unknown) | None => {
                    self.token_expiry.remove(&labels);
                }
            }
        }
        self.publish.account(snapshot);
        self.info.account(snapshot);
    }

    fn history(&mut self, entry: &HistoryEntry) {
        let account = entry.account.clone();
        match entry.event() {
            HistoryEvent::Refresh => {
                let labels = RefreshLabels {
                    account: account.clone(),
                    trigger: trigger_label(&entry.cause),
                    outcome: labels::outcome_label(entry.outcome),
                };
                self.refreshes.get_or_create(&labels).inc();
                if entry.outcome == Outcome::Skipped {
                    return;
                }
                let labels = account_labels(&account);
                if let Some(ms) = entry.latency_ms {
                    // Milliseconds of a refresh are far below 2^53: exact in an f64.
                    let seconds = ms as f64 / 1000.0;
                    self.refresh_duration
                        .get_or_create(&labels)
                        .observe(seconds);
                }
                if entry.outcome == Outcome::Ok {
                    let at = entry.time.timestamp();
                    self.last_success.get_or_create(&labels).set(at);
                }
            }
            HistoryEvent::Publish if entry.outcome == Outcome::Failed => {
                self.publish.failed_publish(entry);
            }
            _ => {}
        }
    }

    fn phone(&mut self, phone: &PhoneSnapshot) {
        let account = &phone.account;
        if let Some(health) = &phone.health {
            let quality = quality_label(health.quality_rating.as_deref());
            let status = status_label(health.status.as_deref());
            self.state_sets.set_phone(account, quality, status);
        }
        for (header, metric, percent) in labels::usage_percents(&phone.usage) {
            let labels = UsageLabels {
                account: account.clone(),
                header,
                metric,
            };
            let ratio = f64::from(percent) / 100.0;
            self.rate_limit_usage.get_or_create(&labels).set(ratio);
        }
    }

    fn telemetry(&mut self, snapshot: &TelemetrySnapshot) {
        if let Some(counts) = &snapshot.proxy_undelivered {
            let registry = &mut self.registry;
            self.undelivered
                .get_or_insert_with(|| {
                    super::undelivered_metrics::UndeliveredMetrics::register(registry)
                })
                .update(counts);
        }
        let totals = &snapshot.totals;
        for line in &totals.log_lines {
            let labels = LogLineLabels {
                source: line.source.clone(),
                pattern: line.pattern.clone().unwrap_or_default(),
                level: labels::level_label(line.level),
            };
            add_growth(
                &self.log_lines,
                &mut self.counted.log_lines,
                labels,
                line.count,
            );
        }
        for message in &totals.messages {
            let labels = MessageLabels {
                account: message.account.clone().unwrap_or_default(),
                source: message.source.label(),
                outcome: if message.delivered {
                    "delivered"
                } else {
                    "failed"
                },
            };
            add_growth(
                &self.messages,
                &mut self.counted.messages,
                labels,
                message.count,
            );
        }
        for failure in &totals.failures {
            let labels = FailureLabels {
                account: failure.account.clone().unwrap_or_default(),
                code: failure.code.to_string(),
            };
            let (family, counted) = (&self.message_failures, &mut self.counted.failures);
            add_growth(family, counted, labels, failure.count);
        }
    }
}

pub(super) fn account_labels(account: &str) -> AccountLabels {
    AccountLabels {
        account: account.to_string(),
    }
}

/// Adds to a counter what a cumulative total grew by since the last call; true if it grew
/// (or the series is new).
pub(super) fn add_growth<L>(
    family: &Family<L, Counter>,
    counted: &mut HashMap<L, u64>,
    labels: L,
    total: u64,
) -> bool
where
    L: Clone + std::hash::Hash + Eq + EncodeLabelSet + std::fmt::Debug,
{
    let new = !counted.contains_key(&labels);
    let before = counted.entry(labels.clone()).or_insert(0);
    let growth = total.saturating_sub(*before);
    *before = (*before).max(total);
    // Created even at zero, so a series exists from the first scrape on and `increase()`
    // sees its first messages.
    let counter = family.get_or_create(&labels);
    if growth > 0 {
        counter.inc_by(growth);
    }
    new || growth > 0
}
