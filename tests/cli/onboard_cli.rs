//! `tokentop onboard` through the real binary against the simulator's Embedded Signup
//! (issue 23 part 2): a code becomes an account file plus a stored token, a reused code is
//! refused, several WABAs need `--waba`, the code comes from stdin and never shows.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::cli::{
    all_text, free_port, mint_signup_code, post_signed, run_in_dir, spawn_in, start_sim,
    write_private,
};
use crate::support::wait_until;
use tokentop::sim::{DEFAULT_APP_ID, DEFAULT_APP_SECRET, RunningSim, TokenKind};

/// Generous: the machine running the tests may be busy; a hang still fails.
const DEADLINE: Duration = Duration::from_secs(30);

/// A config with `[accounts] dir` and one account holding the app (its secret by reference).
fn setup(sim: &RunningSim, dir: &Path, more: &str) {
    std::fs::create_dir_all(dir.join("accounts.d")).unwrap();
    let token = sim
        .handle()
        .mint_token(TokenKind::SystemUser, None)
        .access_token;
    write_private(
        &dir.join("config.toml"),
        &format!(
            "{more}[accounts]\ndir = \"accounts.d\"\n\n[[account]]\nname = \"main\"\n\
             app-id = \"{DEFAULT_APP_ID}\"\napp-secret = {{ env = \"APP_SECRET\" }}\n\
             access-token = \"{token}\"\n"
        ),
    );
}

async fn run(
    dir: &Path,
    sim: &RunningSim,
    args: &[&str],
    stdin: Option<&str>,
) -> std::process::Output {
    let env = [("APP_SECRET", DEFAULT_APP_SECRET)];
    run_in_dir(dir, &sim.base_url(), args, &env, stdin).await
}

/// Every file under `dir`, concatenated (logs, history, the account files).
fn all_files(dir: &Path) -> String {
    let mut text = String::new();
    for entry in walk(dir) {
        text.push_str(&String::from_utf8_lossy(&std::fs::read(entry).unwrap()));
    }
    text
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[tokio::test]
async fn a_code_from_stdin_becomes_an_account_file_and_a_stored_token() {
    let sim = start_sim().await;
    let dir = tempfile::tempdir().unwrap();
    setup(&sim, dir.path(), "");
    let customer = json!({
        "wabas": [{"id": "310000000000001", "phones": [{"id": "410000000000001", "display_phone_number": "+1 555-0101"}]}],
        // The Chatwoot case: ids only under the events scope.
        "scopes": ["whatsapp_business_manage_events", "whatsapp_business_messaging"],
    });
    let code = mint_signup_code(&sim, customer).await;
    let output = run(
        dir.path(),
        &sim,
        &["onboard", "--code", "-", "--json"],
        Some(&format!("{code}\n")),
    )
    .await;
    let shown = all_text(&output);
    assert_eq!(output.status.code(), Some(0), "{shown}");
    let result: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(result["account"], "wa-410000000000001");
    assert_eq!(result["class"], "business-never");
    assert_eq!(result["expires_at"], Value::Null);
    assert_eq!(result["waba_id"], "310000000000001");
    assert_eq!(result["display_phone_number"], "+1 555-0101");

    let file = dir.path().join("accounts.d/wa-410000000000001.toml");
    assert_eq!(result["file"], file.display().to_string());
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.contains("phone-number-id = \"410000000000001\""),
        "{text}"
    );
    assert!(
        text.contains("business-account-id = \"310000000000001\""),
        "{text}"
    );
    assert!(text.contains("token-kind = \"business\""), "{text}");
    assert!(
        text.contains("app-secret = { env = \"APP_SECRET\" }"),
        "{text}"
    );
    assert!(!text.contains("access-token"), "{text}");

    // The token is in the store, and nowhere else: not in the file, not in any output.
    let stored: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("data/tokens/wa-410000000000001.json")).unwrap(),
    )
    .unwrap();
    let token = stored["access_token"].as_str().unwrap();
    assert!(!text.contains(token));
    assert!(!shown.contains(token), "{shown}");
    assert!(!shown.contains(&code), "{shown}");
    let everything = all_files(dir.path());
    assert!(
        !everything.contains(&code),
        "the code is in a file under the data dir"
    );

    // The result validates.
    let output = run(dir.path(), &sim, &["config", "check"], None).await;
    assert_eq!(output.status.code(), Some(0), "{}", all_text(&output));

    // The same code again: refused as Meta does, without quoting it.
    let again = run(
        dir.path(),
        &sim,
        &["onboard", "--code", "-", "--name", "other"],
        Some(&code),
    )
    .await;
    let shown = all_text(&again);
    assert_eq!(again.status.code(), Some(1), "{shown}");
    assert!(shown.contains("Meta refused the code"), "{shown}");
    assert!(!shown.contains(&code), "{shown}");
    assert!(!dir.path().join("accounts.d/other.toml").exists());
}

#[tokio::test]
async fn several_wabas_are_listed_until_one_is_chosen() {
    let sim = start_sim().await;
    let dir = tempfile::tempdir().unwrap();
    setup(&sim, dir.path(), "");
    let customer = json!({
        "wabas": [
            {"id": "320000000000001", "phones": [{"id": "420000000000001"}]},
            {"id": "320000000000002", "phones": [{"id": "420000000000002"}, {"id": "420000000000003"}]},
        ],
        "expires_in_days": 60,
    });
    let code = mint_signup_code(&sim, customer.clone()).await;
    let output = run(dir.path(), &sim, &["onboard", "--code", &code], None).await;
    let shown = all_text(&output);
    assert_eq!(output.status.code(), Some(1), "{shown}");
    assert!(shown.contains("--waba"), "{shown}");
    assert!(
        shown.contains("320000000000001") && shown.contains("320000000000002"),
        "{shown}"
    );
    assert!(!shown.contains(&code), "{shown}");

    // A code is used up by its exchange, even when onboarding stopped after it.
    let code = mint_signup_code(&sim, customer).await;
    let output = run(
        dir.path(),
        &sim,
        &[
            "onboard",
            "--code",
            &code,
            "--waba",
            "320000000000002",
            "--phone",
            "420000000000003",
            "--name",
            "acme",
        ],
        None,
    )
    .await;
    let shown = all_text(&output);
    assert_eq!(output.status.code(), Some(0), "{shown}");
    assert!(shown.contains("token class: business-60d"), "{shown}");
    assert!(shown.contains("WABA: 320000000000002"), "{shown}");
    assert!(shown.contains("accounts.d/acme.toml"), "{shown}");
    assert!(shown.contains("picks the file up"), "{shown}");
    assert!(dir.path().join("data/tokens/acme.json").exists());
}

#[tokio::test]
async fn without_an_accounts_dir_onboarding_says_how_to_add_one() {
    let sim = start_sim().await;
    let dir = tempfile::tempdir().unwrap();
    write_private(
        &dir.path().join("config.toml"),
        &format!(
            "[[account]]\nname = \"main\"\napp-id = \"{DEFAULT_APP_ID}\"\napp-secret = \"{DEFAULT_APP_SECRET}\"\n"
        ),
    );
    let output = run(dir.path(), &sim, &["onboard", "--code", "abc"], None).await;
    let shown = all_text(&output);
    assert_eq!(output.status.code(), Some(1), "{shown}");
    assert!(
        shown.contains("[accounts]") && shown.contains("dir ="),
        "{shown}"
    );
    // Nothing was exchanged.
    assert_eq!(sim.handle().stats().by_endpoint.get("exchange"), None);
}

#[tokio::test]
async fn a_running_daemon_starts_the_onboarded_account() {
    let sim = start_sim().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let serve = format!("[serve]\nlisten = \"127.0.0.1:{port}\"\n\n");
    setup(&sim, dir.path(), &serve);
    let config = std::fs::read_to_string(dir.path().join("config.toml")).unwrap();
    let env = [("APP_SECRET", DEFAULT_APP_SECRET)];
    let _daemon = spawn_in(dir.path(), &config, &sim.base_url(), &["daemon"], &env);
    let status_url = format!("http://127.0.0.1:{port}/status");
    wait_until("the daemon serving /status", DEADLINE, async || {
        reqwest::get(&status_url)
            .await
            .ok()?
            .status()
            .is_success()
            .then_some(())
    })
    .await;
    let code = mint_signup_code(&sim, json!({})).await;
    let output = run(
        dir.path(),
        &sim,
        &["onboard", "--code", &code, "--name", "shop"],
        None,
    )
    .await;
    assert_eq!(output.status.code(), Some(0), "{}", all_text(&output));
    let status = wait_until("shop valid in /status", DEADLINE, async || {
        let text = reqwest::get(&status_url).await.ok()?.text().await.ok()?;
        (text.contains("\"shop\"") && text.contains("business-never")).then_some(text)
    })
    .await;
    assert!(status.contains("shop"), "{status}");
    // A never-expiring business token is inspected, never exchanged.
    assert_eq!(
        sim.handle().stats().by_endpoint.get("exchange").copied(),
        Some(1)
    );
}

/// Issue 23 part 6: a customer onboarded by code who then uninstalls the app (Meta's
/// `account_update` through the relay) turns `revoked` with the re-onboarding remedy.
#[tokio::test]
async fn an_onboarded_customer_who_uninstalls_the_app_is_revoked() {
    const WABA: &str = "271936480512847";
    const FIXTURE_APP: &str = "952710384466120";
    let uninstalled =
        include_str!("../fixtures/webhook_account_update_partner_app_uninstalled.json")
            .replace(FIXTURE_APP, DEFAULT_APP_ID);
    assert!(uninstalled.contains(WABA), "the fixture names its WABA");
    let sim = start_sim().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let more = format!("[webhook]\nlisten = \"127.0.0.1:{port}\"\nverify-token = \"v-23\"\n\n");
    setup(&sim, dir.path(), &more);
    let customer = json!({"wabas": [{"id": WABA, "phones": [{"id": "420000000000009"}]}]});
    let code = mint_signup_code(&sim, customer).await;
    let output = run(
        dir.path(),
        &sim,
        &["onboard", "--code", &code, "--name", "acme"],
        None,
    )
    .await;
    assert_eq!(output.status.code(), Some(0), "{}", all_text(&output));
    let config = std::fs::read_to_string(dir.path().join("config.toml")).unwrap();
    let env = [("APP_SECRET", DEFAULT_APP_SECRET)];
    let _daemon = spawn_in(dir.path(), &config, &sim.base_url(), &["daemon"], &env);
    let relay = format!("http://127.0.0.1:{port}/webhook");
    let handshake = format!("{relay}?hub.mode=subscribe&hub.challenge=77&hub.verify_token=v-23");
    wait_until("the relay to answer", DEADLINE, async || {
        let answer = reqwest::get(&handshake).await.ok()?;
        (answer.text().await.ok()? == "77").then_some(())
    })
    .await;

    assert_eq!(post_signed(&relay, &uninstalled).await, 200);
    let revoked = dir.path().join("data").join("revoked.json");
    wait_until("revoked.json to name acme", DEADLINE, async || {
        std::fs::read_to_string(&revoked)
            .ok()
            .filter(|text| text.contains("\"acme\""))
    })
    .await;
    let output = run(dir.path(), &sim, &["check", "--json"], None).await;
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let accounts = report["accounts"].as_array().unwrap();
    let acme = accounts.iter().find(|a| a["name"] == "acme").unwrap();
    assert_eq!(acme["state"], "revoked", "{report:#}");
    assert_eq!(acme["status"], "CRITICAL", "{report:#}");
    let hint = acme["action_hint"].as_str().unwrap_or_default();
    assert!(hint.contains("onboard again"), "{report:#}");
    // The other customer is untouched.
    let main = accounts.iter().find(|a| a["name"] == "main").unwrap();
    assert_ne!(main["state"], "revoked", "{report:#}");
    assert_eq!(output.status.code(), Some(2), "{}", all_text(&output));
}
