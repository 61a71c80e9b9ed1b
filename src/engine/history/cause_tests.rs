//! The words of history rows: every word any version wrote reads as its cause under its event
//! and writes back byte for byte; unknown words survive verbatim; rows of old files read.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;

use super::*;
use crate::engine::history::{HistoryEntry, HistoryEvent::*, HistoryLog, Outcome};
use crate::graph::Expiry;

/// Every (event, trigger) pair a version of tokentop wrote, found with
/// `git log -p -S 'HistoryEntry::new' -- src` and the literals passed down to it (the refresh
/// triggers, `inspect_and_plan`, `alert`, `record_publish`, `refreshed_row`), spelled out
/// here rather than taken from the enums so that a changed word fails.
const WRITTEN: [(HistoryEvent, &str); 26] = [
    (Refresh, "scheduled"),
    (Refresh, "retry"),
    (Refresh, "forced"),
    (Refresh, "send-guard"),
    (Refresh, "auth-error"),
    (Refresh, "exchange"),
    (Inspect, "startup"),
    (Inspect, "check"),
    (Inspect, "cluster"),
    (Inspect, "after-refresh"),
    (Publish, "env-file"),
    (Publish, "token-file"),
    (Publish, "on-refresh"),
    (Publish, "signal"),
    (Publish, "restart"),
    (Send, "test"),
    (Send, "proxy"),
    (Alert, "re-auth"),
    (Alert, "permission"),
    (Alert, "store"),
    (Alert, "rate-limit"),
    (Alert, "restarted"),
    (Alert, "gave-up"),
    (Alert, "revoked"),
    (Alert, "phone-quality"),
    (Alert, "failure-burst"),
];

const EVENTS: [HistoryEvent; 5] = [Inspect, Refresh, Publish, Send, Alert];

fn every_known_cause() -> Vec<Cause> {
    let mut all = vec![Cause::Exchange];
    all.extend(Trigger::ALL.iter().copied().map(Cause::from));
    all.extend(InspectReason::ALL.iter().copied().map(Cause::from));
    all.extend(PublishTarget::ALL.iter().copied().map(Cause::from));
    all.extend(SendChannel::ALL.iter().copied().map(Cause::from));
    all.extend(AlertKind::ALL.iter().copied().map(Cause::from));
    all
}

fn event_word(event: HistoryEvent) -> String {
    serde_json::to_value(event)
        .unwrap()
        .as_str()
        .unwrap()
        .to_string()
}

/// A row as `history.jsonl` holds it, with `rest` (`,"latency_ms":312`) after the outcome.
fn line(event: HistoryEvent, word: &str, rest: &str) -> String {
    let word = serde_json::to_string(word).unwrap();
    format!(
        r#"{{"time":"2026-11-28T10:00:00Z","account":"a","event":"{}","trigger":{word},"outcome":"ok"{rest}}}"#,
        event_word(event)
    )
}

fn read(text: &str) -> HistoryEntry {
    serde_json::from_str(text).unwrap_or_else(|err| panic!("{text}: {err}"))
}

fn write(entry: &HistoryEntry) -> String {
    serde_json::to_string(entry).unwrap()
}

#[test]
fn every_word_written_reads_as_a_known_cause_and_writes_back_byte_for_byte() {
    for (event, word) in WRITTEN {
        for rest in [
            "",
            r#","latency_ms":312,"new_expires_at":1800000000,"token":"EAAG…x9Qf""#,
        ] {
            let text = line(event, word, rest);
            let entry = read(&text);
            assert!(
                !matches!(entry.cause, Cause::Other { .. }),
                "{text} reads as {:?}",
                entry.cause
            );
            assert_eq!(entry.event(), event, "{text}");
            assert_eq!(write(&entry), text);
        }
    }
}

#[test]
fn the_words_written_are_exactly_the_known_causes() {
    let mut written: Vec<(HistoryEvent, &str)> = WRITTEN.to_vec();
    let mut known: Vec<(HistoryEvent, &str)> = Vec::new();
    let causes = every_known_cause();
    known.extend(causes.iter().map(|cause| (cause.event(), cause.word())));
    let key = |pair: &(HistoryEvent, &str)| (event_word(pair.0), pair.1.to_string());
    written.sort_by_key(key);
    known.sort_by_key(key);
    assert_eq!(written, known);
}

#[test]
fn each_word_means_what_its_writer_meant() {
    let meant = [
        (Refresh, "send-guard", Cause::Refresh(Trigger::SendGuard)),
        (Refresh, "exchange", Cause::Exchange),
        (
            Inspect,
            "after-refresh",
            Cause::Inspect(InspectReason::AfterRefresh),
        ),
        (Publish, "env-file", Cause::Publish(PublishTarget::EnvFile)),
        (Send, "proxy", Cause::Send(SendChannel::Proxy)),
        (Alert, "re-auth", Cause::Alert(AlertKind::ReAuth)),
        (Alert, "gave-up", Cause::Alert(AlertKind::GaveUp)),
    ];
    for (event, word, cause) in meant {
        assert_eq!(Cause::parse(event, word), cause, "{word}");
    }
}

#[test]
fn a_word_is_read_under_its_event_only() {
    for (written_under, word) in WRITTEN {
        for event in EVENTS.into_iter().filter(|e| *e != written_under) {
            let text = line(event, word, "");
            let entry = read(&text);
            let other = Cause::Other {
                event,
                word: word.to_string(),
            };
            assert_eq!(entry.cause, other, "{text}");
            assert_eq!(write(&entry), text);
        }
    }
}

#[test]
fn unknown_words_are_kept_verbatim_and_written_back_unchanged() {
    let words = [
        "webhook",
        "",
        "Scheduled",
        "check ",
        "a\"b\\c",
        "über",
        "re_auth",
    ];
    for event in EVENTS {
        for word in words {
            let text = line(event, word, "");
            let entry = read(&text);
            assert!(matches!(&entry.cause, Cause::Other { .. }), "{text}");
            assert_eq!((entry.event(), entry.cause.word()), (event, word));
            assert_eq!(write(&entry), text);
        }
    }
}

#[test]
fn rows_of_old_files_read_and_keep_their_words() {
    let dir = tempfile::tempdir().unwrap();
    let log = HistoryLog::new(dir.path());
    // As the first versions wrote them: never as 0, no host, the error unboxed but the same.
    let old = [
        r#"{"time":"2026-11-28T10:00:00Z","account":"main","event":"refresh","trigger":"exchange","outcome":"ok","new_expires_at":0,"token":"EAAG…x9Qf"}"#,
        r#"{"time":"2026-11-28T10:00:01Z","account":"main","event":"inspect","trigger":"after-refresh","outcome":"ok","latency_ms":88,"new_expires_at":1800000000}"#,
        r#"{"time":"2026-11-28T10:00:02Z","account":"main","event":"refresh","trigger":"auth-error","outcome":"failed","latency_ms":401,"error":{"code":190,"subcode":463,"class":"token dead","message":"Session has expired","fbtrace_id":"AbC"}}"#,
        r#"{"time":"2026-11-28T10:00:03Z","account":"main","event":"alert","trigger":"store","outcome":"failed","detail":"cannot store"}"#,
        r#"{"time":"2026-11-28T10:00:04.250Z","account":"main","event":"publish","trigger":"on-refresh","outcome":"failed","detail":"exit 1","host":"web-1"}"#,
    ];
    std::fs::write(log.path(), old.join("\n") + "\n").unwrap();
    let rows = log.load().unwrap();
    let causes: Vec<Cause> = rows.iter().map(|e| e.cause.clone()).collect();
    assert_eq!(
        causes,
        [
            Cause::Exchange,
            Cause::Inspect(InspectReason::AfterRefresh),
            Cause::Refresh(Trigger::AuthError),
            Cause::Alert(AlertKind::Store),
            Cause::Publish(PublishTarget::OnRefresh),
        ]
    );
    assert_eq!(rows[0].new_expires_at, Some(Expiry::Never));
    assert_eq!(rows[2].error.as_ref().unwrap().code, Some(190));
    assert_eq!(rows[4].host.as_deref(), Some("web-1"));
    // Written again, only the old never (0) changes: to "never".
    for (row, text) in rows.iter().zip(old).skip(1) {
        assert_eq!(write(row), text);
    }
    assert_eq!(write(&rows[0]), old[0].replace(":0,", ":\"never\","));
}

fn any_event() -> impl Strategy<Value = HistoryEvent> {
    proptest::sample::select(EVENTS.to_vec())
}

/// Words of every event (so each is also tried under the others) and arbitrary text.
fn any_word() -> impl Strategy<Value = String> {
    let written: Vec<String> = WRITTEN.iter().map(|(_, w)| w.to_string()).collect();
    prop_oneof![
        2 => proptest::sample::select(written),
        1 => ".{0,16}",
        1 => "[\\x00-\\x1f\"\\\\\u{7f}\u{2028}é-]{0,8}",
    ]
}

fn any_entry() -> impl Strategy<Value = HistoryEntry> {
    let expiry = prop_oneof![
        Just(None),
        Just(Some(Expiry::Never)),
        (1i64..4_000_000_000).prop_map(|at| Some(Expiry::At(at))),
    ];
    (
        any_event(),
        any_word(),
        proptest::option::of(any::<u64>()),
        expiry,
        proptest::option::of(".{0,8}"),
        (0i64..4_000_000_000, 0u32..1_000_000_000),
    )
        .prop_map(|(event, word, latency_ms, expiry, detail, (secs, nanos))| {
            let mut entry = HistoryEntry::new("a", Cause::parse(event, &word), Outcome::Ok);
            entry.time = chrono::DateTime::from_timestamp(secs, nanos).unwrap();
            entry.latency_ms = latency_ms;
            entry.new_expires_at = expiry;
            entry.detail = detail;
            entry
        })
}

fn config() -> ProptestConfig {
    let mut config = ProptestConfig::with_cases(256);
    // No regression files written next to the sources.
    config.failure_persistence = None;
    config
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn every_cause_under_every_event_reads_back_as_itself(event in any_event(), word in any_word()) {
        let cause = Cause::parse(event, &word);
        prop_assert_eq!(cause.event(), event);
        prop_assert_eq!(cause.word(), word.as_str());
        prop_assert_eq!(Cause::parse(cause.event(), cause.word()), cause);
    }

    #[test]
    fn a_row_written_and_read_is_the_same_row_and_the_same_bytes(entry in any_entry()) {
        let text = write(&entry);
        let back = read(&text);
        prop_assert_eq!(&back, &entry);
        prop_assert_eq!(write(&back), text);
    }
}

#[test]
fn every_known_cause_is_reached_by_its_word_under_its_event() {
    for cause in every_known_cause() {
        assert_eq!(Cause::parse(cause.event(), cause.word()), cause);
        assert_eq!(cause.to_string(), cause.word());
    }
}
