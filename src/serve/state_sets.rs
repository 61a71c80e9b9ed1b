//! The one-of-N gauges (`tokentop_token_state`, `tokentop_phone_quality`,
//! `tokentop_phone_status`): one byte per account and family, their 0/1 series written out
//! at each encoding.
//!
//! They are 24 series per account; as families of the client library, a hash-map entry, a
//! label string and a gauge each, they held 45 MB at 10,000 accounts. Here an account costs
//! its name and three bytes, and the series come out in account order.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::gauge::ConstGauge;

use super::labels::{PHONE_QUALITIES, PHONE_STATUSES, TOKEN_STATES};

/// One family: its name, help text, label name and every label value.
struct Family {
    name: &'static str,
    help: &'static str,
    label: &'static str,
    values: &'static [&'static str],
}

const TOKEN_STATE: Family = Family {
    name: "tokentop_token_state",
    help: "1 for the account's current state, 0 for the others",
    label: "state",
    values: &TOKEN_STATES,
};
const PHONE_QUALITY: Family = Family {
    name: "tokentop_phone_quality",
    help: "1 for the phone number's current quality rating, 0 for the others",
    label: "rating",
    values: &PHONE_QUALITIES,
};
const PHONE_STATUS: Family = Family {
    name: "tokentop_phone_status",
    help: "1 for the phone number's current status, 0 for the others",
    label: "status",
    values: &PHONE_STATUSES,
};

/// An account's current values, each an index into its family's values; `NONE` is a value
/// outside the list (every series 0).
#[derive(Debug, Clone, Copy)]
struct Current {
    token_state: u8,
    /// Quality and status, once a phone read said them.
    phone: Option<(u8, u8)>,
}

const NONE: u8 = u8::MAX;

/// Reads one family's current value out of an account's.
type CurrentOf = fn(&Current) -> Option<u8>;

fn index_of(values: &[&str], value: &str) -> u8 {
    values
        .iter()
        .position(|v| *v == value)
        .and_then(|i| u8::try_from(i).ok())
        .unwrap_or(NONE)
}

/// The three families, shared by the metrics (which set them) and the registry (which
/// encodes them).
#[derive(Debug, Clone, Default)]
pub struct StateSets {
    accounts: Arc<Mutex<BTreeMap<Box<str>, Current>>>,
}

impl StateSets {
    fn with<R>(&self, f: impl FnOnce(&mut BTreeMap<Box<str>, Current>) -> R) -> R {
        // A panic while holding the lock leaves whole values behind: go on with them.
        let mut accounts = self.accounts.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut accounts)
    }

    pub fn set_token_state(&self, account: &str, state: &str) {
        let token_state = index_of(&TOKEN_STATES, state);
        self.with(|accounts| match accounts.get_mut(account) {
            Some(current) => current.token_state = token_state,
            None => {
                let current = Current {
                    token_state,
                    phone: None,
                };
                accounts.insert(account.into(), current);
            }
        });
    }

    /// The phone's quality rating and status; an account without a token state yet is
    /// `unknown`.
    pub fn set_phone(&self, account: &str, quality: &str, status: &str) {
        let phone = Some((
            index_of(&PHONE_QUALITIES, quality),
            index_of(&PHONE_STATUSES, status),
        ));
        self.with(|accounts| {
            accounts
                .entry(account.into())
                .or_insert(Current {
                    token_state: 0,
                    phone: None,
                })
                .phone = phone;
        });
    }

    /// An account a reload removed: its series go.
    pub fn forget(&self, account: &str) {
        self.with(|accounts| accounts.remove(account));
    }
}

impl Collector for StateSets {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        self.with(|accounts| {
            let families: [(&Family, CurrentOf); 3] = [
                (&TOKEN_STATE, |c| Some(c.token_state)),
                (&PHONE_QUALITY, |c| c.phone.map(|(quality, _)| quality)),
                (&PHONE_STATUS, |c| c.phone.map(|(_, status)| status)),
            ];
            for (family, current_of) in families {
                let gauge = ConstGauge::new(0i64);
                let mut metric = encoder.encode_descriptor(
                    family.name,
                    family.help,
                    None,
                    gauge.metric_type(),
                )?;
                for (account, current) in accounts.iter() {
                    let Some(current) = current_of(current) else {
                        continue;
                    };
                    for (index, value) in family.values.iter().enumerate() {
                        let one = usize::from(current) == index;
                        let labels = [("account", &**account), (family.label, *value)];
                        ConstGauge::new(i64::from(one)).encode(metric.encode_family(&labels)?)?;
                    }
                }
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use prometheus_client::encoding::text::encode;
    use prometheus_client::registry::Registry;

    use super::*;

    fn exposition(sets: &StateSets) -> String {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(sets.clone()));
        let mut out = String::new();
        encode(&mut out, &registry).unwrap();
        out
    }

    fn ones(text: &str) -> Vec<&str> {
        text.lines().filter(|l| l.ends_with(" 1")).collect()
    }

    #[test]
    fn every_value_is_a_series_and_only_the_current_one_is_1_in_account_order() {
        let sets = StateSets::default();
        sets.set_token_state("zeta", "expired");
        sets.set_token_state("alpha", "valid");
        sets.set_token_state("alpha", "expiring");
        sets.set_phone("zeta", "RED", "FLAGGED");
        let text = exposition(&sets);
        assert_eq!(
            ones(&text),
            [
                r#"tokentop_token_state{account="alpha",state="expiring"} 1"#,
                r#"tokentop_token_state{account="zeta",state="expired"} 1"#,
                r#"tokentop_phone_quality{account="zeta",rating="RED"} 1"#,
                r#"tokentop_phone_status{account="zeta",status="FLAGGED"} 1"#,
            ]
        );
        let series = text.lines().filter(|l| !l.starts_with('#')).count();
        assert_eq!(
            series,
            2 * TOKEN_STATES.len() + PHONE_QUALITIES.len() + PHONE_STATUSES.len()
        );
        assert!(text.contains("# TYPE tokentop_token_state gauge"), "{text}");
        assert!(
            !text.contains("account=\"alpha\",rating"),
            "no phone read, no phone series"
        );
    }

    #[test]
    fn a_value_outside_the_list_is_all_zeros_and_a_forgotten_account_goes() {
        let sets = StateSets::default();
        sets.set_token_state("a", "no-such-state");
        sets.set_token_state("b", "valid");
        let text = exposition(&sets);
        assert_eq!(
            ones(&text),
            [r#"tokentop_token_state{account="b",state="valid"} 1"#]
        );
        assert!(text.contains(r#"tokentop_token_state{account="a",state="unknown"} 0"#));
        sets.forget("b");
        sets.forget("never-there");
        let text = exposition(&sets);
        assert!(!text.contains("account=\"b\""), "{text}");
        assert!(text.contains("account=\"a\""), "{text}");
    }
}
