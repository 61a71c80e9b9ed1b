//! Phone-number health: [`SimPhone`] and `GET /{v}/{phone-number-id}?fields=...` (section 8).

use axum::http::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::envelope::{GraphError, GraphResponse};
use super::node_auth::authorize;
use super::request::GraphRequest;
use super::state::SimHandle;

/// Fields Meta serves when a request names none (besides `id`).
const DEFAULT_FIELDS: &str = "verified_name,code_verification_status,display_phone_number,\
    quality_rating,platform_type,throughput,webhook_configuration";

/// Documented fields the simulated phone has no value for: Meta omits a field without a value
/// from the answer rather than refusing it.
const VALUELESS_FIELDS: [&str; 5] = [
    "conversational_automation",
    "new_name_status",
    "certificate",
    "new_certificate",
    "eligibility_for_api_business_global_search",
];

/// The health a simulated phone number reports. Every field is optional in JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimPhone {
    pub display_phone_number: String,
    pub verified_name: String,
    /// GREEN | YELLOW | RED | NA.
    pub quality_rating: String,
    /// CONNECTED, DISCONNECTED, FLAGGED, RESTRICTED, ...
    pub status: String,
    /// Served under the limit field name the request asks for (TIER_250, TIER_1K, ...).
    pub messaging_limit: String,
    /// `throughput.level`: STANDARD, HIGH, ...
    pub throughput_level: String,
    /// `health_status.can_send_message`: AVAILABLE | LIMITED | BLOCKED.
    pub can_send_message: String,
    /// `additional_info` of the phone's health entity, omitted when empty.
    pub additional_info: Vec<String>,
    /// VERIFIED, NOT_VERIFIED, EXPIRED.
    pub code_verification_status: String,
    /// CLOUD_API, ON_PREMISE, NOT_APPLICABLE.
    pub platform_type: String,
    /// APPROVED, AVAILABLE_WITHOUT_REVIEW, PENDING_REVIEW, DECLINED, EXPIRED, NONE.
    pub name_status: String,
    /// LIVE or SANDBOX.
    pub account_mode: String,
    pub is_official_business_account: bool,
    /// Served as `webhook_configuration.application`.
    pub webhook_url: String,
    /// The WABA the number belongs to: `entry[].id` of its webhooks.
    pub waba_id: String,
}

impl Default for SimPhone {
    fn default() -> Self {
        SimPhone {
            display_phone_number: "15550100001".to_string(),
            verified_name: "tokentop simulator".to_string(),
            quality_rating: "GREEN".to_string(),
            status: "CONNECTED".to_string(),
            messaging_limit: "TIER_1K".to_string(),
            throughput_level: "STANDARD".to_string(),
            can_send_message: "AVAILABLE".to_string(),
            additional_info: Vec::new(),
            code_verification_status: "VERIFIED".to_string(),
            platform_type: "CLOUD_API".to_string(),
            name_status: "APPROVED".to_string(),
            account_mode: "LIVE".to_string(),
            is_official_business_account: false,
            webhook_url: "https://webhook.example.com/whatsapp".to_string(),
            waba_id: super::DEFAULT_WABA_ID.to_string(),
        }
    }
}

impl SimPhone {
    /// The value of one requested field, or `None` when the node has no such field.
    fn field(&self, name: &str, id: &str) -> Option<Value> {
        let value = match name {
            "display_phone_number" => json!(self.display_phone_number),
            "verified_name" => json!(self.verified_name),
            "quality_rating" => json!(self.quality_rating),
            "status" => json!(self.status),
            "code_verification_status" => json!(self.code_verification_status),
            "platform_type" => json!(self.platform_type),
            "name_status" => json!(self.name_status),
            "account_mode" => json!(self.account_mode),
            "is_official_business_account" => json!(self.is_official_business_account),
            "webhook_configuration" => json!({"application": self.webhook_url}),
            "quality_score" => json!({"score": self.quality_rating}),
            "is_on_biz_app" | "is_pin_enabled" | "is_preverified_number" => json!(false),
            "search_visibility" => json!("VISIBLE"),
            "last_onboarded_time" => json!("2024-04-02T22:29:47+0000"),
            "country_code" => json!("US"),
            "country_dial_code" => json!("1"),
            "throughput" => json!({"level": self.throughput_level}),
            // The deprecated name (v23.0 and older) and its successor serve the same tier.
            "whatsapp_business_manager_messaging_limit" | "messaging_limit_tier" => {
                json!(self.messaging_limit)
            }
            "health_status" => {
                let mut entity = json!({"entity_type": "PHONE_NUMBER", "id": id,
                    "can_send_message": self.can_send_message});
                if !self.additional_info.is_empty() {
                    entity["additional_info"] = json!(self.additional_info);
                }
                json!({"can_send_message": self.can_send_message, "entities": [entity]})
            }
            _ => return None,
        };
        Some(value)
    }
}

/// `GET /{v}/{phone-number-id}?fields=...`: only the requested fields, plus `id`.
pub(crate) fn fields(sim: &SimHandle, request: &GraphRequest, id: &str, now: i64) -> GraphResponse {
    if request.method != Method::GET {
        return GraphError::unsupported(request.method.as_str(), id).response();
    }
    if let Err(error) = authorize(sim, request, now) {
        return error.response();
    }
    let phone = sim.lock().phones.get(id).cloned().unwrap_or_default();
    let requested = request
        .param("fields")
        .filter(|fields| !fields.trim().is_empty())
        .unwrap_or(DEFAULT_FIELDS);
    let mut body = Map::new();
    for field in split_fields(requested) {
        // Nested selections such as `health_status{can_send_message}` get the whole field.
        let name = field.split('{').next().unwrap_or_default().trim();
        if name.is_empty() || name == "id" || VALUELESS_FIELDS.contains(&name) {
            continue;
        }
        match phone.field(name, id) {
            Some(value) => {
                body.insert(name.to_string(), value);
            }
            None => {
                return GraphError::invalid_param(format!(
                    "(#100) Tried accessing nonexisting field ({name}) on node type \
                     (WhatsAppBusinessPhoneNumber)"
                ))
                .response();
            }
        }
    }
    body.insert("id".to_string(), json!(id));
    GraphResponse::ok(&Value::Object(body))
}

/// Splits a `fields` list at commas outside braces.
fn split_fields(fields: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (index, c) in fields.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&fields[start..index]);
                start = index + 1;
            }
            _ => {}
        }
    }
    parts.push(&fields[start..]);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_outside_braces_only() {
        assert_eq!(
            split_fields("status,health_status{can_send_message,entities},id"),
            vec!["status", "health_status{can_send_message,entities}", "id"]
        );
    }

    #[test]
    fn limit_is_served_under_either_name() {
        let phone = SimPhone::default();
        assert_eq!(
            phone.field("messaging_limit_tier", "1"),
            Some(json!("TIER_1K"))
        );
        assert_eq!(
            phone.field("whatsapp_business_manager_messaging_limit", "1"),
            Some(json!("TIER_1K"))
        );
        assert_eq!(phone.field("nonsense", "1"), None);
    }

    #[test]
    fn partial_json_keeps_defaults() {
        let phone: SimPhone = serde_json::from_str(r#"{"quality_rating":"RED"}"#).unwrap();
        assert_eq!(phone.quality_rating, "RED");
        assert_eq!(phone.status, "CONNECTED");
    }
}
