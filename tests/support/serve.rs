//! Helpers for the `/metrics` tests: the real daemon with `--listen`, a real Prometheus
//! server scraping it, and `promtool check metrics`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokentop::sim::RunningSim;
use tokio::process::{Child, Command};
use tokio::time::Instant;

/// How often a condition is looked at while waiting for it.
const POLL: Duration = Duration::from_millis(200);
/// Longest wait for anything that has no deadline of its own.
const PATIENCE: Duration = Duration::from_secs(60);

/// `tokentop daemon --listen 127.0.0.1:0` in its own HOME, data dir and config.
pub struct Daemon {
    pub addr: SocketAddr,
    child: Child,
    dir: tempfile::TempDir,
    http: reqwest::Client,
}

impl Daemon {
    pub async fn start(sim: &RunningSim, config: &str, env: &[(&str, &str)]) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        let args = ["daemon", "--listen", "127.0.0.1:0"];
        let child = super::cli::spawn_in(dir.path(), config, &sim.base_url(), &args, env);
        let stderr = dir.path().join("daemon.err");
        let addr = wait_for_address(&stderr).await;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        Daemon {
            addr,
            child,
            dir,
            http,
        }
    }

    /// The daemon's HOME, which holds its config (paths in it are relative to it) and data.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("daemon.err")).unwrap_or_default()
    }

    /// Status and body of `GET path`, with `Authorization: Bearer <bearer>` when given.
    pub async fn get(&self, path: &str, bearer: Option<&str>) -> (u16, String) {
        self.get_accepting(path, bearer, None).await
    }

    async fn get_accepting(
        &self,
        path: &str,
        bearer: Option<&str>,
        accept: Option<&str>,
    ) -> (u16, String) {
        let mut request = self.http.get(format!("http://{}{path}", self.addr));
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        if let Some(accept) = accept {
            request = request.header("accept", accept);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    }

    /// A scrape in the Prometheus text format; panics unless it is a 200.
    pub async fn metrics(&self, bearer: &str) -> String {
        let (status, body) = self.get("/metrics", Some(bearer)).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// A scrape asked for with `Accept-Encoding: gzip`; panics unless it came compressed.
    pub async fn metrics_gzip(&self, bearer: &str) -> String {
        let response = self
            .http
            .get(format!("http://{}/metrics", self.addr))
            .bearer_auth(bearer)
            .header("accept-encoding", "gzip")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(
            response
                .headers()
                .get("content-encoding")
                .map(|v| v.to_str().unwrap()),
            Some("gzip")
        );
        let bytes = response.bytes().await.unwrap();
        let mut text = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut text)
            .unwrap();
        text
    }

    /// A scrape in OpenMetrics, as Prometheus asks for it.
    pub async fn metrics_openmetrics(&self, bearer: &str) -> String {
        let accept = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5";
        let (status, body) = self
            .get_accepting("/metrics", Some(bearer), Some(accept))
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// Waits (at most a minute) until `check` holds.
    pub async fn wait_for(&self, what: &str, check: impl AsyncFn(&Daemon) -> bool) {
        let deadline = Instant::now() + PATIENCE;
        while !check(self).await {
            assert!(
                Instant::now() < deadline,
                "waited {PATIENCE:?} for {what}; daemon stderr:\n{}",
                self.stderr()
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// SIGTERM, and the exit code must be 0.
    pub async fn stop(mut self) {
        let pid = self.child.id().unwrap();
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("daemon did not stop within 30 s of SIGTERM")
            .unwrap();
        assert_eq!(status.code(), Some(0), "{}", self.stderr());
    }
}

/// The address the daemon logs once it listens.
async fn wait_for_address(stderr: &Path) -> SocketAddr {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let text = std::fs::read_to_string(stderr).unwrap_or_default();
        let found = text
            .lines()
            .find_map(|line| line.split("on http://").nth(1))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|addr| addr.parse().ok());
        if let Some(addr) = found {
            return addr;
        }
        assert!(
            Instant::now() < deadline,
            "the daemon never said where it listens:\n{text}"
        );
        tokio::time::sleep(POLL).await;
    }
}

fn tool(name: &str) -> PathBuf {
    let found = std::env::var_os("PATH")
        .map(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(name))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default()
        .into_iter()
        .find(|path| path.is_file());
    found.unwrap_or_else(|| {
        panic!("{name} not found: run scripts/test, which installs Debian's prometheus package")
    })
}

/// `promtool check metrics` must accept the scrape without a warning.
pub fn promtool_check_metrics(scrape: &str) {
    use std::io::Write;
    let mut child = std::process::Command::new(tool("promtool"))
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(scrape.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success() && said.trim().is_empty(),
        "promtool check metrics: {said}\n--- scrape ---\n{scrape}"
    );
}

/// A real Prometheus server on a free loopback port, scraping the daemon every second.
pub struct Prometheus {
    child: Child,
    _dir: tempfile::TempDir,
    url: String,
    http: reqwest::Client,
}

impl Prometheus {
    pub async fn start(target: SocketAddr, bearer: &str) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let token_file = dir.path().join("scrape-token");
        super::cli::write_private(&token_file, bearer);
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: tokentop\n    scrape_interval: 1s\n    scrape_timeout: 1s\n\
             \x20   authorization:\n      credentials_file: {}\n\
             \x20   static_configs:\n      - targets: ['{target}']\n",
            token_file.display()
        );
        let config_path = dir.path().join("prometheus.yml");
        std::fs::write(&config_path, config).unwrap();
        let port = super::cli::free_port();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
        let child = Command::new(tool("prometheus"))
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let prometheus = Prometheus {
            child,
            _dir: dir,
            url: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
        };
        prometheus.wait_ready().await;
        prometheus
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("prometheus.log")).unwrap_or_default()
    }

    async fn wait_ready(&self) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let ready = self.http.get(format!("{}/-/ready", self.url)).send().await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "Prometheus never became ready:\n{}",
                self.log()
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until the instant query `query` returns at least one sample.
    pub async fn wait_for_value(&self, query: &str, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let answer: serde_json::Value = self
                .http
                .get(format!("{}/api/v1/query", self.url))
                .query(&[("query", query)])
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let results = answer["data"]["result"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if !results.is_empty() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "Prometheus had no sample for `{query}` within {within:?}; last answer {answer}"
            );
            tokio::time::sleep(POLL).await;
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}
