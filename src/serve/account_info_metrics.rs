//! The per-account info series: `tokentop_token_info{account,class}` and
//! `tokentop_account_info{account,purpose,label_<name>...}`, each 1, one series per account.
//!
//! Owner labels live on the info series only, so a query joins them where it needs them
//! (`* on(account) group_left(label_team) tokentop_account_info`) instead of every series
//! carrying them. A changed class or label set replaces the account's series, never adds one.

use std::collections::HashMap;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::engine::{AccountSnapshot, TokenClass};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClassLabels {
    account: String,
    class: &'static str,
}

/// `account`, `purpose`, then `label_<name>` for each owner label, sorted by name. Label names
/// and values were checked when the config was read (`[a-z_][a-z0-9_]{0,31}`,
/// `[A-Za-z0-9._-]{1,64}`).
type InfoLabels = Vec<(String, String)>;

#[derive(Default)]
pub(super) struct AccountInfoMetrics {
    token_info: Family<ClassLabels, Gauge>,
    account_info: Family<InfoLabels, Gauge>,
    /// The series each account has now, to remove it when it changes.
    classes: HashMap<String, TokenClass>,
    infos: HashMap<String, InfoLabels>,
}

impl AccountInfoMetrics {
    pub(super) fn register(&self, r: &mut Registry) {
        r.register(
            "tokentop_token_info",
            "1 for the class of the account's access token (user-short, user-long, system-never, system-60d, business-never, business-60d, app, unknown)",
            self.token_info.clone(),
        );
        r.register(
            "tokentop_account_info",
            "1 per account, with its purpose and its owner labels as label_<name>: join on account",
            self.account_info.clone(),
        );
    }

    pub(super) fn account(&mut self, snapshot: &AccountSnapshot) {
        let name = &snapshot.name;
        let class = snapshot.token_class;
        if let Some(old) = self.classes.insert(name.clone(), class)
            && old != class
        {
            self.token_info.remove(&class_labels(name, old));
        }
        self.token_info
            .get_or_create(&class_labels(name, class))
            .set(1);
        let info = info_labels(snapshot);
        if let Some(old) = self.infos.get(name)
            && *old != info
        {
            self.account_info.remove(old);
        }
        self.account_info.get_or_create(&info).set(1);
        self.infos.insert(name.clone(), info);
    }

    /// Removes the series of an account a reload removed.
    pub(super) fn forget(&mut self, account: &str) {
        if let Some(class) = self.classes.remove(account) {
            self.token_info.remove(&class_labels(account, class));
        }
        if let Some(info) = self.infos.remove(account) {
            self.account_info.remove(&info);
        }
    }
}

fn class_labels(account: &str, class: TokenClass) -> ClassLabels {
    ClassLabels {
        account: account.to_string(),
        class: class.word(),
    }
}

fn info_labels(snapshot: &AccountSnapshot) -> InfoLabels {
    let mut labels = vec![
        ("account".to_string(), snapshot.name.clone()),
        ("purpose".to_string(), snapshot.purpose.word().to_string()),
    ];
    labels.extend(
        snapshot
            .labels
            .iter()
            .map(|(name, value)| (format!("label_{name}"), value.clone())),
    );
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(metrics: &AccountInfoMetrics) -> String {
        let mut registry = Registry::default();
        metrics.register(&mut registry);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry).unwrap();
        out
    }

    #[test]
    fn one_series_per_account_follows_its_class_and_labels() {
        let mut metrics = AccountInfoMetrics::default();
        let mut snapshot = AccountSnapshot::new("acme");
        snapshot.labels.insert("team".into(), "payments".into());
        metrics.account(&snapshot);
        snapshot.token_class = TokenClass::Business60d;
        snapshot.labels.insert("customer".into(), "acme".into());
        metrics.account(&snapshot);
        let text = render(&metrics);
        assert!(
            text.contains(r#"tokentop_token_info{account="acme",class="business-60d"} 1"#),
            "{text}"
        );
        assert!(!text.contains(r#"class="unknown""#), "{text}");
        assert!(
            text.contains(
                r#"tokentop_account_info{account="acme",purpose="both",label_customer="acme",label_team="payments"} 1"#
            ),
            "{text}"
        );
        assert_eq!(text.matches("tokentop_account_info{").count(), 1, "{text}");
    }

    #[test]
    fn a_forgotten_account_leaves_no_info_series() {
        let mut metrics = AccountInfoMetrics::default();
        metrics.account(&AccountSnapshot::new("gone"));
        metrics.account(&AccountSnapshot::new("kept"));
        metrics.forget("gone");
        let text = render(&metrics);
        assert!(!text.contains(r#"account="gone""#), "{text}");
        assert!(
            text.contains(r#"tokentop_account_info{account="kept""#),
            "{text}"
        );
    }
}
