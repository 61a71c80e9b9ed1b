//! Commands whose reader went away (`tokentop history | head`, `| true`) exit quietly instead of
//! panicking with "failed printing to stdout: Broken pipe".
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use tokentop::engine::history::cause::Trigger;
use tokentop::engine::history::{HistoryEntry, HistoryLog, Outcome};
use tokentop::sim::{DEFAULT_APP_ID, DEFAULT_APP_SECRET, RunningSim, SimConfig, TokenKind};

/// Runs the binary with stdout a pipe whose read end is already closed, so its first write
/// fails with EPIPE (deterministically: nothing could have read it first).
fn run_with_closed_stdout(home: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    run(home, args, env, Stdio::from(writer))
}

fn run(home: &Path, args: &[&str], env: &[(&str, &str)], stdout: Stdio) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tokentop"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .envs(env.iter().copied())
        .args(args)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(Stdio::piped())
        .output()
        .unwrap()
}

fn assert_quiet(output: &Output, expected_code: i32, what: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{what}: {stderr}");
    assert!(!stderr.contains("Broken pipe"), "{what}: {stderr}");
    assert_eq!(
        output.status.code(),
        Some(expected_code),
        "{what}: {stderr}"
    );
}

#[test]
fn config_path_and_config_check_exit_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "").unwrap();
    let config = config.to_str().unwrap();
    for args in [
        ["--config", config, "config", "path"],
        ["--config", config, "config", "check"],
    ] {
        let output = run_with_closed_stdout(dir.path(), &args, &[]);
        assert_quiet(&output, 0, &args.join(" "));
    }
}

#[test]
fn history_exits_quietly_in_both_formats() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = HistoryLog::new(&data);
    for _ in 0..3 {
        log.append(&HistoryEntry::new("main", Trigger::Forced, Outcome::Ok))
            .unwrap();
    }
    let data = data.to_str().unwrap();
    for json in [false, true] {
        let mut args = vec!["--data-dir", data, "history"];
        if json {
            args.push("--json");
        }
        let output = run_with_closed_stdout(dir.path(), &args, &[]);
        assert_quiet(&output, 0, &args.join(" "));
    }
}

/// `check` still reports its status through the exit code: the same as with a reader.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_exits_quietly_with_its_status_code() {
    let sim = RunningSim::start(SimConfig::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let token = sim
        .handle()
        .mint_token(TokenKind::SystemUser, None)
        .access_token;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (data, url) = (data.to_str().unwrap().to_string(), sim.base_url());
    let env = [
        ("WHATSAPP_APP_ID", DEFAULT_APP_ID),
        ("WHATSAPP_APP_SECRET", DEFAULT_APP_SECRET),
        ("WHATSAPP_ACCESS_TOKEN", token.as_str()),
    ];
    for json in [false, true] {
        let mut args = vec!["--data-dir", &data, "--graph-url", &url, "check"];
        if json {
            args.push("--json");
        }
        let home = dir.path().to_path_buf();
        let env = env.map(|(k, v)| (k.to_string(), v.to_string()));
        let args: Vec<String> = args.into_iter().map(str::to_string).collect();
        let output = tokio::time::timeout(
            Duration::from_secs(60),
            tokio::task::spawn_blocking(move || {
                let env: Vec<(&str, &str)> =
                    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                let read = run(&home, &args, &env, Stdio::null());
                (read, run_with_closed_stdout(&home, &args, &env))
            }),
        )
        .await
        .expect("tokentop check did not finish within 60 s")
        .unwrap();
        let (read, closed) = output;
        let code = read.status.code().unwrap();
        assert!((0..=3).contains(&code), "{read:?}");
        assert_quiet(&closed, code, if json { "check --json" } else { "check" });
    }
}

/// `refresh` and `send-test` finish their work with a closed stdout and still tell the
/// outcome by the exit code (0: the refresh and the send worked).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_and_send_test_finish_their_work_with_a_closed_stdout() {
    let sim = RunningSim::start(SimConfig::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let token = sim
        .handle()
        .mint_token(TokenKind::SystemUser, Some(Duration::from_secs(86_400)))
        .access_token;
    let phone = "106540352242922";
    sim.handle()
        .set_phone(phone, tokentop::sim::SimPhone::default());
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (data, url) = (data.to_str().unwrap().to_string(), sim.base_url());
    let env = [
        ("WHATSAPP_APP_ID".to_string(), DEFAULT_APP_ID.to_string()),
        (
            "WHATSAPP_APP_SECRET".to_string(),
            DEFAULT_APP_SECRET.to_string(),
        ),
        ("WHATSAPP_ACCESS_TOKEN".to_string(), token.clone()),
        (
            "WHATSAPP_TEST_RECIPIENT".to_string(),
            "15551234567".to_string(),
        ),
        ("WHATSAPP_PHONE_NUMBER_ID".to_string(), phone.to_string()),
    ];
    let home = dir.path().to_path_buf();
    let outputs = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::task::spawn_blocking(move || {
            let env: Vec<(&str, &str)> =
                env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            ["refresh", "send-test"].map(|command| {
                let args = ["--data-dir", &data, "--graph-url", &url, command];
                (command, run_with_closed_stdout(&home, &args, &env))
            })
        }),
    )
    .await
    .expect("refresh / send-test did not finish within 120 s")
    .unwrap();
    for (command, output) in outputs {
        assert_quiet(&output, 0, command);
    }
    let refreshed = tokentop::engine::store::TokenStore::new(&dir.path().join("data"))
        .load("default")
        .unwrap()
        .expect("the refresh stored its token");
    use secrecy::ExposeSecret;
    assert_ne!(refreshed.access_token.expose_secret(), token);
}
