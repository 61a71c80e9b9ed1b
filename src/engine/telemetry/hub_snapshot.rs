//! The hub's snapshot: the aggregates at a moment, as clients and `/status` get them, and the
//! summary file that one-shot `check` runs read.

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use super::super::delivery::DeliverySource;
use super::super::types::{
    DeliveryRow, FailureRow, LevelCounts, PatternCountRow, TelemetrySnapshot,
};
use super::{
    RATE_LINE_BUCKETS, RATE_LINE_SOURCES, SPARKLINE_BUCKETS, SUMMARY_WRITE_INTERVAL, TOP_FAILURES,
    TelemetryHub, WINDOWS,
};
use crate::config::PatternLevel;

impl TelemetryHub {
    /// Writes the snapshot for one-shot `check` runs, at most every [`SUMMARY_WRITE_INTERVAL`];
    /// content already in the file is only renewed (`summary_file.rs`).
    pub(super) fn write_summary(&mut self, snapshot: &TelemetrySnapshot) {
        let Some(summary) = &self.summary else {
            return;
        };
        if self
            .last_summary_write
            .is_some_and(|at| at.elapsed() < SUMMARY_WRITE_INTERVAL)
        {
            self.summary_behind = true;
            return;
        }
        self.summary_behind = false;
        self.last_summary_write = Some(Instant::now());
        let Ok(text) = serde_json::to_vec(snapshot) else {
            return;
        };
        if let Some(write) = summary.offer(text, snapshot.at) {
            // The fsyncs can take milliseconds: not on the runtime's worker threads, which
            // also answer the proxy's requests and the scrapes.
            tokio::task::spawn_blocking(move || write.run());
        }
    }

    /// The aggregates at `now`.
    pub fn snapshot(&self, now: DateTime<Utc>) -> TelemetrySnapshot {
        let [w15m, w1h, w24h] = WINDOWS;
        let patterns = self
            .patterns
            .patterns()
            .iter()
            .enumerate()
            .map(|(i, def)| PatternCountRow {
                name: def.name.clone(),
                level: def.level,
                last_15m: self.counts.pattern_count(i, w15m, now),
                last_1h: self.counts.pattern_count(i, w1h, now),
                last_24h: self.counts.pattern_count(i, w24h, now),
            })
            .collect();
        let levels_1h = LevelCounts {
            ok: self.counts.level_count(PatternLevel::Ok, w1h, now),
            warn: self.counts.level_count(PatternLevel::Warn, w1h, now),
            error: self.counts.level_count(PatternLevel::Error, w1h, now),
        };
        let delivery = DeliverySource::ALL
            .iter()
            .flat_map(|source| {
                WINDOWS.iter().map(move |window| DeliveryRow {
                    source: *source,
                    window_secs: window.as_secs(),
                    rate: self.windows.rate(*source, *window, now),
                })
            })
            .collect();
        let top_failures = self
            .windows
            .top_failure_codes(w24h, now, TOP_FAILURES)
            .into_iter()
            .map(|(code, title, count)| FailureRow { code, title, count })
            .collect();
        TelemetrySnapshot {
            at: now,
            patterns,
            levels_1h,
            delivery,
            delivery_sparkline: self.windows.sparkline(
                DeliverySource::Logs,
                SPARKLINE_BUCKETS,
                w1h,
                now,
            ),
            delivery_rate_24h: self.windows.rate_series(
                &RATE_LINE_SOURCES,
                RATE_LINE_BUCKETS,
                w24h,
                now,
            ),
            top_failures,
            totals: self.totals.snapshot(),
            proxy_undelivered: self.proxy_undelivered.clone(),
            webhook_accounts: self.account_delivery.snapshot(now),
        }
    }
}
