//! Scoped tracing subscribers that see every event of their thread, even while other tests of
//! the same binary run beside them.
//!
//! tracing-core caches, per call site, whether any subscriber wants it. While exactly one
//! dispatcher is alive it takes a fast path: a call site first reached on *another* thread is
//! asked of that thread's default (none) and cached as "never", and the global max level drops
//! to OFF, so the scoped subscriber of this test silently misses lines (a flaky secret test
//! in CI). A second dispatcher kept alive for the whole process turns that fast path off: every
//! call site is then registered against all live dispatchers, and each event still goes only to
//! its own thread's default.
use std::sync::OnceLock;

use tracing::Dispatch;
use tracing::subscriber::DefaultGuard;

static KEEP_INTEREST: OnceLock<Dispatch> = OnceLock::new();

/// Sets `subscriber` as this thread's default after making sure call sites reached elsewhere
/// are not cached as unwanted.
pub fn set_default(subscriber: impl tracing::Subscriber + Send + Sync + 'static) -> DefaultGuard {
    KEEP_INTEREST.get_or_init(|| {
        Dispatch::new(
            tracing_subscriber::fmt()
                .with_max_level(tracing::Level::TRACE)
                .with_writer(std::io::sink)
                .finish(),
        )
    });
    let guard = tracing::subscriber::set_default(subscriber);
    tracing::callsite::rebuild_interest_cache();
    guard
}
