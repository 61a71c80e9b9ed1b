//! Batched phone-number health reads (REFERENCE.md sections 8 and 11): up to 50
//! `GET /{v}/{phone-number-id}?fields=...` per HTTP request.
//!
//! Each account reads its phone with its own token, so every item carries its own
//! `access_token` and `appsecret_proof` in its `relative_url`; the batch's top-level token (the
//! app token, as for batched `debug_token`) is only Meta's fallback for items without one.
//! That lets the phones of every account of one app share a request. Each item answers with
//! its own status, body and usage headers, so one unknown phone or dead token fails that read
//! only, and each account keeps its own rate-limit headroom.

use secrecy::{ExposeSecret, SecretString};
use serde_json::value::RawValue;

use super::batch::{MAX_BATCH_ITEMS, batch_text, in_groups, push_percent_encoded};
use super::batch_answer::{answer_items, item_answer};
use super::client::{GraphClient, validate_node_id};
use super::error::GraphError;
use super::parse;
use super::proof::{AppCredentials, appsecret_proof_secret};
use super::types::{PhoneHealth, WithUsage};
use super::usage::parse_usage;

/// One phone-number health read: the phone, and the token of the account that reads it.
#[derive(Debug, Clone)]
pub struct PhoneRead {
    pub token: SecretString,
    pub phone_number_id: String,
}

/// The outcome of one phone-number health read.
pub type PhoneHealthResult = Result<WithUsage<PhoneHealth>, GraphError>;

impl GraphClient {
    /// Phone health of many numbers of one app, at most 50 per HTTP request; results in input
    /// order. A phone id that is not id-like, a `null` item or an item with an error body fails
    /// that read only; a failed HTTP request fails the whole call (as `debug_tokens` does, so
    /// a rate-limited or unreachable Meta is not asked again at once).
    pub async fn phone_healths(
        &self,
        app: &AppCredentials,
        reads: &[PhoneRead],
    ) -> Result<Vec<PhoneHealthResult>, GraphError> {
        let mut results: Vec<Option<PhoneHealthResult>> = Vec::with_capacity(reads.len());
        let mut valid: Vec<(usize, &PhoneRead)> = Vec::with_capacity(reads.len());
        for (index, read) in reads.iter().enumerate() {
            match validate_node_id("phone number id", &read.phone_number_id) {
                Ok(_) => {
                    valid.push((index, read));
                    results.push(None);
                }
                Err(err) => results.push(Some(Err(err))),
            }
        }
        let chunks: Vec<&[(usize, &PhoneRead)]> = valid.chunks(MAX_BATCH_ITEMS).collect();
        let answered = in_groups(&chunks, |chunk| self.phone_health_chunk(app, chunk)).await?;
        for (chunk, answers) in chunks.iter().zip(answered) {
            for ((index, _), answer) in chunk.iter().zip(answers) {
                if let Some(slot) = results.get_mut(*index) {
                    *slot = Some(answer);
                }
            }
        }
        Ok(results
            .into_iter()
            .map(|result| {
                result.unwrap_or_else(|| {
                    Err(GraphError::transient(
                        "the batch answer has no item for this phone",
                    ))
                })
            })
            .collect())
    }

    async fn phone_health_chunk(
        &self,
        app: &AppCredentials,
        chunk: &[(usize, &PhoneRead)],
    ) -> Result<Vec<PhoneHealthResult>, GraphError> {
        let app_token = app.app_token();
        let proofs: Vec<SecretString> = chunk
            .iter()
            .map(|(_, read)| appsecret_proof_secret(&app.app_secret, &read.token))
            .collect();
        let mut secrets: Vec<&SecretString> = vec![&app.app_secret, &app_token];
        secrets.extend(chunk.iter().map(|(_, read)| &read.token));
        secrets.extend(proofs.iter());
        let items: Vec<(&PhoneRead, &SecretString)> = chunk
            .iter()
            .map(|(_, read)| *read)
            .zip(proofs.iter())
            .collect();
        let batch = phone_batch_json(self.version(), &self.health_fields(), &items);
        let received = self.post_batch(&app_token, &batch, &secrets).await?;
        let answers = answer_items(received.raw(), items.len(), &secrets)?;
        Ok(items
            .iter()
            .enumerate()
            .map(|(index, (read, proof))| {
                item_health(
                    answers.get(index).copied(),
                    &read.token,
                    proof,
                    &app.app_secret,
                )
            })
            .collect())
    }
}

/// `[{"method":"GET","relative_url":"{v}/{phone}?fields=...&access_token=...&appsecret_proof=..."}]`.
fn phone_batch_json(version: &str, fields: &str, items: &[(&PhoneRead, &SecretString)]) -> String {
    let mut fields_encoded = String::new();
    push_percent_encoded(&mut fields_encoded, fields);
    batch_text(items, |url, (read, proof)| {
        url.push_str(version);
        url.push('/');
        url.push_str(&read.phone_number_id);
        url.push_str("?fields=");
        url.push_str(&fields_encoded);
        url.push_str("&access_token=");
        push_percent_encoded(url, read.token.expose_secret());
        url.push_str("&appsecret_proof=");
        push_percent_encoded(url, proof.expose_secret());
    })
}

/// One item's health with the usage headers Meta sent with that item.
fn item_health(
    item: Option<&RawValue>,
    token: &SecretString,
    proof: &SecretString,
    app_secret: &SecretString,
) -> PhoneHealthResult {
    let secrets = [token, app_secret, proof];
    let answer = item_answer(item, &secrets)?;
    let headers = answer.headers();
    let value = parse::phone_health(answer.raw(&headers), &secrets)?;
    Ok(WithUsage {
        value,
        usage: parse_usage(&headers),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::appsecret_proof;
    use serde_json::Value;

    fn raw(value: &Value) -> Box<RawValue> {
        RawValue::from_string(value.to_string()).unwrap()
    }

    #[test]
    fn each_item_carries_its_own_token_and_proof() {
        let read = PhoneRead {
            token: SecretString::from("EAAGtok+en/1"),
            phone_number_id: "106540352242922".into(),
        };
        let proof = SecretString::from(appsecret_proof(&SecretString::from("secret"), &read.token));
        let json = phone_batch_json("v25.0", "status,health_status", &[(&read, &proof)]);
        let items: Vec<Value> = serde_json::from_str(&json).unwrap();
        assert_eq!(items.len(), 1);
        assert_eq!(items[0]["method"], "GET");
        let url = items[0]["relative_url"].as_str().unwrap();
        assert_eq!(
            url,
            format!(
                "v25.0/106540352242922?fields=status%2Chealth_status\
                 &access_token=EAAGtok%2Ben%2F1&appsecret_proof={}",
                proof.expose_secret()
            )
        );
    }

    #[test]
    fn an_item_with_an_error_body_fails_alone_and_usage_comes_from_its_headers() {
        let token = SecretString::from("EAAGtoken");
        let proof = SecretString::from("proof");
        let secret = SecretString::from("secret");
        let ok = serde_json::json!({
            "code": 200,
            "headers": [{"name": "X-App-Usage",
                "value": "{\"call_count\":42,\"total_time\":1,\"total_cputime\":1}"}],
            "body": "{\"quality_rating\":\"GREEN\",\"id\":\"1\"}"
        });
        let health = item_health(Some(&raw(&ok)), &token, &proof, &secret).unwrap();
        assert_eq!(health.value.quality_rating.as_deref(), Some("GREEN"));
        assert_eq!(health.usage.max_percent(), Some(42));
        let dead = serde_json::json!({
            "code": 400,
            "body": "{\"error\":{\"message\":\"Error validating access token\",\
                \"type\":\"OAuthException\",\"code\":190}}"
        });
        let err = item_health(Some(&raw(&dead)), &token, &proof, &secret).unwrap_err();
        assert_eq!(err.code, Some(190));
        assert!(item_health(Some(&raw(&Value::Null)), &token, &proof, &secret).is_err());
        assert!(item_health(None, &token, &proof, &secret).is_err());
    }
}
