//! Issue 22: the real `tokentop daemon` with the proxy and the webhook relay both on, in front of
//! a simulator whose phones never come online (`sent`, then nothing): sends the relay hears
//! `delivered` for are fine, the others count as undelivered once `undelivered-after` passes,
//! in `/metrics` and `/status`. And Meta's `phone_number_quality_update` reaches `/status` at
//! once, with a history row for a downgrade.

use std::time::Duration;

use serde_json::{Value, json};
use tokentop::sim::{
    DEFAULT_APP_ID, DEFAULT_APP_SECRET, RunningSim, SimConfig, TokenKind, WebhookSettings,
};

use crate::support;
use support::cli::{free_port, post_signed};
use support::proxy::{PHONE_ID, ProxyDaemon};

const VERIFY_TOKEN: &str = "undelivered-verify-1";

async fn silent_sim() -> RunningSim {
    tokentop::graph::install_tls_provider();
    let config = SimConfig {
        webhooks: WebhookSettings {
            silent_percent: 100,
            ..WebhookSettings::immediate()
        },
        ..SimConfig::default()
    };
    RunningSim::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

/// A `delivered` status of `wamid` in Meta's shape.
fn delivered(wamid: &str) -> String {
    json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550100001", "phone_number_id": PHONE_ID},
            "statuses": [{"id": wamid, "status": "delivered",
                "timestamp": chrono::Utc::now().timestamp().to_string(),
                "recipient_id": "15551234567"}]
        }}]}]
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_meta_accepted_and_never_delivered_count_once_their_deadline_passed() {
    let sim = silent_sim().await;
    let token = sim
        .handle()
        .mint_token(TokenKind::SystemUser, None)
        .access_token;
    let (relay_port, serve_port) = (free_port(), free_port());
    let config = format!(
        "[proxy]\nlisten = \"127.0.0.1:0\"\n\n[serve]\nlisten = \"127.0.0.1:{serve_port}\"\n\n\
         [webhook]\nlisten = \"127.0.0.1:{relay_port}\"\nverify-token = \"{VERIFY_TOKEN}\"\n\
         undelivered-after = \"2s\"\n\n\
         [[account]]\nname = \"main\"\napp-id = \"{DEFAULT_APP_ID}\"\n\
         app-secret = \"{DEFAULT_APP_SECRET}\"\nphone-number-id = \"{PHONE_ID}\"\n\
         access-token = \"{token}\"\n"
    );
    let daemon = ProxyDaemon::start(&sim, &config, &[]).await;
    daemon.wait_for_log("webhook relay listening").await;
    let relay = format!("http://127.0.0.1:{relay_port}/webhook");
    sim.handle().set_webhook_target(&relay, None).unwrap();

    let http = reqwest::Client::new();
    let mut wamids = Vec::new();
    for n in 0..4 {
        let answer: Value = http
            .post(format!("{}/v25.0/{PHONE_ID}/messages", daemon.url()))
            .json(
                &json!({"messaging_product": "whatsapp", "to": "15551234567",
                "type": "text", "text": {"body": format!("hello {n}")}}),
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        wamids.push(answer["messages"][0]["id"].as_str().unwrap().to_string());
    }
    // Meta's word on two of them; the other two stay at `sent`.
    for wamid in &wamids[..2] {
        assert_eq!(post_signed(&relay, &delivered(wamid)).await, 200);
    }

    let metrics_url = format!("http://127.0.0.1:{serve_port}/metrics");
    let metrics = support::wait_until(
        "two undelivered sends in /metrics",
        Duration::from_secs(30),
        async || {
            let text = reqwest::get(&metrics_url).await.ok()?.text().await.ok()?;
            text.contains("tokentop_proxy_undelivered_total{account=\"main\"} 2")
                .then_some(text)
        },
    )
    .await;
    assert!(
        metrics.contains("tokentop_proxy_undelivered_overdue{account=\"main\"} 2"),
        "{metrics}"
    );
    let status: Value = reqwest::get(format!("http://127.0.0.1:{serve_port}/status"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let account = &status["accounts"][0];
    assert_eq!(account["proxy_undelivered"]["last_1h"], 2, "{status:#}");
    assert_eq!(
        account["proxy_undelivered"]["undelivered_after_secs"], 2,
        "{status:#}"
    );
    assert_eq!(account["status"], "WARNING", "{status:#}");
    let reasons = account["reasons"].to_string();
    assert!(
        reasons.contains("2 proxied sends accepted by Meta not delivered within 2s"),
        "{reasons}"
    );

    // A late delivery leaves the gauge; the counter keeps what happened.
    assert_eq!(post_signed(&relay, &delivered(&wamids[2])).await, 200);
    support::wait_until("the gauge to fall", Duration::from_secs(30), async || {
        let text = reqwest::get(&metrics_url).await.ok()?.text().await.ok()?;
        text.contains("tokentop_proxy_undelivered_overdue{account=\"main\"} 1")
            .then_some(())
    })
    .await;
    let text = reqwest::get(&metrics_url)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("tokentop_proxy_undelivered_total{account=\"main\"} 2"),
        "{text}"
    );
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quality_update_reaches_the_status_at_once_and_a_downgrade_is_history() {
    let sim = silent_sim().await;
    let token = sim
        .handle()
        .mint_token(TokenKind::SystemUser, None)
        .access_token;
    let (relay_port, serve_port) = (free_port(), free_port());
    let waba = "418305927716254";
    let config = format!(
        "[proxy]\nlisten = \"127.0.0.1:0\"\n\n[serve]\nlisten = \"127.0.0.1:{serve_port}\"\n\n\
         [webhook]\nlisten = \"127.0.0.1:{relay_port}\"\nverify-token = \"{VERIFY_TOKEN}\"\n\n\
         [[account]]\nname = \"main\"\napp-id = \"{DEFAULT_APP_ID}\"\n\
         app-secret = \"{DEFAULT_APP_SECRET}\"\nphone-number-id = \"{PHONE_ID}\"\n\
         business-account-id = \"{waba}\"\naccess-token = \"{token}\"\n"
    );
    let daemon = ProxyDaemon::start(&sim, &config, &[]).await;
    daemon.wait_for_log("webhook relay listening").await;
    let relay = format!("http://127.0.0.1:{relay_port}/webhook");
    sim.handle().set_webhook_target(&relay, None).unwrap();
    sim.handle()
        .post_phone_quality(&tokentop::sim::PhoneQualityUpdate {
            phone_number_id: Some(PHONE_ID.to_string()),
            waba_id: Some(waba.to_string()),
            event: Some("DOWNGRADE".to_string()),
            current_limit: Some("TIER_250".to_string()),
            old_limit: Some("TIER_1K".to_string()),
            ..Default::default()
        })
        .unwrap();
    let status_url = format!("http://127.0.0.1:{serve_port}/status");
    support::wait_until(
        "the new limit in /status",
        Duration::from_secs(10),
        async || {
            let status: Value = reqwest::get(&status_url).await.ok()?.json().await.ok()?;
            (status["accounts"][0]["phone"]["messaging_limit"] == "TIER_250").then_some(())
        },
    )
    .await;
    let history = daemon.data_dir().join("history.jsonl");
    support::wait_until(
        "the downgrade's history row",
        Duration::from_secs(10),
        async || {
            let text = std::fs::read_to_string(&history).ok()?;
            text.lines()
                .any(|l| {
                    l.contains("\"phone-quality\"")
                        && l.contains("DOWNGRADE, messaging limit TIER_250 (was TIER_1K)")
                })
                .then_some(())
        },
    )
    .await;
    daemon.stop().await;
}
