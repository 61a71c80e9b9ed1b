//! The token endpoint's metrics: every read by account, reader and result, and when each
//! reader last took each account's token. The handlers count into the families directly
//! (atomics); the monitor's exposition, which registered them, is encoded again after a change.
//!
//! Label values stay bounded: `account` is a configured name or [`UNKNOWN_ACCOUNT`] (a path
//! naming no account is anyone's input), `reader` a configured reader, `default`, or
//! [`NO_READER`] when the bearer was missing or wrong.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// The `account` of a read whose path names no configured account (names never contain
/// parentheses).
pub const UNKNOWN_ACCOUNT: &str = "(unknown)";
/// The `reader` of a read without a bearer that names one.
pub const NO_READER: &str = "(none)";

/// How a read ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadResult {
    /// 200: the token was handed out.
    Ok,
    /// 503: no usable token now (none, not inspected yet, expired, invalid, revoked).
    Refused,
    /// 401: no bearer, a wrong one, or the metrics one.
    Unauthorized,
    /// 403: a reader not allowed this account.
    Forbidden,
    /// 404: no account of that name.
    NotFound,
}

impl ReadResult {
    pub fn as_str(self) -> &'static str {
        match self {
            ReadResult::Ok => "ok",
            ReadResult::Refused => "refused",
            ReadResult::Unauthorized => "unauthorized",
            ReadResult::Forbidden => "forbidden",
            ReadResult::NotFound => "not_found",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReadLabels {
    account: String,
    reader: String,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReaderLabels {
    account: String,
    reader: String,
}

/// The families, shared by the handlers (which count) and the exposition (which reads).
#[derive(Clone, Default)]
pub struct TokenReadMetrics {
    reads: Family<ReadLabels, Counter>,
    last_read: Family<ReaderLabels, Gauge>,
    /// Set by every count, taken by the exposition: its cached rendering is stale then.
    changed: Arc<AtomicBool>,
}

impl TokenReadMetrics {
    /// With an `ok` series at 0 for every (account, reader) allowed, so that `increase()`
    /// sees the first read.
    pub fn new<'a>(allowed: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let metrics = Self::default();
        for (account, reader) in allowed {
            let _ = metrics.reads.get_or_create(&ReadLabels {
                account: account.to_string(),
                reader: reader.to_string(),
                result: ReadResult::Ok.as_str(),
            });
        }
        metrics
    }

    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "tokentop_token_reads",
            "Reads of the token endpoint by account, reader and result: ok, refused (no usable token: 503), unauthorized, forbidden, not_found",
            self.reads.clone(),
        );
        registry.register(
            "tokentop_token_last_read_timestamp_seconds",
            "When the reader last took the account's token from the token endpoint (unix seconds)",
            self.last_read.clone(),
        );
    }

    /// Counts one read; an `ok` one is also the reader's last read of the account.
    pub fn record(&self, account: &str, reader: &str, result: ReadResult, now_unix: i64) {
        let labels = ReadLabels {
            account: account.to_string(),
            reader: reader.to_string(),
            result: result.as_str(),
        };
        self.reads.get_or_create(&labels).inc();
        if result == ReadResult::Ok {
            let labels = ReaderLabels {
                account: account.to_string(),
                reader: reader.to_string(),
            };
            self.last_read.get_or_create(&labels).set(now_unix);
        }
        self.changed.store(true, Ordering::Release);
    }

    /// True once after any read since the last call.
    pub fn take_changed(&self) -> bool {
        self.changed.swap(false, Ordering::AcqRel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(registry: &Registry) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, registry).unwrap();
        out
    }

    #[test]
    fn reads_are_counted_by_result_and_only_ok_ones_are_last_reads() {
        let metrics = TokenReadMetrics::new([("main", "default")]);
        let mut registry = Registry::default();
        metrics.register(&mut registry);
        assert!(!metrics.take_changed());
        let text = render(&registry);
        assert!(
            text.contains(
                r#"tokentop_token_reads_total{account="main",reader="default",result="ok"} 0"#
            ),
            "{text}"
        );
        assert!(
            !text.contains("tokentop_token_last_read_timestamp_seconds{"),
            "{text}"
        );

        metrics.record("main", "default", ReadResult::Refused, 1_700_000_000);
        metrics.record(
            UNKNOWN_ACCOUNT,
            NO_READER,
            ReadResult::Unauthorized,
            1_700_000_001,
        );
        assert!(metrics.take_changed());
        assert!(!metrics.take_changed());
        let text = render(&registry);
        assert!(
            !text.contains("tokentop_token_last_read_timestamp_seconds{"),
            "{text}"
        );
        assert!(
            text.contains(r#"tokentop_token_reads_total{account="(unknown)",reader="(none)",result="unauthorized"} 1"#),
            "{text}"
        );

        metrics.record("main", "default", ReadResult::Ok, 1_700_000_002);
        let text = render(&registry);
        assert!(
            text.contains(r#"tokentop_token_last_read_timestamp_seconds{account="main",reader="default"} 1700000002"#),
            "{text}"
        );
        assert!(
            text.contains(
                r#"tokentop_token_reads_total{account="main",reader="default",result="refused"} 1"#
            ),
            "{text}"
        );
    }
}
