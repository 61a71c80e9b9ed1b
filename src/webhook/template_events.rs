//! `message_template_status_update` and `message_template_quality_update` webhooks read into
//! template updates (REFERENCE.md section 13.5), in every shape Meta has printed; every word
//! Meta sends is kept as it came, known or not.

use serde_json::Value;

use super::payload::{array, id, text};

const STATUS_FIELD: &str = "message_template_status_update";
const QUALITY_FIELD: &str = "message_template_quality_update";

/// One template change: a new status (`event`) or a new quality score, or both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateUpdate {
    /// The entry's id: the WABA that owns the template.
    pub waba_id: String,
    /// `message_template_id`, a JSON number read as an integer (never through f64, which
    /// would round ids above 2^53).
    pub template_id: u64,
    /// Empty when Meta left it out.
    pub name: String,
    /// Empty when Meta left it out.
    pub language: String,
    pub category: Option<String>,
    /// The new status: `APPROVED`, `PAUSED`, `DISABLED`, `REJECTED`, ... or a word Meta adds.
    pub event: Option<String>,
    /// `reason` (`INVALID_FORMAT`, ...); `NONE` and `null` read as none.
    pub reason: Option<String>,
    /// `new_quality_score`: `GREEN`, `YELLOW`, `RED`, `UNKNOWN`, ...
    pub quality: Option<String>,
    pub previous_quality: Option<String>,
    /// `disable_info.disable_date` as Meta wrote it (a number or a quoted string).
    pub disable_date: Option<String>,
    /// What Meta explains: `rejection_info` (reason, recommendation) or `other_info` (title:
    /// description).
    pub detail: Option<String>,
    /// The entry's `time`, else when the body was received.
    pub at_unix: i64,
}

/// Every template change in a webhook body; anything else (and JSON that does not parse)
/// gives none. `received_unix` dates an entry without `time`.
pub fn template_updates(body: &[u8], received_unix: i64) -> Vec<TemplateUpdate> {
    // Most bodies are message statuses: skip their parse (they are parsed elsewhere already).
    if memchr::memmem::find(body, b"message_template_").is_none() {
        return Vec::new();
    }
    serde_json::from_slice::<Value>(body)
        .map(|root| template_updates_in(&root, received_unix))
        .unwrap_or_default()
}

/// [`template_updates`] of a body already parsed.
pub fn template_updates_in(root: &Value, received_unix: i64) -> Vec<TemplateUpdate> {
    let mut updates = Vec::new();
    for entry in array(root, "entry") {
        let Some(waba_id) = id(entry, "id") else {
            continue;
        };
        let at_unix = entry.get("time").and_then(integer).unwrap_or(received_unix);
        for change in array(entry, "changes") {
            if let Some(update) = template_update(entry, change, &waba_id, at_unix) {
                updates.push(update);
            }
        }
    }
    updates
}

/// `field` is looked for on the change, then in its `value`, then on the entry (as for
/// `account_update`). A status update with `new_quality_score` and no `event` is a quality
/// update: the 2025 reference labelled quality updates that way.
fn template_update(
    entry: &Value,
    change: &Value,
    waba_id: &str,
    at_unix: i64,
) -> Option<TemplateUpdate> {
    let value = change.get("value")?;
    let field = text(change, "field")
        .or_else(|| text(value, "field"))
        .or_else(|| text(entry, "field"))?;
    let event = text(value, "event").map(str::to_string);
    let quality = text(value, "new_quality_score").map(str::to_string);
    match field {
        STATUS_FIELD if event.is_some() || quality.is_some() => {}
        QUALITY_FIELD if quality.is_some() => {}
        _ => return None,
    }
    let event = if field == STATUS_FIELD { event } else { None };
    Some(TemplateUpdate {
        waba_id: waba_id.to_string(),
        template_id: value.get("message_template_id").and_then(template_id)?,
        name: text(value, "message_template_name")
            .unwrap_or_default()
            .to_string(),
        language: text(value, "message_template_language")
            .unwrap_or_default()
            .to_string(),
        category: text(value, "message_template_category").map(str::to_string),
        event,
        reason: text(value, "reason")
            .filter(|reason| !reason.is_empty() && *reason != "NONE")
            .map(str::to_string),
        quality,
        previous_quality: text(value, "previous_quality_score").map(str::to_string),
        disable_date: value
            .get("disable_info")
            .and_then(|info| info.get("disable_date"))
            .and_then(number_or_text),
        detail: detail(value),
        at_unix,
    })
}

/// `rejection_info` (expected inside `value`, though Meta's syntax block draws it outside),
/// else `other_info`.
fn detail(value: &Value) -> Option<String> {
    let joined = |block: &Value, first: &str, second: &str, separator: &str| {
        let parts: Vec<&str> = [text(block, first), text(block, second)]
            .into_iter()
            .flatten()
            .filter(|part| !part.is_empty())
            .collect();
        (!parts.is_empty()).then(|| parts.join(separator))
    };
    value
        .get("rejection_info")
        .and_then(|info| joined(info, "reason", "recommendation", " "))
        .or_else(|| {
            value
                .get("other_info")
                .and_then(|info| joined(info, "title", "description", ": "))
        })
}

/// A template id: a JSON number (exact as u64), or digits in a string.
fn template_id(value: &Value) -> Option<u64> {
    match value {
        Value::Number(number) => number.as_u64(),
        Value::String(digits) => digits.parse().ok(),
        _ => None,
    }
}

/// A unix time written as a number or a quoted number.
fn integer(value: &Value) -> Option<i64> {
    match value {
        Value::Number(number) => number.as_i64(),
        Value::String(digits) => digits.trim().parse().ok(),
        _ => None,
    }
}

fn number_or_text(value: &Value) -> Option<String> {
    match value {
        Value::Number(number) => Some(number.to_string()),
        Value::String(text) if !text.is_empty() => Some(text.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const STATUS: &str =
        include_str!("../../tests/fixtures/webhook_message_template_status_update.json");
    const QUALITY: &str =
        include_str!("../../tests/fixtures/webhook_message_template_quality_update.json");
    const STATUSES: &str = include_str!("../../tests/fixtures/webhook_statuses_batch_mixed.json");
    const RECEIVED: i64 = 1_800_000_000;

    fn one(body: &str) -> TemplateUpdate {
        let mut updates = template_updates(body.as_bytes(), RECEIVED);
        assert_eq!(updates.len(), 1, "{body}");
        updates.remove(0)
    }

    /// A body of one change with `value` and `field`, in the ordinary nesting.
    fn body(field: &str, value: serde_json::Value) -> String {
        serde_json::json!({
            "object": "whatsapp_business_account",
            "entry": [{"id": "418305927716254", "time": 1796201744,
                       "changes": [{"field": field, "value": value}]}]
        })
        .to_string()
    }

    #[test]
    fn the_status_fixture_is_a_rejection_with_its_explanation() {
        let update = one(STATUS);
        assert_eq!(update.waba_id, "418305927716254");
        assert_eq!(update.template_id, 2_290_417_763_518_902);
        assert_eq!(update.name, "winter_sale_reminder");
        assert_eq!(update.language, "en");
        assert_eq!(update.category.as_deref(), Some("MARKETING"));
        assert_eq!(update.event.as_deref(), Some("REJECTED"));
        assert_eq!(update.reason.as_deref(), Some("INVALID_FORMAT"));
        assert_eq!(update.quality, None);
        assert_eq!(update.at_unix, 1_796_201_744);
        let detail = update.detail.unwrap();
        assert!(detail.starts_with("Two variables"), "{detail}");
        assert!(detail.ends_with("reads in context."), "{detail}");
    }

    #[test]
    fn the_quality_fixture_is_a_change_of_score() {
        let update = one(QUALITY);
        assert_eq!(update.waba_id, "627194830551902");
        assert_eq!(update.template_id, 1_487_203_356_612_094);
        assert_eq!(update.name, "order_shipped_v2");
        assert_eq!(update.event, None);
        assert_eq!(update.quality.as_deref(), Some("YELLOW"));
        assert_eq!(update.previous_quality.as_deref(), Some("GREEN"));
        assert_eq!(update.category, None);
    }

    #[test]
    fn the_2025_mislabelled_quality_update_is_a_quality_update() {
        let text = QUALITY.replace(QUALITY_FIELD, STATUS_FIELD);
        let update = one(&text);
        assert_eq!(update.event, None);
        assert_eq!(update.quality.as_deref(), Some("YELLOW"));
    }

    #[test]
    fn disable_date_is_read_as_a_number_or_a_quoted_string() {
        for date in [
            serde_json::json!(1_797_000_000),
            serde_json::json!("1797000000"),
        ] {
            let update = one(&body(
                STATUS_FIELD,
                serde_json::json!({
                    "event": "DISABLED", "message_template_id": 7,
                    "message_template_name": "n", "message_template_language": "en_US",
                    "reason": null, "message_template_category": "UTILITY",
                    "disable_info": {"disable_date": date}
                }),
            ));
            assert_eq!(update.disable_date.as_deref(), Some("1797000000"));
            assert_eq!(update.event.as_deref(), Some("DISABLED"));
            assert_eq!(update.reason, None);
        }
    }

    #[test]
    fn a_pause_keeps_other_info_and_unknown_words_stay_as_they_came() {
        let update = one(&body(
            STATUS_FIELD,
            serde_json::json!({
                "event": "PAUSED", "message_template_id": 9_007_199_254_740_993_u64,
                "message_template_name": "promo", "message_template_language": "de",
                "reason": "NONE", "message_template_category": "BRAND_NEW_CATEGORY",
                "other_info": {"title": "FIRST_PAUSE", "description": "Paused for 3 hours."}
            }),
        ));
        // 2^53 + 1: through f64 it would read as 2^53.
        assert_eq!(update.template_id, 9_007_199_254_740_993);
        assert_eq!(update.category.as_deref(), Some("BRAND_NEW_CATEGORY"));
        assert_eq!(update.reason, None, "NONE is no reason");
        assert_eq!(
            update.detail.as_deref(),
            Some("FIRST_PAUSE: Paused for 3 hours.")
        );
        let unknown = one(&body(
            STATUS_FIELD,
            serde_json::json!({"event": "SOMETHING_NEW", "message_template_id": "12"}),
        ));
        assert_eq!(unknown.event.as_deref(), Some("SOMETHING_NEW"));
        assert_eq!(unknown.template_id, 12);
        assert_eq!((unknown.name.as_str(), unknown.language.as_str()), ("", ""));
        assert_eq!((unknown.category, unknown.detail), (None, None));
    }

    #[test]
    fn field_in_value_or_on_the_entry_and_no_time_are_accepted() {
        let text = serde_json::json!({
            "entry": [{"id": 55, "field": QUALITY_FIELD, "changes": [{"value": {
                "new_quality_score": "RED", "message_template_id": 3}}]}]
        })
        .to_string();
        let update = one(&text);
        assert_eq!(update.waba_id, "55");
        assert_eq!(update.at_unix, RECEIVED);
        assert_eq!(update.quality.as_deref(), Some("RED"));
    }

    #[test]
    fn other_bodies_and_changes_without_an_id_or_a_change_give_none() {
        assert!(template_updates(STATUSES.as_bytes(), RECEIVED).is_empty());
        assert!(template_updates(b"message_template_ not json", RECEIVED).is_empty());
        for value in [
            serde_json::json!({"event": "APPROVED"}),
            serde_json::json!({"event": "APPROVED", "message_template_id": -4}),
            serde_json::json!({"event": "APPROVED", "message_template_id": 1.5}),
            serde_json::json!({"message_template_id": 4}),
        ] {
            let text = body(STATUS_FIELD, value);
            assert!(
                template_updates(text.as_bytes(), RECEIVED).is_empty(),
                "{text}"
            );
        }
        // A quality update has no status even if it carries an `event`.
        let text = body(
            QUALITY_FIELD,
            serde_json::json!({"event": "X", "new_quality_score": "RED", "message_template_id": 4}),
        );
        assert_eq!(one(&text).event, None);
    }

    /// Mutations of the fixtures: any byte changed, cut short or repeated, never a panic.
    fn mutated() -> impl Strategy<Value = Vec<u8>> {
        let seeds = prop_oneof![Just(STATUS), Just(QUALITY)];
        (seeds, any::<usize>(), any::<u8>(), 0usize..3).prop_map(|(seed, at, byte, how)| {
            let mut bytes = seed.as_bytes().to_vec();
            let at = at % bytes.len();
            match how {
                0 => bytes[at] = byte,
                1 => bytes.truncate(at),
                _ => {
                    let copy = bytes[at..].to_vec();
                    bytes.extend_from_slice(&copy);
                }
            }
            bytes
        })
    }

    proptest! {
        #[test]
        fn mutated_fixtures_never_panic(body in mutated()) {
            for update in template_updates(&body, RECEIVED) {
                prop_assert!(!update.waba_id.is_empty());
            }
        }

        #[test]
        fn any_json_value_in_any_key_never_panics(
            key in prop_oneof![
                Just("message_template_id"), Just("event"), Just("new_quality_score"),
                Just("disable_info"), Just("rejection_info"), Just("other_info"), Just("time"),
            ],
            replacement in prop_oneof![
                Just(serde_json::json!(null)), Just(serde_json::json!([1, {"a": 2}])),
                Just(serde_json::json!({"disable_date": {"x": 1}})), Just(serde_json::json!(-1.5e300)),
                any::<i64>().prop_map(serde_json::Value::from),
                ".{0,12}".prop_map(serde_json::Value::from),
            ],
        ) {
            let mut root: serde_json::Value = serde_json::from_str(STATUS).unwrap();
            root["entry"][0]["changes"][0]["value"][key] = replacement.clone();
            root["entry"][0][key] = replacement;
            let _ = template_updates(root.to_string().as_bytes(), RECEIVED);
        }
    }
}
