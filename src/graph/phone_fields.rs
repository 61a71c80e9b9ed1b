//! The phone number's display-name status and webhook configuration (REFERENCE.md section
//! 8's other fields), read once by `tokentop doctor`; the engine's health polling does not
//! need them.

use secrecy::SecretString;
use serde_json::Value;

use super::client::{GraphClient, validate_node_id};
use super::error::GraphError;
use super::parse::decode_value;
use super::proof::AppCredentials;
use super::request_counts::Endpoint;

const DETAIL_FIELDS: &str = "name_status,webhook_configuration";

/// What the phone number node says about its name and webhooks; `None` where Meta left the
/// field out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PhoneDetails {
    /// APPROVED, AVAILABLE_WITHOUT_REVIEW, PENDING_REVIEW, DECLINED, EXPIRED, NONE.
    pub name_status: Option<String>,
    /// `webhook_configuration.application`: the app's callback URL.
    pub webhook_application: Option<String>,
    /// `webhook_configuration.phone_number`: a per-number override, when set.
    pub webhook_phone_number: Option<String>,
}

impl GraphClient {
    /// `name_status` and `webhook_configuration` of a phone number.
    pub async fn phone_details(
        &self,
        app: &AppCredentials,
        token: &SecretString,
        phone_number_id: &str,
    ) -> Result<PhoneDetails, GraphError> {
        let node = validate_node_id("phone number id", phone_number_id)?;
        let path = self.versioned(node);
        let request = self.http.get(self.url(&path));
        let (received, secrets) = self
            .execute_as_user(
                Endpoint::PhoneNumber,
                &path,
                request,
                app,
                token,
                &[("fields", DETAIL_FIELDS)],
            )
            .await?;
        let value = decode_value(received.raw(), &secrets.as_refs())?;
        Ok(details(&value))
    }
}

fn details(value: &Value) -> PhoneDetails {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
    let webhooks = value.get("webhook_configuration");
    PhoneDetails {
        name_status: text(value.get("name_status")),
        webhook_application: text(webhooks.and_then(|w| w.get("application"))),
        webhook_phone_number: text(webhooks.and_then(|w| w.get("phone_number"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_name_status_and_webhooks() {
        let value = json!({"name_status": "APPROVED",
            "webhook_configuration": {"application": "https://example.com/wh"}, "id": "1"});
        let found = details(&value);
        assert_eq!(found.name_status.as_deref(), Some("APPROVED"));
        assert_eq!(
            found.webhook_application.as_deref(),
            Some("https://example.com/wh")
        );
        assert_eq!(found.webhook_phone_number, None);
        assert_eq!(details(&json!({"id": "1"})), PhoneDetails::default());
    }
}
