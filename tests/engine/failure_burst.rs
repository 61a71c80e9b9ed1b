//! Failures in bulk (issue 22 section 2): a minute in which many of an account's messages fail
//! by Meta's status webhooks is one history row written by the account, with the count and
//! the top error, and at most one such row per account per 10 minutes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support;

use support::fake_source::{FakeSource, Panics};
use support::{START, run_for, settings};
use tokentop::engine::history::cause::{AlertKind, Cause};
use tokentop::engine::history::{HistoryEntry, HistoryLog, Outcome};
use tokentop::engine::logs::{WebhookStatus, parse_webhook_line};
use tokentop::engine::{Clock, Engine, EngineEvent, EngineOptions, HealthPolling};

const PHONE: &str = "530918247716630";

/// One webhook body of `n` failed messages of `PHONE` (wamids from `first`), most with
/// 131047, every fourth with 131026.
fn failures(first: usize, n: usize) -> Vec<WebhookStatus> {
    let statuses: Vec<String> = (first..first + n)
        .map(|i| {
            let (code, title) = if i % 4 == 3 {
                (131_026, "Message undeliverable")
            } else {
                (131_047, "Re-engagement message")
            };
            format!(
                r#"{{"id":"wamid.burst-{i}","status":"failed","timestamp":"{START}","recipient_id":"15105550111","errors":[{{"code":{code},"title":"{title}"}}]}}"#
            )
        })
        .collect();
    let body = format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"id":"418305927716254","changes":[{{"value":{{"messaging_product":"whatsapp","metadata":{{"phone_number_id":"{PHONE}"}},"statuses":[{}]}},"field":"messages"}}]}}]}}"#,
        statuses.join(",")
    );
    parse_webhook_line(&body).unwrap()
}

fn burst_rows(events: &[EngineEvent]) -> Vec<HistoryEntry> {
    events
        .iter()
        .filter_map(|e| match e {
            EngineEvent::History(entry) if entry.cause == Cause::Alert(AlertKind::FailureBurst) => {
                Some((**entry).clone())
            }
            _ => None,
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_minute_of_failures_is_one_row_and_the_next_burst_within_ten_minutes_none() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::virtual_at(START);
    let fake = FakeSource::panicking(clock.clone(), Panics::Never);
    let shop = crate::account::account("shop")
        .app("1234", "fake-app-secret")
        .access_token(&fake.put("shop", START + 90 * 86_400, START))
        .phone_number_id(PHONE)
        .build();
    let options = EngineOptions {
        clock,
        log_sources: false,
        health: HealthPolling::Off,
        write_summary: false,
        ..EngineOptions::default()
    };
    let (handle, mut events) = Engine::start(&settings(dir.path(), vec![shop]), fake, options);
    run_for(&mut events, 1).await;

    // 40 failures in three bodies within one minute (Meta's retry of one body adds none),
    // and 8 failed messages of another number, no account's.
    let batch = failures(0, 20);
    assert!(handle.report_webhook_statuses(batch.clone()));
    assert!(handle.report_webhook_statuses(batch));
    assert!(handle.report_webhook_statuses(failures(20, 20)));
    let mut elsewhere = failures(1000, 8);
    for status in &mut elsewhere {
        status.phone_number_id = Some("999".to_string());
    }
    assert!(handle.report_webhook_statuses(elsewhere));
    let seen = run_for(&mut events, 120).await;
    let rows = burst_rows(&seen);
    assert_eq!(rows.len(), 1, "{rows:?}");
    let row = &rows[0];
    assert_eq!(
        (row.account.as_str(), row.outcome),
        ("shop", Outcome::Failed)
    );
    let detail = row.detail.as_deref().unwrap();
    assert!(
        detail.starts_with("40 messages failed in one minute"),
        "{detail}"
    );
    assert!(
        detail.contains("most with 131047 Re-engagement message (30)"),
        "{detail}"
    );

    // Another burst five minutes later: counted, no row of its own.
    assert!(handle.report_webhook_statuses(failures(100, 15)));
    let seen = run_for(&mut events, 300).await;
    assert!(burst_rows(&seen).is_empty());
    // Past ten minutes since the row, the next burst's row says how many were folded.
    run_for(&mut events, 300).await;
    assert!(handle.report_webhook_statuses(failures(200, 12)));
    let seen = run_for(&mut events, 120).await;
    let rows = burst_rows(&seen);
    assert_eq!(rows.len(), 1, "{rows:?}");
    let detail = rows[0].detail.as_deref().unwrap();
    assert!(detail.starts_with("12 messages failed"), "{detail}");
    assert!(
        detail.ends_with("15 more failed in bursts since the last such row"),
        "{detail}"
    );

    // In the history file: those two rows, no row per message.
    let written: Vec<HistoryEntry> = HistoryLog::new(dir.path())
        .load()
        .unwrap()
        .into_iter()
        .filter(|e| e.cause == Cause::Alert(AlertKind::FailureBurst))
        .collect();
    assert_eq!(written.len(), 2, "{written:?}");
}
