//! Strategies shared by the property tests: hostile JSON, fixture mutation, the case count.
#![allow(dead_code)]

use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;
use serde_json::{Value, json};

/// `PROPTEST_CASES` when set (for long runs), else `default_cases` (so `cargo test` stays fast).
pub fn config(default_cases: u32) -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = default_cases;
    }
    // The failing input is printed, shrunk; no regression files are written into the tree.
    config.failure_persistence = None;
    config
}

/// Keys of the real Graph shapes, so generated objects look like what Meta sends.
const KEYS: &[&str] = &[
    "data",
    "error",
    "code",
    "error_subcode",
    "subcode",
    "message",
    "type",
    "is_transient",
    "fbtrace_id",
    "error_data",
    "details",
    "error_user_title",
    "error_user_msg",
    "is_valid",
    "expires_at",
    "data_access_expires_at",
    "issued_at",
    "scopes",
    "granular_scopes",
    "scope",
    "target_ids",
    "app_id",
    "user_id",
    "application",
    "body",
    "headers",
    "name",
    "value",
    "success",
    "messages",
    "contacts",
    "id",
    "wa_id",
    "message_status",
    "quality_rating",
    "status",
    "throughput",
    "level",
    "health_status",
    "can_send_message",
    "entities",
    "entity_type",
    "additional_info",
    "errors",
    "error_code",
    "analytics",
    "data_points",
    "start",
    "end",
    "sent",
    "delivered",
    "granularity",
    "phone_numbers",
    "call_count",
    "total_time",
    "total_cputime",
    "estimated_time_to_regain_access",
    "entry",
    "changes",
    "statuses",
    "timestamp",
    "recipient_id",
    "title",
    "whatsapp_business_manager_messaging_limit",
    "messaging_limit_tier",
];

pub fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(KEYS).prop_map(str::to_string),
        1 => ".{0,8}",
    ]
}

/// Numbers at and past every edge: i64/u64 limits, floats, negative zero.
pub fn hostile_number() -> impl Strategy<Value = Value> {
    prop_oneof![
        proptest::sample::select(vec![
            json!(i64::MIN),
            json!(i64::MAX),
            json!(u64::MAX),
            json!(0),
            json!(-1),
            json!(1),
            json!(1e308),
            json!(-1e308),
            json!(-0.0),
            json!(0.5),
            json!(99.5),
            json!(1_700_000_000),
            json!(190),
            json!(463),
        ]),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
            .map(Value::Number)),
    ]
}

/// Strings that break naive parsers: controls, quotes, unicode, numbers as text, long runs.
pub fn hostile_string() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => ".{0,24}",
        2 => "[\\x00-\\x1f\"\\\\\u{7f}\u{85}\u{2028}\u{feff}]{0,8}",
        1 => proptest::sample::select(vec![
            "9223372036854775808", "-9223372036854775809", " 190 ", "1e3", "NaN", "-0", "",
            "true", "null", "SYSTEM_USER", "EAAGtokentokentokentokentoken",
        ])
        .prop_map(str::to_string),
        1 => "-?[0-9]{1,25}",
        1 => (1usize..20_000).prop_map(|n| "é".repeat(n)),
    ]
}

pub fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        hostile_number(),
        hostile_string().prop_map(Value::String),
    ]
}

/// Any JSON value, nested up to 6 levels, with keys mostly from the real shapes.
pub fn json_value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(6, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec((key(), inner), 0..6)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
        ]
    })
}

/// Every JSON pointer inside `value` (the root included).
pub fn pointers(value: &Value) -> Vec<String> {
    let mut out = vec![String::new()];
    match value {
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                out.extend(pointers(item).into_iter().map(|p| format!("/{i}{p}")));
            }
        }
        Value::Object(map) => {
            for (k, item) in map {
                let k = k.replace('~', "~0").replace('/', "~1");
                out.extend(pointers(item).into_iter().map(|p| format!("/{k}{p}")));
            }
        }
        _ => {}
    }
    out
}

/// `fixture` with one to four of its values (at any depth) replaced by hostile ones, or with
/// a key removed: close to the real shape, wrong in a few places.
pub fn mutated(fixture: Value) -> impl Strategy<Value = Value> {
    let paths = pointers(&fixture);
    let edit = (proptest::sample::select(paths), json_value(), any::<bool>());
    proptest::collection::vec(edit, 1..5).prop_map(move |edits| {
        let mut value = fixture.clone();
        for (path, replacement, remove) in edits {
            if remove
                && let Some((parent, last)) = path.rsplit_once('/')
                && let Some(Value::Object(map)) = value.pointer_mut(parent)
            {
                map.remove(&last.replace("~1", "/").replace("~0", "~"));
                continue;
            }
            if let Some(slot) = value.pointer_mut(&path) {
                *slot = replacement;
            }
        }
        value
    })
}

/// Text around JSON: the body cut short, nested past serde's limit, or arbitrary.
pub fn hostile_body(valid: Value) -> impl Strategy<Value = String> {
    let text = valid.to_string();
    let len = text.len();
    prop_oneof![
        4 => mutated(valid).prop_map(|v| v.to_string()),
        1 => (0..=len).prop_map(move |cut| text.get(..cut).unwrap_or_default().to_string()),
        1 => (1usize..3000).prop_map(|depth| format!("{}{}", "[".repeat(depth), "]".repeat(depth))),
        1 => (1usize..3000).prop_map(|depth| format!("{}1{}", "{\"data\":".repeat(depth), "}".repeat(depth))),
        1 => ".{0,64}",
        1 => proptest::collection::vec(any::<u8>(), 0..64)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ]
}

/// A fixture from `tests/fixtures/` as JSON.
pub fn fixture(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    serde_json::from_str(&text).unwrap()
}
