//! `deploy/systemd/tokentop.service` and the daemon's side of `Type=notify`:
//! `systemd-analyze verify` is clean and `systemd-analyze security` scores the unit 2.0 or
//! lower; the real daemon against the simulator sends READY=1 once the first inspections are
//! done (not before, with a slow Meta), WATCHDOG=1 while its engine answers, and STOPPING=1
//! on SIGTERM. `scripts/test` installs Debian's `systemd` package for `systemd-analyze`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use support::notify::NotifySocket;
use support::serve::Daemon;
use tokentop::sim::{DEFAULT_APP_ID, DEFAULT_APP_SECRET, Faults, RunningSim, SimConfig, TokenKind};
use tokio::time::Instant;

const UNIT: &str = include_str!("../../deploy/systemd/tokentop.service");
const SCRAPE_TOKEN: &str = "scrape-token-for-the-systemd-tests";
/// The highest exposure `systemd-analyze security` may give the unit ("OK" goes up to 3.9;
/// the issue asks for 2.0).
const MAX_EXPOSURE: f64 = 2.0;

fn systemd_analyze() -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join("systemd-analyze"))
                .find(|path| path.is_file())
        })
        .unwrap_or_else(|| {
            panic!("systemd-analyze not found: run scripts/test, which installs Debian's systemd package")
        })
}

/// The unit as shipped, but starting the binary under test (verify needs it to exist).
fn unit_for_this_build(dir: &Path) -> PathBuf {
    let exec = format!("ExecStart={} daemon", env!("CARGO_BIN_EXE_tokentop"));
    assert!(UNIT.contains("ExecStart=/usr/bin/tokentop daemon\n"));
    let path = dir.join("tokentop.service");
    std::fs::write(
        &path,
        UNIT.replace("ExecStart=/usr/bin/tokentop daemon", &exec),
    )
    .unwrap();
    path
}

/// `tokentop man` installed in a man tree of `dir`, so verify's check of
/// `Documentation=man:tokentop(1)` finds the page the Debian package installs.
fn man_tree(dir: &Path) -> PathBuf {
    let output = Command::new(env!("CARGO_BIN_EXE_tokentop"))
        .arg("man")
        .output()
        .unwrap();
    assert!(output.status.success());
    let man1 = dir.join("man").join("man1");
    std::fs::create_dir_all(&man1).unwrap();
    std::fs::write(man1.join("tokentop.1"), output.stdout).unwrap();
    dir.join("man")
}

#[test]
fn systemd_analyze_verify_is_clean() {
    let dir = tempfile::tempdir().unwrap();
    let unit = unit_for_this_build(dir.path());
    let output = Command::new(systemd_analyze())
        .arg("verify")
        .arg(&unit)
        .env("MANPATH", man_tree(dir.path()))
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success() && said.trim().is_empty(),
        "systemd-analyze verify {}: {said}",
        unit.display()
    );
}

#[test]
fn systemd_analyze_security_scores_the_unit_ok() {
    let output = Command::new(systemd_analyze())
        .args(["security", "--offline=true", "--no-pager"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/systemd/tokentop.service"))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let score: f64 = said
        .lines()
        .find_map(|line| {
            line.split("Overall exposure level for tokentop.service: ")
                .nth(1)
        })
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|number| number.parse().ok())
        .unwrap_or_else(|| panic!("no overall exposure level in:\n{said}"));
    assert!(
        score <= MAX_EXPOSURE,
        "exposure {score} > {MAX_EXPOSURE}:\n{said}"
    );
}

async fn start_sim() -> RunningSim {
    tokentop::graph::install_tls_provider();
    RunningSim::start(SimConfig::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

/// Two accounts on the simulator's app, inspected hourly.
fn config(sim: &RunningSim) -> String {
    let account = |name: &str| {
        let token = sim
            .handle()
            .mint_token(TokenKind::SystemUser, None)
            .access_token;
        format!(
            "[[account]]\nname = \"{name}\"\napp-id = \"{DEFAULT_APP_ID}\"\n\
             app-secret = \"{DEFAULT_APP_SECRET}\"\naccess-token = \"{token}\"\n\n"
        )
    };
    format!(
        "[refresh]\ncheck-interval = \"1h\"\n\n[serve]\nbearer-token = {{ env = \"TT_SCRAPE_TOKEN\" }}\n\n{}{}",
        account("first"),
        account("second")
    )
}

async fn start_daemon(sim: &RunningSim, notify: &NotifySocket) -> Daemon {
    let env = [
        ("NOTIFY_SOCKET", notify.path()),
        ("WATCHDOG_USEC", "1000000"),
        ("TT_SCRAPE_TOKEN", SCRAPE_TOKEN),
    ];
    Daemon::start(sim, &config(sim), &env).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_after_the_first_inspections_then_watchdog_pings_then_stopping_on_sigterm() {
    let sim = start_sim().await;
    let notify = NotifySocket::bind();
    let daemon = start_daemon(&sim, &notify).await;
    notify.wait_for("READY=1", Duration::from_secs(60)).await;
    // The /readyz monitor sees each event before the daemon's loop: it must agree.
    assert_eq!(
        daemon.get("/readyz", None).await.0,
        200,
        "{}",
        daemon.stderr()
    );
    let lines = notify.texts();
    assert!(
        lines.contains(&"STATUS=watching 2 accounts, all inspected".to_string()),
        "{lines:#?}"
    );

    let from = Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let pings = notify.count("WATCHDOG=1", from, Instant::now());
    assert!(
        pings >= 3,
        "{pings} WATCHDOG=1 in 3 s at WATCHDOG_USEC=1000000"
    );

    assert!(notify.first("STOPPING=1").is_none());
    daemon.stop().await;
    notify.wait_for("STOPPING=1", Duration::from_secs(5)).await;
    assert_eq!(notify.texts().iter().filter(|l| *l == "READY=1").count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_slow_meta_ready_waits_for_the_inspections_while_the_watchdog_keeps_going() {
    let sim = start_sim().await;
    sim.handle().set_faults(Faults {
        latency_ms: 3000,
        ..Faults::default()
    });
    let notify = NotifySocket::bind();
    let started = Instant::now();
    let daemon = start_daemon(&sim, &notify).await;
    let ready = notify.wait_for("READY=1", Duration::from_secs(60)).await;
    assert!(
        ready - started >= Duration::from_secs(3),
        "READY=1 after {:?}, before any Graph answer (3 s each) could come: {:#?}",
        ready - started,
        notify.texts()
    );
    assert_eq!(
        daemon.get("/readyz", None).await.0,
        200,
        "{}",
        daemon.stderr()
    );
    let lines = notify.texts();
    let inspecting = lines
        .iter()
        .position(|l| l == "STATUS=inspecting 2 accounts: 0 of 2 done");
    let ready_at = lines.iter().position(|l| l == "READY=1");
    assert!(inspecting < ready_at && inspecting.is_some(), "{lines:#?}");
    // The engine's router answers while its accounts wait for Meta.
    let watchdog = notify.first("WATCHDOG=1").expect("no WATCHDOG=1 at all");
    assert!(watchdog < ready, "{lines:#?}");
    daemon.stop().await;
}
