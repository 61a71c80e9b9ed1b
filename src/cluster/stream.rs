//! Reading the cluster's history stream, newest rows last, for `tokentop history` and the
//! dashboard. Rows are checked like the history file's: an unreadable one is skipped.

use crate::config::ClusterSettings;
use crate::engine::history::HistoryEntry;

use super::RedisCoordinator;
use super::conn::Connection;
use super::scripts::Keys;

/// The stream field that holds a row's JSON.
pub const ENTRY_FIELD: &str = "entry";
/// A row longer than this is not tokentop's (rows are a few hundred bytes).
const MAX_ROW_BYTES: usize = 64 * 1024;

/// The newest `limit` rows of the cluster's history, oldest first. A bare connection: a
/// reader is not a member (no heartbeat, no subscription).
pub async fn read_history(
    settings: &ClusterSettings,
    limit: usize,
) -> anyhow::Result<Vec<HistoryEntry>> {
    let (conn, _) = super::connection(settings)?;
    read_rows(&conn, &Keys::new(&settings.key_prefix), limit).await
}

impl RedisCoordinator {
    /// See [`read_history`].
    pub async fn read_history(&self, limit: usize) -> anyhow::Result<Vec<HistoryEntry>> {
        read_rows(&self.inner.conn, &self.inner.keys, limit).await
    }
}

async fn read_rows(
    conn: &Connection,
    keys: &Keys,
    limit: usize,
) -> anyhow::Result<Vec<HistoryEntry>> {
    let key = keys.history();
    type Rows = Vec<(String, Vec<(String, Vec<u8>)>)>;
    let rows: Rows = conn
        .run(|mut conn| async move {
            redis::cmd("XREVRANGE")
                .arg(key)
                .arg("+")
                .arg("-")
                .arg("COUNT")
                .arg(limit.max(1))
                .query_async(&mut conn)
                .await
        })
        .await
        .map_err(|err| anyhow::anyhow!("cannot read the cluster's history from Redis: {err}"))?;
    let mut entries: Vec<HistoryEntry> = rows
        .into_iter()
        .filter_map(|(_, fields)| {
            let (_, json) = fields.into_iter().find(|(name, _)| name == ENTRY_FIELD)?;
            (json.len() <= MAX_ROW_BYTES).then(|| serde_json::from_slice(&json).ok())?
        })
        .collect();
    entries.reverse();
    Ok(entries)
}
