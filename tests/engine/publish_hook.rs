//! The `on-refresh` hook: killed with its whole process group on timeout, and run with a
//! minimal environment that never carries tokentop's secrets.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use secrecy::SecretString;
use tokentop::engine::publish::run_on_refresh;
use tokentop::sim::{DEFAULT_APP_ID, DEFAULT_APP_SECRET, RunningSim, SimConfig, TokenKind};
use tokio::time::Instant;

/// Running, in the sense that matters here: not gone and not a zombie waiting to be reaped
/// (in a container nobody may reap it).
fn is_running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z')),
        Err(_) => false,
    }
}

async fn wait_for_file(path: &Path, deadline: Instant) -> String {
    loop {
        if let Ok(text) = std::fs::read_to_string(path)
            && text.ends_with('\n')
        {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Starts a hook whose shell leaves a child behind, lets `run` end it, and asserts the child
/// is gone within a deadline.
async fn assert_hook_child_is_killed(run: impl AsyncFnOnce(Vec<String>)) {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("child.pid");
    let script = format!("sleep 1000 & echo $! > {}; sleep 1000", pid_file.display());
    run(vec!["sh".to_string(), "-c".to_string(), script]).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let pid: u32 = wait_for_file(&pid_file, deadline)
        .await
        .trim()
        .parse()
        .unwrap();
    while is_running(pid) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let survived = is_running(pid);
    if survived {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
    }
    assert!(!survived, "the hook's child {pid} outlived the hook");
}

#[tokio::test]
async fn a_timed_out_hook_is_killed_with_the_children_it_started() {
    assert_hook_child_is_killed(async |argv| {
        let token = SecretString::from("EAAGhooktoken");
        let err = run_on_refresh(&argv, "a", &token, None, Duration::from_secs(2), &[])
            .await
            .unwrap_err();
        assert!(err.message.contains("timed out"), "{err}");
    })
    .await;
}

/// The engine stopping mid-publish drops the hook's future: its children go too.
#[tokio::test]
async fn an_abandoned_hook_is_killed_with_the_children_it_started() {
    assert_hook_child_is_killed(async |argv| {
        let token = SecretString::from("EAAGhooktoken");
        let run = run_on_refresh(&argv, "a", &token, None, Duration::from_secs(600), &[]);
        assert!(
            tokio::time::timeout(Duration::from_secs(2), run)
                .await
                .is_err()
        );
    })
    .await;
}

/// Through the real binary, with the secrets in tokentop's own environment as in the
/// zero-config setup: the hook sees only PATH, HOME, TOKENTOP_* and what the account lists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hook_environment_is_minimal_and_never_holds_the_secrets() {
    let sim = RunningSim::start(SimConfig::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let token = sim
        .handle()
        .mint_token(TokenKind::SystemUser, Some(Duration::from_secs(3600)))
        .access_token;
    let dir = tempfile::tempdir().unwrap();
    let env_dump = dir.path().join("hook.env");
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[[account]]\nname = \"main\"\napp-id = \"{DEFAULT_APP_ID}\"\n\
             app-secret = {{ env = \"WHATSAPP_APP_SECRET\" }}\n\
             access-token = {{ env = \"WHATSAPP_ACCESS_TOKEN\" }}\n\
             on-refresh = [\"sh\", \"-c\", \"env > {}\"]\n\
             on-refresh-env = [\"LISTED_VAR\"]\n",
            env_dump.display()
        ),
    )
    .unwrap();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_tokentop"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir.path())
        .env("WHATSAPP_APP_SECRET", DEFAULT_APP_SECRET)
        .env("WHATSAPP_ACCESS_TOKEN", &token)
        .env("LISTED_VAR", "listed-value")
        .env("UNLISTED_VAR", "unlisted-value")
        .arg("--config")
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("--graph-url")
        .arg(sim.base_url())
        .arg("refresh")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(60), output)
        .await
        .expect("tokentop refresh did not finish within 60 s")
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let env = std::fs::read_to_string(&env_dump).unwrap();
    let names: Vec<&str> = env
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, _)| k)
        .collect();
    for present in [
        "PATH",
        "HOME",
        "TOKENTOP_ACCOUNT",
        "TOKENTOP_EXPIRES_AT",
        "LISTED_VAR",
    ] {
        assert!(names.contains(&present), "{present} missing from:\n{env}");
    }
    assert!(env.contains("LISTED_VAR=listed-value"), "{env}");
    for absent in [
        "WHATSAPP_APP_SECRET",
        "WHATSAPP_ACCESS_TOKEN",
        "UNLISTED_VAR",
    ] {
        assert!(!names.contains(&absent), "{absent} leaked into:\n{env}");
    }
    assert!(!env.contains(DEFAULT_APP_SECRET), "{env}");
    assert!(!env.contains(&token), "{env}");
}
