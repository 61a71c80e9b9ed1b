//! `tokentop_accounts` and `tokentop_account_files_invalid`: how many accounts run and how
//! many account files (`[accounts] dir`) were skipped, following reloads.

use std::collections::HashSet;

use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::metrics::Metrics;
use crate::config::Settings;
use crate::engine::EngineEvent;

/// The two gauges, shared with the registry they are rendered from, and the accounts a
/// reload removed (whose late events must not bring their series back).
#[derive(Clone, Default)]
pub struct AccountSetMetrics {
    accounts: Gauge,
    invalid_files: Gauge,
    removed: HashSet<String>,
}

impl AccountSetMetrics {
    /// The gauges as the configuration read at start says.
    pub fn new(settings: &Settings) -> Self {
        let metrics = Self::default();
        metrics.set(
            settings.accounts.len(),
            settings.account_files.invalid.len(),
        );
        metrics
    }

    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "tokentop_accounts",
            "Accounts running (the [[account]] tables and the valid files of [accounts] dir)",
            self.accounts.clone(),
        );
        registry.register(
            "tokentop_account_files_invalid",
            "Account files of [accounts] dir skipped for their problems (`tokentop config check` lists them)",
            self.invalid_files.clone(),
        );
    }

    /// Applies a reload to `metrics` (the removed accounts' gauges go); true when `event`
    /// must not reach the other metrics (it is about a removed account).
    pub fn follow(&mut self, event: &EngineEvent, metrics: &mut Metrics) -> bool {
        match event {
            EngineEvent::AccountsChanged(change) => {
                self.set(change.accounts.len(), change.invalid_files.len());
                metrics.forget_accounts(&change.diff.removed);
                self.removed.extend(change.diff.removed.iter().cloned());
                for account in &change.accounts {
                    self.removed.remove(&account.name);
                }
                metrics.outside_changed();
                false
            }
            EngineEvent::Account(snapshot) => self.removed.contains(&snapshot.name),
            EngineEvent::Phone(phone) => self.removed.contains(&phone.account),
            _ => false,
        }
    }

    fn set(&self, accounts: usize, invalid_files: usize) {
        let gauge = |count: usize| i64::try_from(count).unwrap_or(i64::MAX);
        self.accounts.set(gauge(accounts));
        self.invalid_files.set(gauge(invalid_files));
    }
}
