//! `account_update` webhooks read for what they say about the app's access to a customer's
//! WhatsApp Business Account (REFERENCE.md section 13.5), in every shape Meta has printed.

use serde_json::Value;

use super::payload::{changes_with_field, id, text};
use crate::engine::AccessChange;

/// One `account_update` change: which WABA, which event, and for which app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountUpdate {
    /// `waba_info.waba_id`, else the entry's id (partner-side events carry the partner's
    /// portfolio id there, so `waba_info` wins).
    pub waba_id: String,
    pub event: String,
    /// The app the event is about, when Meta says (`PARTNER_APP_*`).
    pub partner_app_id: Option<String>,
    /// `ban_info.waba_ban_state` of `DISABLED_UPDATE`.
    pub ban_state: Option<String>,
}

impl AccountUpdate {
    /// What the event means for the app's access; `None` for the events that do not touch
    /// it (violations, pricing tiers, `SCHEDULE_FOR_DISABLE`, which is a warning).
    pub fn access_change(&self) -> Option<AccessChange> {
        let event = self.event.clone();
        match (self.event.as_str(), self.ban_state.as_deref()) {
            ("PARTNER_APP_UNINSTALLED" | "PARTNER_REMOVED" | "ACCOUNT_DELETED", _)
            | ("DISABLED_UPDATE", Some("DISABLE")) => Some(AccessChange::Revoked { event }),
            ("PARTNER_APP_INSTALLED", _) | ("DISABLED_UPDATE", Some("REINSTATE")) => {
                Some(AccessChange::Restored { event })
            }
            _ => None,
        }
    }
}

/// Every `account_update` change in a webhook body; anything else (and JSON that does not
/// parse) gives none. `field` is looked for on the change, then in its `value`, then on the
/// entry, and a missing top-level `object` is accepted: Meta's references printed all three.
pub fn account_updates(body: &[u8]) -> Vec<AccountUpdate> {
    serde_json::from_slice::<Value>(body)
        .map(|root| account_updates_in(&root))
        .unwrap_or_default()
}

/// [`account_updates`] of a body already parsed.
pub fn account_updates_in(root: &Value) -> Vec<AccountUpdate> {
    let mut updates = Vec::new();
    for (entry, value) in changes_with_field(root, "account_update") {
        let Some(event) = text(value, "event") else {
            continue;
        };
        let waba_info = &value["waba_info"];
        let Some(waba_id) = id(waba_info, "waba_id").or_else(|| id(entry, "id")) else {
            continue;
        };
        updates.push(AccountUpdate {
            waba_id,
            event: event.to_string(),
            partner_app_id: id(waba_info, "partner_app_id"),
            ban_state: text(&value["ban_info"], "waba_ban_state").map(str::to_string),
        });
    }
    updates
}

#[cfg(test)]
mod tests {
    use super::*;

    const UNINSTALLED: &str =
        include_str!("../../tests/fixtures/webhook_account_update_partner_app_uninstalled.json");
    const INSTALLED: &str =
        include_str!("../../tests/fixtures/webhook_account_update_partner_app_installed.json");
    const DISABLED: &str =
        include_str!("../../tests/fixtures/webhook_account_update_disabled.json");
    const STATUSES: &str = include_str!("../../tests/fixtures/webhook_statuses_batch_mixed.json");

    #[test]
    fn each_of_metas_printed_shapes_is_read() {
        // `field` inside `value`, no top-level `object`.
        let uninstalled = account_updates(UNINSTALLED.as_bytes());
        assert_eq!(
            uninstalled,
            vec![AccountUpdate {
                waba_id: "271936480512847".into(),
                event: "PARTNER_APP_UNINSTALLED".into(),
                partner_app_id: Some("952710384466120".into()),
                ban_state: None,
            }]
        );
        assert!(matches!(
            uninstalled[0].access_change(),
            Some(AccessChange::Revoked { .. })
        ));
        // `field` on the entry; the entry id is the partner's portfolio, not the WABA.
        let installed = account_updates(INSTALLED.as_bytes());
        assert_eq!(installed[0].waba_id, "508821764930215");
        assert!(matches!(
            installed[0].access_change(),
            Some(AccessChange::Restored { .. })
        ));
        // Ordinary nesting, no waba_info: the entry id is the WABA.
        let disabled = account_updates(DISABLED.as_bytes());
        assert_eq!(disabled[0].waba_id, "604418273395120");
        assert_eq!(disabled[0].ban_state.as_deref(), Some("DISABLE"));
        assert!(matches!(
            disabled[0].access_change(),
            Some(AccessChange::Revoked { .. })
        ));
        assert!(account_updates(STATUSES.as_bytes()).is_empty());
        assert!(account_updates(b"not json").is_empty());
    }

    #[test]
    fn events_that_do_not_touch_access_change_nothing() {
        for (event, ban) in [
            ("ACCOUNT_VIOLATION", None),
            ("DISABLED_UPDATE", Some("SCHEDULE_FOR_DISABLE")),
            ("VOLUME_BASED_PRICING_TIER_UPDATE", None),
            ("SOMETHING_NEW", None),
        ] {
            let update = AccountUpdate {
                waba_id: "1".into(),
                event: event.into(),
                partner_app_id: None,
                ban_state: ban.map(str::to_string),
            };
            assert_eq!(update.access_change(), None, "{event}");
        }
    }

    mod properties {
        use proptest::prelude::*;

        use super::super::*;
        use super::{DISABLED, INSTALLED, STATUSES, UNINSTALLED};

        fn config() -> ProptestConfig {
            let mut config = ProptestConfig::with_cases(256);
            config.failure_persistence = None;
            config
        }

        fn fixture() -> impl Strategy<Value = &'static str> {
            prop_oneof![
                Just(UNINSTALLED),
                Just(INSTALLED),
                Just(DISABLED),
                Just(STATUSES)
            ]
        }

        /// Meta's key order varies and `field` moves between change, value and entry: the
        /// same event is read from every placement.
        fn placement() -> impl Strategy<Value = u8> {
            0u8..3
        }

        proptest! {
            #![proptest_config(config())]

            #[test]
            fn any_damage_to_a_real_body_is_survived(
                seed in fixture(),
                cut in 0usize..4000,
                flips in proptest::collection::vec((0usize..4000, any::<u8>()), 0..8),
            ) {
                let mut body = seed.as_bytes().to_vec();
                for (at, byte) in flips {
                    if let Some(slot) = body.get_mut(at) {
                        *slot = byte;
                    }
                }
                body.truncate(cut.min(body.len()));
                // The statuses' parser takes the same damage without a panic.
                if let Ok(text) = std::str::from_utf8(&body) {
                    let _ = crate::engine::telemetry::logs::parse_webhook_line(text);
                }
                // Never a panic; whatever is read names a WABA and an event.
                for update in account_updates(&body) {
                    prop_assert!(!update.waba_id.is_empty());
                    prop_assert!(!update.event.is_empty());
                }
            }

            #[test]
            fn the_event_is_read_wherever_field_sits(
                placement in placement(),
                waba in "[1-9][0-9]{5,15}",
                event in "[A-Z_]{3,30}",
                numeric_id in any::<bool>(),
            ) {
                let id = if numeric_id {
                    serde_json::Value::from(waba.parse::<u64>().unwrap_or(1))
                } else {
                    serde_json::Value::from(waba.clone())
                };
                let mut value = serde_json::json!({"event": event, "waba_info": {"waba_id": id}});
                let mut change = serde_json::json!({"value": {}});
                let mut entry = serde_json::json!({"id": "1", "changes": []});
                match placement {
                    0 => change["field"] = "account_update".into(),
                    1 => value["field"] = "account_update".into(),
                    _ => entry["field"] = "account_update".into(),
                }
                change["value"] = value;
                entry["changes"] = serde_json::json!([change]);
                let body = serde_json::json!({"entry": [entry]}).to_string();
                let updates = account_updates(body.as_bytes());
                prop_assert_eq!(updates.len(), 1);
                prop_assert_eq!(&updates[0].event, &event);
                let expected = if numeric_id { waba.parse::<u64>().unwrap_or(1).to_string() } else { waba };
                prop_assert_eq!(&updates[0].waba_id, &expected);
            }
        }
    }
}
