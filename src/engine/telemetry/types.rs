//! Owned telemetry snapshots the engine sends to clients: classified log lines, pattern and
//! delivery aggregates, phone-number health and rate-limit usage.

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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TelemetrySnapshot {
    pub at: DateTime<Utc>,
    pub patterns: Vec<PatternCountRow>,
    pub levels_1h: LevelCounts,
    /// Every source × the 15 min, 1 h and 24 h windows.
    pub delivery: Vec<DeliveryRow>,
    /// Delivered + failed from the logs, per 5 minutes over the last hour, oldest first.
    pub delivery_sparkline: Vec<u64>,
    /// Most frequent failure codes over 24 h, most frequent first.
    pub top_failures: Vec<FailureRow>,
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
}
