//! Where the history comes from: the cluster's Redis stream with `[cluster]` (every member's
//! rows, each naming its host), else this host's `history.jsonl`.

use anyhow::Context;

use crate::config::Settings;
use crate::engine::history::{HistoryEntry, HistoryLog};

/// Rows read from the cluster's stream at most (the newest); the data dir's file is bounded
/// by its own size cap.
pub const CLUSTER_HISTORY_ROWS: usize = 50_000;

/// The history, oldest first, and where it was read. With `[cluster]` and Redis away, this
/// host's file is read instead and `where_from` says so.
pub async fn load(settings: &Settings) -> anyhow::Result<(Vec<HistoryEntry>, String)> {
    let log = HistoryLog::new(&settings.data_dir);
    if settings.cluster.redis_url.is_some() {
        let read =
            crate::cluster::stream::read_history(&settings.cluster, CLUSTER_HISTORY_ROWS).await;
        match read {
            Ok(rows) => return Ok((rows, "the cluster's Redis stream".to_string())),
            Err(err) => {
                tracing::warn!("{err:#}");
                eprintln!(
                    "tokentop: {err:#}; showing this host's history ({}) only",
                    log.path().display()
                );
            }
        }
    }
    let loaded = log
        .load_counted()
        .with_context(|| format!("cannot read {}", log.path().display()))?;
    say_skipped(&log, loaded.skipped);
    Ok((loaded.entries, log.path().display().to_string()))
}

/// The newest `limit` rows of `account` (every account: `None`), oldest first; from this
/// host's file they are read from its end, so `--limit` costs what it shows.
pub async fn load_newest(
    settings: &Settings,
    account: Option<&str>,
    limit: usize,
) -> anyhow::Result<(Vec<HistoryEntry>, String)> {
    let wanted = |e: &HistoryEntry| account.is_none_or(|a| a == e.account);
    if settings.cluster.redis_url.is_some() {
        let (rows, where_from) = load(settings).await?;
        let mut rows: Vec<HistoryEntry> = rows.into_iter().filter(wanted).collect();
        rows.drain(..rows.len().saturating_sub(limit));
        return Ok((rows, where_from));
    }
    let log = HistoryLog::new(&settings.data_dir);
    let loaded = log
        .load_newest(limit, wanted)
        .with_context(|| format!("cannot read {}", log.path().display()))?;
    say_skipped(&log, loaded.skipped);
    Ok((loaded.entries, log.path().display().to_string()))
}

/// Lines that could not be used are counted aloud, never dropped silently.
fn say_skipped(log: &HistoryLog, skipped: usize) {
    if skipped > 0 {
        let lines = if skipped == 1 { "line" } else { "lines" };
        eprintln!(
            "tokentop: skipped {skipped} {lines} of {} that could not be read (torn, over {} KiB, or not a history row)",
            log.path().display(),
            crate::engine::history::read::MAX_LINE_BYTES / 1024
        );
    }
}
