//! Account-level webhook events the simulator can be told to post: `account_update`,
//! `phone_number_quality_update`, `message_template_status_update` and
//! `message_template_quality_update`, each validated and built in the fixtures' shapes.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::webhook_payloads::{
    account_level_body, digits_only, legacy_entry_nesting_body, legacy_value_nesting_body,
};

/// WABA the simulator's events and phones belong to when none is named (the demo's).
pub const DEFAULT_WABA_ID: &str = "102290129340398";
/// Business portfolio that owns the simulated WABAs when none is named.
pub const DEFAULT_OWNER_BUSINESS_ID: &str = "100000000000010";
/// The partner's business portfolio: `entry[].id` of partner-side events in Meta's examples.
pub const DEFAULT_PARTNER_BUSINESS_ID: &str = "100000000000020";

/// `account_update` events the simulator builds, with the block each one carries.
pub const ACCOUNT_EVENTS: [&str; 8] = [
    "PARTNER_APP_INSTALLED",
    "PARTNER_APP_UNINSTALLED",
    "PARTNER_ADDED",
    "PARTNER_REMOVED",
    "ACCOUNT_DELETED",
    "ACCOUNT_OFFBOARDED",
    "ACCOUNT_RECONNECTED",
    "DISABLED_UPDATE",
];

fn default_waba() -> String {
    DEFAULT_WABA_ID.to_string()
}

fn text_or(value: &Option<String>, default: &str) -> String {
    value.clone().unwrap_or_else(|| default.to_string())
}

/// Where `field` and `object` sit in an `account_update` body.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Nesting {
    /// The April 2026 reference: top-level `object`, `field` on the change.
    #[default]
    Standard,
    /// Meta's 2025 examples (the fixtures): PARTNER_APP_UNINSTALLED with both inside `value`,
    /// PARTNER_APP_INSTALLED with both beside `changes`; no top-level `object`.
    Legacy,
}

/// An `account_update` to post (`POST /_sim/webhooks/account_update`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountUpdate {
    #[serde(default = "default_waba")]
    pub waba_id: String,
    /// One of [`ACCOUNT_EVENTS`].
    pub event: String,
    #[serde(default)]
    pub owner_business_id: Option<String>,
    /// The app the event is about (APP_INSTALLED / APP_UNINSTALLED); the simulated app's id
    /// when absent.
    #[serde(default)]
    pub partner_app_id: Option<String>,
    /// `entry[].id` of partner-side events (Meta puts the partner's portfolio there).
    #[serde(default)]
    pub partner_business_id: Option<String>,
    /// Multi-partner solutions only (never on PARTNER_APP_UNINSTALLED).
    #[serde(default)]
    pub solution_id: Option<String>,
    #[serde(default)]
    pub solution_partner_business_ids: Vec<String>,
    /// DISABLED_UPDATE: DISABLE (default), REINSTATE or SCHEDULE_FOR_DISABLE.
    #[serde(default)]
    pub ban_state: Option<String>,
    /// DISABLED_UPDATE: English text ("April 17, 2025"); today when absent.
    #[serde(default)]
    pub ban_date: Option<String>,
    #[serde(default)]
    pub nesting: Nesting,
}

impl AccountUpdate {
    /// An event for `waba_id` with every optional part left to its default.
    pub fn new(waba_id: &str, event: &str) -> AccountUpdate {
        AccountUpdate {
            waba_id: waba_id.to_string(),
            event: event.to_string(),
            owner_business_id: None,
            partner_app_id: None,
            partner_business_id: None,
            solution_id: None,
            solution_partner_business_ids: Vec::new(),
            ban_state: None,
            ban_date: None,
            nesting: Nesting::Standard,
        }
    }

    /// The body Meta would post, or why this request cannot be one.
    pub(crate) fn body(&self, app_id: &str, time: i64) -> Result<Value, String> {
        check_id("waba_id", &self.waba_id)?;
        let event = self.event.as_str();
        if !ACCOUNT_EVENTS.contains(&event) {
            return Err(format!(
                "field `event`: \"{event}\" is not one the simulator builds; use one of {}",
                ACCOUNT_EVENTS.join(", ")
            ));
        }
        let partner = event.starts_with("PARTNER_");
        let mut value = Map::new();
        value.insert("event".into(), json!(event));
        if partner {
            value.insert("waba_info".into(), self.waba_info(app_id));
        } else if event == "DISABLED_UPDATE" {
            value.insert("ban_info".into(), self.ban_info(time)?);
        }
        let value = Value::Object(value);
        let entry_id = if partner {
            text_or(&self.partner_business_id, DEFAULT_PARTNER_BUSINESS_ID)
        } else {
            self.waba_id.clone()
        };
        match (self.nesting, event) {
            (Nesting::Standard, _) => {
                Ok(account_level_body(&entry_id, time, "account_update", value))
            }
            (Nesting::Legacy, "PARTNER_APP_UNINSTALLED") => {
                Ok(legacy_value_nesting_body(&entry_id, time, value))
            }
            (Nesting::Legacy, "PARTNER_APP_INSTALLED") => {
                Ok(legacy_entry_nesting_body(&entry_id, time, value))
            }
            (Nesting::Legacy, _) => Err(
                "field `nesting`: \"legacy\" exists only for PARTNER_APP_INSTALLED and \
                 PARTNER_APP_UNINSTALLED (Meta's 2025 examples); use \"standard\""
                    .to_string(),
            ),
        }
    }

    fn waba_info(&self, app_id: &str) -> Value {
        let mut info = Map::new();
        info.insert("waba_id".into(), json!(self.waba_id));
        info.insert(
            "owner_business_id".into(),
            json!(text_or(&self.owner_business_id, DEFAULT_OWNER_BUSINESS_ID)),
        );
        if matches!(
            self.event.as_str(),
            "PARTNER_APP_INSTALLED" | "PARTNER_APP_UNINSTALLED"
        ) {
            info.insert(
                "partner_app_id".into(),
                json!(text_or(&self.partner_app_id, app_id)),
            );
        }
        // Meta never sends the solution on an uninstall.
        if self.event != "PARTNER_APP_UNINSTALLED"
            && let Some(solution_id) = &self.solution_id
        {
            info.insert("solution_id".into(), json!(solution_id));
            info.insert(
                "solution_partner_business_ids".into(),
                json!(self.solution_partner_business_ids),
            );
        }
        Value::Object(info)
    }

    fn ban_info(&self, time: i64) -> Result<Value, String> {
        let state = text_or(&self.ban_state, "DISABLE");
        if !["DISABLE", "REINSTATE", "SCHEDULE_FOR_DISABLE"].contains(&state.as_str()) {
            return Err(format!(
                "field `ban_state`: \"{state}\" is not allowed; use DISABLE, REINSTATE or \
                 SCHEDULE_FOR_DISABLE"
            ));
        }
        let date = match &self.ban_date {
            Some(date) => date.clone(),
            None => chrono::DateTime::from_timestamp(time, 0)
                .unwrap_or_default()
                .format("%B %-d, %Y")
                .to_string(),
        };
        Ok(json!({"waba_ban_state": state, "waba_ban_date": date}))
    }
}

/// A `phone_number_quality_update` (`POST /_sim/webhooks/phone_quality`). Name the phone by
/// its id (its display number, WABA and limit come from the simulated phone) or by display
/// number.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PhoneQualityUpdate {
    pub phone_number_id: Option<String>,
    pub display_phone_number: Option<String>,
    /// `entry[].id`; the phone's WABA (or the default one) when absent.
    pub waba_id: Option<String>,
    /// THROUGHPUT_UPGRADE when absent; ONBOARDING, UPGRADE, DOWNGRADE, FLAGGED, UNFLAGGED ...
    pub event: Option<String>,
    /// TIER_50 ... TIER_UNLIMITED; the phone's current limit when absent.
    pub current_limit: Option<String>,
    /// Limit changes only.
    pub old_limit: Option<String>,
    /// The same tier as `current_limit` when absent.
    pub max_daily_conversations_per_business: Option<String>,
}

impl PhoneQualityUpdate {
    /// The body, given the phone's display number, WABA and limit as the simulator knows them.
    pub(crate) fn body(
        &self,
        display_phone_number: &str,
        waba_id: &str,
        current_limit: &str,
        time: i64,
    ) -> Result<Value, String> {
        let display = digits_only(display_phone_number);
        if display.is_empty() {
            return Err(
                "field `display_phone_number`: give a phone number with digits, or \
                 `phone_number_id` of a simulated phone"
                    .to_string(),
            );
        }
        check_id("waba_id", waba_id)?;
        let mut value = Map::new();
        value.insert("display_phone_number".into(), json!(display));
        value.insert(
            "event".into(),
            json!(text_or(&self.event, "THROUGHPUT_UPGRADE")),
        );
        value.insert("current_limit".into(), json!(current_limit));
        if let Some(old_limit) = &self.old_limit {
            value.insert("old_limit".into(), json!(old_limit));
        }
        value.insert(
            "max_daily_conversations_per_business".into(),
            json!(text_or(
                &self.max_daily_conversations_per_business,
                current_limit
            )),
        );
        Ok(account_level_body(
            waba_id,
            time,
            "phone_number_quality_update",
            Value::Object(value),
        ))
    }
}

/// `rejection_info` of a template rejected for INVALID_FORMAT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RejectionInfo {
    pub reason: String,
    pub recommendation: String,
}

/// `other_info` of a paused, locked or unlocked template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtherInfo {
    pub title: String,
    pub description: String,
}

/// A `message_template_status_update` (`POST /_sim/webhooks/template_status`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateStatusUpdate {
    #[serde(default = "default_waba")]
    pub waba_id: String,
    /// APPROVED, REJECTED, PAUSED, DISABLED, FLAGGED, ...
    pub event: String,
    /// A JSON number, as Meta sends template ids; a fresh one when absent.
    #[serde(default)]
    pub message_template_id: Option<u64>,
    pub message_template_name: String,
    #[serde(default)]
    pub message_template_language: Option<String>,
    /// NONE when absent.
    #[serde(default)]
    pub reason: Option<String>,
    /// MARKETING when absent.
    #[serde(default)]
    pub message_template_category: Option<String>,
    #[serde(default)]
    pub rejection_info: Option<RejectionInfo>,
    /// `disable_info.disable_date` (unix seconds) of a disabled template.
    #[serde(default)]
    pub disable_date: Option<i64>,
    #[serde(default)]
    pub other_info: Option<OtherInfo>,
}

impl TemplateStatusUpdate {
    pub(crate) fn body(&self, time: i64) -> Result<Value, String> {
        check_id("waba_id", &self.waba_id)?;
        check_text("event", &self.event)?;
        check_text("message_template_name", &self.message_template_name)?;
        let mut value = Map::new();
        value.insert("event".into(), json!(self.event));
        value.extend(template_identity(
            self.message_template_id,
            &self.message_template_name,
            &self.message_template_language,
        ));
        value.insert("reason".into(), json!(text_or(&self.reason, "NONE")));
        value.insert(
            "message_template_category".into(),
            json!(text_or(&self.message_template_category, "MARKETING")),
        );
        if let Some(info) = &self.rejection_info {
            value.insert("rejection_info".into(), json!(info));
        }
        if let Some(date) = self.disable_date {
            value.insert("disable_info".into(), json!({"disable_date": date}));
        }
        if let Some(info) = &self.other_info {
            value.insert("other_info".into(), json!(info));
        }
        Ok(account_level_body(
            &self.waba_id,
            time,
            "message_template_status_update",
            Value::Object(value),
        ))
    }
}

/// A `message_template_quality_update` (`POST /_sim/webhooks/template_quality`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateQualityUpdate {
    #[serde(default = "default_waba")]
    pub waba_id: String,
    /// GREEN, YELLOW, RED or UNKNOWN.
    pub previous_quality_score: String,
    pub new_quality_score: String,
    #[serde(default)]
    pub message_template_id: Option<u64>,
    pub message_template_name: String,
    #[serde(default)]
    pub message_template_language: Option<String>,
}

impl TemplateQualityUpdate {
    pub(crate) fn body(&self, time: i64) -> Result<Value, String> {
        check_id("waba_id", &self.waba_id)?;
        check_text("previous_quality_score", &self.previous_quality_score)?;
        check_text("new_quality_score", &self.new_quality_score)?;
        check_text("message_template_name", &self.message_template_name)?;
        let identity = template_identity(
            self.message_template_id,
            &self.message_template_name,
            &self.message_template_language,
        );
        let mut value = Map::new();
        value.insert(
            "previous_quality_score".into(),
            json!(self.previous_quality_score),
        );
        value.insert("new_quality_score".into(), json!(self.new_quality_score));
        value.extend(identity);
        Ok(account_level_body(
            &self.waba_id,
            time,
            "message_template_quality_update",
            Value::Object(value),
        ))
    }
}

/// `message_template_id` (a number; a fresh one when absent), name and language (`en`).
fn template_identity(id: Option<u64>, name: &str, language: &Option<String>) -> Map<String, Value> {
    // Meta's template ids are 16-digit numbers, well inside what a JSON double holds exactly.
    let id = id.unwrap_or_else(|| rand::random_range(1_000_000_000_000_000..9_000_000_000_000_000));
    let mut identity = Map::new();
    identity.insert("message_template_id".into(), json!(id));
    identity.insert("message_template_name".into(), json!(name));
    identity.insert(
        "message_template_language".into(),
        json!(text_or(language, "en")),
    );
    identity
}

fn check_id(field: &str, id: &str) -> Result<(), String> {
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "field `{field}`: \"{id}\" is not allowed; use decimal digits, as Graph ids are"
        ));
    }
    Ok(())
}

fn check_text(field: &str, text: &str) -> Result<(), String> {
    if text.trim().is_empty() {
        return Err(format!("field `{field}` must not be empty"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Value {
        let text = match name {
            "uninstalled" => {
                include_str!(
                    "../../tests/fixtures/webhook_account_update_partner_app_uninstalled.json"
                )
            }
            "installed" => {
                include_str!(
                    "../../tests/fixtures/webhook_account_update_partner_app_installed.json"
                )
            }
            "disabled" => include_str!("../../tests/fixtures/webhook_account_update_disabled.json"),
            "phone" => {
                include_str!("../../tests/fixtures/webhook_phone_number_quality_update.json")
            }
            "template_status" => {
                include_str!("../../tests/fixtures/webhook_message_template_status_update.json")
            }
            "template_quality" => {
                include_str!("../../tests/fixtures/webhook_message_template_quality_update.json")
            }
            _ => unreachable!("unknown fixture {name}"),
        };
        serde_json::from_str(text).unwrap()
    }

    use crate::sim::json_shape::shape;

    const APP: &str = "952710384466120";

    #[test]
    fn legacy_partner_events_have_the_fixtures_shapes() {
        let mut uninstalled = AccountUpdate::new("271936480512847", "PARTNER_APP_UNINSTALLED");
        uninstalled.nesting = Nesting::Legacy;
        // A solution is never sent on an uninstall, even when asked for.
        uninstalled.solution_id = Some("1".into());
        let body = uninstalled.body(APP, 1_795_874_531).unwrap();
        assert_eq!(shape(&body), shape(&fixture("uninstalled")));
        assert_eq!(
            body["entry"][0]["changes"][0]["value"]["waba_info"]["partner_app_id"],
            APP
        );

        let mut installed = AccountUpdate::new("508821764930215", "PARTNER_APP_INSTALLED");
        installed.nesting = Nesting::Legacy;
        installed.solution_id = Some("1184520967731048".into());
        installed.solution_partner_business_ids = vec!["3817264059182734".into()];
        let body = installed.body(APP, 1).unwrap();
        assert_eq!(shape(&body), shape(&fixture("installed")));
    }

    #[test]
    fn standard_nesting_moves_field_and_object_to_their_ordinary_places() {
        let body = AccountUpdate::new("271936480512847", "PARTNER_APP_UNINSTALLED")
            .body(APP, 5)
            .unwrap();
        assert_eq!(body["object"], "whatsapp_business_account");
        let change = &body["entry"][0]["changes"][0];
        assert_eq!(change["field"], "account_update");
        assert_eq!(change["value"]["event"], "PARTNER_APP_UNINSTALLED");
        assert_eq!(change["value"]["waba_info"]["waba_id"], "271936480512847");
        assert_eq!(body["entry"][0]["id"], DEFAULT_PARTNER_BUSINESS_ID);
        // The same value block as the fixture's, less the misplaced keys.
        let mut expected = fixture("uninstalled")["entry"][0]["changes"][0]["value"].clone();
        let map = expected.as_object_mut().unwrap();
        map.remove("field");
        map.remove("object");
        assert_eq!(shape(&change["value"]), shape(&expected));
    }

    #[test]
    fn disabled_update_has_the_fixture_shape_with_an_english_date() {
        let body = AccountUpdate::new("604418273395120", "DISABLED_UPDATE")
            .body(APP, 1_796_229_600)
            .unwrap();
        assert_eq!(shape(&body), shape(&fixture("disabled")));
        let ban = &body["entry"][0]["changes"][0]["value"]["ban_info"];
        assert_eq!(ban["waba_ban_date"], "December 2, 2026");
        assert_eq!(body["entry"][0]["id"], "604418273395120");
    }

    #[test]
    fn account_update_refusals_name_the_field_and_what_is_allowed() {
        let err = AccountUpdate::new("1", "SOMETHING")
            .body(APP, 1)
            .unwrap_err();
        assert!(
            err.contains("`event`") && err.contains("PARTNER_APP_UNINSTALLED"),
            "{err}"
        );
        let err = AccountUpdate::new("12a", "ACCOUNT_DELETED")
            .body(APP, 1)
            .unwrap_err();
        assert!(err.contains("`waba_id`"), "{err}");
        let mut legacy = AccountUpdate::new("1", "ACCOUNT_DELETED");
        legacy.nesting = Nesting::Legacy;
        assert!(legacy.body(APP, 1).unwrap_err().contains("`nesting`"));
        let mut ban = AccountUpdate::new("1", "DISABLED_UPDATE");
        ban.ban_state = Some("BANNED".into());
        assert!(ban.body(APP, 1).unwrap_err().contains("REINSTATE"));
        let deleted = AccountUpdate::new("1", "ACCOUNT_DELETED")
            .body(APP, 1)
            .unwrap();
        assert_eq!(
            deleted["entry"][0]["changes"][0]["value"],
            json!({"event": "ACCOUNT_DELETED"})
        );
    }

    #[test]
    fn phone_quality_has_the_fixture_shape_and_digits_only() {
        let body = PhoneQualityUpdate::default()
            .body("+1 415-555-0142", "418305927716254", "TIER_UNLIMITED", 1)
            .unwrap();
        assert_eq!(shape(&body), shape(&fixture("phone")));
        let value = &body["entry"][0]["changes"][0]["value"];
        assert_eq!(value["display_phone_number"], "14155550142");
        assert!(value.get("phone_number_id").is_none());
        let downgrade = PhoneQualityUpdate {
            event: Some("DOWNGRADE".into()),
            old_limit: Some("TIER_10K".into()),
            ..PhoneQualityUpdate::default()
        }
        .body("1", "2", "TIER_2K", 1)
        .unwrap();
        assert_eq!(
            downgrade["entry"][0]["changes"][0]["value"]["old_limit"],
            "TIER_10K"
        );
        assert!(PhoneQualityUpdate::default().body("", "2", "T", 1).is_err());
    }

    #[test]
    fn template_events_have_the_fixture_shapes_with_numeric_ids() {
        let status = TemplateStatusUpdate {
            waba_id: "418305927716254".into(),
            event: "REJECTED".into(),
            message_template_id: Some(2_290_417_763_518_902),
            message_template_name: "winter_sale_reminder".into(),
            message_template_language: None,
            reason: Some("INVALID_FORMAT".into()),
            message_template_category: None,
            rejection_info: Some(RejectionInfo {
                reason: "Two variables sit next to each other.".into(),
                recommendation: "Put text between them.".into(),
            }),
            disable_date: None,
            other_info: None,
        };
        let body = status.body(1).unwrap();
        assert_eq!(shape(&body), shape(&fixture("template_status")));
        assert!(body["entry"][0]["changes"][0]["value"]["message_template_id"].is_u64());

        let quality = TemplateQualityUpdate {
            waba_id: DEFAULT_WABA_ID.into(),
            previous_quality_score: "GREEN".into(),
            new_quality_score: "YELLOW".into(),
            message_template_id: None,
            message_template_name: "order_shipped_v2".into(),
            message_template_language: None,
        };
        let body = quality.body(1).unwrap();
        assert_eq!(shape(&body), shape(&fixture("template_quality")));
        let id = &body["entry"][0]["changes"][0]["value"]["message_template_id"];
        assert!(id.as_u64().unwrap() >= 1_000_000_000_000_000);
        let blank = TemplateQualityUpdate {
            new_quality_score: " ".into(),
            ..quality
        };
        assert!(blank.body(1).unwrap_err().contains("`new_quality_score`"));
    }
}
