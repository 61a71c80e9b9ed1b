//! A stand-in for systemd's notification socket: a Unix datagram socket in a temp dir that
//! keeps every line the daemon sends (`READY=1`, `STATUS=...`) with the time it came.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::UnixDatagram;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// How often the lines are looked at while waiting for one.
const POLL: Duration = Duration::from_millis(50);

pub struct NotifySocket {
    path: PathBuf,
    lines: Arc<Mutex<Vec<(Instant, String)>>>,
    task: JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl NotifySocket {
    pub fn bind() -> NotifySocket {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let socket = UnixDatagram::bind(&path).unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let task = tokio::spawn(receive(socket, lines.clone()));
        NotifySocket {
            path,
            lines,
            task,
            _dir: dir,
        }
    }

    /// For `$NOTIFY_SOCKET`.
    pub fn path(&self) -> &str {
        self.path.to_str().unwrap()
    }

    /// Every line so far, with when it came.
    pub fn lines(&self) -> Vec<(Instant, String)> {
        self.lines.lock().unwrap().clone()
    }

    /// When `line` first came, if it did.
    pub fn first(&self, line: &str) -> Option<Instant> {
        self.lines()
            .into_iter()
            .find_map(|(at, seen)| (seen == line).then_some(at))
    }

    /// How many times `line` came within `from..=to`.
    pub fn count(&self, line: &str, from: Instant, to: Instant) -> usize {
        self.lines()
            .iter()
            .filter(|(at, seen)| seen == line && *at >= from && *at <= to)
            .count()
    }

    /// Waits (at most `within`) for `line`; returns when it first came.
    pub async fn wait_for(&self, line: &str, within: Duration) -> Instant {
        let deadline = Instant::now() + within;
        loop {
            if let Some(at) = self.first(line) {
                return at;
            }
            assert!(
                Instant::now() < deadline,
                "no {line} within {within:?}; the daemon sent: {:#?}",
                self.texts()
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// The lines without their times, for failure messages.
    pub fn texts(&self) -> Vec<String> {
        self.lines().into_iter().map(|(_, line)| line).collect()
    }
}

impl Drop for NotifySocket {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn receive(socket: UnixDatagram, lines: Arc<Mutex<Vec<(Instant, String)>>>) {
    let mut buf = vec![0u8; 4096];
    while let Ok(n) = socket.recv(&mut buf).await {
        let at = Instant::now();
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        let mut lines = lines.lock().unwrap();
        lines.extend(text.lines().map(|line| (at, line.to_string())));
    }
}
