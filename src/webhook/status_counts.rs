//! The relay's count of Meta's message statuses per account: each (wamid, status) once, however
//! often Meta sends it, failures by error code, pricing categories (each (wamid, category)
//! once), and the time from `sent` to `delivered` (by Meta's own timestamps). Memory is
//! bounded by constants, not by traffic.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use crate::engine::telemetry::logs::{DeliveryStatus, PricingCategory, WebhookStatus};

/// What was counted of a message: a status, or a pricing category (Meta repeats the pricing
/// on `sent` and on one of `delivered` / `read`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Counted {
    Status(DeliveryStatus),
    Priced(PricingCategory),
}

/// (wamid, status) and (wamid, category) pairs remembered to count each once; older ones may
/// count again.
const SEEN_CAPACITY: usize = 200_000;
/// Messages whose `sent` time is remembered until their delivery.
const SENT_CAPACITY: usize = 100_000;
/// Delivery times waiting for the next scrape; past it the oldest are dropped (and counted).
const PENDING_CAPACITY: usize = 100_000;
/// The account label of a status whose phone number no `[[account]]` has.
pub const UNKNOWN_ACCOUNT: &str = "unknown";

/// Counts for `/metrics`; updated by the relay, read at scrape time.
#[derive(Debug, Default)]
pub struct StatusCounts {
    accounts_by_phone: HashMap<String, String>,
    seen: HashSet<(String, Counted)>,
    seen_order: VecDeque<(String, Counted)>,
    sent_at: HashMap<String, i64>,
    sent_order: VecDeque<String>,
    /// (account, status word) -> statuses counted.
    pub statuses: BTreeMap<(String, &'static str), u64>,
    /// (account, Meta's error code) -> failed statuses.
    pub failures: BTreeMap<(String, i64), u64>,
    /// (account, pricing category) -> messages Meta priced so.
    pub pricing: BTreeMap<(String, PricingCategory), u64>,
    /// Seconds from `sent` to `delivered` (or `read` without it), not yet taken by a scrape.
    pending_delivery_secs: VecDeque<f64>,
    /// Delivery times dropped because no scrape took them in time.
    pub dropped_delivery_times: u64,
}

impl StatusCounts {
    /// Counts for the accounts' phone numbers (`phone-number-id` -> account name).
    pub fn new(accounts_by_phone: HashMap<String, String>) -> Self {
        Self {
            accounts_by_phone,
            ..Self::default()
        }
    }

    /// Counts the statuses of one stored body.
    pub fn observe(&mut self, statuses: &[WebhookStatus]) {
        for status in statuses {
            if let Some(pricing) = &status.pricing
                && self.first_time(&status.message_id, Counted::Priced(pricing.category))
            {
                let account = self.account_of(status);
                *self.pricing.entry((account, pricing.category)).or_default() += 1;
            }
            if !self.first_time(&status.message_id, Counted::Status(status.status)) {
                continue;
            }
            let account = self.account_of(status);
            for error in &status.errors {
                *self
                    .failures
                    .entry((account.clone(), error.code))
                    .or_default() += 1;
            }
            *self
                .statuses
                .entry((account, status.status.as_str()))
                .or_default() += 1;
            self.time_delivery(status);
        }
    }

    /// The delivery times observed since the last call.
    pub fn take_delivery_secs(&mut self) -> Vec<f64> {
        self.pending_delivery_secs.drain(..).collect()
    }

    /// The configured account of the status's phone number, or [`UNKNOWN_ACCOUNT`].
    fn account_of(&self, status: &WebhookStatus) -> String {
        status
            .phone_number_id
            .as_ref()
            .and_then(|phone| self.accounts_by_phone.get(phone))
            .map_or(UNKNOWN_ACCOUNT, String::as_str)
            .to_string()
    }

    fn first_time(&mut self, wamid: &str, counted: Counted) -> bool {
        let key = (wamid.to_string(), counted);
        if !self.seen.insert(key.clone()) {
            return false;
        }
        self.seen_order.push_back(key);
        if self.seen_order.len() > SEEN_CAPACITY
            && let Some(oldest) = self.seen_order.pop_front()
        {
            self.seen.remove(&oldest);
        }
        true
    }

    /// `sent` starts the clock; the first `delivered` (or a `read` or `played` that came
    /// without one) stops it.
    fn time_delivery(&mut self, status: &WebhookStatus) {
        match status.status {
            DeliveryStatus::Sent => {
                if self
                    .sent_at
                    .insert(status.message_id.clone(), status.timestamp)
                    .is_none()
                {
                    self.sent_order.push_back(status.message_id.clone());
                }
                if self.sent_order.len() > SENT_CAPACITY
                    && let Some(oldest) = self.sent_order.pop_front()
                {
                    self.sent_at.remove(&oldest);
                }
            }
            status_word if status_word.counts_as_delivered() => {
                if let Some(sent) = self.sent_at.remove(&status.message_id) {
                    let secs = status.timestamp.saturating_sub(sent).max(0);
                    self.pending_delivery_secs.push_back(secs as f64);
                    if self.pending_delivery_secs.len() > PENDING_CAPACITY {
                        self.pending_delivery_secs.pop_front();
                        self.dropped_delivery_times += 1;
                    }
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::telemetry::logs::parse_webhook_line;

    const BATCH: &str = include_str!("../../tests/fixtures/webhook_statuses_batch_mixed.json");

    #[test]
    fn each_status_of_a_message_counts_once_and_delivery_is_timed_from_sent() {
        let statuses = parse_webhook_line(BATCH).unwrap();
        let phone = statuses[0].phone_number_id.clone().unwrap();
        let mut counts = StatusCounts::new(HashMap::from([(phone, "shop".to_string())]));
        counts.observe(&statuses);
        let first = counts.statuses.clone();
        // Meta's retry of the same statuses (in another body) changes nothing.
        counts.observe(&statuses);
        assert_eq!(counts.statuses, first);
        let total: u64 = counts.statuses.values().sum();
        let distinct: HashSet<(&str, &str)> = statuses
            .iter()
            .map(|s| (s.message_id.as_str(), s.status.as_str()))
            .collect();
        assert_eq!(total, distinct.len() as u64);
        assert!(counts.statuses.keys().any(|(account, _)| account == "shop"));
        assert!(
            counts.failures.values().sum::<u64>() >= 1,
            "{:?}",
            counts.failures
        );
        let times = counts.take_delivery_secs();
        assert!(!times.is_empty());
        assert!(times.iter().all(|secs| *secs >= 0.0));
        assert!(counts.take_delivery_secs().is_empty());
    }

    #[test]
    fn each_message_is_priced_once_per_category_under_its_account() {
        let statuses = parse_webhook_line(BATCH).unwrap();
        let mut counts = StatusCounts::new(HashMap::from([(
            "530918247716630".to_string(),
            "shop".to_string(),
        )]));
        counts.observe(&statuses);
        counts.observe(&statuses);
        let pricing: Vec<(&str, &str, u64)> = counts
            .pricing
            .iter()
            .map(|((account, category), n)| (account.as_str(), category.as_str(), *n))
            .collect();
        // Every priced wamid of the batch carries its pricing twice (sent, then delivered or
        // read, and once a duplicate delivered): each counts once.
        assert_eq!(
            pricing,
            [
                ("shop", "marketing", 1),
                ("shop", "utility", 1),
                ("unknown", "authentication", 1),
                ("unknown", "marketing_lite", 1),
            ]
        );
    }

    #[test]
    fn memory_stays_bounded_over_many_messages() {
        let mut counts = StatusCounts::default();
        for n in 0..(SEEN_CAPACITY + 10_000) {
            let status = WebhookStatus {
                message_id: format!("wamid.{n}"),
                status: DeliveryStatus::Sent,
                timestamp: 1_796_375_700,
                recipient_id: None,
                recipient_user_id: None,
                errors: Vec::new(),
                phone_number_id: None,
                pricing: None,
            };
            counts.observe(std::slice::from_ref(&status));
        }
        assert!(counts.seen.len() <= SEEN_CAPACITY);
        assert!(counts.sent_at.len() <= SENT_CAPACITY);
        assert_eq!(counts.statuses.len(), 1);
    }
}
