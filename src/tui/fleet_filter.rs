//! The fleet view's filter: words that narrow the table by name, token class, purpose or owner
//! label. `prod` keeps the names containing `prod` (any case); `class=business-60d`,
//! `purpose=messaging` and `team=payments` (an owner label) keep the accounts with that value;
//! several words must all match. Pure.

use std::collections::BTreeMap;

use crate::config::Purpose;
use crate::engine::TokenClass;

/// What the filter reads of one account.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub name: &'a str,
    pub class: TokenClass,
    pub purpose: Purpose,
    pub labels: &'a BTreeMap<String, String>,
}

/// True when `subject` passes every word of `filter` (an empty filter passes everything).
pub fn passes(subject: &Subject<'_>, filter: &str) -> bool {
    filter
        .split_whitespace()
        .all(|word| passes_word(subject, word))
}

fn passes_word(subject: &Subject<'_>, word: &str) -> bool {
    let Some((key, value)) = word.split_once('=') else {
        return subject.name.to_lowercase().contains(&word.to_lowercase());
    };
    let same = |actual: &str| actual.eq_ignore_ascii_case(value);
    match key.to_ascii_lowercase().as_str() {
        "class" => same(subject.class.word()),
        "purpose" => same(subject.purpose.word()),
        label => subject.labels.get(label).is_some_and(|v| same(v)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_narrow_by_name_class_purpose_and_label() {
        let labels = BTreeMap::from([
            ("team".to_string(), "payments".to_string()),
            ("customer".to_string(), "acme".to_string()),
        ]);
        let subject = Subject {
            name: "Acme-EU",
            class: TokenClass::Business60d,
            purpose: Purpose::Messaging,
            labels: &labels,
        };
        let passing = [
            "",
            "acme",
            "/team=payments".trim_start_matches('/'),
            "team=Payments",
            "class=business-60d",
            "purpose=messaging",
            "eu team=payments customer=acme",
        ];
        for filter in passing {
            assert!(passes(&subject, filter), "{filter:?}");
        }
        let failing = [
            "staging",
            "team=ops",
            "owner=payments",
            "class=business-never",
            "purpose=both",
            "acme team=ops",
            "team=",
        ];
        for filter in failing {
            assert!(!passes(&subject, filter), "{filter:?}");
        }
    }
}
