//! Token classes, purposes and owner labels as on-call tools see them (issue 23 §3-4): the
//! real daemon on the simulator, `/metrics` (checked by `promtool`) with one info series per
//! account, `/status` with the class, purpose and labels, and a management token that dies
//! without touching the messaging account of the same phone.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support;

use std::time::Duration;

use support::serve::{Daemon, promtool_check_metrics};
use tokentop::sim::{DEFAULT_APP_ID, DEFAULT_APP_SECRET, RunningSim, SimConfig, TokenKind};

const SCRAPE_TOKEN: &str = "scrape-9a1b-token-for-classes";

fn account(name: &str, token: &str, extra: &str) -> String {
    format!(
        "[[account]]\nname = \"{name}\"\napp-id = \"{DEFAULT_APP_ID}\"\n\
         app-secret = \"{DEFAULT_APP_SECRET}\"\naccess-token = \"{token}\"\n\
         phone-number-id = \"106540352242922\"\nbusiness-account-id = \"102290129340398\"\n{extra}\n"
    )
}

fn account_json<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == name)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn classes_purposes_and_labels_reach_metrics_and_status() {
    tokentop::graph::install_tls_provider();
    let sim = RunningSim::start(SimConfig::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let handle = sim.handle();
    let send = handle.mint_token(TokenKind::Business, None).access_token;
    let ops = handle.mint_token(TokenKind::Business, None).access_token;
    let sixty = Some(Duration::from_secs(60 * 86_400));
    let customer = handle.mint_token(TokenKind::Business, sixty).access_token;
    let config = format!(
        "[refresh]\ncheck-interval = \"10s\"\n\n[serve]\nbearer-token = {{ env = \"TT_SCRAPE\" }}\n\n{}{}{}",
        account(
            "acme-send",
            &send,
            "token-kind = \"business\"\npurpose = \"messaging\"\n\
             labels = { team = \"payments\", customer = \"acme\" }"
        ),
        account(
            "acme-ops",
            &ops,
            "token-kind = \"business\"\npurpose = \"management\"\nlabels = { team = \"ops\" }"
        ),
        account("globex", &customer, "token-kind = \"business\""),
    );
    let daemon = Daemon::start(&sim, &config, &[("TT_SCRAPE", SCRAPE_TOKEN)]).await;
    daemon
        .wait_for("every class known", async |d| {
            let scrape = d.metrics(SCRAPE_TOKEN).await;
            !scrape.contains(r#"class="unknown""#) && scrape.contains("tokentop_token_info")
        })
        .await;
    let scrape = daemon.metrics(SCRAPE_TOKEN).await;
    let expected = [
        r#"tokentop_token_info{account="acme-send",class="business-never"} 1"#,
        r#"tokentop_token_info{account="globex",class="business-60d"} 1"#,
        r#"tokentop_account_info{account="acme-send",purpose="messaging",label_customer="acme",label_team="payments"} 1"#,
        r#"tokentop_account_info{account="acme-ops",purpose="management",label_team="ops"} 1"#,
        r#"tokentop_account_info{account="globex",purpose="both"} 1"#,
    ];
    for line in expected {
        assert!(scrape.contains(line), "missing {line} in:\n{scrape}");
    }
    assert_eq!(
        scrape.matches("tokentop_token_info{").count(),
        3,
        "{scrape}"
    );
    // Labels stay on the info series: no other family carries them.
    assert_eq!(scrape.matches("label_team=").count(), 2, "{scrape}");
    promtool_check_metrics(&scrape);

    let (status, json) = daemon.get("/status", Some(SCRAPE_TOKEN)).await;
    assert_eq!(status, 200, "{json}");
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    let send_report = account_json(&report, "acme-send");
    assert_eq!(send_report["token_class"], "business-never");
    assert_eq!(send_report["purpose"], "messaging");
    assert_eq!(send_report["labels"]["team"], "payments");
    assert_eq!(send_report["status"], "OK", "{json}");
    let globex = account_json(&report, "globex");
    assert_eq!(globex["status"], "WARNING", "{json}");
    let hint = globex["action_hint"].as_str().unwrap();
    assert!(hint.contains("Embedded Signup again"), "{hint}");
    assert!(account_json(&report, "acme-ops").get("labels").is_some());

    // The management token dies: only its own account goes down.
    assert!(handle.invalidate(&ops));
    daemon
        .wait_for("acme-ops to be invalid", async |d| {
            let scrape = d.metrics(SCRAPE_TOKEN).await;
            scrape.contains(r#"tokentop_token_valid{account="acme-ops"} 0"#)
        })
        .await;
    let (_, json) = daemon.get("/status", Some(SCRAPE_TOKEN)).await;
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(account_json(&report, "acme-ops")["status"], "CRITICAL");
    assert_eq!(account_json(&report, "acme-send")["status"], "OK", "{json}");
    let scrape = daemon.metrics(SCRAPE_TOKEN).await;
    assert!(scrape.contains(r#"tokentop_token_valid{account="acme-send"} 1"#));
    assert!(
        scrape.contains(r#"tokentop_token_state{account="acme-send",state="never_expires"} 1"#)
    );
    daemon.stop().await;
}
