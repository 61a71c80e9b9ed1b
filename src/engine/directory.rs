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
    /// The entries of each slice, by index, worked out once per directory: a round asks for
    /// its slice every minute, and looking every account's slice up by name each time was
    /// 8-14% of a round's CPU at 1,000 accounts.
    by_slot: Vec<Vec<usize>>,
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
        let mut by_slot = vec![Vec::new(); slices.slots()];
        for (index, entry) in entries.iter().enumerate() {
            if let Some(members) = by_slot.get_mut(slices.slot_of(entry.name())) {
                members.push(index);
            }
        }
        Self {
            entries,
            by_name,
            slices,
            by_slot,
        }
    }

    pub fn slices(&self) -> &Slices {
        &self.slices
    }

    /// The indices of the entries in slice `slot`, in config order (none past the last).
    pub fn in_slot(&self, slot: usize) -> &[usize] {
        self.by_slot.get(slot).map_or(&[], Vec::as_slice)
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

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use super::*;
    use crate::graph::AppCredentials;

    fn entry(name: &str, app_id: Option<&str>) -> Arc<DirectoryEntry> {
        let mut settings = crate::engine::accounts_diff::test_account(name, "secret");
        settings.app_id = app_id.map(str::to_string);
        let app = app_id.map(|id| AppCredentials::new(id, SecretString::from("secret")));
        DirectoryEntry::new(AccountLink {
            settings: Arc::new(settings),
            app,
            tx: crate::engine::account::mailbox().0,
            token: watch::channel(Default::default()).1,
        })
    }

    /// The health poller takes the proxy's latest headers once: a newer call replaces an
    /// older one not yet taken, and a round with no call since takes nothing.
    #[test]
    fn the_proxys_latest_usage_is_taken_once() {
        let entry = entry("shop", Some("1"));
        let usage = |percent: u32| {
            let mut headers = reqwest::header::HeaderMap::new();
            let value = format!("{{\"call_count\":{percent}}}");
            headers.insert("x-app-usage", value.parse().unwrap());
            UsageHeaders::of(&headers)
        };
        assert_eq!(entry.take_proxy_usage(), None);
        entry.note_proxy_usage(usage(10));
        entry.note_proxy_usage(usage(20));
        assert_eq!(entry.take_proxy_usage(), Some(usage(20)));
        assert_eq!(entry.take_proxy_usage(), None);
    }

    /// The slices worked out at construction are the ones `Slices` placed each account in,
    /// in config order, each account in exactly one.
    #[test]
    fn in_slot_lists_each_slice_members_in_config_order() {
        let entries: Vec<_> = (0..130)
            .map(|i| {
                let app = ["1", "2"][i % 2];
                entry(&format!("acct{i}"), (i % 7 != 0).then_some(app))
            })
            .collect();
        let directory = AccountDirectory::new(entries, Slices::new(4));
        let mut seen = Vec::new();
        for slot in 0..4 {
            let expected: Vec<usize> = (0..130)
                .filter(|&i| directory.slices().slot_of(&format!("acct{i}")) == slot)
                .collect();
            assert_eq!(directory.in_slot(slot), expected, "slot {slot}");
            seen.extend_from_slice(directory.in_slot(slot));
        }
        seen.sort_unstable();
        assert_eq!(seen, (0..130).collect::<Vec<_>>());
        assert!(directory.in_slot(4).is_empty());
    }
}
