//! The running accounts by name: one shared directory, replaced whole when accounts are
//! reloaded, that the router, the health poller, the coordinator's notices and the token
//! broker all follow (a `watch` of it), with lookups by name in O(1).

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::watch;

use super::account::AccountLink;
use super::spread::{AppKey, Slices};
use crate::graph::UsageHeaders;

/// One running account: the link to its actor and the usage headers of the proxy's calls
/// for it (read by the health poller).
pub(crate) struct DirectoryEntry {
    pub link: AccountLink,
    /// The usage headers of the proxy's latest call for this account, until the health
    /// poller takes them. Not a watch channel: one costs 424 bytes per account (4 MB at
    /// 10,000), for one reader that looks once a round.
    proxy_usage: std::sync::Mutex<Option<UsageHeaders>>,
}

impl DirectoryEntry {
    pub fn new(link: AccountLink) -> Arc<Self> {
        Arc::new(Self {
            link,
            proxy_usage: std::sync::Mutex::new(None),
        })
    }

    /// Keeps the headers of the proxy's latest call, replacing older ones not yet taken.
    pub fn note_proxy_usage(&self, usage: UsageHeaders) {
        *self.proxy_usage_slot() = Some(usage);
    }

    /// The proxy's latest headers since the last time they were taken.
    pub fn take_proxy_usage(&self) -> Option<UsageHeaders> {
        self.proxy_usage_slot().take()
    }

    /// A panic cannot leave an `Option` half-written, so a poisoned lock is used as is.
    fn proxy_usage_slot(&self) -> std::sync::MutexGuard<'_, Option<UsageHeaders>> {
        self.proxy_usage
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn name(&self) -> &str {
        &self.link.settings.name
    }

    /// The batch its Graph calls go in: its app id and secret (a batch runs under one app).
    pub fn app_key(&self) -> AppKey {
        self.link.app.as_ref().map(|app| {
            format!(
                "{}|{}",
                app.app_id,
                super::store::fingerprint(&app.app_secret)
            )
        })
    }
}

/// The accounts in config order, an index by name, and each one's slice of the
/// check-interval (`spread.rs`).
#[derive(Default)]
pub(crate) struct AccountDirectory {
    entries: Vec<Arc<DirectoryEntry>>,
    by_name: HashMap<String, usize>,
    slices: Slices,
}

/// The current directory, followed by every consumer.
pub(crate) type DirectoryWatch = watch::Receiver<Arc<AccountDirectory>>;

impl AccountDirectory {
    /// Names are unique (the config reader refuses a second use), so the first one of a name
    /// is the one found. `slices` (the previous directory's, or new ones) follow the entries:
    /// a running account keeps its slice.
    pub fn new(entries: Vec<Arc<DirectoryEntry>>, mut slices: Slices) -> Self {
        let mut by_name = HashMap::with_capacity(entries.len());
        for (index, entry) in entries.iter().enumerate() {
            by_name.entry(entry.name().to_string()).or_insert(index);
        }
        slices.follow(entries.iter().map(|entry| (entry.name(), entry.app_key())));
        Self {
            entries,
            by_name,
            slices,
        }
    }

    pub fn slices(&self) -> &Slices {
        &self.slices
    }

    /// The indices of the entries in slice `slot`.
    pub fn in_slot(&self, slot: usize) -> Vec<usize> {
        (0..self.entries.len())
            .filter(|&index| {
                self.entries
                    .get(index)
                    .is_some_and(|entry| self.slices.slot_of(entry.name()) == slot)
            })
            .collect()
    }

    pub fn get(&self, name: &str) -> Option<&Arc<DirectoryEntry>> {
        self.by_name
            .get(name)
            .and_then(|index| self.entries.get(*index))
    }

    pub fn link(&self, name: &str) -> Option<&AccountLink> {
        self.get(name).map(|entry| &entry.link)
    }

    pub fn entries(&self) -> &[Arc<DirectoryEntry>] {
        &self.entries
    }

    pub fn links(&self) -> impl Iterator<Item = &AccountLink> {
        self.entries.iter().map(|entry| &entry.link)
    }

    /// "no account named "x"; configured accounts: a, b".
    pub fn unknown_account(&self, name: &str) -> String {
        let known: Vec<&str> = self.entries.iter().map(|e| e.name()).collect();
        format!(
            "no account named {name:?}; configured accounts: {}",
            known.join(", ")
        )
    }
}
