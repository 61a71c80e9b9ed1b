//! What a reload changes: the old accounts against the new ones, by name (pure).

use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use crate::config::AccountSettings;

/// Names of the accounts a reload adds, removes, changes and leaves as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountsDiff {
    /// In the new set only, in its order.
    pub added: Vec<String>,
    /// In the old set only, in its order.
    pub removed: Vec<String>,
    /// In both, with different settings (restarted on their stored token).
    pub changed: Vec<String>,
    /// In both, the same (left running).
    pub unchanged: Vec<String>,
}

impl AccountsDiff {
    /// Nothing added, removed or changed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

/// Compares by exact name: a name changed only in case is another store file on most
/// filesystems, so it is one account removed and another added.
pub fn diff<'a>(
    old: impl IntoIterator<Item = &'a AccountSettings>,
    new: impl IntoIterator<Item = &'a AccountSettings>,
) -> AccountsDiff {
    let old: Vec<&AccountSettings> = old.into_iter().collect();
    let new: Vec<&AccountSettings> = new.into_iter().collect();
    let old_by_name: std::collections::HashMap<&str, &AccountSettings> =
        old.iter().map(|a| (a.name.as_str(), *a)).collect();
    let new_names: std::collections::HashSet<&str> = new.iter().map(|a| a.name.as_str()).collect();
    let mut result = AccountsDiff::default();
    for account in new {
        let account: &AccountSettings = account;
        let slot = match old_by_name.get(account.name.as_str()) {
            None => &mut result.added,
            Some(before) if same_settings(before, account) => &mut result.unchanged,
            Some(_) => &mut result.changed,
        };
        slot.push(account.name.clone());
    }
    result.removed = old
        .iter()
        .filter(|a| !new_names.contains(a.name.as_str()))
        .map(|a| a.name.clone())
        .collect();
    result
}

/// Every setting equal, secrets compared by value. The destructuring is exhaustive on
/// purpose: a new field of [`AccountSettings`] does not compile here until it is compared.
pub fn same_settings(a: &AccountSettings, b: &AccountSettings) -> bool {
    let AccountSettings {
        name,
        app_id,
        app_secret,
        access_token,
        long_lived_token,
        phone_number_id,
        business_account_id,
        env_file,
        token_file,
        token_file_mode,
        on_refresh,
        on_refresh_timeout,
        on_refresh_env,
        on_publish,
        test_message,
        profile,
    } = a;
    let same_secret = |x: &Option<secrecy::SecretString>, y: &Option<secrecy::SecretString>| {
        x.as_ref().map(|s| s.expose_secret()) == y.as_ref().map(|s| s.expose_secret())
    };
    *name == b.name
        && *app_id == b.app_id
        && same_secret(app_secret, &b.app_secret)
        && same_secret(access_token, &b.access_token)
        && same_secret(long_lived_token, &b.long_lived_token)
        && *phone_number_id == b.phone_number_id
        && *business_account_id == b.business_account_id
        && *env_file == b.env_file
        && *token_file == b.token_file
        && *token_file_mode == b.token_file_mode
        && *on_refresh == b.on_refresh
        && *on_refresh_timeout == b.on_refresh_timeout
        && *on_refresh_env == b.on_refresh_env
        && *on_publish == b.on_publish
        && *test_message == b.test_message
        && *profile == b.profile
}

/// An account named `name` with only an app id and secret, for unit tests.
#[cfg(test)]
pub(crate) fn test_account(name: &str, secret: &str) -> AccountSettings {
    AccountSettings {
        name: name.to_string(),
        app_id: Some("1".to_string()),
        app_secret: Some(secrecy::SecretString::from(secret.to_string())),
        access_token: None,
        long_lived_token: None,
        phone_number_id: None,
        business_account_id: None,
        env_file: None,
        token_file: None,
        token_file_mode: crate::config::DEFAULT_TOKEN_FILE_MODE,
        on_refresh: None,
        on_refresh_timeout: std::time::Duration::from_secs(30),
        on_refresh_env: Vec::new(),
        on_publish: Default::default(),
        test_message: Default::default(),
        profile: Default::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    fn account(name: &str, secret: &str) -> AccountSettings {
        test_account(name, secret)
    }

    #[test]
    fn added_removed_changed_and_unchanged_are_told_apart() {
        let old = [account("a", "s"), account("b", "s"), account("c", "s")];
        let new = [account("c", "s"), account("b", "other"), account("d", "s")];
        let diff = diff(&old, &new);
        assert_eq!(diff.added, ["d"]);
        assert_eq!(diff.removed, ["a"]);
        assert_eq!(diff.changed, ["b"]);
        assert_eq!(diff.unchanged, ["c"]);
        assert!(!diff.is_empty());
    }

    #[test]
    fn the_same_set_in_another_order_changes_nothing() {
        let old = [account("a", "s"), account("b", "s")];
        let new = [account("b", "s"), account("a", "s")];
        let diff = diff(&old, &new);
        assert!(diff.is_empty(), "{diff:?}");
        assert_eq!(diff.unchanged, ["b", "a"]);
    }

    #[test]
    fn a_name_changed_in_case_is_one_removed_and_one_added() {
        let diff = diff(&[account("Shop", "s")], &[account("shop", "s")]);
        assert_eq!(
            (diff.added, diff.removed),
            (vec!["shop".to_string()], vec!["Shop".to_string()])
        );
    }

    #[test]
    fn every_setting_counts_including_secrets_and_nested_tables() {
        let base = account("a", "s");
        assert!(same_settings(&base, &base.clone()));
        let mut other = base.clone();
        other.access_token = Some(SecretString::from("EAAGx".to_string()));
        assert!(!same_settings(&base, &other));
        let mut other = base.clone();
        other.test_message.to = Some("4915123456789".to_string());
        assert!(!same_settings(&base, &other));
        let mut other = base.clone();
        other.token_file_mode = 0o640;
        assert!(!same_settings(&base, &other));
        let mut other = base.clone();
        other.on_refresh = Some(vec!["/bin/true".to_string()]);
        assert!(!same_settings(&base, &other));
    }

    #[test]
    fn from_nothing_everything_is_added_and_to_nothing_removed() {
        let accounts = [account("a", "s"), account("b", "s")];
        assert_eq!(diff(&[], &accounts).added, ["a", "b"]);
        assert_eq!(diff(&accounts, &[]).removed, ["a", "b"]);
    }
}
