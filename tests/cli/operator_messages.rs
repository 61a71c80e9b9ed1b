#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Issue 8 item 13: messages that point the operator at the right cause.

use crate::support;

use std::time::Duration;

use support::cli::{all_text, start_sim, tokentop, write_private as write_config};
use tokentop::sim::{DEFAULT_APP_ID, DEFAULT_APP_SECRET, TokenKind};

#[tokio::test]
async fn an_unusable_graph_version_fails_config_check_and_check_is_unknown() {
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("TOKENTOP_GRAPH_VERSION", "v99999999999.0"),
        ("WHATSAPP_APP_ID", "1234"),
        ("WHATSAPP_APP_SECRET", "app-secret-value"),
        ("WHATSAPP_ACCESS_TOKEN", "EAAGtokentokentokentokenx9Qf"),
    ];
    let output = tokentop(dir.path(), &["config", "check"], &env).await;
    let text = all_text(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("TOKENTOP_GRAPH_VERSION"), "{text}");
    assert!(text.contains("not a Graph API version"), "{text}");
    let output = tokentop(dir.path(), &["check"], &env).await;
    assert_eq!(output.status.code(), Some(3), "{}", all_text(&output));
}

#[tokio::test]
async fn config_check_never_prints_a_password_from_the_base_url() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    write_config(
        &config,
        "[graph]\nbase-url = \"https://ops:hunter2secret@graph.example.com\"\n",
    );
    let output = tokentop(
        dir.path(),
        &["--config", config.to_str().unwrap(), "config", "check"],
        &[],
    )
    .await;
    let text = all_text(&output);
    assert!(!text.contains("hunter2secret"), "{text}");
    assert!(text.contains("https://ops:***@graph.example.com"), "{text}");
}

/// One system-user account on the simulator, its token valid for 30 days.
struct OneAccount {
    sim: tokentop::sim::RunningSim,
    dir: tempfile::TempDir,
    token: String,
}

impl OneAccount {
    async fn new() -> Self {
        let sim = start_sim().await;
        let lifetime = Some(Duration::from_secs(30 * 86_400));
        let token = sim
            .handle()
            .mint_token(TokenKind::SystemUser, lifetime)
            .access_token;
        let dir = tempfile::tempdir().unwrap();
        write_config(
            &dir.path().join("config.toml"),
            &format!(
                "[[account]]\nname = \"main\"\napp-id = \"{DEFAULT_APP_ID}\"\n\
                 app-secret = \"{DEFAULT_APP_SECRET}\"\naccess-token = \"{token}\"\n"
            ),
        );
        Self { sim, dir, token }
    }

    fn data_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("data")
    }

    async fn refresh(&self) -> String {
        let (config, data) = (self.dir.path().join("config.toml"), self.data_dir());
        let url = self.sim.base_url();
        let args = [
            "--config",
            config.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
            "--graph-url",
            &url,
            "refresh",
        ];
        let output = tokentop(self.dir.path(), &args, &[]).await;
        let text = all_text(&output);
        assert_eq!(output.status.code(), Some(1), "{text}");
        text
    }
}

#[tokio::test]
async fn a_lock_file_problem_is_named_as_local_not_as_the_graph_api() {
    let account = OneAccount::new().await;
    // A directory where the lock file should be: it cannot be opened.
    std::fs::create_dir_all(account.data_dir().join("locks").join("main.lock")).unwrap();
    let text = account.refresh().await;
    assert!(text.contains("tokentop: cannot open lock file"), "{text}");
    assert!(!text.contains("Graph API client"), "{text}");
    assert!(!text.contains("connectivity"), "{text}");
    assert!(text.contains("a problem on this machine"), "{text}");
}

#[tokio::test]
async fn reauth_advice_for_a_dead_system_user_token_is_about_system_users() {
    let account = OneAccount::new().await;
    assert!(account.sim.handle().invalidate(&account.token));
    let text = account.refresh().await;
    assert!(text.contains("system-user token"), "{text}");
    assert!(!text.contains("Get a fresh user token"), "{text}");
}
