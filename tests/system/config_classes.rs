#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `token-kind`, `purpose`, `labels` and `[refresh] renew-business-tokens`: what they resolve
//! to, and a table of mistakes, each named with its line, key, value and what is allowed.

use std::collections::BTreeMap;

use tokentop::config::{ConfigErrors, EnvSnapshot, Overrides, Purpose, Settings, TokenKind, load};

fn load_text(text: &str) -> Result<Settings, ConfigErrors> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(&path, text).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let overrides = Overrides {
        config: Some(path),
        data_dir: Some(dir.path().join("data")),
        ..Overrides::default()
    };
    load(
        &overrides,
        &EnvSnapshot::from_pairs::<[(&str, &str); 0], _, _>([]),
    )
}

fn account(keys: &str) -> String {
    format!("[[account]]\nname = \"acme\"\n{keys}")
}

#[test]
fn the_keys_resolve_to_their_values_and_default_to_both_and_none() {
    let settings = load_text(&account("")).unwrap();
    let profile = &settings.accounts[0].profile;
    assert_eq!(profile.token_kind, None);
    assert_eq!(profile.purpose, Purpose::Both);
    assert!(profile.labels.is_empty());
    assert!(!settings.refresh.renew_business_tokens);

    let text = account(
        "token-kind = \"business\"\npurpose = \"messaging\"\n\
         labels = { team = \"payments\", customer = \"acme-1.eu_west\" }\n",
    ) + "[refresh]\nrenew-business-tokens = true\n";
    let settings = load_text(&text).unwrap();
    let profile = &settings.accounts[0].profile;
    assert_eq!(profile.token_kind, Some(TokenKind::Business));
    assert_eq!(profile.purpose, Purpose::Messaging);
    let labels = BTreeMap::from([
        ("customer".to_string(), "acme-1.eu_west".to_string()),
        ("team".to_string(), "payments".to_string()),
    ]);
    assert_eq!(profile.labels, labels);
    assert!(settings.refresh.renew_business_tokens);

    for (word, kind) in [
        ("system-user", TokenKind::SystemUser),
        ("user", TokenKind::User),
    ] {
        let settings = load_text(&account(&format!("token-kind = \"{word}\"\n"))).unwrap();
        assert_eq!(settings.accounts[0].profile.token_kind, Some(kind));
    }
    // A sub-table works as well as an inline one.
    let settings = load_text(&account("[account.labels]\nteam = \"ops\"\n")).unwrap();
    assert_eq!(settings.accounts[0].profile.labels["team"], "ops");
}

/// (the account's extra keys, line, key, bad value as shown, a piece of the allowed text)
const INVALID_CASES: &[(&str, usize, &str, &str, &str)] = &[
    (
        "token-kind = \"bisu\"",
        3,
        "account.token-kind",
        "\"bisu\"",
        "business, system-user, user",
    ),
    (
        "purpose = \"sending\"",
        3,
        "account.purpose",
        "\"sending\"",
        "messaging, management, both",
    ),
    (
        "purpose = 1",
        3,
        "account.purpose",
        "1",
        "messaging, management, both",
    ),
    (
        "labels = { Team = \"x\" }",
        3,
        "account.labels.Team",
        "\"x\"",
        "lower-case letters, digits and _",
    ),
    (
        "labels = { 2team = \"x\" }",
        3,
        "account.labels.2team",
        "\"x\"",
        "not starting with a digit",
    ),
    (
        "labels = { account = \"x\" }",
        3,
        "account.labels.account",
        "\"x\"",
        "not account, class, purpose",
    ),
    (
        "labels = { class = \"x\" }",
        3,
        "account.labels.class",
        "\"x\"",
        "not account, class, purpose",
    ),
    (
        "labels = { __name__ = \"x\" }",
        3,
        "account.labels.__name__",
        "\"x\"",
        "not starting with __",
    ),
    (
        "labels = { team = \"pay ments\" }",
        3,
        "account.labels.team",
        "\"pay ments\"",
        "letters, digits, '.', '_' and '-'",
    ),
    (
        "labels = { team = \"\" }",
        3,
        "account.labels.team",
        "\"\"",
        "1 to 64 characters",
    ),
    (
        "labels = { team = 5 }",
        3,
        "account.labels.team",
        "5",
        "1 to 64 characters",
    ),
    (
        "labels = { a = \"1\", b = \"2\", c = \"3\", d = \"4\", e = \"5\", f = \"6\" }",
        3,
        "account.labels",
        "{ a = \"1\", b = \"2\", c = \"3\", d = \"4\", e = \"5\", f = \"6\" }",
        "at most 5 labels",
    ),
    (
        "labels = \"team=payments\"",
        3,
        "account.labels",
        "\"team=payments\"",
        "a table [account.labels]",
    ),
];

#[test]
fn invalid_values_name_line_key_value_and_what_is_allowed() {
    for (keys, line, key, value, allowed) in INVALID_CASES {
        let errors = load_text(&account(&format!("{keys}\n"))).unwrap_err();
        assert_eq!(errors.issues.len(), 1, "{keys}\n{errors}");
        let issue = &errors.issues[0];
        let shown = issue.to_string();
        assert_eq!(issue.line, Some(*line), "{shown}");
        assert_eq!(issue.key, *key, "{shown}");
        assert_eq!(issue.value.as_deref(), Some(*value), "{shown}");
        assert!(issue.allowed.contains(allowed), "{shown}");
    }
}

#[test]
fn a_long_label_value_says_how_long_it_is() {
    let long = "v".repeat(65);
    let errors = load_text(&account(&format!("labels = {{ team = \"{long}\" }}\n"))).unwrap_err();
    assert!(
        errors.issues[0]
            .problem
            .contains("a label value of 65 characters"),
        "{errors}"
    );
}

#[test]
fn renew_business_tokens_takes_only_a_boolean() {
    let errors = load_text("[refresh]\nrenew-business-tokens = \"yes\"\n").unwrap_err();
    let issue = &errors.issues[0];
    assert_eq!(issue.key, "refresh.renew-business-tokens");
    assert!(issue.allowed.contains("true or false"), "{issue}");
}
