//! Helpers for the deploy/hooks/ recipe tests: the venv's AWS CLI and moto server, fake HTTP
//! endpoints that record what they get, a gate that watches every process's argv while a
//! request is in flight, and the recipes run the way tokentop runs them. Only
//! tests/publish_recipes.rs uses it (through `#[path]`), so other test binaries do not build it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};

/// Longest wait for a server to start.
const STARTUP: Duration = Duration::from_secs(30);

pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `deploy/hooks/NAME`, as a string for an `on-refresh` argv.
pub fn hook(name: &str) -> String {
    let path = repo().join("deploy/hooks").join(name);
    assert!(path.is_file(), "{} is missing", path.display());
    path.display().to_string()
}

/// The venv's `bin/` with `aws` and `moto_server`; panics (never skips) saying how to get it.
pub fn venv_bin() -> PathBuf {
    let venv = std::env::var_os("TOKENTOP_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target/pyvenv"));
    let bin = venv.join("bin");
    for tool in ["aws", "moto_server"] {
        assert!(
            bin.join(tool).is_file(),
            "no {tool} in {}: run `scripts/test` (it provisions the venv with \
             tests/python/requirements.txt, moto[server] and awscli included), or point \
             TOKENTOP_TEST_VENV at such a venv",
            bin.display()
        );
    }
    bin
}

/// `kubectl` on PATH; panics (never skips) saying how to get it.
pub fn require_kubectl() {
    let found = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).any(|dir| dir.join("kubectl").is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "kubectl is not on PATH: run `scripts/test` (it installs Debian's kubernetes-client \
         when kubectl is missing)"
    );
}

/// PATH with `dir` first.
pub fn path_with(dir: &Path) -> String {
    let rest = std::env::var("PATH").unwrap_or_default();
    format!("{}:{rest}", dir.display())
}

/// Every command line seen on the machine while it watched: from every request that reached
/// a fake endpoint (the recipe and its CLI are alive then) and from a sampler running beside.
#[derive(Clone, Default)]
pub struct ArgvWatch {
    seen: Arc<Mutex<BTreeSet<String>>>,
    stop: Arc<AtomicBool>,
}

impl ArgvWatch {
    /// Adds the argv of every process now running.
    pub fn snapshot(&self) {
        let lines = all_command_lines();
        self.seen.lock().unwrap().extend(lines);
    }

    /// Samples in the background until [`ArgvWatch::stop`], to catch short-lived helpers too.
    pub fn start_sampler(&self) {
        let watch = self.clone();
        std::thread::spawn(move || {
            while !watch.stop.load(Ordering::Relaxed) {
                watch.snapshot();
                std::thread::sleep(Duration::from_millis(5));
            }
        });
    }

    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Asserts a command line containing `running` was seen (the watch looked while the
    /// recipe's tool ran) and that none holds any of `secrets`.
    pub fn assert_clean(&self, running: &str, secrets: &[&str]) {
        self.stop();
        let seen = self.seen.lock().unwrap();
        assert!(
            seen.iter().any(|line| line.contains(running)),
            "no process with `{running}` in its argv was seen: the watch did not look while \
             the recipe ran"
        );
        for secret in secrets {
            assert!(
                secret.len() >= 8,
                "a secret this short would match by chance"
            );
            for line in seen.iter() {
                assert!(
                    !line.contains(secret),
                    "a secret is in a process's argv: {}",
                    line.replace(secret, "<SECRET>")
                );
            }
        }
    }
}

/// `/proc/*/cmdline` of every process, arguments joined by spaces.
fn all_command_lines() -> Vec<String> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|entry| entry.file_name().to_string_lossy().parse::<u32>().is_ok())
        .filter_map(|entry| std::fs::read(entry.path().join("cmdline")).ok())
        .filter(|bytes| !bytes.is_empty())
        .map(|bytes| String::from_utf8_lossy(&bytes).replace('\0', " "))
        .collect()
}

/// One request a fake endpoint received.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub uri: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("")
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|err| panic!("{} {}: body is not JSON: {err}", self.method, self.uri))
    }
}

/// What a fake answers: status, content type, body.
pub type Answer = (StatusCode, &'static str, String);

/// A loopback HTTP server that takes an argv snapshot on each request, records it and
/// answers with `answer`.
pub struct FakeHttp {
    pub url: String,
    pub requests: Arc<Mutex<Vec<Recorded>>>,
}

impl FakeHttp {
    pub async fn start<F, Fut>(watch: ArgvWatch, answer: F) -> FakeHttp
    where
        F: Fn(Recorded) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Answer> + Send,
    {
        let requests: Arc<Mutex<Vec<Recorded>>> = Arc::default();
        let log = requests.clone();
        let handler = move |request: Request<Body>| {
            let (watch, log, answer) = (watch.clone(), log.clone(), answer.clone());
            async move {
                watch.snapshot();
                let (parts, body) = request.into_parts();
                let body = axum::body::to_bytes(body, 1 << 20)
                    .await
                    .unwrap_or_default();
                let recorded = Recorded {
                    method: parts.method.to_string(),
                    uri: parts.uri.to_string(),
                    headers: parts.headers,
                    body: body.to_vec(),
                };
                log.lock().unwrap().push(recorded.clone());
                let (status, content_type, text) = answer(recorded).await;
                let response: Response =
                    (status, [("content-type", content_type)], text).into_response();
                response
            }
        };
        let router = axum::Router::new().fallback(handler);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        FakeHttp { url, requests }
    }

    pub fn recorded(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }
}

/// A TCP relay to `upstream` that takes an argv snapshot when each connection opens (the
/// AWS CLI process is running then, with its whole argv), then passes the bytes through.
pub async fn watching_relay(upstream: SocketAddr, watch: ArgvWatch) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            watch.snapshot();
            tokio::spawn(async move {
                if let Ok(mut server) = TcpStream::connect(upstream).await {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                }
            });
        }
    });
    url
}

/// `moto_server` from the venv on a free loopback port, killed when dropped.
pub struct Moto {
    pub addr: SocketAddr,
    _child: Child,
}

impl Moto {
    /// Started on port 0: moto prints the port it got (` * Running on http://127.0.0.1:PORT`).
    pub async fn start(venv_bin: &Path) -> Moto {
        use tokio::io::{AsyncBufReadExt, BufReader};
        let mut child = Command::new(venv_bin.join("moto_server"))
            .args(["-H", "127.0.0.1", "-p", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let addr = tokio::time::timeout(STARTUP, async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some((_, addr)) = line.split_once("Running on http://") {
                    return addr.trim().parse::<SocketAddr>().unwrap();
                }
            }
            panic!("moto_server exited before listening");
        })
        .await
        .unwrap_or_else(|_| panic!("moto_server did not listen in {STARTUP:?}"));
        // moto logs every request to stderr: keep draining it so it never blocks on a pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Moto {
            addr,
            _child: child,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// Environment for the AWS CLI against an emulator at `endpoint`: dummy credentials, a region,
/// no config files of the machine's.
pub fn aws_env(venv_bin: &Path, home: &Path, endpoint: &str) -> Vec<(String, String)> {
    vec![
        ("PATH".into(), path_with(venv_bin)),
        ("AWS_ENDPOINT_URL".into(), endpoint.into()),
        ("AWS_ACCESS_KEY_ID".into(), "testing".into()),
        ("AWS_SECRET_ACCESS_KEY".into(), "testing".into()),
        ("AWS_DEFAULT_REGION".into(), "eu-west-1".into()),
        (
            "AWS_CONFIG_FILE".into(),
            home.join("aws-config").display().to_string(),
        ),
        (
            "AWS_SHARED_CREDENTIALS_FILE".into(),
            home.join("aws-credentials").display().to_string(),
        ),
    ]
}

/// `aws ARGS` with `env` only; its stdout, trimmed; panics with stderr on failure.
pub async fn aws(env: &[(String, String)], args: &[&str]) -> String {
    let output = Command::new("aws")
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "aws {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// Runs `argv` with `stdin` and only `env`, as tokentop would but by the test; returns
/// (success, stdout, stderr).
pub async fn run_recipe(
    argv: &[String],
    env: &[(String, String)],
    stdin: &str,
) -> (bool, String, String) {
    use tokio::io::AsyncWriteExt;
    let mut child = Command::new(&argv[0])
        .args(&argv[1..])
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    let _ = pipe.write_all(stdin.as_bytes()).await;
    drop(pipe);
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("the recipe did not finish in 60 s")
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Standard base64 with padding (what Kubernetes puts in a Secret's `data`).
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}
