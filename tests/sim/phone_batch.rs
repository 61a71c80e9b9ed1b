//! Issue 10: phone-number health reads share Graph batch requests (50 per request), like
//! `debug_token`, so `check` of 1,000 accounts costs at most 40 HTTP requests, counted by the
//! simulator. Each item carries its own token and proof, answers with its own usage headers,
//! and fails alone.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;

use secrecy::SecretString;
use tokentop::config::GraphSettings;
use tokentop::graph::{AppCredentials, GraphClient, PhoneRead};
use tokentop::sim::{
    DEFAULT_APP_ID, DEFAULT_APP_SECRET, RunningSim, SimConfig, SimHandle, SimPhone, TokenKind,
};
use tokio::process::Command;

/// Meta's batch limit; one `debug_token` and one phone request per 50 accounts.
const BATCH: usize = 50;
const QUALITIES: [&str; 3] = ["GREEN", "YELLOW", "RED"];

/// The app requires `appsecret_proof`, so every batched phone read must carry a valid one.
async fn start_sim() -> RunningSim {
    let config = SimConfig {
        require_proof: true,
        ..SimConfig::default()
    };
    RunningSim::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

fn phone_id(index: usize) -> String {
    format!("10654035{index:07}")
}

/// A phone whose quality tells which account it belongs to.
fn plant_phone(sim: &SimHandle, index: usize) {
    let phone = SimPhone {
        quality_rating: QUALITIES[index % 3].to_string(),
        display_phone_number: format!("1555{index:07}"),
        ..SimPhone::default()
    };
    sim.set_phone(&phone_id(index), phone);
}

fn mint(sim: &SimHandle) -> String {
    sim.mint_token(TokenKind::SystemUser, None).access_token
}

/// One `[[account]]` of the config file: its own token and its own phone.
fn account_toml(index: usize, token: &str) -> String {
    format!(
        "[[account]]\nname = \"acct{index:04}\"\napp-id = \"{DEFAULT_APP_ID}\"\n\
         app-secret = \"{DEFAULT_APP_SECRET}\"\naccess-token = \"{token}\"\n\
         phone-number-id = \"{}\"\n\n",
        phone_id(index)
    )
}

/// `tokentop check --json` (the real binary) on `config` against the simulator.
async fn check_json(sim: &RunningSim, config: &str) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(&path, config).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_tokentop"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir.path())
        .arg("--config")
        .arg(&path)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("--graph-url")
        .arg(sim.base_url())
        .args(["check", "--json"])
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stderr)))
}

#[tokio::test]
async fn check_of_1000_accounts_reads_every_phone_in_at_most_40_requests() {
    const ACCOUNTS: usize = 1000;
    const DEAD: usize = 7;
    let sim = start_sim().await;
    let handle = sim.handle();
    let mut config = String::new();
    for index in 0..ACCOUNTS {
        plant_phone(&handle, index);
        let token = mint(&handle);
        // One account's token dies early: only its phone read fails.
        if index == DEAD {
            assert!(handle.invalidate(&token));
        }
        config.push_str(&account_toml(index, &token));
    }

    let report = check_json(&sim, &config).await;

    let stats = handle.stats();
    assert!(
        stats.total <= 40,
        "{} HTTP requests: {stats:?}",
        stats.total
    );
    assert_eq!(
        stats.by_endpoint.get("phone_number"),
        Some(&1000),
        "{stats:?}"
    );
    assert_eq!(
        stats.by_endpoint.get("debug_token"),
        Some(&1000),
        "{stats:?}"
    );
    let accounts = report["accounts"].as_array().unwrap();
    assert_eq!(accounts.len(), ACCOUNTS);
    for (index, account) in accounts.iter().enumerate() {
        let name = format!("acct{index:04}");
        assert_eq!(account["name"], name.as_str());
        let phone = &account["phone"];
        if index == DEAD {
            let error = phone["error"].as_str().unwrap_or_default();
            assert!(error.contains("190"), "{account:#}");
            assert!(phone["quality_rating"].is_null(), "{account:#}");
            continue;
        }
        assert!(phone["error"].is_null(), "{account:#}");
        assert_eq!(
            phone["quality_rating"],
            QUALITIES[index % 3],
            "{name} got another account's phone"
        );
        // Each item's own usage headers reach its account.
        assert!(account["headroom"]["max_percent"].is_u64(), "{account:#}");
    }
}

#[tokio::test]
async fn batched_reads_answer_in_order_with_their_own_usage_and_fail_alone() {
    let sim = start_sim().await;
    let handle = sim.handle();
    let app = AppCredentials::new(DEFAULT_APP_ID, SecretString::from(DEFAULT_APP_SECRET));
    let client = GraphClient::new(&GraphSettings {
        base_url: sim.base_url(),
        ..GraphSettings::default()
    })
    .unwrap();
    // 120 reads: every 10th token is dead, every 25th id is not an id (never sent).
    let reads: Vec<PhoneRead> = (0..120)
        .map(|index| {
            plant_phone(&handle, index);
            let token = mint(&handle);
            if index % 10 == 3 {
                handle.invalidate(&token);
            }
            let phone_number_id = if index % 25 == 7 {
                "../debug_token".to_string()
            } else {
                phone_id(index)
            };
            PhoneRead {
                token: SecretString::from(token),
                phone_number_id,
            }
        })
        .collect();

    let results = client.phone_healths(&app, &reads).await.unwrap();

    assert_eq!(results.len(), reads.len());
    let mut sent: u64 = 0;
    for (index, result) in results.into_iter().enumerate() {
        if index % 25 == 7 {
            let err = result.unwrap_err();
            assert!(err.to_string().contains("phone number id"), "{err}");
            continue;
        }
        sent += 1;
        if index % 10 == 3 {
            assert_eq!(result.unwrap_err().code, Some(190), "item {index}");
            continue;
        }
        let answer = result.unwrap_or_else(|err| panic!("item {index}: {err}"));
        assert_eq!(answer.value.id.as_deref(), Some(phone_id(index).as_str()));
        assert_eq!(
            answer.value.quality_rating.as_deref(),
            Some(QUALITIES[index % 3])
        );
        // Its own phone's budgets (management and messaging), no other account's.
        let business = &answer.usage.business;
        assert!(!business.is_empty(), "item {index}");
        assert!(
            business.iter().all(|b| b.business_id == phone_id(index)),
            "item {index}: {business:?}"
        );
        assert!(answer.usage.app.is_some(), "item {index}");
    }
    let stats = handle.stats();
    assert_eq!(stats.total, sent.div_ceil(BATCH as u64), "{stats:?}");
    assert_eq!(
        stats.by_endpoint.get("phone_number"),
        Some(&sent),
        "{stats:?}"
    );
}
