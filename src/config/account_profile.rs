//! What an `[[account]]` says about itself beyond its credentials: which kind of token it holds
//! (`token-kind`), what the token is for (`purpose`) and who owns it (`labels`).

use std::collections::BTreeMap;

use serde::Serialize;
use toml::de::{DeTable, DeValue};

use super::issues::Invalid;
use super::reader::Ctx;

/// At most this many labels per account: each is a label on one info series, and a fleet of
/// 10,000 accounts must not grow its scrape with them.
pub const MAX_LABELS: usize = 5;
/// Longest label name, before the `label_` prefix of the metric.
const MAX_LABEL_NAME_CHARS: usize = 32;
/// Longest label value.
pub const MAX_LABEL_VALUE_CHARS: usize = 64;
/// Names that would collide with the labels tokentop puts beside them, or that Prometheus and
/// its operators read as something else.
const RESERVED_LABEL_NAMES: &[&str] = &["account", "class", "purpose", "job", "instance"];

/// Which kind of token the account holds, as the operator (or `tokentop onboard`) knows it.
/// `debug_token` says `SYSTEM_USER` for both a system user's token and a customer's business
/// (Embedded Signup) token, so only this key tells them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TokenKind {
    /// A business integration system user token from Embedded Signup (one per customer).
    Business,
    /// A system user's token from Business Settings.
    SystemUser,
    /// A person's token (Graph API Explorer, a login flow).
    User,
}

/// What an account's token is used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Purpose {
    /// Sending messages: needs `whatsapp_business_messaging`.
    Messaging,
    /// Templates, phone numbers, analytics: needs `whatsapp_business_management`.
    Management,
    #[default]
    Both,
}

impl Purpose {
    pub fn word(self) -> &'static str {
        match self {
            Purpose::Messaging => "messaging",
            Purpose::Management => "management",
            Purpose::Both => "both",
        }
    }

    /// The proxy may send messages with this account's token.
    pub fn sends(self) -> bool {
        matches!(self, Purpose::Messaging | Purpose::Both)
    }

    /// The account's token manages the WABA (templates, phone numbers, analytics).
    pub fn manages(self) -> bool {
        matches!(self, Purpose::Management | Purpose::Both)
    }

    /// The WhatsApp scopes this purpose needs.
    pub fn needed_scopes(self) -> &'static [&'static str] {
        match self {
            Purpose::Messaging => &["whatsapp_business_messaging"],
            Purpose::Management => &["whatsapp_business_management"],
            Purpose::Both => &[
                "whatsapp_business_management",
                "whatsapp_business_messaging",
            ],
        }
    }
}

/// `token-kind`, `purpose` and `labels` of one account.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountProfile {
    /// `None`: not said; a `SYSTEM_USER` token is then taken for a system user's.
    pub token_kind: Option<TokenKind>,
    pub purpose: Purpose,
    /// Owner labels, sorted by name; at most [`MAX_LABELS`].
    pub labels: BTreeMap<String, String>,
}

pub(crate) fn profile(ctx: &mut Ctx<'_>, table: &DeTable<'_>, path: &str) -> AccountProfile {
    let kinds = [
        ("business", TokenKind::Business),
        ("system-user", TokenKind::SystemUser),
        ("user", TokenKind::User),
    ];
    let purposes = [
        ("messaging", Purpose::Messaging),
        ("management", Purpose::Management),
        ("both", Purpose::Both),
    ];
    AccountProfile {
        token_kind: ctx.choice(table, path, "token-kind", &kinds),
        purpose: ctx
            .choice(table, path, "purpose", &purposes)
            .unwrap_or_default(),
        labels: labels(ctx, table, path),
    }
}

fn labels(ctx: &mut Ctx<'_>, table: &DeTable<'_>, path: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let Some((sub, span)) = ctx.table(table, path, "labels") else {
        return labels;
    };
    let key = format!("{path}.labels");
    if sub.len() > MAX_LABELS {
        let shown = table.get("labels").map(|item| ctx.shown(item));
        let invalid = Invalid::new(
            format!("{} labels", sub.len()),
            format!("at most {MAX_LABELS} labels per account"),
        );
        ctx.issue(&span, key, shown, invalid);
        return labels;
    }
    for (name, item) in sub.iter() {
        let name_text = name.get_ref().as_ref();
        let value = match item.get_ref() {
            DeValue::String(text) => Ok(text.to_string()),
            other => Err(Invalid::new(
                format!("expected a string, found {}", other.type_str()),
                LABEL_VALUE_ALLOWED,
            )),
        };
        let checked = label_name(name_text).and_then(|()| value.and_then(|v| label_value(&v)));
        match checked {
            Ok(value) => {
                labels.insert(name_text.to_string(), value);
            }
            Err(invalid) => {
                let shown = Some(ctx.shown(item));
                ctx.issue(&item.span(), format!("{key}.{name_text}"), shown, invalid);
            }
        }
    }
    labels
}

const LABEL_NAME_ALLOWED: &str = "label names of lower-case letters, digits and _, not starting \
    with a digit, at most 32 characters, not starting with __ and not account, class, purpose, \
    job or instance";
const LABEL_VALUE_ALLOWED: &str =
    "1 to 64 characters of letters, digits, '.', '_' and '-', e.g. \"payments\"";

/// `[a-z_][a-z0-9_]{0,31}`, not reserved: it becomes `label_<name>` on a metric.
pub(crate) fn label_name(name: &str) -> Result<(), Invalid> {
    let well_formed = !name.is_empty()
        && name.len() <= MAX_LABEL_NAME_CHARS
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    let problem = if !well_formed {
        format!("label name {name:?} is not allowed")
    } else if name.starts_with("__") || RESERVED_LABEL_NAMES.contains(&name) {
        format!("label name {name:?} is reserved")
    } else {
        return Ok(());
    };
    Err(Invalid::new(problem, LABEL_NAME_ALLOWED))
}

/// A value safe in a metric label, a URL-less filter and a shell line: `[A-Za-z0-9._-]{1,64}`.
pub(crate) fn label_value(value: &str) -> Result<String, Invalid> {
    let valid = !value.is_empty()
        && value.len() <= MAX_LABEL_VALUE_CHARS
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if valid {
        Ok(value.to_string())
    } else {
        let chars = value.chars().count();
        let problem = if chars > MAX_LABEL_VALUE_CHARS {
            format!("a label value of {chars} characters")
        } else {
            format!("label value {value:?} has a character that is not allowed")
        };
        Err(Invalid::new(problem, LABEL_VALUE_ALLOWED))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_names_follow_the_metric_rule_and_avoid_reserved_ones() {
        for good in ["team", "_x", "customer_2", &"a".repeat(32)] {
            assert!(label_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "Team",
            "2x",
            "te-am",
            "__x",
            "account",
            "class",
            &"a".repeat(33),
        ] {
            assert!(label_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn label_values_are_short_and_from_a_safe_charset() {
        for good in ["payments", "acme-1.eu_west", &"v".repeat(64)] {
            assert!(label_value(good).is_ok(), "{good}");
        }
        for bad in ["", "a b", "x\"y", "é", "a,b", "a=b", &"v".repeat(65)] {
            assert!(label_value(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn purposes_need_their_scopes() {
        assert!(Purpose::Messaging.sends() && !Purpose::Messaging.manages());
        assert!(Purpose::Management.manages() && !Purpose::Management.sends());
        assert_eq!(Purpose::Both.needed_scopes().len(), 2);
        assert_eq!(Purpose::default(), Purpose::Both);
    }
}
