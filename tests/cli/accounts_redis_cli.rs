//! Accounts read from Redis (issue 23 part 1, `[accounts] source = "redis"`) through the real
//! binary against a real redis-server: `tokentop accounts add|remove|list`, two daemons (two
//! "hosts") picking up one command's change without SIGHUP, an invalid entry skipped and
//! reported, a Redis that is down at a reload, and `onboard` writing an entry a daemon runs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::time::Duration;

use redis::AsyncCommands;
use serde_json::{Value, json};

use crate::support::cli::{
    account_keys, all_text, free_port, mint_signup_code, run_in_dir, spawn_in, start_sim,
};
use crate::support::redis_server::RedisServer;
use crate::support::wait_until;
use tokentop::sim::{DEFAULT_APP_ID, DEFAULT_APP_SECRET, RunningSim, TokenKind};

/// Generous: the machine running the tests may be busy; a hang still fails.
const DEADLINE: Duration = Duration::from_secs(30);
const HASH: &str = "tokentop:accounts";
const CHANNEL: &str = "tokentop:accounts-changed";

/// `[serve]` on `port`, `[cluster]` on `redis`, `[accounts] source = "redis"` and `main`.
fn config(redis: &RedisServer, port: u16, main: &str) -> String {
    format!(
        "[serve]\nlisten = \"127.0.0.1:{port}\"\n\n[cluster]\nredis-url = \"{}\"\n\n\
         [accounts]\nsource = \"redis\"\n\n[[account]]\nname = \"main\"\n{main}",
        redis.url(None)
    )
}

/// `tokentop --config DIR/config.toml --data-dir DIR/data --graph-url URL ARGS`.
async fn run(
    dir: &Path,
    graph_url: &str,
    args: &[&str],
    stdin: Option<&str>,
) -> std::process::Output {
    let env = [("APP_SECRET", DEFAULT_APP_SECRET)];
    run_in_dir(dir, graph_url, args, &env, stdin).await
}

async fn metric(port: u16, name: &str) -> Option<String> {
    let url = format!("http://127.0.0.1:{port}/metrics");
    let text = reqwest::get(&url).await.ok()?.text().await.ok()?;
    text.lines()
        .find(|line| line.starts_with(&format!("{name} ")))
        .map(|line| line[name.len() + 1..].to_string())
}

/// Waits until the daemon serving on `port` runs `running` accounts with `invalid` skipped.
async fn wait_for_set(what: &str, port: u16, running: &str, invalid: &str) {
    wait_until(what, DEADLINE, async || {
        let now = metric(port, "tokentop_accounts").await?;
        let skipped = metric(port, "tokentop_account_files_invalid").await?;
        (now == running && skipped == invalid).then_some(())
    })
    .await;
}

/// A daemon in `dir` on `config`; returns once it has its pid file (its subscription to
/// account changes is in place by then).
async fn start_daemon(dir: &Path, config: &str, sim: &RunningSim) -> tokio::process::Child {
    let env = [("APP_SECRET", DEFAULT_APP_SECRET)];
    let daemon = spawn_in(dir, config, &sim.base_url(), &["daemon"], &env);
    let pid_file = dir.join("data/daemon.pid");
    wait_until("the daemon's pid file", DEADLINE, async || {
        pid_file.exists().then_some(())
    })
    .await;
    daemon
}

#[tokio::test]
async fn accounts_are_added_listed_and_removed_in_redis() {
    let redis = RedisServer::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    crate::support::cli::write_private(
        &home.join("config.toml"),
        &config(&redis, free_port(), "app-id = \"1234\"\n"),
    );
    let graph = "http://127.0.0.1:1";
    let mut conn = redis.client(None).await;
    let mut announcements = redis::Client::open(redis.url(None))
        .unwrap()
        .get_async_pubsub()
        .await
        .unwrap();
    announcements.subscribe(CHANNEL).await.unwrap();

    let shop = "app-id = \"5678\"\napp-secret = \"s3cr3t-app-secret\"\n";
    let shop_file = home.join("shop.toml");
    std::fs::write(&shop_file, shop).unwrap();
    let shop_file = shop_file.to_str().unwrap();
    let output = run(
        home,
        graph,
        &["accounts", "add", "shop", "--file", shop_file],
        None,
    )
    .await;
    let shown = all_text(&output);
    assert_eq!(output.status.code(), Some(0), "{shown}");
    assert!(
        shown.contains("account shop: added (redis:tokentop:accounts/shop)"),
        "{shown}"
    );
    assert!(!shown.contains("s3cr3t"), "{shown}");
    assert!(
        shown.contains("note: account.app-secret hold(s) a plain secret"),
        "{shown}"
    );
    let stored: Option<String> = conn.hget(HASH, "shop").await.unwrap();
    assert_eq!(stored.as_deref(), Some(shop));
    let message = tokio::time::timeout(
        DEADLINE,
        futures_util::StreamExt::next(&mut announcements.on_message()),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(message.get_payload::<String>().unwrap(), "added shop");

    // Listed with where each comes from; no secret.
    let output = run(home, graph, &["accounts", "list", "--json"], None).await;
    assert_eq!(output.status.code(), Some(0), "{}", all_text(&output));
    let listed: Value = serde_json::from_slice(&output.stdout).unwrap();
    let config_line = format!("{}:10", home.join("config.toml").display());
    assert_eq!(
        listed["accounts"],
        json!([
            {"name": "main", "from": "config", "place": config_line},
            {"name": "shop", "from": "redis", "place": "redis:tokentop:accounts/shop"},
        ])
    );
    assert!(!String::from_utf8_lossy(&output.stdout).contains("s3cr3t"));

    // Never replaced unasked; replaced with --replace; the text comes from stdin with `-`.
    let again = run(
        home,
        graph,
        &["accounts", "add", "shop", "--file", shop_file],
        None,
    )
    .await;
    let shown = all_text(&again);
    assert_eq!(again.status.code(), Some(1), "{shown}");
    assert!(
        shown.contains("already exists: --replace replaces it"),
        "{shown}"
    );
    let newer = "app-id = \"9999\"\n";
    let args = ["accounts", "add", "shop", "--file", "-", "--replace"];
    let replaced = run(home, graph, &args, Some(newer)).await;
    assert_eq!(replaced.status.code(), Some(0), "{}", all_text(&replaced));
    assert!(all_text(&replaced).contains("account shop: replaced"));
    let stored: Option<String> = conn.hget(HASH, "shop").await.unwrap();
    assert_eq!(stored.as_deref(), Some(newer));

    // Checked before anything is written: an invalid text, a name in use, another `name`.
    let args = ["accounts", "add", "broken", "--file", "-"];
    let invalid = run(home, graph, &args, Some("app-id = \"12x\"\n")).await;
    let shown = all_text(&invalid);
    assert_eq!(invalid.status.code(), Some(1), "{shown}");
    assert!(shown.contains("nothing was written"), "{shown}");
    assert!(
        shown.contains("redis:tokentop:accounts/broken:1: account.app-id"),
        "{shown}"
    );
    let args = ["accounts", "add", "MAIN", "--file", "-"];
    let taken = run(home, graph, &args, Some("")).await;
    assert!(
        all_text(&taken).contains("already defined in"),
        "{}",
        all_text(&taken)
    );
    let args = ["accounts", "add", "other", "--file", "-"];
    let renamed = run(home, graph, &args, Some("name = \"else\"\n")).await;
    assert!(
        all_text(&renamed).contains("its `name` says \"else\""),
        "{}",
        all_text(&renamed)
    );
    let fields: Vec<String> = conn.hkeys(HASH).await.unwrap();
    assert_eq!(fields, ["shop"]);

    // Removed; a second removal and a config-file account are refused.
    let removed = run(home, graph, &["accounts", "remove", "shop"], None).await;
    assert_eq!(removed.status.code(), Some(0), "{}", all_text(&removed));
    assert!(!conn.hexists::<_, _, bool>(HASH, "shop").await.unwrap());
    let again = run(home, graph, &["accounts", "remove", "shop"], None).await;
    assert_eq!(again.status.code(), Some(1), "{}", all_text(&again));
    let main = run(home, graph, &["accounts", "remove", "main"], None).await;
    assert!(
        all_text(&main).contains("not by [accounts]"),
        "{}",
        all_text(&main)
    );
    let output = run(home, graph, &["accounts", "list"], None).await;
    let shown = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(shown.starts_with("main  config"), "{shown}");
    assert!(!shown.contains("shop"), "{shown}");
}

#[tokio::test]
async fn with_a_directory_the_same_commands_write_and_remove_files() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    std::fs::create_dir(home.join("accounts.d")).unwrap();
    crate::support::cli::write_private(
        &home.join("config.toml"),
        "[accounts]\ndir = \"accounts.d\"\n",
    );
    let graph = "http://127.0.0.1:1";
    let args = ["accounts", "add", "shop", "--file", "-"];
    let output = run(home, graph, &args, Some("app-id = \"5678\"\n")).await;
    let shown = all_text(&output);
    assert_eq!(output.status.code(), Some(0), "{shown}");
    assert!(shown.contains("picks the file up"), "{shown}");
    let file = home.join("accounts.d/shop.toml");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let output = run(home, graph, &["accounts", "list"], None).await;
    let shown = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        shown.contains(&format!("shop  dir          {}", file.display())),
        "{shown}"
    );
    let output = run(home, graph, &["accounts", "remove", "shop"], None).await;
    assert_eq!(output.status.code(), Some(0), "{}", all_text(&output));
    assert!(!file.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_daemon_on_the_redis_picks_up_a_change_made_on_another_host() {
    let sim = start_sim().await;
    let redis = RedisServer::start(&[]);
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (port_a, port_b) = (free_port(), free_port());
    let main = account_keys(&sim);
    let _daemon_a = start_daemon(a.path(), &config(&redis, port_a, &main), &sim).await;
    let _daemon_b = start_daemon(b.path(), &config(&redis, port_b, &main), &sim).await;
    wait_for_set("a runs main", port_a, "1", "0").await;
    wait_for_set("b runs main", port_b, "1", "0").await;

    // A third process (another "host") adds an account: both daemons run it, no SIGHUP.
    let host = tempfile::tempdir().unwrap();
    crate::support::cli::write_private(
        &host.path().join("config.toml"),
        &config(&redis, free_port(), &main),
    );
    let args = ["accounts", "add", "shop", "--file", "-"];
    let output = run(
        host.path(),
        &sim.base_url(),
        &args,
        Some(&account_keys(&sim)),
    )
    .await;
    assert_eq!(output.status.code(), Some(0), "{}", all_text(&output));
    wait_for_set("a runs shop", port_a, "2", "0").await;
    wait_for_set("b runs shop", port_b, "2", "0").await;

    // An entry written by hand that does not validate: skipped and reported, the others run.
    let mut conn = redis.client(None).await;
    let () = conn.hset(HASH, "bad", "app-id = \"12x\"\n").await.unwrap();
    let _: i64 = conn.publish(CHANNEL, "added bad").await.unwrap();
    wait_for_set("a skips bad", port_a, "2", "1").await;
    wait_for_set("b skips bad", port_b, "2", "1").await;
    let log = std::fs::read_to_string(b.path().join("daemon.err")).unwrap();
    assert!(
        log.contains("account file skipped: redis:tokentop:accounts/bad:1: account.app-id"),
        "{log}"
    );
    let output = run(b.path(), &sim.base_url(), &["config", "check"], None).await;
    let shown = all_text(&output);
    assert_eq!(output.status.code(), Some(1), "{shown}");
    assert!(
        shown.contains("account file skipped: redis:tokentop:accounts/bad"),
        "{shown}"
    );

    // Removed on the third host: it stops on both.
    let output = run(
        host.path(),
        &sim.base_url(),
        &["accounts", "remove", "shop"],
        None,
    )
    .await;
    assert_eq!(output.status.code(), Some(0), "{}", all_text(&output));
    wait_for_set("a stops shop", port_a, "1", "1").await;
    wait_for_set("b stops shop", port_b, "1", "1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_is_down_at_a_reload_keeps_the_running_accounts() {
    let sim = start_sim().await;
    let mut redis = RedisServer::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut conn = redis.client(None).await;
    let () = conn.hset(HASH, "shop", account_keys(&sim)).await.unwrap();
    let _daemon = start_daemon(dir.path(), &config(&redis, port, &account_keys(&sim)), &sim).await;
    wait_for_set("main and shop", port, "2", "0").await;

    redis.stop();
    let output = run(dir.path(), &sim.base_url(), &["reload"], None).await;
    let shown = all_text(&output);
    assert_eq!(output.status.code(), Some(1), "{shown}");
    assert!(
        shown.contains("not reloaded: the running accounts are kept (2 running)"),
        "{shown}"
    );
    assert!(
        shown.contains("cannot read the accounts from Redis"),
        "{shown}"
    );
    assert_eq!(
        metric(port, "tokentop_accounts").await.as_deref(),
        Some("2")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn onboarding_writes_the_redis_entry_and_the_daemon_runs_it() {
    let sim = start_sim().await;
    let redis = RedisServer::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let token = sim
        .handle()
        .mint_token(TokenKind::SystemUser, None)
        .access_token;
    let main = format!(
        "app-id = \"{DEFAULT_APP_ID}\"\napp-secret = {{ env = \"APP_SECRET\" }}\naccess-token = \"{token}\"\n"
    );
    let _daemon = start_daemon(dir.path(), &config(&redis, port, &main), &sim).await;
    let code = mint_signup_code(&sim, json!({})).await;
    let args = ["onboard", "--code", "-", "--name", "shop", "--json"];
    let output = run(dir.path(), &sim.base_url(), &args, Some(&code)).await;
    let shown = all_text(&output);
    assert_eq!(output.status.code(), Some(0), "{shown}");
    let result: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(result["file"], "redis:tokentop:accounts/shop");

    let mut conn = redis.client(None).await;
    let text: String = conn.hget(HASH, "shop").await.unwrap();
    assert!(
        text.contains("app-secret = { env = \"APP_SECRET\" }"),
        "{text}"
    );
    assert!(text.contains("token-kind = \"business\""), "{text}");
    assert!(!text.contains("access-token"), "{text}");
    assert!(!dir.path().join("accounts.d").exists());

    let status_url = format!("http://127.0.0.1:{port}/status");
    wait_until("shop valid in /status", DEADLINE, async || {
        let text = reqwest::get(&status_url).await.ok()?.text().await.ok()?;
        (text.contains("\"shop\"") && text.contains("business-never")).then_some(())
    })
    .await;
}
