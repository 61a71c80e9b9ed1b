//! Accounts that come and go, through the real binary (issue 23): `tokentop reload` against a
//! running `tokentop daemon`, a change in `[accounts] dir` picked up without a command, a
//! broken file reported by the daemon, `config check` and `check`, and an invalid config file
//! that keeps the running accounts.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::time::Duration;

use crate::support::cli::{
    account_keys, all_text, free_port, run_in_dir, spawn_in, start_sim, tokentop, write_private,
};
use crate::support::wait_until;
use tokentop::sim::RunningSim;

/// Generous: the machine running the tests may be busy; a hang still fails.
const DEADLINE: Duration = Duration::from_secs(30);

fn config(sim: &RunningSim, serve_port: u16, more: &str) -> String {
    format!(
        "[serve]\nlisten = \"127.0.0.1:{serve_port}\"\n\n[accounts]\ndir = \"accounts.d\"\n\n\
         [[account]]\nname = \"main\"\n{}\n{more}",
        account_keys(sim)
    )
}

fn exchanges(sim: &RunningSim) -> u64 {
    let stats = sim.handle().stats();
    stats.by_endpoint.get("exchange").copied().unwrap_or(0)
}

/// `tokentop --config … --data-dir … ARGS` in `dir`.
async fn run(dir: &Path, graph_url: &str, args: &[&str]) -> std::process::Output {
    run_in_dir(dir, graph_url, args, &[], None).await
}

async fn metrics_text(port: u16) -> Option<String> {
    let url = format!("http://127.0.0.1:{port}/metrics");
    reqwest::get(&url).await.ok()?.text().await.ok()
}

/// Whether every series of `account` left in `text` is a counter's (they stay until restart).
fn only_counters_of(text: &str, account: &str) -> bool {
    text.lines()
        .filter(|line| line.contains(&format!("account=\"{account}\"")))
        .all(|line| line.contains("_total{") || line.contains("tokentop_rate_limit_usage"))
}

async fn metric(port: u16, name: &str) -> Option<String> {
    let text = metrics_text(port).await?;
    text.lines()
        .find(|line| line.starts_with(&format!("{name} ")))
        .map(|line| line[name.len() + 1..].to_string())
}

#[tokio::test]
async fn tokentop_reload_prints_what_the_running_daemon_changed() {
    let sim = start_sim().await;
    let dir = tempfile::tempdir().unwrap();
    let accounts = dir.path().join("accounts.d");
    std::fs::create_dir(&accounts).unwrap();
    write_private(&accounts.join("a.toml"), &account_keys(&sim));
    let port = free_port();
    let text = config(&sim, port, "");
    let _daemon = spawn_in(dir.path(), &text, &sim.base_url(), &["daemon"], &[]);
    let pid_file = dir.path().join("data/daemon.pid");
    wait_until("the daemon's pid file", DEADLINE, async || {
        pid_file.exists().then_some(())
    })
    .await;
    let running = wait_until("tokentop_accounts 2", DEADLINE, async || {
        metric(port, "tokentop_accounts").await.filter(|v| v == "2")
    })
    .await;
    assert_eq!(running, "2");

    // An account added in the config file itself (not watched): only a reload applies it.
    let extra = format!("[[account]]\nname = \"extra\"\n{}", account_keys(&sim));
    write_private(&dir.path().join("config.toml"), &config(&sim, port, &extra));
    let output = run(dir.path(), &sim.base_url(), &["reload"]).await;
    let shown = all_text(&output);
    assert_eq!(output.status.code(), Some(0), "{shown}");
    assert!(shown.contains("added: extra\n"), "{shown}");
    assert!(
        shown.contains("changed: main\n"),
        "the new token makes main changed: {shown}"
    );
    assert!(shown.contains("3 accounts running"), "{shown}");

    // A file dropped into the directory is picked up without a command; a broken one is
    // skipped, reported, and counted.
    write_private(&accounts.join("b.toml"), &account_keys(&sim));
    write_private(&accounts.join("bad.toml"), "app-id = \"12x\"\n");
    wait_until("b running and bad.toml counted", DEADLINE, async || {
        let invalid = metric(port, "tokentop_account_files_invalid").await?;
        let running = metric(port, "tokentop_accounts").await?;
        (invalid == "1" && running == "4").then_some(())
    })
    .await;
    let log = std::fs::read_to_string(dir.path().join("daemon.err")).unwrap();
    let bad = accounts.join("bad.toml");
    assert!(
        log.contains(&format!(
            "account file skipped: {}:1: account.app-id",
            bad.display()
        )),
        "{log}"
    );
    let output = run(dir.path(), &sim.base_url(), &["reload", "--json"]).await;
    let record: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        record["added"],
        serde_json::json!([]),
        "{}",
        all_text(&output)
    );
    assert_eq!(record["accounts"], 4);
    assert_eq!(record["invalid"][0]["file"], bad.display().to_string());

    // A removed file stops its account, and its series leave /metrics.
    assert!(
        metrics_text(port)
            .await
            .unwrap_or_default()
            .contains("tokentop_token_state{account=\"a\"")
    );
    std::fs::remove_file(accounts.join("a.toml")).unwrap();
    wait_until("a removed", DEADLINE, async || {
        let text = metrics_text(port).await?;
        let gone = !text.contains("account=\"a\"") || only_counters_of(&text, "a");
        (gone && metric(port, "tokentop_accounts").await? == "3").then_some(())
    })
    .await;
    assert!(dir.path().join("data").exists());

    // A config file that no longer reads: the daemon keeps its accounts and says why.
    write_private(&dir.path().join("config.toml"), "[[account]\n");
    let output = run(dir.path(), &sim.base_url(), &["reload"]).await;
    let shown = all_text(&output);
    assert_eq!(output.status.code(), Some(1), "{shown}");
    assert!(
        shown.contains("not reloaded: the running accounts are kept (3 running)"),
        "{shown}"
    );
    assert!(shown.contains("invalid TOML"), "{shown}");
    assert_eq!(
        metric(port, "tokentop_accounts").await.as_deref(),
        Some("3")
    );
    // Never-expiring tokens: nothing was exchanged by any of it.
    assert_eq!(exchanges(&sim), 0);
}

#[tokio::test]
async fn reload_without_a_daemon_says_where_it_looked() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let output = tokentop(
        dir.path(),
        &["--data-dir", data.to_str().unwrap(), "reload"],
        &[],
    )
    .await;
    let shown = all_text(&output);
    assert_eq!(output.status.code(), Some(1), "{shown}");
    assert!(shown.contains("no running daemon found"), "{shown}");
    assert!(shown.contains("daemon.pid"), "{shown}");
}

#[tokio::test]
async fn a_name_in_both_places_is_refused_naming_both() {
    let sim = start_sim().await;
    let dir = tempfile::tempdir().unwrap();
    let accounts = dir.path().join("accounts.d");
    std::fs::create_dir(&accounts).unwrap();
    write_private(&accounts.join("MAIN.toml"), &account_keys(&sim));
    write_private(
        &dir.path().join("config.toml"),
        &config(&sim, free_port(), ""),
    );
    let output = run(dir.path(), &sim.base_url(), &["config", "check"]).await;
    let shown = all_text(&output);
    assert_eq!(output.status.code(), Some(1), "{shown}");
    let config_path = dir.path().join("config.toml");
    let file = accounts.join("MAIN.toml");
    let expected = format!(
        "{}:1: account.name = \"MAIN\": account name \"MAIN\" is already used at {}:",
        file.display(),
        config_path.display()
    );
    assert!(shown.contains(&expected), "{shown}");
    assert!(shown.contains("account file skipped: "), "{shown}");
    assert!(shown.contains("1 account file skipped"), "{shown}");

    // `doctor` fails its config step on it, naming the file and line.
    let output = run(dir.path(), &sim.base_url(), &["doctor"]).await;
    let shown = all_text(&output);
    assert_eq!(output.status.code(), Some(1), "{shown}");
    assert!(
        shown.contains(&format!("{}:1: account.name", file.display())),
        "{shown}"
    );

    // `check` runs the others and names the file as a WARNING.
    let output = run(dir.path(), &sim.base_url(), &["check"]).await;
    let shown = all_text(&output);
    assert!(
        shown.contains(&format!(
            "account file: WARNING - {} skipped: ",
            file.display()
        )),
        "{shown}"
    );
    assert!(shown.contains("main: "), "{shown}");
    assert!(output.status.code().unwrap_or(0) >= 1, "{shown}");
}

#[tokio::test]
async fn the_proxy_routes_to_an_account_added_by_a_reload() {
    let sim = start_sim().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("accounts.d")).unwrap();
    let proxy_port = free_port();
    let proxy = format!("[proxy]\nlisten = \"127.0.0.1:{proxy_port}\"\n");
    let text = config(&sim, free_port(), &proxy);
    let _daemon = spawn_in(dir.path(), &text, &sim.base_url(), &["daemon"], &[]);
    let phone = "106540352242922";
    sim.handle()
        .set_phone(phone, tokentop::sim::SimPhone::default());
    let url = format!("http://127.0.0.1:{proxy_port}/v25.0/{phone}");
    let ask = async || {
        let response = reqwest::Client::new()
            .get(&url)
            .header("x-tokentop-account", "shop")
            .send()
            .await
            .ok()?;
        Some((response.status().as_u16(), response.text().await.ok()?))
    };
    let (status, body) = wait_until("the proxy", DEADLINE, ask).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("\\\"shop\\\", which is not configured"),
        "{body}"
    );

    let shop = format!("phone-number-id = \"{phone}\"\n{}", account_keys(&sim));
    write_private(&dir.path().join("accounts.d/shop.toml"), &shop);
    let (status, body) = wait_until("shop routed", DEADLINE, async || {
        ask()
            .await
            .filter(|(_, body)| !body.contains("not configured"))
    })
    .await;
    assert_eq!(status, 200, "{body}");
}
