#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The daemon's own log output and its log sources, through the real binary: no colour
//! escapes when stderr is a file, `--log-format json`, and a FIFO source that must neither
//! block shutdown nor go unexplained.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokentop::sim::{DEFAULT_APP_ID, DEFAULT_APP_SECRET, RunningSim, SimConfig, TokenKind};
use tokio::process::{Child, Command};

/// Generous: the machine running the tests may be busy; a hang still fails.
const DEADLINE: Duration = Duration::from_secs(30);

struct Install {
    dir: tempfile::TempDir,
    _sim: RunningSim,
    graph_url: String,
}

impl Install {
    /// A one-account config on a fresh simulator, with the given extra config text.
    async fn new(extra: impl FnOnce(&Path) -> String) -> Self {
        let sim = RunningSim::start(SimConfig::default(), "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let token = sim
            .handle()
            .mint_token(TokenKind::SystemUser, None)
            .access_token;
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "[[account]]\nname = \"main\"\napp-id = \"{DEFAULT_APP_ID}\"\n\
             app-secret = \"{DEFAULT_APP_SECRET}\"\naccess-token = \"{token}\"\n\n{}",
            extra(dir.path())
        );
        let config = dir.path().join("config.toml");
        std::fs::write(&config, text).unwrap();
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
        let graph_url = sim.base_url();
        Self {
            dir,
            _sim: sim,
            graph_url,
        }
    }

    fn stderr_path(&self) -> PathBuf {
        self.dir.path().join("daemon.err")
    }

    /// `tokentop daemon` with stderr going to a file, as under systemd or `2>file`.
    fn spawn_daemon(&self, args: &[&str]) -> Child {
        Command::new(env!("CARGO_BIN_EXE_tokentop"))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .arg("--config")
            .arg(self.dir.path().join("config.toml"))
            .arg("--data-dir")
            .arg(self.dir.path().join("data"))
            .arg("--graph-url")
            .arg(&self.graph_url)
            .arg("daemon")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.stderr_path()).unwrap())
            .kill_on_drop(true)
            .spawn()
            .unwrap()
    }

    /// Polls the stderr file until it contains `text`; panics with it at the deadline.
    async fn wait_for_stderr(&self, text: &str) -> String {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let seen = std::fs::read_to_string(self.stderr_path()).unwrap_or_default();
            if seen.contains(text) {
                return seen;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "stderr never contained {text:?}:\n{seen}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// SIGTERM, then a bounded wait for the exit code.
async fn terminate(child: &mut Child) -> Option<i32> {
    let pid = child.id().unwrap();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let status = tokio::time::timeout(DEADLINE, child.wait())
        .await
        .expect("daemon did not exit within 30 s of SIGTERM")
        .unwrap();
    status.code()
}

fn fifo_config(dir: &Path) -> String {
    let fifo = dir.join("app.fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    format!("[[log]]\nname = \"pipe\"\nfile = \"{}\"\n", fifo.display())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifo_source_is_refused_with_a_reason_and_does_not_hold_up_shutdown() {
    let install = Install::new(fifo_config).await;
    let mut daemon = install.spawn_daemon(&[]);
    let seen = install.wait_for_stderr("not a regular file").await;
    assert!(
        seen.contains("app.fifo") && seen.contains("FIFO"),
        "the message names the path and what it is:\n{seen}"
    );
    assert_eq!(terminate(&mut daemon).await, Some(0));
    let seen = std::fs::read_to_string(install.stderr_path()).unwrap();
    assert!(seen.contains("tokentop daemon stopped"), "{seen}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stderr_to_a_file_has_no_colour_escapes() {
    let install = Install::new(|_| String::new()).await;
    let mut daemon = install.spawn_daemon(&[]);
    install.wait_for_stderr("tokentop daemon started").await;
    assert_eq!(terminate(&mut daemon).await, Some(0));
    let bytes = std::fs::read(install.stderr_path()).unwrap();
    assert!(
        !bytes.contains(&0x1b),
        "ESC in stderr:\n{}",
        String::from_utf8_lossy(&bytes)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_format_json_writes_one_object_per_line_with_the_same_fields() {
    let install = Install::new(|_| String::new()).await;
    let mut daemon = install.spawn_daemon(&["--log-format", "json"]);
    install.wait_for_stderr("tokentop daemon started").await;
    assert_eq!(terminate(&mut daemon).await, Some(0));
    let text = std::fs::read_to_string(install.stderr_path()).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect();
    let started = lines
        .iter()
        .find(|l| l["message"] == "tokentop daemon started")
        .unwrap_or_else(|| panic!("no start line in {text}"));
    assert_eq!(started["level"], "INFO", "{started}");
    assert_eq!(started["accounts"], 1, "{started}");
    assert!(started["timestamp"].is_string(), "{started}");
    assert!(
        lines
            .iter()
            .any(|l| l["message"] == "tokentop daemon stopped"),
        "{text}"
    );
}

#[tokio::test]
async fn an_unknown_log_format_names_the_allowed_ones() {
    let output = Command::new(env!("CARGO_BIN_EXE_tokentop"))
        .args(["daemon", "--log-format", "xml"])
        .env_clear()
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("text") && stderr.contains("json"),
        "{stderr}"
    );
}

/// Someone who can write to `<data>/logs/` plants a symlink at today's log file: the daemon
/// must not append to its target, and must say why it writes no log file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_symlink_planted_at_the_log_file_is_not_followed() {
    let install = Install::new(|_| String::new()).await;
    let victim = install.dir.path().join("victim");
    std::fs::write(&victim, "precious\n").unwrap();
    let logs = install.dir.path().join("data").join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let today = chrono::Utc::now().format("%Y-%m-%d");
    std::os::unix::fs::symlink(&victim, logs.join(format!("tokentop.log.{today}"))).unwrap();
    let mut daemon = install.spawn_daemon(&[]);
    install.wait_for_stderr("is a symlink").await;
    assert_eq!(terminate(&mut daemon).await, Some(0));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
}
