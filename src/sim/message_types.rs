//! The message types `POST /{phone-number-id}/messages` accepts, each checked for the fields
//! Meta's Cloud API requires (text, template, media, location, contacts, interactive, reaction).

use serde_json::Value;

/// Every `type` the Cloud API accepts for a send.
pub(crate) const MESSAGE_TYPES: [&str; 11] = [
    "text",
    "template",
    "image",
    "audio",
    "video",
    "document",
    "sticker",
    "location",
    "contacts",
    "interactive",
    "reaction",
];

const MEDIA_TYPES: [&str; 5] = ["image", "audio", "video", "document", "sticker"];

/// Interactive types that need a `body.text` (product messages may omit it).
const INTERACTIVE_WITH_BODY: [&str; 4] = ["button", "list", "cta_url", "flow"];

/// Why a message was refused: a required field is missing or one has a wrong value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// A required field, named as Meta's `details` name it: by its last path segment.
    Missing(String),
    /// A field with a value outside what Meta allows; the text says what is allowed.
    Invalid(String),
}

/// Checks the part of `body` that belongs to its `type` (absent `type` means text, as at Meta).
pub(crate) fn check(body: &Value) -> Result<(), Refusal> {
    let kind = match body.get("type") {
        None => "text",
        Some(Value::String(kind)) => kind.as_str(),
        Some(_) => return Err(Refusal::Invalid("Parameter type must be a string".into())),
    };
    match kind {
        "text" => text_at(body, "/text/body").map(drop),
        "template" => {
            text_at(body, "/template/name")?;
            text_at(body, "/template/language/code").map(drop)
        }
        media if MEDIA_TYPES.contains(&media) => {
            let by_id = text_at(body, &format!("/{media}/id"));
            let by_link = text_at(body, &format!("/{media}/link"));
            match (by_id, by_link) {
                (Err(_), Err(_)) if body.get(media).is_none() => Err(missing(media)),
                (Err(_), Err(_)) => Err(Refusal::Missing("id or link".into())),
                _ => Ok(()),
            }
        }
        "location" => {
            number_at(body, "/location/latitude")?;
            number_at(body, "/location/longitude")
        }
        "contacts" => contacts(body),
        "interactive" => interactive(body),
        "reaction" => {
            text_at(body, "/reaction/message_id")?;
            // An empty emoji removes a reaction, so only its absence is an error.
            match body.pointer("/reaction/emoji") {
                Some(Value::String(_)) => Ok(()),
                _ => Err(missing("emoji")),
            }
        }
        other => Err(Refusal::Invalid(format!(
            "Parameter type \"{other}\" is not one of: {}",
            MESSAGE_TYPES.join(", ")
        ))),
    }
}

fn contacts(body: &Value) -> Result<(), Refusal> {
    let Some(list) = body.get("contacts").and_then(Value::as_array) else {
        return Err(missing("contacts"));
    };
    if list.is_empty() {
        return Err(missing("contacts"));
    }
    for contact in list {
        text_at(contact, "/name/formatted_name")?;
    }
    Ok(())
}

fn interactive(body: &Value) -> Result<(), Refusal> {
    let kind = text_at(body, "/interactive/type")?;
    if INTERACTIVE_WITH_BODY.contains(&kind) {
        text_at(body, "/interactive/body/text")?;
    }
    match kind {
        "button" => {
            let buttons = non_empty_array(body, "/interactive/action/buttons", "buttons")?;
            for button in buttons {
                text_at(button, "/reply/id")?;
                text_at(button, "/reply/title")?;
            }
            Ok(())
        }
        "list" => {
            text_at(body, "/interactive/action/button")?;
            let sections = non_empty_array(body, "/interactive/action/sections", "sections")?;
            for section in sections {
                let rows = non_empty_array(section, "/rows", "rows")?;
                for row in rows {
                    text_at(row, "/id")?;
                    text_at(row, "/title")?;
                }
            }
            Ok(())
        }
        "cta_url" => {
            text_at(body, "/interactive/action/parameters/display_text")?;
            text_at(body, "/interactive/action/parameters/url").map(drop)
        }
        "flow" => {
            text_at(body, "/interactive/action/parameters/flow_cta")?;
            let by_id = text_at(body, "/interactive/action/parameters/flow_id");
            let by_name = text_at(body, "/interactive/action/parameters/flow_name");
            by_id.or(by_name).map(drop)
        }
        "product"
        | "product_list"
        | "catalog_message"
        | "location_request_message"
        | "address_message"
        | "call_permission_request"
        | "voice_call"
        | "order_details" => present_at(body, "/interactive/action"),
        other => Err(Refusal::Invalid(format!(
            "Parameter interactive.type \"{other}\" is not one of: button, list, cta_url, \
             flow, product, product_list, catalog_message, location_request_message, \
             address_message, call_permission_request, voice_call, order_details"
        ))),
    }
}

/// The leaf name of a JSON pointer, as Meta's `details` name a missing parameter.
fn missing(pointer: &str) -> Refusal {
    Refusal::Missing(pointer.rsplit('/').next().unwrap_or(pointer).to_string())
}

fn text_at<'a>(body: &'a Value, pointer: &str) -> Result<&'a str, Refusal> {
    body.pointer(pointer)
        .and_then(Value::as_str)
        .filter(|text| !text.trim().is_empty())
        .ok_or_else(|| missing(pointer))
}

/// Coordinates: JSON numbers, or strings holding numbers (form bodies carry only strings).
fn number_at(body: &Value, pointer: &str) -> Result<(), Refusal> {
    match body.pointer(pointer) {
        Some(Value::Number(_)) => Ok(()),
        Some(Value::String(text)) if text.trim().parse::<f64>().is_ok() => Ok(()),
        Some(_) => Err(Refusal::Invalid(format!(
            "Parameter {} must be a number",
            pointer.rsplit('/').next().unwrap_or(pointer)
        ))),
        None => Err(missing(pointer)),
    }
}

fn present_at(body: &Value, pointer: &str) -> Result<(), Refusal> {
    match body.pointer(pointer) {
        Some(Value::Null) | None => Err(missing(pointer)),
        Some(_) => Ok(()),
    }
}

fn non_empty_array<'a>(
    body: &'a Value,
    pointer: &str,
    name: &str,
) -> Result<&'a Vec<Value>, Refusal> {
    body.pointer(pointer)
        .and_then(Value::as_array)
        .filter(|items| !items.is_empty())
        .ok_or_else(|| Refusal::Missing(name.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn with(kind: &str, content: Value) -> Value {
        let mut body = json!({"messaging_product": "whatsapp", "to": "15551234567", "type": kind});
        body[kind] = content;
        body
    }

    #[test]
    fn every_type_is_accepted_with_its_required_fields() {
        let button = json!({"type":"button","body":{"text":"Pick"},"action":{"buttons":[
            {"type":"reply","reply":{"id":"a","title":"A"}}]}});
        let list = json!({"type":"list","body":{"text":"Pick"},"action":{"button":"Open",
            "sections":[{"title":"S","rows":[{"id":"r","title":"R"}]}]}});
        let cta = json!({"type":"cta_url","body":{"text":"Go"},"action":{"name":"cta_url",
            "parameters":{"display_text":"Site","url":"https://example.com"}}});
        let flow = json!({"type":"flow","body":{"text":"Go"},"action":{"name":"flow",
            "parameters":{"flow_message_version":"3","flow_cta":"Open","flow_id":"1"}}});
        let cases = [
            with("text", json!({"body": "hi"})),
            with(
                "template",
                json!({"name":"hello_world","language":{"code":"en_US"}}),
            ),
            with("image", json!({"id": "1234"})),
            with("audio", json!({"link": "https://example.com/a.ogg"})),
            with("video", json!({"id": "1"})),
            with(
                "document",
                json!({"link": "https://example.com/d.pdf", "filename": "d.pdf"}),
            ),
            with("sticker", json!({"id": "1"})),
            with(
                "location",
                json!({"latitude": 37.48, "longitude": "-122.14"}),
            ),
            with("interactive", button),
            with("interactive", list),
            with("interactive", cta),
            with("interactive", flow),
            with("reaction", json!({"message_id": "wamid.x", "emoji": ""})),
            json!({"messaging_product":"whatsapp","to":"1","type":"contacts",
                "contacts":[{"name":{"formatted_name":"Ann"}}]}),
            json!({"messaging_product":"whatsapp","to":"1","text":{"body":"default type"}}),
        ];
        for body in cases {
            assert_eq!(check(&body), Ok(()), "{body}");
        }
    }

    #[test]
    fn a_missing_field_is_named() {
        let cases = [
            (with("text", json!({})), "body"),
            (with("template", json!({"name": "n"})), "code"),
            (with("image", json!({"caption": "c"})), "id or link"),
            (json!({"type": "sticker"}), "sticker"),
            (with("location", json!({"latitude": 1})), "longitude"),
            (json!({"type": "contacts", "contacts": []}), "contacts"),
            (
                json!({"type": "contacts", "contacts": [{"name": {}}]}),
                "formatted_name",
            ),
            (
                with(
                    "interactive",
                    json!({"type": "button", "body": {"text": "x"}}),
                ),
                "buttons",
            ),
            (
                with("interactive", json!({"type": "list", "action": {}})),
                "text",
            ),
            (
                with(
                    "interactive",
                    json!({"type":"cta_url","body":{"text":"x"},
                    "action":{"parameters":{"display_text":"d"}}}),
                ),
                "url",
            ),
            (
                with(
                    "interactive",
                    json!({"type":"flow","body":{"text":"x"},
                    "action":{"parameters":{"flow_cta":"c"}}}),
                ),
                "flow_name",
            ),
            (with("reaction", json!({"message_id": "wamid.x"})), "emoji"),
        ];
        for (body, name) in cases {
            assert_eq!(check(&body), Err(Refusal::Missing(name.into())), "{body}");
        }
    }

    #[test]
    fn wrong_values_say_what_is_allowed() {
        let Err(Refusal::Invalid(why)) = check(&json!({"type": "fax"})) else {
            panic!("fax accepted");
        };
        assert!(why.contains("fax") && why.contains("interactive"), "{why}");
        let Err(Refusal::Invalid(why)) = check(&with(
            "location",
            json!({"latitude": "north",
            "longitude": 1}),
        )) else {
            panic!("bad latitude accepted");
        };
        assert!(why.contains("latitude"), "{why}");
    }
}
