//! The real binary in a real terminal: `tokentop demo` in tmux, read with capture-pane.
//!
//! Needs tmux (on the base machine; `.ci/run` installs it when missing).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;
use std::time::{Duration, Instant};

/// A private tmux server (its own socket), killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn start(width: u16, height: u16, command: &str) -> Tmux {
        // One server per test: the tests of this file run in parallel in one process.
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let socket = format!("tokentop-smoke-{}-{n}", std::process::id());
        let tmux = Tmux { socket };
        let status = tmux
            .cmd(&[
                "new-session",
                "-d",
                "-s",
                "smoke",
                "-x",
                &width.to_string(),
                "-y",
                &height.to_string(),
            ])
            .args([
                "env",
                "-i",
                "PATH=/usr/bin:/bin",
                "TERM=xterm-256color",
                "PS1=SMOKE-PROMPT$ ",
            ])
            .args(["bash", "--norc", "--noprofile", "-i"])
            .status()
            .expect("tmux is needed for this test (apt-get install tmux)");
        assert!(status.success());
        tmux.wait_for("shell prompt", |s| s.contains("SMOKE-PROMPT$"));
        tmux.keys(&[command, "Enter"]);
        tmux
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut command = Command::new("tmux");
        command.args(["-L", &self.socket]).args(args);
        command
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "smoke"];
        args.extend_from_slice(keys);
        assert!(self.cmd(&args).status().unwrap().success());
    }

    fn screen(&self) -> String {
        let out = self
            .cmd(&["capture-pane", "-p", "-t", "smoke"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn alternate_screen_on(&self) -> bool {
        let out = self
            .cmd(&["display-message", "-p", "-t", "smoke", "#{alternate_on}"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim() == "1"
    }

    /// Polls the screen (bounded) until `ready` holds; returns that screen.
    fn wait_for(&self, what: &str, ready: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let screen = self.screen();
            if ready(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "no {what} within 30 s; screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]).status();
    }
}

fn access_line(screen: &str) -> String {
    screen
        .lines()
        .find(|l| l.contains("ACCESS TOKEN"))
        .unwrap_or_default()
        .to_string()
}

#[test]
fn demo_runs_in_a_real_terminal_and_restores_it_on_quit() {
    let binary = env!("CARGO_BIN_EXE_tokentop");
    let tmux = Tmux::start(120, 40, &format!("{binary} demo"));
    let first = tmux.wait_for("dashboard", |s| {
        s.contains("ACCESS TOKEN") && s.contains("production")
    });
    assert!(
        tmux.alternate_screen_on(),
        "the dashboard draws on the alternate screen"
    );
    // The countdown ticks: the access-token line changes within a few seconds.
    let before = access_line(&first);
    tmux.wait_for("countdown change", |s| {
        let now = access_line(s);
        !now.is_empty() && now != before
    });
    tmux.keys(&["?"]);
    tmux.wait_for("help overlay", |s| {
        s.contains("force a refresh") && s.contains("config")
    });
    tmux.keys(&["Escape"]);
    tmux.wait_for("help closed", |s| !s.contains("force a refresh"));
    tmux.keys(&["q"]);
    let after = tmux.wait_for("shell prompt after quit", |s| {
        !s.contains("ACCESS TOKEN") && s.trim_end().ends_with("SMOKE-PROMPT$")
    });
    assert!(
        !tmux.alternate_screen_on(),
        "alternate screen left on:\n{after}"
    );
    // The terminal is usable again: echo works and is visible (raw mode is off).
    tmux.keys(&["echo smoke-$((40+2))", "Enter"]);
    tmux.wait_for("echo output", |s| s.contains("smoke-42"));
}

/// `GET path` over plain HTTP/1.0: status line and body.
fn http_get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn the_dashboard_serves_metrics_with_listen() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let binary = env!("CARGO_BIN_EXE_tokentop");
    let tmux = Tmux::start(120, 40, &format!("{binary} demo --listen 127.0.0.1:{port}"));
    tmux.wait_for("dashboard", |s| {
        s.contains("ACCESS TOKEN") && s.contains("production")
    });
    let health = http_get(port, "/healthz");
    assert!(health.starts_with("HTTP/1.0 200"), "{health}");
    let metrics = http_get(port, "/metrics");
    assert!(metrics.starts_with("HTTP/1.0 200"), "{metrics}");
    for account in ["production", "marketing", "legacy"] {
        let state = format!("tokentop_token_state{{account=\"{account}\",state=");
        assert!(
            metrics.contains(&state),
            "no state of {account}:\n{metrics}"
        );
    }
    // The dashboard still draws and quits as usual.
    tmux.keys(&["q"]);
    tmux.wait_for("shell prompt after quit", |s| {
        !s.contains("ACCESS TOKEN") && s.trim_end().ends_with("SMOKE-PROMPT$")
    });
}

/// A directory of more account files than the first frame reads: the dashboard lists the
/// first screenful at once, then every valid file (a broken one among the later files is
/// skipped, not fatal) and goes live.
#[test]
fn a_large_accounts_dir_is_listed_whole_after_the_first_frame() {
    let dir = tempfile::tempdir().unwrap();
    let accounts = dir.path().join("accounts.d");
    std::fs::create_dir(&accounts).unwrap();
    for i in 0..300 {
        let text = format!(
            "app-id = \"1\"\napp-secret = \"s{i}\"\naccess-token = \"EAAGtoken{i:04}x9Qf\"\n"
        );
        std::fs::write(accounts.join(format!("acct{i:03}.toml")), text).unwrap();
    }
    std::fs::write(accounts.join("acct290b.toml"), "app-id = [").unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "[accounts]\ndir = \"accounts.d\"\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    for entry in std::fs::read_dir(&accounts).unwrap() {
        let private = std::fs::Permissions::from_mode(0o600);
        std::fs::set_permissions(entry.unwrap().path(), private).unwrap();
    }
    let binary = env!("CARGO_BIN_EXE_tokentop");
    let data = dir.path().join("data");
    let tmux = Tmux::start(
        120,
        40,
        &format!(
            "{binary} --config {} --data-dir {} --graph-url http://127.0.0.1:9 watch",
            config.display(),
            data.display()
        ),
    );
    let screen = tmux.wait_for("every account file read", |s| {
        s.contains(" 300 accounts") && s.contains("● live")
    });
    assert!(!screen.contains("reading"), "{screen}");
    assert!(screen.contains("acct000"), "{screen}");
    tmux.keys(&["q"]);
    tmux.wait_for("shell prompt after quit", |s| {
        s.trim_end().ends_with("SMOKE-PROMPT$")
    });
}
