//! Fixtures shared by the dashboard tests: settings for three accounts, snapshots in each
//! state, telemetry, and a fixed clock.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

#[path = "../support/account.rs"]
pub mod account;

use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use tokentop::config::{
    AccountSettings, GraphSettings, PatternLevel, PatternSettings, RefreshPolicy, Settings, Theme,
    UiSettings,
};
use tokentop::engine::delivery::{DeliverySource, RateSummary};
use tokentop::engine::history::cause::{InspectReason, SendChannel, Trigger};
use tokentop::engine::history::{HistoryEntry, HistoryError, Outcome};
use tokentop::engine::telemetry_types::{
    ClassifiedLine, DeliveryRow, FailureRow, LevelCounts, PhoneNews, PhoneSnapshot,
    TelemetrySnapshot,
};
use tokentop::engine::{AccountSnapshot, EngineEvent, Inspection, TokenState, reauth_hint};
use tokentop::graph::{Expiry, HealthStatus, PhoneHealth, TokenInfo, Usage};
use tokentop::tui::{App, Msg};

pub const DAY: i64 = 86_400;

/// 2026-03-14 14:03:12 UTC: every screen test draws at this instant.
pub fn fixed_now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 14, 14, 3, 12).unwrap()
}

pub fn now_unix() -> i64 {
    fixed_now().timestamp()
}

fn account(name: &str, recipient: Option<&str>) -> AccountSettings {
    account::account(name)
        .app("100000000000001", "not-a-real-secret")
        .access_token("EAAGtesttesttesttestx9Qf")
        .phone_number_id("106540352242922")
        .business_account_id(Some("102290129340398"))
        .on_refresh_timeout(Duration::from_secs(10))
        .test_recipient(recipient)
        .build()
}

/// Three accounts: production and staging have a test recipient, legacy has none.
pub fn settings() -> Settings {
    Settings {
        account_files: Default::default(),
        config_path: Some(PathBuf::from("/home/op/.config/tokentop/config.toml")),
        data_dir: PathBuf::from("/home/op/.local/share/tokentop"),
        graph: GraphSettings::default(),
        refresh: RefreshPolicy::default(),
        accounts: vec![
            account("production", Some("15551234567")).into(),
            account("staging", Some("15557654321")).into(),
            account("legacy", None).into(),
        ],
        logs: Vec::new(),
        patterns: PatternSettings::default(),
        ui: UiSettings {
            theme: Theme::Mono,
            ..UiSettings::default()
        },
        serve: Default::default(),
        proxy: Default::default(),
        cluster: Default::default(),
        webhook: Default::default(),
    }
}

pub fn new_app() -> App {
    App::new(
        &settings(),
        PathBuf::from("/home/op/.local/share/tokentop/logs/tokentop.log.2026-03-14"),
        fixed_now(),
    )
}

pub fn info(token_type: &str, issued_at: i64, expires_at: i64, data_access: i64) -> TokenInfo {
    TokenInfo {
        is_valid: true,
        token_type: Some(token_type.to_string()),
        app_id: Some("100000000000001".to_string()),
        application: Some("tokentop test".to_string()),
        expires_at: Some(expires_at),
        data_access_expires_at: Some(data_access),
        issued_at: Some(issued_at),
        scopes: vec![
            "whatsapp_business_messaging".to_string(),
            "whatsapp_business_management".to_string(),
        ],
        granular_scopes: Vec::new(),
        user_id: None,
        error: None,
    }
}

fn inspection(info: TokenInfo) -> Inspection {
    Inspection {
        checked_at: fixed_now() - chrono::Duration::seconds(40),
        info,
    }
}

/// A system-user token with 41 days left of 60, refresh scheduled in 21 days.
pub fn healthy(name: &str) -> AccountSnapshot {
    let now = now_unix();
    let expires = now + 41 * DAY + 3 * 3600 + 12 * 60 + 45;
    let mut s = AccountSnapshot::new(name);
    s.state = TokenState::Valid;
    s.access_token_masked = Some("EAAG…x9Qf".to_string());
    s.access = Some(inspection(info(
        "SYSTEM_USER",
        expires - 60 * DAY,
        expires,
        0,
    )));
    s.next_refresh_at = Some(now + 21 * DAY + 3 * 3600 + 12 * 60 + 45);
    s.test_recipient = Some("15551234567".to_string());
    s.phone_number_id = Some("106540352242922".to_string());
    s
}

/// A user token inside the warn window (3 days left) with a separate long-lived token.
pub fn expiring(name: &str) -> AccountSnapshot {
    let now = now_unix();
    let mut s = AccountSnapshot::new(name);
    s.state = TokenState::Expiring;
    s.access_token_masked = Some("EAAG…a1B2".to_string());
    s.long_lived_token_masked = Some("EAAG…ll9f".to_string());
    s.access = Some(inspection(info(
        "USER",
        now - 57 * DAY,
        now + 3 * DAY + 5 * 3600,
        now + 30 * DAY,
    )));
    s.long_lived = Some(Box::new(inspection(info(
        "USER",
        now - 20 * DAY,
        now + 40 * DAY,
        now + 70 * DAY,
    ))));
    s.next_refresh_at = Some(now + 90);
    s.missing_scopes = vec!["whatsapp_business_management".to_string()];
    s.test_recipient = Some("15557654321".to_string());
    s
}

/// The long-lived token ran out: a person must mint a new one.
pub fn reauth(name: &str) -> AccountSnapshot {
    let now = now_unix();
    let mut s = AccountSnapshot::new(name);
    s.state = TokenState::ReauthRequired {
        reason: "the long-lived token expired".to_string(),
    };
    s.access_token_masked = Some("EAAG…dead".to_string());
    s.long_lived_token_masked = Some("EAAG…gone".to_string());
    let mut access = info("USER", now - 2 * 3600, now - 125, now + 80 * DAY);
    access.is_valid = false;
    s.access = Some(inspection(access));
    s.long_lived = Some(Box::new(inspection(info(
        "USER",
        now - 60 * DAY,
        now - 600,
        now + 30 * DAY,
    ))));
    s.last_error = Some("190/463 the long-lived token expired".to_string());
    s.action_hint = Some(reauth_hint(name, false));
    s
}

pub fn history_rows(account: &str) -> Vec<HistoryEntry> {
    let at = |secs_ago: i64| fixed_now() - chrono::Duration::seconds(secs_ago);
    let mut ok = HistoryEntry::new(account, Trigger::Scheduled, Outcome::Ok);
    ok.time = at(5580);
    ok.latency_ms = Some(290);
    ok.new_expires_at = Some(Expiry::At(ok.time.timestamp() + 60 * DAY));
    let mut failed = HistoryEntry::new(account, Trigger::Retry, Outcome::Failed);
    failed.time = at(3732);
    failed.latency_ms = Some(1204);
    failed.error = Some(Box::new(HistoryError {
        code: Some(190),
        subcode: Some(463),
        class: "auth".to_string(),
        message: "Session has expired".to_string(),
        fbtrace_id: None,
    }));
    let mut inspect = HistoryEntry::new(account, InspectReason::Check, Outcome::Ok);
    inspect.time = at(200);
    let mut forced = HistoryEntry::new(account, Trigger::Forced, Outcome::Ok);
    forced.time = at(130);
    forced.latency_ms = Some(312);
    forced.new_expires_at = Some(Expiry::At(forced.time.timestamp() + 60 * DAY));
    vec![ok, failed, inspect, forced]
}

pub fn telemetry() -> TelemetrySnapshot {
    let row = |source, window_secs, delivered, failed| DeliveryRow {
        source,
        window_secs,
        rate: Some(RateSummary {
            delivered,
            failed,
            percent: delivered as f64 * 100.0 / (delivered + failed) as f64,
        }),
    };
    TelemetrySnapshot {
        at: fixed_now(),
        patterns: Vec::new(),
        levels_1h: LevelCounts {
            ok: 12,
            warn: 3,
            error: 1,
        },
        delivery: vec![
            row(DeliverySource::Logs, 900, 301, 4),
            row(DeliverySource::Logs, 3600, 1204, 16),
            row(DeliverySource::Logs, 86_400, 20_110, 402),
            row(DeliverySource::TestSends, 86_400, 3, 0),
            row(DeliverySource::Analytics, 86_400, 979, 21),
        ],
        delivery_sparkline: vec![3, 5, 8, 13, 21, 34, 55, 34, 21, 13, 8, 5],
        delivery_rate_24h: delivery_rate_24h(),
        top_failures: vec![
            FailureRow {
                code: 131047,
                title: Some("Re-engagement message".to_string()),
                count: 9,
            },
            FailureRow {
                code: 131026,
                title: None,
                count: 2,
            },
        ],
        totals: Default::default(),
        proxy_undelivered: None,
        webhook_accounts: Default::default(),
    }
}

/// A day of hourly delivery rates: mostly 97-99%, a bad hour at 82%, two quiet hours.
pub fn delivery_rate_24h() -> Vec<Option<f64>> {
    (0..24)
        .map(|hour| match hour {
            5 | 6 => None,
            17 => Some(82.0),
            h => Some(97.0 + f64::from(h % 3)),
        })
        .collect()
}

pub fn phone(account: &str) -> PhoneSnapshot {
    PhoneSnapshot {
        account: account.to_string(),
        checked_at: fixed_now(),
        health: Some(PhoneHealth {
            id: Some("106540352242922".to_string()),
            display_phone_number: Some("+1 555-123-4567".to_string()),
            verified_name: Some("Test Co".to_string()),
            quality_rating: Some("GREEN".to_string()),
            status: Some("CONNECTED".to_string()),
            throughput_level: Some("STANDARD".to_string()),
            messaging_limit: Some("TIER_1K".to_string()),
            health: Some(HealthStatus {
                can_send_message: Some("AVAILABLE".to_string()),
                entities: Vec::new(),
            }),
        }),
        usage: Usage {
            app: Some(tokentop::graph::AppUsage {
                call_count: 12,
                total_time: 4,
                total_cputime: 3,
            }),
            business: Vec::new(),
        },
        error: None,
        analytics_note: None,
        webhook: None,
    }
}

/// Meta's webhook news about `account`'s number (the one of [`phone`]), `secs_ago`.
pub fn phone_news(account: &str, event: &str, limit: &str, secs_ago: i64) -> PhoneNews {
    PhoneNews {
        account: account.to_string(),
        event: Some(event.to_string()),
        current_limit: Some(limit.to_string()),
        old_limit: None,
        display_phone_number: Some("15551234567".to_string()),
        at: fixed_now() - chrono::Duration::seconds(secs_ago),
    }
}

pub fn log_line(secs_ago: i64, level: Option<PatternLevel>, text: &str) -> ClassifiedLine {
    ClassifiedLine {
        source: "backend".into(),
        received_at: fixed_now() - chrono::Duration::seconds(secs_ago),
        text: text.into(),
        truncated: false,
        pattern: level.map(|_| "pattern".into()),
        level,
        role: None,
    }
}

pub fn log_lines() -> Vec<ClassifiedLine> {
    vec![
        log_line(300, None, "INFO  POST /webhook 200 12ms"),
        log_line(
            250,
            Some(PatternLevel::Error),
            "ERROR Failed to send WhatsApp message: (#131047) Re-engagement message",
        ),
        log_line(
            134,
            Some(PatternLevel::Warn),
            "WARN  WhatsApp token is expired or expiring soon, refreshing...",
        ),
        log_line(
            130,
            Some(PatternLevel::Ok),
            "INFO  WhatsApp access token refreshed successfully",
        ),
        log_line(20, None, "INFO  GET /health 200 1ms"),
    ]
}

pub fn engine(app: &mut App, event: EngineEvent) {
    let effects = app.update(Msg::Engine(event));
    assert!(effects.is_empty(), "engine events cause no effects");
}

/// An app whose selected account is `snapshot`, with history, telemetry, phone and logs.
pub fn app_with(snapshot: AccountSnapshot) -> App {
    let mut app = new_app();
    let name = snapshot.name.clone();
    app.selected = app.accounts.iter().position(|a| a.name() == name).unwrap();
    engine(
        &mut app,
        EngineEvent::Account(std::sync::Arc::new(healthy("production"))),
    );
    engine(
        &mut app,
        EngineEvent::Account(std::sync::Arc::new(expiring("staging"))),
    );
    engine(
        &mut app,
        EngineEvent::Account(std::sync::Arc::new(snapshot)),
    );
    for entry in history_rows(&name) {
        engine(&mut app, EngineEvent::History(Box::new(entry)));
    }
    engine(&mut app, EngineEvent::Telemetry(Box::new(telemetry())));
    engine(&mut app, EngineEvent::Phone(Box::new(phone(&name))));
    engine(
        &mut app,
        EngineEvent::LogLines {
            lines: log_lines(),
            skipped: 0,
        },
    );
    app
}

pub fn key(code: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

pub fn ch(c: char) -> Msg {
    key(KeyCode::Char(c))
}

pub fn ctrl(c: char) -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL))
}

// ---- a fleet of many accounts ----

const CLIENTS: [&str; 12] = [
    "acme", "bakery", "clinic", "dental", "florist", "garage", "hotel", "insure", "jewels",
    "kiosk", "lawfirm", "motors",
];

/// `acme-01`, `bakery-01`, … `motors-05`: an agency's numbers, one client after another.
pub fn fleet_name(i: usize) -> String {
    format!(
        "{}-{:02}",
        CLIENTS[i % CLIENTS.len()],
        i / CLIENTS.len() + 1
    )
}

/// Settings with `count` accounts named by [`fleet_name`].
pub fn fleet_settings(count: usize) -> Settings {
    let mut settings = settings();
    settings.accounts = (0..count)
        .map(|i| account(&fleet_name(i), Some("15551234567")).into())
        .collect();
    settings
}

fn with_access_left(mut s: AccountSnapshot, secs: i64) -> AccountSnapshot {
    if let Some(access) = s.access.as_mut() {
        access.info.expires_at = Some(now_unix() + secs);
    }
    s
}

/// Account `i` of the fleet, in one of ten situations with times that differ per account.
pub fn fleet_snapshot(i: usize) -> AccountSnapshot {
    let name = fleet_name(i);
    let now = now_unix();
    let spread = i64::try_from(i).unwrap();
    match i % 10 {
        0 => reauth(&name),
        2 => with_access_left(expiring(&name), 2 * DAY + spread * 3600),
        3 => {
            let mut s = with_access_left(healthy(&name), 20 * DAY + spread * 3600);
            s.state = TokenState::Backoff {
                retry_at: now + 300 + spread,
            };
            s.last_error = Some("connection timed out".to_string());
            s
        }
        4 => {
            let mut s = healthy(&name);
            s.state = TokenState::NeverExpires;
            if let Some(access) = s.access.as_mut() {
                access.info.expires_at = Some(0);
            }
            s.next_refresh_at = None;
            s
        }
        6 => {
            let mut s = with_access_left(healthy(&name), -(600 + spread));
            s.state = TokenState::Expired;
            s.next_refresh_at = Some(now - 60);
            s
        }
        7 => AccountSnapshot::new(&name),
        9 => {
            let mut s = with_access_left(healthy(&name), 6 * 3600 + spread * 60);
            s.state = TokenState::Expiring;
            s.next_refresh_at = Some(now + 120);
            s
        }
        _ => with_access_left(healthy(&name), 30 * DAY + spread * 3600),
    }
}

/// The phone of account `i`: mostly GREEN, some YELLOW or RED, some not checked yet.
pub fn fleet_phone(i: usize) -> Option<PhoneSnapshot> {
    let mut p = phone(&fleet_name(i));
    let health = p.health.as_mut().unwrap();
    match i % 7 {
        5 => return None,
        0 => health.quality_rating = Some("YELLOW".to_string()),
        3 => {
            health.quality_rating = Some("RED".to_string());
            health.status = Some("FLAGGED".to_string());
        }
        _ => {}
    }
    Some(p)
}

/// History of account `i`: its last scheduled refresh (every fourth failed), and for every
/// third account three test sends in the last hour (every sixth with one failed).
pub fn fleet_history(i: usize) -> Vec<HistoryEntry> {
    let name = fleet_name(i);
    let spread = i64::try_from(i).unwrap();
    let at = |secs_ago: i64| fixed_now() - chrono::Duration::seconds(secs_ago);
    let outcome = if i % 4 == 1 {
        Outcome::Failed
    } else {
        Outcome::Ok
    };
    let mut refresh = HistoryEntry::new(&name, Trigger::Scheduled, outcome);
    refresh.time = at(400 + spread * 420);
    let mut rows = vec![refresh];
    if i.is_multiple_of(3) {
        for (n, secs_ago) in [3000, 1800, 600].into_iter().enumerate() {
            let failed = i.is_multiple_of(6) && n == 1;
            let outcome = if failed { Outcome::Failed } else { Outcome::Ok };
            let mut send = HistoryEntry::new(&name, SendChannel::Test, outcome);
            send.time = at(secs_ago);
            rows.push(send);
        }
    }
    rows
}

/// A dashboard of `count` agency accounts ([`fleet_snapshot`], phones, history) at the
/// fixed clock, with telemetry and log lines.
pub fn fleet_app(count: usize) -> App {
    let mut app = App::new(
        &fleet_settings(count),
        PathBuf::from("/home/op/.local/share/tokentop/logs/tokentop.log.2026-03-14"),
        fixed_now(),
    );
    for i in 0..count {
        engine(
            &mut app,
            EngineEvent::Account(std::sync::Arc::new(fleet_snapshot(i))),
        );
        if let Some(phone) = fleet_phone(i) {
            engine(&mut app, EngineEvent::Phone(Box::new(phone)));
        }
        for entry in fleet_history(i) {
            engine(&mut app, EngineEvent::History(Box::new(entry)));
        }
    }
    engine(&mut app, EngineEvent::Telemetry(Box::new(telemetry())));
    engine(
        &mut app,
        EngineEvent::LogLines {
            lines: log_lines(),
            skipped: 0,
        },
    );
    app
}
