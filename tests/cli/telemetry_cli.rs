//! `check` with phone health and `tail`, through the real binary.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokentop::sim::{
    DEFAULT_APP_ID, DEFAULT_APP_SECRET, RunningSim, SimConfig, SimPhone, TokenKind,
};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const PHONE_ID: &str = "106540352242922";

fn command(dir: &Path, graph_url: &str, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tokentop"));
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .arg("--config")
        .arg(dir.join("config.toml"))
        .arg("--data-dir")
        .arg(dir.join("data"))
        .arg("--graph-url")
        .arg(graph_url)
        .args(args)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    command
}

fn write_config(dir: &Path, text: &str) {
    let path = dir.join("config.toml");
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

async fn check_with_phone(phone: SimPhone) -> (i32, serde_json::Value) {
    let sim = RunningSim::start(SimConfig::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let token = sim
        .handle()
        .mint_token(TokenKind::SystemUser, None)
        .access_token;
    sim.handle().set_phone(PHONE_ID, phone);
    let dir = tempfile::tempdir().unwrap();
    write_config(
        dir.path(),
        &format!(
            "[[account]]\nname = \"main\"\napp-id = \"{DEFAULT_APP_ID}\"\napp-secret = \"{DEFAULT_APP_SECRET}\"\n\
             access-token = \"{token}\"\nphone-number-id = \"{PHONE_ID}\"\nbusiness-account-id = \"102290129340398\"\n"
        ),
    );
    let output = command(dir.path(), &sim.base_url(), &["check", "--json"])
        .output()
        .await
        .unwrap();
    let json = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stderr)));
    (output.status.code().unwrap(), json)
}

#[tokio::test]
async fn check_includes_phone_health_headroom_and_delivery_and_grades_them() {
    let (code, json) = check_with_phone(SimPhone::default()).await;
    assert_eq!(code, 0, "{json:#}");
    let account = &json["accounts"][0];
    assert_eq!(account["phone"]["quality_rating"], "GREEN");
    assert_eq!(account["phone"]["can_send_message"], "AVAILABLE");
    assert!(account["headroom"]["max_percent"].is_u64(), "{account:#}");
    // Analytics were polled (the WABA id is set) and count in the hour.
    assert!(
        account["delivery_1h"]["analytics"]["percent"].is_f64(),
        "{account:#}"
    );
    assert!(
        account["delivery_1h"]["notes"][0]
            .as_str()
            .unwrap()
            .contains("logs")
    );

    let blocked = SimPhone {
        can_send_message: "BLOCKED".into(),
        ..SimPhone::default()
    };
    let (code, json) = check_with_phone(blocked).await;
    assert_eq!(code, 2, "{json:#}");
    assert!(
        json["accounts"][0]["reasons"]
            .to_string()
            .contains("phone health BLOCKED")
    );

    let yellow = SimPhone {
        quality_rating: "YELLOW".into(),
        ..SimPhone::default()
    };
    let (code, json) = check_with_phone(yellow).await;
    assert_eq!(code, 1, "{json:#}");
    assert_eq!(json["status"], "WARNING");
}

#[tokio::test]
async fn tail_prints_classified_lines_at_or_above_the_level() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    std::fs::write(&log, "INFO WhatsApp access token refreshed successfully\n").unwrap();
    write_config(
        dir.path(),
        &format!(
            "[[log]]\nname = \"backend\"\nfile = \"{}\"\n",
            log.display()
        ),
    );
    let mut child = command(
        dir.path(),
        "http://127.0.0.1:9",
        &["tail", "--level", "warn"],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // Appended after start: one line per level.
    let appender = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut text = std::fs::read_to_string(&log).unwrap();
        text.push_str("INFO WhatsApp message sent to=1555\n");
        text.push_str("WARN WhatsApp token expired, attempting refresh\n");
        text.push_str("ERROR Refresh token or App ID not configured\n");
        std::fs::write(&log, text).unwrap();
    });
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let line = tokio::time::timeout(Duration::from_secs(15), lines.next_line())
            .await
            .expect("tail printed nothing within 15 s")
            .unwrap()
            .expect("tail ended early");
        seen.push(line);
    }
    appender.await.unwrap();
    assert!(
        seen[0].contains(" warn ") && seen[0].contains("token-expired"),
        "{seen:?}"
    );
    assert!(
        seen[1].contains(" error ") && seen[1].contains("not-configured"),
        "{seen:?}"
    );
    child.kill().await.unwrap();
}

#[tokio::test]
async fn tail_names_the_sources_when_one_is_unknown() {
    let dir = tempfile::tempdir().unwrap();
    write_config(
        dir.path(),
        "[[log]]\nname = \"backend\"\nfile = \"/nonexistent/app.log\"\n",
    );
    let output = command(
        dir.path(),
        "http://127.0.0.1:9",
        &["tail", "--source", "frontend"],
    )
    .output()
    .await
    .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("\"frontend\"") && stderr.contains("backend"),
        "{stderr}"
    );
}

/// A webhook-json line is shown as the statuses it holds (status, wamid, recipient, error code
/// and title), failed at error and the rest at ok, never as its raw JSON.
#[tokio::test]
async fn tail_prints_each_webhook_status_with_its_level() {
    let fixture: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/webhook_message_statuses.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("hooks.jsonl");
    let lines: Vec<String> = ["read", "failed"]
        .iter()
        .map(|case| serde_json::to_string(&fixture[case]).unwrap())
        .collect();
    std::fs::write(&log, lines.join("\n") + "\n").unwrap();
    write_config(
        dir.path(),
        &format!(
            "[[log]]\nname = \"hooks\"\nfile = \"{}\"\nformat = \"webhook-json\"\n",
            log.display()
        ),
    );
    let mut child = command(dir.path(), "http://127.0.0.1:9", &["tail"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let line = tokio::time::timeout(Duration::from_secs(15), out.next_line())
            .await
            .expect("tail printed nothing within 15 s")
            .unwrap()
            .expect("tail ended early");
        seen.push(line);
    }
    child.kill().await.unwrap();
    assert!(
        seen[0].contains(" ok    read ") && seen[0].contains("wamid.xyzxyz to 972987654321"),
        "{seen:?}"
    );
    assert!(
        seen[1].contains(" error failed ")
            && seen[1].contains(
                "wamid.xyzxyz to 972987654321: 130472 User's number is part of an experiment"
            ),
        "{seen:?}"
    );
    assert!(seen.iter().all(|l| !l.contains('{')), "{seen:?}");
}
