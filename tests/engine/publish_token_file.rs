//! The token file through the engine (fake token source, paused clock): written at start,
//! rewritten with the new token after a refresh, a publish row in history, a failed write
//! alerted and retried at the next check, and the token never in history or the log; and
//! through the real binary against the simulator, with its log files.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support;

use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use support::fake_source::{ExchangeMode, FakeSource};
use support::{START, run_for, settings};
use tokentop::config::{AccountSettings, DEFAULT_TOKEN_FILE_MODE};
use tokentop::engine::history::cause::{Cause, PublishTarget};
use tokentop::engine::history::{HistoryLog, Outcome};
use tokentop::engine::store::TokenStore;
use tokentop::engine::{Clock, Engine, EngineCommand, EngineEvent, EngineOptions};
use tokentop::sim::{DEFAULT_APP_ID, DEFAULT_APP_SECRET, TokenKind};

fn account(token: &str, token_file: &Path, mode: u32) -> AccountSettings {
    crate::account::account("a")
        .app("1234", "fake-app-secret")
        .access_token(token)
        .phone_number_id("5550001")
        .token_file(token_file, mode)
        .build()
}

/// A log file the engine's tracing output goes to for the rest of the test (this thread: the
/// paused-clock runtime runs every task on it).
fn log_to_file(path: &Path) -> tracing::subscriber::DefaultGuard {
    let file = std::fs::File::create(path).unwrap();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(Mutex::new(file))
        .finish();
    crate::support::trace_capture::set_default(subscriber)
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

fn token_file_publishes(data_dir: &Path) -> Vec<Outcome> {
    HistoryLog::new(data_dir)
        .load()
        .unwrap()
        .into_iter()
        .filter(|e| e.cause == Cause::Publish(PublishTarget::TokenFile))
        .map(|e| e.outcome)
        .collect()
}

fn stored_token(data_dir: &Path) -> String {
    stored_token_of(data_dir, "a")
}

fn stored_token_of(data_dir: &Path, account: &str) -> String {
    use secrecy::ExposeSecret;
    let stored = TokenStore::new(data_dir).load(account).unwrap().unwrap();
    stored.access_token.expose_secret().to_string()
}

#[tokio::test(start_paused = true)]
async fn the_token_file_is_written_at_start_and_rewritten_after_a_forced_refresh() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("tokentop.log");
    let _log = log_to_file(&log);
    let run_dir = dir.path().join("run");
    std::fs::create_dir(&run_dir).unwrap();
    let token_file = run_dir.join("production.token");
    // An old file with a mode others can read: the configured mode replaces it.
    std::fs::write(&token_file, "EAAGanoldertokenanoldertoken\n").unwrap();
    std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o644)).unwrap();

    let clock = Clock::virtual_at(START);
    let fake = FakeSource::new(
        clock.clone(),
        ExchangeMode::Renew {
            lifetime_secs: 5000,
        },
    );
    let token = fake.mint("SYSTEM_USER", Some(5000));
    let options = EngineOptions {
        clock,
        ..EngineOptions::default()
    };
    let cfg = settings(dir.path(), vec![account(&token, &token_file, 0o640)]);
    let (handle, mut events) = Engine::start(&cfg, fake.clone(), options);
    run_for(&mut events, 2).await;
    assert_eq!(
        std::fs::read_to_string(&token_file).unwrap(),
        format!("{token}\n")
    );
    assert_eq!(mode(&token_file), 0o640);
    assert!(fake.exchanges.lock().unwrap().is_empty(), "no exchange yet");
    assert_eq!(token_file_publishes(dir.path()), vec![Outcome::Ok]);

    handle.send(EngineCommand::ForceRefresh {
        account: Some("a".into()),
        request_id: 1,
    });
    let seen = run_for(&mut events, 5).await;
    assert!(
        seen.iter().any(|e| matches!(
            e,
            EngineEvent::RefreshFinished { request_id: 1, report } if report.ok
        )),
        "{seen:?}"
    );
    let new_token = stored_token(dir.path());
    assert_ne!(new_token, token);
    assert_eq!(
        std::fs::read_to_string(&token_file).unwrap(),
        format!("{new_token}\n")
    );
    assert_eq!(mode(&token_file), 0o640);
    // Nothing but the token file in its directory: no temp file left behind.
    assert_eq!(std::fs::read_dir(&run_dir).unwrap().count(), 1);
    assert_eq!(
        token_file_publishes(dir.path()),
        vec![Outcome::Ok, Outcome::Ok]
    );
    handle.send(EngineCommand::Shutdown);
    run_for(&mut events, 2).await;

    // A restart with the file current writes nothing (no new publish row).
    let (handle, mut events) = Engine::start(
        &cfg,
        fake.clone(),
        EngineOptions {
            clock: Clock::virtual_at(START + 10),
            ..EngineOptions::default()
        },
    );
    run_for(&mut events, 2).await;
    handle.send(EngineCommand::Shutdown);
    run_for(&mut events, 2).await;
    assert_eq!(token_file_publishes(dir.path()).len(), 2);

    let history = std::fs::read_to_string(dir.path().join("history.jsonl")).unwrap();
    let log_text = std::fs::read_to_string(&log).unwrap();
    assert!(
        log_text.contains("token file"),
        "the log is captured: {log_text}"
    );
    for secret in [&token, &new_token] {
        for line in history.lines() {
            assert!(!line.contains(secret.as_str()), "token in history: {line}");
        }
        assert!(!log_text.contains(secret.as_str()), "token in the log");
    }
}

/// A write that fails (a dangling symlink: the projected secret's target is not there yet)
/// keeps the token, alerts, records a failed token-file publish, and is retried at the next
/// check; the on-refresh hook is not run again for it.
#[tokio::test(start_paused = true)]
async fn a_failed_token_file_write_is_alerted_and_retried_at_the_next_check() {
    let dir = tempfile::tempdir().unwrap();
    let target_dir = dir.path().join("secret");
    let link = dir.path().join("production.token");
    symlink(target_dir.join("token"), &link).unwrap();
    let clock = Clock::virtual_at(START);
    let fake = FakeSource::new(
        clock.clone(),
        ExchangeMode::Renew {
            lifetime_secs: 5000,
        },
    );
    let token = fake.mint("SYSTEM_USER", Some(5000));
    let hook_runs = dir.path().join("hook-runs");
    let mut acct = account(&token, &link, DEFAULT_TOKEN_FILE_MODE);
    acct.on_refresh = Some(vec![
        "sh".into(),
        "-c".into(),
        format!("cat > /dev/null; echo run >> {}", hook_runs.display()),
    ]);
    let options = EngineOptions {
        clock,
        ..EngineOptions::default()
    };
    let (handle, mut events) =
        Engine::start(&settings(dir.path(), vec![acct]), fake.clone(), options);
    let seen = run_for(&mut events, 2).await;
    let alerts: Vec<&String> = seen
        .iter()
        .filter_map(|e| match e {
            EngineEvent::Alert { message, .. } => Some(message),
            _ => None,
        })
        .collect();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert!(
        alerts[0].starts_with("publish to token-file failed (retrying at the next check)"),
        "{alerts:?}"
    );
    assert!(alerts[0].contains("does not exist"), "{alerts:?}");
    assert!(!alerts[0].contains(&token), "token in an alert");
    assert_eq!(token_file_publishes(dir.path()), vec![Outcome::Failed]);
    assert!(!hook_runs.exists(), "writing the token file ran the hook");

    // The projected secret appears: a dangling link is an error, an existing target is not.
    std::fs::create_dir(&target_dir).unwrap();
    std::fs::write(target_dir.join("token"), "").unwrap();
    handle.send(EngineCommand::Recheck {
        account: Some("a".into()),
    });
    run_for(&mut events, 2).await;
    assert_eq!(
        std::fs::read_to_string(target_dir.join("token")).unwrap(),
        format!("{token}\n")
    );
    assert_eq!(mode(&target_dir.join("token")), 0o600);
    assert_eq!(
        token_file_publishes(dir.path()),
        vec![Outcome::Failed, Outcome::Ok]
    );
    assert!(!hook_runs.exists(), "retrying the token file ran the hook");
    let history = std::fs::read_to_string(dir.path().join("history.jsonl")).unwrap();
    assert!(!history.contains(&token), "token in history");
}

/// `tokentop refresh` (the real binary, debug logging) against the simulator: the token file
/// holds the new token with the configured mode, history has its publish row, and neither
/// token is in the output, history or the log files.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_publishes_the_refreshed_token_to_the_token_file_and_nowhere_else() {
    let sim = support::cli::start_sim().await;
    let first = sim
        .handle()
        .mint_token(TokenKind::SystemUser, Some(Duration::from_secs(3600)))
        .access_token;
    let dir = tempfile::tempdir().unwrap();
    let (config, data_dir) = (dir.path().join("config.toml"), dir.path().join("data"));
    let token_file = dir.path().join("run").join("main.token");
    std::fs::create_dir(dir.path().join("run")).unwrap();
    support::cli::write_private(
        &config,
        &format!(
            "[[account]]\nname = \"main\"\napp-id = \"{DEFAULT_APP_ID}\"\n\
             app-secret = \"{DEFAULT_APP_SECRET}\"\naccess-token = \"{first}\"\n\
             token-file = \"{}\"\ntoken-file-mode = \"0640\"\n",
            token_file.display()
        ),
    );
    let output = support::cli::tokentop(
        dir.path(),
        &[
            "--config",
            config.to_str().unwrap(),
            "--data-dir",
            data_dir.to_str().unwrap(),
            "refresh",
        ],
        &[
            ("TOKENTOP_GRAPH_URL", sim.base_url().as_str()),
            ("RUST_LOG", "debug"),
        ],
    )
    .await;
    let all = support::cli::all_text(&output);
    assert_eq!(output.status.code(), Some(0), "{all}");
    let new_token = stored_token_of(&data_dir, "main");
    assert_ne!(new_token, first);
    assert_eq!(
        std::fs::read_to_string(&token_file).unwrap(),
        format!("{new_token}\n")
    );
    assert_eq!(mode(&token_file), 0o640);
    let publishes: Vec<Outcome> = HistoryLog::new(&data_dir)
        .load()
        .unwrap()
        .into_iter()
        .filter(|e| e.cause == Cause::Publish(PublishTarget::TokenFile))
        .map(|e| e.outcome)
        .collect();
    assert_eq!(publishes, vec![Outcome::Ok]);

    let mut sources = vec![
        ("output".to_string(), all),
        (
            "history.jsonl".to_string(),
            std::fs::read_to_string(data_dir.join("history.jsonl")).unwrap(),
        ),
    ];
    let mut log_files = 0;
    for entry in std::fs::read_dir(data_dir.join("logs")).unwrap() {
        let path = entry.unwrap().path();
        sources.push((
            path.display().to_string(),
            std::fs::read_to_string(&path).unwrap(),
        ));
        log_files += 1;
    }
    assert!(log_files > 0, "no log file to check");
    assert!(
        sources
            .iter()
            .skip(2)
            .any(|(_, text)| text.contains("WhatsApp access token refreshed successfully")),
        "the log files do not show the refresh, so the leak check proves little"
    );
    for (label, text) in &sources {
        for secret in [&first, &new_token] {
            // A slice from the middle catches partial leaks that a mask never shows.
            let middle = &secret[8..secret.len() - 8];
            assert!(!text.contains(middle), "a token leaked into {label}");
        }
    }
}
