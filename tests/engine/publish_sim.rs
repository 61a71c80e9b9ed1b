//! Publishing after a refresh: env-file and on-refresh, with a failing publish retried at the
//! next check and the new token never lost.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use secrecy::ExposeSecret;
use tokentop::config::{GraphSettings, PatternSettings, RefreshPolicy, Settings, UiSettings};
use tokentop::engine::history::cause::{Cause, PublishTarget};
use tokentop::engine::history::{HistoryLog, Outcome};
use tokentop::engine::store::TokenStore;
use tokentop::engine::{Engine, EngineCommand, EngineEvent, EngineOptions};
use tokentop::graph::GraphClient;
use tokentop::sim::{DEFAULT_APP_ID, DEFAULT_APP_SECRET, RunningSim, SimConfig, TokenKind};
use tokio::time::Instant;

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
        config_path: None,
        data_dir: dir.path().join("data"),
        graph: GraphSettings {
            base_url: sim.base_url(),
            ..GraphSettings::default()
        },
        refresh: RefreshPolicy::default(),
        accounts: vec![account],
        logs: vec![],
        patterns: PatternSettings::default(),
        ui: UiSettings::default(),
        serve: Default::default(),
        proxy: Default::default(),
        cluster: Default::default(),
        webhook: Default::default(),
    };
    let client = GraphClient::new(&settings.graph).unwrap();
    let (handle, mut events) = Engine::start(&settings, Arc::new(client), EngineOptions::default());
    handle.send(EngineCommand::ForceRefresh {
        account: None,
        request_id: 1,
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut alert = None;
    while alert.is_none() {
        match tokio::time::timeout_at(deadline, events.recv())
            .await
            .unwrap()
            .unwrap()
        {
            EngineEvent::Alert { message, .. } if message.contains("on-refresh") => {
                alert = Some(message)
            }
            _ => {}
        }
    }
    assert!(alert.unwrap().contains("vault is sealed"));
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
    while !out.exists() {
        assert!(Instant::now() < deadline, "publish was not retried");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
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
