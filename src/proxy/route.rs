//! Which account a proxied request is for, and whether its path may pass at all. Pure.
//!
//! Allowed by default: the accounts' phone-number and WABA ids with any edges below them
//! (`/{phone-number-id}/messages`, `/{waba-id}/message_templates`, ...), a media id alone
//! (`/{media-id}`, digits only, `GET` only: read one media object), and `/debug_token`.
//! `[proxy] allow` adds patterns where `*` stands for one segment. Everything else, and
//! `oauth/access_token` in particular (it would mint tokens with tokentop's app secret), is
//! refused.
//!
//! The path is checked as Meta would see it: the HTTP client resolves `.` and `..` before it
//! sends, so `/{phone-id}/../oauth/access_token` would pass a check of the raw path and reach
//! `/oauth/access_token`. A dot segment in any spelling (`..`, `%2e%2e`, `.%2E`, `..\`), an
//! encoded `/` or `\`, or a backslash is refused before routing, and the upstream path is
//! rebuilt from the very segments that were checked ([`upstream_path`]).

/// One account's ids, for routing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountIds {
    pub name: String,
    pub phone_number_id: Option<String>,
    pub business_account_id: Option<String>,
    /// What the account's token is for: a phone-number id routes to a messaging account first.
    pub purpose: crate::config::Purpose,
}

/// The decision on one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Forward for the account at this index of the accounts routed by (an index, not its
    /// name: a request copies no string to find its account's token and slots).
    Account(usize),
    /// The path is not on the allow-list.
    Forbidden { path: String },
    /// Allowed, but no account could be chosen (several accounts, no id in the path, no header).
    NoAccount { accounts: Vec<String> },
    /// The `X-Tokentop-Account` header names no configured account.
    UnknownAccount { name: String, accounts: Vec<String> },
    /// The path could mean another path once resolved (dot segments, encoded separators).
    BadPath { reason: &'static str },
}

/// Why `path` is refused before any routing, if it is: anything that a client, a proxy in
/// between or Meta could resolve to another path than the one checked.
pub fn unsafe_path(path: &str) -> Option<&'static str> {
    if path.contains('\\') {
        return Some("a backslash in the path");
    }
    // Graph paths are ids and edge names: nothing in them needs these encoded. Read in place,
    // in any case, without a lowercase copy of every path.
    let encoded_separator = path.as_bytes().windows(3).any(|w| {
        w[0] == b'%'
            && matches!(
                (w[1], w[2].to_ascii_lowercase()),
                (b'2', b'e' | b'f' | b'5') | (b'5', b'c')
            )
    });
    if encoded_separator {
        return Some("an encoded '.', '/', '\\' or '%' in the path");
    }
    if path
        .split('/')
        .any(|segment| segment == "." || segment == "..")
    {
        return Some("a '.' or '..' segment in the path");
    }
    None
}

/// The path sent upstream: the version (if any) and the segments [`route`] checked, so what
/// reaches Meta is exactly what was allowed.
pub fn upstream_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for part in upstream_segments(path) {
        out.push('/');
        out.push_str(part);
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

/// The segments of [`upstream_path`]: the version (if any), then [`segments`].
pub fn upstream_segments(path: &str) -> impl Iterator<Item = &str> {
    let version = path
        .split('/')
        .find(|s| !s.is_empty())
        .filter(|first| is_version(first));
    version.into_iter().chain(segments(path))
}

/// The path's segments without an optional leading version (`/v25.0/...`); read in place, as
/// every request's path is.
pub fn segments(path: &str) -> impl Iterator<Item = &str> + Clone {
    let mut parts = path.split('/').filter(|s| !s.is_empty()).peekable();
    if parts.peek().is_some_and(|first| is_version(first)) {
        parts.next();
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

/// Routes `path` (without the query) of a `GET` (`is_get`) or other request, given the
/// `X-Tokentop-Account` header.
pub fn route(
    path: &str,
    is_get: bool,
    header_account: Option<&str>,
    accounts: &[AccountIds],
    allow: &[String],
) -> Route {
    if let Some(reason) = unsafe_path(path) {
        return Route::BadPath { reason };
    }
    let parts = segments(path);
    let names = || accounts.iter().map(|a| a.name.clone()).collect::<Vec<_>>();
    let first = parts.clone().next();
    let by_id = first.and_then(|first| account_by_id(accounts, first));
    let only = |wanted: fn(&str) -> bool| {
        let mut each = parts.clone();
        each.next().is_some_and(wanted) && each.next().is_none()
    };
    let allowed = by_id.is_some()
        || only(|s| s == "debug_token")
        || (is_get && only(is_id))
        || allow
            .iter()
            .any(|pattern| matches_pattern(pattern, parts.clone()));
    if !allowed || first.is_none() {
        return Route::Forbidden {
            path: format!("/{}", parts.collect::<Vec<_>>().join("/")),
        };
    }
    if let Some(index) = by_id {
        return Route::Account(index);
    }
    match header_account.map(str::trim).filter(|h| !h.is_empty()) {
        Some(name) => match accounts.iter().position(|a| a.name == name) {
            Some(index) => Route::Account(index),
            None => Route::UnknownAccount {
                name: name.to_string(),
                accounts: names(),
            },
        },
        None => match accounts {
            [_] => Route::Account(0),
            _ => Route::NoAccount { accounts: names() },
        },
    }
}

/// The account an id in the path names, by its index. Among several of one phone or WABA (a
/// messaging and a management account), the one whose purpose fits: a phone-number id is for
/// sending, a WABA id for managing; else the first that has the id.
fn account_by_id(accounts: &[AccountIds], id: &str) -> Option<usize> {
    let phone = |a: &AccountIds| a.phone_number_id.as_deref() == Some(id);
    let waba = |a: &AccountIds| a.business_account_id.as_deref() == Some(id);
    accounts
        .iter()
        .position(|a| phone(a) && a.purpose.sends())
        .or_else(|| accounts.iter().position(|a| waba(a) && a.purpose.manages()))
        .or_else(|| accounts.iter().position(|a| phone(a) || waba(a)))
}

/// `/*/message_templates` matches `["123", "message_templates"]`; a pattern matches the path
/// and anything below it.
fn matches_pattern<'a>(pattern: &str, mut parts: impl Iterator<Item = &'a str>) -> bool {
    let mut wanted = segments(pattern).peekable();
    if wanted.peek().is_none() {
        return false;
    }
    wanted.all(|want| parts.next().is_some_and(|part| want == "*" || want == part))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The name of the account `route` chose, or the refusal.
    fn routed<'a>(
        path: &str,
        is_get: bool,
        header_account: Option<&str>,
        accounts: &'a [AccountIds],
        allow: &[String],
    ) -> Result<&'a str, Route> {
        match route(path, is_get, header_account, accounts, allow) {
            Route::Account(index) => Ok(&accounts[index].name),
            other => Err(other),
        }
    }

    fn accounts() -> Vec<AccountIds> {
        vec![
            AccountIds {
                name: "production".into(),
                phone_number_id: Some("106540352242922".into()),
                business_account_id: Some("102290129340398".into()),
                purpose: Default::default(),
            },
            AccountIds {
                name: "staging".into(),
                phone_number_id: Some("200000000000001".into()),
                business_account_id: None,
                purpose: Default::default(),
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
                routed(path, true, Some("staging"), &accounts, &[]),
                Ok(account),
                "{path}"
            );
        }
    }

    #[test]
    fn a_phone_shared_by_two_accounts_sends_with_the_messaging_one_and_manages_with_the_other() {
        use crate::config::Purpose;
        let shared = |name: &str, purpose| AccountIds {
            name: name.into(),
            phone_number_id: Some("106540352242922".into()),
            business_account_id: Some("102290129340398".into()),
            purpose,
        };
        for accounts in [
            vec![
                shared("ops", Purpose::Management),
                shared("send", Purpose::Messaging),
            ],
            vec![
                shared("send", Purpose::Messaging),
                shared("ops", Purpose::Management),
            ],
        ] {
            let to = |path| routed(path, false, None, &accounts, &[]);
            assert_eq!(to("/v25.0/106540352242922/messages"), Ok("send"));
            assert_eq!(to("/v25.0/102290129340398/message_templates"), Ok("ops"));
        }
        // Only a management account has the phone: it is still the one named.
        let only = [shared("ops", Purpose::Management)];
        assert_eq!(
            routed("/106540352242922/messages", false, None, &only, &[]),
            Ok("ops")
        );
    }

    #[test]
    fn other_paths_need_the_header_or_a_single_account() {
        let accounts = accounts();
        assert_eq!(
            routed("/v25.0/987654321", true, Some("staging"), &accounts, &[]),
            Ok("staging")
        );
        assert!(matches!(
            route("/v25.0/987654321", true, None, &accounts, &[]),
            Route::NoAccount { .. }
        ));
        assert!(matches!(
            route("/debug_token", true, Some("nobody"), &accounts, &[]),
            Route::UnknownAccount { .. }
        ));
        assert_eq!(
            routed("/debug_token", true, None, &accounts[..1], &[]),
            Ok("production")
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
                    route(path, true, Some("production"), &accounts, &[]),
                    Route::Forbidden { .. }
                ),
                "{path}"
            );
        }
        let allow = vec!["/*/subscribed_apps".to_string()];
        assert_eq!(
            routed(
                "/v25.0/987654321/subscribed_apps",
                true,
                Some("production"),
                &accounts,
                &allow
            ),
            Ok("production")
        );
    }

    #[test]
    fn dot_segments_in_any_spelling_are_refused_before_routing() {
        let accounts = accounts();
        for path in [
            "/106540352242922/../oauth/access_token",
            "/v25.0/106540352242922/../oauth/access_token",
            "/106540352242922/%2e%2e/oauth/access_token",
            "/106540352242922/%2E%2e/oauth/access_token",
            "/106540352242922/.%2E/oauth/access_token",
            "/106540352242922/..\\oauth/access_token",
            "/102290129340398/../../me",
            "/106540352242922/./../me/permissions",
            "/106540352242922/./messages",
            "/106540352242922%2f..%2foauth/access_token",
            "/106540352242922/%252e%252e/oauth/access_token",
        ] {
            assert!(
                matches!(
                    route(path, true, None, &accounts, &[]),
                    Route::BadPath { .. }
                ),
                "{path}"
            );
        }
        // A dot inside a segment is an ordinary name, not a dot segment.
        assert_eq!(unsafe_path("/v25.0/106540352242922/file.jpg"), None);
    }

    #[test]
    fn the_upstream_path_is_rebuilt_from_the_checked_segments() {
        assert_eq!(
            upstream_path("/v25.0//106540352242922/messages/"),
            "/v25.0/106540352242922/messages"
        );
        assert_eq!(upstream_path("/debug_token"), "/debug_token");
        assert_eq!(upstream_path("/"), "/");
    }

    #[test]
    fn a_bare_media_id_is_read_only_unless_allowed() {
        let accounts = accounts();
        assert_eq!(
            routed("/v25.0/987654321", true, Some("staging"), &accounts, &[]),
            Ok("staging")
        );
        assert!(matches!(
            route("/v25.0/987654321", false, Some("staging"), &accounts, &[]),
            Route::Forbidden { .. }
        ));
        let allow = vec!["/*".to_string()];
        assert_eq!(
            routed(
                "/v25.0/987654321",
                false,
                Some("staging"),
                &accounts,
                &allow
            ),
            Ok("staging")
        );
    }
}
