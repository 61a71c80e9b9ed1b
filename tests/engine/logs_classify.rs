#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Pattern classification: defaults, user patterns, the buffer fast path, windowed counts.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokentop::config::{PatternDef, PatternLevel, PatternRole, PatternSettings};
use tokentop::engine::logs::{PatternCounts, PatternSet, default_patterns};

fn user(name: &str, regex: &str, level: PatternLevel, role: Option<PatternRole>) -> PatternDef {
    PatternDef {
        name: name.into(),
        regex: regex.into(),
        level,
        role,
    }
}

fn settings(use_defaults: bool, patterns: Vec<PatternDef>) -> PatternSettings {
    PatternSettings {
        use_defaults,
        patterns,
    }
}

#[test]
fn each_default_line_gets_its_pattern_level_and_role() {
    use PatternLevel::*;
    let set = PatternSet::new(&PatternSettings::default()).unwrap();
    let cases = [
        (
            "2025-01-01 INFO WhatsApp access token refreshed successfully",
            "token-refreshed",
            Ok,
            None,
        ),
        (
            "WARN WhatsApp token is expired or expiring soon, refreshing...",
            "token-expiring",
            Warn,
            None,
        ),
        (
            "WARN WhatsApp token expired, attempting refresh",
            "token-expired",
            Warn,
            None,
        ),
        (
            "ERROR Failed to refresh WhatsApp token: (#190) Error validating",
            "refresh-failed",
            Error,
            None,
        ),
        (
            "ERROR Refresh token or App ID not configured",
            "not-configured",
            Error,
            None,
        ),
        (
            "ERROR Failed to send WhatsApp message to 4917...: 131047",
            "message-failed",
            Error,
            Some(PatternRole::Failed),
        ),
        (
            "error: failed to send message id=42",
            "message-failed",
            Error,
            Some(PatternRole::Failed),
        ),
        (
            "INFO WhatsApp message sent wamid.HBgL",
            "message-sent",
            Ok,
            Some(PatternRole::Delivered),
        ),
        (
            "Message sent to 4917",
            "message-sent",
            Ok,
            Some(PatternRole::Delivered),
        ),
    ];
    for (line, name, level, role) in cases {
        let m = set
            .classify(line)
            .unwrap_or_else(|| panic!("no match for {line:?}"));
        assert_eq!((m.name, m.level, m.role), (name, level, role), "{line}");
        assert_eq!(set.patterns()[m.index].name, name);
    }
    for near_miss in [
        "GET /api/whatsapp/token 200 12ms",
        "DEBUG WhatsApp client ready, token cached",
        "WhatsApp token is valid for 59 days",
        "the message was queued",
        "WhatsApp token is expired or expiring soon, refreshing", // no dots: not the log line
    ] {
        assert_eq!(set.classify(near_miss), None, "{near_miss}");
    }
}

#[test]
fn failure_wins_over_success_on_one_line() {
    let set = PatternSet::new(&PatternSettings::default()).unwrap();
    let m = set
        .classify("Failed to send message: previous message sent twice")
        .unwrap();
    assert_eq!(m.name, "message-failed");
}

#[test]
fn user_patterns_follow_the_defaults_and_can_replace_one() {
    let set = PatternSet::new(&settings(
        true,
        vec![
            user(
                "payment-declined",
                "(?i)payment declined",
                PatternLevel::Warn,
                None,
            ),
            user(
                "message-sent",
                r"delivered to \d+",
                PatternLevel::Ok,
                Some(PatternRole::Delivered),
            ),
        ],
    ))
    .unwrap();
    let names: Vec<_> = set.patterns().iter().map(|p| p.name.as_str()).collect();
    let mut expected: Vec<_> = default_patterns().into_iter().map(|p| p.name).collect();
    expected.push("payment-declined".into());
    assert_eq!(names, expected);
    assert_eq!(
        set.classify("PAYMENT Declined for order 7").unwrap().name,
        "payment-declined"
    );
    assert_eq!(
        set.classify("delivered to 4917").unwrap().name,
        "message-sent"
    );
    assert_eq!(
        set.classify("Message sent"),
        None,
        "replaced default still active"
    );
}

#[test]
fn defaults_false_keeps_only_user_patterns() {
    let set = PatternSet::new(&settings(
        false,
        vec![user("oom", "out of memory", PatternLevel::Error, None)],
    ))
    .unwrap();
    assert_eq!(set.patterns().len(), 1);
    assert_eq!(
        set.classify("WhatsApp access token refreshed successfully"),
        None
    );
    assert_eq!(set.classify("kernel: out of memory").unwrap().index, 0);
}

#[test]
fn invalid_regex_error_names_the_pattern_and_quotes_the_reason() {
    let err = PatternSet::new(&settings(
        true,
        vec![user("broken-one", "foo(bar", PatternLevel::Warn, None)],
    ))
    .unwrap_err();
    assert_eq!(err.name, "broken-one");
    let text = err.to_string();
    assert!(text.contains("broken-one"), "{text}");
    assert!(text.contains("foo(bar"), "{text}");
    assert!(text.contains("unclosed group"), "{text}");
}

/// Line-by-line reference: `str::lines()` and `classify` on each line, with line offsets.
fn reference(set: &PatternSet, buf: &str) -> Vec<(usize, String, usize)> {
    let mut out = Vec::new();
    let mut offset = 0;
    for line in buf.lines() {
        if let Some(m) = set.classify(line) {
            out.push((offset, line.to_string(), m.index));
        }
        offset = buf[offset..]
            .find('\n')
            .map_or(buf.len(), |i| offset + i + 1);
    }
    out
}

fn fast(set: &PatternSet, buf: &str) -> Vec<(usize, String, usize)> {
    let mut out = Vec::new();
    set.classify_buffer(buf.as_bytes(), |start, line, m| {
        out.push((start, String::from_utf8(line.to_vec()).unwrap(), m.index));
    });
    out
}

/// A deterministic mix of matching, near-miss and ordinary lines with LF and CRLF endings.
fn mixed_buffer(lines: usize, seed: u64) -> String {
    let pieces = [
        "WhatsApp access token refreshed successfully",
        "WhatsApp token expired, attempting refresh",
        "Failed to refresh WhatsApp token: timeout",
        "Refresh token or App ID not configured",
        "WhatsApp token is expired or expiring soon, refreshing...",
        "Failed to send WhatsApp message",
        "message sent ok",
        "PAYMENT DECLINED",
        "12345",
        "GET /health 200 1ms",
        "WhatsApp token cached",
        "",
        "debug: token=abc message queued",
    ];
    let mut state = seed;
    let mut buf = String::new();
    for i in 0..lines {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let piece = pieces[(state >> 33) as usize % pieces.len()];
        buf.push_str(&format!("{i} {piece}"));
        buf.push_str(if (state >> 20).is_multiple_of(5) {
            "\r\n"
        } else {
            "\n"
        });
    }
    buf
}

#[test]
fn classify_buffer_equals_line_by_line_classification() {
    let sets = [
        PatternSet::new(&PatternSettings::default()).unwrap(),
        // A case-insensitive user pattern and one without any literal (every line scanned).
        PatternSet::new(&settings(
            true,
            vec![user(
                "payment",
                "(?i)payment declined",
                PatternLevel::Warn,
                None,
            )],
        ))
        .unwrap(),
        PatternSet::new(&settings(
            true,
            vec![user("digits", r"^\d+ \d+$", PatternLevel::Ok, None)],
        ))
        .unwrap(),
    ];
    let body = mixed_buffer(3000, 7);
    let buffers = [
        body.clone(),
        // Matches at the very start and a last line without its newline.
        format!("Message sent first\n{body}Failed to send message last"),
        format!("{body}WhatsApp token expired, attempting refresh\r\n"),
        "Message sent".to_string(),
        "\r\n\n\nMessage sent\r".to_string(),
        String::new(),
    ];
    for set in &sets {
        for buf in &buffers {
            let expected = reference(set, buf);
            assert_eq!(fast(set, buf), expected);
        }
    }
    assert!(
        reference(&sets[0], &buffers[1]).len() > 100,
        "the mix must match often"
    );
}

#[test]
fn classify_buffer_reports_lines_with_invalid_utf8() {
    let set = PatternSet::new(&PatternSettings::default()).unwrap();
    let buf = b"noise \xff\xfe\nbad \xff Message sent \xc3\n";
    let mut seen = Vec::new();
    set.classify_buffer(buf, |start, line, m| {
        seen.push((start, line.to_vec(), m.name))
    });
    assert_eq!(
        seen,
        vec![(9, b"bad \xff Message sent \xc3".to_vec(), "message-sent")]
    );
}

fn t(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap()
}

#[test]
fn counts_per_pattern_and_level_over_windows() {
    let set = PatternSet::new(&PatternSettings::default()).unwrap();
    let mut counts = PatternCounts::with_recent_capacity(set.patterns().len(), 3);
    let now = 1_750_000_020; // a whole minute
    assert_eq!(now % 60, 0);
    let events = [
        (now - 10, "Message sent"),
        (now - 600, "Failed to send message"),
        (now - 901, "Message sent"),
        (now - 3000, "Refresh token or App ID not configured"),
        (now - 7200, "WhatsApp token expired, attempting refresh"),
        (now - 90_000, "Message sent"), // beyond 24 h
    ];
    for (at, line) in events {
        let m = set.classify(line).unwrap();
        counts.record(t(at), "app", line, &m);
    }
    let min = |m: u64| Duration::from_secs(m * 60);
    let sent = set
        .patterns()
        .iter()
        .position(|p| p.name == "message-sent")
        .unwrap();
    assert_eq!(counts.pattern_count(sent, min(15), t(now)), 1);
    assert_eq!(counts.pattern_count(sent, min(60), t(now)), 2);
    assert_eq!(counts.pattern_count(sent, min(1440), t(now)), 2);
    assert_eq!(counts.level_count(PatternLevel::Error, min(15), t(now)), 1);
    assert_eq!(counts.level_count(PatternLevel::Error, min(60), t(now)), 2);
    assert_eq!(counts.level_count(PatternLevel::Warn, min(60), t(now)), 0);
    assert_eq!(counts.level_count(PatternLevel::Warn, min(1440), t(now)), 1);
    // An hour later the 15-minute window is empty.
    assert_eq!(
        counts.level_count(PatternLevel::Ok, min(15), t(now + 3600)),
        0
    );
    let sparkline = counts.pattern_sparkline(sent, 4, min(60), t(now));
    assert_eq!(sparkline.iter().sum::<u64>(), 2);
    assert_eq!(sparkline[3], 1, "{sparkline:?}");

    let recent: Vec<_> = counts.recent().map(|r| r.text.as_str()).collect();
    assert_eq!(
        recent,
        [
            "Refresh token or App ID not configured",
            "WhatsApp token expired, attempting refresh",
            "Message sent"
        ]
    );
    let slots = counts.bucket_slots();
    for i in 0..10_000 {
        counts.record(
            t(now + i * 17),
            "app",
            "Message sent",
            &set.classify("Message sent").unwrap(),
        );
    }
    assert_eq!(counts.bucket_slots(), slots);
    assert_eq!(counts.recent().len(), 3);
}
