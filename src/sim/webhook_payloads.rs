//! The bodies of the webhooks the simulator posts as Meta: message statuses, `account_update`,
//! `phone_number_quality_update` and template events, in the shapes of REFERENCE.md sections 10
//! and 13 (the unit tests hold them against the `webhook_*` fixtures).

use serde_json::{Map, Value, json};

/// Meta's `href` on every status error.
const ERROR_HREF: &str =
    "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/";

/// What a status webhook says about the message it reports on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MessageFacts {
    pub wamid: String,
    /// The recipient's number, digits only (Meta's `wa_id`).
    pub recipient_id: String,
    /// Echoed back from the send, as Meta does.
    pub biz_opaque_callback_data: Option<String>,
    /// Template sends are charged; other messages fall in the free customer service window.
    pub is_template: bool,
}

/// The four states the simulator reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StatusKind {
    Sent,
    Delivered,
    Read,
    Failed,
}

impl StatusKind {
    fn as_str(self) -> &'static str {
        match self {
            StatusKind::Sent => "sent",
            StatusKind::Delivered => "delivered",
            StatusKind::Read => "read",
            StatusKind::Failed => "failed",
        }
    }
}

/// One status object with the phone and WABA it belongs to, waiting to be batched.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StatusUpdate {
    pub waba_id: String,
    pub display_phone_number: String,
    pub phone_number_id: String,
    pub status: Value,
}

/// One `statuses[]` object. `pricing` belongs on `sent` and on exactly one of `delivered` /
/// `read` (section 13.5): the caller says whether this one carries it.
pub(crate) fn status(
    facts: &MessageFacts,
    kind: StatusKind,
    timestamp: i64,
    with_pricing: bool,
    failure_code: i64,
) -> Value {
    let mut status = Map::new();
    status.insert("id".into(), json!(facts.wamid));
    status.insert("status".into(), json!(kind.as_str()));
    status.insert("timestamp".into(), json!(timestamp.to_string()));
    status.insert("recipient_id".into(), json!(facts.recipient_id));
    if let Some(data) = &facts.biz_opaque_callback_data {
        status.insert("biz_opaque_callback_data".into(), json!(data));
    }
    if kind == StatusKind::Failed {
        status.insert("errors".into(), json!([status_error(failure_code)]));
    } else if with_pricing {
        status.insert("pricing".into(), pricing(facts.is_template));
    }
    Value::Object(status)
}

/// v24-style per-message pricing, without the `conversation` block Meta dropped.
fn pricing(is_template: bool) -> Value {
    if is_template {
        json!({"billable": true, "pricing_model": "PMP", "type": "regular", "category": "marketing"})
    } else {
        json!({"billable": false, "pricing_model": "PMP", "type": "free_customer_service",
            "category": "service"})
    }
}

/// Status error codes the simulator knows the words for, from Meta's error-code page.
pub const FAILURE_CODES: [i64; 5] = [131026, 131047, 131049, 131050, 130472];

/// `errors[]` entry of a failed status: `title` and `message` carry the same text.
fn status_error(code: i64) -> Value {
    let (title, details) = match code {
        131047 => (
            "Re-engagement message",
            "Message failed to send because more than 24 hours have passed since the customer \
             last replied to this number.",
        ),
        131049 => (
            "This message was not delivered to maintain healthy ecosystem engagement.",
            "In order to maintain a healthy ecosystem engagement, the message failed to be \
             delivered.",
        ),
        131050 => (
            "User has stopped marketing messages",
            "Unable to deliver the marketing message because the user has stopped them.",
        ),
        130472 => (
            "User's number is part of an experiment",
            "Failed to send message because this user's phone number is part of an experiment",
        ),
        _ => (
            "Message undeliverable",
            "Unable to deliver message. Reasons can include: the recipient phone number is not \
             a WhatsApp phone number.",
        ),
    };
    json!({"code": code, "title": title, "message": title,
        "error_data": {"details": details}, "href": ERROR_HREF})
}

/// The statuses of one phone number, keyed by its first update (which names the phone).
type PhoneStatuses<'a> = (&'a StatusUpdate, Vec<Value>);

/// One POST's body: `entry[]` grouped by WABA, one `changes[]` per phone number, statuses in
/// the order given.
pub(crate) fn statuses_body(updates: &[StatusUpdate]) -> Value {
    let mut entries: Vec<(String, Vec<PhoneStatuses>)> = Vec::new();
    for update in updates {
        let position = match entries.iter().position(|(waba, _)| *waba == update.waba_id) {
            Some(position) => position,
            None => {
                entries.push((update.waba_id.clone(), Vec::new()));
                entries.len() - 1
            }
        };
        let phones = &mut entries[position].1;
        match phones
            .iter_mut()
            .find(|(first, _)| first.phone_number_id == update.phone_number_id)
        {
            Some((_, statuses)) => statuses.push(update.status.clone()),
            None => phones.push((update, vec![update.status.clone()])),
        }
    }
    let entry: Vec<Value> = entries
        .into_iter()
        .map(|(waba_id, phones)| {
            let changes: Vec<Value> = phones
                .into_iter()
                .map(|(phone, statuses)| {
                    json!({"value": {
                        "messaging_product": "whatsapp",
                        "metadata": {"display_phone_number": phone.display_phone_number,
                            "phone_number_id": phone.phone_number_id},
                        "statuses": statuses,
                    }, "field": "messages"})
                })
                .collect();
            json!({"id": waba_id, "changes": changes})
        })
        .collect();
    json!({"object": "whatsapp_business_account", "entry": entry})
}

/// An account-level webhook in the ordinary nesting: one entry with `time`, one change.
pub(crate) fn account_level_body(entry_id: &str, time: i64, field: &str, value: Value) -> Value {
    json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": entry_id, "time": time, "changes": [{"value": value, "field": field}]}],
    })
}

/// `PARTNER_APP_UNINSTALLED` as Meta's 2025 example nests it: `field` and `object` inside
/// `value`, no top-level `object` (the fixture's shape).
pub(crate) fn legacy_value_nesting_body(entry_id: &str, time: i64, mut value: Value) -> Value {
    value["field"] = json!("account_update");
    value["object"] = json!("whatsapp_business_account");
    json!({"entry": [{"id": entry_id, "time": time, "changes": [{"value": value}]}]})
}

/// `PARTNER_APP_INSTALLED` as Meta's 2025 example nests it: `field` and `object` beside
/// `changes` in the entry, no top-level `object` (the fixture's shape).
pub(crate) fn legacy_entry_nesting_body(entry_id: &str, time: i64, value: Value) -> Value {
    json!({"entry": [{
        "id": entry_id, "time": time, "changes": [{"value": value}],
        "field": "account_update", "object": "whatsapp_business_account",
    }]})
}

/// Digits only, as Meta writes display numbers in `phone_number_quality_update`.
pub(crate) fn digits_only(number: &str) -> String {
    number.chars().filter(char::is_ascii_digit).collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    use crate::sim::json_shape::shape;

    fn fixture(name: &str) -> Value {
        let text = match name {
            "batch" => include_str!("../../tests/fixtures/webhook_statuses_batch_mixed.json"),
            _ => unreachable!("unknown fixture {name}"),
        };
        serde_json::from_str(text).unwrap()
    }

    /// Every status shape in the mixed-batch fixture.
    fn fixture_status_shapes() -> Vec<Value> {
        let batch = fixture("batch");
        let mut shapes = Vec::new();
        for entry in batch["entry"].as_array().unwrap() {
            for change in entry["changes"].as_array().unwrap() {
                for status in change["value"]["statuses"].as_array().unwrap() {
                    shapes.push(shape(status));
                }
            }
        }
        shapes
    }

    fn facts(is_template: bool, callback: Option<&str>) -> MessageFacts {
        MessageFacts {
            wamid: "wamid.HBgLabc".into(),
            recipient_id: "15105550111".into(),
            biz_opaque_callback_data: callback.map(str::to_string),
            is_template,
        }
    }

    #[test]
    fn each_status_has_a_shape_the_fixture_has() {
        let shapes = fixture_status_shapes();
        let cases = [
            status(&facts(true, Some("c=1")), StatusKind::Sent, 1, true, 0),
            status(&facts(false, None), StatusKind::Sent, 1, true, 0),
            status(&facts(true, Some("c=1")), StatusKind::Delivered, 1, true, 0),
            status(&facts(true, Some("c=1")), StatusKind::Read, 1, false, 0),
            status(&facts(false, None), StatusKind::Read, 1, false, 0),
            status(&facts(false, None), StatusKind::Failed, 1, false, 131047),
        ];
        for case in cases {
            assert!(shapes.contains(&shape(&case)), "{case:#}");
        }
    }

    #[test]
    fn failed_statuses_carry_errors_and_no_pricing() {
        for code in FAILURE_CODES {
            let failed = status(&facts(true, None), StatusKind::Failed, 7, true, code);
            assert_eq!(failed["errors"][0]["code"], code);
            assert_eq!(failed["errors"][0]["title"], failed["errors"][0]["message"]);
            assert!(failed.get("pricing").is_none());
            assert_eq!(failed["timestamp"], "7");
        }
        let undeliverable = status(&facts(false, None), StatusKind::Failed, 7, false, 131026);
        assert_eq!(undeliverable["errors"][0]["title"], "Message undeliverable");
    }

    #[test]
    fn the_batch_groups_by_waba_then_phone_like_the_fixture() {
        let update = |waba: &str, phone: &str, kind| StatusUpdate {
            waba_id: waba.into(),
            display_phone_number: format!("1{phone}"),
            phone_number_id: phone.into(),
            status: status(&facts(false, None), kind, 1, kind != StatusKind::Read, 0),
        };
        let body = statuses_body(&[
            update("1", "11", StatusKind::Sent),
            update("2", "21", StatusKind::Sent),
            update("1", "12", StatusKind::Sent),
            update("1", "11", StatusKind::Delivered),
            update("1", "11", StatusKind::Read),
        ]);
        let entries = body["entry"].as_array().unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0]["id"], "1");
        let changes = entries[0]["changes"].as_array().unwrap();
        assert_eq!(changes.len(), 2);
        let statuses = changes[0]["value"]["statuses"].as_array().unwrap();
        let kinds: Vec<&str> = statuses
            .iter()
            .map(|s| s["status"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["sent", "delivered", "read"]);
        assert_eq!(changes[0]["value"]["metadata"]["phone_number_id"], "11");
        // The envelope has the fixture's keys and nesting around the statuses.
        let mut fixture = fixture("batch");
        let mut ours = body.clone();
        for value in [&mut fixture, &mut ours] {
            for entry in value["entry"].as_array_mut().unwrap() {
                for change in entry["changes"].as_array_mut().unwrap() {
                    change["value"]["statuses"] = json!([]);
                }
            }
        }
        assert_eq!(shape(&ours), shape(&fixture));
    }

    #[test]
    fn display_numbers_keep_digits_only() {
        assert_eq!(digits_only("+1 (415) 555-0142"), "14155550142");
    }
}
