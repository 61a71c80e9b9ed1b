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
    let rows = log
        .load()
        .with_context(|| format!("cannot read {}", log.path().display()))?;
    Ok((rows, log.path().display().to_string()))
}
