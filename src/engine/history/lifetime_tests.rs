//! The lifetime series from scripted histories: the sawtooth, never-expiring tokens, no
//! history, rows out of order or in the future, huge gaps and extreme numbers.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::DateTime;

use super::*;
use crate::engine::history::cause::Cause;

const HOUR: i64 = 3600;
const DAY: i64 = 86_400;
const T0: i64 = 1_800_000_000;

fn row(at: i64, event: HistoryEvent, outcome: Outcome, expiry: Option<Expiry>) -> HistoryEntry {
    // The word of a scheduled refresh, also under other events.
    let cause = Cause::parse(event, "scheduled");
    let mut entry = HistoryEntry::new("production", cause, outcome);
    entry.time = DateTime::from_timestamp(at, 0).unwrap();
    entry.new_expires_at = expiry;
    entry
}

fn refreshed(at: i64, lifetime_secs: i64) -> HistoryEntry {
    row(
        at,
        HistoryEvent::Refresh,
        Outcome::Ok,
        Some(Expiry::At(at + lifetime_secs)),
    )
}

fn failed(at: i64) -> HistoryEntry {
    row(at, HistoryEvent::Refresh, Outcome::Failed, None)
}

fn inspected(at: i64, expiry: Expiry) -> HistoryEntry {
    row(at, HistoryEvent::Inspect, Outcome::Ok, Some(expiry))
}

/// 24 h tokens refreshed every 12 h, one retry failing before the third refresh.
fn sawtooth() -> Vec<HistoryEntry> {
    vec![
        refreshed(T0, DAY),
        inspected(T0 + HOUR, Expiry::At(T0 + DAY)),
        refreshed(T0 + 12 * HOUR, DAY),
        failed(T0 + 23 * HOUR),
        refreshed(T0 + 24 * HOUR, DAY),
    ]
}

#[test]
fn scheduled_refreshes_draw_a_sawtooth_with_the_failure_on_the_line() {
    let lifetime = Lifetime::from_history(&sawtooth());
    let now = T0 + 30 * HOUR;
    let window = lifetime.window(DAY + 12 * HOUR, now, Some(Expiry::At(T0 + 48 * HOUR)));
    assert_eq!(window.from, T0 - 6 * HOUR);
    assert_eq!(
        window.lines,
        vec![vec![
            (T0, DAY),
            (T0 + 12 * HOUR, 12 * HOUR),
            (T0 + 12 * HOUR, DAY),
            (T0 + 24 * HOUR, 12 * HOUR),
            (T0 + 24 * HOUR, DAY),
            (now, 18 * HOUR),
        ]],
        "falls one second per second, jumps back up at each refresh; the inspection that \
         saw the same expiry adds no point"
    );
    assert_eq!(window.failures, vec![(T0 + 23 * HOUR, 13 * HOUR)]);
    assert_eq!(window.renewals, 2);
    assert_eq!(window.max_left, DAY);
    assert!(!window.never);
}

#[test]
fn a_token_left_to_expire_reaches_zero_and_stays_there() {
    let lifetime = Lifetime::from_history(&[refreshed(T0, 2 * HOUR)]);
    let window = lifetime.window(6 * HOUR, T0 + 5 * HOUR, None);
    assert_eq!(
        window.lines,
        vec![vec![(T0, 2 * HOUR), (T0 + 2 * HOUR, 0), (T0 + 5 * HOUR, 0)]]
    );
}

#[test]
fn a_window_starting_after_a_change_begins_with_the_token_then_in_use() {
    let lifetime = Lifetime::from_history(&sawtooth());
    let now = T0 + 30 * HOUR;
    let window = lifetime.window(10 * HOUR, now, None);
    assert_eq!(window.lines[0][0], (now - 10 * HOUR, 16 * HOUR));
    assert_eq!(window.renewals, 1);
    assert_eq!(window.failures, vec![(T0 + 23 * HOUR, 13 * HOUR)]);
}

#[test]
fn never_expiring_tokens_draw_no_line_and_say_so() {
    let history = [
        inspected(T0, Expiry::Never),
        failed(T0 + HOUR),
        inspected(T0 + 2 * HOUR, Expiry::Never),
    ];
    let lifetime = Lifetime::from_history(&history);
    let window = lifetime.window(6 * HOUR, T0 + 3 * HOUR, Some(Expiry::Never));
    assert!(window.lines.is_empty());
    assert!(window.never);
    assert_eq!(window.max_left, 1);
    assert_eq!(window.failures, vec![(T0 + HOUR, 1)], "drawn at the top");
}

#[test]
fn a_switch_to_a_never_expiring_token_ends_the_line() {
    let history = [refreshed(T0, DAY), inspected(T0 + HOUR, Expiry::Never)];
    let window = Lifetime::from_history(&history).window(6 * HOUR, T0 + 2 * HOUR, None);
    assert_eq!(window.lines, vec![vec![(T0, DAY), (T0 + HOUR, DAY - HOUR)]]);
    assert_eq!(window.renewals, 1);
    assert!(window.never);
}

#[test]
fn no_history_draws_only_what_the_latest_inspection_saw() {
    let lifetime = Lifetime::default();
    assert!(lifetime.is_empty());
    assert_eq!(lifetime.span_secs(T0), SPANS_SECS[0]);
    let empty = lifetime.window(6 * HOUR, T0, None);
    assert!(empty.lines.is_empty() && empty.failures.is_empty());
    assert!(!empty.never);
    let now_only = lifetime.window(6 * HOUR, T0, Some(Expiry::At(T0 + DAY)));
    assert_eq!(now_only.lines, vec![vec![(T0, DAY), (T0, DAY)]]);
    assert_eq!(now_only.max_left, DAY);
    let unknown = lifetime.window(6 * HOUR, T0, Some(Expiry::Unknown));
    assert!(unknown.lines.is_empty());
}

#[test]
fn rows_in_the_future_are_drawn_at_now_and_rows_out_of_order_where_they_belong() {
    let history = [
        refreshed(T0 + 2 * HOUR, DAY),
        refreshed(T0, DAY),
        failed(T0 + 400 * DAY),
        refreshed(T0 + 300 * DAY, DAY),
    ];
    let lifetime = Lifetime::from_history(&history);
    let now = T0 + 3 * HOUR;
    let window = lifetime.window(6 * HOUR, now, None);
    for (at, left) in window.lines.iter().flatten().chain(&window.failures) {
        assert!((window.from..=now).contains(at), "{at} outside the span");
        assert!(*left >= 0);
    }
    let xs: Vec<i64> = window.lines[0].iter().map(|(at, _)| *at).collect();
    assert!(
        xs.windows(2).all(|p| p[0] <= p[1]),
        "never backwards: {xs:?}"
    );
    assert_eq!(window.lines[0][0], (T0, DAY));
    assert_eq!(window.lines[0][3], (now, DAY - HOUR));
    // The refresh stamped 300 days ahead is the newest: drawn as a step at now.
    assert_eq!(window.failures, vec![(now, 301 * DAY - 3 * HOUR)]);
}

#[test]
fn a_huge_gap_picks_the_longest_span_and_the_old_token_has_run_out() {
    let lifetime = Lifetime::from_history(&[refreshed(T0, 60 * DAY)]);
    let now = T0 + 400 * DAY;
    assert_eq!(lifetime.span_secs(now), 90 * DAY);
    let window = lifetime.window(lifetime.span_secs(now), now, None);
    assert_eq!(window.lines, vec![vec![(now - 90 * DAY, 0), (now, 0)]]);
    assert_eq!(lifetime.span_secs(T0 + 2 * DAY), 3 * DAY);
    assert_eq!(
        lifetime.span_secs(T0 - DAY),
        5 * 60,
        "history from the future"
    );
    assert_eq!(lifetime.span_secs(T0 + 10 * 60), 15 * 60);
    assert_eq!(lifetime.span_secs(T0 + 2 * HOUR), 6 * HOUR);
}

#[test]
fn extreme_numbers_saturate_instead_of_overflowing() {
    let history = [
        row(
            0,
            HistoryEvent::Refresh,
            Outcome::Ok,
            Some(Expiry::At(i64::MAX)),
        ),
        row(
            10,
            HistoryEvent::Refresh,
            Outcome::Ok,
            Some(Expiry::At(i64::MIN)),
        ),
        failed(20),
    ];
    let lifetime = Lifetime::from_history(&history);
    for now in [i64::MIN, -1, 0, 30, i64::MAX] {
        for span in [i64::MIN, 0, 1, i64::MAX] {
            let window = lifetime.window(span, now, Some(Expiry::At(i64::MIN)));
            assert!(window.max_left >= 1);
            assert!(window.lines.iter().flatten().all(|(_, left)| *left >= 0));
        }
        let _ = lifetime.span_secs(now);
    }
}

#[test]
fn memory_stays_bounded_however_many_rows_arrive() {
    let mut lifetime = Lifetime::default();
    for i in 0..(3 * MAX_POINTS as i64) {
        lifetime.push(&refreshed(T0 + i * HOUR, DAY));
        lifetime.push(&failed(T0 + i * HOUR + 1));
    }
    assert_eq!(lifetime.changes.len(), MAX_POINTS);
    assert_eq!(lifetime.failures.len(), MAX_POINTS);
    assert_eq!(
        lifetime.changes.back().map(|c| c.at),
        Some(T0 + (3 * MAX_POINTS as i64 - 1) * HOUR),
        "the newest are kept"
    );
}

#[test]
fn other_events_and_unknown_expiries_change_nothing() {
    let history = [
        row(T0, HistoryEvent::Publish, Outcome::Ok, Some(Expiry::At(T0))),
        row(T0, HistoryEvent::Send, Outcome::Failed, None),
        row(T0, HistoryEvent::Inspect, Outcome::Failed, None),
        row(T0, HistoryEvent::Refresh, Outcome::Skipped, None),
        inspected(T0, Expiry::Unknown),
    ];
    assert!(Lifetime::from_history(&history).is_empty());
}
