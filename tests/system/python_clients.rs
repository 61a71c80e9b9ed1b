#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Real client libraries against the real `tokentop sim` binary: pywa and Meta's
//! `facebook-business` SDK (pinned in tests/python/requirements.txt) send a template and a text,
//! mark a message read, read the phone-number fields, and get their own expired-token error,
//! with nothing changed but the Graph host, with and without `--require-proof`.
//!
//! The Python venv is provisioned by `scripts/test` at `target/pyvenv` (or `$TOKENTOP_TEST_VENV`).
//! A missing venv or package fails these tests: they never skip.
//!
//! pywa also sends through tokentop's Graph API proxy (the real daemon), holding no token.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const PHONE: &str = "106540352242922";
const APP_ID: &str = "100000000000001";
/// Given to the simulator through its environment, never argv.
const APP_SECRET: &str = "python-clients-test-secret";
const STARTUP: Duration = Duration::from_secs(20);
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(120);
/// 2022-10-06 00:00:00 PDT: an expiry long past.
const EXPIRED_AT: i64 = 1_665_039_600;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The venv's python; panics (never skips) with the way to provision it.
fn venv_python() -> PathBuf {
    let venv = std::env::var_os("TOKENTOP_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target/pyvenv"));
    let python = venv.join("bin/python");
    assert!(
        python.is_file(),
        "no Python venv at {}: run `scripts/test` (it provisions the venv with \
         tests/python/requirements.txt), or point TOKENTOP_TEST_VENV at one",
        venv.display()
    );
    python
}

async fn check_packages(python: &Path) {
    let output = Command::new(python)
        .args(["-c", "import pywa, facebook_business"])
        .output()
        .await
        .unwrap_or_else(|err| panic!("cannot run {}: {err}", python.display()));
    assert!(
        output.status.success(),
        "the venv lacks pywa or facebook-business: run `scripts/test` to provision it\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A `tokentop sim` child process, killed when dropped.
struct SimProcess {
    child: Child,
    base_url: String,
}

impl SimProcess {
    async fn start(require_proof: bool) -> SimProcess {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tokentop"));
        command.args(["sim", "--listen", "127.0.0.1:0", "--app-id", APP_ID]);
        if require_proof {
            command.arg("--require-proof");
        }
        let mut child = command
            .env("TOKENTOP_SIM_APP_SECRET", APP_SECRET)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(STARTUP, lines.next_line())
            .await
            .expect("tokentop sim printed no address in time")
            .unwrap()
            .expect("tokentop sim exited before printing its address");
        // "tokentop sim listening on http://127.0.0.1:PORT (app id ..., app secret from ...)"
        let base_url = line
            .split_whitespace()
            .find(|word| word.starts_with("http://"))
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_string();
        SimProcess { child, base_url }
    }

    async fn mint(&self, body: Value) -> String {
        let response = reqwest::Client::new()
            .post(format!("{}/_sim/tokens", self.base_url))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{body}");
        let minted: Value = response.json().await.unwrap();
        minted["access_token"].as_str().unwrap().to_string()
    }

    async fn stats(&self) -> Value {
        reqwest::get(format!("{}/_sim/stats", self.base_url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

/// Runs `script` against a fresh simulator and returns its JSON report.
async fn run(script: &str, require_proof: bool) -> Value {
    tokentop::graph::install_tls_provider();
    let python = venv_python();
    check_packages(&python).await;
    let mut sim = SimProcess::start(require_proof).await;
    let token = sim
        .mint(json!({"type": "SYSTEM_USER", "lifetime_secs": 0}))
        .await;
    let expired = sim
        .mint(json!({"type": "LONG_LIVED_USER", "expires_at": EXPIRED_AT}))
        .await;
    // Credentials go through the environment, never argv.
    let output = Command::new(&python)
        .current_dir(repo().join("tests/python"))
        .arg(script)
        .args([
            "--base-url",
            &sim.base_url,
            "--phone-id",
            PHONE,
            "--app-id",
            APP_ID,
        ])
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("SIM_APP_SECRET", APP_SECRET)
        .env("SIM_TOKEN", &token)
        .env("SIM_EXPIRED_TOKEN", &expired)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(SCRIPT_TIMEOUT, output)
        .await
        .unwrap_or_else(|_| panic!("{script} ran longer than {SCRIPT_TIMEOUT:?}"))
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{script} (require_proof {require_proof}) failed:\n{}{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stats = sim.stats().await;
    // 2 sends, 2 mark-as-read calls and the expired send, all through /messages.
    assert!(
        stats["by_endpoint"]["messages"].as_u64().unwrap_or(0) >= 5,
        "the client's calls did not reach the simulator: {stats}"
    );
    let _ = sim.child.start_kill();
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|err| panic!("{script} printed no JSON report ({err}): {stdout}"))
}

fn assert_report(report: &Value, error_class: &str) {
    for id in ["template_id", "text_id"] {
        assert!(
            report[id].as_str().unwrap().starts_with("wamid."),
            "{report}"
        );
    }
    assert_eq!(report["marked_read"], true);
    assert!(report["phone"].is_object(), "{report}");
    assert_eq!(report["expired_error"]["class"], error_class, "{report}");
    assert_eq!(report["expired_error"]["code"], 190, "{report}");
}

#[tokio::test]
async fn pywa_against_tokentop_sim() {
    assert_report(&run("pywa_client.py", false).await, "ExpiredAccessToken");
}

#[tokio::test]
async fn pywa_against_tokentop_sim_requiring_proof() {
    assert_report(&run("pywa_client.py", true).await, "ExpiredAccessToken");
}

#[tokio::test]
async fn facebook_business_against_tokentop_sim() {
    let report = run("facebook_business_client.py", false).await;
    assert_report(&report, "FacebookRequestError");
    let message = report["expired_error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("Error validating access token: Session has expired on Thursday, 06-Oct-22 00:00:00 PDT."),
        "{message}"
    );
}

#[tokio::test]
async fn facebook_business_against_tokentop_sim_requiring_proof() {
    assert_report(
        &run("facebook_business_client.py", true).await,
        "FacebookRequestError",
    );
}

/// Issue 12: pywa with a dummy token and an httpx client that connects to the proxy sends a
/// text and uploads media; the simulator (requiring the proof) got them with the account's
/// token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pywa_through_the_proxy_holding_no_token() {
    use support::proxy::{ProxyDaemon, config};
    use tokentop::sim::{DEFAULT_APP_SECRET, RunningSim, SimConfig, TokenKind};

    tokentop::graph::install_tls_provider();
    let python = venv_python();
    check_packages(&python).await;
    let sim = RunningSim::start(
        SimConfig {
            require_proof: true,
            ..SimConfig::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let token = sim
        .handle()
        .mint_token(TokenKind::SystemUser, None)
        .access_token;
    let daemon = ProxyDaemon::start(
        &sim,
        &config(
            "listen = \"127.0.0.1:0\"",
            "",
            DEFAULT_APP_SECRET,
            &format!("access-token = \"{token}\""),
        ),
        &[],
    )
    .await;
    let text = "pywa through the proxy";
    // No credential of any kind in the script's argv or environment.
    let output = Command::new(&python)
        .current_dir(repo().join("tests/python"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .args([
            "pywa_proxy.py",
            "--proxy-url",
            daemon.url(),
            "--phone-id",
            support::proxy::PHONE_ID,
            "--text",
            text,
        ])
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(SCRIPT_TIMEOUT, output)
        .await
        .unwrap_or_else(|_| panic!("pywa_proxy.py ran longer than {SCRIPT_TIMEOUT:?}"))
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "pywa_proxy.py failed:\n{}{stdout}\n--- daemon\n{}",
        String::from_utf8_lossy(&output.stderr),
        daemon.stderr()
    );
    let report: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|err| panic!("pywa_proxy.py printed no JSON report ({err}): {stdout}"));
    let sent = sim.handle().sent_messages();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(report["text_id"], sent[0].wamid.as_str(), "{report}");
    assert_eq!(sent[0].text.as_deref(), Some(text));
    assert_eq!(sent[0].access_token, token);
    let media = sim.handle().uploaded_media();
    assert_eq!(media.len(), 1, "{media:?}");
    assert_eq!(report["media_id"], media[0].id.as_str(), "{report}");
    assert_eq!(media[0].file_len, 256 * 8);
    assert_eq!(media[0].access_token, token);
    daemon.stop().await;
}

/// The application behind the webhook relay checks Meta's signature with pywa's own validator:
/// what the relay forwards is byte for byte what Meta signed, header included. A forged POST
/// stops at the relay and never reaches the application.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pywa_verifies_the_signature_of_webhooks_the_relay_forwards() {
    use secrecy::SecretString;
    use tokentop::webhook::signature::sign;
    const STATUSES: &str = include_str!("../fixtures/webhook_statuses_batch_mixed.json");
    let python = venv_python();
    check_packages(&python).await;
    let mut app = Command::new(&python)
        .arg(repo().join("tests/python/pywa_webhook_app.py"))
        .env("TOKENTOP_TEST_APP_SECRET", APP_SECRET)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(app.stdout.take().unwrap()).lines();
    let port = tokio::time::timeout(STARTUP, lines.next_line())
        .await
        .expect("the pywa application did not start")
        .unwrap()
        .and_then(|line| line.strip_prefix("PORT ").map(str::to_string))
        .expect("the pywa application printed no port");

    let dir = tempfile::tempdir().unwrap();
    let mut settings = support::settings(dir.path(), Vec::new());
    settings.accounts = vec![
        crate::account::account("shop")
            .app(APP_ID, APP_SECRET)
            .build()
            .into(),
    ];
    settings.webhook.listen = Some(tokentop::config::Listen::Tcp(
        "127.0.0.1:0".parse().unwrap(),
    ));
    settings.webhook.verify_token = Some(SecretString::from("verify".to_string()));
    settings.webhook.forward = vec![tokentop::config::ForwardSettings {
        name: "pywa".to_string(),
        url: format!("http://127.0.0.1:{port}/"),
        accounts: Vec::new(),
    }];
    let relay = tokentop::webhook::start(&settings).await.unwrap().unwrap();
    let url = format!("{}/webhook", relay.address);
    let post = |body: &'static str, signature: String| {
        let url = url.clone();
        async move {
            reqwest::Client::new()
                .post(url)
                .header("x-hub-signature-256", signature)
                .body(body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let secret = SecretString::from(APP_SECRET.to_string());
    assert_eq!(
        post(
            STATUSES,
            sign(
                &SecretString::from("forged".to_string()),
                STATUSES.as_bytes()
            )
        )
        .await,
        401
    );
    assert_eq!(
        post(STATUSES, sign(&secret, STATUSES.as_bytes())).await,
        200
    );

    let wanted = STATUSES.matches("\"status\":").count();
    let mut seen = Vec::new();
    while seen.len() < wanted {
        let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("the relayed statuses did not reach the application")
            .unwrap()
            .expect("the application exited");
        let event: Value = serde_json::from_str(&line).unwrap();
        assert!(
            event.get("rejected").is_none(),
            "pywa refused a relayed body: {line}"
        );
        seen.push(event);
    }
    assert!(
        seen.iter()
            .all(|e| e["id"].as_str().is_some_and(|id| id.starts_with("wamid.")))
    );
    relay.stop();
}
