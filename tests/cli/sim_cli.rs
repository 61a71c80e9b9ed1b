#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `tokentop sim` as a real process: prints its address, serves, and exits 0 on a signal.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const STARTUP_DEADLINE: Duration = Duration::from_secs(20);
const EXIT_DEADLINE: Duration = Duration::from_secs(10);

fn spawn_sim(args: &[&str], secret_env: Option<&str>) -> Child {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tokentop"));
    command
        .arg("sim")
        .args(args)
        .env_remove("TOKENTOP_SIM_APP_SECRET")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(secret) = secret_env {
        command.env("TOKENTOP_SIM_APP_SECRET", secret);
    }
    command.spawn().unwrap()
}

/// Reads the first stdout line on a thread, so a silent child cannot hang the test.
fn first_line(child: &mut Child) -> String {
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    match rx.recv_timeout(STARTUP_DEADLINE) {
        Ok(line) => line,
        Err(_) => {
            let _ = child.kill();
            panic!("tokentop sim printed nothing within {STARTUP_DEADLINE:?}");
        }
    }
}

fn base_url(line: &str) -> String {
    let start = line
        .find("http://")
        .unwrap_or_else(|| panic!("no URL in {line:?}"));
    line[start..].split_whitespace().next().unwrap().to_string()
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

fn wait_with_deadline(child: &mut Child) -> ExitStatus {
    let deadline = Instant::now() + EXIT_DEADLINE;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("tokentop sim did not exit within {EXIT_DEADLINE:?} of the signal");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

async fn debug_token_is_valid(base: &str, app_secret: &str) -> bool {
    tokentop::graph::install_tls_provider();
    let client = reqwest::Client::new();
    let minted: Value = client
        .post(format!("{base}/_sim/tokens"))
        .json(&json!({"type": "SYSTEM_USER", "lifetime_secs": 0}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = minted["access_token"].as_str().unwrap();
    let body: Value = client
        .get(format!("{base}/v25.0/debug_token"))
        .query(&[
            ("input_token", token),
            ("access_token", &format!("100000000000001|{app_secret}")),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["data"]["is_valid"] == true
}

#[tokio::test]
async fn sim_serves_then_exits_zero_on_sigterm() {
    let mut child = spawn_sim(&["--listen", "127.0.0.1:0"], None);
    let line = first_line(&mut child);
    assert!(
        line.starts_with("tokentop sim listening on http://127.0.0.1:"),
        "{line}"
    );
    assert!(line.contains("app id 100000000000001"), "{line}");
    assert!(line.contains("app secret from the default"), "{line}");
    assert!(
        !line.contains("sim-app-secret"),
        "the secret is never echoed: {line}"
    );
    let base = base_url(&line);
    assert!(debug_token_is_valid(&base, "sim-app-secret").await);
    signal(&child, "TERM");
    let status = wait_with_deadline(&mut child);
    assert_eq!(status.code(), Some(0), "{status}");
}

#[tokio::test]
async fn sim_takes_the_secret_from_the_environment_and_exits_zero_on_sigint() {
    let secret = "env-secret-4f2a9c";
    let mut child = spawn_sim(
        &["--listen", "127.0.0.1:0", "--long-lived-lifetime", "90s"],
        Some(secret),
    );
    let line = first_line(&mut child);
    assert!(
        line.contains("app secret from TOKENTOP_SIM_APP_SECRET"),
        "{line}"
    );
    assert!(!line.contains(secret), "{line}");
    let base = base_url(&line);
    assert!(debug_token_is_valid(&base, secret).await);
    assert!(!debug_token_is_valid(&base, "sim-app-secret").await);
    signal(&child, "INT");
    let status = wait_with_deadline(&mut child);
    assert_eq!(status.code(), Some(0), "{status}");
}

#[test]
fn bad_lifetime_is_a_clear_error_and_non_zero_exit() {
    let output = Command::new(env!("CARGO_BIN_EXE_tokentop"))
        .args([
            "sim",
            "--listen",
            "127.0.0.1:0",
            "--long-lived-lifetime",
            "60 days",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--long-lived-lifetime"), "{stderr}");
    assert!(stderr.contains("60 days"), "{stderr}");
    assert!(
        stderr.contains("\"7d\""),
        "the allowed form is shown: {stderr}"
    );
    assert!(output.stdout.is_empty(), "nothing is served");
}
