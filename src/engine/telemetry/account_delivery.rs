//! Meta's status webhooks per account: delivered, read and failed messages over 15 min / 1 h /
//! 24 h in fixed memory, and pricing categories since start.
//!
//! What counts once is decided by the hub's [`StatusTracker`](super::logs::StatusTracker)
//! (furthest state per wamid); this file only files each [`StatusProgress`] under its
//! account. Accounts are the configured ones, so memory is bounded by the configuration:
//! three minute rings (about 17 KiB) per account that had statuses.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::logs::window::MinuteRing;
use super::logs::{PricingCategory, StatusOutcome, StatusProgress, WebhookStatus};
use super::types::{WebhookRates, WebhookWindow};

/// The windows of [`WebhookRates`]: 15 min, 1 h, 24 h.
const WINDOWS: [Duration; 3] = [
    Duration::from_secs(15 * 60),
    Duration::from_secs(3600),
    Duration::from_secs(24 * 3600),
];

#[derive(Debug, Default)]
struct AccountRings {
    delivered: MinuteRing,
    read: MinuteRing,
    failed: MinuteRing,
    pricing: BTreeMap<PricingCategory, u64>,
}

/// Each account's webhook delivery, read and pricing counts.
#[derive(Debug, Default)]
pub(crate) struct AccountDelivery {
    accounts: HashMap<String, AccountRings>,
}

impl AccountDelivery {
    /// What one status of `account` moved: its outcome at the outcome's time, a first read
    /// at the status's time, a new pricing category.
    pub fn record(&mut self, account: &str, status: &WebhookStatus, progress: &StatusProgress) {
        if progress.outcome.is_none() && !progress.first_read && progress.new_pricing.is_none() {
            return;
        }
        let rings = match self.accounts.get_mut(account) {
            Some(rings) => rings,
            None => self.accounts.entry(account.to_string()).or_default(),
        };
        if let Some(transition) = &progress.outcome {
            let ring = match transition.outcome {
                StatusOutcome::Delivered => &mut rings.delivered,
                StatusOutcome::Failed(_) => &mut rings.failed,
            };
            ring.add(transition.at, 1);
        }
        if progress.first_read {
            let at = DateTime::from_timestamp(status.timestamp, 0).unwrap_or_default();
            rings.read.add(at, 1);
        }
        if let Some(category) = progress.new_pricing {
            *rings.pricing.entry(category).or_default() += 1;
        }
    }

    /// Every account with statuses, at `now`.
    pub fn snapshot(&self, now: DateTime<Utc>) -> BTreeMap<String, WebhookRates> {
        self.accounts
            .iter()
            .map(|(account, rings)| (account.clone(), rates(rings, now)))
            .collect()
    }
}

fn rates(rings: &AccountRings, now: DateTime<Utc>) -> WebhookRates {
    let [last_15m, last_1h, last_24h] = WINDOWS.map(|window| {
        WebhookWindow::from_counts(
            rings.delivered.sum(window, now),
            rings.read.sum(window, now),
            rings.failed.sum(window, now),
        )
    });
    WebhookRates {
        last_15m,
        last_1h,
        last_24h,
        pricing: rings
            .pricing
            .iter()
            .map(|(category, count)| (category.as_str().to_string(), *count))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::telemetry::logs::{StatusTracker, parse_webhook_line};

    const BATCH: &str = include_str!("../../../tests/fixtures/webhook_statuses_batch_mixed.json");
    /// The batch's first number, the shop's; its other numbers are no configured account's.
    const SHOP_PHONE: &str = "530918247716630";

    /// The batch (and Meta's retry of it) through the tracker, the shop's statuses filed.
    fn shop_after_batch_twice() -> AccountDelivery {
        let statuses = parse_webhook_line(BATCH).unwrap();
        let mut tracker = StatusTracker::default();
        let mut delivery = AccountDelivery::default();
        for status in statuses.iter().chain(&statuses) {
            let progress = tracker.observe_progress(status);
            let account = match status.phone_number_id.as_deref() {
                Some(SHOP_PHONE) => "shop",
                _ => "other",
            };
            delivery.record(account, status, &progress);
        }
        delivery
    }

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).unwrap()
    }

    #[test]
    fn each_message_counts_once_at_its_furthest_state() {
        let rates = shop_after_batch_twice().snapshot(at(1_796_376_000));
        // Shop: ...111 sent → delivered → read; ...129 read without delivered.
        let shop = &rates["shop"].last_1h;
        assert_eq!((shop.delivered, shop.read, shop.failed), (2, 2, 0));
        assert_eq!(shop.delivery_percent, Some(100.0));
        assert_eq!(shop.read_percent, Some(100.0));
        // The others: an authentication message delivered twice (counted once), a
        // marketing_lite one read before its delivered came, and a 131047 failure.
        let other = &rates["other"].last_1h;
        assert_eq!((other.delivered, other.read, other.failed), (2, 1, 1));
        let delivery = other.delivery_percent.unwrap();
        assert!((delivery - 200.0 / 3.0).abs() < 1e-9, "{delivery}");
        assert_eq!(other.read_percent, Some(50.0));
        let pricing: Vec<(&str, u64)> = rates["other"]
            .pricing
            .iter()
            .map(|(c, n)| (c.as_str(), *n))
            .collect();
        assert_eq!(pricing, [("authentication", 1), ("marketing_lite", 1)]);
        assert_eq!(
            rates["shop"].pricing.keys().collect::<Vec<_>>(),
            ["marketing", "utility"]
        );
    }

    #[test]
    fn windows_age_by_metas_timestamps() {
        let delivery = shop_after_batch_twice();
        // The batch's statuses are stamped 1_796_375_700 to _988: 20 minutes later only the
        // 1 h and 24 h windows still hold them, a day later none.
        let later = delivery.snapshot(at(1_796_375_988 + 20 * 60));
        let shop = &later["shop"];
        assert_eq!(shop.last_15m, WebhookWindow::default());
        assert_eq!(shop.last_1h.delivered, 2);
        assert_eq!(shop.last_24h.delivered, 2);
        let next_day = delivery.snapshot(at(1_796_375_988 + 25 * 3600));
        assert_eq!(next_day["shop"].last_24h.outcomes(), 0);
        // Pricing counts since start, not per window.
        assert_eq!(next_day["shop"].pricing["marketing"], 1);
    }

    #[test]
    fn a_window_without_deliveries_has_no_rates() {
        let empty = WebhookWindow::from_counts(0, 0, 0);
        assert_eq!((empty.delivery_percent, empty.read_percent), (None, None));
        let failed = WebhookWindow::from_counts(0, 0, 3);
        assert_eq!(failed.delivery_percent, Some(0.0));
        assert_eq!(failed.read_percent, None);
    }
}
