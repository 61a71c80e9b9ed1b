//! The refresh success rate in `tokentop check` / `check --json`, a daemon's `/status`, and the
//! review digest of `tokentop history --summary`: the real binary against the simulator, on a
//! data dir whose `history.jsonl` is written with the real `HistoryEntry` type, so the fixture
//! cannot drift from what the engine writes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::dashboard_support;
use crate::support;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use chrono::Utc;
use secrecy::SecretString;
use serde_json::Value;
use support::cli::{all_text, start_sim, tokentop, write_private};
use tokentop::engine::EngineEvent;
use tokentop::engine::history::cause::Cause;
use tokentop::engine::history::{HistoryEntry, HistoryError, HistoryEvent, HistoryLog, Outcome};
use tokentop::graph::ErrorClass;
use tokentop::mask::mask;
use tokentop::serve::status::LiveStatus;
use tokentop::sim::{DEFAULT_APP_ID, DEFAULT_APP_SECRET, TokenKind};

const DAY: i64 = 86_400;
const HOUR: i64 = 3600;

fn row(
    account: &str,
    event: HistoryEvent,
    trigger: &str,
    outcome: Outcome,
    secs_ago: i64,
) -> HistoryEntry {
    let mut entry = HistoryEntry::new(account, Cause::parse(event, trigger), outcome);
    entry.time = Utc::now() - chrono::Duration::seconds(secs_ago);
    entry
}

fn failed(
    event: HistoryEvent,
    trigger: &str,
    (code, subcode): (i64, Option<i64>),
    class: ErrorClass,
    message: &str,
    secs_ago: i64,
) -> HistoryEntry {
    let mut entry = row("main", event, trigger, Outcome::Failed, secs_ago);
    entry.error = Some(Box::new(HistoryError {
        code: Some(code),
        subcode,
        class: class.label().to_string(),
        message: message.to_string(),
        fbtrace_id: Some("AbCdEfGh".to_string()),
    }));
    entry
}

/// The scripted month of account `main` (and one row of an account no longer configured).
/// Refresh attempts: 24 h 1/1, 7 d 2/3 (1 transient), 30 d 2/4 (1 token dead, 1 transient).
fn script(data_dir: &Path, masked: &str) {
    use HistoryEvent::*;
    let mut rows = vec![
        row("main", Refresh, "scheduled", Outcome::Ok, 40 * DAY),
        row("main", Refresh, "exchange", Outcome::Ok, 20 * DAY),
        row("main", Alert, "re-auth", Outcome::Failed, 10 * DAY),
        failed(
            Refresh,
            "scheduled",
            (190, Some(463)),
            ErrorClass::TokenDead,
            "Error validating access token: Session has expired",
            10 * DAY,
        ),
        failed(
            Inspect,
            "check",
            (1, None),
            ErrorClass::Transient,
            "An unknown error occurred",
            5 * DAY,
        ),
        failed(
            Refresh,
            "retry",
            (1, None),
            ErrorClass::Transient,
            "An unknown error has occurred.",
            3 * DAY,
        ),
        row("main", Refresh, "scheduled", Outcome::Ok, 2 * DAY),
        row("main", Send, "test", Outcome::Ok, 2 * DAY),
        failed(
            Send,
            "test",
            (131047, None),
            ErrorClass::MessageLevel,
            "Re-engagement message",
            2 * DAY,
        ),
        row("main", Send, "proxy", Outcome::Failed, DAY),
        row("main", Refresh, "send-guard", Outcome::Skipped, HOUR),
        row("main", Refresh, "scheduled", Outcome::Ok, HOUR),
        row("gone", Refresh, "scheduled", Outcome::Ok, HOUR),
    ];
    for entry in &mut rows {
        entry.token = Some(masked.to_string());
    }
    let log = HistoryLog::new(data_dir);
    for entry in &rows {
        log.append(entry).unwrap();
    }
}

struct Install {
    dir: tempfile::TempDir,
    graph_url: String,
}

impl Install {
    async fn run(&self, args: &[&str]) -> Output {
        let dir = self.dir.path();
        let mut all = vec![
            "--config".to_string(),
            dir.join("config.toml").display().to_string(),
            "--data-dir".to_string(),
            dir.join("data").display().to_string(),
            "--graph-url".to_string(),
            self.graph_url.clone(),
        ];
        all.extend(args.iter().map(|a| a.to_string()));
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        tokentop(dir, &all, &[]).await
    }

    async fn json(&self, args: &[&str]) -> Value {
        let output = self.run(args).await;
        serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|err| panic!("{err}: {}", all_text(&output)))
    }
}

/// A long-lived user token with 40½ days left (data access: 90 days from its issue), and the
/// scripted history.
async fn install() -> (tokentop::sim::RunningSim, Install, String) {
    let sim = start_sim().await;
    let token = sim
        .handle()
        .mint_token(
            TokenKind::LongLivedUser,
            Some(Duration::from_secs((40 * DAY + 12 * HOUR) as u64)),
        )
        .access_token;
    let dir = tempfile::tempdir().unwrap();
    write_private(
        &dir.path().join("config.toml"),
        &format!(
            "[[account]]\nname = \"main\"\napp-id = \"{DEFAULT_APP_ID}\"\n\
             app-secret = \"{DEFAULT_APP_SECRET}\"\naccess-token = \"{token}\"\n"
        ),
    );
    script(
        &dir.path().join("data"),
        &mask(&SecretString::from(token.clone())),
    );
    let install = Install {
        dir,
        graph_url: sim.base_url(),
    };
    (sim, install, token)
}

fn counts(window: &Value) -> (i64, i64, i64) {
    (
        window["succeeded"].as_i64().unwrap(),
        window["attempted"].as_i64().unwrap(),
        window["skipped"].as_i64().unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_reports_the_refresh_success_rate_per_window() {
    let (_sim, install, token) = install().await;
    let output = install.run(&["check"]).await;
    let text = all_text(&output);
    assert!(
        text.contains(
            "refresh ok 24h 1/1 · 7d 2/3 (1 transient) · 30d 2/4 (1 token dead, 1 transient)"
        ),
        "{text}"
    );
    let report = install.json(&["check", "--json"]).await;
    let rate = &report["accounts"][0]["refresh_rate"];
    let windows: Vec<&str> = (0..3)
        .map(|i| rate[i]["window"].as_str().unwrap())
        .collect();
    assert_eq!(windows, ["24h", "7d", "30d"], "{rate:#}");
    assert_eq!(counts(&rate[0]), (1, 1, 1));
    assert_eq!(counts(&rate[1]), (2, 3, 1));
    assert_eq!(counts(&rate[2]), (2, 4, 1));
    assert_eq!(rate[0]["success_percent"], 100.0);
    assert_eq!(rate[2]["success_percent"], 50.0);
    assert_eq!(rate[1]["failures"], serde_json::json!({"transient": 1}));
    assert_eq!(
        rate[2]["failures"],
        serde_json::json!({"token dead": 1, "transient": 1})
    );
    assert_eq!(rate[2]["window_secs"], 30 * DAY);
    // The existing fields are still there: the JSON only grew.
    assert!(
        report["accounts"][0]["delivery_1h"].is_object(),
        "{report:#}"
    );
    assert!(!text.contains(&token) && !report.to_string().contains(&token));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_summary_digests_the_last_30_days() {
    let (_sim, install, token) = install().await;
    let output = install.run(&["history", "--summary"]).await;
    assert_eq!(output.status.code(), Some(0), "{}", all_text(&output));
    let text = String::from_utf8(output.stdout.clone()).unwrap();
    for expected in [
        "history summary: last 30d (",
        "main\n",
        "  refreshes         2/4 ok (50.0%), 1 skipped; failed: 1 token dead, 1 transient\n",
        "  re-auth           1 alert, 1 exchange by `tokentop exchange`\n",
        "  test sends        1/2 accepted (50.0%)\n",
        "  proxy sends       1 failed\n",
        "  long-lived token  expires in 40 days (",
        "), the access token itself\n",
        "  top failures        2× 1       transient: An unknown error has occurred.\n",
        "                      1× 131047  message-level: Re-engagement message\n",
        "                      1× 190/463 token dead: Error validating access token: Ses…\n",
        "gone (not configured)\n",
    ] {
        assert!(text.contains(expected), "no {expected:?} in\n{text}");
    }
    // Data access runs out 90 days after the token was issued, a second or so ago.
    assert!(
        text.contains("  data access       expires in 89 days (")
            || text.contains("  data access       expires in 90 days ("),
        "{text}"
    );
    for line in text.lines() {
        assert!(
            line.chars().count() <= 80,
            "wider than 80 columns: {line:?}"
        );
    }
    assert!(!all_text(&output).contains(&token));
    assert!(!all_text(&output).contains(DEFAULT_APP_SECRET));

    let summary = install.json(&["history", "--summary", "--json"]).await;
    assert_eq!(summary["since"], "30d");
    assert_eq!(
        summary["to"].as_i64().unwrap() - summary["from"].as_i64().unwrap(),
        30 * DAY
    );
    let main = &summary["accounts"][0];
    assert_eq!(main["account"], "main");
    assert_eq!(main["configured"], true);
    assert_eq!(counts(&main["refreshes"]), (2, 4, 1));
    assert_eq!(main["reauth"]["alerts"], 1);
    assert_eq!(main["reauth"]["exchanges"], 1);
    assert_eq!(main["sends"]["test_sent"], 2);
    assert_eq!(main["sends"]["test_accepted"], 1);
    assert_eq!(main["sends"]["proxy_failed"], 1);
    assert_eq!(main["long_lived_is_access_token"], true);
    assert_eq!(main["long_lived_expiry"]["days_left"], 40);
    let data_access = main["data_access_expiry"]["days_left"].as_i64().unwrap();
    assert!((89..=90).contains(&data_access), "{main:#}");
    let codes: Vec<(i64, i64)> = main["top_failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["code"].as_i64().unwrap(), f["count"].as_i64().unwrap()))
        .collect();
    assert_eq!(codes, [(1, 2), (131047, 1), (190, 1)]);
    assert_eq!(summary["accounts"][1]["configured"], false);
    assert!(summary["accounts"][1]["long_lived_expiry"].is_null());
    assert!(!summary.to_string().contains(&token));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_summary_takes_a_span_and_one_account_and_names_the_known_ones() {
    let (_sim, install, _token) = install().await;
    let week = install
        .json(&[
            "history",
            "--summary",
            "--since",
            "7d",
            "--account",
            "main",
            "--json",
        ])
        .await;
    assert_eq!(week["since"], "7d");
    assert_eq!(week["accounts"].as_array().unwrap().len(), 1);
    assert_eq!(counts(&week["accounts"][0]["refreshes"]), (2, 3, 1));
    assert_eq!(week["accounts"][0]["reauth"]["exchanges"], 0);

    let unknown = install
        .run(&["history", "--summary", "--account", "nobody"])
        .await;
    assert_ne!(unknown.status.code(), Some(0));
    let text = all_text(&unknown);
    assert!(
        text.contains("\"nobody\"") && text.contains("main, gone"),
        "{text}"
    );

    let bad = install
        .run(&["history", "--summary", "--since", "soon"])
        .await;
    assert_eq!(bad.status.code(), Some(2), "{}", all_text(&bad));
    assert!(
        all_text(&bad).contains("e.g. \"90s\""),
        "{}",
        all_text(&bad)
    );

    let without = install.run(&["history", "--since", "7d"]).await;
    assert_ne!(without.status.code(), Some(0));
    assert!(
        all_text(&without).contains("--summary"),
        "{}",
        all_text(&without)
    );
}

/// `/status` keeps the last 30 days' refresh rows it loaded or was told of, and reports their
/// rate like `check` does; an account without rows has "no refreshes", not 0 %.
#[test]
fn the_live_status_reports_the_rate_of_the_refresh_rows_it_keeps() {
    use HistoryEvent::Refresh;
    let mut transient = failed(
        Refresh,
        "retry",
        (1, None),
        ErrorClass::Transient,
        "An unknown error occurred",
        2 * DAY,
    );
    transient.account = "production".to_string();
    let loaded = vec![
        row("production", Refresh, "scheduled", Outcome::Ok, 40 * DAY),
        transient,
    ];
    let mut status = LiveStatus::new(dashboard_support::settings(), loaded);
    status.observe(&EngineEvent::History(Box::new(row(
        "production",
        Refresh,
        "scheduled",
        Outcome::Ok,
        HOUR,
    ))));
    let report = status.report(Utc::now());
    let rate = |name: &str| {
        let account = report.accounts.iter().find(|a| a.name == name).unwrap();
        let rates = account.refresh_rate.clone().unwrap();
        rates
            .windows
            .iter()
            .map(|w| (w.succeeded, w.attempted, w.success_percent))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        rate("production"),
        [(1, 1, Some(100.0)), (1, 2, Some(50.0)), (1, 2, Some(50.0))]
    );
    assert_eq!(rate("staging"), [(0, 0, None); 3]);
}
