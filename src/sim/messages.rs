//! `POST /{v}/{phone-number-id}/messages`: validates the send and answers REFERENCE.md section 7.

use axum::http::StatusCode;
use rand::Rng;
use rand::distr::Alphanumeric;
use serde_json::{Value, json};

use super::envelope::{GraphError, GraphResponse};
use super::message_types::{self, Refusal};
use super::node_auth::authorize;
use super::request::GraphRequest;
use super::state::{SentMessage, SimHandle};
use super::webhook_payloads::MessageFacts;

/// `POST /{v}/{phone-number-id}/messages` with a bearer token (or `access_token` parameter).
pub(crate) fn send(
    sim: &SimHandle,
    request: &GraphRequest,
    phone_id: &str,
    now: i64,
) -> GraphResponse {
    GraphResponse::post_only(&request.method, "messages", || {
        try_send(sim, request, phone_id, now)
    })
}

fn try_send(
    sim: &SimHandle,
    request: &GraphRequest,
    phone_id: &str,
    now: i64,
) -> Result<Value, GraphError> {
    authorize(sim, request, now)?;
    let body = request
        .payload()
        .map_err(|why| invalid(format!("Invalid parameter: {why}")))?;
    if !body.is_object() {
        return Err(invalid("the request body must be a JSON object".into()));
    }
    match body.get("messaging_product") {
        None => return Err(required("messaging_product")),
        Some(Value::String(product)) if product == "whatsapp" => {}
        Some(_) => {
            return Err(invalid(
                "Parameter messaging_product must be \"whatsapp\"".into(),
            ));
        }
    }
    if body.get("status").is_some() {
        return mark_read(&body);
    }
    let to = recipient(&body)?;
    message_types::check(&body).map_err(|refusal| match refusal {
        Refusal::Missing(name) => invalid(format!("Parameter {name} is missing or empty")),
        Refusal::Invalid(why) => invalid(why),
    })?;
    if let Some(code) = sim.lock().faults.message_failure_code {
        return Err(message_failure(code));
    }
    let wa_id: String = to.chars().filter(char::is_ascii_digit).collect();
    let wamid = new_wamid();
    let is_template = body.get("type").and_then(Value::as_str) == Some("template");
    sim.send_accepted(
        phone_id,
        MessageFacts {
            wamid: wamid.clone(),
            recipient_id: wa_id.clone(),
            biz_opaque_callback_data: string_at(&body, "/biz_opaque_callback_data")
                .map(str::to_string),
            is_template,
        },
    );
    sim.lock().sent.push(SentMessage {
        wamid: wamid.clone(),
        phone_number_id: phone_id.to_string(),
        to: to.clone(),
        access_token: request.access_token().unwrap_or_default().to_string(),
        text: string_at(&body, "/text/body").map(str::to_string),
    });
    let mut message = json!({"id": wamid});
    // Meta's send reference: `message_status` (template pacing) comes with template sends only.
    if is_template {
        message["message_status"] = json!("accepted");
    }
    Ok(json!({
        "messaging_product": "whatsapp",
        "contacts": [{"input": to, "wa_id": wa_id}],
        "messages": [message],
    }))
}

/// Mark as read: `{"status":"read","message_id":..}`, optionally with a typing indicator.
fn mark_read(body: &Value) -> Result<Value, GraphError> {
    if body.get("status").and_then(Value::as_str) != Some("read") {
        return Err(invalid(
            "Parameter status must be \"read\" (marking a message as read)".into(),
        ));
    }
    if string_at(body, "/message_id").is_none() {
        return Err(required("message_id"));
    }
    let indicator = body.get("typing_indicator");
    if indicator.is_some_and(|i| i.get("type").and_then(Value::as_str) != Some("text")) {
        return Err(invalid(
            "Parameter typing_indicator.type must be \"text\"".into(),
        ));
    }
    Ok(json!({"success": true}))
}

/// `recipient_type` (only `individual`) and `to`, which is returned.
fn recipient(body: &Value) -> Result<String, GraphError> {
    if body
        .get("recipient_type")
        .is_some_and(|recipient_type| recipient_type != "individual")
    {
        return Err(invalid(
            "Parameter recipient_type must be \"individual\"".into(),
        ));
    }
    let to = string_at(body, "/to").ok_or_else(|| required("to"))?;
    let digits = to.chars().filter(char::is_ascii_digit).count();
    let allowed = |c: char| c.is_ascii_digit() || "+ -()".contains(c);
    if digits == 0 || !to.chars().all(allowed) {
        return Err(invalid(
            "Parameter to must be a phone number with country code".into(),
        ));
    }
    Ok(to.to_string())
}

/// Meta's answer to a send it cannot parse, as captured: `(#100) Invalid parameter` with the
/// reason in `error_data.details` ("Parameter name is missing or empty").
fn invalid(details: String) -> GraphError {
    GraphError::new(StatusCode::BAD_REQUEST, 100, "(#100) Invalid parameter")
        .with_data(json!({"messaging_product": "whatsapp", "details": details}))
}

/// A missing top-level parameter: Graph's own `(#100) The parameter X is required.`
fn required(name: &str) -> GraphError {
    let message = format!("(#100) The parameter {name} is required.");
    GraphError::new(StatusCode::BAD_REQUEST, 100, message.clone())
        .with_data(json!({"messaging_product": "whatsapp", "details": message}))
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
    fn failure_codes_have_titles() {
        let body = message_failure(131026).body();
        assert_eq!(body["error"]["message"], "(#131026) Message Undeliverable");
        assert_eq!(body["error"]["error_data"]["messaging_product"], "whatsapp");
    }
}
