//! Helpers for the Graph API proxy tests: the real `tokentop daemon` with `[proxy] listen`,
//! pointed at an in-process simulator, with the address it logs, its stderr and its data dir.

use std::path::{Path, PathBuf};

use std::time::Duration;

use tokentop::sim::RunningSim;
use tokio::process::Child;
use tokio::time::Instant;

/// How often a condition is looked at while waiting for it.
pub const POLL: Duration = Duration::from_millis(100);
/// Longest wait for anything that has no deadline of its own.
pub const PATIENCE: Duration = Duration::from_secs(60);

pub const PHONE_ID: &str = "106540352242922";

/// Where the proxy listens, as it logged it.
#[derive(Debug, Clone)]
pub enum ProxyAddr {
    /// `http://127.0.0.1:PORT`
    Http(String),
    Unix(PathBuf),
}

/// `tokentop daemon` in its own HOME, data dir and config, killed when dropped.
pub struct ProxyDaemon {
    pub addr: ProxyAddr,
    child: Child,
    pub dir: tempfile::TempDir,
}

/// One `[[account]]` named `main` for the simulator's app, with `extra` lines, after
/// `[proxy]` lines `proxy` and `[refresh]` lines `refresh`.
pub fn config(proxy: &str, refresh: &str, app_secret: &str, account: &str) -> String {
    format!(
        "[refresh]\n{refresh}\n\n[proxy]\n{proxy}\n\n[[account]]\nname = \"main\"\n\
         app-id = \"{}\"\napp-secret = \"{app_secret}\"\nphone-number-id = \"{PHONE_ID}\"\n{account}\n",
        tokentop::sim::DEFAULT_APP_ID
    )
}

impl ProxyDaemon {
    /// Starts the daemon with `config` (written 0600) and waits until the proxy listens.
    pub async fn start(sim: &RunningSim, config: &str, env: &[(&str, &str)]) -> ProxyDaemon {
        let dir = tempfile::tempdir().unwrap();
        Self::start_in(dir, sim, config, env).await
    }

    /// As [`ProxyDaemon::start`], with `graph_url` as the Graph API's base instead of the
    /// simulator's (for a host reached through an HTTP proxy named in `env`).
    pub async fn start_with_graph_url(
        graph_url: &str,
        config: &str,
        env: &[(&str, &str)],
    ) -> ProxyDaemon {
        let dir = tempfile::tempdir().unwrap();
        let child = super::cli::spawn_in(dir.path(), config, graph_url, &["daemon"], env);
        let addr = wait_for_proxy(&dir.path().join("daemon.err")).await;
        ProxyDaemon { addr, child, dir }
    }

    /// As [`ProxyDaemon::start`], in a directory the caller prepared (for `unix:` paths).
    pub async fn start_in(
        dir: tempfile::TempDir,
        sim: &RunningSim,
        config: &str,
        env: &[(&str, &str)],
    ) -> ProxyDaemon {
        let child = super::cli::spawn_in(dir.path(), config, &sim.base_url(), &["daemon"], env);
        let stderr = dir.path().join("daemon.err");
        let addr = wait_for_proxy(&stderr).await;
        ProxyDaemon { addr, child, dir }
    }

    /// `http://ADDR` of a TCP proxy.
    pub fn url(&self) -> &str {
        match &self.addr {
            ProxyAddr::Http(url) => url,
            ProxyAddr::Unix(path) => panic!("the proxy listens on {}", path.display()),
        }
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("daemon.err")).unwrap_or_default()
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("config.toml")
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Every file under the data dir (history, state, logs) with its text, lossily.
    pub fn data_files(&self) -> Vec<(PathBuf, String)> {
        files_under(&self.data_dir())
    }

    /// Waits (at most a minute) until the daemon's stderr holds `needle`.
    pub async fn wait_for_log(&self, needle: &str) {
        let deadline = Instant::now() + PATIENCE;
        while !self.stderr().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "waited {PATIENCE:?} for {needle:?} in the daemon's stderr:\n{}",
                self.stderr()
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// SIGTERM, and the exit code must be 0. Returns the directory (stderr in `daemon.err`,
    /// data dir in `data`) for a look at what was left.
    pub async fn stop(mut self) -> tempfile::TempDir {
        let pid = self.child.id().unwrap();
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("daemon did not stop within 30 s of SIGTERM")
            .unwrap();
        assert_eq!(status.code(), Some(0), "{}", self.stderr());
        self.dir
    }
}

/// Every file under `dir` with its text, lossily.
pub fn files_under(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut found = Vec::new();
    collect(dir, &mut found);
    found
}

fn collect(dir: &Path, found: &mut Vec<(PathBuf, String)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, found);
        } else if let Ok(bytes) = std::fs::read(&path) {
            found.push((path, String::from_utf8_lossy(&bytes).into_owned()));
        }
    }
}

/// The address the proxy logs once it listens: `Graph API proxy on http://ADDR` or `on unix:PATH`.
async fn wait_for_proxy(stderr: &Path) -> ProxyAddr {
    const MARK: &str = "Graph API proxy on ";
    let deadline = Instant::now() + PATIENCE;
    loop {
        let text = std::fs::read_to_string(stderr).unwrap_or_default();
        let found = text
            .lines()
            .find_map(|line| line.split(MARK).nth(1))
            .and_then(|rest| rest.split_whitespace().next())
            .map(|addr| match addr.strip_prefix("unix:") {
                Some(path) => ProxyAddr::Unix(PathBuf::from(path)),
                None => ProxyAddr::Http(addr.to_string()),
            });
        if let Some(addr) = found {
            return addr;
        }
        assert!(
            Instant::now() < deadline,
            "the daemon never said where the proxy listens:\n{text}"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// Waits (at most `within`) until `check` holds, polling.
pub async fn wait_until(what: &str, within: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check() {
        assert!(Instant::now() < deadline, "waited {within:?} for {what}");
        tokio::time::sleep(POLL).await;
    }
}

/// A raw HTTP/1.1 request over a Unix socket (reqwest has no Unix transport): status, headers
/// (lowercased names) and body. `Connection: close`, so the body ends with the stream.
pub async fn unix_request(
    socket: &Path,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::UnixStream::connect(socket).await.unwrap();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut raw))
        .await
        .expect("no answer over the Unix socket within 30 s")
        .unwrap();
    let split = memchr_crlf2(&raw).expect("no end of headers in the answer");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {head:?}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(name, value)| name == "transfer-encoding" && value.contains("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    (status, headers, body)
}

fn memchr_crlf2(raw: &[u8]) -> Option<usize> {
    raw.windows(4).position(|w| w == b"\r\n\r\n")
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = raw.windows(2).position(|w| w == b"\r\n").unwrap();
        let size_text = String::from_utf8_lossy(&raw[..line_end]).into_owned();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap();
        raw = &raw[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&raw[..size]);
        raw = &raw[size + 2..];
    }
}
