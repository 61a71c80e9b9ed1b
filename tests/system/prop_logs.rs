//! Property tests of the log side: the webhook parser never panics and keeps what it reads;
//! the classifier's whole-buffer pass agrees with classifying line by line.
//! `PROPTEST_CASES=N` runs N cases per property instead of the quick default.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::prop_support;

use proptest::prelude::*;
use serde_json::{Value, json};
use tokentop::config::{PatternDef, PatternLevel};
use tokentop::engine::logs::{PatternSet, default_patterns, parse_webhook_line};

use prop_support::{config, fixture, hostile_body, hostile_string};

const CASES: u32 = 256;

/// The built-in pattern set, compiled once.
static DEFAULTS: std::sync::LazyLock<PatternSet> =
    std::sync::LazyLock::new(|| PatternSet::from_patterns(default_patterns()).unwrap());

fn webhook_fixtures() -> Vec<Value> {
    match fixture("webhook_message_statuses.json") {
        Value::Object(map) => map.into_values().collect(),
        other => vec![other],
    }
}

const KNOWN: [&str; 5] = ["sent", "delivered", "read", "played", "failed"];

/// One status entry with well-typed fields (and maybe a status tokentop does not know).
fn typed_status() -> impl Strategy<Value = (Value, Option<(String, String, i64)>)> {
    (
        "wamid\\.[A-Za-z0-9=]{1,20}",
        prop_oneof![
            4 => proptest::sample::select(KNOWN.to_vec()).prop_map(str::to_string),
            1 => hostile_string(),
        ],
        any::<i64>(),
        any::<bool>(),
        proptest::option::of(any::<i64>()),
    )
        .prop_map(|(id, status, timestamp, as_text, error_code)| {
            let ts = if as_text {
                Value::String(timestamp.to_string())
            } else {
                Value::from(timestamp)
            };
            let mut entry =
                json!({"id": id, "status": status, "timestamp": ts, "recipient_id": "1555"});
            if let Some(code) = error_code {
                entry["errors"] =
                    json!([{"code": code, "title": "t", "error_data": {"details": "d"}}]);
            }
            let kept = KNOWN
                .contains(&status.as_str())
                .then_some((id, status, timestamp));
            (entry, kept)
        })
}

/// A line of an application's log: the patterns' own phrases, near misses, and noise.
fn log_line() -> impl Strategy<Value = Vec<u8>> {
    let phrases = vec![
        "WhatsApp access token refreshed successfully",
        "WhatsApp token is expired or expiring soon, refreshing...",
        "WhatsApp token expired, attempting refresh",
        "Failed to refresh WhatsApp token: timeout",
        "Refresh token or App ID not configured",
        "failed to send WhatsApp message",
        "Message sent",
        "message sent",
        "WhatsApp token is expired or expiring soon, refreshing",
        "Failed to refresh WhatsApp token:",
        "essage sent",
        "\r",
        "",
    ];
    prop_oneof![
        3 => (".{0,12}", proptest::sample::select(phrases), ".{0,12}")
            .prop_map(|(a, p, b)| format!("{a}{p}{b}").into_bytes()),
        2 => ".{0,40}".prop_map(String::into_bytes),
        1 => proptest::collection::vec(any::<u8>(), 0..40),
    ]
}

/// Lines joined with `\n` or `\r\n`, with or without a final newline.
fn buffer() -> impl Strategy<Value = Vec<u8>> {
    (
        proptest::collection::vec((log_line(), any::<bool>()), 0..12),
        any::<bool>(),
    )
        .prop_map(|(lines, final_newline)| {
            let mut buf = Vec::new();
            let count = lines.len();
            for (i, (line, crlf)) in lines.into_iter().enumerate() {
                buf.extend_from_slice(&line);
                if i + 1 < count || final_newline {
                    buf.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
                }
            }
            buf
        })
}

/// `(start, line, pattern index)` of each matching line, the slow way: like `str::lines`.
fn line_by_line(set: &PatternSet, buf: &[u8]) -> Vec<(usize, Vec<u8>, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < buf.len() {
        let end = buf[start..]
            .iter()
            .position(|b| *b == b'\n')
            .map_or(buf.len(), |i| start + i);
        let mut line = &buf[start..end];
        if end < buf.len() && line.ends_with(b"\r") {
            line = &line[..line.len() - 1];
        }
        if let Some(m) = set.classify_bytes(line) {
            out.push((start, line.to_vec(), m.index));
        }
        start = end + 1;
    }
    out
}

fn by_buffer(set: &PatternSet, buf: &[u8]) -> Vec<(usize, Vec<u8>, usize)> {
    let mut out = Vec::new();
    set.classify_buffer(buf, |start, line, m| {
        out.push((start, line.to_vec(), m.index))
    });
    out
}

/// User patterns: literal phrases (prefiltered) and some without a literal (scanned).
fn user_patterns() -> impl Strategy<Value = Vec<PatternDef>> {
    let regex = prop_oneof![
        3 => "[a-zA-Z ]{1,6}".prop_map(|s| regex::escape(&s)),
        1 => proptest::sample::select(vec![
            r"^\d+$", r"(?i)token", r"a|b", r".", r"^$", r"\r$", r"[^\x00-\x7f]", r"sent$",
            r"(?i)été", r"x{2,}",
        ])
        .prop_map(str::to_string),
    ];
    proptest::collection::vec(regex, 0..5).prop_map(|regexes| {
        regexes
            .into_iter()
            .enumerate()
            .map(|(i, regex)| PatternDef {
                name: format!("user-{i}"),
                regex,
                level: PatternLevel::Warn,
                role: None,
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(config(CASES))]

    #[test]
    fn webhook_line_never_panics(
        line in proptest::sample::select(webhook_fixtures()).prop_flat_map(hostile_body),
    ) {
        match parse_webhook_line(&line) {
            Ok(statuses) => {
                for status in statuses {
                    prop_assert!(!status.message_id.is_empty());
                }
            }
            Err(reason) => prop_assert!(!reason.is_empty()),
        }
    }

    #[test]
    fn webhook_statuses_are_kept_in_order(
        statuses in proptest::collection::vec(typed_status(), 0..6),
        wrap in any::<bool>(),
    ) {
        let entries: Vec<Value> = statuses.iter().map(|(entry, _)| entry.clone()).collect();
        let mut payload = json!({"object": "whatsapp_business_account", "entry": [
            {"id": "1", "changes": [{"field": "messages", "value": {"statuses": entries}}]}]});
        if wrap {
            payload["entry"][0]["changes"][0]["value"]["metadata"] = json!({"phone_number_id": "1"});
        }
        let parsed = parse_webhook_line(&format!("  {payload}\r")).unwrap();
        let expected: Vec<(String, String, i64)> =
            statuses.into_iter().filter_map(|(_, kept)| kept).collect();
        prop_assert_eq!(parsed.len(), expected.len());
        for (status, (id, word, timestamp)) in parsed.iter().zip(expected) {
            prop_assert_eq!(&status.message_id, &id);
            prop_assert_eq!(format!("{:?}", status.status).to_lowercase(), word);
            prop_assert_eq!(status.timestamp, timestamp);
        }
    }

    #[test]
    fn default_classifier_buffer_agrees_with_lines(buf in buffer()) {
        prop_assert_eq!(by_buffer(&DEFAULTS, &buf), line_by_line(&DEFAULTS, &buf));
    }
}

proptest! {
    // Each case compiles its own pattern set, which is slow in a debug build.
    #![proptest_config(config(CASES / 4))]

    #[test]
    fn any_regex_text_compiles_or_is_refused_without_panic(regex in prop_oneof![".{0,24}", "[()\\[\\]{}|*+?^$.\\\\a-z0-9,-]{0,16}"], line in ".{0,40}") {
        let def = PatternDef { name: "p".into(), regex, level: PatternLevel::Ok, role: None };
        match PatternSet::from_patterns(vec![def]) {
            Ok(set) => {
                let _ = set.classify(&line);
                prop_assert_eq!(by_buffer(&set, line.as_bytes()), line_by_line(&set, line.as_bytes()));
            }
            Err(err) => prop_assert!(err.to_string().contains("invalid regex")),
        }
    }

    #[test]
    fn user_classifier_buffer_agrees_with_lines(patterns in user_patterns(), defaults in any::<bool>(), buf in buffer()) {
        let mut all = if defaults { default_patterns() } else { Vec::new() };
        all.extend(patterns);
        let set = PatternSet::from_patterns(all).unwrap();
        prop_assert_eq!(by_buffer(&set, &buf), line_by_line(&set, &buf));
        if let Ok(text) = std::str::from_utf8(&buf) {
            let direct: Vec<usize> = text.lines().filter_map(|l| set.classify(l).map(|m| m.index)).collect();
            let buffered: Vec<usize> = by_buffer(&set, &buf).into_iter().map(|(_, _, i)| i).collect();
            prop_assert_eq!(buffered, direct);
        }
    }
}
