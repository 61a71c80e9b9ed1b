#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Issue 8 item 13: messages that point the operator at the right cause.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use tokentop::sim::{DEFAULT_APP_ID, DEFAULT_APP_SECRET, RunningSim, SimConfig, TokenKind};

async fn tokentop(home: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_tokentop"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .envs(env.iter().copied())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
        .await
        .expect("tokentop finished within 120 s")
        .unwrap()
}

fn all_text(output: &Output) -> String {
    format!(
        "exit {:?}\n{}{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn write_config(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

#[tokio::test]
async fn an_unusable_graph_version_fails_config_check_and_check_is_unknown() {
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("TOKENTOP_GRAPH_VERSION", "v99999999999.0"),
        ("WHATSAPP_APP_ID", "1234"),
        ("WHATSAPP_APP_SECRET", "app-secret-value"),
        ("WHATSAPP_ACCESS_TOKEN", "EAAGtokentokentokentokenx9Qf"),
    ];
    let output = tokentop(dir.path(), &["config", "check"], &env).await;
    let text = all_text(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("TOKENTOP_GRAPH_VERSION"), "{text}");
    assert!(text.contains("not a Graph API version"), "{text}");
    let output = tokentop(dir.path(), &["check"], &env).await;
    assert_eq!(output.status.code(), Some(3), "{}", all_text(&output));
}

#[tokio::test]
async fn config_check_never_prints_a_password_from_the_base_url() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    write_config(
        &config,
        "[graph]\nbase-url = \"https://ops:hunter2secret@graph.example.com\"\n",
    );
    let output = tokentop(
        dir.path(),
        &["--config", config.to_str().unwrap(), "config", "check"],
        &[],
    )
    .await;
    let text = all_text(&output);
    assert!(!text.contains("hunter2secret"), "{text}");
    assert!(text.contains("https://ops:***@graph.example.com"), "{text}");
}

#[tokio::test]
async fn a_lock_file_problem_is_named_as_local_not_as_the_graph_api() {
    let sim = RunningSim::start(SimConfig::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let token = sim
        .handle()
        .mint_token(
            TokenKind::SystemUser,
            Some(Duration::from_secs(30 * 86_400)),
        )
        .access_token;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    write_config(
        &config,
        &format!(
            "[[account]]\nname = \"main\"\napp-id = \"{DEFAULT_APP_ID}\"\n\
             app-secret = \"{DEFAULT_APP_SECRET}\"\naccess-token = \"{token}\"\n"
        ),
    );
    let data = dir.path().join("data");
    // A directory where the lock file should be: it cannot be opened.
    std::fs::create_dir_all(data.join("locks").join("main.lock")).unwrap();
    let output = tokentop(
        dir.path(),
        &[
            "--config",
            config.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
            "--graph-url",
            &sim.base_url(),
            "refresh",
        ],
        &[],
    )
    .await;
    let text = all_text(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("tokentop: cannot open lock file"), "{text}");
    assert!(!text.contains("Graph API client"), "{text}");
    assert!(!text.contains("connectivity"), "{text}");
    assert!(text.contains("a problem on this machine"), "{text}");
}

#[tokio::test]
async fn reauth_advice_for_a_dead_system_user_token_is_about_system_users() {
    let sim = RunningSim::start(SimConfig::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let token = sim
        .handle()
        .mint_token(
            TokenKind::SystemUser,
            Some(Duration::from_secs(30 * 86_400)),
        )
        .access_token;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    write_config(
        &config,
        &format!(
            "[[account]]\nname = \"main\"\napp-id = \"{DEFAULT_APP_ID}\"\n\
             app-secret = \"{DEFAULT_APP_SECRET}\"\naccess-token = \"{token}\"\n"
        ),
    );
    assert!(sim.handle().invalidate(&token));
    let output = tokentop(
        dir.path(),
        &[
            "--config",
            config.to_str().unwrap(),
            "--data-dir",
            dir.path().join("data").to_str().unwrap(),
            "--graph-url",
            &sim.base_url(),
            "refresh",
        ],
        &[],
    )
    .await;
    let text = all_text(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("system-user token"), "{text}");
    assert!(!text.contains("Get a fresh user token"), "{text}");
}
