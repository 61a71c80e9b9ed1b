//! Reading the Redis queue's answers: the scripts' replies (outcome, seq, head and cursors),
//! stream entries as queued webhooks, and Redis errors in the queue's terms.

use std::collections::HashMap;

use bytes::Bytes;
use redis::RedisError;

use super::{QueueError, QueuedWebhook};
use crate::cluster::conn::{Connection, is_unreachable};
use crate::engine::coordinator::CoordError;

/// A script's reply: what it did, a seq, and the head and cursors it saw.
pub struct Reply {
    pub outcome: i64,
    pub seq: u64,
    pub head: (u64, u64),
    pub cursors: Vec<(u64, u64)>,
}

impl Reply {
    pub fn parse(values: Vec<i64>) -> Result<Reply, QueueError> {
        let number = |i: usize| values.get(i).map(|n| u64::try_from(*n).unwrap_or(0));
        let (Some(seq), Some(head_seq), Some(head_bytes)) = (number(1), number(2), number(3))
        else {
            return Err(backend("a queue script answered too few numbers"));
        };
        let cursors = values[4..]
            .chunks(2)
            .map(|pair| {
                let n = |i: usize| pair.get(i).map_or(0, |n| u64::try_from(*n).unwrap_or(0));
                (n(0), n(1))
            })
            .collect();
        Ok(Reply {
            outcome: values[0],
            seq,
            head: (head_seq, head_bytes),
            cursors,
        })
    }
}

/// XREAD's reply: per stream, its entries (id, fields).
pub type StreamReply = Vec<(String, Vec<(String, Vec<(String, Vec<u8>)>)>)>;
pub type Entry = (u64, Vec<(String, Vec<u8>)>);

/// A stream entry as a queued webhook; `None` when it lacks the body or a valid signature.
pub fn entry(seq: u64, fields: Vec<(String, Vec<u8>)>) -> Option<QueuedWebhook> {
    let mut fields: HashMap<String, Vec<u8>> = fields.into_iter().collect();
    let body = Bytes::from(fields.remove("body")?);
    let signature = String::from_utf8(fields.remove("sig")?).ok()?;
    let received_at_unix = (fields.remove("at"))
        .and_then(|at| String::from_utf8(at).ok()?.parse().ok())
        .unwrap_or(0);
    Some(QueuedWebhook {
        seq,
        body,
        signature,
        received_at_unix,
    })
}

pub fn backend(reason: &str) -> QueueError {
    QueueError::Backend {
        reason: reason.to_string(),
    }
}

pub fn from_coord(err: CoordError) -> QueueError {
    match err {
        CoordError::Unavailable { reason, .. } => QueueError::Unavailable { reason },
        other => QueueError::Backend {
            reason: other.to_string(),
        },
    }
}

/// A failed command in the queue's terms; an unreachable Redis is marked down (logged once).
pub fn queue_error(conn: &Connection, err: &RedisError) -> QueueError {
    if is_unreachable(err) {
        from_coord(conn.mark_down(err))
    } else {
        backend(&conn.describe(err))
    }
}
