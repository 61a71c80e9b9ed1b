//! A history row as written: one JSON object, the same in `history.jsonl`, the cluster's Redis
//! stream and `history --json`. The cause is two fields there, `event` and the `trigger`
//! word, read together ([`Cause::parse`]); the fields and their order are a stable format.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::cause::Cause;
use super::{HistoryEntry, HistoryError, HistoryEvent, Outcome};
use crate::graph::Expiry;

/// The fields of a line, in their order: borrowed from an entry when writing, owned when read.
#[derive(Serialize, Deserialize)]
struct Row<'a> {
    time: DateTime<Utc>,
    account: Cow<'a, str>,
    event: HistoryEvent,
    trigger: Cow<'a, str>,
    outcome: Outcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    latency_ms: Option<u64>,
    #[serde(
        default,
        skip_serializing_if = "expiry_field::unrecorded",
        with = "expiry_field"
    )]
    new_expires_at: Option<Expiry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    token: Option<Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<Cow<'a, HistoryError>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    detail: Option<Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    host: Option<Cow<'a, str>>,
}

impl Serialize for HistoryEntry {
    fn serialize<S: Serializer>(&self, out: S) -> Result<S::Ok, S::Error> {
        Row {
            time: self.time,
            account: Cow::Borrowed(&self.account),
            event: self.cause.event(),
            trigger: Cow::Borrowed(self.cause.word()),
            outcome: self.outcome,
            latency_ms: self.latency_ms,
            new_expires_at: self.new_expires_at,
            token: borrowed(&self.token),
            error: self.error.as_deref().map(Cow::Borrowed),
            detail: borrowed(&self.detail),
            host: borrowed(&self.host),
        }
        .serialize(out)
    }
}

fn borrowed(text: &Option<String>) -> Option<Cow<'_, str>> {
    text.as_deref().map(Cow::Borrowed)
}

impl<'de> Deserialize<'de> for HistoryEntry {
    fn deserialize<D: Deserializer<'de>>(input: D) -> Result<Self, D::Error> {
        let row = Row::deserialize(input)?;
        let owned = |text: Option<Cow<'_, str>>| text.map(Cow::into_owned);
        Ok(Self {
            time: row.time,
            account: row.account.into_owned(),
            cause: Cause::parse(row.event, &row.trigger),
            outcome: row.outcome,
            latency_ms: row.latency_ms,
            new_expires_at: row.new_expires_at,
            token: owned(row.token),
            error: row.error.map(|error| Box::new(error.into_owned())),
            detail: owned(row.detail),
            host: owned(row.host),
        })
    }
}

/// How `new_expires_at` is written and read: unix seconds, or `"never"`; the `0` older files
/// wrote for never reads as never.
mod expiry_field {
    use serde::de::Error;
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::graph::Expiry;

    const NEVER: &str = "never";

    /// Nothing worth a field: not recorded, or not known.
    pub fn unrecorded(value: &Option<Expiry>) -> bool {
        matches!(value, None | Some(Expiry::Unknown))
    }

    pub fn serialize<S: Serializer>(value: &Option<Expiry>, out: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(Expiry::At(at)) => out.serialize_i64(*at),
            Some(Expiry::Never) => out.serialize_str(NEVER),
            Some(Expiry::Unknown) | None => out.serialize_none(),
        }
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OnDisk {
        Unix(i64),
        Word(String),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(input: D) -> Result<Option<Expiry>, D::Error> {
        Ok(match Option::<OnDisk>::deserialize(input)? {
            None => None,
            Some(OnDisk::Unix(0)) => Some(Expiry::Never),
            Some(OnDisk::Unix(at)) => Some(Expiry::At(at)),
            Some(OnDisk::Word(word)) if word == NEVER => Some(Expiry::Never),
            Some(OnDisk::Word(_)) => {
                return Err(D::Error::custom(
                    "new_expires_at is neither unix seconds nor \"never\"",
                ));
            }
        })
    }
}
