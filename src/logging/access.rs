//! The proxy's access line, one per request: formatted by hand into a reused buffer and handed
//! to the log writers directly, byte for byte the line `tracing`'s fmt layers wrote for the
//! event (their formatting, once per destination, was about 5% of the proxy's CPU, issue 21).
//! Only where those layers' output is reproduced (the file, plain-text stderr without colour);
//! otherwise, and without [`register`] (tests with their own subscriber), the line is the
//! `tracing` event it always was. `RUST_LOG` still decides whether it is written.

use std::cell::RefCell;
use std::io::Write;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing_appender::non_blocking::NonBlocking;
use tracing_subscriber::fmt::MakeWriter;

/// The target of the access lines, shown in the file (`tokentop::proxy: `).
pub const TARGET: &str = "tokentop::proxy";

/// What the access log says about one request.
#[derive(Debug, Clone, Copy)]
pub struct AccessLine<'a> {
    pub method: &'a str,
    /// The request's path, without the query (which may hold a client's credential).
    pub path: &'a str,
    pub status: u16,
    pub account: Option<&'a str>,
    pub upstream_ms: Option<u64>,
    pub retried: bool,
    pub total_ms: u64,
}

/// The writers the subscriber's layers write to, for the lines written by hand.
struct Sinks {
    file: Option<NonBlocking>,
    /// Only plain-text stderr at INFO: the lines it gets are the same minus the target.
    stderr: Option<NonBlocking>,
}

static SINKS: OnceLock<Sinks> = OnceLock::new();

/// Called once the subscriber whose layers write to these is installed: `stderr` only when
/// that layer is plain text without colour and lets INFO through.
pub(super) fn register(file: Option<NonBlocking>, stderr: Option<NonBlocking>) {
    let _ = SINKS.set(Sinks { file, stderr });
}

thread_local! {
    /// The line for stderr, then the one for the file; kept between requests.
    static BUFFERS: RefCell<(Vec<u8>, Vec<u8>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// Writes the access line of one request.
pub fn log(line: &AccessLine<'_>) {
    let Some(sinks) = SINKS.get() else {
        return event(line);
    };
    if !tracing::enabled!(target: TARGET, tracing::Level::INFO) {
        return;
    }
    BUFFERS.with(|buffers| {
        let Ok(mut buffers) = buffers.try_borrow_mut() else {
            return event(line);
        };
        let (short, full) = &mut *buffers;
        short.clear();
        write_timestamp(short, SystemTime::now());
        short.extend_from_slice(b"  INFO ");
        let prefix = short.len();
        write_fields(short, line);
        if let Some(file) = &sinks.file {
            full.clear();
            full.extend_from_slice(&short[..prefix]);
            full.extend_from_slice(TARGET.as_bytes());
            full.extend_from_slice(b": ");
            full.extend_from_slice(&short[prefix..]);
            // As the fmt layer: a line the writer cannot take is dropped, never an error.
            let _ = file.make_writer().write_all(full);
        }
        if let Some(stderr) = &sinks.stderr {
            let _ = stderr.make_writer().write_all(short);
        }
    });
}

/// The line as a `tracing` event, as the proxy logged it before.
fn event(line: &AccessLine<'_>) {
    tracing::info!(
        target: TARGET,
        account = line.account.unwrap_or("-"),
        upstream_ms = line.upstream_ms,
        retried = line.retried,
        total_ms = line.total_ms,
        "{} {} {}",
        line.method,
        line.path,
        line.status
    );
}

/// `POST /v21.0/1/messages 200 account="main" upstream_ms=1 retried=false total_ms=1\n`, as
/// the fmt layer's default fields: the message escaped as it escapes one, the account as
/// `Debug` of a `str`.
fn write_fields(out: &mut Vec<u8>, line: &AccessLine<'_>) {
    escaped_into(out, line.method);
    out.push(b' ');
    escaped_into(out, line.path);
    out.push(b' ');
    push_number(out, u64::from(line.status));
    out.extend_from_slice(b" account=");
    let _ = write!(out, "{:?}", line.account.unwrap_or("-"));
    if let Some(ms) = line.upstream_ms {
        out.extend_from_slice(b" upstream_ms=");
        push_number(out, ms);
    }
    out.extend_from_slice(if line.retried {
        b" retried=true total_ms="
    } else {
        b" retried=false total_ms="
    });
    push_number(out, line.total_ms);
    out.push(b'\n');
}

/// The fmt layer's escaping of a message: terminal control characters written out.
fn escaped_into(out: &mut Vec<u8>, text: &str) {
    let plain = |c: char| {
        !matches!(
            c,
            '\x1b' | '\x07' | '\x08' | '\x0c' | '\x7f' | '\u{80}'..='\u{9f}'
        )
    };
    if text.chars().all(plain) {
        out.extend_from_slice(text.as_bytes());
        return;
    }
    for c in text.chars() {
        match c {
            '\x1b' | '\x07' | '\x08' | '\x0c' | '\x7f' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            '\u{80}'..='\u{9f}' => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => {
                let mut utf8 = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
            }
        }
    }
}

fn push_number(out: &mut Vec<u8>, value: u64) {
    padded(out, value, 1);
}

/// `value` in decimal, zero-padded to `width` digits (at most 20, a `u64`'s).
fn padded(out: &mut Vec<u8>, mut value: u64, width: usize) {
    let mut digits = [b'0'; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    let start = at.min(digits.len().saturating_sub(width));
    out.extend_from_slice(&digits[start..]);
}

/// `2026-12-07T18:48:01.123456Z`, as tracing-subscriber's `SystemTime` timer writes it (UTC,
/// microseconds; a clock before 1970 is written as 1970, which that timer never meets either).
/// The calendar is chrono's; only the digits are written here, without a format string.
fn write_timestamp(out: &mut Vec<u8>, now: SystemTime) {
    use chrono::{Datelike, Timelike};
    let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = i64::try_from(since.as_secs()).unwrap_or(i64::MAX);
    let at = chrono::DateTime::from_timestamp(secs, since.subsec_nanos()).unwrap_or_default();
    let year = u64::try_from(at.year()).unwrap_or(0).min(9999);
    padded(out, year, 4);
    out.push(b'-');
    padded(out, at.month().into(), 2);
    out.push(b'-');
    padded(out, at.day().into(), 2);
    out.push(b'T');
    padded(out, at.hour().into(), 2);
    out.push(b':');
    padded(out, at.minute().into(), 2);
    out.push(b':');
    padded(out, at.second().into(), 2);
    out.push(b'.');
    padded(out, since.subsec_micros().into(), 6);
    out.push(b'Z');
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use super::*;

    /// The time every line of a test is written at.
    const AT: Duration = Duration::from_micros(1_796_668_081_000_042);

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// What the fmt layer (as `logging::install` sets it up) writes for the event, its
    /// timestamp (the clock's) cut off, and what the hand-rolled line is without it.
    fn both(line: &AccessLine<'_>, with_target: bool) -> (String, String) {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_target(with_target)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || event(line));
        let layer = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let (_, layer) = layer.split_once(' ').unwrap();
        let mut ours = b"  INFO ".to_vec();
        if with_target {
            ours.extend_from_slice(b"tokentop::proxy: ");
        }
        write_fields(&mut ours, line);
        (format!(" {layer}"), String::from_utf8(ours).unwrap())
    }

    #[test]
    fn the_line_is_the_one_the_fmt_layers_wrote() {
        let sent = AccessLine {
            method: "POST",
            path: "/v21.0/106540352242922/messages",
            status: 200,
            account: Some("main"),
            upstream_ms: Some(3),
            retried: false,
            total_ms: 4,
        };
        let refused = AccessLine {
            method: "GET",
            path: "/v25.0/oauth/access_token",
            status: 403,
            account: None,
            upstream_ms: None,
            retried: true,
            total_ms: 0,
        };
        let odd = AccessLine {
            method: "PATCH",
            path: "/a\x1b[31m/\u{85}/caf\u{e9}/\x7f",
            status: 502,
            account: Some("we\"ird\\name\n\u{1b}"),
            upstream_ms: Some(u64::MAX),
            retried: false,
            total_ms: 1_234_567,
        };
        for line in [sent, refused, odd] {
            for with_target in [true, false] {
                let (layer, ours) = both(&line, with_target);
                assert_eq!(ours, layer, "{line:?}");
            }
        }
        let (_, ours) = both(&sent, true);
        assert_eq!(
            ours,
            "  INFO tokentop::proxy: POST /v21.0/106540352242922/messages 200 account=\"main\" upstream_ms=3 retried=false total_ms=4\n"
        );
    }

    #[test]
    fn timestamps_are_tracing_subscribers() {
        let mut seconds = 0u64;
        // Every day for 400 years (leap days, centuries), at odd times of day.
        while seconds < 400 * 366 * 86_400 {
            let at = UNIX_EPOCH + Duration::new(seconds, 987_654_321);
            let mut ours = Vec::new();
            write_timestamp(&mut ours, at);
            let chrono: chrono::DateTime<chrono::Utc> = at.into();
            let expected = chrono.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
            assert_eq!(String::from_utf8(ours).unwrap(), expected);
            seconds += 86_400 + 3_599;
        }
        let mut ours = Vec::new();
        write_timestamp(&mut ours, UNIX_EPOCH + AT);
        assert_eq!(ours, b"2026-12-07T18:28:01.000042Z");
    }

    #[test]
    fn a_line_names_no_secret_it_was_not_given() {
        let mut out = Vec::new();
        write_fields(
            &mut out,
            &AccessLine {
                method: "POST",
                path: "/v21.0/1/messages",
                status: 200,
                account: Some("main"),
                upstream_ms: Some(1),
                retried: false,
                total_ms: 1,
            },
        );
        let text = String::from_utf8(out).unwrap();
        for secret in ["access_token", "appsecret", "Bearer", "?"] {
            assert!(!text.contains(secret), "{text}");
        }
    }
}
