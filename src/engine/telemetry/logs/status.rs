//! Furthest delivery state per message, robust to duplicate and out-of-order webhooks.

use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, Utc};

use super::pricing::PricingCategory;
use super::webhook::{DeliveryStatus, StatusError, WebhookStatus};

/// Messages remembered by default before the oldest are forgotten.
pub const DEFAULT_TRACKED_MESSAGES: usize = 100_000;

/// What a message turned out as, reported once per message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusOutcome {
    /// `delivered`, `read` or `played` was seen.
    Delivered,
    Failed(Vec<StatusError>),
}

/// A message reached an outcome: feed it to the delivery windows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutcomeTransition {
    pub message_id: String,
    /// The webhook's timestamp (the Unix epoch when Meta's value is out of range).
    pub at: DateTime<Utc>,
    pub outcome: StatusOutcome,
}

/// Everything one status moved for its message, each at most once per message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StatusProgress {
    /// The message's outcome, the first time it is known.
    pub outcome: Option<OutcomeTransition>,
    /// The message was read (or played) for the first time; a `read` without `delivered`
    /// also gives the delivered outcome above. Never after `failed`.
    pub first_read: bool,
    /// A pricing category not counted for this message yet (Meta repeats it on `sent` and on
    /// one of `delivered` / `read`).
    pub new_pricing: Option<PricingCategory>,
}

#[derive(Debug, Clone, Copy)]
struct Tracked {
    furthest: DeliveryStatus,
    outcome_reported: bool,
    priced: Option<PricingCategory>,
}

/// Keeps the furthest state per wamid in a bounded map (oldest first out).
///
/// Each message yields at most one outcome: the first of delivered (read counts as
/// delivered) or failed. `failed` is terminal: later statuses of that message are ignored.
/// A message forgotten through eviction counts again if it shows up later.
#[derive(Debug)]
pub struct StatusTracker {
    capacity: usize,
    messages: HashMap<String, Tracked>,
    insertion_order: VecDeque<String>,
}

impl Default for StatusTracker {
    fn default() -> Self {
        Self::new(DEFAULT_TRACKED_MESSAGES)
    }
}

impl StatusTracker {
    /// `capacity` is clamped to at least 1.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            messages: HashMap::new(),
            insertion_order: VecDeque::new(),
        }
    }

    /// Records a status; returns the message's outcome the first time it is known.
    pub fn observe(&mut self, status: &WebhookStatus) -> Option<OutcomeTransition> {
        self.observe_progress(status).outcome
    }

    /// Records a status; returns what it moved for its message: the outcome, the first read
    /// and a new pricing category, each once per message.
    pub fn observe_progress(&mut self, status: &WebhookStatus) -> StatusProgress {
        let tracked = match self.messages.get_mut(&status.message_id) {
            Some(tracked) => tracked,
            None => self.insert(&status.message_id, status.status),
        };
        let mut progress = StatusProgress::default();
        if let Some(pricing) = &status.pricing
            && tracked.priced != Some(pricing.category)
        {
            tracked.priced = Some(pricing.category);
            progress.new_pricing = Some(pricing.category);
        }
        const READ_RANK: Option<u8> = Some(2);
        if tracked.furthest == DeliveryStatus::Failed {
            if tracked.outcome_reported {
                return progress;
            }
        } else if status.status == DeliveryStatus::Failed
            || status.status.rank() > tracked.furthest.rank()
        {
            progress.first_read = status.status.rank() == READ_RANK;
            tracked.furthest = status.status;
        } else if status.status.rank() == READ_RANK && !tracked.outcome_reported {
            // A message's first status is its furthest at insertion: a `read` that comes
            // first is a first read too.
            progress.first_read = true;
        }
        progress.outcome = Self::outcome_of(tracked, status);
        progress
    }

    fn outcome_of(tracked: &mut Tracked, status: &WebhookStatus) -> Option<OutcomeTransition> {
        let outcome = if status.status == DeliveryStatus::Failed {
            StatusOutcome::Failed(status.errors.clone())
        } else if status.status.counts_as_delivered() {
            StatusOutcome::Delivered
        } else {
            return None;
        };
        if tracked.outcome_reported {
            return None;
        }
        tracked.outcome_reported = true;
        Some(OutcomeTransition {
            message_id: status.message_id.clone(),
            at: DateTime::from_timestamp(status.timestamp, 0).unwrap_or_default(),
            outcome,
        })
    }

    /// The furthest state seen for a wamid, if it is still remembered.
    pub fn furthest(&self, message_id: &str) -> Option<DeliveryStatus> {
        self.messages.get(message_id).map(|t| t.furthest)
    }

    /// Messages currently remembered (never more than the capacity).
    pub fn len(&self) -> usize {
        self.messages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    fn insert(&mut self, message_id: &str, status: DeliveryStatus) -> &mut Tracked {
        while self.messages.len() >= self.capacity {
            match self.insertion_order.pop_front() {
                Some(oldest) => {
                    self.messages.remove(&oldest);
                }
                None => break,
            }
        }
        self.insertion_order.push_back(message_id.to_string());
        self.messages
            .entry(message_id.to_string())
            .or_insert(Tracked {
                furthest: status,
                outcome_reported: false,
                priced: None,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::telemetry::logs::{Pricing, PricingCategory};

    fn status(id: &str, status: DeliveryStatus, pricing: Option<PricingCategory>) -> WebhookStatus {
        WebhookStatus {
            message_id: id.to_string(),
            status,
            timestamp: 1_796_375_700,
            recipient_id: None,
            recipient_user_id: None,
            errors: Vec::new(),
            phone_number_id: None,
            pricing: pricing.map(|category| Pricing {
                category,
                pricing_model: None,
                kind: None,
                billable: None,
            }),
        }
    }

    #[test]
    fn reads_and_prices_count_once_per_message_and_never_after_a_failure() {
        use DeliveryStatus::*;
        let marketing = Some(PricingCategory::Marketing);
        let mut tracker = StatusTracker::default();
        let moved = |tracker: &mut StatusTracker, s: WebhookStatus| {
            let p = tracker.observe_progress(&s);
            (p.outcome.is_some(), p.first_read, p.new_pricing)
        };
        assert_eq!(
            moved(&mut tracker, status("a", Sent, marketing)),
            (false, false, marketing)
        );
        assert_eq!(
            moved(&mut tracker, status("a", Delivered, marketing)),
            (true, false, None)
        );
        assert_eq!(
            moved(&mut tracker, status("a", Read, None)),
            (false, true, None)
        );
        assert_eq!(
            moved(&mut tracker, status("a", Played, None)),
            (false, false, None)
        );
        // A read that comes first is delivered and read at once.
        assert_eq!(
            moved(&mut tracker, status("b", Read, None)),
            (true, true, None)
        );
        assert_eq!(
            moved(&mut tracker, status("b", Read, None)),
            (false, false, None)
        );
        // A failed message is never read.
        assert_eq!(
            moved(&mut tracker, status("c", Failed, None)),
            (true, false, None)
        );
        assert_eq!(
            moved(&mut tracker, status("c", Read, None)),
            (false, false, None)
        );
    }
}
