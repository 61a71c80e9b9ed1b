//! Keeps the long-running commands' resident memory near what they hold: one glibc malloc
//! arena, large blocks in their own mappings, and the allocator's free pages handed back to the
//! kernel after start-up.
//!
//! Start-up inspects every account at once and parses every account file; what that leaves
//! behind is freed, but glibc keeps the pages, spread over an arena per thread that touched
//! them. Measured with 1,000 accounts (issue 21): 32.7 MB resident, 28.9 MB with two arenas
//! and one trim, 22.9 MB with one arena and the fixed threshold, against 12.4 MB the daemon
//! actually holds; at 10,000 accounts 145.5 MB with two arenas, 131.9 MB now.
//!
//! The only module allowed `unsafe` (the crate denies it): the two calls below are glibc's,
//! take integers only and change no memory the program can see.
#![allow(unsafe_code)]

use std::time::Duration;

/// Arenas for all threads. glibc's default is eight per core; the runtime's few threads
/// contend little (each has its own small-block cache in front of the arena), and each extra
/// arena keeps its own free pages: at 10,000 accounts two arenas held 144.5 MB resident, one
/// 134.8 MB.
const MAX_ARENAS: i32 = 1;
/// Blocks from this size up get a mapping of their own, returned to the kernel when freed.
/// glibc's default starts here too but rises to the largest block freed so far (up to 32 MiB),
/// after which start-up's big transient tables and batch answers land in the heap and leave
/// holes between long-lived blocks: at 10,000 accounts 134.8 MB resident with the rising
/// threshold, 130.0 MB with it fixed.
const MMAP_THRESHOLD_BYTES: i32 = 128 * 1024;
/// When start-up's transient allocations are freed (every account's first inspection is
/// back within seconds even at 10,000 accounts).
const FIRST_RELEASE_AFTER: Duration = Duration::from_secs(30);
/// Later releases, for what reloads, scrapes and rounds leave behind. A release took 0.5 ms
/// at 1,000 accounts and 5 ms at 10,000.
const RELEASE_INTERVAL: Duration = Duration::from_secs(600);

/// Limits glibc's malloc arenas and fixes its mapping threshold; call before any thread starts
/// (first thing in `main`).
pub fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; it takes plain integers and touches no
    // memory of ours. Called before any other thread exists, as glibc recommends.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, MAX_ARENAS);
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES);
    }
}

/// Hands the allocator's free pages back to the kernel.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let started = std::time::Instant::now();
        // SAFETY: malloc_trim only returns free memory to the kernel; no pointer of ours is
        // passed or invalidated, and glibc's allocator is thread-safe while it runs.
        unsafe {
            libc::malloc_trim(0);
        }
        tracing::debug!(
            micros = started.elapsed().as_micros(),
            "returned free memory to the kernel"
        );
    }
}

/// Releases free memory once start-up settled, then every [`RELEASE_INTERVAL`]: a timer, no
/// work in between.
pub fn spawn_releases() {
    tokio::spawn(async {
        tokio::time::sleep(FIRST_RELEASE_AFTER).await;
        loop {
            release_free_memory();
            tokio::time::sleep(RELEASE_INTERVAL).await;
        }
    });
}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    use super::*;

    /// Resident anonymous memory of this process, in KiB.
    fn rss_anon_kib() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        status
            .lines()
            .find_map(|line| line.strip_prefix("RssAnon:"))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    #[test]
    fn freed_small_allocations_stop_being_resident_once_released() {
        // On a thread of its own, so the allocations share an arena with no other test's.
        let (before, after) = std::thread::spawn(|| {
            // 64 MiB in 256-byte blocks, one in a hundred kept: the free ones sit between
            // live ones, where glibc keeps their pages until asked.
            let blocks: Vec<Box<[u8; 256]>> = (0..262_144).map(|_| Box::new([1u8; 256])).collect();
            let kept: Vec<Box<[u8; 256]>> = blocks.into_iter().step_by(100).collect();
            let before = rss_anon_kib();
            release_free_memory();
            let after = rss_anon_kib();
            drop(kept);
            (before, after)
        })
        .join()
        .unwrap_or_default();
        assert!(
            after + 32 * 1024 < before,
            "resident before {before} KiB, after the release {after} KiB"
        );
    }
}
