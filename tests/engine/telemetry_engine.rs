//! Telemetry through the real engine: log sources, webhook statuses, phone health and the
//! analytics polling budget, against the in-process simulator.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokentop::config::{
    AccountSettings, GraphSettings, LogFormat, LogInput, LogSourceSettings, RefreshPolicy, Settings,
};
use tokentop::engine::delivery::DeliverySource;
use tokentop::engine::telemetry_types::{PhoneSnapshot, TelemetrySnapshot};
use tokentop::engine::{Engine, EngineCommand, EngineEvent, EngineOptions};
use tokentop::graph::GraphClient;
use tokentop::sim::{
    DEFAULT_APP_ID, DEFAULT_APP_SECRET, RunningSim, SimConfig, SimPhone, TokenKind,
};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::Instant;

const WEBHOOKS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/webhook_message_statuses.json"
);

async fn start_sim() -> RunningSim {
    RunningSim::start(SimConfig::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

fn account(sim: &RunningSim, waba: Option<&str>) -> AccountSettings {
    let token = sim.handle().mint_token(TokenKind::SystemUser, None);
    crate::account::account("main")
        .app(DEFAULT_APP_ID, DEFAULT_APP_SECRET)
        .access_token(&token.access_token)
        .phone_number_id("106540352242922")
        .business_account_id(waba)
        .test_recipient(Some("15551234567"))
        .build()
}

fn settings(
    sim: &RunningSim,
    data_dir: &Path,
    accounts: Vec<AccountSettings>,
    logs: Vec<LogSourceSettings>,
) -> Settings {
    Settings {
        data_dir: data_dir.to_path_buf(),
        graph: GraphSettings {
            base_url: sim.base_url(),
            ..GraphSettings::default()
        },
        refresh: RefreshPolicy {
            check_interval: Duration::from_millis(500),
            ..RefreshPolicy::default()
        },
        accounts: accounts.into_iter().map(std::sync::Arc::new).collect(),
        logs,
        ..Settings::default()
    }
}

fn start(
    settings: &Settings,
) -> (
    tokentop::engine::EngineHandle,
    UnboundedReceiver<EngineEvent>,
) {
    let client = GraphClient::new(&settings.graph).unwrap();
    Engine::start(settings, Arc::new(client), EngineOptions::default())
}

/// Collects events for `secs`, or until `stop` says so.
async fn collect(
    events: &mut UnboundedReceiver<EngineEvent>,
    secs: u64,
    mut stop: impl FnMut(&[EngineEvent]) -> bool,
) -> Vec<EngineEvent> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut seen = Vec::new();
    while let Ok(Some(event)) = tokio::time::timeout_at(deadline, events.recv()).await {
        seen.push(event);
        if stop(&seen) {
            break;
        }
    }
    seen
}

fn phones(events: &[EngineEvent]) -> Vec<PhoneSnapshot> {
    events
        .iter()
        .filter_map(|e| match e {
            EngineEvent::Phone(p) => Some((**p).clone()),
            _ => None,
        })
        .collect()
}

fn last_telemetry(events: &[EngineEvent]) -> Option<TelemetrySnapshot> {
    events.iter().rev().find_map(|e| match e {
        EngineEvent::Telemetry(t) => Some((**t).clone()),
        _ => None,
    })
}

#[tokio::test]
async fn analytics_are_polled_at_most_every_15_minutes_even_across_processes() {
    let sim = start_sim().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = settings(
        &sim,
        dir.path(),
        vec![account(&sim, Some("102290129340398"))],
        vec![],
    );
    let (handle, mut events) = start(&cfg);
    // Phone health every 500 ms: wait for several polls.
    let seen = collect(&mut events, 20, |seen| phones(seen).len() >= 5).await;
    assert!(phones(&seen).len() >= 5);
    let stats = sim.handle().stats();
    assert_eq!(stats.by_endpoint.get("analytics"), Some(&1), "{stats:?}");
    assert!(stats.by_endpoint.get("phone_number").copied().unwrap_or(0) >= 5);
    let health = phones(&seen).last().unwrap().health.clone().unwrap();
    assert_eq!(health.quality_rating.as_deref(), Some("GREEN"));
    handle.send(EngineCommand::Shutdown);
    collect(&mut events, 10, |seen| seen.contains(&EngineEvent::Stopped)).await;

    // A second engine on the same data dir reads the cache instead of asking Meta.
    let (handle, mut events) = start(&cfg);
    let seen = collect(&mut events, 20, |seen| phones(seen).len() >= 2).await;
    assert_eq!(sim.handle().stats().by_endpoint.get("analytics"), Some(&1));
    // The cached points still reach the delivery windows.
    let telemetry = collect(&mut events, 5, |seen| {
        last_telemetry(seen).is_some_and(|t| {
            t.delivery
                .iter()
                .any(|r| r.source == DeliverySource::Analytics && r.rate.is_some())
        })
    })
    .await;
    assert!(last_telemetry(&telemetry).is_some(), "{seen:?}");
    handle.send(EngineCommand::Shutdown);
}

#[tokio::test]
async fn analytics_are_skipped_with_a_note_without_a_waba_id() {
    let sim = start_sim().await;
    let dir = tempfile::tempdir().unwrap();
    sim.handle().set_phone(
        "106540352242922",
        SimPhone {
            quality_rating: "RED".into(),
            can_send_message: "BLOCKED".into(),
            ..SimPhone::default()
        },
    );
    let cfg = settings(&sim, dir.path(), vec![account(&sim, None)], vec![]);
    let (handle, mut events) = start(&cfg);
    let seen = collect(&mut events, 20, |seen| !phones(seen).is_empty()).await;
    let phone = phones(&seen).pop().unwrap();
    assert!(
        phone
            .analytics_note
            .unwrap()
            .contains("no business-account-id")
    );
    let health = phone.health.unwrap();
    assert_eq!(health.quality_rating.as_deref(), Some("RED"));
    assert_eq!(
        health.health.unwrap().can_send_message.as_deref(),
        Some("BLOCKED")
    );
    assert_eq!(sim.handle().stats().by_endpoint.get("analytics"), None);
    handle.send(EngineCommand::Shutdown);
}

#[tokio::test]
async fn log_lines_are_classified_and_counted_into_delivery_rates() {
    let sim = start_sim().await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    std::fs::write(&log, "").unwrap();
    let source = LogSourceSettings {
        name: "backend".into(),
        input: LogInput::File(log.clone()),
        format: LogFormat::Plain,
    };
    let cfg = settings(&sim, dir.path(), vec![], vec![source]);
    let (handle, mut events) = start(&cfg);
    let mut file = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    for _ in 0..3 {
        writeln!(file, "INFO WhatsApp message sent to=1555").unwrap();
    }
    writeln!(
        file,
        "ERROR Failed to send WhatsApp message: (#131047) Re-engagement message"
    )
    .unwrap();
    writeln!(
        file,
        "WARN WhatsApp token is expired or expiring soon, refreshing..."
    )
    .unwrap();
    writeln!(file, "DEBUG nothing to see").unwrap();
    let seen = collect(&mut events, 20, |seen| {
        last_telemetry(seen).is_some_and(|t| t.levels_1h.ok == 3 && t.levels_1h.error == 1)
    })
    .await;
    let telemetry = last_telemetry(&seen).expect("a telemetry snapshot");
    assert_eq!(telemetry.levels_1h.warn, 1);
    let logs_1h = telemetry
        .delivery
        .iter()
        .find(|r| r.source == DeliverySource::Logs && r.window_secs == 3600)
        .and_then(|r| r.rate)
        .unwrap();
    assert_eq!((logs_1h.delivered, logs_1h.failed), (3, 1));
    assert_eq!(telemetry.top_failures[0].code, 131047);
    let lines: Vec<_> = seen
        .iter()
        .flat_map(|e| match e {
            EngineEvent::LogLines { lines, .. } => lines.clone(),
            _ => Vec::new(),
        })
        .collect();
    assert_eq!(lines.len(), 6, "{lines:?}");
    assert_eq!(lines[4].pattern.as_deref(), Some("token-expiring"));
    assert!(lines[5].pattern.is_none());
    handle.send(EngineCommand::Shutdown);
}

#[tokio::test]
async fn webhook_statuses_count_read_as_delivered_and_keep_failure_titles() {
    let sim = start_sim().await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("webhooks.log");
    let fixture: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(WEBHOOKS).unwrap()).unwrap();
    let payload = |case: &str, id: &str| {
        let mut v = fixture[case].clone();
        v["entry"][0]["changes"][0]["value"]["statuses"][0]["id"] = serde_json::json!(id);
        // Recent timestamps, so the statuses land inside the windows.
        let now = chrono::Utc::now().timestamp().to_string();
        v["entry"][0]["changes"][0]["value"]["statuses"][0]["timestamp"] = serde_json::json!(now);
        serde_json::to_string(&v).unwrap()
    };
    // m1: read before delivered (one delivery); m2: sent then failed.
    let lines = [
        payload("read", "m1"),
        payload("delivered", "m1"),
        payload("sent", "m2"),
        payload("failed", "m2"),
    ];
    std::fs::write(&log, lines.join("\n") + "\n").unwrap();
    let source = LogSourceSettings {
        name: "hooks".into(),
        input: LogInput::File(log),
        format: LogFormat::WebhookJson,
    };
    let cfg = settings(&sim, dir.path(), vec![], vec![source]);
    let (handle, mut events) = start(&cfg);
    let seen = collect(&mut events, 20, |seen| {
        last_telemetry(seen).is_some_and(|t| !t.top_failures.is_empty())
    })
    .await;
    let telemetry = last_telemetry(&seen).unwrap();
    let rate = telemetry
        .delivery
        .iter()
        .find(|r| r.source == DeliverySource::Logs && r.window_secs == 900)
        .and_then(|r| r.rate)
        .unwrap();
    assert_eq!((rate.delivered, rate.failed), (1, 1));
    assert_eq!(telemetry.top_failures[0].code, 130472);
    assert_eq!(
        telemetry.top_failures[0].title.as_deref(),
        Some("User's number is part of an experiment")
    );
    handle.send(EngineCommand::Shutdown);
}

#[tokio::test]
async fn a_token_the_application_logs_is_masked_before_it_reaches_clients() {
    let sim = start_sim().await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let token = sim
        .handle()
        .mint_token(TokenKind::SystemUser, None)
        .access_token;
    std::fs::write(
        &log,
        format!("DEBUG calling Graph with access_token={token}\n"),
    )
    .unwrap();
    let source = LogSourceSettings {
        name: "backend".into(),
        input: LogInput::File(log),
        format: LogFormat::Plain,
    };
    let cfg = settings(&sim, dir.path(), vec![], vec![source]);
    let (handle, mut events) = start(&cfg);
    let seen = collect(&mut events, 20, |seen| {
        seen.iter()
            .any(|e| matches!(e, EngineEvent::LogLines { .. }))
    })
    .await;
    let text = seen
        .iter()
        .find_map(|e| match e {
            EngineEvent::LogLines { lines, .. } => Some(lines[0].text.to_string()),
            _ => None,
        })
        .unwrap();
    assert!(!text.contains(&token), "{text}");
    assert!(text.contains(&tokentop::mask::mask_str(&token)), "{text}");
    handle.send(EngineCommand::Shutdown);
}
