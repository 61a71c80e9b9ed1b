//! The running accounts by name: one shared directory, replaced whole when accounts are
//! reloaded, that the router, the health poller, the coordinator's notices and the token
//! broker all follow (a `watch` of it), with lookups by name in O(1).

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::watch;

use super::account::AccountLink;
use crate::graph::Usage;

/// One running account: the link to its actor and the usage headers of the proxy's calls
/// for it (read by the health poller).
pub(crate) struct DirectoryEntry {
    pub link: AccountLink,
    pub proxy_usage: watch::Sender<Usage>,
}

impl DirectoryEntry {
    pub fn new(link: AccountLink) -> Arc<Self> {
        Arc::new(Self {
            link,
            proxy_usage: watch::channel(Usage::default()).0,
        })
    }

    pub fn name(&self) -> &str {
        &self.link.settings.name
    }
}

/// The accounts in config order, and an index by name.
#[derive(Default)]
pub(crate) struct AccountDirectory {
    entries: Vec<Arc<DirectoryEntry>>,
    by_name: HashMap<String, usize>,
}

/// The current directory, followed by every consumer.
pub(crate) type DirectoryWatch = watch::Receiver<Arc<AccountDirectory>>;

impl AccountDirectory {
    /// Names are unique (the config reader refuses a second use), so the first one of a name
    /// is the one found.
    pub fn new(entries: Vec<Arc<DirectoryEntry>>) -> Self {
        let mut by_name = HashMap::with_capacity(entries.len());
        for (index, entry) in entries.iter().enumerate() {
            by_name.entry(entry.name().to_string()).or_insert(index);
        }
        Self { entries, by_name }
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
