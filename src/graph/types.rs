//! Typed Graph API responses (REFERENCE.md sections 2, 3, 7, 8, 9) and their pure parsers.

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::as_i64_lenient;
use super::json_probe::{IsObject, ObjectOnly};

/// Scopes WhatsApp needs: sending, and health/analytics (REFERENCE.md section 3).
pub const WHATSAPP_SCOPES: [&str; 2] = [
    "whatsapp_business_messaging",
    "whatsapp_business_management",
];

/// `debug_token`'s `data`: what Meta knows about a token.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TokenInfo {
    pub is_valid: bool,
    #[serde(default, rename = "type")]
    pub token_type: Option<String>,
    #[serde(default)]
    pub app_id: Option<String>,
    #[serde(default)]
    pub application: Option<String>,
    #[serde(default)]
    pub expires_at: Option<i64>,
    #[serde(default)]
    pub data_access_expires_at: Option<i64>,
    #[serde(default)]
    pub issued_at: Option<i64>,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub granular_scopes: Vec<GranularScope>,
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub error: Option<TokenInfoError>,
}

/// When something lapses: `0` from Meta means never, a missing field means unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "unix")]
pub enum Expiry {
    Never,
    /// Unix seconds.
    At(i64),
    Unknown,
}

impl Expiry {
    fn from_field(value: Option<i64>) -> Self {
        match value {
            Some(0) => Self::Never,
            Some(unix) => Self::At(unix),
            None => Self::Unknown,
        }
    }
}

impl TokenInfo {
    pub fn expiry(&self) -> Expiry {
        Expiry::from_field(self.expires_at)
    }

    pub fn data_access_expiry(&self) -> Expiry {
        Expiry::from_field(self.data_access_expires_at)
    }

    pub fn is_system_user(&self) -> bool {
        self.token_type.as_deref() == Some("SYSTEM_USER")
    }

    /// WhatsApp scopes the token lacks, in [`WHATSAPP_SCOPES`] order.
    pub fn missing_whatsapp_scopes(&self) -> Vec<&'static str> {
        WHATSAPP_SCOPES
            .into_iter()
            .filter(|needed| !self.scopes.iter().any(|s| s == needed))
            .collect()
    }
}

/// A permission and the WhatsApp Business Account ids it covers (empty: all).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GranularScope {
    pub scope: String,
    /// Meta's example writes the ids as strings; numbers are accepted too (REFERENCE.md 14.4).
    #[serde(default, deserialize_with = "lenient_ids")]
    pub target_ids: Vec<String>,
}

/// `data.error` of `debug_token` for a dead token (the key is `subcode` there).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenInfoError {
    #[serde(default, deserialize_with = "lenient_i64")]
    pub code: Option<i64>,
    #[serde(default, deserialize_with = "lenient_i64")]
    pub subcode: Option<i64>,
    #[serde(default)]
    pub message: String,
}

fn lenient_i64<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let value = Option::<Value>::deserialize(d)?;
    Ok(value.as_ref().and_then(as_i64_lenient))
}

/// Ids written as strings or numbers; anything else in the list is skipped.
fn lenient_ids<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let values = Option::<Vec<Value>>::deserialize(d)?.unwrap_or_default();
    Ok(values
        .iter()
        .filter_map(|value| match value {
            Value::String(id) => Some(id.clone()),
            Value::Number(id) => Some(id.to_string()),
            _ => None,
        })
        .collect())
}

/// A fresh token from `oauth/access_token`. Deliberately not `Serialize`: it holds a secret.
#[derive(Debug, Clone)]
pub struct ExchangedToken {
    pub access_token: SecretString,
    pub token_type: Option<String>,
    /// Absent in some responses: then ask `debug_token` about the new token.
    pub expires_in_secs: Option<u64>,
}

/// A test message (REFERENCE.md section 7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum OutgoingMessage {
    Template {
        to: String,
        name: String,
        language: String,
    },
    /// Only reaches a user who wrote in the last 24 hours.
    Text { to: String, body: String },
}

impl OutgoingMessage {
    /// The JSON body exactly as the Cloud API expects it.
    pub fn to_json(&self) -> Value {
        match self {
            Self::Template { to, name, language } => serde_json::json!({
                "messaging_product": "whatsapp",
                "to": to,
                "type": "template",
                "template": {"name": name, "language": {"code": language}},
            }),
            Self::Text { to, body } => serde_json::json!({
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": to,
                "type": "text",
                "text": {"body": body},
            }),
        }
    }
}

/// What the messages endpoint accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SendResult {
    /// The wamid that status webhooks will refer to.
    pub message_id: Option<String>,
    /// `accepted` | `held_for_quality_assessment` | `paused`.
    pub message_status: Option<String>,
    pub wa_id: Option<String>,
}

/// A phone number's state and its ability to send (REFERENCE.md section 8).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PhoneHealth {
    pub id: Option<String>,
    pub display_phone_number: Option<String>,
    pub verified_name: Option<String>,
    /// GREEN | YELLOW | RED | NA.
    pub quality_rating: Option<String>,
    pub status: Option<String>,
    pub throughput_level: Option<String>,
    /// A tier such as TIER_250, shown as it comes.
    pub messaging_limit: Option<String>,
    pub health: Option<HealthStatus>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthStatus {
    /// AVAILABLE | LIMITED | BLOCKED: the worst of the entities.
    #[serde(default)]
    pub can_send_message: Option<String>,
    #[serde(default)]
    pub entities: Vec<HealthEntity>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthEntity {
    #[serde(default)]
    pub entity_type: Option<String>,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub can_send_message: Option<String>,
    #[serde(default)]
    pub additional_info: Vec<String>,
    #[serde(default)]
    pub errors: Vec<HealthError>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthError {
    #[serde(default, deserialize_with = "lenient_i64")]
    pub error_code: Option<i64>,
    #[serde(default)]
    pub error_description: Option<String>,
    #[serde(default)]
    pub possible_solution: Option<String>,
}

/// Bucket size of WABA analytics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Granularity {
    HalfHour,
    Day,
    Month,
}

impl Granularity {
    /// The value in the `granularity(...)` field modifier.
    pub fn as_param(&self) -> &'static str {
        match self {
            Self::HalfHour => "HALF_HOUR",
            Self::Day => "DAY",
            Self::Month => "MONTH",
        }
    }
}

/// Sent and delivered counts of a WhatsApp Business Account (REFERENCE.md section 9).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Analytics {
    #[serde(default)]
    pub phone_numbers: Vec<String>,
    #[serde(default)]
    pub granularity: Option<String>,
    #[serde(default)]
    pub data_points: Vec<DataPoint>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataPoint {
    pub start: i64,
    pub end: i64,
    #[serde(default)]
    pub sent: u64,
    #[serde(default)]
    pub delivered: u64,
}

/// A response value together with the rate-limit usage reported alongside it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WithUsage<T> {
    pub value: T,
    pub usage: super::usage::Usage,
}

// ---- wire shapes that differ from the public types ----

pub(crate) struct DebugTokenWire {
    pub data: TokenInfo,
}

/// An object whose `data` is an object: serde's derive would also read an array as the fields
/// in order, so `[{"is_valid":true}]` or `{"data":[true]}` would pass for a valid token.
impl<'de> Deserialize<'de> for DebugTokenWire {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut body = serde_json::Map::<String, Value>::deserialize(d)?;
        let data = match body.remove("data") {
            Some(Value::Object(data)) => data,
            Some(_) => return Err(D::Error::custom("`data` must be an object")),
            None => return Err(D::Error::missing_field("data")),
        };
        let data = TokenInfo::deserialize(Value::Object(data)).map_err(D::Error::custom)?;
        Ok(Self { data })
    }
}

/// A `debug_token` answer read straight from its text (the fast path of `DebugTokenWire`):
/// `data` only from an object, and an `error` object noticed, so the caller reads the
/// answer as an error instead.
#[derive(Deserialize)]
pub(crate) struct DebugTokenBody {
    pub data: ObjectOnly<TokenInfo>,
    #[serde(default)]
    error: Option<IsObject>,
}

/// Wire shapes read straight from text, which must say whether they held an `error` object
/// (an answer with one is an error, whatever else it holds).
pub(crate) trait Enveloped {
    fn has_error_object(&self) -> bool;
}

impl Enveloped for DebugTokenBody {
    fn has_error_object(&self) -> bool {
        self.error == Some(IsObject(true))
    }
}

#[derive(Deserialize)]
pub(crate) struct SendWire {
    #[serde(default)]
    contacts: Vec<ContactWire>,
    #[serde(default)]
    messages: Vec<MessageWire>,
}

#[derive(Deserialize)]
struct ContactWire {
    #[serde(default)]
    wa_id: Option<String>,
}

#[derive(Deserialize)]
struct MessageWire {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    message_status: Option<String>,
}

impl SendResult {
    /// The body of a send Meta accepted, read as the client reads it (the proxy's view of the
    /// application's own sends); `None` when it is not one.
    pub fn from_json(body: &[u8]) -> Option<Self> {
        serde_json::from_slice::<SendWire>(body)
            .ok()
            .map(Self::from)
    }
}

impl From<SendWire> for SendResult {
    fn from(wire: SendWire) -> Self {
        let message = wire.messages.into_iter().next();
        let (message_id, message_status) = match message {
            Some(m) => (m.id, m.message_status),
            None => (None, None),
        };
        Self {
            message_id,
            message_status,
            wa_id: wire.contacts.into_iter().next().and_then(|c| c.wa_id),
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct PhoneWire {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    display_phone_number: Option<String>,
    #[serde(default)]
    verified_name: Option<String>,
    #[serde(default)]
    quality_rating: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    throughput: Option<Value>,
    #[serde(default)]
    whatsapp_business_manager_messaging_limit: Option<Value>,
    #[serde(default)]
    messaging_limit_tier: Option<Value>,
    #[serde(default)]
    health_status: Option<HealthStatus>,
    #[serde(default)]
    error: Option<IsObject>,
}

impl Enveloped for PhoneWire {
    fn has_error_object(&self) -> bool {
        self.error == Some(IsObject(true))
    }
}

impl From<PhoneWire> for PhoneHealth {
    fn from(wire: PhoneWire) -> Self {
        let messaging_limit = wire
            .whatsapp_business_manager_messaging_limit
            .as_ref()
            .or(wire.messaging_limit_tier.as_ref())
            .and_then(loose_text);
        Self {
            id: wire.id,
            display_phone_number: wire.display_phone_number,
            verified_name: wire.verified_name,
            quality_rating: wire.quality_rating,
            status: wire.status,
            throughput_level: wire
                .throughput
                .as_ref()
                .and_then(|t| t.get("level"))
                .and_then(loose_text),
            messaging_limit,
            health: wire.health_status,
        }
    }
}

/// Text for a value whose shape may change between API versions: strings as they are,
/// anything else as compact JSON, so an unknown shape is shown instead of failing.
fn loose_text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

#[derive(Deserialize)]
pub(crate) struct AnalyticsWire {
    #[serde(default)]
    pub analytics: Option<Analytics>,
}
