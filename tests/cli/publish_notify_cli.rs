//! `on-publish-signal` and `on-publish-restart` through the real binary: run after every
//! other target took the token, in order, never while one failed.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use crate::support::cli::{all_text, start_sim, tokentop, write_private};
use crate::support::wait_until;
use tokentop::engine::history::cause::{Cause, PublishTarget};
use tokentop::engine::history::{HistoryLog, Outcome};
use tokentop::sim::{DEFAULT_APP_ID, DEFAULT_APP_SECRET, TokenKind};

fn write_script(path: &Path, body: &str) {
    std::fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// The publish rows of history, in order: (target, outcome).
fn publish_rows(data: &Path) -> Vec<(PublishTarget, Outcome)> {
    HistoryLog::new(data)
        .load()
        .unwrap()
        .into_iter()
        .filter_map(|row| match row.cause {
            Cause::Publish(target) => Some((target, row.outcome)),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signal_and_restart_run_in_order_after_every_target_and_not_when_one_failed() {
    let sim = start_sim().await;
    let home = tempfile::tempdir().unwrap();
    let dir = home.path();
    let (app_log, systemctl_log, mark) = (
        dir.join("app.log"),
        dir.join("systemctl.log"),
        dir.join("mark"),
    );
    // The application: rereads its token on HUP (here: notes it).
    let pid_file = dir.join("app.pid");
    let mut app = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "trap 'echo reread >> {}' HUP; echo $$ > {}; while :; do sleep 0.1; done",
            app_log.display(),
            pid_file.display()
        ))
        .spawn()
        .unwrap();
    wait_until(
        "the application's pid file",
        Duration::from_secs(10),
        async || {
            std::fs::read_to_string(&pid_file)
                .ok()
                .filter(|t| t.ends_with('\n'))
        },
    )
    .await;
    // systemd, as far as tokentop can tell: the `systemctl` first on its PATH.
    let bin = dir.join("bin");
    std::fs::create_dir(&bin).unwrap();
    write_script(
        &bin.join("systemctl"),
        &format!("echo \"$*\" >> {}", systemctl_log.display()),
    );
    let hook = dir.join("hook");
    write_script(
        &hook,
        &format!(
            "cat > /dev/null; if [ -f {m} ]; then exit 0; fi; touch {m}; echo 'vault sealed' >&2; exit 1",
            m = mark.display()
        ),
    );
    let token = sim
        .handle()
        .mint_token(TokenKind::SystemUser, Some(Duration::from_secs(3600)))
        .access_token;
    let config = dir.join("config.toml");
    write_private(
        &config,
        &format!(
            "[[account]]\nname = \"main\"\napp-id = \"{DEFAULT_APP_ID}\"\n\
             app-secret = \"{DEFAULT_APP_SECRET}\"\naccess-token = \"{token}\"\n\
             env-file = \"{env}\"\non-refresh = [\"{hook}\"]\n\
             on-publish-signal = {{ pid-file = \"{pid}\", signal = \"HUP\" }}\n\
             on-publish-restart = \"systemd:app.service\"\n",
            env = dir.join("app.env").display(),
            hook = hook.display(),
            pid = pid_file.display(),
        ),
    );
    let data = dir.join("data");
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let args = [
        "--config",
        config.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
        "--graph-url",
        &sim.base_url(),
        "refresh",
    ];

    // The hook fails: the application is not told to reread a token that is not everywhere.
    let first = tokentop(dir, &args, &[("PATH", &path)]).await;
    assert!(!first.status.success(), "{}", all_text(&first));
    let rows = publish_rows(&data);
    assert_eq!(
        rows,
        [
            (PublishTarget::EnvFile, Outcome::Ok),
            (PublishTarget::OnRefresh, Outcome::Failed)
        ],
        "{}",
        all_text(&first)
    );
    assert!(!systemctl_log.exists());

    // Every target takes the next token: then the signal, then the restart.
    let second = tokentop(dir, &args, &[("PATH", &path)]).await;
    assert!(second.status.success(), "{}", all_text(&second));
    let rows = publish_rows(&data);
    assert_eq!(
        rows[2..],
        [
            (PublishTarget::EnvFile, Outcome::Ok),
            (PublishTarget::OnRefresh, Outcome::Ok),
            (PublishTarget::Signal, Outcome::Ok),
            (PublishTarget::Restart, Outcome::Ok),
        ],
        "{}",
        all_text(&second)
    );
    assert_eq!(
        std::fs::read_to_string(&systemctl_log).unwrap(),
        "try-reload-or-restart app.service\n"
    );
    wait_until(
        "the application's reread",
        Duration::from_secs(10),
        async || {
            std::fs::read_to_string(&app_log)
                .ok()
                .filter(|t| t == "reread\n")
        },
    )
    .await;
    let history = HistoryLog::new(&data).load().unwrap();
    let signal_row = history
        .iter()
        .find(|row| row.cause == Cause::Publish(PublishTarget::Signal))
        .unwrap();
    let detail = signal_row.detail.as_deref().unwrap_or_default();
    assert!(detail.starts_with("sent HUP to pid"), "{detail}");
    let _ = app.kill();
    let _ = app.wait();
}
