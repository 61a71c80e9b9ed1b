//! The dashboard following a reload: rows of new accounts at once, removed ones gone, and a
//! log-panel line naming what changed and every account file that was skipped.

use chrono::{DateTime, Utc};

use super::app::{AccountView, App};
use crate::engine::AccountSnapshot;
use crate::engine::reload::AccountsChange;
use crate::engine::telemetry_types::ClassifiedLine;

/// The log panel's source name of tokentop's own notices.
const NOTICE_SOURCE: &str = "tokentop";

impl App {
    pub(super) fn accounts_changed(&mut self, change: AccountsChange) {
        if change.refused.is_none() {
            self.follow_accounts(&change);
        }
        let mut lines = vec![change.summary()];
        for file in &change.invalid_files {
            lines.extend(file.issues.iter().map(|issue| format!("skipped: {issue}")));
        }
        let now = self.now;
        let notices = lines.into_iter().map(|text| notice(text, now)).collect();
        self.push_log_lines(notices);
    }

    fn follow_accounts(&mut self, change: &AccountsChange) {
        let removed: std::collections::HashSet<&str> =
            change.diff.removed.iter().map(String::as_str).collect();
        if !removed.is_empty() {
            self.accounts.retain(|view| !removed.contains(view.name()));
            self.retired
                .extend(removed.iter().map(|name| name.to_string()));
        }
        for account in &change.accounts {
            self.retired.remove(&account.name);
        }
        let present: std::collections::HashSet<String> =
            self.accounts.iter().map(|v| v.name().to_string()).collect();
        for account in change
            .accounts
            .iter()
            .filter(|a| !present.contains(&a.name))
        {
            let mut snapshot = AccountSnapshot::new(&account.name);
            snapshot.phone_number_id = account.phone_number_id.clone();
            snapshot.business_account_id = account.business_account_id.clone();
            snapshot.test_recipient = account.test_message.to.clone();
            self.accounts.push(AccountView::new(snapshot));
        }
        self.account_wabas = change
            .accounts
            .iter()
            .map(|a| (a.name.clone(), a.business_account_id.clone()))
            .collect();
        self.selected = self.selected.min(self.accounts.len().saturating_sub(1));
        self.fleet_index.get_mut().forget();
    }
}

fn notice(text: String, now: DateTime<Utc>) -> ClassifiedLine {
    ClassifiedLine {
        source: NOTICE_SOURCE.into(),
        received_at: now,
        text: format!("[tokentop] {text}").into(),
        truncated: false,
        pattern: None,
        level: None,
        role: None,
    }
}
