//! Owned telemetry snapshots the engine sends to clients: classified log lines, pattern and
//! delivery aggregates, phone-number health and rate-limit usage.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::delivery::{DeliverySource, RateSummary};
use crate::config::{PatternLevel, PatternRole};
use crate::graph::{PhoneHealth, Usage};

/// One line from a `[[log]]` source, with the pattern it matched (if any).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassifiedLine {
    /// Shared with every line of the source: the dashboard holds 50k lines.
    pub source: Arc<str>,
    pub received_at: DateTime<Utc>,
    /// Lossy UTF-8, capped at `logs::MAX_LINE_BYTES`; boxed so no spare capacity is kept.
    pub text: Box<str>,
    pub truncated: bool,
    /// Shared with every line the pattern matched.
    pub pattern: Option<Arc<str>>,
    pub level: Option<PatternLevel>,
    pub role: Option<PatternRole>,
}

/// Matches of one pattern over the rolling windows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatternCountRow {
    pub name: String,
    pub level: PatternLevel,
    pub last_15m: u64,
    pub last_1h: u64,
    pub last_24h: u64,
}

/// Matches per level in the last hour.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LevelCounts {
    pub ok: u64,
    pub warn: u64,
    pub error: u64,
}

/// The delivery rate of one source over one window (`None` when nothing was counted).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryRow {
    pub source: DeliverySource,
    pub window_secs: u64,
    pub rate: Option<RateSummary>,
}

/// A failure code seen in webhook statuses or send errors, with its title.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureRow {
    pub code: i64,
    pub title: Option<String>,
    pub count: u64,
}

/// Aggregates over every log source and send, sent about once a second when they change.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TelemetrySnapshot {
    pub at: DateTime<Utc>,
    pub patterns: Vec<PatternCountRow>,
    pub levels_1h: LevelCounts,
    /// Every source × the 15 min, 1 h and 24 h windows.
    pub delivery: Vec<DeliveryRow>,
    /// Delivered + failed from the logs, per 5 minutes over the last hour, oldest first.
    pub delivery_sparkline: Vec<u64>,
    /// Success rate (percent) of the application's own sends (logs and the proxy) per hour
    /// over the last 24 h, oldest first; `None` for an hour without outcomes.
    #[serde(default)]
    pub delivery_rate_24h: Vec<Option<f64>>,
    /// Most frequent failure codes over 24 h, most frequent first.
    pub top_failures: Vec<FailureRow>,
    /// Cumulative counts since start, for counters (summaries written before lack them).
    #[serde(default)]
    pub totals: TelemetryTotals,
    /// Proxied sends not delivered in time, per account; absent unless both the proxy and the
    /// webhook relay run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_undelivered: Option<super::wamid_join::ProxyUndelivered>,
    /// Meta's status webhooks through the relay, per configured account that had some.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub webhook_accounts: BTreeMap<String, WebhookRates>,
}

/// One account's message statuses from Meta's webhooks (the relay's): each message counted
/// once at its furthest state, a `read` without `delivered` as delivered too.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WebhookRates {
    #[serde(rename = "15m")]
    pub last_15m: WebhookWindow,
    #[serde(rename = "1h")]
    pub last_1h: WebhookWindow,
    #[serde(rename = "24h")]
    pub last_24h: WebhookWindow,
    /// Messages by Meta's pricing category (`pricing.category`) since the engine started,
    /// each message once per category; absent categories were not seen.
    pub pricing: BTreeMap<String, u64>,
}

impl WebhookRates {
    /// The window of `window_secs` (15 min, 1 h or 24 h), if it is one of the three.
    pub fn window(&self, window_secs: u64) -> Option<&WebhookWindow> {
        match window_secs {
            900 => Some(&self.last_15m),
            3600 => Some(&self.last_1h),
            86_400 => Some(&self.last_24h),
            _ => None,
        }
    }
}

/// Delivered, read and failed messages inside one window, with the rates they give.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct WebhookWindow {
    pub delivered: u64,
    pub read: u64,
    pub failed: u64,
    /// `delivered / (delivered + failed) * 100`; `null` without outcomes.
    pub delivery_percent: Option<f64>,
    /// `read / delivered * 100`, at most 100 (a message delivered before the window and read
    /// inside it counts as read only); `null` without deliveries.
    pub read_percent: Option<f64>,
}

impl WebhookWindow {
    pub fn from_counts(delivered: u64, read: u64, failed: u64) -> Self {
        let outcomes = delivered.saturating_add(failed);
        Self {
            delivered,
            read,
            failed,
            delivery_percent: (outcomes > 0).then(|| delivered as f64 * 100.0 / outcomes as f64),
            read_percent: (delivered > 0)
                .then(|| (read as f64 * 100.0 / delivered as f64).min(100.0)),
        }
    }

    /// Messages with an outcome (delivered or failed).
    pub fn outcomes(&self) -> u64 {
        self.delivered.saturating_add(self.failed)
    }
}

/// Everything counted since the engine started: exact (no line or outcome is skipped) and
/// bounded in labels. Each vector is sorted by its label fields.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TelemetryTotals {
    /// Every classified log line since start, by source, matching pattern (None = no
    /// pattern) and its level. At most sources × (patterns + 1) rows.
    pub log_lines: Vec<LogLineTotal>,
    /// Every delivery outcome since start. At most (accounts + 1) × 4 sources × 2 rows.
    pub messages: Vec<MessageTotal>,
    /// Every failed message by Meta error code since start, where the code is known. At most
    /// `totals::MAX_FAILURE_CODES_PER_ACCOUNT` codes per account.
    pub failures: Vec<FailureTotal>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLineTotal {
    pub source: String,
    pub pattern: Option<String>,
    pub level: Option<PatternLevel>,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageTotal {
    /// The configured account, when the outcome can be tied to one.
    pub account: Option<String>,
    pub source: MessageSource,
    pub delivered: bool,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureTotal {
    pub account: Option<String>,
    pub code: i64,
    pub count: u64,
}

/// Where a counted delivery outcome was learned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageSource {
    /// Log lines whose pattern has a delivered/failed role.
    Logs,
    /// Statuses from `webhook-json` sources.
    Webhook,
    /// tokentop's own test sends.
    Test,
    /// The WABA's analytics (sent minus delivered counts as failed).
    Waba,
    /// Sends through the Graph API proxy.
    Proxy,
}

impl MessageSource {
    pub const ALL: [MessageSource; 5] = [
        Self::Logs,
        Self::Webhook,
        Self::Test,
        Self::Waba,
        Self::Proxy,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Self::Logs => "logs",
            Self::Webhook => "webhook",
            Self::Test => "test",
            Self::Waba => "waba",
            Self::Proxy => "proxy",
        }
    }
}

/// Phone-number health and rate-limit usage of one account, as last polled.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PhoneSnapshot {
    pub account: String,
    pub checked_at: DateTime<Utc>,
    pub health: Option<PhoneHealth>,
    /// The latest usage headers seen on any call for this account.
    pub usage: Usage,
    /// Why health could not be read (no phone-number id, error from Meta).
    pub error: Option<String>,
    /// Why WABA analytics are not polled, when they are not.
    pub analytics_note: Option<String>,
    /// What Meta said by webhook since this poll; the next poll replaces it with Graph's view.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook: Option<PhoneNews>,
}

impl PhoneSnapshot {
    /// Puts Meta's news into an account's latest snapshot (a bare one when none was polled
    /// yet). Refused, false, when the snapshot's number is another one than the news names
    /// (two accounts on one WABA).
    pub fn take_news(slot: &mut Option<PhoneSnapshot>, news: PhoneNews) -> bool {
        let digits = |n: &str| n.chars().filter(char::is_ascii_digit).collect::<String>();
        let known = slot
            .as_ref()
            .and_then(|s| s.health.as_ref())
            .and_then(|h| h.display_phone_number.as_deref());
        if let (Some(known), Some(said)) = (known, news.display_phone_number.as_deref())
            && digits(known) != digits(said)
        {
            return false;
        }
        let snapshot = slot.get_or_insert_with(|| PhoneSnapshot {
            account: news.account.clone(),
            checked_at: news.at,
            health: None,
            usage: Usage::default(),
            error: None,
            analytics_note: None,
            webhook: None,
        });
        snapshot.webhook = Some(news);
        true
    }
}

/// What Meta said by webhook (`phone_number_quality_update`) about an account's number, shown
/// at once, until the next health poll.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PhoneNews {
    pub account: String,
    /// Meta's word, verbatim: `THROUGHPUT_UPGRADE`, `UPGRADE`, `DOWNGRADE`, `FLAGGED`, ...
    pub event: Option<String>,
    pub current_limit: Option<String>,
    pub old_limit: Option<String>,
    /// Digits only, as Meta names the number.
    pub display_phone_number: Option<String>,
    /// When the relay read it.
    pub at: DateTime<Utc>,
}

impl PhoneNews {
    /// Up (true) or down (false), by the event's word, else by the limits' tiers.
    pub fn raised(&self) -> Option<bool> {
        match self.event.as_deref() {
            Some("UPGRADE" | "THROUGHPUT_UPGRADE" | "UNFLAGGED") => return Some(true),
            Some("DOWNGRADE" | "FLAGGED") => return Some(false),
            _ => {}
        }
        let tier = |limit: Option<&str>| -> Option<u64> {
            match limit? {
                "TIER_UNLIMITED" => Some(u64::MAX),
                other => {
                    let number = other.strip_prefix("TIER_")?;
                    let (digits, scale) = match number.strip_suffix('K') {
                        Some(thousands) => (thousands, 1000),
                        None => (number, 1),
                    };
                    digits.parse::<u64>().ok().map(|n| n * scale)
                }
            }
        };
        let (old, new) = (
            tier(self.old_limit.as_deref())?,
            tier(self.current_limit.as_deref())?,
        );
        (old != new).then_some(new > old)
    }

    /// A downgrade or a flag: worth a history row.
    pub fn is_setback(&self) -> bool {
        self.raised() == Some(false)
    }
}
