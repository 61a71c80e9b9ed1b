//! The `/metrics` budget (issue 11): a scrape of 1,000 accounts and 20 log sources renders in
//! under 20 ms and under 2 MB, and scraping every second costs the daemon under 0.5% of a core.
//!
//! `cargo bench --bench scrape` measures two things:
//! 1. Rendering: `serve::Metrics` fed what a busy daemon of 1,000 accounts knows (token
//!    snapshots, phone health and usage, ten refreshes each, log and delivery totals of 20
//!    sources), rendered 50 times in each format; median, slowest and size.
//! 2. CPU: the real engine and endpoint in this process, watching 1,000 accounts on the
//!    in-process simulator with 20 `[[log]]` files, idle for 20 s and then scraped over HTTP
//!    once a second (by `curl`, another process) for 20 s; this process's CPU time of each
//!    half, from `/proc/self/task/*/schedstat`.
//!
//! `TOKENTOP_BENCH_SECONDS` shortens the two CPU halves (default 20).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fmt::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use tokentop::config::{EnvSnapshot, Overrides, PatternLevel};
use tokentop::engine::history::cause::Trigger;
use tokentop::engine::history::{HistoryEntry, Outcome};
use tokentop::engine::telemetry_types::{
    FailureTotal, LogLineTotal, MessageSource, MessageTotal, PhoneSnapshot, TelemetrySnapshot,
    TelemetryTotals,
};
use tokentop::engine::{
    AccountSnapshot, Engine, EngineEvent, EngineOptions, Inspection, TokenState,
};
use tokentop::graph::{AppUsage, GraphClient, PhoneHealth, TokenInfo, Usage};
use tokentop::serve::{Format, Metrics, ServeOptions};
use tokentop::sim::{
    DEFAULT_APP_ID, DEFAULT_APP_SECRET, RunningSim, SimConfig, SimPhone, TokenKind,
};

const ACCOUNTS: usize = 1_000;
const LOG_SOURCES: usize = 20;
const RENDERS: usize = 50;

fn names() -> Vec<String> {
    (0..ACCOUNTS).map(|i| format!("acct-{i:04}")).collect()
}

/// Everything a daemon of 1,000 accounts has told its metrics after a day.
fn busy_metrics() -> Metrics {
    let names = names();
    let mut metrics = Metrics::new(&names);
    let now = Utc::now();
    for name in &names {
        let mut snapshot = AccountSnapshot::new(name);
        snapshot.state = TokenState::Valid;
        let info = TokenInfo {
            is_valid: true,
            expires_at: Some(now.timestamp() + 50 * 86_400),
            data_access_expires_at: Some(now.timestamp() + 80 * 86_400),
            ..TokenInfo::default()
        };
        snapshot.access = Some(Inspection {
            checked_at: now,
            info: info.clone(),
        });
        snapshot.long_lived = Some(Box::new(Inspection {
            checked_at: now,
            info,
        }));
        metrics.observe(&EngineEvent::Account(std::sync::Arc::new(snapshot)));
        let phone = PhoneSnapshot {
            account: name.clone(),
            checked_at: now,
            health: Some(PhoneHealth {
                quality_rating: Some("GREEN".into()),
                status: Some("CONNECTED".into()),
                ..PhoneHealth::default()
            }),
            usage: Usage {
                app: Some(AppUsage {
                    call_count: 12,
                    total_time: 3,
                    total_cputime: 2,
                }),
                business: Vec::new(),
            },
            error: None,
            analytics_note: None,
            webhook: None,
        };
        metrics.observe(&EngineEvent::Phone(Box::new(phone)));
        for i in 0..10u64 {
            let mut entry = HistoryEntry::new(name, Trigger::Scheduled, Outcome::Ok);
            entry.latency_ms = Some(200 + 90 * i);
            metrics.observe(&EngineEvent::History(Box::new(entry)));
        }
    }
    metrics.observe(&EngineEvent::Telemetry(Box::new(busy_telemetry(&names))));
    metrics
}

fn busy_telemetry(names: &[String]) -> TelemetrySnapshot {
    let patterns = [
        "token-refreshed",
        "token-expired",
        "refresh-failed",
        "message-sent",
        "message-failed",
    ];
    let levels = [
        PatternLevel::Ok,
        PatternLevel::Error,
        PatternLevel::Error,
        PatternLevel::Ok,
        PatternLevel::Error,
    ];
    let mut totals = TelemetryTotals::default();
    for source in 0..LOG_SOURCES {
        for (pattern, level) in patterns.iter().zip(levels) {
            totals.log_lines.push(LogLineTotal {
                source: format!("app-{source:02}"),
                pattern: Some((*pattern).to_string()),
                level: Some(level),
                count: 12_345,
            });
        }
        totals.log_lines.push(LogLineTotal {
            source: format!("app-{source:02}"),
            pattern: None,
            level: None,
            count: 1_000_000,
        });
    }
    for name in names {
        for source in [MessageSource::Test, MessageSource::Waba] {
            for delivered in [true, false] {
                totals.messages.push(MessageTotal {
                    account: Some(name.clone()),
                    source,
                    delivered,
                    count: 42,
                });
            }
        }
        totals.failures.push(FailureTotal {
            account: Some(name.clone()),
            code: 131_026,
            count: 3,
        });
    }
    TelemetrySnapshot {
        at: Utc::now(),
        totals,
        ..TelemetrySnapshot::default()
    }
}

fn bench_render() {
    let mut metrics = busy_metrics();
    // One account's news, as between two scrapes of a busy daemon: the next render encodes
    // everything again (an unchanged state is served from the cache).
    let news = EngineEvent::Account(std::sync::Arc::new(AccountSnapshot::new("acct-0000")));
    println!("render of {ACCOUNTS} accounts, {LOG_SOURCES} log sources ({RENDERS} runs):");
    if std::env::var_os("TOKENTOP_BENCH_FAMILIES").is_some() {
        let body = metrics.render(Format::PrometheusText).unwrap();
        family_sizes(std::str::from_utf8(&body).unwrap());
    }
    for format in [Format::PrometheusText, Format::OpenMetrics] {
        let mut times = Vec::new();
        let mut size = 0;
        for _ in 0..RENDERS {
            metrics.observe(&news);
            let started = Instant::now();
            let body = metrics.render(format).unwrap();
            times.push(started.elapsed());
            size = body.len();
        }
        times.sort();
        metrics.observe(&news);
        let zip_started = Instant::now();
        let zipped = metrics.render_gzip(format).unwrap().len();
        let zip_time = zip_started.elapsed();
        println!(
            "  {format:?} gzip (as Prometheus asks): {:.2} MB, render + compress {:.2} ms",
            zipped as f64 / 1e6,
            ms(zip_time)
        );
        println!(
            "  {format:?}: median {:.2} ms, slowest {:.2} ms, {:.2} MB ({} lines)   budget < 20 ms, < 2 MB",
            ms(times[RENDERS / 2]),
            ms(times[RENDERS - 1]),
            size as f64 / 1e6,
            metrics
                .render(format)
                .unwrap()
                .split(|b| *b == b'\n')
                .count()
                - 1
        );
    }
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

/// CPU time of every thread of this process, in nanoseconds from `/proc/self/task/*/schedstat`
/// (clock ticks of `/proc/self/stat` are too coarse for fractions of a percent).
fn cpu_time() -> Duration {
    let mut total = 0u64;
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let stat = std::fs::read_to_string(task.path().join("schedstat")).unwrap_or_default();
        total += stat
            .split_whitespace()
            .next()
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0);
    }
    Duration::from_nanos(total)
}

fn config_text(sim: &RunningSim, dir: &Path) -> String {
    let mut text = String::from("[refresh]\ncheck-interval = \"1h\"\n\n");
    for source in 0..LOG_SOURCES {
        let path = dir.join(format!("app-{source:02}.log"));
        std::fs::write(&path, "WhatsApp message sent successfully\nboot\n").unwrap();
        let _ = write!(
            text,
            "[[log]]\nname = \"app-{source:02}\"\nfile = \"{}\"\n\n",
            path.display()
        );
    }
    for (i, name) in names().iter().enumerate() {
        let token = sim
            .handle()
            .mint_token(TokenKind::SystemUser, None)
            .access_token;
        let phone = 106_540_352_242_922u64 + i as u64;
        sim.handle()
            .set_phone(&phone.to_string(), SimPhone::default());
        let _ = write!(
            text,
            "[[account]]\nname = \"{name}\"\napp-id = \"{DEFAULT_APP_ID}\"\napp-secret = \"{DEFAULT_APP_SECRET}\"\n\
             access-token = \"{token}\"\nphone-number-id = \"{phone}\"\n\n"
        );
    }
    text
}

async fn bench_cpu() {
    let seconds: u64 = std::env::var("TOKENTOP_BENCH_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    tokentop::graph::install_tls_provider();
    let sim = RunningSim::start(SimConfig::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, config_text(&sim, dir.path())).unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
    let overrides = Overrides {
        config: Some(config),
        data_dir: Some(dir.path().join("data")),
        graph_url: Some(sim.base_url()),
    };
    let settings = tokentop::config::load(&overrides, &EnvSnapshot::default()).unwrap();
    let client = GraphClient::new(&settings.graph).unwrap();
    let (handle, events) = Engine::start(&settings, Arc::new(client), EngineOptions::default());
    let options = ServeOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        bearer_token: None,
        tls: None,
    };
    let mut serving = tokentop::serve::start(
        &options,
        &settings,
        handle.clone(),
        events,
        None,
        None,
        None,
    )
    .await
    .unwrap();
    tokio::spawn(async move { while serving.events.recv().await.is_some() {} });
    let url = format!("http://{}/metrics", serving.local_addr);
    let http = reqwest::Client::new();
    // Settle: every account inspected and its phone read before measuring.
    let ready = url.replace("/metrics", "/readyz");
    while !http.get(&ready).send().await.unwrap().status().is_success() {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(5)).await;

    let idle_start = cpu_time();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let idle = cpu_time() - idle_start;

    // The scraper is `curl` in its own process, so that only the daemon's side is counted.
    // Scrapes back to back: their CPU above the idle rate over the same time is what each
    // costs; at one scrape a second that cost per second is the share of a core.
    let size = http
        .get(&url)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .len();
    const SCRAPES: u32 = 50;
    let burst_started = Instant::now();
    let burst_cpu_start = cpu_time();
    for _ in 0..SCRAPES {
        let status = tokio::process::Command::new("curl")
            .args([
                "-sf",
                "-o",
                "/dev/null",
                "-H",
                "Accept-Encoding: identity",
                &url,
            ])
            .status()
            .await
            .expect("curl is needed for this benchmark (apt-get install curl)");
        assert!(status.success());
    }
    let burst_cpu = cpu_time() - burst_cpu_start;
    let burst_wall = burst_started.elapsed();
    let idle_rate = idle.as_secs_f64() / seconds as f64;
    let per_scrape =
        (burst_cpu.as_secs_f64() - idle_rate * burst_wall.as_secs_f64()) / f64::from(SCRAPES);
    println!(
        "CPU of the engine + endpoint with {ACCOUNTS} accounts and {LOG_SOURCES} log sources (scrape {:.2} MB):",
        size as f64 / 1e6
    );
    println!(
        "  idle over {seconds} s:   {:.3}% of a core",
        idle_rate * 100.0
    );
    println!(
        "  one scrape costs: {:.2} ms of CPU ({SCRAPES} back to back, idle rate subtracted)",
        per_scrape * 1e3
    );
    println!(
        "  scraping every second adds {:.3}% of a core   budget < 0.5%",
        per_scrape * 100.0
    );
    handle.send(tokentop::engine::EngineCommand::Shutdown);
}

fn main() {
    bench_render();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(bench_cpu());
}

/// Bytes per metric family, to see what the budget is spent on.
#[allow(dead_code)]
fn family_sizes(body: &str) {
    let mut sizes: std::collections::BTreeMap<String, (usize, usize)> = Default::default();
    for line in body.lines().filter(|l| !l.starts_with('#')) {
        let name = line.split(['{', ' ']).next().unwrap_or("").to_string();
        let entry = sizes.entry(name).or_default();
        entry.0 += 1;
        entry.1 += line.len() + 1;
    }
    for (name, (lines, bytes)) in sizes {
        println!("    {name}: {lines} lines, {bytes} bytes");
    }
}
