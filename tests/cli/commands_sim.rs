//! The real `tokentop` binary (daemon, refresh, check, send-test, history, exchange) against the
//! in-process simulator, with a clean environment, a 0600 config file and a temp data dir.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use tokentop::config::GraphSettings;
use tokentop::engine::history::{HistoryEvent, HistoryLog, Outcome};
use tokentop::engine::store::TokenStore;
use tokentop::graph::{AppCredentials, GraphClient};
use tokentop::sim::{DEFAULT_APP_ID, DEFAULT_APP_SECRET, Faults, RunningSim, SimConfig, TokenKind};
use tokio::io::AsyncWriteExt;
use tokio::process::{Child, Command};
use tokio::time::Instant;

const PHONE_ID: &str = "106540352242922";

async fn start_sim(config: SimConfig) -> RunningSim {
    RunningSim::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

/// One isolated tokentop installation: HOME, config file and data dir in a temp dir.
struct Install {
    dir: tempfile::TempDir,
    graph_url: String,
    app_secret: String,
}

impl Install {
    fn new(sim: &RunningSim, app_secret: &str) -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            graph_url: sim.base_url(),
            app_secret: app_secret.to_string(),
        }
    }

    fn home(&self) -> &Path {
        self.dir.path()
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("config.toml")
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes a one-account config (mode 0600, plain secrets) with extra `[refresh]` and
    /// `[[account]]` lines.
    fn write_config(&self, access_token: &str, refresh: &str, account_extra: &str) {
        let text = format!(
            "[refresh]\n{refresh}\n\n[[account]]\nname = \"main\"\napp-id = \"{DEFAULT_APP_ID}\"\n\
             app-secret = \"{}\"\naccess-token = \"{access_token}\"\nphone-number-id = \"{PHONE_ID}\"\n\
             {account_extra}\n\n[account.test-message]\nto = \"15551234567\"\n",
            self.app_secret
        );
        self.write_config_text(&text);
    }

    fn write_config_text(&self, text: &str) {
        let path = self.config_path();
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }

    /// The binary with only PATH, HOME and `env`, pointed at this install and the simulator.
    fn command(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tokentop"));
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.home())
            .envs(env.iter().copied())
            .arg("--config")
            .arg(self.config_path())
            .arg("--data-dir")
            .arg(self.data_dir())
            .arg("--graph-url")
            .arg(&self.graph_url)
            .args(args)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        command
    }

    async fn run(&self, args: &[&str]) -> Output {
        self.run_with(args, &[], None).await
    }

    async fn run_with(&self, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Output {
        let mut command = self.command(args, env);
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        if stdin.is_some() {
            command.stdin(Stdio::piped());
        }
        let mut child = command.spawn().unwrap();
        if let Some(text) = stdin {
            let mut pipe = child.stdin.take().unwrap();
            pipe.write_all(text.as_bytes()).await.unwrap();
            drop(pipe);
        }
        tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
            .await
            .expect("tokentop did not finish within 120 s")
            .unwrap()
    }

    /// Starts the daemon with stdout and stderr going to files in the install dir.
    fn spawn_daemon(&self, env: &[(&str, &str)]) -> Child {
        let mut command = self.command(&["daemon"], env);
        command
            .stdout(std::fs::File::create(self.path("daemon.out")).unwrap())
            .stderr(std::fs::File::create(self.path("daemon.err")).unwrap());
        command.spawn().unwrap()
    }

    fn stored_token(&self) -> Option<String> {
        TokenStore::new(&self.data_dir())
            .load("main")
            .unwrap()
            .map(|t| t.access_token.expose_secret().to_string())
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn describe(output: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        output.status.code(),
        text(&output.stdout),
        text(&output.stderr)
    )
}

/// `debug_token` through the real client, as a person would check a token.
async fn sim_accepts(sim: &RunningSim, app_secret: &str, token: &str) -> bool {
    let client = GraphClient::new(&GraphSettings {
        base_url: sim.base_url(),
        ..GraphSettings::default()
    })
    .unwrap();
    let app = AppCredentials {
        app_id: DEFAULT_APP_ID.to_string(),
        app_secret: SecretString::from(app_secret),
    };
    client
        .debug_token(&app, &SecretString::from(token))
        .await
        .unwrap()
        .is_valid
}

fn exchanges(sim: &RunningSim) -> u64 {
    sim.handle()
        .stats()
        .by_endpoint
        .get("exchange")
        .copied()
        .unwrap_or(0)
}

/// Sends SIGTERM through `kill` and waits (bounded) for the exit status.
async fn terminate(child: &mut Child) -> Option<i32> {
    let pid = child.id().unwrap();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("daemon did not exit within 30 s of SIGTERM")
        .unwrap();
    status.code()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_keeps_a_20_second_token_alive_and_exits_0_on_sigterm() {
    let sim = start_sim(SimConfig {
        system_user_lifetime: Duration::from_secs(20),
        ..SimConfig::default()
    })
    .await;
    let first = sim
        .handle()
        .mint_token(TokenKind::SystemUser, Some(Duration::from_secs(20)))
        .access_token;
    let install = Install::new(&sim, DEFAULT_APP_SECRET);
    install.write_config(&first, "", "");
    let mut daemon = install.spawn_daemon(&[]);

    let started = Instant::now();
    let mut polls = 0;
    let mut seen_tokens = vec![first.clone()];
    while started.elapsed() < Duration::from_secs(45) {
        let current = install.stored_token().unwrap_or_else(|| first.clone());
        assert!(
            sim_accepts(&sim, DEFAULT_APP_SECRET, &current).await,
            "the token in use lapsed after {:?} (token #{} of {})",
            started.elapsed(),
            seen_tokens.iter().position(|t| *t == current).unwrap_or(99),
            seen_tokens.len()
        );
        if !seen_tokens.contains(&current) {
            seen_tokens.push(current);
        }
        polls += 1;
        assert!(daemon.try_wait().unwrap().is_none(), "daemon exited early");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(polls > 50, "only {polls} polls");
    let refreshes: Vec<_> = HistoryLog::new(&install.data_dir())
        .load()
        .unwrap()
        .into_iter()
        .filter(|e| e.event() == HistoryEvent::Refresh && e.outcome == Outcome::Ok)
        .collect();
    assert!(refreshes.len() >= 2, "{refreshes:#?}");
    let expiries: Vec<i64> = refreshes
        .iter()
        .map(|e| e.new_expires_at_unix().unwrap())
        .collect();
    assert!(
        expiries.windows(2).all(|w| w[1] > w[0]),
        "expiries not increasing: {expiries:?}"
    );
    assert!(seen_tokens.len() >= 3, "store never changed");
    assert_eq!(exchanges(&sim), refreshes.len() as u64);

    assert_eq!(terminate(&mut daemon).await, Some(0));
    let err = std::fs::read_to_string(install.path("daemon.err")).unwrap();
    assert!(
        err.contains("WhatsApp access token refreshed successfully"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_refresh_processes_at_once_exchange_once() {
    let sim = start_sim(SimConfig::default()).await;
    let token = sim
        .handle()
        .mint_token(TokenKind::SystemUser, None)
        .access_token;
    // Latency keeps both processes inside the refresh at the same time.
    sim.handle().set_faults(Faults {
        latency_ms: 300,
        ..Faults::default()
    });
    let install = Install::new(&sim, DEFAULT_APP_SECRET);
    install.write_config(&token, "", "");
    let (a, b) = tokio::join!(install.run(&["refresh"]), install.run(&["refresh"]));
    assert_eq!(a.status.code(), Some(0), "{}", describe(&a));
    assert_eq!(b.status.code(), Some(0), "{}", describe(&b));
    assert_eq!(exchanges(&sim), 1);
    let skipped = [&a, &b]
        .iter()
        .filter(|o| text(&o.stdout).contains("skipped"))
        .count();
    assert_eq!(skipped, 1, "{}\n{}", describe(&a), describe(&b));
    let stored = install.stored_token().unwrap();
    sim.handle().clear_faults();
    assert!(sim_accepts(&sim, DEFAULT_APP_SECRET, &stored).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_daemon_at_random_moments_never_tears_the_store() {
    let sim = start_sim(SimConfig {
        system_user_lifetime: Duration::from_secs(600),
        ..SimConfig::default()
    })
    .await;
    let first = sim
        .handle()
        .mint_token(TokenKind::SystemUser, Some(Duration::from_secs(600)))
        .access_token;
    let install = Install::new(&sim, DEFAULT_APP_SECRET);
    // refresh-before longer than the lifetime: every token is due at once, so the daemon
    // refreshes back to back and a kill lands anywhere in exchange, inspect, persist.
    install.write_config(&first, "refresh-before = \"15m\"", "");
    let mut stored_tokens: Vec<String> = Vec::new();
    // At least 50 kills, and on until ten refreshes got through: on a loaded machine the
    // daemon starts slower, so more kills land before its first exchange.
    for iteration in 0..200 {
        if iteration >= 50 && stored_tokens.len() >= 10 {
            break;
        }
        let latency_ms = rand::random_range(200..=400);
        sim.handle().set_faults(Faults {
            latency_ms,
            ..Faults::default()
        });
        let mut daemon = install.spawn_daemon(&[]);
        // Startup inspection, exchange, inspection and persist take about 3.2 x latency, each
        // further refresh about 2.1 x latency: this range lands kills all through them.
        let kill_after = Duration::from_millis(rand::random_range(0..=6 * latency_ms));
        tokio::time::sleep(kill_after).await;
        daemon.kill().await.unwrap();
        sim.handle().clear_faults();

        let stored = TokenStore::new(&install.data_dir())
            .load("main")
            .unwrap_or_else(|err| panic!("iteration {iteration}: {err}"));
        if let Some(stored) = stored {
            let token = stored.access_token.expose_secret().to_string();
            assert!(
                sim_accepts(&sim, DEFAULT_APP_SECRET, &token).await,
                "iteration {iteration}: stored token refused"
            );
            if stored_tokens.last() != Some(&token) {
                stored_tokens.push(token);
            }
        }
        HistoryLog::new(&install.data_dir())
            .load()
            .unwrap_or_else(|err| panic!("iteration {iteration}: history: {err}"));
    }
    assert!(
        stored_tokens.len() >= 10,
        "only {} stored tokens in 200 kills: the kills never let a refresh finish",
        stored_tokens.len()
    );
}

/// Runs `check` (and `check --json`) for an install and returns (exit code, JSON report).
async fn check(install: &Install) -> (Option<i32>, Value) {
    let lines = install.run(&["check"]).await;
    let json = install.run(&["check", "--json"]).await;
    assert_eq!(
        lines.status.code(),
        json.status.code(),
        "{}",
        describe(&json)
    );
    let report: Value = serde_json::from_slice(&json.stdout)
        .unwrap_or_else(|err| panic!("{err}: {}", describe(&json)));
    (lines.status.code(), report)
}

fn assert_account_shape(account: &Value, token: &str) {
    for key in [
        "name",
        "status",
        "state",
        "reasons",
        "token_type",
        "access_token",
        "access_expiry",
        "missing_scopes",
    ] {
        assert!(account.get(key).is_some(), "no {key} in {account:#}");
    }
    let masked = account["access_token"].as_str().unwrap();
    assert!(
        masked.starts_with("EAAG") && masked.contains('…'),
        "{masked}"
    );
    assert!(masked.ends_with(&token[token.len() - 4..]), "{masked}");
    assert!(masked.len() < 20, "{masked}");
    let expiry = &account["access_expiry"];
    for key in ["expires_at", "never", "seconds_left"] {
        assert!(expiry.get(key).is_some(), "no {key} in {expiry:#}");
    }
    assert!(account["reasons"].is_array());
    assert!(account["missing_scopes"].as_array().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_exit_codes_follow_the_monitoring_convention() {
    let sim = start_sim(SimConfig::default()).await;
    let handle = sim.handle();

    // OK: a never-expiring system-user token.
    let never = handle.mint_token(TokenKind::SystemUser, None).access_token;
    let ok = Install::new(&sim, DEFAULT_APP_SECRET);
    ok.write_config(&never, "", "");
    let (code, report) = check(&ok).await;
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(report["status"], "OK");
    assert_eq!(report["exit_code"], 0);
    let account = &report["accounts"][0];
    assert_account_shape(account, &never);
    assert_eq!(account["name"], "main");
    assert_eq!(account["state"], "never expires");
    assert_eq!(account["token_type"], "SYSTEM_USER");
    assert_eq!(account["access_expiry"]["never"], true);
    assert!(account["access_expiry"]["expires_at"].is_null());

    // WARNING: two days left with warn-before 7d.
    let two_days = Duration::from_secs(2 * 86_400);
    let soon = handle
        .mint_token(TokenKind::LongLivedUser, Some(two_days))
        .access_token;
    let warning = Install::new(&sim, DEFAULT_APP_SECRET);
    warning.write_config(&soon, "warn-before = \"7d\"", "");
    let (code, report) = check(&warning).await;
    assert_eq!(code, Some(1), "{report:#}");
    assert_eq!(report["status"], "WARNING");
    assert_eq!(report["exit_code"], 1);
    assert!(report["checked_at"].as_i64().unwrap() > 1_700_000_000);
    assert_eq!(report["accounts"].as_array().unwrap().len(), 1);
    let account = &report["accounts"][0];
    assert_account_shape(account, &soon);
    assert_eq!(account["status"], "WARNING");
    assert_eq!(account["token_type"], "USER");
    let left = account["access_expiry"]["seconds_left"].as_i64().unwrap();
    assert!((2 * 86_400 - 60..=2 * 86_400).contains(&left), "{left}");
    assert_eq!(
        account["access_expiry"]["expires_at"].as_i64(),
        handle.token_expires_at(&soon).unwrap()
    );
    assert!(
        account["reasons"][0]
            .as_str()
            .unwrap()
            .starts_with("access token expires in "),
        "{account:#}"
    );

    // CRITICAL: an invalidated token.
    let dead = handle.mint_token(TokenKind::SystemUser, None).access_token;
    handle.invalidate(&dead);
    let critical = Install::new(&sim, DEFAULT_APP_SECRET);
    critical.write_config(&dead, "", "");
    let (code, report) = check(&critical).await;
    assert_eq!(code, Some(2), "{report:#}");
    assert_eq!(report["status"], "CRITICAL");
    assert_account_shape(&report["accounts"][0], &dead);
    assert!(report["accounts"][0]["action_hint"].is_string());
}

/// Issue 10: severity follows the time until sending stops. A user token whose long-lived
/// token is dead can no longer be refreshed, but the access token still sends for weeks:
/// WARNING with the deadline and the re-auth remedy, not CRITICAL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_warns_when_reauth_is_needed_but_the_access_token_has_weeks() {
    let sim = start_sim(SimConfig::default()).await;
    let handle = sim.handle();
    let weeks = handle
        .mint_token(
            TokenKind::LongLivedUser,
            Some(Duration::from_secs(40 * 86_400)),
        )
        .access_token;
    let now = chrono::Utc::now().timestamp();
    let dead = handle
        .mint_token_expiring_at(TokenKind::LongLivedUser, now - 600)
        .access_token;
    let install = Install::new(&sim, DEFAULT_APP_SECRET);
    install.write_config(&weeks, "", &format!("long-lived-token = \"{dead}\""));
    let (code, report) = check(&install).await;
    assert_eq!(code, Some(1), "{report:#}");
    assert_eq!(report["status"], "WARNING");
    let account = &report["accounts"][0];
    assert_account_shape(account, &weeks);
    assert_eq!(account["state"], "re-auth required");
    let reasons: Vec<&str> = account["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    // The deadline is the access token's time left, in whole days rounded down.
    let left = account["access_expiry"]["seconds_left"].as_i64().unwrap();
    assert!((40 * 86_400 - 60..=40 * 86_400).contains(&left), "{left}");
    let expected = format!("re-auth needed within {}d", left / 86_400);
    assert!(reasons.contains(&expected.as_str()), "{account:#}");
    assert!(!reasons.iter().any(|r| r.contains("expire")), "{account:#}");
    let hint = account["action_hint"].as_str().unwrap();
    assert!(hint.contains("tokentop exchange --account main"), "{hint}");
    assert!(!hint.contains(&weeks) && !hint.contains(&dead), "{hint}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_is_unknown_without_an_answer_or_with_a_bad_config() {
    let sim = start_sim(SimConfig::default()).await;
    let token = sim
        .handle()
        .mint_token(TokenKind::SystemUser, None)
        .access_token;
    let mut install = Install::new(&sim, DEFAULT_APP_SECRET);
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    install.graph_url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    install.write_config(&token, "", "");
    let (code, report) = check(&install).await;
    assert_eq!(code, Some(3), "{report:#}");
    assert_eq!(report["status"], "UNKNOWN");
    assert_eq!(report["accounts"][0]["status"], "UNKNOWN");
    assert_eq!(report["accounts"][0]["state"], "unknown");

    let bad = Install::new(&sim, DEFAULT_APP_SECRET);
    bad.write_config_text("[refresh]\ncheck-interval = \"often\"\n");
    let output = bad.run(&["check"]).await;
    assert_eq!(output.status.code(), Some(3), "{}", describe(&output));
    let err = text(&output.stderr);
    assert!(err.contains("UNKNOWN"), "{err}");
    assert!(err.contains("refresh.check-interval"), "{err}");
    let output = bad.run(&["check", "--json"]).await;
    assert_eq!(output.status.code(), Some(3), "{}", describe(&output));
}

/// Issue 13: with `[cluster]` and Redis down, `check` says since when and what to do, and is
/// at least WARNING; the account itself stays OK (the token is served from the cache). No
/// Redis needed: nothing listens on the port.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_warns_while_the_cluster_redis_is_unreachable() {
    let sim = start_sim(SimConfig::default()).await;
    let token = sim
        .handle()
        .mint_token(TokenKind::SystemUser, None)
        .access_token;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let redis = format!("redis://{}", closed.local_addr().unwrap());
    drop(closed);
    let install = Install::new(&sim, DEFAULT_APP_SECRET);
    let cluster = format!("\n[cluster]\nredis-url = \"{redis}\"\nmember = \"web-1\"\n");
    install.write_config(&token, &cluster, "");
    let started = std::time::Instant::now();
    let (code, report) = check(&install).await;
    assert_eq!(code, Some(1), "{report:#}");
    assert_eq!(report["status"], "WARNING");
    assert_eq!(report["accounts"][0]["status"], "OK", "{report:#}");
    let cluster = &report["cluster"];
    assert_eq!(cluster["status"], "WARNING", "{report:#}");
    assert_eq!(cluster["reachable"], false, "{report:#}");
    assert!(cluster["unreachable_since"].is_string(), "{report:#}");
    let hint = cluster["action_hint"].as_str().unwrap();
    assert!(hint.contains("[cluster] redis-url"), "{hint}");
    let lines = text(&install.run(&["check"]).await.stdout);
    assert!(
        lines.contains("\ncluster: Redis unreachable since "),
        "{lines}"
    );
    assert!(
        lines.contains("what to do: check [cluster] redis-url"),
        "{lines}"
    );
    // Three runs of check, none waiting out its whole Graph timeout for the cluster.
    assert!(
        started.elapsed() < Duration::from_secs(45),
        "{:?}",
        started.elapsed()
    );
}

/// Every place a secret must never reach, as (label, text).
fn leak_sources(install: &Install, outputs: &[(String, Output)]) -> Vec<(String, String)> {
    let mut sources: Vec<(String, String)> = Vec::new();
    for (label, output) in outputs {
        sources.push((format!("{label} stdout"), text(&output.stdout)));
        sources.push((format!("{label} stderr"), text(&output.stderr)));
    }
    for name in ["daemon.out", "daemon.err", "ARGV", "PS"] {
        sources.push((
            name.to_string(),
            std::fs::read_to_string(install.path(name)).unwrap(),
        ));
    }
    let history = install.data_dir().join("history.jsonl");
    sources.push((
        "history.jsonl".into(),
        std::fs::read_to_string(history).unwrap(),
    ));
    let logs = install.data_dir().join("logs");
    for entry in std::fs::read_dir(&logs).unwrap() {
        let path = entry.unwrap().path();
        sources.push((
            path.display().to_string(),
            std::fs::read_to_string(&path).unwrap(),
        ));
    }
    sources
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_and_app_secret_never_leak_outside_the_store_and_env_file() {
    const APP_SECRET: &str = "appsecret-9f8e7d6c5b4a39281706f5e4d3c2b1a0";
    let sim = start_sim(SimConfig {
        app_secret: SecretString::from(APP_SECRET),
        system_user_lifetime: Duration::from_secs(3600),
        ..SimConfig::default()
    })
    .await;
    let handle = sim.handle();
    let first = handle
        .mint_token(TokenKind::SystemUser, Some(Duration::from_secs(3600)))
        .access_token;
    let install = Install::new(&sim, APP_SECRET);
    let env_file = install.path("app.env");
    let publish = format!(
        "env-file = \"{}\"\non-refresh = ['sh', '-c', 'cat > {dir}/OUT; tr \"\\000\" \" \" < /proc/$$/cmdline > {dir}/ARGV; ps -eo args > {dir}/PS']",
        env_file.display(),
        dir = install.home().display()
    );
    install.write_config(&first, "refresh-before = \"1m\"", &publish);
    let debug = [("RUST_LOG", "debug")];
    let mut tokens = vec![first.clone()];
    let mut outputs: Vec<(String, Output)> = Vec::new();

    for args in [&["check"][..], &["check", "--json"], &["refresh"]] {
        let output = install.run_with(args, &debug, None).await;
        outputs.push((args.join(" "), output));
    }
    assert_eq!(
        outputs[2].1.status.code(),
        Some(0),
        "{}",
        describe(&outputs[2].1)
    );
    tokens.push(install.stored_token().unwrap());
    for args in [
        &["send-test"][..],
        &["history"],
        &["history", "--json"],
        &["config", "check"],
    ] {
        let output = install.run_with(args, &debug, None).await;
        assert_eq!(
            output.status.code(),
            Some(0),
            "{args:?}: {}",
            describe(&output)
        );
        outputs.push((args.join(" "), output));
    }
    let short_lived = handle
        .mint_token(TokenKind::ShortLivedUser, None)
        .access_token;
    tokens.push(short_lived.clone());
    let output = install
        .run_with(
            &["exchange", "--account", "main", "--token-stdin"],
            &debug,
            Some(&format!("{short_lived}\n")),
        )
        .await;
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    outputs.push(("exchange".into(), output));
    tokens.push(install.stored_token().unwrap());

    // The daemon starts from a newly configured token that is already due for refresh.
    let due = handle
        .mint_token(TokenKind::SystemUser, Some(Duration::from_secs(30)))
        .access_token;
    tokens.push(due.clone());
    install.write_config(&due, "refresh-before = \"1m\"", &publish);
    let mut daemon = install.spawn_daemon(&debug);
    let deadline = Instant::now() + Duration::from_secs(20);
    let refreshed = loop {
        let stored = install.stored_token();
        let published = std::fs::read_to_string(install.path("OUT")).unwrap_or_default();
        if let Some(token) =
            stored.filter(|t| !tokens.contains(t) && published.contains(t.as_str()))
        {
            break token;
        }
        assert!(
            Instant::now() < deadline,
            "the daemon did not refresh and publish: {}",
            std::fs::read_to_string(install.path("daemon.err")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    tokens.push(refreshed.clone());
    assert_eq!(terminate(&mut daemon).await, Some(0));

    let env_text = std::fs::read_to_string(&env_file).unwrap();
    assert!(env_text.contains(&format!("WHATSAPP_ACCESS_TOKEN={refreshed}")));
    let store_text =
        std::fs::read_to_string(TokenStore::new(&install.data_dir()).path_for("main")).unwrap();
    assert!(store_text.contains(&refreshed));
    let mode = std::fs::metadata(&env_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let argv = std::fs::read_to_string(install.path("ARGV")).unwrap();
    assert!(argv.starts_with("sh -c cat > "), "{argv}");
    let masked = tokentop::mask::mask_str(&first);
    assert!(
        outputs
            .iter()
            .any(|(_, o)| text(&o.stdout).contains(&masked)),
        "the masked token never shows, so the leak check below proves little"
    );

    let mut secrets: Vec<&str> = tokens.iter().map(String::as_str).collect();
    secrets.push(APP_SECRET);
    for (label, source) in leak_sources(&install, &outputs) {
        for secret in &secrets {
            // A slice from the middle catches partial leaks that a mask never shows.
            let middle = &secret[8..secret.len() - 8];
            assert!(
                !source.contains(middle),
                "a secret ({}) leaked into {label}",
                tokentop::mask::mask_str(secret)
            );
        }
    }
}

/// Issue 24: a configured Graph API version near the day Meta stops serving it makes `check`
/// WARNING (90 days) or CRITICAL (14 days), naming the day and the newest version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_grades_the_graph_version_by_its_sunset() {
    let sim = start_sim(SimConfig::default()).await;
    let token = sim
        .handle()
        .mint_token(TokenKind::SystemUser, None)
        .access_token;
    let install = Install::new(&sim, DEFAULT_APP_SECRET);
    let in_a_week = (chrono::Utc::now() + chrono::Duration::days(7)).date_naive();
    let graph =
        format!("\n[graph]\nversion = \"v27.0\"\nsunsets = {{ \"v27.0\" = \"{in_a_week}\" }}\n");
    install.write_config(&token, &graph, "");
    let (code, report) = check(&install).await;
    assert_eq!(code, Some(2), "{report:#}");
    assert_eq!(report["status"], "CRITICAL");
    assert_eq!(report["accounts"][0]["status"], "OK", "{report:#}");
    let version = &report["graph_version"];
    assert_eq!(version["status"], "CRITICAL", "{report:#}");
    assert_eq!(version["sunset"], in_a_week.to_string());
    assert!(version["action_hint"].as_str().unwrap().contains("v27.0"));
    let lines = text(&install.run(&["check"]).await.stdout);
    assert!(
        lines.contains("\ngraph: CRITICAL - Graph API v27.0 stops on"),
        "{lines}"
    );

    // A version with months left is reported but changes nothing.
    let later = (chrono::Utc::now() + chrono::Duration::days(200)).date_naive();
    let graph =
        format!("\n[graph]\nversion = \"v27.0\"\nsunsets = {{ \"v27.0\" = \"{later}\" }}\n");
    install.write_config(&token, &graph, "");
    let (code, report) = check(&install).await;
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(report["graph_version"]["status"], "OK");
    assert!(!text(&install.run(&["check"]).await.stdout).contains("graph:"));
}
