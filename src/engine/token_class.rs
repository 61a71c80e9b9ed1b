//! Token classes: what kind of token an account holds (from `debug_token` and the account's
//! `token-kind`) and what each kind needs to stay alive. Pure: no clock, no I/O.
//!
//! `debug_token` reports a customer's business (Embedded Signup, "BISU") token as
//! `SYSTEM_USER`, exactly like a system user's own token (REFERENCE.md 14.2). tokentop tells
//! them apart by the account's `token-kind = "business"` (written by whoever onboarded the
//! customer), not by asking `GET /me?fields=client_business_id` of every token: that would be
//! one more Graph request per account and inspection, against the budget of 400 requests for
//! 10,000 accounts. Without `token-kind`, a `SYSTEM_USER` token is a system user's.

use serde::Serialize;

use crate::config::{Purpose, TokenKind};
use crate::graph::{Expiry, TokenInfo};

/// A `USER` token whose whole lifetime is at most this long is short-lived (Meta: about 1-2 h,
/// API Setup's temporary token up to about 24 h); a long-lived one lives about 60 days.
const SHORT_LIVED_MAX_SECS: i64 = 2 * 86_400;

/// What kind of token an account holds. The words are stable: metric labels, `check --json`,
/// `/status` and the fleet filter use them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
pub enum TokenClass {
    #[serde(rename = "user-short")]
    UserShort,
    #[serde(rename = "user-long")]
    UserLong,
    #[serde(rename = "system-never")]
    SystemNever,
    #[serde(rename = "system-60d")]
    System60d,
    #[serde(rename = "business-never")]
    BusinessNever,
    #[serde(rename = "business-60d")]
    Business60d,
    /// An app token (`{app-id}|{secret}`): it cannot send WhatsApp messages.
    #[serde(rename = "app")]
    App,
    /// Not inspected yet, or a type tokentop does not use (`PAGE`).
    #[default]
    #[serde(rename = "unknown")]
    Unknown,
}

impl TokenClass {
    pub const ALL: [TokenClass; 8] = [
        TokenClass::UserShort,
        TokenClass::UserLong,
        TokenClass::SystemNever,
        TokenClass::System60d,
        TokenClass::BusinessNever,
        TokenClass::Business60d,
        TokenClass::App,
        TokenClass::Unknown,
    ];

    /// The stable word, as serialized.
    pub fn word(self) -> &'static str {
        match self {
            TokenClass::UserShort => "user-short",
            TokenClass::UserLong => "user-long",
            TokenClass::SystemNever => "system-never",
            TokenClass::System60d => "system-60d",
            TokenClass::BusinessNever => "business-never",
            TokenClass::Business60d => "business-60d",
            TokenClass::App => "app",
            TokenClass::Unknown => "unknown",
        }
    }

    /// In words for people: `business token, 60 days`.
    pub fn describe(self) -> &'static str {
        match self {
            TokenClass::UserShort => "short-lived user token",
            TokenClass::UserLong => "long-lived user token",
            TokenClass::SystemNever => "system-user token, never expires",
            TokenClass::System60d => "system-user token, 60 days",
            TokenClass::BusinessNever => "business token, never expires",
            TokenClass::Business60d => "business token, 60 days",
            TokenClass::App => "app token (cannot send)",
            TokenClass::Unknown => "unknown",
        }
    }
}

/// The class of a token from its inspection and the account's `token-kind`. The inspection's
/// `type` wins over the config (a `USER` token is a user token whatever the file says);
/// `token-kind` only splits `SYSTEM_USER` into business and system user.
pub fn classify(info: Option<&TokenInfo>, kind: Option<TokenKind>) -> TokenClass {
    let Some(info) = info else {
        return TokenClass::Unknown;
    };
    let never = info.expiry() == Expiry::Never;
    match info.token_type.as_deref() {
        Some("APP") => TokenClass::App,
        Some("USER") => user_class(info),
        Some("SYSTEM_USER") => match (kind == Some(TokenKind::Business), never) {
            (true, true) => TokenClass::BusinessNever,
            (true, false) => TokenClass::Business60d,
            (false, true) => TokenClass::SystemNever,
            (false, false) => TokenClass::System60d,
        },
        _ => TokenClass::Unknown,
    }
}

/// Short or long from the token's whole lifetime (`issued_at` to `expires_at`): what is left
/// of a long-lived token near its end is still a long-lived token.
fn user_class(info: &TokenInfo) -> TokenClass {
    match (info.expiry(), info.issued_at) {
        (Expiry::At(expires_at), Some(issued_at))
            if expires_at.saturating_sub(issued_at) <= SHORT_LIVED_MAX_SECS =>
        {
            TokenClass::UserShort
        }
        _ => TokenClass::UserLong,
    }
}

/// The WhatsApp scopes `info` lacks that `purpose` needs: a messaging account without the
/// management scope is healthy, and the other way round.
pub fn missing_scopes(info: &TokenInfo, purpose: Purpose) -> Vec<String> {
    let needed = purpose.needed_scopes();
    info.missing_whatsapp_scopes()
        .into_iter()
        .filter(|scope| needed.contains(scope))
        .map(str::to_string)
        .collect()
}

/// How a class is kept alive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renewal {
    /// Exchanged before expiry, as tokentop always did (user tokens, unknown classes).
    Exchange,
    /// Exchanged before expiry with `set_token_expires_in_60_days=true` (60-day system users,
    /// and 60-day business tokens where the config allows trying).
    ExchangeSixtyDays,
    /// Never exchanged, only inspected (at every check interval) and watched for revocation.
    InspectOnly,
    /// Meta documents no renewal: a person must act before the token's expiry.
    PersonBefore,
    /// Not a token for sending at all (an app token): never exchanged.
    Refused,
}

impl Renewal {
    /// Whether tokentop may exchange the token at all (a forced refresh, a send's 190).
    pub fn may_exchange(self) -> bool {
        matches!(self, Renewal::Exchange | Renewal::ExchangeSixtyDays)
    }
}

/// The policy of `class`; `renew_business` is `[refresh] renew-business-tokens`.
pub fn renewal(class: TokenClass, renew_business: bool) -> Renewal {
    match class {
        TokenClass::SystemNever | TokenClass::BusinessNever => Renewal::InspectOnly,
        TokenClass::System60d => Renewal::ExchangeSixtyDays,
        TokenClass::Business60d if renew_business => Renewal::ExchangeSixtyDays,
        TokenClass::Business60d => Renewal::PersonBefore,
        TokenClass::App => Renewal::Refused,
        TokenClass::UserShort | TokenClass::UserLong | TokenClass::Unknown => Renewal::Exchange,
    }
}

/// What a person must do before a 60-day business token runs out.
pub fn business_remedy(account: &str) -> String {
    format!(
        "Meta documents no renewal of a 60-day business token: the customer must run Embedded \
         Signup again, then store the new business token for account {account} (`tokentop \
         exchange --account {account} --system-user`)"
    )
}

/// Why an app token is refused for sending.
pub fn app_token_remedy(account: &str) -> String {
    format!(
        "account {account} holds an app token, which cannot send WhatsApp messages: configure a \
         system-user or business token"
    )
}

#[cfg(test)]
#[path = "token_class_tests.rs"]
mod tests;
