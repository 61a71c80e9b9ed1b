//! Issue 24, an upgraded Graph API version seen by the real binary: the simulator declares the
//! configured version (v25.0, the default) dead, so Meta-like it serves those calls as v26.0
//! without an error; a running daemon's `/status` and `check --json` both say so, at least
//! WARNING, naming both versions and what to set; the daemon warns once.

use std::time::Duration;

use serde_json::Value;
use tokentop::sim::{DEFAULT_APP_ID, DEFAULT_APP_SECRET, RunningSim, TokenKind};

use crate::support::cli::{all_text, free_port, run_in_dir, spawn_in, start_sim, write_private};
use crate::support::wait_until;

const PHONE_ID: &str = "106540352242922";

/// A one-account config on the default Graph API version, with `extra` before the account.
fn config(sim: &RunningSim, extra: &str) -> String {
    let token = sim
        .handle()
        .mint_token(TokenKind::SystemUser, None)
        .access_token;
    format!(
        "{extra}\n[[account]]\nname = \"main\"\napp-id = \"{DEFAULT_APP_ID}\"\n\
         app-secret = \"{DEFAULT_APP_SECRET}\"\naccess-token = \"{token}\"\n"
    )
}

/// The upgrade as the report shows it: served as v26.0, at least WARNING, both versions and
/// the version to set in the hint.
fn assert_upgrade_reported(report: &Value) {
    let graph = &report["graph_version"];
    assert_eq!(graph["version"], "v25.0", "{report:#}");
    assert_eq!(graph["served_as"], "v26.0", "{report:#}");
    assert_eq!(graph["status"], "WARNING", "{report:#}");
    assert_eq!(report["status"], "WARNING", "{report:#}");
    let hint = graph["action_hint"].as_str().unwrap();
    for part in [
        "Graph API v25.0 calls as v26.0",
        "[graph] version = \"v27.0\"",
    ] {
        assert!(hint.contains(part), "{part} missing: {hint}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_on_a_dead_version_shows_the_upgrade_in_status_and_warns_once() {
    let sim = start_sim().await;
    sim.handle().set_dead_versions(&["v25.0"]).unwrap();
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let serve = format!("[serve]\nlisten = \"127.0.0.1:{port}\"\n");
    let text = format!("{}phone-number-id = \"{PHONE_ID}\"\n", config(&sim, &serve));
    let mut daemon = spawn_in(dir.path(), &text, &sim.base_url(), &["daemon"], &[]);
    let stderr = || std::fs::read_to_string(dir.path().join("daemon.err")).unwrap_or_default();
    let status_url = format!("http://127.0.0.1:{port}/status");
    // Two upgraded calls answered: the token's inspection and the phone's health.
    let report = wait_until(
        "/status with the upgrade and the phone's health",
        Duration::from_secs(30),
        async || {
            assert!(
                daemon.try_wait().unwrap().is_none(),
                "the daemon exited:\n{}",
                stderr()
            );
            let report: Value = reqwest::get(&status_url).await.ok()?.json().await.ok()?;
            let upgraded = report["graph_version"]["served_as"].is_string();
            (upgraded && report["accounts"][0]["phone"].is_object()).then_some(report)
        },
    )
    .await;
    assert_upgrade_reported(&report);
    assert_eq!(report["accounts"][0]["status"], "OK", "{report:#}");
    let stats = sim.handle().stats().by_endpoint;
    assert!(
        stats["debug_token"] >= 1 && stats["phone_number"] >= 1,
        "{stats:?}"
    );

    let warnings = || {
        stderr()
            .lines()
            .filter(|line| line.contains("calls as v26.0"))
            .count()
    };
    wait_until(
        "the warning in the log",
        Duration::from_secs(10),
        async || (warnings() > 0).then_some(()),
    )
    .await;
    assert_eq!(warnings(), 1, "{}", stderr());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_json_reports_the_upgraded_call_as_a_warning() {
    let sim = start_sim().await;
    sim.handle().set_dead_versions(&["v25.0"]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    write_private(&dir.path().join("config.toml"), &config(&sim, ""));
    let run = async |json: bool| {
        let args: &[&str] = if json {
            &["check", "--json"]
        } else {
            &["check"]
        };
        run_in_dir(dir.path(), &sim.base_url(), args, &[], None).await
    };
    let output = run(true).await;
    assert_eq!(output.status.code(), Some(1), "{}", all_text(&output));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_upgrade_reported(&report);
    assert_eq!(report["accounts"][0]["status"], "OK", "{report:#}");

    let lines = run(false).await;
    let text = String::from_utf8_lossy(&lines.stdout);
    assert!(
        text.contains("graph: WARNING - Meta answered Graph API v25.0 calls as v26.0"),
        "{}",
        all_text(&lines)
    );

    // Revived, the same check is OK again and says nothing of an upgrade.
    sim.handle().revive_versions();
    let output = run(true).await;
    assert_eq!(output.status.code(), Some(0), "{}", all_text(&output));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(
        report["graph_version"].get("served_as").is_none(),
        "{report:#}"
    );
    assert_eq!(report["graph_version"]["status"], "OK");
}
