//! The hub's totals: exact through bursts, each outcome counted once, tied to accounts.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use super::*;
use crate::config::PatternLevel;
use crate::engine::telemetry::logs::{LogLine, default_patterns, parse_webhook_line};
use crate::engine::telemetry::types::{TelemetrySnapshot, TelemetryTotals};

fn hub(
    phone_accounts: HashMap<String, String>,
) -> (TelemetryHub, mpsc::UnboundedReceiver<EngineEvent>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let patterns = PatternSet::from_patterns(default_patterns()).unwrap();
    let webhook_sources = vec!["webhooks".to_string()];
    let hub = TelemetryHub::new(
        patterns,
        tx,
        Clock::System,
        None,
        webhook_sources,
        phone_accounts,
    );
    (hub, rx)
}

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap()
}

fn line(source: &str, text: &str) -> SourceEvent {
    SourceEvent::Line(LogLine {
        source: source.to_string(),
        received_at: at(0),
        text: text.to_string(),
        truncated: false,
    })
}

/// (account, source label, delivered, count) of every message total.
fn messages(totals: &TelemetryTotals) -> Vec<(Option<&str>, &'static str, bool, u64)> {
    totals
        .messages
        .iter()
        .map(|m| (m.account.as_deref(), m.source.label(), m.delivered, m.count))
        .collect()
}

#[test]
fn a_burst_beyond_one_batch_still_counts_every_line() {
    let (mut hub, mut events) = hub(HashMap::new());
    let burst = 3 * MAX_LINES_PER_BATCH;
    for i in 0..burst {
        let text = match i % 3 {
            0 => "Message sent to 1555".to_string(),
            1 => "Failed to send WhatsApp message: (#131047) re-engagement".to_string(),
            _ => format!("GET /health {i}"),
        };
        hub.on_source_event(line("app", &text));
    }
    hub.flush_lines();
    let Ok(EngineEvent::LogLines { lines, skipped }) = events.try_recv() else {
        panic!("no line batch");
    };
    assert_eq!(lines.len(), MAX_LINES_PER_BATCH);
    assert_eq!(skipped as usize, burst - MAX_LINES_PER_BATCH);

    let totals = hub.snapshot(at(60)).totals;
    let counted: u64 = totals.log_lines.iter().map(|l| l.count).sum();
    assert_eq!(counted as usize, burst);
    let third = (burst / 3) as u64;
    let rows: Vec<_> = totals
        .log_lines
        .iter()
        .map(|l| (l.pattern.as_deref(), l.level, l.count))
        .collect();
    assert_eq!(
        rows,
        vec![
            (None, None, third),
            (Some("message-failed"), Some(PatternLevel::Error), third),
            (Some("message-sent"), Some(PatternLevel::Ok), third),
        ]
    );
    assert_eq!(
        messages(&totals),
        vec![(None, "logs", false, third), (None, "logs", true, third)]
    );
    assert_eq!(totals.failures.len(), 1);
    assert_eq!(
        (totals.failures[0].code, totals.failures[0].count),
        (131047, third)
    );
}

#[test]
fn a_test_send_and_an_analytics_point_seen_twice_count_once() {
    let (mut hub, _events) = hub(HashMap::new());
    hub.on_input(TelemetryInput::Send {
        via: SentVia::TestSend,
        account: "main".to_string(),
        at: at(0),
        delivered: false,
        failure_code: Some(131026),
        failure_title: None,
    });
    let point = |end| DataPoint {
        start: end - 1800,
        end,
        sent: 10,
        delivered: 7,
    };
    let first = vec![point(1_700_001_800), point(1_700_003_600)];
    let overlapping = vec![point(1_700_003_600), point(1_700_005_400)];
    for points in [first, overlapping] {
        hub.on_input(TelemetryInput::Analytics {
            account: "main".to_string(),
            points,
        });
    }
    let totals = hub.snapshot(at(7200)).totals;
    assert_eq!(
        messages(&totals),
        vec![
            (Some("main"), "test", false, 1),
            (Some("main"), "waba", false, 9),
            (Some("main"), "waba", true, 21),
        ]
    );
    assert_eq!(totals.failures.len(), 1);
    let failure = &totals.failures[0];
    assert_eq!(
        (failure.account.as_deref(), failure.code, failure.count),
        (Some("main"), 131026, 1)
    );
    // The windows see the same three points, not four.
    let analytics = hub
        .snapshot(at(7200))
        .delivery
        .into_iter()
        .find(|row| row.source == DeliverySource::Analytics && row.window_secs == 86_400)
        .and_then(|row| row.rate)
        .map(|rate| (rate.delivered, rate.failed));
    assert_eq!(analytics, Some((21, 9)));
}

#[test]
fn webhook_statuses_count_once_under_the_account_of_their_phone_number() {
    let accounts = HashMap::from([("106540352242922".to_string(), "main".to_string())]);
    let (mut hub, _events) = hub(accounts);
    let payload = |phone: &str, id: &str, status: &str| {
        format!(
            r#"{{"entry":[{{"changes":[{{"value":{{"metadata":{{"phone_number_id":"{phone}"}},"statuses":[{{"id":"{id}","status":"{status}","timestamp":"1700000000","errors":[{{"code":131049}}]}}]}}}}]}}]}}"#
        )
    };
    let lines = [
        payload("106540352242922", "wamid.1", "delivered"),
        payload("106540352242922", "wamid.1", "read"),
        payload("106540352242922", "wamid.2", "failed"),
        payload("999", "wamid.3", "delivered"),
    ];
    for text in &lines {
        hub.on_source_event(line("webhooks", text));
        for status in parse_webhook_line(text).unwrap() {
            hub.on_source_event(SourceEvent::Status(status));
        }
    }
    let totals = hub.snapshot(at(60)).totals;
    assert_eq!(
        messages(&totals),
        vec![
            (None, "webhook", true, 1),
            (Some("main"), "webhook", false, 1),
            (Some("main"), "webhook", true, 1),
        ]
    );
    let failures: Vec<_> = totals
        .failures
        .iter()
        .map(|f| (f.account.as_deref(), f.code, f.count))
        .collect();
    assert_eq!(failures, vec![(Some("main"), 131049, 1)]);
    assert_eq!(totals.log_lines.iter().map(|l| l.count).sum::<u64>(), 4);
}

#[test]
fn a_summary_written_before_totals_still_parses() {
    let (hub, _events) = hub(HashMap::new());
    let mut json = serde_json::to_value(hub.snapshot(at(0))).unwrap();
    json.as_object_mut().unwrap().remove("totals");
    let parsed: TelemetrySnapshot = serde_json::from_value(json).unwrap();
    assert_eq!(parsed.totals, TelemetryTotals::default());
}

#[test]
fn the_snapshot_carries_the_delivery_rate_of_the_last_24_hours_hour_by_hour() {
    let (mut hub, _events) = hub(HashMap::new());
    for text in [
        "Message sent to 1555",
        "Message sent to 1555",
        "Message sent to 1555",
        "Failed to send WhatsApp message: (#131047) re-engagement",
    ] {
        hub.on_source_event(line("app", text));
    }
    let line = hub.snapshot(at(30)).delivery_rate_24h;
    assert_eq!(line.len(), 24);
    assert_eq!(line[23], Some(75.0));
    assert!(line[..23].iter().all(Option::is_none), "{line:?}");
    // Two hours on, the same outcomes sit two hours back and the newest hour is empty.
    let later = hub.snapshot(at(30 + 2 * 3600)).delivery_rate_24h;
    assert_eq!((later[21], later[23]), (Some(75.0), None));
}
