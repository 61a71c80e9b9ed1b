//! Real captured Graph API payloads parse into the right types and error classes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use reqwest::header::HeaderMap;
use tokentop::graph::{ErrorClass, Expiry, parse_debug_token, parse_error_body};

/// Real payloads captured from Meta, kept in the repository.
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/");

/// Fixtures covered by a test in this file; a new fixture must be added here (and tested).
/// The `webhook_*` ones other than `webhook_message_statuses.json` are the shapes the
/// simulator's webhooks are held to (`sim_webhooks.rs`, and the unit tests of
/// `src/sim/webhook_payloads.rs` and `src/sim/webhook_events.rs`);
/// `debug_token_system_user_never.json` is held by `src/engine/token_class_tests.rs`.
const COVERED: [&str; 21] = [
    "debug_token_app_token.json",
    "debug_token_cannot_parse.json",
    "debug_token_invalid_signature.json",
    "debug_token_system_user_never.json",
    "debug_token_user_expired_463.json",
    "debug_token_user_long_lived_valid.json",
    "error_access_token_session_expired.json",
    "error_appsecret_proof_missing.json",
    "error_debug_only_access_token.json",
    "error_debug_token_caller_not_allowed.json",
    "error_session_invalidated_password.json",
    "es_code_exchange_response.json",
    "send_message_accepted.json",
    "webhook_account_update_disabled.json",
    "webhook_account_update_partner_app_installed.json",
    "webhook_account_update_partner_app_uninstalled.json",
    "webhook_message_statuses.json",
    "webhook_message_template_quality_update.json",
    "webhook_message_template_status_update.json",
    "webhook_phone_number_quality_update.json",
    "webhook_statuses_batch_mixed.json",
];

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{FIXTURES}{name}"))
        .unwrap_or_else(|e| panic!("cannot read fixture {name}: {e}"))
}

#[test]
fn every_fixture_is_covered_by_a_test() {
    let mut names: Vec<String> = std::fs::read_dir(FIXTURES)
        .expect("tests/fixtures")
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        // `tls/` holds the relay's test certificates, not Meta's payloads.
        .filter(|name| name != "tls")
        .collect();
    names.sort();
    assert_eq!(names, COVERED.map(str::to_string).to_vec());
}

/// An Embedded Signup code exchange (REFERENCE.md 14.2): the token alone, no lifetime.
#[test]
fn an_embedded_signup_exchange_gives_a_token_without_a_lifetime() {
    let exchanged =
        tokentop::graph::parse_code_exchange(&fixture("es_code_exchange_response.json")).unwrap();
    assert!(secrecy::ExposeSecret::expose_secret(&exchanged.access_token).starts_with("EAA"));
    assert_eq!(exchanged.token_type.as_deref(), Some("bearer"));
    assert_eq!(exchanged.expires_in_secs, None);
}

/// Meta's answer to an accepted send (REFERENCE.md section 7): its `messages[0].id` is the wamid
/// status webhooks name (the proxy joins the two by it).
#[test]
fn an_accepted_send_names_its_wamid() {
    let sent = tokentop::graph::parse_send_result(&fixture("send_message_accepted.json")).unwrap();
    assert_eq!(
        sent.message_id.as_deref(),
        Some("wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJCOTY3NDc0NDFDRUI3NTA0Q0UA")
    );
    assert_eq!(sent.message_status.as_deref(), Some("accepted"));
    assert_eq!(sent.wa_id.as_deref(), Some("15551234567"));
}

#[test]
fn long_lived_user_token_is_valid_with_sixty_days() {
    let info = parse_debug_token(&fixture("debug_token_user_long_lived_valid.json")).unwrap();
    assert!(info.is_valid);
    assert_eq!(info.token_type.as_deref(), Some("USER"));
    assert!(!info.is_system_user());
    assert_eq!(info.app_id.as_deref(), Some("257422819769992"));
    assert_eq!(
        info.application.as_deref(),
        Some("oauth2-rs-f-b-web-app-demo")
    );
    assert_eq!(info.expiry(), Expiry::At(1_673_934_788));
    assert_eq!(info.data_access_expiry(), Expiry::At(1_676_526_788));
    assert_eq!(info.issued_at, Some(1_668_750_788));
    assert_eq!(1_673_934_788 - info.issued_at.unwrap(), 60 * 24 * 3600);
    assert_eq!(info.scopes, vec!["public_profile".to_string()]);
    assert!(info.granular_scopes.is_empty());
    assert_eq!(info.user_id.as_deref(), Some("123"));
    assert!(info.error.is_none());
    assert_eq!(
        info.missing_whatsapp_scopes(),
        vec![
            "whatsapp_business_messaging",
            "whatsapp_business_management"
        ]
    );
}

#[test]
fn expired_token_is_http_200_with_in_body_error_190_463() {
    let info = parse_debug_token(&fixture("debug_token_user_expired_463.json")).unwrap();
    assert!(!info.is_valid);
    let error = info.error.as_ref().expect("data.error");
    assert_eq!(error.code, Some(190));
    assert_eq!(error.subcode, Some(463));
    assert!(
        error
            .message
            .starts_with("Error validating access token: Session has expired")
    );
    assert_eq!(info.expiry(), Expiry::At(1_668_613_551));
    assert_eq!(info.scopes, vec!["email", "public_profile"]);
}

#[test]
fn session_expired_envelope_is_token_dead_and_keeps_fbtrace_id() {
    let body = fixture("error_access_token_session_expired.json");
    let err = parse_error_body(400, &HeaderMap::new(), &body, &[]);
    assert_eq!(err.class, ErrorClass::TokenDead);
    assert_eq!(err.code, Some(190));
    assert_eq!(err.subcode, None);
    assert_eq!(err.error_type.as_deref(), Some("OAuthException"));
    assert_eq!(err.fbtrace_id.as_deref(), Some("AOl1gSqZRMyPzEMw9OJXzYh"));
    assert_eq!(err.http_status, Some(400));
    assert!(!err.is_transient);
    let shown = err.to_string();
    assert!(
        shown.starts_with("Graph API error 190 (OAuthException, token dead): Error validating access token: Session has expired"),
        "{shown}"
    );
    assert!(
        shown.ends_with("[fbtrace_id AOl1gSqZRMyPzEMw9OJXzYh]"),
        "{shown}"
    );
}

#[test]
fn session_expired_envelope_in_a_200_debug_token_answer_is_an_error() {
    let body = fixture("error_access_token_session_expired.json");
    let err = parse_debug_token(&body).unwrap_err();
    assert_eq!(err.class, ErrorClass::TokenDead);
    assert_eq!(err.fbtrace_id.as_deref(), Some("AOl1gSqZRMyPzEMw9OJXzYh"));
}

#[test]
fn webhook_fixture_is_not_a_graph_answer() {
    // Webhook statuses are parsed by the log reader, not the Graph client; here we only make
    // sure the client does not mistake one for a debug_token answer or an error envelope.
    let body = fixture("webhook_message_statuses.json");
    let err = parse_debug_token(&body).unwrap_err();
    assert_eq!(err.class, ErrorClass::Transient);
    assert!(err.message.contains("unexpected body"), "{}", err.message);
    let value: serde_json::Value = serde_json::from_str(&body).unwrap();
    for case in ["sent", "delivered", "read", "failed"] {
        let status = &value[case]["entry"][0]["changes"][0]["value"]["statuses"][0];
        assert_eq!(status["status"], case, "case {case}");
    }
}

#[test]
fn app_token_inspection_is_valid_type_app_without_expiry() {
    let info = parse_debug_token(&fixture("debug_token_app_token.json")).unwrap();
    assert!(info.is_valid);
    assert_eq!(info.token_type.as_deref(), Some("APP"));
    assert_eq!(info.app_id.as_deref(), Some("257422819769992"));
    assert!(info.scopes.is_empty());
    assert!(info.error.is_none());
}

#[test]
fn unparseable_and_badly_signed_tokens_are_invalid_190_without_app_id() {
    for (name, message) in [
        (
            "debug_token_cannot_parse.json",
            "Invalid OAuth access token - Cannot parse access token",
        ),
        (
            "debug_token_invalid_signature.json",
            "Invalid OAuth access token signature.",
        ),
    ] {
        let info = parse_debug_token(&fixture(name)).unwrap();
        assert!(!info.is_valid, "{name}");
        assert_eq!(info.app_id, None, "{name}");
        let error = info.error.as_ref().expect("data.error");
        assert_eq!(error.code, Some(190), "{name}");
        assert_eq!(error.subcode, None, "{name}");
        assert_eq!(error.message, message, "{name}");
    }
}

#[test]
fn missing_appsecret_proof_is_code_100_graph_method_exception() {
    let err = parse_error_body(
        400,
        &HeaderMap::new(),
        &fixture("error_appsecret_proof_missing.json"),
        &[],
    );
    assert_eq!(err.code, Some(100));
    assert_eq!(err.error_type.as_deref(), Some("GraphMethodException"));
    assert_eq!(
        err.message,
        "API calls from the server require an appsecret_proof argument"
    );
    assert_eq!(err.class, ErrorClass::Other);
    assert!(!err.is_transient);
}

#[test]
fn dead_session_envelopes_are_token_dead() {
    for (name, trace) in [
        (
            "error_debug_only_access_token.json",
            "AUfDHCHqpctBdmnqRGLPQbQ",
        ),
        (
            "error_session_invalidated_password.json",
            "AnXK4d44QgU4tjsUwmICTtj",
        ),
    ] {
        let err = parse_error_body(400, &HeaderMap::new(), &fixture(name), &[]);
        assert_eq!(err.class, ErrorClass::TokenDead, "{name}");
        assert_eq!(err.code, Some(190), "{name}");
        assert_eq!(err.error_type.as_deref(), Some("OAuthException"), "{name}");
        assert_eq!(err.fbtrace_id.as_deref(), Some(trace), "{name}");
    }
}

#[test]
fn debug_token_caller_not_allowed_is_code_100_and_keeps_its_message() {
    let err = parse_error_body(
        400,
        &HeaderMap::new(),
        &fixture("error_debug_token_caller_not_allowed.json"),
        &[],
    );
    assert_eq!(err.code, Some(100));
    assert_eq!(err.error_type.as_deref(), Some("OAuthException"));
    assert!(
        err.message
            .starts_with("(#100) You must provide an app access token"),
        "{}",
        err.message
    );
    assert_eq!(err.fbtrace_id.as_deref(), Some("ATro7hQJL1cSosoigB2Od10"));
}

/// REFERENCE.md section 3's example: a never-expiring system-user token (also what a
/// customer's business token looks like; only the account's `token-kind` tells them apart).
#[test]
fn a_never_expiring_system_user_token_says_never_and_its_waba() {
    let info =
        tokentop::graph::parse_debug_token(&fixture("debug_token_system_user_never.json")).unwrap();
    assert!(info.is_valid && info.is_system_user());
    assert_eq!(info.expiry(), tokentop::graph::Expiry::Never);
    assert_eq!(info.data_access_expiry(), tokentop::graph::Expiry::Never);
    assert_eq!(info.granular_scopes[0].target_ids, ["102290129340398"]);
    assert!(info.missing_whatsapp_scopes().is_empty());
}
