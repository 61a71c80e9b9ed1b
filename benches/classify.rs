//! Classification throughput of the default patterns against `grep -E -c` on a 5M-line log.
//!
//! `cargo bench --bench classify`: generates ~400 MB of realistic application log (about 1%
//! of lines matching, plenty of near misses), then times `PatternSet::classify_buffer` over
//! 4 MiB chunks and `grep -E -c` with the same patterns, best of three runs each on a warm
//! page cache, and checks that both count the same lines.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use tokentop::config::PatternSettings;
use tokentop::engine::logs::PatternSet;

/// Lines generated; `TOKENTOP_BENCH_LINES` overrides it for a quick check of the bench itself.
fn lines() -> usize {
    std::env::var("TOKENTOP_BENCH_LINES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000_000)
}
const CHUNK_BYTES: usize = 4 << 20;
const RUNS: usize = 3;

const MATCHING: [&str; 9] = [
    "INFO auth: WhatsApp access token refreshed successfully",
    "WARN auth: WhatsApp token is expired or expiring soon, refreshing...",
    "WARN send: WhatsApp token expired, attempting refresh",
    "ERROR auth: Failed to refresh WhatsApp token: (#190) Error validating access token",
    "ERROR auth: Refresh token or App ID not configured",
    "ERROR send: Failed to send WhatsApp message to 4915112345678: (#131047) Re-engagement",
    "ERROR send: failed to send message id=77812 status=500",
    "INFO send: WhatsApp message sent wamid.HBgLNDkxNTExMjM0NTY3OA",
    "INFO notify: Message sent to 4917623456789 template=order_update",
];

const ORDINARY: [&str; 10] = [
    "INFO http: GET /api/v1/orders/{n} 200 {ms}ms ip=10.0.3.4 ua=okhttp/4.12",
    "INFO http: POST /webhooks/whatsapp 200 {ms}ms bytes=1832",
    "DEBUG worker-3: processed job {n} in {ms}ms queue=default attempts=1",
    "DEBUG whatsapp: WhatsApp client using cached token for phone {n}",
    "INFO cache: token cache hit key=wa:{n} ttl=3600s",
    "DEBUG auth: WhatsApp token is valid for 59 days, next check in {ms}s",
    "INFO http: GET /health 200 {ms}ms",
    "WARN db: slow query took {ms}ms table=messages rows={n}",
    "DEBUG queue: message queued for delivery id={n} retries=0",
    "INFO send: WhatsApp message accepted by Graph API id={n} in {ms}ms",
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

/// Writes the log; returns its size in bytes and the number of matching lines in it.
fn generate(path: &Path) -> (u64, u64) {
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path).unwrap());
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut matching = 0;
    for i in 0..lines() {
        let r = rng.next();
        let (secs, millis) = (i / 12 % 86_400, r % 1000);
        let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
        write!(out, "2025-06-01T{h:02}:{m:02}:{s:02}.{millis:03}Z ").unwrap();
        if r.is_multiple_of(100) {
            matching += 1;
            out.write_all(MATCHING[(r >> 8) as usize % MATCHING.len()].as_bytes())
                .unwrap();
        } else {
            let template = ORDINARY[(r >> 8) as usize % ORDINARY.len()];
            let line = template
                .replace("{n}", &format!("{:06}", (r >> 20) % 1_000_000))
                .replace("{ms}", &((r >> 40) % 900).to_string());
            out.write_all(line.as_bytes()).unwrap();
        }
        out.write_all(b"\n").unwrap();
    }
    out.flush().unwrap();
    (std::fs::metadata(path).unwrap().len(), matching)
}

/// Classifies the file in 4 MiB chunks, carrying a partial last line into the next chunk.
fn classify_file(set: &PatternSet, path: &Path) -> Vec<u64> {
    let mut counts = vec![0u64; set.patterns().len()];
    let mut file = File::open(path).unwrap();
    let mut buf = vec![0u8; CHUNK_BYTES];
    let mut filled = 0;
    loop {
        let n = file.read(&mut buf[filled..]).unwrap();
        filled += n;
        let complete = if n == 0 {
            filled
        } else {
            match memchr::memrchr(b'\n', &buf[..filled]) {
                Some(i) => i + 1,
                None if filled == buf.len() => filled,
                None => continue,
            }
        };
        set.classify_buffer(&buf[..complete], |_, _, m| counts[m.index] += 1);
        buf.copy_within(complete..filled, 0);
        filled -= complete;
        if n == 0 {
            return counts;
        }
    }
}

fn grep_count(patterns: &[&str], path: &Path) -> u64 {
    let mut cmd = Command::new("grep");
    cmd.arg("-E").arg("-c");
    for p in patterns {
        cmd.arg("-e").arg(p);
    }
    let out = cmd.arg(path).output().expect("grep must be installed");
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
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

fn report(name: &str, took: Duration, bytes: u64) {
    let secs = took.as_secs_f64();
    println!(
        "{name:>9}: {secs:.3} s, {:.1} M lines/s, {:.0} MB/s",
        lines() as f64 / secs / 1e6,
        bytes as f64 / secs / 1e6
    );
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    let started = Instant::now();
    let (bytes, generated_matches) = generate(&path);
    println!(
        "generated {} lines, {:.0} MB, {generated_matches} matching, in {:.1} s",
        lines(),
        bytes as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    let set = PatternSet::new(&PatternSettings::default()).unwrap();
    let patterns: Vec<&str> = set.patterns().iter().map(|p| p.regex.as_str()).collect();

    // Warm the page cache for both contenders.
    std::io::copy(&mut File::open(&path).unwrap(), &mut std::io::sink()).unwrap();
    let (counts, ours) = best_of(|| classify_file(&set, &path));
    let (grep_lines, grep) = best_of(|| grep_count(&patterns, &path));

    for (p, count) in set.patterns().iter().zip(&counts) {
        println!("{:>16}: {count}", p.name);
    }
    let total: u64 = counts.iter().sum();
    report("tokentop", ours, bytes);
    report("grep -E -c", grep, bytes);
    println!(
        "tokentop / grep speed: {:.2}x (matches: tokentop {total}, grep {grep_lines})",
        grep.as_secs_f64() / ours.as_secs_f64()
    );
    assert_eq!(total, grep_lines, "tokentop and grep disagree");
    assert_eq!(
        total, generated_matches,
        "generator and classifier disagree"
    );
}
