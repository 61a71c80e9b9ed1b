//! Embedded Signup calls (REFERENCE.md 14): exchange a customer's code for its business token,
//! read the WABA ids a token covers from `debug_token`, list a WABA's phone numbers.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::client::{GraphClient, validate_node_id};
use super::error::GraphError;
use super::parse;
use super::proof::AppCredentials;
use super::request_counts::Endpoint;
use super::types::{ExchangedToken, TokenInfo};

/// One phone number of a WABA, as `/{waba-id}/phone_numbers` lists it (14.4 step 3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WabaPhone {
    pub id: String,
    #[serde(default)]
    pub display_phone_number: Option<String>,
    #[serde(default)]
    pub verified_name: Option<String>,
}

#[derive(Deserialize)]
struct PhoneNumbersWire {
    #[serde(default)]
    data: Vec<WabaPhone>,
}

/// The WABA ids a token covers: the `target_ids` of every `whatsapp_*` granular scope, in
/// order of first appearance (Meta lists the newest onboarding first), without repeats.
/// Embedded Signup tokens may carry `whatsapp_business_manage_events` instead of
/// `whatsapp_business_management` (14.4), hence every WhatsApp scope; none known is empty.
pub fn whatsapp_target_ids(info: &TokenInfo) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    let scopes = info
        .granular_scopes
        .iter()
        .filter(|scope| scope.scope.starts_with("whatsapp_"));
    for id in scopes.flat_map(|scope| scope.target_ids.iter()) {
        if !ids.contains(id) {
            ids.push(id.clone());
        }
    }
    ids
}

/// A `/{waba-id}/phone_numbers` answer.
pub fn parse_phone_numbers(body: &str) -> Result<Vec<WabaPhone>, GraphError> {
    let headers = reqwest::header::HeaderMap::new();
    let raw = parse::Raw {
        http_status: 200,
        headers: &headers,
        body,
    };
    parse::decode::<PhoneNumbersWire>(raw, &[]).map(|wire| wire.data)
}

/// An Embedded Signup code exchange answer (`fixtures/es_code_exchange_response.json`).
pub fn parse_code_exchange(body: &str) -> Result<ExchangedToken, GraphError> {
    parse::parse_exchange(body)
}

impl GraphClient {
    /// Exchanges an Embedded Signup code for the customer's business token: exactly
    /// `client_id`, `client_secret` and `code`, no `grant_type` (14.2). The code is a secret:
    /// it is redacted from every error.
    pub async fn exchange_code(
        &self,
        app: &AppCredentials,
        code: &SecretString,
    ) -> Result<ExchangedToken, GraphError> {
        let secrets = [code, &app.app_secret];
        let path = self.versioned("oauth/access_token");
        let request = self.http.get(self.url(&path)).query(&[
            ("client_id", app.app_id.as_str()),
            ("client_secret", app.app_secret.expose_secret()),
            ("code", code.expose_secret()),
        ]);
        let received = self
            .execute(Endpoint::OauthAccessToken, &path, request, &secrets)
            .await?;
        parse::exchanged(received.raw(), &secrets)
    }

    /// The phone numbers of `waba_id`, read with the customer's token (first page: an
    /// Embedded Signup customer has a handful).
    pub async fn waba_phone_numbers(
        &self,
        app: &AppCredentials,
        token: &SecretString,
        waba_id: &str,
    ) -> Result<Vec<WabaPhone>, GraphError> {
        let node = validate_node_id("WhatsApp Business Account id", waba_id)?;
        let path = self.versioned(&format!("{node}/phone_numbers"));
        let request = self.http.get(self.url(&path));
        let fields = [("fields", "id,display_phone_number,verified_name")];
        let (received, secrets) = self
            .execute_as_user(Endpoint::Other, &path, request, app, token, &fields)
            .await?;
        let wire: PhoneNumbersWire = parse::decode(received.raw(), &secrets.as_refs())?;
        Ok(wire.data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::types::GranularScope;

    fn scope(name: &str, ids: &[&str]) -> GranularScope {
        GranularScope {
            scope: name.to_string(),
            target_ids: ids.iter().map(|id| id.to_string()).collect(),
        }
    }

    #[test]
    fn target_ids_come_from_every_whatsapp_scope_once() {
        let info = TokenInfo {
            granular_scopes: vec![
                scope("business_management", &["999"]),
                scope("whatsapp_business_manage_events", &["2", "1"]),
                scope("whatsapp_business_messaging", &["1", "3"]),
            ],
            ..TokenInfo::default()
        };
        assert_eq!(whatsapp_target_ids(&info), ["2", "1", "3"]);
    }

    #[test]
    fn missing_target_ids_mean_none_known() {
        let info = parse::parse_debug_token(
            r#"{"data":{"is_valid":true,"granular_scopes":[{"scope":"whatsapp_business_management"}]}}"#,
        )
        .unwrap();
        assert!(whatsapp_target_ids(&info).is_empty());
    }

    #[test]
    fn numeric_target_ids_are_read_as_ids() {
        let info = parse::parse_debug_token(
            r#"{"data":{"is_valid":true,"granular_scopes":[
                {"scope":"whatsapp_business_management","target_ids":[102290129340398,"7"]}]}}"#,
        )
        .unwrap();
        assert_eq!(whatsapp_target_ids(&info), ["102290129340398", "7"]);
    }

    #[test]
    fn the_es_fixture_parses_to_a_never_announced_lifetime() {
        let body = include_str!("../../tests/fixtures/es_code_exchange_response.json");
        let exchanged = parse_code_exchange(body).unwrap();
        assert!(exchanged.access_token.expose_secret().starts_with("EAA"));
        assert_eq!(exchanged.token_type.as_deref(), Some("bearer"));
        assert_eq!(exchanged.expires_in_secs, None);
    }

    #[test]
    fn an_answer_without_access_token_is_refused() {
        let err = parse_code_exchange(r#"{"token_type":"bearer"}"#).unwrap_err();
        assert!(err.message.contains("no access_token"), "{}", err.message);
    }

    #[test]
    fn phone_numbers_parse_the_documented_shape() {
        let phones = parse_phone_numbers(
            r#"{"data":[{"verified_name":"Acme","code_verification_status":"VERIFIED",
            "display_phone_number":"+1 555-0100","quality_rating":"GREEN","platform_type":"CLOUD_API",
            "throughput":{"level":"STANDARD"},"last_onboarded_time":"2026-06-01T10:00:00+0000",
            "webhook_configuration":{"application":"https://x"},"id":"1234"}],"paging":{}}"#,
        )
        .unwrap();
        assert_eq!(phones.len(), 1);
        assert_eq!(phones[0].id, "1234");
        assert_eq!(
            phones[0].display_phone_number.as_deref(),
            Some("+1 555-0100")
        );
    }
}
