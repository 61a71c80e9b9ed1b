//! Loading a config of many accounts must be linear (issue 10's budget: 10,000 accounts under
//! 100 ms), valid and with an error in every account.
//!
//! `cargo bench --bench config_load`: writes both configs to a temp dir, loads each with
//! `tokentop::config::load` (best of five), and prints the times at 1,000, 2,000, 4,000 and
//! 10,000 accounts so the growth is visible. `TOKENTOP_BENCH_ACCOUNTS` caps the largest size.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fmt::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use tokentop::config::{EnvSnapshot, Overrides, load};

const RUNS: usize = 5;

fn sizes() -> Vec<usize> {
    let largest = std::env::var("TOKENTOP_BENCH_ACCOUNTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    [1_000, 2_000, 4_000, 10_000]
        .into_iter()
        .filter(|n| *n <= largest)
        .collect()
}

/// `accounts` accounts; with `broken`, each has an unknown key and a bad phone-number id.
fn config_text(accounts: usize, broken: bool) -> String {
    let mut text = String::from("[refresh]\ncheck-interval = \"15m\"\n\n");
    for i in 0..accounts {
        let _ = write!(
            text,
            "[[account]]\nname = \"acct-{i}\"\napp-id = \"{}\"\n\
             app-secret = {{ env = \"APP_SECRET\" }}\naccess-token = \"EAAGbenchtokenbenchtoken{i:08}\"\n\
             phone-number-id = \"{}\"\nbusiness-account-id = \"{}\"\n",
            100_000_000_000_000u64 + i as u64,
            if broken {
                "not-a-number".to_string()
            } else {
                (106_540_352_242_922u64 + i as u64).to_string()
            },
            200_000_000_000_000u64 + i as u64,
        );
        if broken {
            text.push_str("colour = \"blue\"\n");
        }
        text.push('\n');
    }
    text
}

fn time_load(path: &Path, expect_ok: bool) -> Duration {
    let overrides = Overrides {
        config: Some(path.to_path_buf()),
        data_dir: Some(std::env::temp_dir()),
        graph_url: None,
    };
    let env = EnvSnapshot::from_pairs([("APP_SECRET", "bench-app-secret")]);
    let mut best = Duration::MAX;
    for _ in 0..RUNS {
        let started = Instant::now();
        let loaded = load(&overrides, &env);
        best = best.min(started.elapsed());
        if loaded.is_ok() != expect_ok {
            let shown = loaded.err().map(|e| e.to_string()).unwrap_or_default();
            panic!(
                "expected ok = {expect_ok}: {}",
                shown.chars().take(500).collect::<String>()
            );
        }
    }
    best
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    println!("config load, best of {RUNS} (ms):");
    println!("{:>9} {:>10} {:>18}", "accounts", "valid", "error in each");
    for accounts in sizes() {
        let mut times = Vec::new();
        for broken in [false, true] {
            let path = dir.path().join(format!("{accounts}-{broken}.toml"));
            std::fs::write(&path, config_text(accounts, broken)).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
            times.push(time_load(&path, !broken));
        }
        println!(
            "{accounts:>9} {:>10.1} {:>18.1}",
            times[0].as_secs_f64() * 1e3,
            times[1].as_secs_f64() * 1e3
        );
    }
}
