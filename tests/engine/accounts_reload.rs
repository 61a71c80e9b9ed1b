//! Accounts that come and go (issue 23): a reload read from real files (`[accounts] dir`)
//! adds, removes, changes and skips a broken file while another account's refresh is in
//! flight; nothing else restarts or exchanges, and no token is lost.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use support::fake_source::{ExchangeMode, FakeSource};
use support::{START, run_for};
use tokentop::config::{self, EnvSnapshot, Overrides, Settings};
use tokentop::engine::reload::{AccountsChange, AccountsUpdate};
use tokentop::engine::{
    Clock, Engine, EngineCommand, EngineEvent, EngineHandle, EngineOptions, TokenState,
};
use tokio::sync::mpsc::UnboundedReceiver;

/// Writes `text` to `dir/name`, 0600 (plain secrets are refused in files others can read).
fn write(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// An account file's keys for a fake token.
fn account_file(token: &str, extra: &str) -> String {
    format!(
        "app-id = \"1234\"\napp-secret = \"fake-app-secret\"\naccess-token = \"{token}\"\n{extra}"
    )
}

struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn config(&self) -> std::path::PathBuf {
        self.dir.path().join("config.toml")
    }

    fn accounts_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("accounts.d")
    }

    fn data_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("data")
    }

    fn overrides(&self) -> Overrides {
        Overrides {
            config: Some(self.config()),
            data_dir: Some(self.data_dir()),
            graph_url: None,
        }
    }

    fn load(&self) -> Settings {
        config::load(&self.overrides(), &EnvSnapshot::default()).unwrap()
    }

    /// What the daemon's reload hands the engine.
    fn update(&self) -> AccountsUpdate {
        let settings = self.load();
        AccountsUpdate {
            accounts: settings.accounts,
            invalid_files: settings.account_files.invalid,
            refused: None,
        }
    }
}

fn files(main_token: &str) -> Files {
    let files = Files {
        dir: tempfile::tempdir().unwrap(),
    };
    std::fs::create_dir(files.accounts_dir()).unwrap();
    let config = format!(
        "[accounts]\ndir = \"accounts.d\"\n\n[[account]]\nname = \"main\"\n{}",
        account_file(main_token, "")
    );
    write(files.dir.path(), "config.toml", &config);
    files
}

fn start(
    settings: &Settings,
    fake: &Arc<FakeSource>,
) -> (EngineHandle, UnboundedReceiver<EngineEvent>) {
    let options = EngineOptions {
        clock: fake.clock.clone(),
        ..EngineOptions::default()
    };
    Engine::start(settings, fake.clone(), options)
}

fn refresh_ok(seen: &[EngineEvent], request_id: u64) -> bool {
    seen.iter().any(|e| {
        matches!(e, EngineEvent::RefreshFinished { request_id: id, report } if *id == request_id && report.ok)
    })
}

fn position(seen: &[EngineEvent], found: impl Fn(&EngineEvent) -> bool) -> usize {
    seen.iter()
        .position(found)
        .unwrap_or_else(|| panic!("not among {seen:#?}"))
}

#[tokio::test(start_paused = true)]
async fn a_reload_applies_files_while_another_refresh_is_in_flight() {
    let fake = FakeSource::new(
        Clock::virtual_at(START),
        ExchangeMode::Renew {
            lifetime_secs: 60 * 86_400,
        },
    );
    let token = |account: &str| fake.put(account, START + 60 * 86_400, START);
    let files = files(&token("main"));
    let accounts = files.accounts_dir();
    write(&accounts, "a.toml", &account_file(&token("a"), ""));
    let b_token = token("b");
    write(&accounts, "b.toml", &account_file(&b_token, ""));
    let settings = files.load();
    let (handle, mut events) = start(&settings, &fake);
    run_for(&mut events, 2).await;
    // a and b get stored tokens of their own: one exchange each.
    for (account, request_id) in [("a", 1), ("b", 2)] {
        let account = Some(account.to_string());
        handle.send(EngineCommand::ForceRefresh {
            account,
            request_id,
        });
    }
    let seen = run_for(&mut events, 5).await;
    assert!(refresh_ok(&seen, 1) && refresh_ok(&seen, 2), "{seen:#?}");
    let store = files.data_dir().join("tokens");
    let b_stored = std::fs::read(store.join("b.json")).unwrap();

    // main's refresh takes a minute; the reload is applied meanwhile.
    *fake.exchange_delay.lock().unwrap() = Duration::from_secs(60);
    handle.send(EngineCommand::ForceRefresh {
        account: Some("main".into()),
        request_id: 3,
    });
    std::fs::remove_file(accounts.join("a.toml")).unwrap();
    write(
        &accounts,
        "b.toml",
        &account_file(&b_token, "phone-number-id = \"5550002\"\n"),
    );
    write(&accounts, "c.toml", &account_file(&token("c"), ""));
    write(&accounts, "d.toml", "app-id = \"12x\"\n");
    handle.send(EngineCommand::ApplyAccounts(Box::new(files.update())));
    let seen = run_for(&mut events, 120).await;

    let changed = position(&seen, |e| matches!(e, EngineEvent::AccountsChanged(_)));
    let finished = position(&seen, |e| {
        matches!(e, EngineEvent::RefreshFinished { request_id: 3, .. })
    });
    assert!(changed < finished, "the reload waited for main's refresh");
    assert!(
        refresh_ok(&seen, 3),
        "main's in-flight refresh was lost: {seen:#?}"
    );
    let EngineEvent::AccountsChanged(change) = &seen[changed] else {
        unreachable!()
    };
    let AccountsChange {
        diff,
        accounts: running,
        invalid_files,
        refused,
    } = change.as_ref();
    assert_eq!(
        (&diff.added, &diff.removed, &diff.changed),
        (
            &vec!["c".to_string()],
            &vec!["a".to_string()],
            &vec!["b".to_string()]
        )
    );
    assert_eq!(diff.unchanged, ["main"]);
    assert_eq!(refused, &None);
    let names: Vec<&str> = running.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["main", "b", "c"]);
    assert_eq!(invalid_files.len(), 1);
    assert_eq!(invalid_files[0].path, accounts.join("d.toml"));
    assert_eq!(invalid_files[0].issues[0].line, Some(1));

    // Nothing exchanged because of the reload: a and b once (before), main once (in flight).
    let exchanged = ["main", "a", "b", "c"].map(|name| fake.exchanged(name));
    assert_eq!(exchanged, [1, 1, 1, 0]);
    assert_eq!(fake.exchanges.lock().unwrap().len(), 3);
    // b restarted on its stored token; a's store is left as it was.
    assert_eq!(std::fs::read(store.join("b.json")).unwrap(), b_stored);
    assert!(store.join("a.json").exists());
    let settled = |name: &str| {
        seen.iter().any(|e| matches!(e, EngineEvent::Account(s) if s.name == name && s.settled() && matches!(s.state, TokenState::Valid)))
    };
    assert!(settled("b") && settled("c"), "{seen:#?}");
    // The removed account answers no more.
    handle.send(EngineCommand::ForceRefresh {
        account: Some("a".into()),
        request_id: 4,
    });
    let seen = run_for(&mut events, 2).await;
    let unknown = seen.iter().any(|e| matches!(e, EngineEvent::RefreshFinished { request_id: 4, report } if !report.ok && report.message.contains("no account named \"a\"")));
    assert!(unknown, "{seen:#?}");
    handle.send(EngineCommand::Shutdown);
    let rest = run_for(&mut events, 5).await;
    assert!(rest.iter().any(|e| matches!(e, EngineEvent::Stopped)));
}

#[tokio::test(start_paused = true)]
async fn a_refused_reload_keeps_the_running_accounts() {
    let fake = FakeSource::new(
        Clock::virtual_at(START),
        ExchangeMode::Renew { lifetime_secs: 100 },
    );
    let files = files(&fake.mint("SYSTEM_USER", None));
    let settings = files.load();
    let (handle, mut events) = start(&settings, &fake);
    run_for(&mut events, 2).await;
    let update = AccountsUpdate {
        refused: Some("config.toml:3: bad".into()),
        ..AccountsUpdate::default()
    };
    handle.send(EngineCommand::ApplyAccounts(Box::new(update)));
    let seen = run_for(&mut events, 2).await;
    let change = seen
        .iter()
        .find_map(|e| match e {
            EngineEvent::AccountsChanged(change) => Some(change.clone()),
            _ => None,
        })
        .unwrap();
    assert!(change.diff.is_empty());
    assert_eq!(change.accounts.len(), 1);
    assert!(change.summary().contains("kept"), "{}", change.summary());
    handle.send(EngineCommand::Recheck {
        account: Some("main".into()),
    });
    let seen = run_for(&mut events, 2).await;
    assert!(
        seen.iter()
            .any(|e| matches!(e, EngineEvent::Account(s) if s.name == "main"))
    );
}
