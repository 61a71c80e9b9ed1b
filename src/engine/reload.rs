//! Accounts added, removed and changed while the engine runs: the command's payload, the
//! event that says what changed, and the router applying it (new actors start, removed ones
//! stop with their store, history and token file left as they are, changed ones restart on
//! their stored token; the others are not touched).

use std::collections::HashSet;
use std::sync::Arc;

use super::Router;
use super::account::{AccountMsg, spawn_account};
use super::accounts_diff::{AccountsDiff, diff, same_settings};
use super::directory::{AccountDirectory, DirectoryEntry};
use super::events::EngineEvent;
use crate::config::{AccountSettings, InvalidAccountFile};

/// The accounts the configuration names now ([`super::EngineCommand::ApplyAccounts`]).
#[derive(Debug, Clone, Default)]
pub struct AccountsUpdate {
    pub accounts: Vec<Arc<AccountSettings>>,
    /// Account files skipped for their problems, told on to the clients.
    pub invalid_files: Vec<InvalidAccountFile>,
    /// The configuration could not be read (the config file itself is invalid): the running
    /// accounts are kept, and clients are told why.
    pub refused: Option<String>,
}

impl PartialEq for AccountsUpdate {
    fn eq(&self, other: &Self) -> bool {
        self.invalid_files == other.invalid_files
            && self.refused == other.refused
            && same_lists(&self.accounts, &other.accounts)
    }
}

/// The same accounts in the same order, each with the same settings (secrets by value).
fn same_lists<A, B>(a: &[A], b: &[B]) -> bool
where
    A: std::borrow::Borrow<AccountSettings>,
    B: std::borrow::Borrow<AccountSettings>,
{
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(a, b)| same_settings(a.borrow(), b.borrow()))
}

impl Eq for AccountsUpdate {}

/// What a reload changed ([`EngineEvent::AccountsChanged`]).
#[derive(Debug, Clone, Default)]
pub struct AccountsChange {
    pub diff: AccountsDiff,
    /// The accounts running now, in config order.
    pub accounts: Vec<Arc<AccountSettings>>,
    pub invalid_files: Vec<InvalidAccountFile>,
    /// Why nothing was applied, when the configuration could not be read.
    pub refused: Option<String>,
}

impl PartialEq for AccountsChange {
    fn eq(&self, other: &Self) -> bool {
        self.diff == other.diff
            && self.invalid_files == other.invalid_files
            && self.refused == other.refused
            && same_lists(&self.accounts, &other.accounts)
    }
}

impl AccountsChange {
    /// One line for logs: "accounts reloaded: added a; removed b; changed c; 1 invalid file
    /// (accounts.d/x.toml)".
    pub fn summary(&self) -> String {
        if let Some(refused) = &self.refused {
            return format!("accounts not reloaded (the running ones are kept): {refused}");
        }
        let mut parts = Vec::new();
        for (word, names) in [
            ("added", &self.diff.added),
            ("removed", &self.diff.removed),
            ("changed", &self.diff.changed),
        ] {
            if !names.is_empty() {
                parts.push(format!("{word} {}", names.join(", ")));
            }
        }
        if parts.is_empty() {
            parts.push("nothing changed".to_string());
        }
        if !self.invalid_files.is_empty() {
            let files: Vec<String> = self
                .invalid_files
                .iter()
                .map(|f| f.path.display().to_string())
                .collect();
            parts.push(format!("invalid {}", files.join(", ")));
        }
        format!(
            "accounts reloaded ({} running): {}",
            self.accounts.len(),
            parts.join("; ")
        )
    }
}

impl Router {
    /// Applies `update`: the directory is replaced once every changed account's old actor has
    /// finished (an in-flight refresh of it is persisted first), so no two actors of one
    /// account ever run together.
    pub(super) async fn apply_accounts(&mut self, update: AccountsUpdate) {
        let current = self.directory.borrow().clone();
        if let Some(refused) = update.refused {
            self.tell_change(AccountsChange {
                accounts: current.links().map(|l| l.settings.clone()).collect(),
                invalid_files: update.invalid_files,
                refused: Some(refused),
                ..AccountsChange::default()
            });
            return;
        }
        let diff = diff(
            current.links().map(|l| l.settings.as_ref()),
            update.accounts.iter().map(AsRef::as_ref),
        );
        for name in diff.removed.iter().chain(&diff.changed) {
            if let Some(link) = current.link(name) {
                let _ = link.tx.send(AccountMsg::Shutdown);
            }
        }
        for name in &diff.changed {
            if let Some(task) = self.tasks.remove(name) {
                let _ = task.await;
            }
        }
        for name in &diff.removed {
            if let Some(task) = self.tasks.remove(name) {
                self.stopping.push(task);
            }
        }
        let unchanged: HashSet<&str> = diff.unchanged.iter().map(String::as_str).collect();
        let mut entries = Vec::with_capacity(update.accounts.len());
        for account in update.accounts {
            match current.get(&account.name) {
                Some(entry) if unchanged.contains(account.name.as_str()) => {
                    entries.push(entry.clone());
                }
                _ => {
                    let name = account.name.clone();
                    let (link, task) = spawn_account(self.shared.clone(), account);
                    self.tasks.insert(name, task);
                    entries.push(DirectoryEntry::new(link));
                }
            }
        }
        let directory = Arc::new(AccountDirectory::new(entries, current.slices().clone()));
        self.directory.send_replace(directory.clone());
        let _ = self
            .shared
            .telemetry
            .send(super::telemetry::TelemetryInput::PhoneAccounts(
                super::phone_accounts(directory.links().map(|l| l.settings.as_ref())),
            ));
        self.tell_change(AccountsChange {
            diff,
            accounts: directory.links().map(|l| l.settings.clone()).collect(),
            invalid_files: update.invalid_files,
            refused: None,
        });
    }

    fn tell_change(&self, change: AccountsChange) {
        let _ = self
            .shared
            .events
            .send(EngineEvent::AccountsChanged(Box::new(change)));
    }
}
