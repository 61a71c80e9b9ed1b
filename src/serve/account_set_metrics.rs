//! `tokentop_accounts` and `tokentop_account_files_invalid`: how many accounts run and how
//! many account files (`[accounts] dir`) were skipped, following reloads.

use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::config::Settings;
use crate::engine::EngineEvent;

/// The two gauges, shared with the registry they are rendered from.
#[derive(Clone, Default)]
pub struct AccountSetMetrics {
    accounts: Gauge,
    invalid_files: Gauge,
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

    /// True when the event moved a gauge (the exposition is encoded again).
    pub fn observe(&self, event: &EngineEvent) -> bool {
        let EngineEvent::AccountsChanged(change) = event else {
            return false;
        };
        self.set(change.accounts.len(), change.invalid_files.len());
        true
    }

    fn set(&self, accounts: usize, invalid_files: usize) {
        let gauge = |count: usize| i64::try_from(count).unwrap_or(i64::MAX);
        self.accounts.set(gauge(accounts));
        self.invalid_files.set(gauge(invalid_files));
    }
}
