//! The webhook queue's share of the relay budget (issue 22): at least 5,000 verified POSTs/s
//! accepted durably on 2 cores, p99 time to 200 under 5 ms with the destinations down.
//!
//! `cargo bench --bench webhook_queue`: accepts paced at 5,000/s, then 32 and 64 concurrent
//! callers as fast as the queue answers, `accept` distinct
//! bodies of 1 status (~700 bytes) and of 100 statuses (~60 KB) into a queue whose one
//! destination is down (nothing is acknowledged, so the queue only grows), each phase for
//! `TOKENTOP_BENCH_SECONDS` (default 5). The queue lives in a fresh directory under
//! `target/bench-webhook-queue/` (the project's real disk, fsync included), removed after.
//! Printed per phase: accepted/s, MB/s written, p50/p99/max latency of one `accept`, and the
//! CPU the process used (cores), which is what the HTTP server and the HMAC must share.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokentop::webhook::queue::{Accepted, QueueOptions, WebhookQueue};

/// Where a body's counter goes: 16 digits, so every body differs (no dedupe hit).
const MARK: &str = "0000000000000000";

/// One status as Meta sends it (about 600 bytes), numbered by `MARK` when it is the first.
fn status(i: usize) -> String {
    let wamid = if i == 0 {
        MARK.to_string()
    } else {
        format!("{i:016}")
    };
    format!(
        r#"{{"id":"wamid.HBgLMTU1NTEyMzQ1NjcVAgARGBI{wamid}QzFBMkQzRTRGNUE2QjcA","status":"delivered","timestamp":"1698266945","recipient_id":"15551234567","conversation":{{"id":"7270432eae37498234f4444b35ffc5","expiration_timestamp":"1698339900","origin":{{"type":"marketing"}}}},"pricing":{{"billable":true,"pricing_model":"PMP","category":"marketing","type":"regular"}},"biz_opaque_callback_data":"campaign=winter-sale;segment=returning-customers;variant=b;order=ORD-2026-000{i:04};utm_source=whatsapp;utm_medium=template;utm_campaign=winter-sale-2026;locale=en_US;store=eu-west-1"}}"#
    )
}

fn body_with(statuses: usize) -> Vec<u8> {
    let statuses: Vec<String> = (0..statuses).map(status).collect();
    format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"id":"5467539754836534","changes":[{{"value":{{"messaging_product":"whatsapp","metadata":{{"display_phone_number":"15550783881","phone_number_id":"106540352242922"}},"statuses":[{}]}},"field":"messages"}}]}}]}}"#,
        statuses.join(",")
    )
    .into_bytes()
}

/// Process CPU seconds so far (user + system).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(vec![], |(_, rest)| rest.split_whitespace().collect());
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line, 11 and 12 after the `)`.
    (ticks(11) + ticks(12)) / 100.0
}

/// How the callers send.
#[derive(Clone, Copy)]
enum Load {
    /// Each caller accepts again as soon as its last accept returned: the most the queue takes.
    Closed { callers: usize },
    /// Accepts started at a fixed rate, none waiting for another (so a slow one cannot hide
    /// the ones behind it): the latency at the budget's rate. Each is timed from its call;
    /// the runtime's millisecond timer starts them in bursts of 5, which is not the queue's.
    Paced { per_second: u64 },
}

struct Phase {
    queue: WebhookQueue,
    template: Arc<Vec<u8>>,
    mark_at: usize,
    counter: AtomicU64,
    signature: String,
}

impl Phase {
    fn body(&self) -> Bytes {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let mut body = self.template.as_ref().clone();
        body[self.mark_at..self.mark_at + 16].copy_from_slice(format!("{n:016}").as_bytes());
        Bytes::from(body)
    }

    async fn accept(&self) -> u32 {
        let called = Instant::now();
        let accepted = self
            .queue
            .accept(self.body(), self.signature.clone())
            .await
            .unwrap();
        assert!(matches!(accepted, Accepted::Queued { .. }));
        called.elapsed().as_micros() as u32
    }
}

async fn run_load(phase: Arc<Phase>, load: Load, deadline: Instant) -> Vec<u32> {
    let mut tasks = Vec::new();
    match load {
        Load::Closed { callers } => {
            for _ in 0..callers {
                let phase = phase.clone();
                tasks.push(tokio::spawn(async move {
                    let mut latencies_us = Vec::new();
                    while Instant::now() < deadline {
                        latencies_us.push(phase.accept().await);
                    }
                    latencies_us
                }));
            }
        }
        Load::Paced { per_second } => {
            // The runtime's timer ticks in milliseconds: a burst per millisecond.
            let started = Instant::now();
            let mut ticker = tokio::time::interval(Duration::from_millis(1));
            let mut sent = 0u64;
            while Instant::now() < deadline {
                ticker.tick().await;
                let due_now = (started.elapsed().as_secs_f64() * per_second as f64) as u64;
                for _ in sent..due_now {
                    let phase = phase.clone();
                    tasks.push(tokio::spawn(async move { vec![phase.accept().await] }));
                }
                sent = sent.max(due_now);
            }
        }
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    latencies
}

async fn phase(template: &[u8], load: Load, seconds: u64) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-webhook-queue");
    std::fs::create_dir_all(&root).unwrap();
    let dir = tempfile::tempdir_in(&root).unwrap();
    let options = QueueOptions::new(dir.path().join("webhooks"), 64 << 30, vec!["app".into()]);
    let phase = Arc::new(Phase {
        queue: WebhookQueue::open(options).await.unwrap(),
        mark_at: template
            .windows(MARK.len())
            .position(|w| w == MARK.as_bytes())
            .unwrap(),
        template: Arc::new(template.to_vec()),
        counter: AtomicU64::new(1),
        signature: format!("sha256={}", "ab".repeat(32)),
    });
    let (started, cpu_before) = (Instant::now(), cpu_seconds());
    let mut latencies = run_load(phase.clone(), load, started + Duration::from_secs(seconds)).await;
    let (elapsed, cpu) = (started.elapsed().as_secs_f64(), cpu_seconds() - cpu_before);
    latencies.sort_unstable();
    let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize] as f64 / 1000.0;
    let rate = latencies.len() as f64 / elapsed;
    let how = match load {
        Load::Closed { callers } => format!("{callers} callers"),
        Load::Paced { per_second } => format!("paced {per_second}/s"),
    };
    println!(
        "{:>6} B bodies, {how:<14}: {:>6.0} accepted/s ({:>5.1} MB/s), accept p50 {:.2} ms, p99 {:.2} ms, max {:.1} ms, CPU {:.2} cores",
        template.len(),
        rate,
        rate * template.len() as f64 / 1e6,
        pct(0.5),
        pct(0.99),
        pct(1.0),
        cpu / elapsed,
    );
    drop(phase);
    drop(dir);
    // The deleted files' writeback and discards must not slow the next phase.
    let _ = std::process::Command::new("sync").status();
}

/// The disk's own fsync latency right now (a 1 KB append and `fdatasync`, for 2 s, in the
/// bench's directory): the floor under every accept, and what other work on the machine moves.
fn probe_fsync(root: &std::path::Path) -> String {
    use std::io::Write;
    std::fs::create_dir_all(root).unwrap();
    let dir = tempfile::tempdir_in(root).unwrap();
    let mut file = std::fs::File::create(dir.path().join("probe")).unwrap();
    let mut latencies = Vec::new();
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until {
        let t = Instant::now();
        file.write_all(&[b'x'; 1024]).unwrap();
        file.sync_data().unwrap();
        latencies.push(t.elapsed());
    }
    latencies.sort_unstable();
    let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize].as_secs_f64() * 1e3;
    format!(
        "disk: 1 KB append + fdatasync p50 {:.2} ms, p99 {:.2} ms ({} in 2 s)",
        pct(0.5),
        pct(0.99),
        latencies.len()
    )
}

fn main() {
    let seconds = std::env::var("TOKENTOP_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    println!(
        "webhook queue accept, fsync per group commit, one destination down; budget for the whole POST: >= 5,000/s, p99 < 5 ms"
    );
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-webhook-queue");
    println!("before: {}", probe_fsync(&root));
    runtime.block_on(async {
        for statuses in [1, 100] {
            let template = body_with(statuses);
            for load in [
                Load::Paced { per_second: 5000 },
                Load::Closed { callers: 32 },
                Load::Closed { callers: 64 },
            ] {
                phase(&template, load, seconds).await;
            }
        }
    });
    println!("after:  {}", probe_fsync(&root));
}
