//! The Graph API proxy's budget (issue 12): under 0.5 ms added at p99 at 200 requests/s, and
//! at least 5,000 sends/s through it on 2 cores.
//!
//! `cargo bench --bench proxy`: the simulator, the engine and the proxy run in this process on
//! loopback, as a daemon would run them. The same HTTP client (reqwest, keep-alive) sends
//! text messages to the simulator directly (with the token and `appsecret_proof` itself) and
//! through the proxy (with neither), alternating, one request every 5 ms, and the latency
//! percentiles of both are printed with their difference. Then 64 concurrent senders push
//! sends for 10 s through the proxy, and directly, for the throughput of each.
//! `TOKENTOP_BENCH_SECONDS` sets both phases' length (default 10).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use secrecy::SecretString;
use tokentop::config::{EnvSnapshot, Overrides};
use tokentop::engine::{Engine, EngineOptions};
use tokentop::graph::{GraphClient, appsecret_proof};
use tokentop::sim::{DEFAULT_APP_ID, DEFAULT_APP_SECRET, RunningSim, SimConfig, TokenKind};

const PHONE: &str = "106540352242922";
const BODY: &str =
    r#"{"messaging_product":"whatsapp","to":"15551234567","type":"text","text":{"body":"bench"}}"#;
const SENDERS: usize = 64;

struct Setup {
    _sim: RunningSim,
    /// For the throughput phase the proxy is started on its own runtime, threads named
    /// `proxy-rt`, so its CPU can be told apart from the simulator's and the client's (its
    /// listener threads are `tokentop-proxy`, counted with them).
    proxy_runtime: Option<tokio::runtime::Runtime>,
    _dir: tempfile::TempDir,
    direct_url: String,
    proxy_url: String,
    token: String,
    proof: String,
}

async fn setup(own_runtime: bool) -> Setup {
    tokentop::graph::install_tls_provider();
    let sim = RunningSim::start(
        SimConfig {
            require_proof: true,
            ..SimConfig::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let token = sim
        .handle()
        .mint_token(TokenKind::SystemUser, None)
        .access_token;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let text = format!(
        "[proxy]\nlisten = \"127.0.0.1:{port}\"\nmax-concurrent = 256\n\n[[account]]\nname = \"bench\"\n\
         app-id = \"{DEFAULT_APP_ID}\"\napp-secret = \"{DEFAULT_APP_SECRET}\"\naccess-token = \"{token}\"\n\
         phone-number-id = \"{PHONE}\"\n"
    );
    std::fs::write(&config, text).unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
    let overrides = Overrides {
        config: Some(config),
        data_dir: Some(dir.path().join("data")),
        graph_url: Some(sim.base_url()),
    };
    let settings = tokentop::config::load(&overrides, &EnvSnapshot::default()).unwrap();
    let client = GraphClient::new(&settings.graph).unwrap();
    let (handle, mut events) = Engine::start(&settings, Arc::new(client), EngineOptions::default());
    tokio::spawn(async move { while events.recv().await.is_some() {} });
    let broker = handle.token_broker();
    let (proxy_url, proxy_runtime) = if own_runtime {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("proxy-rt")
            .enable_all()
            .build()
            .unwrap();
        let url = runtime
            .spawn(async move { tokentop::proxy::start(&settings, broker).await })
            .await
            .unwrap();
        (url, Some(runtime))
    } else {
        (tokentop::proxy::start(&settings, broker).await, None)
    };
    let proxy_url = proxy_url.unwrap().unwrap();
    let proof = appsecret_proof(
        &SecretString::from(DEFAULT_APP_SECRET),
        &SecretString::from(token.clone()),
    );
    Setup {
        direct_url: format!("{}/v25.0/{PHONE}/messages", sim.base_url()),
        proxy_url: format!("{proxy_url}/v25.0/{PHONE}/messages"),
        _sim: sim,
        proxy_runtime,
        _dir: dir,
        token,
        proof,
    }
}

/// One send; `direct` carries the token and proof, through the proxy neither.
async fn send(http: &reqwest::Client, setup: &Setup, direct: bool) -> Duration {
    let started = Instant::now();
    let request = if direct {
        http.post(format!(
            "{}?appsecret_proof={}",
            setup.direct_url, setup.proof
        ))
        .bearer_auth(&setup.token)
    } else {
        http.post(&setup.proxy_url)
    };
    let response = request
        .header("content-type", "application/json")
        .body(BODY)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    response.bytes().await.unwrap();
    started.elapsed()
}

/// CPU time of this process's threads whose name starts with `prefix`
/// (`/proc/self/task/*/comm` and `schedstat`, nanoseconds).
fn thread_cpu(prefix: &str) -> Duration {
    let mut total = 0u64;
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let name = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if !name.starts_with(prefix) {
            continue;
        }
        let stat = std::fs::read_to_string(task.path().join("schedstat")).unwrap_or_default();
        total += stat
            .split_whitespace()
            .next()
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0);
    }
    Duration::from_nanos(total)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

async fn latency(setup: &Setup, seconds: u64) {
    let http = reqwest::Client::new();
    // Warm both connections.
    for _ in 0..50 {
        send(&http, setup, true).await;
        send(&http, setup, false).await;
    }
    let (mut direct, mut proxied) = (Vec::new(), Vec::new());
    let mut tick = tokio::time::interval(Duration::from_millis(5));
    let rounds = seconds * 100;
    for _ in 0..rounds {
        tick.tick().await;
        direct.push(send(&http, setup, true).await);
        tick.tick().await;
        proxied.push(send(&http, setup, false).await);
    }
    direct.sort();
    proxied.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "latency at 200 requests/s ({} each, alternating):",
        direct.len()
    );
    for (name, p) in [("median", 0.5), ("p99", 0.99)] {
        let (d, x) = (percentile(&direct, p), percentile(&proxied, p));
        println!(
            "  {name:>6}: direct {:.3} ms, through the proxy {:.3} ms, added {:.3} ms{}",
            ms(d),
            ms(x),
            ms(x.saturating_sub(d)),
            if p > 0.9 { "   budget < 0.5 ms" } else { "" }
        );
    }
}

async fn throughput(setup: &Arc<Setup>, seconds: u64, direct: bool) -> f64 {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(SENDERS)
        .build()
        .unwrap();
    let done = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + Duration::from_secs(seconds);
    let workers: Vec<_> = (0..SENDERS)
        .map(|_| {
            let (http, setup, done) = (http.clone(), setup.clone(), done.clone());
            tokio::spawn(async move {
                while Instant::now() < until {
                    send(&http, &setup, direct).await;
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / seconds as f64
}

fn main() {
    let seconds: u64 = std::env::var("TOKENTOP_BENCH_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        // Latency with everything on one runtime, as in the daemon.
        let shared = setup(false).await;
        latency(&shared, seconds).await;
        let setup = Arc::new(setup(true).await);
        let proxy_threads = || thread_cpu("proxy-rt") + thread_cpu("tokentop-proxy");
        let proxy_cpu_before = proxy_threads();
        let proxied = throughput(&setup, seconds, false).await;
        let proxy_cpu = proxy_threads() - proxy_cpu_before;
        let direct = throughput(&setup, seconds, true).await;
        let sends = proxied * seconds as f64;
        let per_send = proxy_cpu.as_secs_f64() / sends;
        println!(
            "throughput with {SENDERS} senders, simulator, proxy and client sharing this machine's cores:"
        );
        println!("  through the proxy: {proxied:.0} sends/s");
        println!("  direct:            {direct:.0} sends/s");
        println!(
            "the proxy's own threads: {:.1} us of CPU per send, so 2 cores carry {:.0} sends/s   budget >= 5000",
            per_send * 1e6,
            2.0 / per_send
        );
        // A runtime cannot be dropped inside another one's async context.
        if let Ok(mut setup) = Arc::try_unwrap(setup)
            && let Some(runtime) = setup.proxy_runtime.take()
        {
            runtime.shutdown_background();
        }
    });
}
