//! `tokentop daemon --listen`: `/metrics`, `/healthz`, `/readyz` and `/status` of the real
//! binary watching three simulator accounts (a renewing 20-second system-user token, a
//! never-expiring one, and one that gets invalidated), checked with `promtool` and scraped by
//! a real Prometheus server. `scripts/test` installs Debian's `prometheus` package.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support;

use std::time::Duration;

use support::serve::{Daemon, Prometheus, promtool_check_metrics};
use tokentop::sim::{DEFAULT_APP_ID, DEFAULT_APP_SECRET, Faults, RunningSim, SimConfig, TokenKind};

const SCRAPE_TOKEN: &str = "scrape-4f1c9a7e-token-for-prometheus";

struct Tokens {
    renewing: String,
    forever: String,
    doomed: String,
}

async fn start_sim() -> RunningSim {
    tokentop::graph::install_tls_provider();
    RunningSim::start(
        SimConfig {
            system_user_lifetime: Duration::from_secs(20),
            ..SimConfig::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap()
}

fn mint(sim: &RunningSim) -> Tokens {
    let sim = sim.handle();
    Tokens {
        renewing: sim
            .mint_token(TokenKind::SystemUser, Some(Duration::from_secs(20)))
            .access_token,
        forever: sim.mint_token(TokenKind::SystemUser, None).access_token,
        doomed: sim
            .mint_token(TokenKind::SystemUser, Some(Duration::from_secs(7200)))
            .access_token,
    }
}

/// Three accounts on the simulator's app; the scrape needs `SCRAPE_TOKEN` as a bearer token.
fn config(tokens: &Tokens) -> String {
    let account = |name: &str, token: &str, phone: &str| {
        format!(
            "[[account]]\nname = \"{name}\"\napp-id = \"{DEFAULT_APP_ID}\"\napp-secret = \"{DEFAULT_APP_SECRET}\"\n\
             access-token = \"{token}\"\n{phone}\n"
        )
    };
    format!(
        "[refresh]\ncheck-interval = \"10s\"\nrefresh-before = \"50%\"\nwarn-before = \"0s\"\ncritical-before = \"0s\"\n\n\
         [serve]\nbearer-token = {{ env = \"TT_SCRAPE_TOKEN\" }}\n\n{}{}{}",
        account(
            "renewing",
            &tokens.renewing,
            "phone-number-id = \"106540352242922\""
        ),
        account("forever", &tokens.forever, ""),
        account("doomed", &tokens.doomed, ""),
    )
}

fn secrets(tokens: &Tokens) -> Vec<String> {
    vec![
        tokens.renewing.clone(),
        tokens.forever.clone(),
        tokens.doomed.clone(),
        DEFAULT_APP_SECRET.to_string(),
        SCRAPE_TOKEN.to_string(),
    ]
}

fn assert_no_secret(body: &str, secrets: &[String], what: &str) {
    for secret in secrets {
        assert!(!body.contains(secret.as_str()), "{what} shows a secret");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_metrics_and_status_follow_the_engine_without_secrets() {
    let sim = start_sim().await;
    let tokens = mint(&sim);
    // Every Graph answer takes 5 s at first: the first inspection cannot be finished when
    // the endpoint comes up, so /readyz must say 503.
    sim.handle().set_faults(Faults {
        latency_ms: 5000,
        ..Faults::default()
    });
    let daemon = Daemon::start(&sim, &config(&tokens), &[("TT_SCRAPE_TOKEN", SCRAPE_TOKEN)]).await;
    let (status, body) = daemon.get("/readyz", None).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("renewing"), "{body}");
    sim.handle().clear_faults();
    daemon
        .wait_for("/readyz 200", async |d| {
            d.get("/readyz", None).await.0 == 200
        })
        .await;
    assert_eq!(daemon.get("/healthz", None).await.0, 200);

    // The bearer token guards /metrics and /status, not the probes.
    let (status, body) = daemon.get("/metrics", None).await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("bearer-token"), "{body}");
    assert_eq!(daemon.get("/metrics", Some("wrong")).await.0, 401);
    assert_eq!(daemon.get("/status", Some("wrong")).await.0, 401);

    let scrape = daemon.metrics(SCRAPE_TOKEN).await;
    let expected = [
        r#"tokentop_token_state{account="renewing",state="valid"} 1"#,
        r#"tokentop_token_state{account="renewing",state="invalid"} 0"#,
        r#"tokentop_token_state{account="forever",state="never_expires"} 1"#,
        r#"tokentop_token_expiry_timestamp_seconds{account="forever",token="access"} +Inf"#,
        r#"tokentop_token_valid{account="doomed"} 1"#,
        r#"tokentop_phone_status{account="renewing",status="CONNECTED"} 1"#,
        "tokentop_build_info{version=",
    ];
    for line in expected {
        assert!(scrape.contains(line), "missing {line} in:\n{scrape}");
    }
    promtool_check_metrics(&scrape);
    let open_metrics = daemon.metrics_openmetrics(SCRAPE_TOKEN).await;
    assert!(open_metrics.ends_with("# EOF\n"), "{open_metrics}");
    // As Prometheus asks: gzip, which decompresses to a scrape with the same series.
    let unzipped = daemon.metrics_gzip(SCRAPE_TOKEN).await;
    assert!(unzipped.contains(expected[0]), "{unzipped}");

    let (status, json) = daemon.get("/status", Some(SCRAPE_TOKEN)).await;
    assert_eq!(status, 200, "{json}");
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    let names: Vec<&str> = report["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["renewing", "forever", "doomed"]);
    assert_eq!(report["status"], "OK", "{json}");

    assert!(sim.handle().invalidate(&tokens.doomed));
    daemon
        .wait_for("doomed to be invalid", async |d| {
            let scrape = d.metrics(SCRAPE_TOKEN).await;
            scrape.contains(r#"tokentop_token_valid{account="doomed"} 0"#)
        })
        .await;
    let (_, json) = daemon.get("/status", Some(SCRAPE_TOKEN)).await;
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(report["status"], "CRITICAL", "{json}");
    assert_eq!(report["exit_code"], 2);

    let every_answer = [
        daemon.metrics(SCRAPE_TOKEN).await,
        daemon.metrics_openmetrics(SCRAPE_TOKEN).await,
        json,
        daemon.get("/nowhere", None).await.1,
        daemon.get("/readyz", None).await.1,
    ];
    for (i, body) in every_answer.iter().enumerate() {
        assert_no_secret(body, &secrets(&tokens), &format!("answer {i}"));
    }
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_sees_an_invalidated_token_and_the_refreshes() {
    let sim = start_sim().await;
    let tokens = mint(&sim);
    let daemon = Daemon::start(&sim, &config(&tokens), &[("TT_SCRAPE_TOKEN", SCRAPE_TOKEN)]).await;
    let prometheus = Prometheus::start(daemon.addr, SCRAPE_TOKEN).await;
    prometheus
        .wait_for_value(r#"up{job="tokentop"}"#, Duration::from_secs(30))
        .await;
    daemon
        .wait_for("/readyz 200", async |d| {
            d.get("/readyz", None).await.0 == 200
        })
        .await;

    assert!(sim.handle().invalidate(&tokens.doomed));
    let invalidated = tokio::time::Instant::now();
    let query = r#"tokentop_token_state{account="doomed",state="invalid"} == 1"#;
    prometheus
        .wait_for_value(query, Duration::from_secs(15))
        .await;
    eprintln!(
        "invalid seen by Prometheus after {:?}",
        invalidated.elapsed()
    );

    // The 20-second token is refreshed by the daemon on its own (refresh-before 50%).
    let refreshed = r#"sum(tokentop_refreshes_total{account="renewing",outcome="ok"}) >= 1"#;
    prometheus
        .wait_for_value(refreshed, Duration::from_secs(40))
        .await;
    daemon.stop().await;
}

/// Issue 13: the cluster families appear with the first cluster status, and `promtool`
/// accepts them (also the NaN latency of an unreachable Redis). No Redis needed: the status
/// is handed to the metrics as the engine would.
#[test]
fn cluster_families_pass_promtool() {
    use tokentop::engine::EngineEvent;
    use tokentop::engine::coordinator::{ClusterStatus, LeaseHolder, MemberBeat};
    use tokentop::serve::{Format, Metrics};

    let mut metrics = Metrics::new(&["production".to_string()]);
    let scrape = |metrics: &mut Metrics| {
        String::from_utf8(metrics.render(Format::PrometheusText).unwrap().to_vec()).unwrap()
    };
    assert!(!scrape(&mut metrics).contains("tokentop_cluster"));
    let now = chrono::Utc::now();
    let up = ClusterStatus {
        backend: "redis".to_string(),
        endpoint: "redis://127.0.0.1:6379".to_string(),
        member: "web-1".to_string(),
        reachable: true,
        unreachable_since: None,
        last_error: None,
        latency_ms: Some(0.4),
        members: ["web-1", "web-2", "web-3"]
            .into_iter()
            .map(|member| MemberBeat {
                member: member.to_string(),
                last_seen: now,
                this_process: member == "web-1",
            })
            .collect(),
        leases: vec![LeaseHolder {
            account: "production".to_string(),
            holder: "web-2".to_string(),
            fence: 17,
        }],
        checked_at: now,
    };
    let down = ClusterStatus {
        reachable: false,
        unreachable_since: Some(now),
        latency_ms: None,
        members: Vec::new(),
        leases: Vec::new(),
        ..up.clone()
    };
    metrics.observe(&EngineEvent::Cluster(Box::new(up)));
    let text = scrape(&mut metrics);
    assert!(text.contains("tokentop_cluster_members 3"), "{text}");
    assert!(
        text.contains(r#"tokentop_cluster_lease_held{account="production",holder="web-2"} 1"#),
        "{text}"
    );
    promtool_check_metrics(&text);
    metrics.observe(&EngineEvent::Cluster(Box::new(down)));
    let text = scrape(&mut metrics);
    assert!(text.contains("tokentop_cluster_reachable 0"), "{text}");
    promtool_check_metrics(&text);
}
