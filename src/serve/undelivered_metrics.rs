//! The wamid join's metrics, registered with the first snapshot that has its counts (so a
//! scrape without both the proxy and the relay is unchanged): proxied sends Meta accepted and
//! did not deliver within `[webhook] undelivered-after`, per account.

use std::collections::HashMap;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::metrics::{AccountLabels, account_labels, add_growth};
use crate::engine::telemetry::wamid_join::ProxyUndelivered;

/// The join's families, registered in the metrics' registry.
pub struct UndeliveredMetrics {
    undelivered: Family<AccountLabels, Counter>,
    overdue: Family<AccountLabels, Gauge>,
    evicted: Counter,
    counted: HashMap<AccountLabels, u64>,
    evicted_counted: u64,
}

impl UndeliveredMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            undelivered: Family::default(),
            overdue: Family::default(),
            evicted: Counter::default(),
            counted: HashMap::new(),
            evicted_counted: 0,
        };
        registry.register(
            "tokentop_proxy_undelivered",
            "Sends through the proxy that Meta accepted with no delivered, read or failed status within [webhook] undelivered-after",
            metrics.undelivered.clone(),
        );
        registry.register(
            "tokentop_proxy_undelivered_overdue",
            "Those of them still without a status (a late delivery takes one away)",
            metrics.overdue.clone(),
        );
        registry.register(
            "tokentop_proxy_undelivered_evicted",
            "Proxied sends forgotten before their deadline because 100,000 were waiting",
            metrics.evicted.clone(),
        );
        metrics
    }

    pub fn update(&mut self, counts: &ProxyUndelivered) {
        for row in &counts.accounts {
            let labels = account_labels(&row.account);
            self.overdue
                .get_or_create(&labels)
                .set(i64::try_from(row.overdue).unwrap_or(i64::MAX));
            add_growth(
                &self.undelivered,
                &mut self.counted,
                labels,
                row.undelivered_total,
            );
        }
        let growth = counts.evicted_total.saturating_sub(self.evicted_counted);
        self.evicted_counted = self.evicted_counted.max(counts.evicted_total);
        if growth > 0 {
            self.evicted.inc_by(growth);
        }
    }
}
