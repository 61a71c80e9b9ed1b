//! Property tests of the Graph response parsers: no input panics them, and what they keep is
//! what Meta said (an error keeps its code and class, a token keeps `is_valid`).
//! `PROPTEST_CASES=N` runs N cases per property instead of the quick default.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::prop_support;

use proptest::prelude::*;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use secrecy::SecretString;
use serde_json::{Value, json};
use tokentop::config::RefreshBefore;
use tokentop::engine::schedule::{backoff_delay, plan_refresh};
use tokentop::format::{ahead, left};
use tokentop::graph::{
    ErrorClass, classify, parse_analytics, parse_debug_token, parse_debug_token_batch,
    parse_error_body, parse_phone_health, parse_revoke, parse_send_result, parse_usage,
};

use prop_support::{config, fixture, hostile_body, hostile_number, hostile_string, json_value};

const CASES: u32 = 256;

const PHONE: &str = r#"{"verified_name":"Jasper's Market","display_phone_number":"+1 555-078-3881","quality_rating":"GREEN",
 "status":"CONNECTED","throughput":{"level":"STANDARD"},"whatsapp_business_manager_messaging_limit":"TIER_250",
 "health_status":{"can_send_message":"LIMITED","entities":[
   {"entity_type":"PHONE_NUMBER","id":"106540352242922","can_send_message":"AVAILABLE"},
   {"entity_type":"BUSINESS","id":"1","can_send_message":"BLOCKED",
    "errors":[{"error_code":141006,"error_description":"...","possible_solution":"..."}]}]},
 "id":"106540352242922"}"#;
const ANALYTICS: &str = r#"{"analytics":{"phone_numbers":["15550783881"],"granularity":"HALF_HOUR","data_points":[
  {"start":1732780800,"end":1732782600,"sent":1204,"delivered":1188}]},"id":"102290129340398"}"#;
const SEND: &str = r#"{"messaging_product":"whatsapp","contacts":[{"input":"15551234567","wa_id":"15551234567"}],
  "messages":[{"id":"wamid.HBgL","message_status":"accepted"}]}"#;
const APP_USAGE: &str = r#"{"call_count":28,"total_time":25,"total_cputime":25}"#;
const BUSINESS_USAGE: &str = r#"{"102290129340398":[{"type":"whatsapp","call_count":61,"total_cputime":1,"total_time":1,"estimated_time_to_regain_access":7}]}"#;

fn debug_token_fixtures() -> Vec<Value> {
    [
        "debug_token_app_token.json",
        "debug_token_cannot_parse.json",
        "debug_token_invalid_signature.json",
        "debug_token_user_expired_463.json",
        "debug_token_user_long_lived_valid.json",
    ]
    .iter()
    .map(|name| fixture(name))
    .collect()
}

fn error_fixtures() -> Vec<Value> {
    [
        "error_access_token_session_expired.json",
        "error_appsecret_proof_missing.json",
        "error_debug_only_access_token.json",
        "error_debug_token_caller_not_allowed.json",
        "error_session_invalidated_password.json",
    ]
    .iter()
    .map(|name| fixture(name))
    .collect()
}

/// A debug_token body: a mutated fixture, or arbitrary text.
fn debug_token_body() -> impl Strategy<Value = String> {
    proptest::sample::select(debug_token_fixtures()).prop_flat_map(hostile_body)
}

/// What Meta could send for a field that should be an i64: mostly one, sometimes not.
fn maybe_i64() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => any::<i64>().prop_map(Value::from),
        2 => proptest::sample::select(vec![i64::MIN, i64::MAX, -1, 0, 1]).prop_map(Value::from),
        1 => hostile_number(),
        1 => Just(Value::Null),
    ]
}

/// `{"data": {...}}` with every field well-typed (i64 times at any value) plus extra keys.
fn typed_debug_token() -> impl Strategy<Value = (Value, bool, Option<i64>, Option<i64>)> {
    (
        any::<bool>(),
        proptest::option::of(prop_oneof![
            any::<i64>(),
            proptest::sample::select(vec![i64::MIN, i64::MAX, -1, 0]),
        ]),
        proptest::option::of(any::<i64>()),
        proptest::option::of(any::<i64>()),
        proptest::collection::vec(hostile_string(), 0..4),
        proptest::option::of(hostile_string()),
        proptest::collection::vec((prop_support::key(), json_value()), 0..3),
    )
        .prop_map(
            |(valid, expires_at, data_access, issued_at, scopes, kind, extra)| {
                let mut data = json!({"is_valid": valid, "scopes": scopes});
                let fields = [
                    ("expires_at", expires_at.map(Value::from)),
                    ("data_access_expires_at", data_access.map(Value::from)),
                    ("issued_at", issued_at.map(Value::from)),
                    ("type", kind.map(Value::from)),
                ];
                for (name, value) in fields {
                    if let Some(value) = value {
                        data[name] = value;
                    }
                }
                // Unknown keys are ignored, whatever they hold (known ones are left alone).
                for (k, v) in extra {
                    if data.get(&k).is_none() && KNOWN_TOKEN_KEYS.iter().all(|known| *known != k) {
                        data[k] = v;
                    }
                }
                (json!({ "data": data }), valid, expires_at, issued_at)
            },
        )
}

const KNOWN_TOKEN_KEYS: &[&str] = &[
    "is_valid",
    "type",
    "app_id",
    "application",
    "expires_at",
    "data_access_expires_at",
    "issued_at",
    "scopes",
    "granular_scopes",
    "user_id",
    "error",
];

/// An error envelope whose `code` is a number, a numeric string, or something else.
fn error_envelope() -> impl Strategy<Value = (Value, Value, Option<bool>)> {
    let code = prop_oneof![
        3 => any::<i64>().prop_map(Value::from),
        2 => proptest::sample::select(vec![190, 4, 17, 32, 80007, 613, 10, 200, 100, 2, 1, 368])
            .prop_map(Value::from),
        1 => any::<i64>().prop_map(|c| Value::from(format!(" {c} "))),
        1 => json_value(),
    ];
    let fixtures = proptest::sample::select(error_fixtures());
    (
        fixtures,
        code,
        maybe_i64(),
        proptest::option::of(any::<bool>()),
        proptest::option::of(hostile_string()),
        proptest::collection::vec((prop_support::key(), json_value()), 0..3),
    )
        .prop_map(|(mut body, code, subcode, transient, message, extra)| {
            let envelope = body["error"].as_object_mut().unwrap();
            for (k, v) in extra {
                envelope.insert(k, v);
            }
            envelope.insert("code".into(), code.clone());
            envelope.insert("error_subcode".into(), subcode);
            match transient {
                Some(t) => envelope.insert("is_transient".into(), Value::Bool(t)),
                None => envelope.remove("is_transient"),
            };
            if let Some(message) = message {
                envelope.insert("message".into(), Value::String(message));
            }
            (body, code, transient)
        })
}

/// What `code` the parser must keep: an i64, or a string holding one.
fn expected_code(code: &Value) -> Option<i64> {
    code.as_i64()
        .or_else(|| code.as_str().and_then(|s| s.trim().parse().ok()))
}

fn headers_from(pairs: &[(&'static str, String)]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in pairs {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
    headers
}

proptest! {
    #![proptest_config(config(CASES))]

    #[test]
    fn debug_token_never_panics_and_keeps_is_valid(body in debug_token_body()) {
        if let Ok(info) = parse_debug_token(&body) {
            let value: Value = serde_json::from_str(&body).unwrap();
            prop_assert_eq!(Some(info.is_valid), value["data"]["is_valid"].as_bool());
            // Whatever times Meta sent, the schedule and the countdowns take them.
            let now = 1_800_000_000;
            let _ = plan_refresh(info.expiry(), info.issued_at, now, RefreshBefore::ShareOfLifetime(33), 30);
            let _ = left(info.expires_at.unwrap_or(0).saturating_sub(now));
            let _ = ahead(info.data_access_expires_at.unwrap_or(0), now);
        }
    }

    #[test]
    fn well_typed_debug_token_parses_with_its_values((body, valid, expires_at, issued_at) in typed_debug_token()) {
        let info = parse_debug_token(&body.to_string()).unwrap();
        prop_assert_eq!(info.is_valid, valid);
        prop_assert_eq!(info.expires_at, expires_at);
        prop_assert_eq!(info.issued_at, issued_at);
        for now in [i64::MIN, 0, 1_800_000_000, i64::MAX] {
            for policy in [RefreshBefore::ShareOfLifetime(33), RefreshBefore::Fixed(std::time::Duration::MAX)] {
                let _ = plan_refresh(info.expiry(), info.issued_at, now, policy, 60);
            }
            let _ = backoff_delay(3, 0.5, None, info.expires_at.map(|at| at.saturating_sub(now)));
        }
    }

    #[test]
    fn error_envelope_keeps_its_code_and_class(
        (body, code, transient) in error_envelope(),
        status in prop_oneof![Just(400u16), Just(500), Just(200), any::<u16>()],
        retry_after in proptest::option::of(hostile_string()),
    ) {
        let mut pairs = vec![("x-business-use-case-usage", BUSINESS_USAGE.to_string())];
        if let Some(value) = retry_after {
            pairs.push(("retry-after", value));
        }
        let err = parse_error_body(status, &headers_from(&pairs), &body.to_string(), &[]);
        let code = expected_code(&code);
        prop_assert_eq!(err.code, code);
        prop_assert_eq!(err.class, classify(code, Some(status), transient.unwrap_or(false)));
        prop_assert_eq!(err.http_status, Some(status));
        if err.class != ErrorClass::RateLimited {
            prop_assert_eq!(err.retry_after, None);
        }
        prop_assert!(!err.to_string().is_empty());
    }

    #[test]
    fn error_body_never_panics(
        body in proptest::sample::select(error_fixtures()).prop_flat_map(hostile_body),
        status in any::<u16>(),
    ) {
        let err = parse_error_body(status, &HeaderMap::new(), &body, &[]);
        prop_assert_eq!(err.http_status, Some(status));
        let _ = err.to_string();
    }

    #[test]
    fn batch_answers_give_one_result_per_token(
        items in proptest::collection::vec(batch_item(), 0..6),
        extra_tokens in 0usize..3,
    ) {
        let tokens: Vec<SecretString> = (0..items.len() + extra_tokens)
            .map(|i| SecretString::from(format!("EAAGbatchtoken{i:04}xxxxxxxxxxxx")))
            .collect();
        let body = Value::Array(items.iter().map(|(item, _)| item.clone()).collect()).to_string();
        let results = parse_debug_token_batch(&body, &tokens, &SecretString::from("secret")).unwrap();
        prop_assert_eq!(results.len(), tokens.len());
        for (result, (_, expected)) in results.iter().zip(&items) {
            match (result, expected) {
                (Ok(info), Expected::Valid(valid)) => prop_assert_eq!(info.is_valid, *valid),
                (Err(err), Expected::ErrorCode(code)) => prop_assert_eq!(err.code, Some(*code)),
                (_, Expected::Anything) => {}
                (got, want) => prop_assert!(false, "got {:?}, want {:?}", got, want),
            }
        }
        for missing in &results[items.len()..] {
            prop_assert!(missing.is_err());
        }
    }

    #[test]
    fn batch_body_never_panics(body in hostile_body(json!([null, {"code": 200, "headers": [], "body": "{}"}]))) {
        let tokens = [SecretString::from("EAAGa"), SecretString::from("EAAGb")];
        if let Ok(results) = parse_debug_token_batch(&body, &tokens, &SecretString::from("s")) {
            prop_assert_eq!(results.len(), 2);
        }
    }

    #[test]
    fn usage_headers_never_panic(
        app in prop_oneof![hostile_body(serde_json::from_str(APP_USAGE).unwrap()), hostile_string()],
        business in prop_oneof![hostile_body(serde_json::from_str(BUSINESS_USAGE).unwrap()), hostile_string()],
        raw in proptest::collection::vec(any::<u8>(), 0..40),
    ) {
        let mut headers = headers_from(&[("x-app-usage", app.clone()), ("x-business-use-case-usage", business)]);
        if let Ok(value) = HeaderValue::from_bytes(&raw) {
            headers.append(HeaderName::from_static("x-app-usage"), value);
        }
        let usage = parse_usage(&headers);
        let _ = usage.regain_access_after();
        if let Some(app_usage) = &usage.app {
            prop_assert!(usage.max_percent() >= Some(app_usage.call_count));
        }
    }

    #[test]
    fn app_usage_call_count_is_kept_or_saturated(count in any::<u64>(), time in hostile_number()) {
        let header = json!({"call_count": count, "total_time": time}).to_string();
        let usage = parse_usage(&headers_from(&[("x-app-usage", header)]));
        let expected = u32::try_from(count).unwrap_or(u32::MAX);
        prop_assert_eq!(usage.app.map(|a| a.call_count), Some(expected));
    }

    #[test]
    fn phone_fields_never_panic_and_keep_quality(body in hostile_body(serde_json::from_str(PHONE).unwrap())) {
        if let Ok(phone) = parse_phone_health(&body) {
            let value: Value = serde_json::from_str(&body).unwrap();
            // An array is read as the fields in order by the shared decoder (left to its owner).
            prop_assume!(value.is_object());
            prop_assert_eq!(phone.quality_rating.as_deref(), value["quality_rating"].as_str());
        }
    }

    #[test]
    fn analytics_never_panics_and_keeps_every_point(body in hostile_body(serde_json::from_str(ANALYTICS).unwrap())) {
        if let Ok(analytics) = parse_analytics(&body) {
            let value: Value = serde_json::from_str(&body).unwrap();
            prop_assume!(value.is_object());
            let points = value["analytics"]["data_points"].as_array().map_or(0, Vec::len);
            prop_assert_eq!(analytics.data_points.len(), points);
        }
    }

    #[test]
    fn send_and_revoke_never_panic(
        send in hostile_body(serde_json::from_str(SEND).unwrap()),
        revoke in hostile_body(json!({"success": "true"})),
    ) {
        let _ = parse_send_result(&send);
        if parse_revoke(&revoke).is_ok() {
            let value: Value = serde_json::from_str(&revoke).unwrap();
            let success = &value["success"];
            prop_assert!(success == &json!(true) || success.as_str().is_some_and(|s| s.eq_ignore_ascii_case("true")));
        }
    }
}

/// What a batch item must turn into.
#[derive(Debug, Clone)]
enum Expected {
    Valid(bool),
    ErrorCode(i64),
    Anything,
}

/// One batch item: a well-formed answer, an error answer, `null`, or something hostile.
fn batch_item() -> impl Strategy<Value = (Value, Expected)> {
    prop_oneof![
        (any::<bool>(), maybe_i64()).prop_map(|(valid, expires_at)| {
            let body = json!({"data": {"is_valid": valid}});
            let mut body = body;
            if expires_at.is_i64() {
                body["data"]["expires_at"] = expires_at;
            }
            let item = json!({"code": 200, "headers": [{"name": "Content-Type", "value": "text/javascript"}], "body": body.to_string()});
            (item, Expected::Valid(valid))
        }),
        (any::<i64>(), prop_oneof![Just(400u16), Just(500), Just(200)]).prop_map(|(code, status)| {
            let body = json!({"error": {"code": code, "message": "bad", "type": "OAuthException"}});
            (json!({"code": status, "body": body.to_string()}), Expected::ErrorCode(code))
        }),
        json_value().prop_map(|v| (v, Expected::Anything)),
        (json_value(), json_value(), hostile_string()).prop_map(|(code, headers, body)| {
            (json!({"code": code, "headers": headers, "body": body}), Expected::Anything)
        }),
    ]
}

/// Found by `debug_token_never_panics_and_keeps_is_valid`: serde read arrays as the fields of
/// a token in order, inventing a valid token.
#[test]
fn debug_token_data_must_be_an_object() {
    for body in [
        r#"{"data":[true]}"#,
        r#"{"data":[false,"USER"]}"#,
        r#"{"data":true}"#,
    ] {
        assert!(parse_debug_token(body).is_err(), "{body}");
    }
    assert!(
        parse_debug_token(r#"{"data":{"is_valid":true}}"#)
            .unwrap()
            .is_valid
    );
}
