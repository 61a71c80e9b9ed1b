#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Status webhooks from the captured fixture, the status tracker and the delivery windows.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokentop::engine::delivery::{DeliverySource, DeliveryWindows, MAX_FAILURE_CODES};
use tokentop::engine::logs::{
    DeliveryStatus, StatusOutcome, StatusTracker, WebhookStatus, parse_webhook_line,
};

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/webhook_message_statuses.json"
);

fn fixture_cases() -> serde_json::Map<String, serde_json::Value> {
    let text =
        std::fs::read_to_string(FIXTURE).unwrap_or_else(|err| panic!("fixture {FIXTURE}: {err}"));
    serde_json::from_str(&text).unwrap()
}

/// One case's payload as a single line, the way a webhook-json log holds it.
fn case_line(case: &str) -> String {
    serde_json::to_string(&fixture_cases()[case]).unwrap()
}

fn case_status(case: &str) -> WebhookStatus {
    let mut statuses = parse_webhook_line(&case_line(case)).unwrap();
    assert_eq!(statuses.len(), 1, "{case}");
    statuses.remove(0)
}

fn t(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap()
}

fn mins(m: u64) -> Duration {
    Duration::from_secs(m * 60)
}

#[test]
fn every_fixture_case_parses() {
    let expected = [
        ("sent", DeliveryStatus::Sent, 1_698_266_945),
        ("delivered", DeliveryStatus::Delivered, 1_698_266_945),
        ("read", DeliveryStatus::Read, 1_689_380_458),
        ("failed", DeliveryStatus::Failed, 1_689_380_458),
        ("with_tracker", DeliveryStatus::Sent, 1_698_266_945),
    ];
    assert_eq!(fixture_cases().len(), expected.len());
    for (case, status, timestamp) in expected {
        let s = case_status(case);
        assert_eq!(s.message_id, "wamid.xyzxyz");
        assert_eq!((s.status, s.timestamp), (status, timestamp), "{case}");
        assert_eq!(s.recipient_id.as_deref(), Some("972987654321"));
    }
    let failed = case_status("failed");
    assert_eq!(failed.errors.len(), 1);
    let e = &failed.errors[0];
    assert_eq!(e.code, 130_472);
    assert_eq!(
        e.title.as_deref(),
        Some("User's number is part of an experiment")
    );
    assert_eq!(
        e.details.as_deref(),
        Some("Failed to send message because this user's phone number is part of an experiment")
    );
}

#[test]
fn non_webhook_json_is_empty_and_bad_json_is_an_error() {
    assert_eq!(
        parse_webhook_line(r#"{"level":"info","msg":"hi"}"#),
        Ok(vec![])
    );
    assert_eq!(parse_webhook_line("[1,2]"), Ok(vec![]));
    let messages_webhook = r#"{"object":"whatsapp_business_account","entry":[{"changes":[{"value":{"messages":[{"id":"x"}]}}]}]}"#;
    assert_eq!(parse_webhook_line(messages_webhook), Ok(vec![]));
    let err = parse_webhook_line("{not json").unwrap_err();
    assert!(err.contains("not valid JSON"), "{err}");
    let no_ts = r#"{"entry":[{"changes":[{"value":{"statuses":[{"id":"w","status":"sent"}]}}]}]}"#;
    assert!(parse_webhook_line(no_ts).unwrap_err().contains("timestamp"));
    let unknown = r#"{"entry":[{"changes":[{"value":{"statuses":[{"id":"w","status":"deleted","timestamp":"1"}]}}]}]}"#;
    assert_eq!(parse_webhook_line(unknown), Ok(vec![]));
}

#[test]
fn read_before_delivered_counts_one_delivery() {
    let mut tracker = StatusTracker::default();
    let mut windows = DeliveryWindows::new();
    let mut outcomes = 0;
    for case in ["sent", "read", "delivered", "delivered"] {
        if let Some(tr) = tracker.observe(&case_status(case)) {
            assert_eq!(tr.outcome, StatusOutcome::Delivered);
            windows.record_outcome(DeliverySource::Logs, &tr);
            outcomes += 1;
        }
    }
    assert_eq!(outcomes, 1);
    assert_eq!(tracker.furthest("wamid.xyzxyz"), Some(DeliveryStatus::Read));
    let rate = windows
        .rate(DeliverySource::Logs, mins(1440), t(1_689_380_458 + 60))
        .unwrap();
    assert_eq!((rate.delivered, rate.failed, rate.percent), (1, 0, 100.0));
}

#[test]
fn failed_is_terminal_and_its_code_is_a_top_failure() {
    let mut tracker = StatusTracker::default();
    let mut windows = DeliveryWindows::new();
    let failed = case_status("failed");
    let tr = tracker.observe(&failed).unwrap();
    windows.record_outcome(DeliverySource::Logs, &tr);
    for case in ["delivered", "read", "failed"] {
        assert_eq!(
            tracker.observe(&case_status(case)),
            None,
            "{case} after failed"
        );
    }
    assert_eq!(
        tracker.furthest("wamid.xyzxyz"),
        Some(DeliveryStatus::Failed)
    );

    let now = t(failed.timestamp + 30);
    let rate = windows.rate(DeliverySource::Logs, mins(15), now).unwrap();
    assert_eq!((rate.delivered, rate.failed, rate.percent), (0, 1, 0.0));
    let top = windows.top_failure_codes(mins(60), now, 5);
    assert_eq!(
        top,
        vec![(
            130_472,
            Some("User's number is part of an experiment".to_string()),
            1
        )]
    );
}

#[test]
fn tracker_is_bounded_and_forgets_the_oldest() {
    let mut tracker = StatusTracker::new(3);
    let mut status = case_status("delivered");
    for i in 0..10 {
        status.message_id = format!("wamid.{i}");
        assert!(tracker.observe(&status).is_some());
    }
    assert_eq!(tracker.len(), 3);
    assert_eq!(tracker.furthest("wamid.0"), None);
    assert_eq!(tracker.furthest("wamid.9"), Some(DeliveryStatus::Delivered));
}

#[test]
fn window_edges_rates_and_sources_are_separate() {
    let now = 1_750_000_020; // a whole minute: the window edge falls on a bucket edge
    let mut w = DeliveryWindows::new();
    w.record(DeliverySource::Logs, t(now - 900), true); // exactly 15 min old: inside
    w.record(DeliverySource::Logs, t(now - 901), false); // 15 min + 1 s: only in 1 h
    w.record(DeliverySource::Logs, t(now - 3601), false); // only in 24 h
    w.record(DeliverySource::Logs, t(now - 86_401), false); // in no window
    w.record(DeliverySource::TestSends, t(now - 5), true);

    let rate = |source, window| {
        w.rate(source, window, t(now))
            .map(|r| (r.delivered, r.failed))
    };
    assert_eq!(rate(DeliverySource::Logs, mins(15)), Some((1, 0)));
    assert_eq!(rate(DeliverySource::Logs, mins(60)), Some((1, 1)));
    assert_eq!(rate(DeliverySource::Logs, mins(1440)), Some((1, 2)));
    assert_eq!(rate(DeliverySource::TestSends, mins(15)), Some((1, 0)));
    assert_eq!(rate(DeliverySource::Analytics, mins(1440)), None);
    let percent = w
        .rate(DeliverySource::Logs, mins(60), t(now))
        .unwrap()
        .percent;
    assert!((percent - 50.0).abs() < 1e-9);

    // Whatever the time of day, an event older than the window is never counted.
    for offset in 0..60 {
        let later = t(now + offset);
        let age_15m_1s = now + offset - 901;
        let mut w = DeliveryWindows::new();
        w.record(DeliverySource::Logs, t(age_15m_1s), true);
        assert_eq!(w.rate(DeliverySource::Logs, mins(15), later), None);
        assert!(w.rate(DeliverySource::Logs, mins(60), later).is_some());
    }
}

#[test]
fn analytics_data_points_count_in_bulk() {
    let now = 1_750_000_020;
    let mut w = DeliveryWindows::new();
    w.record_many(DeliverySource::Analytics, t(now - 1800), 1188, 1204 - 1188);
    let r = w.rate(DeliverySource::Analytics, mins(60), t(now)).unwrap();
    assert_eq!((r.delivered, r.failed), (1188, 16));
    assert!((r.percent - 98.671_096).abs() < 1e-3, "{}", r.percent);
}

#[test]
fn sparkline_buckets_add_up_to_the_window() {
    let now = 1_750_000_020;
    let mut w = DeliveryWindows::new();
    // 60 minutes of traffic: minute k ago carries k outcomes, a third of them failed.
    for k in 0..60u64 {
        let at = t(now - k as i64 * 60);
        w.record_many(DeliverySource::Logs, at, k - k / 3, k / 3);
    }
    let spark = w.sparkline(DeliverySource::Logs, 6, mins(60), t(now));
    assert_eq!(spark.len(), 6);
    let total: u64 = (0..60).sum();
    assert_eq!(spark.iter().sum::<u64>(), total);
    let rate = w.rate(DeliverySource::Logs, mins(60), t(now)).unwrap();
    assert_eq!(rate.delivered + rate.failed, total);
    // Oldest first: the first span holds minutes 59..50 ago (and 60 ago, at the edge).
    assert_eq!(spark[0], (50..60).sum::<u64>());
    assert_eq!(spark[5], (0..10).sum::<u64>());
    assert!(spark.windows(2).all(|p| p[0] >= p[1]), "{spark:?}");
}

#[test]
fn memory_stays_bounded_over_a_million_events() {
    let start = 1_750_000_020;
    let mut w = DeliveryWindows::new();
    for code in 0..MAX_FAILURE_CODES as i64 {
        w.record_failure_code(t(start), code, None);
    }
    let slots = w.bucket_slots();
    for i in 0..1_000_000i64 {
        let at = t(start + i * 7);
        w.record(DeliverySource::Logs, at, i % 10 != 0);
        if i % 10 == 0 {
            w.record_failure_code(at, 1000 + i % 97, Some(format!("code {}", i % 97)));
        }
    }
    assert_eq!(w.bucket_slots(), slots);
    let now = t(start + 999_999 * 7);
    let day = w.rate(DeliverySource::Logs, mins(1440), now).unwrap();
    let expected_events = 86_400 / 7 + 1;
    assert!(day.delivered + day.failed <= expected_events);
    assert!(day.delivered + day.failed >= expected_events - 10);
    assert!(w.top_failure_codes(mins(1440), now, 3).len() == 3);
}
