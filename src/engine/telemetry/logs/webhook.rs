//! Message status webhooks (`entry[].changes[].value.statuses[]`, REFERENCE.md section 10).

use serde::Deserialize;

use super::pricing::Pricing;

/// How far a message got. Ordering for the furthest state: `Sent < Delivered < Read/Played`;
/// `Failed` is terminal and handled apart (see [`DeliveryStatus::rank`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryStatus {
    Sent,
    Delivered,
    Read,
    Played,
    Failed,
}

impl DeliveryStatus {
    /// The word Meta uses for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Read => "read",
            Self::Played => "played",
            Self::Failed => "failed",
        }
    }

    /// Progress rank of a non-failed status; `None` for `Failed`.
    pub fn rank(self) -> Option<u8> {
        match self {
            Self::Sent => Some(0),
            Self::Delivered => Some(1),
            Self::Read | Self::Played => Some(2),
            Self::Failed => None,
        }
    }

    /// `read` and `played` imply delivery (`delivered` may be skipped by Meta).
    pub fn counts_as_delivered(self) -> bool {
        matches!(self, Self::Delivered | Self::Read | Self::Played)
    }

    fn parse(value: &str) -> Option<Self> {
        match value {
            "sent" => Some(Self::Sent),
            "delivered" => Some(Self::Delivered),
            "read" => Some(Self::Read),
            "played" => Some(Self::Played),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

/// One entry of `errors[]` on a failed status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusError {
    pub code: i64,
    pub title: Option<String>,
    pub message: Option<String>,
    /// `error_data.details`.
    pub details: Option<String>,
}

/// One status update of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookStatus {
    /// The wamid.
    pub message_id: String,
    pub status: DeliveryStatus,
    /// Unix seconds, as Meta sent it.
    pub timestamp: i64,
    /// The recipient's phone number (`recipient_id`); Meta may leave it out for a user who
    /// set a username.
    pub recipient_id: Option<String>,
    /// The recipient's business-scoped user id (BSUID, `recipient_user_id`), when sent.
    pub recipient_user_id: Option<String>,
    pub errors: Vec<StatusError>,
    /// The business phone number the status is about (`value.metadata.phone_number_id`).
    pub phone_number_id: Option<String>,
    /// What Meta charges the message as: on `sent` and on one of `delivered` / `read`.
    pub pricing: Option<Pricing>,
}

impl WebhookStatus {
    /// The recipient as sent: the phone number, else the business-scoped user id.
    pub fn recipient(&self) -> Option<&str> {
        self.recipient_id
            .as_deref()
            .or(self.recipient_user_id.as_deref())
    }
}

#[derive(Deserialize)]
struct Payload {
    #[serde(default)]
    entry: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(default)]
    changes: Vec<Change>,
}

#[derive(Deserialize)]
struct Change {
    #[serde(default)]
    value: Option<Value>,
}

#[derive(Deserialize)]
struct Value {
    #[serde(default)]
    statuses: Vec<RawStatus>,
    #[serde(default)]
    metadata: Option<Metadata>,
}

#[derive(Deserialize)]
struct Metadata {
    /// A string in Meta's payloads; any other JSON is read leniently, never refused.
    #[serde(default)]
    phone_number_id: Option<serde_json::Value>,
}

impl Metadata {
    fn phone_number_id(self) -> Option<String> {
        match self.phone_number_id? {
            serde_json::Value::String(id) => Some(id),
            serde_json::Value::Number(id) => Some(id.to_string()),
            _ => None,
        }
    }
}

#[derive(Deserialize)]
struct RawStatus {
    id: Option<String>,
    status: Option<String>,
    timestamp: Option<serde_json::Value>,
    recipient_id: Option<String>,
    recipient_user_id: Option<String>,
    #[serde(default)]
    errors: Vec<RawError>,
    /// Read leniently ([`Pricing::from_json`]): an odd one never refuses the payload.
    #[serde(default)]
    pricing: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct RawError {
    code: Option<i64>,
    title: Option<String>,
    message: Option<String>,
    error_data: Option<RawErrorData>,
}

#[derive(Deserialize)]
struct RawErrorData {
    details: Option<String>,
}

/// Parses one line holding a whole webhook payload.
///
/// JSON that is not a status webhook (other objects, arrays, message webhooks) gives
/// `Ok(vec![])`; statuses with a value other than sent/delivered/read/played/failed are
/// skipped so that new Meta statuses do not break the feed. Bad JSON or a status without
/// an `id` or a numeric `timestamp` gives `Err` with a short reason.
pub fn parse_webhook_line(line: &str) -> Result<Vec<WebhookStatus>, String> {
    let value: serde_json::Value =
        serde_json::from_str(line.trim()).map_err(|e| format!("not valid JSON: {e}"))?;
    statuses_in(value)
}

/// [`parse_webhook_line`] of a payload already parsed (the webhook relay reads each body once
/// for its statuses and its account and template events).
pub fn statuses_in(value: serde_json::Value) -> Result<Vec<WebhookStatus>, String> {
    if !value.get("entry").is_some_and(serde_json::Value::is_array) {
        return Ok(Vec::new());
    }
    let payload: Payload = serde_json::from_value(value)
        .map_err(|e| format!("not a webhook payload of the expected shape: {e}"))?;
    let raw = payload
        .entry
        .into_iter()
        .flat_map(|e| e.changes)
        .filter_map(|c| c.value)
        .flat_map(|v| {
            let phone = v.metadata.and_then(Metadata::phone_number_id);
            v.statuses.into_iter().map(move |s| (phone.clone(), s))
        });
    let mut statuses = Vec::new();
    for (i, (phone_number_id, status)) in raw.enumerate() {
        if let Some(parsed) = convert(i, status, phone_number_id)? {
            statuses.push(parsed);
        }
    }
    Ok(statuses)
}

fn convert(
    index: usize,
    raw: RawStatus,
    phone_number_id: Option<String>,
) -> Result<Option<WebhookStatus>, String> {
    let Some(status) = raw.status.as_deref().and_then(DeliveryStatus::parse) else {
        return Ok(None);
    };
    let message_id = raw
        .id
        .filter(|id| !id.is_empty())
        .ok_or_else(|| format!("statuses[{index}] has no \"id\""))?;
    let timestamp = match &raw.timestamp {
        Some(serde_json::Value::String(s)) => s.parse::<i64>().ok(),
        Some(serde_json::Value::Number(n)) => n.as_i64(),
        _ => None,
    }
    .ok_or_else(|| {
        format!(
            "statuses[{index}] \"timestamp\" must be unix seconds (a number or a string of digits)"
        )
    })?;
    let errors = raw
        .errors
        .into_iter()
        .map(|e| StatusError {
            code: e.code.unwrap_or(0),
            title: e.title,
            message: e.message,
            details: e.error_data.and_then(|d| d.details),
        })
        .collect();
    Ok(Some(WebhookStatus {
        message_id,
        status,
        timestamp,
        recipient_id: raw.recipient_id,
        recipient_user_id: raw.recipient_user_id,
        errors,
        phone_number_id,
        pricing: raw.pricing.as_ref().and_then(Pricing::from_json),
    }))
}
