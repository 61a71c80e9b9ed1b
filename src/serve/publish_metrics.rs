//! Publish health per target and what the token's consumers did: when each target last took
//! a token, whether it holds the current one, why publishes failed, whether the account's
//! token is usable end to end, and how many readers picked the current token up.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::labels::publish_target_label;
use super::metrics::{AccountLabels, account_labels};
use crate::engine::AccountSnapshot;
use crate::engine::history::HistoryEntry;
use crate::engine::history::cause::{Cause, PublishTarget};
use crate::engine::publish::health::FailReason;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TargetLabels {
    account: String,
    target: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailureLabels {
    account: String,
    target: &'static str,
    reason: &'static str,
}

#[derive(Default)]
pub struct PublishMetrics {
    failures: Family<FailureLabels, Counter>,
    last_success: Family<TargetLabels, Gauge>,
    current: Family<TargetLabels, Gauge>,
    usable: Family<AccountLabels, Gauge>,
    readers: Family<AccountLabels, Gauge>,
    readers_picked_up: Family<AccountLabels, Gauge>,
    stale_sends: Family<AccountLabels, Gauge>,
}

impl PublishMetrics {
    /// Registers the families (clones sharing their values) in `registry`.
    pub fn register(&self, registry: &mut Registry) {
        let metrics = self;
        let r = registry;
        r.register(
            "tokentop_publish_failures",
            "Failed hand-offs of a token to a publish target, by reason",
            metrics.failures.clone(),
        );
        r.register(
            "tokentop_publish_last_success_timestamp_seconds",
            "When the target last took a token from this process (unix seconds)",
            metrics.last_success.clone(),
        );
        r.register(
            "tokentop_publish_current",
            "1 while the target holds the account's current token",
            metrics.current.clone(),
        );
        r.register(
            "tokentop_token_usable",
            "1 when the token is valid and every publish target holds it",
            metrics.usable.clone(),
        );
        r.register(
            "tokentop_token_readers",
            "Readers of the token endpoint known for the account (configured or seen)",
            metrics.readers.clone(),
        );
        r.register(
            "tokentop_token_readers_picked_up",
            "Readers that read the token since it was last published",
            metrics.readers_picked_up.clone(),
        );
        r.register(
            "tokentop_proxy_stale_token_sends",
            "Proxied requests that carried the previous token since the current one was published",
            metrics.stale_sends.clone(),
        );
    }

    /// Sets the per-target gauges and the account's usability from its snapshot.
    /// A removed account's gauges go (its failure counters stay until a restart).
    pub fn forget(&self, account: &str) {
        let labels = account_labels(account);
        for family in [
            &self.usable,
            &self.readers,
            &self.readers_picked_up,
            &self.stale_sends,
        ] {
            family.remove(&labels);
        }
        for target in super::labels::PUBLISH_TARGETS {
            let labels = TargetLabels {
                account: account.to_string(),
                target,
            };
            self.current.remove(&labels);
            self.last_success.remove(&labels);
        }
    }

    pub fn account(&self, snapshot: &AccountSnapshot) {
        let account = &snapshot.name;
        let mut all_current = true;
        for health in &snapshot.publish {
            let labels = TargetLabels {
                account: account.clone(),
                target: target_label(health.target),
            };
            all_current &= health.current;
            self.current
                .get_or_create(&labels)
                .set(i64::from(health.current));
            if let Some(at) = health.last_success_at {
                self.last_success.get_or_create(&labels).set(at);
            }
        }
        let valid = snapshot.access.as_ref().is_some_and(|i| i.info.is_valid);
        let usable = valid && !snapshot.state.is_critical() && all_current;
        let labels = account_labels(account);
        self.usable.get_or_create(&labels).set(i64::from(usable));
        let (picked_up, readers) = snapshot.consumers.picked_up();
        let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        self.readers.get_or_create(&labels).set(count(readers));
        self.readers_picked_up
            .get_or_create(&labels)
            .set(count(picked_up));
        let stale = i64::try_from(snapshot.consumers.stale_sends).unwrap_or(i64::MAX);
        self.stale_sends.get_or_create(&labels).set(stale);
    }

    /// Counts a failed publish row by its target and reason (`other` for rows without one).
    pub fn failed_publish(&self, entry: &HistoryEntry) {
        let reason = entry
            .error
            .as_ref()
            .and_then(|error| FailReason::from_label(&error.class))
            .map_or("other", FailReason::label);
        let labels = FailureLabels {
            account: entry.account.clone(),
            target: publish_target_label(&entry.cause),
            reason,
        };
        self.failures.get_or_create(&labels).inc();
    }
}

/// A target's word (`env-file`) in metric spelling (`env_file`).
fn target_label(word: &str) -> &'static str {
    PublishTarget::from_word(word).map_or("other", |target| {
        publish_target_label(&Cause::Publish(target))
    })
}
