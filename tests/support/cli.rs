//! Helpers shared by the tests that run the real `tokentop` binary: a clean environment, a
//! time limit (a hang fails the test instead of blocking CI), a private config file, and the
//! whole output for assertion messages.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use tokentop::sim::{RunningSim, SimConfig};

/// Longest any single command may take before the test fails.
pub const COMMAND_TIME_LIMIT: Duration = Duration::from_secs(120);

/// `tokentop ARGS` with only PATH, HOME (`home`) and `env`, stdin empty.
pub async fn tokentop(home: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    tokentop_with_stdin(home, args, env, None).await
}

/// [`tokentop`] with `stdin` written to the command (and closed).
pub async fn tokentop_with_stdin(
    home: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    stdin: Option<&str>,
) -> Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_tokentop"));
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .envs(env.iter().copied())
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn().unwrap();
    if let Some(text) = stdin {
        use tokio::io::AsyncWriteExt;
        let mut pipe = child.stdin.take().unwrap();
        // A command that stops reading early (a refused token) closes the pipe: not an error.
        let _ = pipe.write_all(text.as_bytes()).await;
    }
    tokio::time::timeout(COMMAND_TIME_LIMIT, child.wait_with_output())
        .await
        .expect("tokentop did not finish in time (a hang on a FIFO, a device or the network?)")
        .unwrap()
}

/// Exit code, stdout and stderr in one text, for assertions and their messages.
pub fn all_text(output: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Writes a config file readable only by its owner (plain secrets are allowed in it).
pub fn write_private(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// The simulator on a free loopback port, TLS provider installed for clients.
pub async fn start_sim() -> RunningSim {
    tokentop::graph::install_tls_provider();
    RunningSim::start(SimConfig::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

/// `tokentop --config DIR/config.toml --data-dir DIR/data --graph-url GRAPH ARGS` in the
/// background, with only PATH, HOME (`dir`) and `env`, stderr to `DIR/daemon.err`; killed when
/// dropped. `config` is written 0600 first.
pub fn spawn_in(
    dir: &Path,
    config: &str,
    graph_url: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> tokio::process::Child {
    let config_path = dir.join("config.toml");
    write_private(&config_path, config);
    tokio::process::Command::new(env!("CARGO_BIN_EXE_tokentop"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .envs(env.iter().copied())
        .arg("--config")
        .arg(&config_path)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .arg("--graph-url")
        .arg(graph_url)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("daemon.err")).unwrap())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

/// A loopback port free right now (for a listener the test's child binds).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// POSTs `body` to a webhook relay at `url` as Meta does, signed with the simulator's app
/// secret; returns the status code.
pub async fn post_signed(url: &str, body: &str) -> u16 {
    let secret = secrecy::SecretString::from(tokentop::sim::DEFAULT_APP_SECRET.to_string());
    reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header(
            "x-hub-signature-256",
            tokentop::webhook::signature::sign(&secret, body.as_bytes()),
        )
        .body(body.to_string())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// An account's `app-id`, `app-secret` and a fresh never-expiring system-user token of the
/// simulator, as the lines of an account file or table.
pub fn account_keys(sim: &RunningSim) -> String {
    let token = sim
        .handle()
        .mint_token(tokentop::sim::TokenKind::SystemUser, None)
        .access_token;
    format!(
        "app-id = \"{}\"\napp-secret = \"{}\"\naccess-token = \"{token}\"\n",
        tokentop::sim::DEFAULT_APP_ID,
        tokentop::sim::DEFAULT_APP_SECRET
    )
}

/// `tokentop --config DIR/config.toml --data-dir DIR/data --graph-url URL ARGS` in `dir`.
pub async fn run_in_dir(
    dir: &Path,
    graph_url: &str,
    args: &[&str],
    env: &[(&str, &str)],
    stdin: Option<&str>,
) -> Output {
    let config = dir.join("config.toml");
    let data = dir.join("data");
    let mut all = vec![
        "--config",
        config.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
        "--graph-url",
        graph_url,
    ];
    all.extend_from_slice(args);
    tokentop_with_stdin(dir, &all, env, stdin).await
}

/// A one-time Embedded Signup code for `customer` (`POST /_sim/codes`, the simulator's
/// stand-in for the code Meta's dialog hands the browser).
pub async fn mint_signup_code(sim: &RunningSim, customer: serde_json::Value) -> String {
    let answer: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/_sim/codes", sim.base_url()))
        .json(&customer)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["code"].as_str().unwrap().to_string()
}
