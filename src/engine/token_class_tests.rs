//! Every class from `debug_token` answers in the captured fixtures' and the simulator's shapes,
//! and the policy of each.

use super::*;
use crate::graph::parse_debug_token;

const APP: &str = include_str!("../../tests/fixtures/debug_token_app_token.json");
const USER_LONG: &str = include_str!("../../tests/fixtures/debug_token_user_long_lived_valid.json");
const USER_EXPIRED: &str = include_str!("../../tests/fixtures/debug_token_user_expired_463.json");
const SYSTEM_NEVER: &str = include_str!("../../tests/fixtures/debug_token_system_user_never.json");
const CANNOT_PARSE: &str = include_str!("../../tests/fixtures/debug_token_cannot_parse.json");

fn info(body: &str) -> TokenInfo {
    parse_debug_token(body).unwrap()
}

/// The simulator's `valid_data` shape for a token of `kind` issued at 1000.
fn sim(kind: &str, expires_at: i64) -> TokenInfo {
    info(&format!(
        r#"{{"data":{{"app_id":"1","type":"{kind}","application":"tokentop simulator",
        "data_access_expires_at":0,"expires_at":{expires_at},"is_valid":true,"issued_at":1000,
        "scopes":["whatsapp_business_management","whatsapp_business_messaging"]}}}}"#
    ))
}

const DAY: i64 = 86_400;

#[test]
fn captured_fixtures_classify_as_their_kind() {
    assert_eq!(classify(Some(&info(APP)), None), TokenClass::App);
    assert_eq!(classify(Some(&info(USER_LONG)), None), TokenClass::UserLong);
    assert_eq!(
        classify(Some(&info(SYSTEM_NEVER)), None),
        TokenClass::SystemNever
    );
    assert_eq!(
        classify(Some(&info(SYSTEM_NEVER)), Some(TokenKind::Business)),
        TokenClass::BusinessNever
    );
    // A dead token still says its type: the class stays what it was.
    let expired = classify(Some(&info(USER_EXPIRED)), None);
    assert!(matches!(
        expired,
        TokenClass::UserShort | TokenClass::UserLong
    ));
    // No type at all (a token that is no token): unknown.
    assert_eq!(
        classify(Some(&info(CANNOT_PARSE)), None),
        TokenClass::Unknown
    );
    assert_eq!(
        classify(None, Some(TokenKind::Business)),
        TokenClass::Unknown
    );
}

#[test]
fn simulator_shapes_give_every_class() {
    let cases = [
        (sim("USER", 1000 + 3600), None, TokenClass::UserShort),
        (sim("USER", 1000 + 2 * DAY), None, TokenClass::UserShort),
        (sim("USER", 1000 + 2 * DAY + 1), None, TokenClass::UserLong),
        (sim("USER", 1000 + 60 * DAY), None, TokenClass::UserLong),
        (sim("SYSTEM_USER", 0), None, TokenClass::SystemNever),
        (sim("SYSTEM_USER", 60 * DAY), None, TokenClass::System60d),
        (
            sim("SYSTEM_USER", 0),
            Some(TokenKind::SystemUser),
            TokenClass::SystemNever,
        ),
        (
            sim("SYSTEM_USER", 0),
            Some(TokenKind::Business),
            TokenClass::BusinessNever,
        ),
        (
            sim("SYSTEM_USER", 60 * DAY),
            Some(TokenKind::Business),
            TokenClass::Business60d,
        ),
        // The inspection's type wins over the config.
        (
            sim("USER", 1000 + 60 * DAY),
            Some(TokenKind::Business),
            TokenClass::UserLong,
        ),
        (sim("APP", 0), Some(TokenKind::User), TokenClass::App),
        (sim("PAGE", 0), None, TokenClass::Unknown),
    ];
    for (info, kind, want) in cases {
        assert_eq!(classify(Some(&info), kind), want, "{info:?} {kind:?}");
    }
}

#[test]
fn words_are_stable_and_match_serde() {
    let words: Vec<&str> = TokenClass::ALL.iter().map(|c| c.word()).collect();
    assert_eq!(
        words,
        [
            "user-short",
            "user-long",
            "system-never",
            "system-60d",
            "business-never",
            "business-60d",
            "app",
            "unknown"
        ]
    );
    for class in TokenClass::ALL {
        assert_eq!(
            serde_json::to_value(class).unwrap(),
            serde_json::json!(class.word())
        );
    }
}

#[test]
fn policy_per_class() {
    use Renewal::*;
    let expected = [
        (TokenClass::UserShort, Exchange, Exchange),
        (TokenClass::UserLong, Exchange, Exchange),
        (TokenClass::SystemNever, InspectOnly, InspectOnly),
        (TokenClass::System60d, ExchangeSixtyDays, ExchangeSixtyDays),
        (TokenClass::BusinessNever, InspectOnly, InspectOnly),
        (TokenClass::Business60d, PersonBefore, ExchangeSixtyDays),
        (TokenClass::App, Refused, Refused),
        (TokenClass::Unknown, Exchange, Exchange),
    ];
    for (class, default, allowed) in expected {
        assert_eq!(renewal(class, false), default, "{class:?}");
        assert_eq!(
            renewal(class, true),
            allowed,
            "{class:?} renew-business-tokens"
        );
    }
    assert!(!InspectOnly.may_exchange() && !PersonBefore.may_exchange());
    assert!(!Refused.may_exchange() && ExchangeSixtyDays.may_exchange());
}

#[test]
fn remedies_name_the_account_and_what_to_do() {
    let text = business_remedy("acme");
    assert!(
        text.contains("Embedded Signup again") && text.contains("acme"),
        "{text}"
    );
    assert!(app_token_remedy("acme").contains("cannot send"));
}

#[test]
fn only_the_scopes_a_purpose_needs_are_missing() {
    let only = |scope: &str| {
        info(&format!(
            r#"{{"data":{{"type":"SYSTEM_USER","is_valid":true,"expires_at":0,"scopes":["{scope}"]}}}}"#
        ))
    };
    let messaging = only("whatsapp_business_messaging");
    let management = only("whatsapp_business_management");
    assert!(missing_scopes(&messaging, Purpose::Messaging).is_empty());
    assert!(missing_scopes(&management, Purpose::Management).is_empty());
    assert_eq!(
        missing_scopes(&management, Purpose::Messaging),
        ["whatsapp_business_messaging"]
    );
    assert_eq!(
        missing_scopes(&messaging, Purpose::Both),
        ["whatsapp_business_management"]
    );
}
