//! Publishing after a refresh: env-file and on-refresh, with a failing publish retried at the
//! next check and the new token never lost.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use secrecy::ExposeSecret;
use tokentop::config::{GraphSettings, Settings};
use tokentop::engine::history::cause::{Cause, PublishTarget};
use tokentop::engine::history::{HistoryLog, Outcome};
use tokentop::engine::publish::health::FailReason;
use tokentop::engine::store::TokenStore;
use tokentop::engine::{Engine, EngineCommand, EngineEvent, EngineOptions};
use tokentop::graph::GraphClient;
use tokentop::serve::{Format, Metrics};
use tokentop::sim::{DEFAULT_APP_ID, DEFAULT_APP_SECRET, RunningSim, SimConfig, TokenKind};
use tokio::time::Instant;

fn render(metrics: &mut Metrics) -> String {
    String::from_utf8(metrics.render(Format::PrometheusText).unwrap().to_vec()).unwrap()
}

#[tokio::test]
async fn failed_publish_keeps_the_token_and_is_retried_at_the_next_check() {
    let sim = RunningSim::start(SimConfig::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let token = sim
        .handle()
        .mint_token(TokenKind::SystemUser, Some(Duration::from_secs(3600)));
    let dir = tempfile::tempdir().unwrap();
    let (mark, out, env_file) = (
        dir.path().join("mark"),
        dir.path().join("out"),
        dir.path().join("app.env"),
    );
    // Fails the first time, then writes the token it got on stdin.
    let script = format!(
        "if [ -f {m} ]; then cat > {o}; else touch {m}; echo 'vault is sealed' >&2; exit 1; fi",
        m = mark.display(),
        o = out.display()
    );
    let account = crate::account::account("main")
        .app(DEFAULT_APP_ID, DEFAULT_APP_SECRET)
        .access_token(&token.access_token)
        .env_file(&env_file)
        .on_refresh(vec!["sh".into(), "-c".into(), script])
        .on_refresh_timeout(Duration::from_secs(10))
        .build();
    let settings = Settings {
        data_dir: dir.path().join("data"),
        graph: GraphSettings {
            base_url: sim.base_url(),
            ..GraphSettings::default()
        },
        accounts: vec![account.into()],
        ..Settings::default()
    };
    let client = GraphClient::new(&settings.graph).unwrap();
    let (handle, mut events) = Engine::start(&settings, Arc::new(client), EngineOptions::default());
    handle.send(EngineCommand::ForceRefresh {
        account: None,
        request_id: 1,
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut alert = None;
    let mut metrics = Metrics::new(&["main".to_string()]);
    // The alert comes at the failed publish; the snapshot after the refresh shows it per target.
    let mut behind = None;
    while behind.is_none() {
        let event = tokio::time::timeout_at(deadline, events.recv())
            .await
            .unwrap()
            .unwrap();
        metrics.observe(&event);
        match event {
            EngineEvent::Alert { message, .. } if message.contains("on-refresh") => {
                alert = Some(message)
            }
            EngineEvent::Account(snapshot)
                if alert.is_some() && snapshot.publish.iter().any(|t| !t.current) =>
            {
                behind = Some(snapshot.publish.clone())
            }
            _ => {}
        }
    }
    assert!(alert.unwrap().contains("vault is sealed"));
    let behind = behind.unwrap();
    let words: Vec<(&str, bool)> = behind.iter().map(|t| (t.target, t.current)).collect();
    assert_eq!(words, [("env-file", true), ("on-refresh", false)]);
    let failure = behind[1].last_failure.as_ref().unwrap();
    assert_eq!(failure.reason, FailReason::Exit);
    assert!(
        failure.message.contains("vault is sealed"),
        "{}",
        failure.message
    );
    assert!(behind[0].last_success_at.is_some() && behind[1].last_success_at.is_none());
    let text = render(&mut metrics);
    for line in [
        r#"tokentop_publish_current{account="main",target="env_file"} 1"#,
        r#"tokentop_publish_current{account="main",target="on_refresh"} 0"#,
        r#"tokentop_publish_failures_total{account="main",target="on_refresh",reason="exit"} 1"#,
        r#"tokentop_token_usable{account="main"} 0"#,
    ] {
        assert!(text.contains(line), "{line} is missing:\n{text}");
    }
    // The new token is stored and in the env file even though the command failed.
    let stored = TokenStore::new(&settings.data_dir)
        .load("main")
        .unwrap()
        .unwrap();
    let new_token = stored.access_token.expose_secret().to_string();
    assert_ne!(new_token, token.access_token);
    let env_text = std::fs::read_to_string(&env_file).unwrap();
    assert_eq!(env_text, format!("WHATSAPP_ACCESS_TOKEN={new_token}\n"));
    assert!(!out.exists());

    handle.send(EngineCommand::Recheck { account: None });
    // The retry's snapshot: every target holds the new token, so it is usable end to end.
    loop {
        let event = tokio::time::timeout_at(deadline, events.recv())
            .await
            .expect("publish was not retried")
            .unwrap();
        metrics.observe(&event);
        if let EngineEvent::Account(snapshot) = event
            && !snapshot.publish.is_empty()
            && snapshot.publish.iter().all(|t| t.current)
        {
            break;
        }
    }
    let text = render(&mut metrics);
    for line in [
        r#"tokentop_publish_current{account="main",target="on_refresh"} 1"#,
        r#"tokentop_token_usable{account="main"} 1"#,
    ] {
        assert!(text.contains(line), "{line} is missing:\n{text}");
    }
    assert!(text.contains(
        r#"tokentop_publish_last_success_timestamp_seconds{account="main",target="on_refresh"}"#
    ));
    assert!(out.exists());
    while std::fs::read_to_string(&out).unwrap() != format!("{new_token}\n") {
        assert!(
            Instant::now() < deadline,
            "on-refresh did not get the token on stdin"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    handle.send(EngineCommand::Shutdown);
    while let Ok(Some(event)) = tokio::time::timeout_at(deadline, events.recv()).await {
        if event == EngineEvent::Stopped {
            break;
        }
    }
    let publishes: Vec<_> = HistoryLog::new(&settings.data_dir)
        .load()
        .unwrap()
        .into_iter()
        .filter(|e| e.cause == Cause::Publish(PublishTarget::OnRefresh))
        .map(|e| e.outcome)
        .collect();
    assert_eq!(publishes, vec![Outcome::Failed, Outcome::Ok]);
}
