//! Which account a proxied request is for, and whether its path may pass at all. Pure.
//!
//! Allowed by default: the accounts' phone-number and WABA ids with any edges below them
//! (`/{phone-number-id}/messages`, `/{waba-id}/message_templates`, ...), a media id alone
//! (`/{media-id}`, digits only: read or delete one media object), and `/debug_token`.
//! `[proxy] allow` adds patterns where `*` stands for one segment. Everything else, and
//! `oauth/access_token` in particular (it would mint tokens with tokentop's app secret), is
//! refused.

/// One account's ids, for routing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountIds {
    pub name: String,
    pub phone_number_id: Option<String>,
    pub business_account_id: Option<String>,
}

/// The decision on one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Forward for this account.
    Account(String),
    /// The path is not on the allow-list.
    Forbidden { path: String },
    /// Allowed, but no account could be chosen (several accounts, no id in the path, no header).
    NoAccount { accounts: Vec<String> },
    /// The `X-Tokentop-Account` header names no configured account.
    UnknownAccount { name: String, accounts: Vec<String> },
}

/// The path's segments without an optional leading version (`/v25.0/...`).
pub fn segments(path: &str) -> Vec<&str> {
    let mut parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if parts.first().is_some_and(|first| is_version(first)) {
        parts.remove(0);
    }
    parts
}

fn is_version(segment: &str) -> bool {
    segment.strip_prefix('v').is_some_and(|rest| {
        !rest.is_empty() && rest.chars().all(|c| c.is_ascii_digit() || c == '.')
    })
}

fn is_id(segment: &str) -> bool {
    !segment.is_empty() && segment.len() <= 32 && segment.chars().all(|c| c.is_ascii_digit())
}

/// Routes `path` (without the query) given the `X-Tokentop-Account` header.
pub fn route(
    path: &str,
    header_account: Option<&str>,
    accounts: &[AccountIds],
    allow: &[String],
) -> Route {
    let parts = segments(path);
    let names = || accounts.iter().map(|a| a.name.clone()).collect::<Vec<_>>();
    let by_id = parts.first().and_then(|first| {
        accounts.iter().find(|a| {
            a.phone_number_id.as_deref() == Some(*first)
                || a.business_account_id.as_deref() == Some(*first)
        })
    });
    let allowed = by_id.is_some()
        || matches!(parts.as_slice(), ["debug_token"])
        || matches!(parts.as_slice(), [id] if is_id(id))
        || allow.iter().any(|pattern| matches_pattern(pattern, &parts));
    if !allowed || parts.is_empty() {
        return Route::Forbidden {
            path: format!("/{}", parts.join("/")),
        };
    }
    if let Some(account) = by_id {
        return Route::Account(account.name.clone());
    }
    match header_account.map(str::trim).filter(|h| !h.is_empty()) {
        Some(name) if accounts.iter().any(|a| a.name == name) => Route::Account(name.to_string()),
        Some(name) => Route::UnknownAccount {
            name: name.to_string(),
            accounts: names(),
        },
        None => match accounts {
            [only] => Route::Account(only.name.clone()),
            _ => Route::NoAccount { accounts: names() },
        },
    }
}

/// `/*/message_templates` matches `["123", "message_templates"]`; a pattern matches the path
/// and anything below it.
fn matches_pattern(pattern: &str, parts: &[&str]) -> bool {
    let wanted: Vec<&str> = segments(pattern);
    !wanted.is_empty()
        && wanted.len() <= parts.len()
        && wanted
            .iter()
            .zip(parts)
            .all(|(want, part)| *want == "*" || want == part)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accounts() -> Vec<AccountIds> {
        vec![
            AccountIds {
                name: "production".into(),
                phone_number_id: Some("106540352242922".into()),
                business_account_id: Some("102290129340398".into()),
            },
            AccountIds {
                name: "staging".into(),
                phone_number_id: Some("200000000000001".into()),
                business_account_id: None,
            },
        ]
    }

    #[test]
    fn ids_in_the_path_pick_the_account_with_or_without_a_version() {
        let accounts = accounts();
        let cases = [
            ("/v25.0/106540352242922/messages", "production"),
            ("/106540352242922/media", "production"),
            ("/v19.0/102290129340398/message_templates", "production"),
            ("/v25.0/200000000000001/messages", "staging"),
        ];
        for (path, account) in cases {
            assert_eq!(
                route(path, Some("staging"), &accounts, &[]),
                Route::Account(account.to_string()),
                "{path}"
            );
        }
    }

    #[test]
    fn other_paths_need_the_header_or_a_single_account() {
        let accounts = accounts();
        assert_eq!(
            route("/v25.0/987654321", Some("staging"), &accounts, &[]),
            Route::Account("staging".into())
        );
        assert!(matches!(
            route("/v25.0/987654321", None, &accounts, &[]),
            Route::NoAccount { .. }
        ));
        assert!(matches!(
            route("/debug_token", Some("nobody"), &accounts, &[]),
            Route::UnknownAccount { .. }
        ));
        assert_eq!(
            route("/debug_token", None, &accounts[..1], &[]),
            Route::Account("production".into())
        );
    }

    #[test]
    fn minting_and_unknown_edges_are_forbidden_unless_allowed() {
        let accounts = accounts();
        for path in [
            "/v25.0/oauth/access_token",
            "/oauth/access_token",
            "/me/accounts",
            "/v25.0/987654321/subscribed_apps",
            "/",
            "/v25.0",
        ] {
            assert!(
                matches!(
                    route(path, Some("production"), &accounts, &[]),
                    Route::Forbidden { .. }
                ),
                "{path}"
            );
        }
        let allow = vec!["/*/subscribed_apps".to_string()];
        assert_eq!(
            route(
                "/v25.0/987654321/subscribed_apps",
                Some("production"),
                &accounts,
                &allow
            ),
            Route::Account("production".into())
        );
    }
}
