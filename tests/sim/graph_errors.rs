//! Error classification by Graph error code (REFERENCE.md section 4) and unreadable bodies.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue};
use secrecy::SecretString;
use tokentop::graph::{ErrorClass, GraphError, classify, parse_error_body};

use ErrorClass::{MessageLevel, Other, Permission, RateLimited, TokenDead, Transient};

/// Every code listed in REFERENCE.md section 4, with its class.
const CODE_TABLE: &[(i64, ErrorClass)] = &[
    (190, TokenDead),
    (102, TokenDead),
    (0, Permission),
    (3, Permission),
    (10, Permission),
    (200, Permission),
    (230, Permission),
    (299, Permission),
    (4, RateLimited),
    (17, RateLimited),
    (32, RateLimited),
    (613, RateLimited),
    (80007, RateLimited),
    (80008, RateLimited),
    (130429, RateLimited),
    (131056, RateLimited),
    (1, Transient),
    (2, Transient),
    (131000, Transient),
    (131016, Transient),
    (131026, MessageLevel),
    (131047, MessageLevel),
    (131049, MessageLevel),
    (131050, MessageLevel),
    (132000, MessageLevel),
    (132001, MessageLevel),
    (132015, MessageLevel),
    (132999, MessageLevel),
    (133010, MessageLevel),
    // Neighbours of the ranges, and unknown codes.
    (199, Other),
    (300, Other),
    (131999, Other),
    (133000, Other),
    (100, Other),
    (368, Other),
    (999_999, Other),
];

fn envelope(code: i64, extra: &str) -> String {
    format!(
        r#"{{"error":{{"message":"(#{code}) something","type":"OAuthException","code":{code}{extra},"fbtrace_id":"Atrace"}}}}"#
    )
}

fn parse(status: u16, body: &str) -> GraphError {
    parse_error_body(status, &HeaderMap::new(), body, &[])
}

#[test]
fn classify_follows_the_code_table_whatever_the_http_status() {
    for &(code, class) in CODE_TABLE {
        for status in [Some(200), Some(400), Some(401), Some(403), Some(429), None] {
            assert_eq!(
                classify(Some(code), status, false),
                class,
                "code {code}, status {status:?}"
            );
        }
    }
}

#[test]
fn envelopes_are_classified_by_code() {
    for &(code, class) in CODE_TABLE {
        let err = parse(400, &envelope(code, ""));
        assert_eq!(err.class, class, "code {code}");
        assert_eq!(err.code, Some(code));
        assert_eq!(err.http_status, Some(400));
        assert_eq!(err.fbtrace_id.as_deref(), Some("Atrace"));
    }
}

#[test]
fn every_subcode_of_190_is_token_dead() {
    for subcode in [458, 459, 460, 463, 464, 467, 492] {
        let err = parse(
            401,
            &envelope(190, &format!(r#","error_subcode":{subcode}"#)),
        );
        assert_eq!(err.class, TokenDead, "subcode {subcode}");
        assert_eq!(err.subcode, Some(subcode));
        assert!(err.to_string().starts_with(&format!(
            "Graph API error 190/{subcode} (OAuthException, token dead)"
        )));
    }
}

#[test]
fn is_transient_true_makes_an_unknown_code_transient() {
    let err = parse(400, &envelope(100, r#","is_transient":true"#));
    assert_eq!(err.class, Transient);
    assert!(err.is_transient);
    assert_eq!(classify(Some(100), Some(400), true), Transient);
    assert_eq!(classify(None, Some(400), true), Transient);
}

#[test]
fn a_known_code_wins_over_is_transient() {
    assert_eq!(classify(Some(190), Some(400), true), TokenDead);
    assert_eq!(classify(Some(131047), Some(400), true), MessageLevel);
}

#[test]
fn without_a_code_only_5xx_and_no_answer_are_transient() {
    assert_eq!(classify(None, Some(500), false), Transient);
    assert_eq!(classify(None, Some(503), false), Transient);
    assert_eq!(classify(None, None, false), Transient);
    assert_eq!(classify(None, Some(404), false), Other);
    assert_eq!(classify(None, Some(401), false), Other);
    assert_eq!(classify(Some(999_999), Some(502), false), Transient);
}

#[test]
fn http_5xx_with_html_body_is_transient_with_an_excerpt() {
    let body = "<html><body><h1>502 Bad Gateway</h1></body></html>";
    let err = parse(502, body);
    assert_eq!(err.class, Transient);
    assert_eq!(err.code, None);
    assert_eq!(err.http_status, Some(502));
    assert_eq!(
        err.message,
        format!("Graph API returned a body that is not JSON (HTTP 502): {body}")
    );
    assert_eq!(
        err.to_string(),
        format!(
            "Graph API request failed (transient): Graph API returned a body that is not JSON (HTTP 502): {body}"
        )
    );
}

#[test]
fn non_json_and_malformed_bodies_are_transient() {
    let long = "x".repeat(500);
    for body in [
        "",
        "   ",
        "not json",
        "{\"error\":",
        long.as_str(),
        "\u{0}\u{1}",
    ] {
        let err = parse(400, body);
        assert_eq!(err.class, Transient, "body {body:?}");
        assert!(
            err.message.contains("not JSON (HTTP 400)"),
            "{}",
            err.message
        );
        assert!(err.message.chars().count() < 300, "excerpt is cut");
    }
}

#[test]
fn json_without_an_error_object_is_classified_by_status() {
    let err = parse(404, r#"{"unexpected":true}"#);
    assert_eq!(err.class, Other);
    assert!(
        err.message.contains("HTTP 404 without an error object"),
        "{}",
        err.message
    );
    assert_eq!(parse(500, r#"{"error":"just a string"}"#).class, Transient);
    assert_eq!(parse(400, "[]").class, Other);
}

#[test]
fn envelope_with_missing_or_odd_fields_is_tolerated() {
    let err = parse(400, r#"{"error":{"code":"190"}}"#);
    assert_eq!(err.class, TokenDead);
    assert_eq!(err.message, "(no message)");
    assert_eq!(err.error_type, None);
    let err = parse(
        400,
        r#"{"error":{"message":"odd","code":null,"unknown":[1,2]}}"#,
    );
    assert_eq!(err.class, Other);
    assert_eq!(err.code, None);
}

#[test]
fn full_envelope_keeps_every_field() {
    let body = r#"{"error":{"message":"(#130429) Rate limit hit","type":"OAuthException","code":130429,
      "error_subcode":2494055,"error_user_title":"Too fast","error_user_msg":"Slow down",
      "error_data":{"messaging_product":"whatsapp","details":"Cloud API message throughput has been reached."},
      "is_transient":false,"fbtrace_id":"AOl1gSqZRMyPzEMw9OJXzYh"}}"#;
    let err = parse(400, body);
    assert_eq!(err.class, RateLimited);
    assert_eq!(err.subcode, Some(2_494_055));
    assert_eq!(err.user_title.as_deref(), Some("Too fast"));
    assert_eq!(err.user_message.as_deref(), Some("Slow down"));
    assert_eq!(
        err.details.as_deref(),
        Some("Cloud API message throughput has been reached.")
    );
    assert_eq!(err.retry_after, None);
    assert_eq!(
        err.to_string(),
        "Graph API error 130429/2494055 (OAuthException, rate limited): (#130429) Rate limit hit (Too fast) [fbtrace_id AOl1gSqZRMyPzEMw9OJXzYh]"
    );
}

#[test]
fn rate_limited_errors_take_retry_after_from_usage_headers() {
    let mut headers = HeaderMap::new();
    headers.insert(
        "x-business-use-case-usage",
        HeaderValue::from_static(
            r#"{"102290129340398":[{"type":"whatsapp_business_management","call_count":100,"total_cputime":1,"total_time":1,"estimated_time_to_regain_access":12}]}"#,
        ),
    );
    let err = parse_error_body(400, &headers, &envelope(80008, ""), &[]);
    assert_eq!(err.class, RateLimited);
    assert_eq!(err.retry_after, Some(Duration::from_secs(12 * 60)));

    // Other classes never get a retry_after, even with the header present.
    let err = parse_error_body(400, &headers, &envelope(190, ""), &[]);
    assert_eq!(err.retry_after, None);
}

#[test]
fn zero_regain_estimate_means_no_retry_after() {
    let mut headers = HeaderMap::new();
    headers.insert(
        "x-business-use-case-usage",
        HeaderValue::from_static(r#"{"1":[{"type":"whatsapp","call_count":100,"total_cputime":1,"total_time":1,"estimated_time_to_regain_access":0}]}"#),
    );
    let err = parse_error_body(429, &headers, &envelope(4, ""), &[]);
    assert_eq!(err.class, RateLimited);
    assert_eq!(err.retry_after, None);
}

#[test]
fn labels_are_human_readable() {
    let labels: Vec<&str> = [
        TokenDead,
        Permission,
        RateLimited,
        Transient,
        MessageLevel,
        Other,
    ]
    .iter()
    .map(ErrorClass::label)
    .collect();
    assert_eq!(
        labels,
        [
            "token dead",
            "permission",
            "rate limited",
            "transient",
            "message-level",
            "other"
        ]
    );
}

#[test]
fn secrets_echoed_in_an_error_body_are_redacted() {
    let token = SecretString::from("EAAGechoedTOKENechoedTOKEN1234x9Qf");
    let body = r#"{"error":{"message":"Invalid OAuth access token - Cannot parse access token EAAGechoedTOKENechoedTOKEN1234x9Qf","type":"OAuthException","code":190,"error_user_title":"token EAAGechoedTOKENechoedTOKEN1234x9Qf"}}"#;
    let err = parse_error_body(401, &HeaderMap::new(), body, &[&token]);
    assert_eq!(err.class, TokenDead);
    for text in [err.to_string(), format!("{err:?}")] {
        assert!(!text.contains("echoedTOKEN"), "{text}");
        assert!(text.contains("EAAG…x9Qf"), "{text}");
    }
    let html = "<p>bad token EAAGechoedTOKENechoedTOKEN1234x9Qf</p>";
    let err = parse_error_body(502, &HeaderMap::new(), html, &[&token]);
    assert!(!err.to_string().contains("echoedTOKEN"));
}
