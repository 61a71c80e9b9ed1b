//! `POST /{v}/{phone-number-id}/messages`: validates the send and answers REFERENCE.md section 7.

use axum::http::{Method, StatusCode};
use rand::Rng;
use rand::distr::Alphanumeric;
use serde_json::{Value, json};

use super::envelope::{GraphError, GraphResponse};
use super::node_auth::authorize;
use super::request::GraphRequest;
use super::state::SimHandle;

/// `POST /{v}/{phone-number-id}/messages` with a bearer token (or `access_token` parameter).
pub(crate) fn send(sim: &SimHandle, request: &GraphRequest, now: i64) -> GraphResponse {
    if request.method != Method::POST {
        return GraphError::unsupported(request.method.as_str(), "messages").response();
    }
    match try_send(sim, request, now) {
        Ok(body) => GraphResponse::ok(&body),
        Err(error) => error.response(),
    }
}

fn try_send(sim: &SimHandle, request: &GraphRequest, now: i64) -> Result<Value, GraphError> {
    authorize(sim, request, now, StatusCode::UNAUTHORIZED)?;
    let body: Value = serde_json::from_slice(&request.body)
        .map_err(|_| bad_param("(#100) Invalid parameter: the request body is not valid JSON"))?;
    let to = validate(&body).map_err(|message| bad_param(&message))?;
    if let Some(code) = sim.lock().faults.message_failure_code {
        return Err(message_failure(code));
    }
    let wa_id: String = to.chars().filter(char::is_ascii_digit).collect();
    Ok(json!({
        "messaging_product": "whatsapp",
        "contacts": [{"input": to, "wa_id": wa_id}],
        "messages": [{"id": new_wamid(), "message_status": "accepted"}],
    }))
}

fn bad_param(message: &str) -> GraphError {
    GraphError::new(StatusCode::BAD_REQUEST, 100, message)
        .with_data(json!({"messaging_product": "whatsapp", "details": message}))
}

/// Checks the fields of section 7 and returns `to`; the error names the bad parameter.
fn validate(body: &Value) -> Result<String, String> {
    if !body.is_object() {
        return Err("(#100) Invalid parameter: the request body must be a JSON object".into());
    }
    match body.get("messaging_product") {
        None => return Err(required("messaging_product")),
        Some(Value::String(product)) if product == "whatsapp" => {}
        Some(_) => {
            return Err("(#100) Invalid parameter: messaging_product must be \"whatsapp\"".into());
        }
    }
    if body
        .get("recipient_type")
        .is_some_and(|recipient_type| recipient_type != "individual")
    {
        return Err("(#100) Invalid parameter: recipient_type must be \"individual\"".into());
    }
    let to = string_at(body, "/to").ok_or_else(|| required("to"))?;
    let digits = to.chars().filter(char::is_ascii_digit).count();
    let allowed = |c: char| c.is_ascii_digit() || "+ -()".contains(c);
    if digits == 0 || !to.chars().all(allowed) {
        return Err("(#100) Invalid parameter: to must be a phone number with country code".into());
    }
    // Meta's default type is text.
    match body.get("type").map(Value::as_str) {
        None | Some(Some("text")) => {
            string_at(body, "/text/body").ok_or_else(|| required("text.body"))?;
        }
        Some(Some("template")) => {
            string_at(body, "/template/name").ok_or_else(|| required("template.name"))?;
            string_at(body, "/template/language/code")
                .ok_or_else(|| required("template.language.code"))?;
        }
        Some(_) => {
            return Err(
                "(#100) Invalid parameter: type must be one of template, text in the simulator"
                    .into(),
            );
        }
    }
    Ok(to.to_string())
}

fn required(name: &str) -> String {
    format!("(#100) The parameter {name} is required.")
}

fn string_at<'a>(body: &'a Value, pointer: &str) -> Option<&'a str> {
    body.pointer(pointer)
        .and_then(Value::as_str)
        .filter(|text| !text.trim().is_empty())
}

/// The message-level error Meta answers for a failed send, e.g. 131026.
fn message_failure(code: i64) -> GraphError {
    let title = match code {
        130429 => "Rate limit hit",
        131000 => "Something went wrong",
        131016 => "Service unavailable",
        131026 => "Message Undeliverable",
        131047 => "Re-engagement message",
        131049 => "This message was not delivered to maintain healthy ecosystem engagement.",
        131050 => "User has stopped marketing messages",
        131056 => "(Business Account, Consumer Account) pair rate limit hit",
        132001 => "Template name does not exist in the translation",
        133010 => "Phone number not registered",
        _ => "Message failed to send",
    };
    GraphError::new(StatusCode::BAD_REQUEST, code, format!("(#{code}) {title}"))
        .with_data(json!({"messaging_product": "whatsapp", "details": format!("{title}.")}))
}

/// A fresh message id shaped like Meta's `wamid.HBgL...`.
fn new_wamid() -> String {
    let random: String = rand::rng()
        .sample_iter(Alphanumeric)
        .take(44)
        .map(char::from)
        .collect();
    format!("wamid.HBgL{random}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_template_and_text() {
        let template = json!({"messaging_product":"whatsapp","to":"+15551234567","type":"template",
            "template":{"name":"hello_world","language":{"code":"en_US"}}});
        assert_eq!(validate(&template).unwrap(), "+15551234567");
        let text = json!({"messaging_product":"whatsapp","recipient_type":"individual",
            "to":"15551234567","type":"text","text":{"body":"tokentop test"}});
        assert!(validate(&text).is_ok());
    }

    #[test]
    fn errors_name_the_bad_parameter() {
        let cases = [
            (
                json!({"to":"1","type":"text","text":{"body":"x"}}),
                "messaging_product",
            ),
            (
                json!({"messaging_product":"whatsapp","type":"text","text":{"body":"x"}}),
                "to",
            ),
            (
                json!({"messaging_product":"whatsapp","to":"abc","type":"text","text":{"body":"x"}}),
                "to",
            ),
            (
                json!({"messaging_product":"whatsapp","to":"1","type":"template","template":{"name":"n"}}),
                "template.language.code",
            ),
            (
                json!({"messaging_product":"whatsapp","to":"1","type":"text","text":{}}),
                "text.body",
            ),
            (
                json!({"messaging_product":"whatsapp","to":"1","type":"image"}),
                "type",
            ),
            (json!([1]), "JSON object"),
        ];
        for (body, name) in cases {
            let message = validate(&body).unwrap_err();
            assert!(message.contains(name), "{message} should name {name}");
        }
    }

    #[test]
    fn failure_codes_have_titles() {
        let body = message_failure(131026).body();
        assert_eq!(body["error"]["message"], "(#131026) Message Undeliverable");
        assert_eq!(body["error"]["error_data"]["messaging_product"], "whatsapp");
    }
}
