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

/// Everything a scoped subscriber of [`capture`] wrote.
#[derive(Clone, Default)]
pub struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// This thread's events up to `level`, in plain text, until the guard is dropped.
pub fn capture(level: tracing::Level) -> (Captured, DefaultGuard) {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_ansi(false)
        .with_writer({
            let captured = captured.clone();
            move || captured.clone()
        })
        .finish();
    let guard = set_default(subscriber);
    (captured, guard)
}
