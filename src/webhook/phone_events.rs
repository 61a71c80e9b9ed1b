//! `phone_number_quality_update` webhooks read into phone news: the number's new messaging limit
//! and the event (REFERENCE.md section 13.5), every word kept as Meta wrote it.
//!
//! The payload names no phone-number id: the entry's id is the WABA and `display_phone_number`
//! the number's digits, so the engine matches accounts by WABA and clients by display number.

use serde_json::Value;

use super::payload::{changes_with_field, id, text};

/// One `phone_number_quality_update` change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneQualityUpdate {
    /// `entry[].id`: the WhatsApp Business Account.
    pub waba_id: Option<String>,
    /// Digits only, as Meta sends them (`15550783881`).
    pub display_phone_number: Option<String>,
    /// `THROUGHPUT_UPGRADE`, `ONBOARDING`, older `UPGRADE`, `DOWNGRADE`, `FLAGGED`,
    /// `UNFLAGGED`, or any word Meta adds: kept verbatim.
    pub event: Option<String>,
    /// `current_limit`, else `max_daily_conversations_per_business` (Meta announced the
    /// first's removal in favour of the second).
    pub current_limit: Option<String>,
    pub old_limit: Option<String>,
}

/// Every `phone_number_quality_update` change in a webhook body; anything else (and JSON that
/// does not parse) gives none.
pub fn phone_quality_updates(body: &[u8]) -> Vec<PhoneQualityUpdate> {
    serde_json::from_slice::<Value>(body)
        .map(|root| phone_quality_updates_in(&root))
        .unwrap_or_default()
}

/// [`phone_quality_updates`] of a body already parsed. `field` is looked for on the change,
/// then in its `value`, then on the entry, as for `account_update`. A change that says
/// neither an event nor a limit says nothing and is left out.
pub fn phone_quality_updates_in(root: &Value) -> Vec<PhoneQualityUpdate> {
    let mut updates = Vec::new();
    for (entry, value) in changes_with_field(root, "phone_number_quality_update") {
        let word = |key: &str| {
            text(value, key)
                .filter(|w| !w.is_empty())
                .map(str::to_string)
        };
        let update = PhoneQualityUpdate {
            waba_id: id(entry, "id"),
            display_phone_number: id(value, "display_phone_number"),
            event: word("event"),
            current_limit: word("current_limit")
                .or_else(|| word("max_daily_conversations_per_business")),
            old_limit: word("old_limit"),
        };
        if update.event.is_some() || update.current_limit.is_some() {
            updates.push(update);
        }
    }
    updates
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUALITY: &str =
        include_str!("../../tests/fixtures/webhook_phone_number_quality_update.json");
    const STATUSES: &str = include_str!("../../tests/fixtures/webhook_statuses_batch_mixed.json");
    const UNINSTALLED: &str =
        include_str!("../../tests/fixtures/webhook_account_update_partner_app_uninstalled.json");

    #[test]
    fn the_fixture_reads_as_metas_words() {
        assert_eq!(
            phone_quality_updates(QUALITY.as_bytes()),
            vec![PhoneQualityUpdate {
                waba_id: Some("418305927716254".into()),
                display_phone_number: Some("14155550142".into()),
                event: Some("THROUGHPUT_UPGRADE".into()),
                current_limit: Some("TIER_UNLIMITED".into()),
                old_limit: None,
            }]
        );
        assert!(phone_quality_updates(STATUSES.as_bytes()).is_empty());
        assert!(phone_quality_updates(UNINSTALLED.as_bytes()).is_empty());
        assert!(phone_quality_updates(b"not json").is_empty());
        assert!(phone_quality_updates(b"[]").is_empty());
    }

    fn one(value: serde_json::Value, entry_extra: serde_json::Value) -> Vec<PhoneQualityUpdate> {
        let mut entry = serde_json::json!({"id": 418305927716254u64, "changes": [
            {"field": "phone_number_quality_update", "value": value}
        ]});
        if let (Some(entry), Some(extra)) = (entry.as_object_mut(), entry_extra.as_object()) {
            entry.extend(extra.clone());
        }
        let body = serde_json::json!({"entry": [entry]}).to_string();
        phone_quality_updates(body.as_bytes())
    }

    #[test]
    fn odd_shapes_and_missing_fields_are_read_leniently() {
        let none = serde_json::json!({});
        // A numeric WABA and display number; the limit only in the newer key.
        let read = one(
            serde_json::json!({"display_phone_number": 14155550142u64, "event": "DOWNGRADE",
                "max_daily_conversations_per_business": "TIER_250", "old_limit": "TIER_1K"}),
            none.clone(),
        );
        assert_eq!(read[0].waba_id.as_deref(), Some("418305927716254"));
        assert_eq!(read[0].display_phone_number.as_deref(), Some("14155550142"));
        assert_eq!(read[0].current_limit.as_deref(), Some("TIER_250"));
        assert_eq!(read[0].old_limit.as_deref(), Some("TIER_1K"));
        // An event without any limit (FLAGGED) and a limit without an event.
        let flagged = one(serde_json::json!({"event": "FLAGGED"}), none.clone());
        assert_eq!(flagged[0].event.as_deref(), Some("FLAGGED"));
        assert_eq!(flagged[0].current_limit, None);
        assert_eq!(flagged[0].display_phone_number, None);
        let limit = one(
            serde_json::json!({"current_limit": "TIER_10K"}),
            none.clone(),
        );
        assert_eq!(limit[0].event, None);
        // Unknown events are kept verbatim.
        let new = one(
            serde_json::json!({"event": "SOMETHING_NEW_2027"}),
            none.clone(),
        );
        assert_eq!(new[0].event.as_deref(), Some("SOMETHING_NEW_2027"));
        // Nothing said, wrong types, empty strings: left out, never an error.
        assert!(one(serde_json::json!({}), none.clone()).is_empty());
        assert!(
            one(
                serde_json::json!({"event": 7, "current_limit": ["x"]}),
                none.clone()
            )
            .is_empty()
        );
        assert!(one(serde_json::json!({"event": ""}), none.clone()).is_empty());
        assert!(one(serde_json::json!("text"), none).is_empty());
        // `field` on the entry instead of the change.
        let body = serde_json::json!({"entry": [{"id": "1", "field": "phone_number_quality_update",
            "changes": [{"value": {"event": "UPGRADE"}}]}]})
        .to_string();
        assert_eq!(
            phone_quality_updates(body.as_bytes())[0].event.as_deref(),
            Some("UPGRADE")
        );
    }

    mod properties {
        use proptest::prelude::*;

        use super::super::*;
        use super::{QUALITY, STATUSES};

        proptest! {
            #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

            #[test]
            fn any_damage_to_a_real_body_is_survived(
                seed in prop_oneof![Just(QUALITY), Just(STATUSES)],
                cut in 0usize..2000,
                flips in proptest::collection::vec((0usize..2000, any::<u8>()), 0..8),
            ) {
                let mut body = seed.as_bytes().to_vec();
                for (at, byte) in flips {
                    if let Some(slot) = body.get_mut(at) {
                        *slot = byte;
                    }
                }
                body.truncate(cut.min(body.len()));
                for update in phone_quality_updates(&body) {
                    prop_assert!(update.event.is_some() || update.current_limit.is_some());
                }
            }
        }
    }
}
