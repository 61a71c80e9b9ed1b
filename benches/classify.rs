//! Catch-up classification of a large log against `wc -l`, `grep -E` and `rg` on the same file.
//!
//! `cargo bench --bench classify [-- FILE]` classifies FILE (or `TOKENTOP_BENCH_FILE`), by
//! default a generated JSON-lines application log (3,000,000 lines, 666 MB, 5% token and
//! delivery lines among many near misses) kept in `target/tmp/` between runs;
//! `TOKENTOP_BENCH_LINES` changes its size. It times tokentop's catch-up read of the whole file
//! with the default patterns (both cores), the same on one thread, `wc -l`,
//! `grep -E -c` with the same patterns and `rg -c` when installed, best of three each on a warm
//! page cache, prints each one's ratio to `wc -l` (the cost of reading the bytes), and checks
//! that tokentop and grep count the same lines.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use tokentop::config::PatternSettings;
use tokentop::config::{LogFormat, LogInput, LogSourceSettings};
use tokentop::engine::logs::{
    CatchUpSettings, PARALLEL_MIN_BYTES, PatternSet, SourceEvent, classify_file, spawn_sources_with,
};

const DEFAULT_LINES: usize = 3_000_000;
const RUNS: usize = 3;

/// Messages the default patterns match (one line in twenty is one of these).
const MATCHING: [&str; 9] = [
    "WhatsApp access token refreshed successfully",
    "WhatsApp token is expired or expiring soon, refreshing...",
    "WhatsApp token expired, attempting refresh",
    "Failed to refresh WhatsApp token: (#190) Error validating access token",
    "Refresh token or App ID not configured",
    "Failed to send WhatsApp message to 4915112345678: (#131047) Re-engagement message",
    "failed to send message id={n} status=500",
    "WhatsApp message sent wamid.HBgLNDkxNTExMjM0NTY3OBUCABEYEjQ{n}",
    "Message sent to 4917623{n} template=order_update",
];

/// The rest: ordinary traffic, many of them near misses of the patterns.
const ORDINARY: [(&str, &str); 10] = [
    (
        "request completed",
        r#""method":"GET","path":"/api/v1/orders/{n}","status":200,"latency_ms":{ms}"#,
    ),
    (
        "webhook received",
        r#""path":"/webhooks/whatsapp","status":200,"bytes":1832,"latency_ms":{ms}"#,
    ),
    (
        "processed job",
        r#""worker":3,"job_id":{n},"queue":"default","attempts":1,"took_ms":{ms}"#,
    ),
    (
        "WhatsApp client using cached token",
        r#""phone_number_id":"10{n}","token_age_s":{ms}"#,
    ),
    ("token cache hit", r#""key":"wa:{n}","ttl_s":3600"#),
    (
        "WhatsApp token is valid for 59 days",
        r#""next_check_s":{ms},"app_id":"5{n}""#,
    ),
    (
        "message queued for delivery",
        r#""message_id":{n},"retries":0,"queue":"outbound""#,
    ),
    (
        "slow query",
        r#""table":"messages","rows":{n},"took_ms":{ms}"#,
    ),
    (
        "message accepted by Graph API",
        r#""message_id":{n},"latency_ms":{ms},"status":"accepted""#,
    ),
    (
        "template message rendered",
        r#""template":"order_update","language":"de","message_id":{n}"#,
    ),
];

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// One line the way `tracing-subscriber`'s JSON formatter writes it.
fn json_line(out: &mut impl Write, i: usize, r: u64, message: &str, fields: &str) {
    let secs = i / 40 % 86_400;
    let (h, m, s, millis) = (secs / 3600, secs / 60 % 60, secs % 60, r % 1000);
    let level = if message.contains("ailed") {
        "ERROR"
    } else {
        "INFO"
    };
    write!(
        out,
        r#"{{"timestamp":"2025-06-01T{h:02}:{m:02}:{s:02}.{millis:03}Z","level":"{level}","fields":{{"message":"{message}"{sep}{fields}}},"target":"app::whatsapp","span":{{"request_id":"{:016x}"}}}}"#,
        r.rotate_left(17),
        sep = if fields.is_empty() { "" } else { "," },
    )
    .unwrap();
    out.write_all(b"\n").unwrap();
}

/// Writes `lines` lines to `path`; returns the number of matching lines in it.
fn generate(path: &Path, lines: usize) -> u64 {
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path).unwrap());
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut matching = 0;
    for i in 0..lines {
        let r = rng.next();
        let fill = |s: &str| {
            s.replace("{n}", &format!("{:06}", (r >> 20) % 1_000_000))
                .replace("{ms}", &((r >> 40) % 900).to_string())
        };
        if r.is_multiple_of(20) {
            matching += 1;
            let message = fill(MATCHING[(r >> 8) as usize % MATCHING.len()]);
            json_line(&mut out, i, r, &message, "");
        } else {
            let (message, fields) = ORDINARY[(r >> 8) as usize % ORDINARY.len()];
            json_line(&mut out, i, r, message, &fill(fields));
        }
    }
    out.flush().unwrap();
    matching
}

/// The file named on the command line or by `TOKENTOP_BENCH_FILE`, or the generated log
/// (made on the first run).
fn input_file() -> PathBuf {
    let named = std::env::args_os()
        .skip(1)
        .find(|a| !a.to_string_lossy().starts_with("--"));
    if let Some(path) = named.or_else(|| std::env::var_os("TOKENTOP_BENCH_FILE")) {
        return PathBuf::from(path);
    }
    let lines = std::env::var("TOKENTOP_BENCH_LINES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_LINES);
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("classify-{lines}.jsonl"));
    if !path.exists() {
        let started = Instant::now();
        let partial = path.with_extension("partial");
        let matching = generate(&partial, lines);
        std::fs::rename(&partial, &path).unwrap();
        println!(
            "generated {} ({lines} lines, {matching} matching) in {:.1} s",
            path.display(),
            started.elapsed().as_secs_f64()
        );
    }
    path
}

/// The same catch-up read on one thread: stretches too short to be split in two.
fn one_thread(set: &PatternSet, path: &Path) -> u64 {
    let file = File::open(path).unwrap();
    let len = file.metadata().unwrap().len();
    let mut matched = 0;
    let mut at = 0;
    while at < len {
        let end = len.min(at + PARALLEL_MIN_BYTES - 1);
        let next = classify_file(set, &file, at..end, |_, _, _| matched += 1).unwrap();
        // A line longer than a stretch (or a last line without its newline) ends it.
        if next == at {
            break;
        }
        at = next;
    }
    matched
}

/// Classifies the whole file the way a catch-up read does (both cores).
fn catch_up(set: &PatternSet, path: &Path) -> u64 {
    let file = File::open(path).unwrap();
    let len = file.metadata().unwrap().len();
    let mut matched = 0;
    classify_file(set, &file, 0..len, |_, _, _| matched += 1).unwrap();
    matched
}

/// A file follower catching up on `path` as a whole new file (a link to it appears where the
/// follower waits), until its events account for all `lines` lines; returns the lines sent
/// (one by one or in batches) rather than counted. The time includes the follower's whole
/// read, not the hub's handling.
fn follower(set: &PatternSet, path: &Path, lines: u64, catch_up: bool) -> (u64, Duration) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = path.with_extension("follow");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let followed = dir.join("app.log");
    let mode = if catch_up { "catch-up" } else { "line by line" };
    let catch_up = catch_up.then(|| CatchUpSettings {
        patterns: std::sync::Arc::new(set.clone()),
        min_bytes: PARALLEL_MIN_BYTES,
    });
    let (sent, took) = runtime.block_on(async {
        // As the daemon's (`SOURCE_CHANNEL_CAPACITY`).
        let (tx, mut rx) = tokio::sync::mpsc::channel(4096);
        let (stop, shutdown) = tokio::sync::watch::channel(false);
        let source = LogSourceSettings {
            name: "app".into(),
            input: LogInput::File(followed.clone()),
            format: LogFormat::Plain,
        };
        let _tasks = spawn_sources_with(&[source], catch_up, tx, shutdown);
        // Waiting for the file to appear.
        assert!(matches!(rx.recv().await, Some(SourceEvent::Notice { .. })));
        let start = Instant::now();
        std::fs::hard_link(path, &followed).unwrap();
        let (mut counted, mut sent) = (0, 0);
        while counted < lines {
            match rx.recv().await.unwrap() {
                SourceEvent::Line(_) => (counted, sent) = (counted + 1, sent + 1),
                SourceEvent::Lines(batch) => {
                    let n = batch.len() as u64;
                    (counted, sent) = (counted + n, sent + n);
                }
                SourceEvent::Unmatched { lines, .. } => counted += lines,
                _ => {}
            }
        }
        let took = start.elapsed();
        let _ = stop.send(true);
        (sent, took)
    });
    std::fs::remove_dir_all(&dir).unwrap();
    let secs = took.as_secs_f64();
    eprintln!("  follower, {mode}: {secs:.3} s ({sent} lines sent)");
    (sent, took)
}

/// Runs a counting tool and parses the first number it prints; `None` if it is not installed.
fn tool_count(program: &str, args: &[&str], path: &Path) -> Option<u64> {
    let out = Command::new(program)
        .args(args)
        .arg(path)
        .env("LC_ALL", "C")
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace().next()?.parse().ok()
}

fn best_of<T>(mut run: impl FnMut() -> T) -> (T, Duration) {
    let mut best = None::<(T, Duration)>;
    for _ in 0..RUNS {
        let start = Instant::now();
        let value = run();
        let took = start.elapsed();
        if best.as_ref().is_none_or(|(_, b)| took < *b) {
            best = Some((value, took));
        }
    }
    best.unwrap()
}

fn main() {
    let path = input_file();
    let bytes = std::fs::metadata(&path).unwrap().len();
    let set = PatternSet::new(&PatternSettings::default()).unwrap();
    let mut pattern_args = vec!["-c"];
    for p in set.patterns() {
        pattern_args.extend(["-e", p.regex.as_str()]);
    }
    let mut grep_args = vec!["-E", "-a"];
    grep_args.extend(&pattern_args);

    // Warm the page cache for every contender.
    std::io::copy(&mut File::open(&path).unwrap(), &mut std::io::sink()).unwrap();
    let (lines, wc) = best_of(|| tool_count("wc", &["-l"], &path).expect("wc must be installed"));
    let (matched, ours) = best_of(|| catch_up(&set, &path));
    let (one_matched, one) = best_of(|| one_thread(&set, &path));
    let (grep_matched, grep) = best_of(|| tool_count("grep", &grep_args, &path));
    let (rg_matched, rg) = best_of(|| tool_count("rg", &pattern_args, &path));

    println!(
        "{}: {lines} lines, {:.0} MB, {matched} matching the default patterns",
        path.display(),
        bytes as f64 / 1e6
    );
    let row = |name: &str, took: Duration, count: Option<u64>| {
        let Some(count) = count else {
            println!("{name:>10}: not installed");
            return;
        };
        let secs = took.as_secs_f64();
        println!(
            "{name:>10}: {secs:.3} s, {:>5.0} MB/s, {:.2}x wc -l  ({count})",
            bytes as f64 / secs / 1e6,
            secs / wc.as_secs_f64()
        );
    };
    row("wc -l", wc, Some(lines));
    row("tokentop", ours, Some(matched));
    row("1 thread", one, Some(one_matched));
    row("grep -E -c", grep, grep_matched);
    row("rg -c", rg, rg_matched);
    for catch_up in [true, false] {
        let ((sent, took), _) = best_of(|| follower(&set, &path, lines, catch_up));
        let name = if catch_up { "follower" } else { "line by line" };
        row(name, took, Some(sent));
    }
    assert_eq!(matched, one_matched, "catch-up and one thread disagree");
    if let Some(grep_matched) = grep_matched {
        assert_eq!(matched, grep_matched, "tokentop and grep disagree");
    }
}
