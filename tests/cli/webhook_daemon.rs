//! `tokentop daemon` with `[webhook]`: Meta's signed webhooks reach the application unchanged,
//! and a revocation stops refreshing and turns `check` CRITICAL (issue 22).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::HeaderMap;
use secrecy::SecretString;
use serde_json::Value;
use tokentop::sim::{DEFAULT_APP_ID, DEFAULT_APP_SECRET, TokenKind};
use tokentop::webhook::signature::sign;

use crate::support::cli::{all_text, free_port, post_signed, spawn_in, start_sim, tokentop};
use crate::support::wait_until;

const STATUSES: &str = include_str!("../fixtures/webhook_statuses_batch_mixed.json");
const UNINSTALLED: &str =
    include_str!("../fixtures/webhook_account_update_partner_app_uninstalled.json");
/// The WABA of the uninstall fixture, given to the account.
const WABA: &str = "271936480512847";
const FIXTURE_APP: &str = "952710384466120";
const VERIFY_TOKEN: &str = "relay-verify-5d1e";
/// The first phone number of the status batch, given to the account.
const SHOP_PHONE: &str = "530918247716630";

type Received = Arc<Mutex<Vec<(Bytes, Option<String>)>>>;

/// The application: records each body with its signature header, answers 200.
async fn start_application() -> (String, Received) {
    let received: Received = Arc::default();
    let seen = received.clone();
    let app = axum::Router::new().route(
        "/hooks",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let seen = seen.clone();
            async move {
                let signature = headers
                    .get("x-hub-signature-256")
                    .map(|v| v.to_str().unwrap().to_string());
                seen.lock().unwrap().push((body, signature));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, received)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_relays_webhooks_unchanged_and_a_revocation_stops_refreshing() {
    let sim = start_sim().await;
    // Refreshed at 20% of its life left: due 12 s after it was minted, well after the
    // revocation below.
    let token = sim
        .handle()
        .mint_token(TokenKind::SystemUser, Some(Duration::from_secs(60)))
        .access_token;
    let (application, received) = start_application().await;
    let port = free_port();
    let metrics_port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "[refresh]\nrefresh-before = \"80%\"\n\n[serve]\nlisten = \"127.0.0.1:{metrics_port}\"\n\n\
         [webhook]\nlisten = \"127.0.0.1:{port}\"\nverify-token = \"{VERIFY_TOKEN}\"\n\n\
         [[webhook.forward]]\nurl = \"{application}\"\nname = \"app\"\n\n\
         [[account]]\nname = \"shop\"\napp-id = \"{DEFAULT_APP_ID}\"\napp-secret = \"{DEFAULT_APP_SECRET}\"\n\
         access-token = \"{token}\"\nbusiness-account-id = \"{WABA}\"\nphone-number-id = \"{SHOP_PHONE}\"\n"
    );
    let mut daemon = spawn_in(dir.path(), &config, &sim.base_url(), &["daemon"], &[]);
    let relay = format!("http://127.0.0.1:{port}/webhook");
    let handshake =
        format!("{relay}?hub.mode=subscribe&hub.challenge=8812&hub.verify_token={VERIFY_TOKEN}");
    let stderr = || std::fs::read_to_string(dir.path().join("daemon.err")).unwrap_or_default();
    wait_until(
        "the relay to answer Meta's handshake",
        Duration::from_secs(20),
        async || {
            assert!(
                daemon.try_wait().unwrap().is_none(),
                "the daemon exited:\n{}",
                stderr()
            );
            let answer = reqwest::get(&handshake).await.ok()?;
            (answer.text().await.ok()? == "8812").then_some(())
        },
    )
    .await;

    // A status batch reaches the application byte for byte, with Meta's signature.
    // Meta's captured batch, its times moved to the last 200 s (delivery rates count the
    // last hour; a time still ahead of the clock would count in no window yet).
    let now_prefix = &(chrono::Utc::now().timestamp() - 100).to_string()[..8];
    let statuses = STATUSES.replace("\"17963757", &format!("\"{now_prefix}"));
    let statuses = statuses.replace("\"17963759", &format!("\"{now_prefix}"));
    assert_eq!(post_signed(&relay, &statuses).await, 200);
    let signature = sign(
        &SecretString::from(DEFAULT_APP_SECRET.to_string()),
        statuses.as_bytes(),
    );
    wait_until(
        "the batch at the application",
        Duration::from_secs(10),
        async || {
            let received = received.lock().unwrap();
            received
                .iter()
                .any(|(body, sig)| {
                    body == statuses.as_bytes() && sig.as_deref() == Some(&signature)
                })
                .then_some(())
        },
    )
    .await;

    // What /metrics says of it: the POST, the forward, each status once, delivery times.
    let metrics_url = format!("http://127.0.0.1:{metrics_port}/metrics");
    let metrics = wait_until("the relay's metrics", Duration::from_secs(10), async || {
        let text = reqwest::get(&metrics_url).await.ok()?.text().await.ok()?;
        text.contains("tokentop_webhook_forward_total{destination=\"app\",outcome=\"delivered\"} 1")
            .then_some(text)
    })
    .await;
    for line in [
        "tokentop_webhook_requests_total{result=\"ok\"} 1",
        "tokentop_webhook_requests_total{result=\"bad_signature\"} 0",
        "tokentop_webhook_queue_depth{destination=\"app\"} 0",
    ] {
        assert!(metrics.contains(line), "no {line} in\n{metrics}");
    }
    let sent: u64 = metrics
        .lines()
        .filter(|l| {
            l.starts_with("tokentop_webhook_statuses_total{") && l.contains("status=\"sent\"")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    assert_eq!(
        sent as usize,
        statuses.matches("\"sent\"").count(),
        "{metrics}"
    );
    assert!(
        metrics.contains("tokentop_webhook_delivery_seconds_count"),
        "{metrics}"
    );
    // Every stored body was read: none went unread behind a flood.
    assert!(
        metrics.contains("tokentop_webhook_unread_total 0"),
        "{metrics}"
    );
    // Each priced message once, under its account (the batch's other numbers are no account's).
    for line in [
        "tokentop_webhook_pricing_total{account=\"shop\",category=\"marketing\"} 1",
        "tokentop_webhook_pricing_total{account=\"shop\",category=\"utility\"} 1",
        "tokentop_webhook_pricing_total{account=\"unknown\",category=\"marketing_lite\"} 1",
    ] {
        assert!(metrics.contains(line), "no {line} in\n{metrics}");
    }
    crate::support::serve::promtool_check_metrics(&metrics);

    // The customer uninstalls the app.
    let uninstalled = UNINSTALLED.replace(FIXTURE_APP, DEFAULT_APP_ID);
    let exchanges_before = sim
        .handle()
        .stats()
        .by_endpoint
        .get("exchange")
        .copied()
        .unwrap_or(0);
    let posted_at = Instant::now();
    assert_eq!(post_signed(&relay, &uninstalled).await, 200);
    let revoked_file = dir.path().join("data").join("revoked.json");
    wait_until(
        "revoked.json to name the account",
        Duration::from_secs(1),
        async || {
            std::fs::read_to_string(&revoked_file).ok().filter(|text| {
                text.contains("\"shop\"") && text.contains("PARTNER_APP_UNINSTALLED")
            })
        },
    )
    .await;
    let took = posted_at.elapsed();
    let config_path = dir.path().join("config.toml");
    let data_dir = dir.path().join("data");
    let args = [
        "--config",
        config_path.to_str().unwrap(),
        "--data-dir",
        data_dir.to_str().unwrap(),
        "--graph-url",
        &sim.base_url(),
        "check",
        "--json",
    ];
    let output = tokentop(dir.path(), &args, &[]).await;
    assert_eq!(output.status.code(), Some(2), "{}", all_text(&output));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let account = &report["accounts"][0];
    assert_eq!(account["status"], "CRITICAL", "{report:#}");
    assert_eq!(account["state"], "revoked", "{report:#}");
    let hint = account["action_hint"].as_str().unwrap_or_default();
    assert!(hint.contains("onboard again"), "{report:#}");
    assert!(took < Duration::from_secs(1), "{took:?}");
    let log = stderr();
    assert!(log.contains("PARTNER_APP_UNINSTALLED"), "{log}");
    assert!(!log.contains(&token), "the token is in the daemon's log");

    // Past the moment the refresh was due: no exchange was made.
    tokio::time::sleep(Duration::from_secs(14).saturating_sub(posted_at.elapsed())).await;
    let exchanges_after = sim
        .handle()
        .stats()
        .by_endpoint
        .get("exchange")
        .copied()
        .unwrap_or(0);
    assert_eq!(exchanges_after, exchanges_before, "{}", stderr());
    // The relay's statuses are the delivery truth `check` reports beside the other sources
    // (from the daemon's telemetry summary, rewritten at most every 10 s).
    let output = tokentop(dir.path(), &args, &[]).await;
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let webhooks = &report["accounts"][0]["delivery_1h"]["webhooks"];
    assert!(webhooks["delivered"].as_u64() > Some(0), "{report:#}");
    // And per account, Meta's word on the shop's own two messages: both delivered and read.
    let shop = &report["accounts"][0]["webhooks"];
    assert_eq!(shop["1h"]["delivered"], 2, "{report:#}");
    assert_eq!(shop["1h"]["read"], 2, "{report:#}");
    assert_eq!(shop["1h"]["delivery_percent"], 100.0, "{report:#}");
    assert_eq!(shop["pricing"]["marketing"], 1, "{report:#}");
    let text_args: Vec<&str> = args.iter().copied().filter(|a| *a != "--json").collect();
    let output = tokentop(dir.path(), &text_args, &[]).await;
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("\n  webhooks 1h: 100.0% delivered, 100.0% read (2 messages)"),
        "{text}"
    );
    assert!(daemon.try_wait().unwrap().is_none(), "{}", stderr());
}

/// A body in Meta's shape, unique by `n`.
fn numbered_status(n: usize) -> String {
    format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"id":"{WABA}","changes":[{{"value":{{"messaging_product":"whatsapp","metadata":{{"display_phone_number":"15550783881","phone_number_id":"106540352242922"}},"statuses":[{{"id":"wamid.kill-{n}","status":"sent","timestamp":"1796375700","recipient_id":"15105550111"}}]}},"field":"messages"}}]}}]}}"#
    )
}

/// The wamid number in a forwarded body.
fn number_of(body: &[u8]) -> usize {
    let text = std::str::from_utf8(body).unwrap();
    let start = text.find("wamid.kill-").unwrap() + "wamid.kill-".len();
    let digits: String = text[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_fan_out_loses_no_accepted_webhook() {
    const BODIES: usize = 300;
    let sim = start_sim().await;
    let token = sim
        .handle()
        .mint_token(TokenKind::SystemUser, None)
        .access_token;
    let (application, received) = start_application().await;
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "[webhook]\nlisten = \"127.0.0.1:{port}\"\nverify-token = \"{VERIFY_TOKEN}\"\n\n\
         [[webhook.forward]]\nurl = \"{application}\"\nname = \"app\"\n\n\
         [[account]]\nname = \"shop\"\napp-id = \"{DEFAULT_APP_ID}\"\napp-secret = \"{DEFAULT_APP_SECRET}\"\n\
         access-token = \"{token}\"\nbusiness-account-id = \"{WABA}\"\n"
    );
    let relay = format!("http://127.0.0.1:{port}/webhook");
    let handshake =
        format!("{relay}?hub.mode=subscribe&hub.challenge=1&hub.verify_token={VERIFY_TOKEN}");
    let up = async || {
        wait_until("the relay", Duration::from_secs(20), async || {
            reqwest::get(&handshake)
                .await
                .ok()
                .filter(|a| a.status() == 200)
                .map(|_| ())
        })
        .await
    };
    let mut daemon = spawn_in(dir.path(), &config, &sim.base_url(), &["daemon"], &[]);
    up().await;
    // Meta posts while the application takes them; the daemon dies mid-way.
    let mut accepted = Vec::new();
    let mut killed_after = None;
    for n in 0..BODIES {
        if n == BODIES / 2 {
            daemon.start_kill().unwrap();
            daemon.wait().await.unwrap();
            killed_after = Some(received.lock().unwrap().len());
            daemon = spawn_in(dir.path(), &config, &sim.base_url(), &["daemon"], &[]);
            up().await;
        }
        if post_signed(&relay, &numbered_status(n)).await == 200 {
            accepted.push(n);
        }
    }
    assert_eq!(accepted.len(), BODIES, "Meta's POSTs were refused");
    wait_until(
        "every accepted body at the application",
        Duration::from_secs(60),
        async || {
            let received = received.lock().unwrap();
            let seen: std::collections::BTreeSet<usize> =
                received.iter().map(|(body, _)| number_of(body)).collect();
            (seen.len() == BODIES).then_some(())
        },
    )
    .await;
    let received = received.lock().unwrap();
    let order: Vec<usize> = received.iter().map(|(body, _)| number_of(body)).collect();
    // In order per destination, except that a restart may send again what was in flight.
    let mut duplicates = 0;
    let mut highest = None;
    for &n in &order {
        if highest.is_some_and(|h| n <= h) {
            duplicates += 1;
        }
        highest = highest.max(Some(n));
    }
    let killed_after = killed_after.unwrap();
    assert!(
        duplicates <= killed_after.min(64),
        "{duplicates} duplicates after a kill with {killed_after} delivered: {order:?}"
    );
    drop(daemon);
}
